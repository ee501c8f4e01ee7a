"""Optional MLflow tracking of a finished run (issue 27): logged to a local file store the test
names, nothing of a patient row in it, one line naming the extra when MLflow is missing, and a
failing store reported without losing the run."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from clirun import clinpred

CONFIG = '[run]\nbaselines = ["majority", "lasso"]\n[evaluation]\nbootstrap = 200\n'


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("tracking") / "cohort.csv"
    assert clinpred("data", "synth", "--n", "150", "--seed", "4", "-o", str(data)).code == 0
    return data


def _store_runs(store: Path) -> list[Path]:
    return [p.parent for p in store.glob("*/*/meta.yaml")]


def test_a_run_is_logged_to_the_mlflow_store_it_names(cohort: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG + '[tracking]\nexperiment = "placenta"\n')
    store = tmp_path / "mlruns"
    out = tmp_path / "run"
    result = clinpred("run", "--baselines-only", "--config", str(config), "--data", str(cohort), "--out", str(out),
                      "--mlflow", f"file:{store}")
    assert result.code == 0, result.err
    assert "Tracked: MLflow run" in result.out and "experiment 'placenta'" in result.out
    (run,) = _store_runs(store)
    metrics = json.loads((out / "metrics.json").read_text())
    logged = {p.name: float(p.read_text().split()[1]) for p in (run / "metrics").iterdir()}
    lasso = metrics["models"]["lasso"]["metrics"]["auroc"]
    assert logged["lasso.auroc"] == pytest.approx(lasso["value"])
    assert [logged["lasso.auroc.ci_low"], logged["lasso.auroc.ci_high"]] == pytest.approx(lasso["ci"])
    assert logged["majority.auroc"] == 0.5
    params = {p.name: p.read_text() for p in (run / "params").iterdir()}
    assert params["evaluation.seed"] == "42" and params["lasso.adapter"] == "lasso"
    assert params["dataset.sha256"] == metrics.get("cohort", {}).get("sha256", params["dataset.sha256"])
    tags = {p.name: p.read_text() for p in (run / "tags").iterdir()}
    assert tags["clinpred.failed_models"] == "none" and tags["mlflow.runName"] == "run"
    artifacts = {p.relative_to(run / "artifacts").as_posix() for p in (run / "artifacts").rglob("*") if p.is_file()}
    assert {"run.json", "metrics.json", "warnings.json", "report/report.md", "report/report.html"} <= artifacts
    assert not any(a.startswith(("predictions", "units", "splits")) for a in artifacts)
    # nothing of a patient row anywhere in the store
    with cohort.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    text = "".join(p.read_text(errors="replace") for p in store.rglob("*") if p.is_file() and p.suffix != ".png")
    assert not [r["patient_id"] for r in rows if r["patient_id"] in text]
    assert not [r for r in rows if ",".join(r.values()) in text]
    assert "Blood loss:" not in text  # no rendered patient record (a prompt)


def test_the_shareable_report_leaves_out_example_prompts(tmp_path: Path) -> None:
    from llm_run import add_llm, make_baseline_run, synth_csv

    from clinpred.core.report.report import write_shareable_report

    data = synth_csv(tmp_path / "cohort.csv", n=120)
    run = make_baseline_run(tmp_path / "run", data, "--baseline", "lasso")
    add_llm(run, data)
    assert clinpred("report", str(run), "--no-html").code == 0
    assert "### Example prompts" in (run / "report.md").read_text()
    files = write_shareable_report(run, tmp_path / "shared")
    text = (tmp_path / "shared" / "report.md").read_text()
    assert "### Example prompts" not in text and "raw output (truncated)" not in text
    assert "left out of this copy" in text and (tmp_path / "shared" / "report.html") in files


def test_without_mlflow_installed_one_line_names_the_extra(cohort: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
    out = tmp_path / "run"
    result = clinpred("run", "--baselines-only", "--data", str(cohort), "--out", str(out), "--mlflow", "file:x")
    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert "pip install 'clinpred[mlflow]'" in result.err and not out.exists()


def test_a_store_that_fails_keeps_the_run_and_exits_1(cohort: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store should be")
    config = tmp_path / "config.toml"
    config.write_text(CONFIG + f'[tracking]\nmlflow = "file:{blocker}/store"\n')
    out = tmp_path / "run"
    result = clinpred("run", "--baselines-only", "--config", str(config), "--data", str(cohort), "--out", str(out))
    assert result.code == 1, result.err
    assert "Error: MLflow tracking at file:" in result.err and "the run itself is complete" in result.err
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


def test_tracking_config_and_uri_are_checked(tmp_path: Path) -> None:
    from clinpred.core.run.tracking_mlflow import shown

    config = tmp_path / "config.toml"
    config.write_text('[tracking]\nmlfow = "file:x"\n')
    result = clinpred("run", "--baselines-only", "--config", str(config), "--out", str(tmp_path / "run"))
    assert result.code == 2 and "unknown key 'mlfow'" in result.err and "did you mean 'mlflow'" in result.err
    assert shown("https://ana:s3cret@mlflow.example.org/x") == "https://ana:***@mlflow.example.org/x"
    assert shown("file:/tmp/mlruns") == "file:/tmp/mlruns"
