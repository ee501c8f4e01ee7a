"""`clinpred run` with baselines only: the run directory contract, reproducibility, resume, errors."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from clirun import clinpred

BASELINES = {"majority", "lasso", "random_forest", "gradient_boosting"}


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "small.csv"
    result = clinpred("data", "synth", "--n", "240", "--seed", "3", "-o", str(path))
    assert result.code == 0, result.err
    return path


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def test_baselines_only_writes_the_contract(tmp_path: Path, small_csv: Path) -> None:
    out = tmp_path / "R"
    result = clinpred("run", "--baselines-only", "--data", str(small_csv), "--out", str(out))
    assert result.code == 0, result.err
    metrics = _metrics(out)
    assert set(metrics["models"]) == BASELINES
    for name, entry in metrics["models"].items():
        assert entry["kind"] == "baseline"
        auroc = entry["metrics"]["auroc"]
        assert auroc["ci"][0] <= auroc["value"] <= auroc["ci"][1], name
        for key in ("accuracy", "f1", "precision", "recall", "specificity", "balance_gap", "brier",
                    "auprc", "mcc", "balanced_accuracy", "calibration_slope", "calibration_intercept"):
            assert key in entry["metrics"], key
        assert 0 < entry["threshold"] < 1
        rows = [json.loads(line) for line in (out / "predictions" / f"{name}.jsonl").read_text().splitlines()]
        assert len(rows) == entry["n"]
        assert set(rows[0]) >= {"id", "fold", "label", "p_yes", "predicted"}
    assert metrics["models"]["majority"]["metrics"]["auroc"]["value"] == 0.5
    best = metrics["best_baseline"]
    assert best in BASELINES - {"majority"}
    for name in BASELINES - {best}:
        assert metrics["models"][name]["delong_vs_best_baseline"]["baseline"] == best
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete"
    assert len(run["dataset"]["sha256"]) == 64
    assert run["versions"]["scikit-learn"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    splits = json.loads((out / "splits.json").read_text())
    parts = splits["splits"][0]
    assert not set(parts["train"]) & set(parts["test"])
    assert "AUROC" in result.out and "lasso" in result.out


def test_same_seed_gives_identical_metrics(tmp_path: Path, small_csv: Path) -> None:
    for name in ("a", "b"):
        assert clinpred("run", "--baselines-only", "--data", str(small_csv), "--cv", "3", "--seed", "5",
                        "--out", str(tmp_path / name)).code == 0
    assert _metrics(tmp_path / "a") == _metrics(tmp_path / "b")
    assert set(_metrics(tmp_path / "a")["models"]["lasso"]["thresholds"]) == {"r0f0", "r0f1", "r0f2"}


def test_existing_run_is_not_overwritten_and_resume_skips_done_units(tmp_path: Path, small_csv: Path) -> None:
    out = tmp_path / "R"
    assert clinpred("run", "--baselines-only", "--data", str(small_csv), "--out", str(out)).code == 0
    before = _metrics(out)
    again = clinpred("run", "--baselines-only", "--data", str(small_csv), "--out", str(out))
    assert again.code == 2  # the user's own mistake (issue 17, item 9)
    assert "already holds a run; continue it with --resume" in again.err
    resumed = clinpred("run", "--baselines-only", "--data", str(small_csv), "--out", str(out), "--resume")
    assert resumed.code == 0, resumed.err
    assert "already done (resumed)" in resumed.err
    assert _metrics(out) == before


def test_resume_with_other_data_is_refused(tmp_path: Path, small_csv: Path) -> None:
    out = tmp_path / "R"
    assert clinpred("run", "--baselines-only", "--data", str(small_csv), "--out", str(out)).code == 0
    other = clinpred("run", "--baselines-only", "--data", str(small_csv), "--out", str(out), "--resume", "--seed", "9")
    assert other.code == 2 and other.err.count("\n") == 1
    assert "splits (seed, --cv, --repeats or the data) differ" in other.err and "evaluation.seed: 42 -> 9" in other.err


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[[models]]\nname = 'x'\nmodel_id = 'org/x'\nfamily = 'llama'\nlora_rnak = 8\n", "did you mean 'lora_rank'"),
        ("[[models]]\nname = 'x'\nmodel_id = 'org/x'\nfamily = 'llama'\nlearning_rate = -0.1\n", "learning_rate = -0.1 is impossible"),
        ("[[models]]\nname = 'x'\nmodel_id = 'org/x'\nfamily = 'lama'\n", "unknown family 'lama' (did you mean 'llama'?)"),
        ("[[models]\nname = 'x'\n", "TOML syntax error"),
    ],
)
def test_bad_config_exits_2_with_one_line(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    result = clinpred("run", "--config", str(path), "--out", str(tmp_path / "R"))
    assert result.code == 2
    assert message in result.err
    assert result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "R").exists()


def test_unknown_model_family_needs_family_option(tmp_path: Path, small_csv: Path) -> None:
    result = clinpred("run", "--model", "org/mystery-model", "--data", str(small_csv), "--out", str(tmp_path / "R"))
    assert result.code == 2
    assert "cannot tell the family of 'org/mystery-model'; name it with --family" in result.err


def test_run_json_records_the_command_line(tmp_path: Path, small_csv: Path) -> None:
    out = tmp_path / "R"
    assert clinpred("run", "--baselines-only", "--data", str(small_csv), "--out", str(out)).code == 0
    run = json.loads((out / "run.json").read_text())
    assert run["command"] == ["clinpred", "run", "--baselines-only", "--data", str(small_csv), "--out", str(out)]


def test_majority_baseline_predicts_the_training_prevalence_even_when_oversampling(tmp_path: Path, small_csv: Path) -> None:
    out = tmp_path / "R"
    assert clinpred("run", "--baselines-only", "--data", str(small_csv), "--out", str(out)).code == 0
    rows = [json.loads(line) for line in (out / "predictions" / "majority.jsonl").read_text().splitlines()]
    splits = json.loads((out / "splits.json").read_text())["splits"][0]
    events = splits["events"]["train"] / splits["sizes"]["train"]
    assert {round(r["p_yes"], 9) for r in rows} == {round(events, 9)}
    assert all(r["predicted"] == 1 for r in rows)  # the majority class is "yes" in this cohort


def test_baselines_command_is_run_baselines_only(tmp_path: Path, small_csv: Path) -> None:
    assert clinpred("baselines", "--data", str(small_csv), "--seed", "3", "--out", str(tmp_path / "a")).code == 0
    assert clinpred("run", "--baselines-only", "--data", str(small_csv), "--seed", "3", "--out", str(tmp_path / "b")).code == 0
    assert _metrics(tmp_path / "a") == _metrics(tmp_path / "b")


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_format_puts_the_model_table_alone_on_stdout(tmp_path: Path, small_csv: Path, fmt: str) -> None:
    """Issue 27: `run --format csv|json` exports the comparison (every estimate with its CI); every
    other line goes to stderr so stdout parses as it is."""
    import csv
    import io

    config = tmp_path / "c.toml"
    config.write_text('[run]\nbaselines = ["majority", "lasso"]\n[evaluation]\nbootstrap = 200\n')
    out = tmp_path / "R"
    result = clinpred("baselines", "--config", str(config), "--data", str(small_csv), "--out", str(out),
                      "--format", fmt)
    assert result.code == 0, result.err
    assert "Results:" in result.err and "Results:" not in result.out
    lasso = _metrics(out)["models"]["lasso"]["metrics"]["auroc"]
    if fmt == "csv":
        rows = {r["model"]: r for r in csv.DictReader(io.StringIO(result.out))}
        assert set(rows) == {"majority", "lasso"}
        assert float(rows["lasso"]["auroc"]) == lasso["value"]
        assert [float(rows["lasso"]["auroc_ci_low"]), float(rows["lasso"]["auroc_ci_high"])] == lasso["ci"]
    else:
        data = json.loads(result.out)
        row = next(r for r in data["rows"] if r["model"] == "lasso")
        assert row["auroc"] == {"value": lasso["value"], "ci": lasso["ci"]}
