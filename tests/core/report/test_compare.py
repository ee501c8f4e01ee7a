"""`clinpred compare` over real run directories, and `--format` for compare and report: every number
in the exports is the one in metrics.json, and the data line is checked against the files' sha256."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest

from clirun import clinpred
from clinpred.core.report.tables import Column, DataTable, cell_text, to_csv, to_json, to_markdown
from llm_run import synth_csv

CONFIG = '[run]\nbaselines = ["majority", "lasso"]\n[evaluation]\nbootstrap = 200\n'


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compare")
    config = root / "c.toml"
    config.write_text(CONFIG)
    same = synth_csv(root / "a.csv", n=200, seed=1)
    other = synth_csv(root / "b.csv", n=180, seed=2)
    out = {"data": same, "other_data": other}
    for name, data, extra in (("hold", same, ("--seed", "1")), ("cv", same, ("--cv", "3", "--seed", "2")),
                              ("other", other, ())):
        result = clinpred("baselines", "--config", str(config), "--data", str(data), "--out", str(root / name), *extra)
        assert result.code == 0, result.err
        out[name] = root / name
    return out


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def test_csv_holds_every_model_of_every_run_with_metrics_json_numbers(runs: dict[str, Path]) -> None:
    result = clinpred("compare", str(runs["hold"]), str(runs["cv"]), "--format", "csv")
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert sorted((r["model"], r["run"]) for r in rows) == sorted(
        (m, str(runs[r])) for m in ("majority", "lasso") for r in ("hold", "cv"))
    sha = hashlib.sha256(runs["data"].read_bytes()).hexdigest()
    for row in rows:
        entry = _metrics(Path(row["run"]))["models"][row["model"]]
        auroc = entry["metrics"]["auroc"]
        assert float(row["auroc"]) == auroc["value"]
        assert [float(row["auroc_ci_low"]), float(row["auroc_ci_high"])] == auroc["ci"]
        intercept = entry["metrics"]["calibration_intercept"]
        assert float(row["calibration_intercept"]) == intercept["value"]
        assert int(row["n"]) == entry["n"] and row["data_sha256"] == sha
    protocols = {r["run"]: (r["protocol"], r["seed"]) for r in rows}
    assert protocols == {str(runs["hold"]): ("holdout", "1"), str(runs["cv"]): ("cv 3x1", "2")}
    assert [r["model"] for r in rows][:2] in (["lasso", "lasso"], ["majority", "majority"])  # a model's runs together
    assert f"All 2 runs used the same data: sha256 {sha[:12]}, 200 patients." in result.err  # stdout: only the CSV


def test_the_table_says_when_the_data_differ(runs: dict[str, Path]) -> None:
    result = clinpred("compare", str(runs["hold"]), str(runs["other"]))
    assert result.code == 0, result.err
    a = hashlib.sha256(runs["data"].read_bytes()).hexdigest()[:12]
    b = hashlib.sha256(runs["other_data"].read_bytes()).hexdigest()[:12]
    assert f"The runs used different data (sha256 {a} in {runs['hold']}; {b} in {runs['other']})" in result.out
    assert "AUROC [95% CI]" in result.out and "calibration slope" in result.out


def test_json_and_markdown(runs: dict[str, Path]) -> None:
    result = clinpred("compare", str(runs["cv"]), "--format", "json")
    data = json.loads(result.out)
    lasso = next(r for r in data["rows"] if r["model"] == "lasso")
    assert lasso["auroc"] == {k: _metrics(runs["cv"])["models"]["lasso"]["metrics"]["auroc"][k] for k in ("value", "ci")}
    assert data["notes"][0].startswith("The run used sha256")
    md = clinpred("compare", str(runs["cv"]), str(runs["hold"]), "--format", "markdown").out
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 4 and len({line.count(" | ") for line in table}) == 1


def test_bad_run_directories_are_one_line(runs: dict[str, Path], tmp_path: Path) -> None:
    twice = clinpred("compare", str(runs["hold"]), str(runs["hold"]))
    assert twice.code == 2 and "given twice" in twice.err
    empty = clinpred("compare", str(tmp_path))
    assert empty.code == 2 and "not a run directory (no run.json)" in empty.err
    unfinished = tmp_path / "unfinished"
    shutil.copytree(runs["hold"], unfinished)
    (unfinished / "metrics.json").unlink()
    result = clinpred("compare", str(unfinished))
    assert result.code == 2 and "nothing to compare yet" in result.err and result.err.count("\n") == 1


def test_report_prints_its_table_in_every_format(runs: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "r"
    shutil.copytree(runs["cv"], run)
    result = clinpred("report", str(run), "--no-html", "--format", "csv")
    assert result.code == 0, result.err
    assert result.err.startswith("Wrote ") and (run / "report.md").is_file()
    rows = {r["model"]: r for r in csv.DictReader(io.StringIO(result.out))}
    metrics = _metrics(run)["models"]
    assert set(rows) == {"lasso", "majority"}
    for name, row in rows.items():
        for key in ("auroc", "recall", "specificity", "brier"):
            assert float(row[key]) == metrics[name]["metrics"][key]["value"]
        assert float(row["threshold"]) == metrics[name]["threshold"]
    assert rows["lasso"]["is_reference"] == "True" and rows["majority"]["delong_p"] != ""
    md = clinpred("report", str(run), "--no-html", "--format", "markdown").out
    assert "### Model comparison" in md and "### At the threshold chosen on validation data" in md
    plain = clinpred("report", str(run), "--no-html")
    assert plain.out.startswith("Wrote ") and plain.err == ""


def test_cells_and_escaping() -> None:
    columns = [Column("model", "model"), Column("auroc", "AUROC", "estimate"), Column("d", "Δ", "signed"),
               Column("p", "p", "p"), Column("n", "n", "int")]
    rows = [{"model": 'a|b,"c"', "auroc": {"value": 0.71234, "ci": [0.6, 0.8]}, "d": -0.0123, "p": 0.0004, "n": 5},
            {"model": "nan", "auroc": {"value": float("nan"), "ci": None}, "d": None, "p": 0.5, "n": None}]
    table = DataTable("T", columns, rows)
    assert [cell_text(c, rows[0]) for c in columns] == ['a|b,"c"', "0.712 [0.600, 0.800]", "-0.012", "< 0.001", "5"]
    assert [cell_text(c, rows[1]) for c in columns] == ["nan", "-", "-", "0.500", "-"]
    parsed = list(csv.DictReader(io.StringIO(to_csv(table))))
    assert parsed[0]["model"] == 'a|b,"c"' and float(parsed[0]["auroc_ci_high"]) == 0.8
    assert parsed[1]["auroc"] == "" and parsed[1]["auroc_ci_low"] == ""
    assert json.loads(to_json(table))["rows"][1]["auroc"] == {"value": None, "ci": None}
    assert "| a\\|b,\"c\" |" in to_markdown(table)
