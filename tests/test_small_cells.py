"""Small cells (issue 25, item 4): subgroups only on categorical or binary features (a numeric one,
whose every value would be a subgroup of one patient with their outcome, is refused with a hint to
bin it); Table 1 and the subgroup tables merge levels of fewer than `min_cell` patients (default 5,
`[dataset] min_cell`) and suppress counts below it, saying so, so no shared file shows a cell of
1 to min_cell - 1 patients or lets one be recovered from the others."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from clirun import clinpred

#: levels of 3 and 2 patients (together 5: the merged level is just large enough to show overall)
RARE = {"Iceland": 3, "Peru": 2}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cells")
    path = root / "cohort.csv"
    assert clinpred("data", "synth", "--n", "160", "--seed", "5", "-o", str(path)).code == 0
    frame = pd.read_csv(path)
    rows = iter(range(len(frame)))
    for level, count in RARE.items():
        for _ in range(count):
            frame.loc[next(rows), "country"] = level
    frame.to_csv(path, index=False)
    return path


def _config(tmp_path: Path, dataset: str) -> Path:
    config = tmp_path / "c.toml"
    config.write_text(f"[run]\nbaselines = [\"majority\", \"lasso\"]\n[evaluation]\nbootstrap = 200\n[dataset]\n{dataset}\n")
    return config


def _run(cohort: Path, tmp_path: Path, dataset: str, *extra: str) -> dict:
    out = tmp_path / "run"
    result = clinpred("run", "--baselines-only", "--config", str(_config(tmp_path, dataset)), "--data", str(cohort),
                      "--out", str(out), *extra)
    assert result.code == 0, result.err
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.parametrize("column", ["age", "blood_loss"])
def test_a_numeric_subgroup_is_refused_with_a_hint_to_bin_it(cohort: Path, tmp_path: Path, column: str) -> None:
    out = tmp_path / "run"
    result = clinpred("run", "--baselines-only", "--config", str(_config(tmp_path, f'subgroups = ["{column}"]')),
                      "--data", str(cohort), "--out", str(out))
    assert result.code == 2 and result.err.count("\n") == 1 and "Traceback" not in result.err, result.err
    assert f"subgroups: '{column}' is numeric" in result.err and "bins" in result.err
    assert not out.exists()


def _cells(row: dict, columns: list[str]) -> dict[str, dict[str, int | None]]:
    return {c: row[c].get("levels") or {} for c in columns}


def test_table1_merges_and_suppresses_small_cells(cohort: Path, tmp_path: Path) -> None:
    metrics = _run(cohort, tmp_path, "")
    table = metrics["cohort"]["table1"]
    assert table["min_cell"] == 5
    columns = table["columns"]
    assert columns == ["all", "events", "non-events", "train", "val", "test"]
    country = _cells(table["rows"]["country"], columns)
    other = "other levels (each < 5 patients)"
    assert not set(RARE) & set(country["all"]), "a level of fewer than 5 patients is shown"
    assert country["all"][other] == sum(RARE.values())
    for row in table["rows"].values():  # no cell of 1 to 4 patients anywhere
        for c in columns:
            for level, count in (row[c].get("levels") or {}).items():
                assert count is None or count == 0 or count >= 5, (c, level, count)
    for level in country["all"]:  # a suppressed cell cannot be recovered from its partition's others
        for group in (("events", "non-events"), ("train", "val", "test")):
            hidden = [c for c in group if level in country[c] and country[c][level] is None]
            assert len(hidden) != 1 or country["all"][level] is None, (level, group, [country[c].get(level) for c in group])
    assert any(country[c].get(other, 0) is None for c in columns[1:])  # 5 patients split: suppressed
    assert table["rows"]["country"]["events"].get("suppressed")


def test_min_cell_is_configurable(cohort: Path, tmp_path: Path) -> None:
    table = _run(cohort, tmp_path, "min_cell = 1")["cohort"]["table1"]
    assert table["min_cell"] == 1
    assert table["rows"]["country"]["all"]["levels"]["Peru"] == 2  # the rule is off
    (tmp_path / "strict").mkdir()
    strict = _run(cohort, tmp_path / "strict", "min_cell = 50")["cohort"]["table1"]
    for level, count in strict["rows"]["country"]["all"]["levels"].items():
        assert count is None or count >= 50, (level, count)


@pytest.mark.parametrize("value", ["0", "1001", '"5"', "2.5"])
def test_a_bad_min_cell_is_one_line(cohort: Path, tmp_path: Path, value: str) -> None:
    out = tmp_path / "run"
    result = clinpred("run", "--baselines-only", "--config", str(_config(tmp_path, f"min_cell = {value}")),
                      "--data", str(cohort), "--out", str(out))
    assert result.code == 2 and result.err.count("\n") == 1 and "min_cell" in result.err, result.err
    assert not out.exists()


def test_subgroups_merge_levels_of_few_patients_and_hide_small_event_counts(cohort: Path, tmp_path: Path) -> None:
    metrics = _run(cohort, tmp_path, 'subgroups = ["country", "treatment"]', "--cv", "3")
    for name, model in metrics["models"].items():
        levels = model["subgroups"]["country"]["levels"]
        assert not set(RARE) & set(levels), name
        assert "other levels (each < 5 patients)" in levels
        for level, entry in levels.items():
            assert entry["n"] is None or entry["n"] >= 5, (name, level, entry)
            events = entry.get("events")
            assert events is None or min(events, entry["n"] - events) >= 5, (name, level, entry)
        assert set(model["subgroups"]["treatment"]["levels"]) == {"0", "1"}
    out = tmp_path / "run"
    assert clinpred("report", str(out)).code == 0
    report = (out / "report.md").read_text()
    assert "country = other levels (each < 5 patients)" in report
    assert "< 5" in report and "small-cell rule" in report
    for level in RARE:
        assert level not in report


def test_the_rule_itself_on_a_crafted_row() -> None:
    """suppress_small_cells against a hand count: levels 'a' 20, 'b' 3, 'c' 1 of 24 patients; events
    split a 12/8, b 1/2, c 0/1."""
    from clinpred.core.data.cohort_table import suppress_small_cells

    row = {"kind": "categorical",
           "all": {"n": 24, "missing": 0, "levels": {"a": 20, "b": 3, "c": 1}},
           "events": {"n": 13, "missing": 0, "levels": {"a": 12, "b": 1}},
           "non-events": {"n": 11, "missing": 0, "levels": {"a": 8, "b": 2, "c": 1}}}
    out = suppress_small_cells(row, 5)
    other = "other levels (each < 5 patients)"
    assert out["all"]["levels"] == {"a": 20, other: None}  # 4 merged patients: still too few
    assert out["events"]["levels"] == {"a": 12, other: None}
    assert out["non-events"]["levels"] == {"a": 8, other: None}
    numeric = {"kind": "numeric", "all": {"n": 9, "missing": 6, "mean": 1.0, "sd": 0.1, "median": 1.0, "q1": 1.0, "q3": 1.0}}
    assert "mean" not in suppress_small_cells(numeric, 5)["all"]
