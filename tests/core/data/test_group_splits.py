"""Grouped splits: no group is ever in two parts (Hypothesis), classes stay balanced, and the
schema / loader / manifest carry the group column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinpred.core.data.group_splits import grouped_cv_splits, grouped_holdout_split
from clinpred.core.data.splits import check_groups, manifest
from clinpred.core.errors import ConfigError, DataError


def _parts_of_groups(split, groups):
    where: dict[str, set[str]] = {}
    for part, idx in split.parts().items():
        for g in groups[idx]:
            where.setdefault(g, set()).add(part)
    return where


@st.composite
def grouped_data(draw):
    n_groups = draw(st.integers(40, 90))
    sizes = draw(st.lists(st.integers(1, 4), min_size=n_groups, max_size=n_groups))
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"g{i}" for i in range(n_groups)], sizes)
    # outcome mostly shared within a group (matched sets, repeated visits), ~40% events
    group_y = rng.random(n_groups) < 0.4
    y = np.repeat(group_y, sizes).astype(int)
    flip = rng.random(y.size) < 0.1
    y[flip] = 1 - y[flip]
    perm = rng.permutation(y.size)
    return y[perm], groups[perm], seed


@settings(max_examples=25, deadline=None)
@given(grouped_data())
def test_no_group_is_ever_split(data):
    y, groups, seed = data
    try:
        splits = [grouped_holdout_split(y, groups, seed=seed), *grouped_cv_splits(y, groups, k=3, repeats=2, seed=seed)]
    except DataError as exc:  # too few events for a part is a clear refusal, never a silent leak
        assert "no positive" in str(exc) or "no negative" in str(exc)
        return
    for split in splits:
        assert all(len(parts) == 1 for parts in _parts_of_groups(split, groups).values())
        assert sorted(np.concatenate(list(split.parts().values())).tolist()) == list(range(y.size))


def test_cv_test_parts_cover_every_row_once_per_repeat_and_are_stratified():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(150).astype(str), 2)
    y = np.repeat(rng.random(150) < 0.3, 2).astype(int)
    splits = grouped_cv_splits(y, groups, k=5, repeats=2, seed=1)
    for r in (0, 1):
        tests = np.concatenate([s.test for s in splits if s.repeat == r])
        assert sorted(tests.tolist()) == list(range(300))
    for s in splits:
        assert abs(y[s.test].mean() - y.mean()) < 0.08
    assert [s.name for s in splits][:2] == ["r0f0", "r0f1"]


def test_check_groups_catches_a_split_group_and_manifest_records_it():
    from clinpred.core.data.splits import Split

    groups = np.array(["a", "a", "b", "b", "c", "c"])
    bad = Split("holdout", 0, 0, [0, 2, 3], [4, 5], [1])
    with pytest.raises(DataError, match="group 'a' is in both the train and the test part"):
        check_groups([bad], groups)
    good = Split("holdout", 0, 0, [0, 1], [2, 3], [4, 5])
    record = manifest([good], list("uvwxyz"), [0, 1, 0, 1, 0, 1], groups=groups, group_column="set_id")
    assert record["groups_checked"] is True and record["group_column"] == "set_id" and record["n_groups"] == 3
    assert record["splits"][0]["groups"] == {"train": 1, "val": 1, "test": 1}


def test_schema_and_loader_carry_the_group_column(tmp_path: Path):
    from clinpred.core.data.dataset import load_dataset
    from clinpred.core.data.schema import parse_dataset_schema

    table = {"path": "d.csv", "id_column": "row", "target_column": "y", "positive_values": [1],
             "group_column": "patient", "features": [{"name": "x"}], "task": {"question": "Will it happen?"}}
    schema = parse_dataset_schema(table, where="t", base_dir=tmp_path)
    assert schema.group_column == "patient"
    rows = ["row,patient,y,x"] + [f"r{i},p{i // 2},{i % 4 // 2},{i}" for i in range(80)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    ds = load_dataset(tmp_path / "d.csv", schema)
    assert list(ds.groups[:4]) == ["p0", "p0", "p1", "p1"] and "patient" not in ds.ignored_columns
    with pytest.raises(ConfigError, match="group_column is empty"):
        parse_dataset_schema({**table, "group_column": ""}, where="t", base_dir=tmp_path)
    with pytest.raises(ConfigError, match="must be a column of its own"):
        parse_dataset_schema({**table, "group_column": "x"}, where="t", base_dir=tmp_path)


def test_schema_messages_a_new_user_can_act_on(tmp_path: Path):
    from clinpred.core.data.schema import parse_dataset_schema
    from clinpred.core.run.config import parse_config

    table = {"path": "d.csv", "id_column": "", "target_column": "y", "positive_values": [1],
             "features": [{"name": "x"}], "task": {"question": "Will it happen?"}}
    with pytest.raises(ConfigError, match="id_column is empty; give the name of the column that holds the patient"):
        parse_dataset_schema(table, where="t", base_dir=tmp_path)
    # a bare schema file given to `run --config` is read as the config's [dataset]
    cfg = parse_config({**table, "id_column": "row"}, source="schema.toml", base_dir=tmp_path)
    assert cfg.dataset["id_column"] == "row" and cfg.dataset["path"] == "d.csv"


def test_data_check_without_config_says_to_pass_it(tmp_path: Path):
    from clirun import clinpred

    data = tmp_path / "mine.csv"
    data.write_text("pid,outcome,age\n" + "".join(f"p{i},{i % 2},{30 + i}\n" for i in range(40)))
    result = clinpred("data", "check", str(data))
    assert result.code == 2 and "pass --config" in result.err and "Traceback" not in result.err


def test_subgroups_must_be_features(tmp_path: Path):
    from clinpred.core.data.schema import parse_dataset_schema

    table = {"path": "d.csv", "id_column": "row", "target_column": "y", "positive_values": [1],
             "features": [{"name": "x"}, {"name": "site", "kind": "categorical"}], "task": {"question": "Q?"}}
    assert parse_dataset_schema({**table, "subgroups": ["site"]}, where="t", base_dir=tmp_path).subgroups == ("site",)
    with pytest.raises(ConfigError, match="subgroups: 'sex' is not a feature"):
        parse_dataset_schema({**table, "subgroups": ["sex"]}, where="t", base_dir=tmp_path)


def test_leave_one_site_out_tests_each_site_once_and_trains_on_the_others():
    from clinpred.core.data.group_splits import leave_one_site_out

    rng = np.random.default_rng(3)
    sites = rng.choice(["A", "B", "C"], 300)
    y = (rng.random(300) < 0.4).astype(int)
    splits = leave_one_site_out(y, sites, seed=1)
    assert [s.name for s in splits] == ["site-A", "site-B", "site-C"]
    for s in splits:
        site = s.name[len("site-"):]
        assert set(sites[s.test]) == {site} and site not in set(sites[np.r_[s.train, s.val]])
        assert s.test.size + s.train.size + s.val.size == 300
    with pytest.raises(DataError, match="at least 2 sites"):
        leave_one_site_out(y, np.full(300, "A"))
    one_class = sites.copy()
    one_class[:3] = "D"
    y2 = y.copy()
    y2[:3] = 1
    with pytest.raises(DataError, match="site 'D' cannot be a test part on its own"):
        leave_one_site_out(y2, one_class)
