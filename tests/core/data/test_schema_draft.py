"""Drafting a dataset schema from a file (``clinpred data init``): the guessing rules, and that the
drafted schema loads the very file it was drafted from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinpred.core.data.dataset import load_dataset
from clinpred.core.data.schema import schema_from_file
from clinpred.core.data.schema_draft import SMALL_CELL, draft_schema
from clinpred.core.data.schema_toml import draft_toml
from clinpred.core.data.tableread import parse_table
from clinpred.core.errors import DataError
from clinpred.core.tomlfile import tomllib


def _csv(columns: dict[str, list[str]]) -> bytes:
    names = list(columns)
    n = len(columns[names[0]])
    lines = [",".join(names)] + [",".join(columns[c][i] for c in names) for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def _table(columns: dict[str, list[str]]):
    return parse_table(_csv(columns), "t.csv", ".csv")


def _cohort(n: int = 60, seed: int = 0) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed)
    stage = rng.choice(["I", "II", "III"], n).tolist()
    stage[3] = stage[17] = "IV"  # a level seen in 2 rows: a small cell, never shown
    age = [f"{v:.1f}" for v in rng.normal(60, 9, n)]
    age[5], age[9] = "NA", "."
    return {
        "first": [f"r{i}" for i in range(n)],  # unique, but its name does not say id
        "PatientID": [f"P{1000 + i}" for i in range(n)],
        "age": age,
        "weight": [f"{v:.2f}" for v in rng.normal(70, 12, n)],
        "sex": rng.choice(["M", "F"], n).tolist(),
        "stage": stage,
        "ward": [str(v) for v in rng.integers(1, 5, n)],
        "lipid": [f"{v:.3f}" for v in rng.normal(5, 1, n)],  # ends in "id", unique decimals: not an id
        "note": [f"free text {i}" for i in range(n)],
        "constant": ["1"] * n,
        "smoker": rng.choice(["yes", "no"], n).tolist(),
        "died": (["yes"] * 15 + ["no"] * (n - 15)),
    }


def test_the_rules_on_a_known_table() -> None:
    draft = draft_schema(_table(_cohort()), path="t.csv", name="t.csv")
    assert draft.id_column == "PatientID" and "name says id" in draft.id_reason
    assert draft.target_column == "died" and "says outcome" in draft.target_reason
    assert (draft.positive, draft.negative, draft.events) == ("yes", "no", 15)
    kinds = {f.name: f.kind for f in draft.features}
    assert kinds == {"age": "numeric", "weight": "numeric", "sex": "binary", "stage": "categorical",
                     "ward": "numeric", "lipid": "numeric", "smoker": "binary"}
    decimals = {f.name: f.decimals for f in draft.features if f.kind == "numeric"}
    assert decimals == {"age": 1, "weight": 2, "ward": 0, "lipid": 3}
    left = dict(draft.left_out)
    assert set(left) == {"first", "note", "constant"}
    assert "one value" in left["constant"] and "different value in every row" in left["note"]
    assert draft.missing_values == (".", "NA")
    stage = next(f for f in draft.features if f.name == "stage")
    assert stage.levels == ("I", "II", "III") and stage.hidden_levels == 1
    ward = next(f for f in draft.features if f.name == "ward")
    assert any("codes" in note for note in ward.notes)  # 4 whole numbers: maybe categories
    assert next(f for f in draft.features if f.name == "age").missing == 2


def test_fallbacks_when_no_name_says_id_or_outcome() -> None:
    n = 40
    table = _table({
        "lipid": [f"{1 + i / 7:.4f}" for i in range(n)],  # unique decimals are never an id
        "code": [f"c{i}" for i in range(n)],
        "x": [str(i % 7) for i in range(n)],
        "a": ["u", "v"] * (n // 2),
        "b": ["B"] * 12 + ["A"] * (n - 12),
    })
    draft = draft_schema(table, path="t.csv", name="t.csv")
    assert draft.id_column == "code" and "first column" in draft.id_reason
    assert draft.target_column == "b" and "last two-valued" in draft.target_reason
    assert (draft.positive, draft.events) == ("B", 12) and "rarer" in draft.positive_reason
    assert "lipid" in {f.name for f in draft.features}  # its name ends in "id", but decimals are measurements


def test_options_name_the_columns_and_bad_choices_are_one_line() -> None:
    table = _table(_cohort())
    draft = draft_schema(table, path="t.csv", name="t.csv", id_column="first", target_column="smoker")
    assert (draft.id_column, draft.target_column) == ("first", "smoker")
    assert "PatientID" in dict(draft.left_out)  # the other id is not a feature
    with pytest.raises(DataError, match="--target 'nope' is not a column"):
        draft_schema(table, path="t.csv", name="t.csv", target_column="nope")
    with pytest.raises(DataError, match="target column 'stage' has 4 distinct values"):
        draft_schema(table, path="t.csv", name="t.csv", target_column="stage")
    with pytest.raises(DataError, match="target column 'age' has 2 missing values"):
        draft_schema(table, path="t.csv", name="t.csv", target_column="age")


def test_no_id_or_no_target_is_one_clear_error() -> None:
    with pytest.raises(DataError, match="no column has a value in every row, all different"):
        draft_schema(_table({"a": ["1", "1", "2"], "y": ["0", "1", "0"]}), path="t", name="t")
    with pytest.raises(DataError, match="no column has exactly two values"):
        draft_schema(_table({"id": ["1", "2", "3"], "z": ["a", "b", "c"]}), path="t", name="t")


def test_the_drafted_file_loads_its_data_and_shows_no_patient(tmp_path: Path) -> None:
    columns = _cohort()
    data = tmp_path / "cohort.csv"
    data.write_bytes(_csv(columns))
    draft = draft_schema(parse_table(data.read_bytes(), str(data), ".csv"), path=str(data), name=str(data))
    text = draft_toml(draft, source="cohort.csv", path_in_file="cohort.csv")
    assert tomllib.loads(text)["task"]["question"]
    assert "TODO" in text and '# unit = ""' in text
    for value in columns["PatientID"] + columns["age"] + columns["note"]:
        assert value not in text or value in ("NA", ".")  # no id, no single measurement, no free text
    assert '"IV"' not in text and f"fewer than {SMALL_CELL} rows" in text
    path = tmp_path / "schema.toml"
    path.write_text(text)
    schema = schema_from_file(path)
    dataset = load_dataset(schema.path, schema)
    assert len(dataset) == 60 and dataset.n_events == 15
    assert np.isnan(dataset.frame["age"][5]) and np.isnan(dataset.frame["age"][9])
    assert dataset.frame["weight"].tolist() == [float(v) for v in columns["weight"]]


_KIND = st.sampled_from(["int", "dec", "bin", "cat", "text", "const"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kinds=st.lists(_KIND, min_size=1, max_size=6), n=st.integers(24, 80), seed=st.integers(0, 2**16),
       missing=st.floats(0, 0.4))
def test_data_check_passes_on_any_drafted_schema(tmp_path_factory: pytest.TempPathFactory, kinds: list[str],
                                                  n: int, seed: int, missing: float) -> None:
    rng = np.random.default_rng(seed)
    columns: dict[str, list[str]] = {"subject_id": [str(i + 1) for i in range(n)]}
    for j, kind in enumerate(kinds):
        if kind == "int":
            values = [str(v) for v in rng.integers(-5, 300, n)]
        elif kind == "dec":
            values = [f"{v:.{j % 4 + 1}f}" for v in rng.normal(0, 50, n)]
        elif kind == "bin":
            values = rng.choice(["a", "b"], n).tolist()
        elif kind == "cat":
            values = rng.choice(["x", "y", "z", "w"], n).tolist()
        elif kind == "text":
            values = [f"t{v}" for v in rng.permutation(n)]
        else:
            values = ["k"] * n
        holes = rng.random(n) < missing
        columns[f"c{j}"] = [rng.choice(["", "NA", "?"]) if h else v for v, h in zip(values, holes)]
    columns["outcome"] = ["1"] * 10 + ["0"] * 10 + rng.choice(["0", "1"], n - 20).tolist()
    folder = tmp_path_factory.mktemp("draft")
    data = folder / "d.csv"
    data.write_bytes(_csv(columns))
    table = parse_table(data.read_bytes(), str(data), ".csv")
    try:
        draft = draft_schema(table, path=str(data), name=str(data))
    except DataError as exc:  # only when every column was left out
        assert "can be a feature" in str(exc)
        return
    assert draft.id_column == "subject_id" and draft.target_column == "outcome" and draft.positive == 1
    path = folder / "schema.toml"
    path.write_text(draft_toml(draft, source="d.csv", path_in_file="d.csv"))
    schema = schema_from_file(path)
    dataset = load_dataset(schema.path, schema)
    assert len(dataset) == n
    assert all("missing" in w for w in dataset.warnings)


@pytest.mark.parametrize(("values", "labels", "positive", "rule"), [
    (["0.0"] * 20 + ["1.0"] * 30, {}, 1, "value '1.0' means yes"),  # a float column written by pandas
    (["1"] * 20 + ["2"] * 30, {"1": "no", "2": "yes"}, 2, "value label 'yes' means yes"),  # labels before values
    (["M"] * 12 + ["B"] * 28, {}, "M", "rarer value (12 of 40 rows)"),
    (["alive"] * 10 + ["Dead"] * 30, {}, "Dead", "value 'Dead' means yes"),
])
def test_the_positive_value_rule(values: list[str], labels: dict[str, str], positive: object, rule: str) -> None:
    table = _table({"id": [str(i) for i in range(len(values))], "x": [str(i % 4) for i in range(len(values))],
                    "outcome": values})
    table.value_labels = {"outcome": labels} if labels else {}
    draft = draft_schema(table, path="t", name="t")
    assert draft.positive == positive and rule in draft.positive_reason
