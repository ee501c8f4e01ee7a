"""Exit codes that tell the truth (issue 17, item 2): a run in which any model or baseline failed
exits 1, after the comparison table is printed and the run directory is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clirun import clinpred


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "small.csv"
    assert clinpred("data", "synth", "--n", "120", "--seed", "3", "-o", str(path)).code == 0
    return path


def test_a_failed_model_is_exit_1_after_the_table_and_run_directory(tmp_path: Path, small_csv: Path) -> None:
    home = tmp_path / "home-is-a-file"
    home.write_text("not a directory")  # the default model cannot be fetched into it
    out = tmp_path / "R"
    result = clinpred("run", "--data", str(small_csv), "--iters", "1", "--out", str(out), env={"CLINPRED_HOME": str(home)})
    assert result.code == 1, result.err
    assert "1 model(s) failed; see the table above." in result.err and "Traceback" not in result.err
    assert "smollm2-135m-instruct" in result.out and "failed" in result.out and "lasso" in result.out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["models"]["smollm2-135m-instruct"]["status"] == "failed"
    assert "is a file, not a directory; point CLINPRED_HOME at a folder" in metrics["models"]["smollm2-135m-instruct"]["error"]
    assert metrics["models"]["lasso"]["status"] == "done"
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete" and "smollm2-135m-instruct" in run["failed"]


def test_every_model_failing_is_exit_1(tmp_path: Path, small_csv: Path) -> None:
    home = tmp_path / "home-is-a-file"
    home.write_text("x")
    out = tmp_path / "R"
    result = clinpred("run", "--no-baselines", "--data", str(small_csv), "--out", str(out), env={"CLINPRED_HOME": str(home)})
    assert result.code == 1 and (out / "metrics.json").is_file()


def test_a_failed_baseline_is_exit_1(tmp_path: Path, small_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clinpred.core.models.baselines import Lasso

    def broken(self, params, fit):
        raise ValueError("solver diverged")

    monkeypatch.setattr(Lasso, "estimator", broken)
    out = tmp_path / "R"
    result = clinpred("run", "--baselines-only", "--data", str(small_csv), "--out", str(out))
    assert result.code == 1 and "solver diverged" in result.out
    assert json.loads((out / "metrics.json").read_text())["models"]["majority"]["status"] == "done"


def test_all_done_is_exit_0(tmp_path: Path, small_csv: Path) -> None:
    assert clinpred("run", "--baselines-only", "--data", str(small_csv), "--out", str(tmp_path / "R")).code == 0
