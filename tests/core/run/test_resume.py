"""--resume compares the fingerprint of everything that determines the results, and says what differs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinpred.core.run.resume import differences

from clirun import clinpred


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "small.csv"
    assert clinpred("data", "synth", "--n", "160", "--seed", "4", "-o", str(path)).code == 0
    return path


def _config(tmp_path: Path, name: str, baselines: list[str], bootstrap: int) -> Path:
    path = tmp_path / name
    path.write_text(f"[run]\nbaselines = {json.dumps(baselines)}\n[evaluation]\nbootstrap = {bootstrap}\n")
    return path


def _files(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and p.name != "status.json"}


def test_resume_with_other_baselines_and_bootstrap_is_refused(tmp_path: Path, small_csv: Path) -> None:
    """Issue 17, item 3: nothing is rewritten, and the line says what differs."""
    first = _config(tmp_path, "a.toml", ["majority", "lasso"], 1000)
    other = _config(tmp_path, "b.toml", ["majority"], 200)
    out = tmp_path / "R"
    assert clinpred("run", "--baselines-only", "--config", str(first), "--data", str(small_csv), "--out", str(out)).code == 0
    before = _files(out)
    result = clinpred("run", "--baselines-only", "--config", str(other), "--data", str(small_csv), "--out", str(out),
                      "--resume")
    assert result.code == 2 and result.err.count("\n") == 1 and "Traceback" not in result.err, result.err
    assert "baselines: lasso, majority -> majority" in result.err
    assert "evaluation.bootstrap: 1000 -> 200" in result.err
    assert _files(out) == before


def test_resume_with_the_same_settings_is_byte_identical(tmp_path: Path, small_csv: Path) -> None:
    config = _config(tmp_path, "a.toml", ["majority", "lasso"], 200)
    out = tmp_path / "R"
    args = ("run", "--baselines-only", "--config", str(config), "--data", str(small_csv), "--out", str(out))
    assert clinpred(*args).code == 0
    metrics = (out / "metrics.json").read_bytes()
    assert clinpred(*args, "--resume").code == 0
    assert (out / "metrics.json").read_bytes() == metrics
    assert set(json.loads((out / "run.json").read_text())["resume_key"]) >= {"data", "splits", "evaluation", "models",
                                                                             "baselines", "schema"}


def test_resume_with_other_iters_names_the_hyperparameter() -> None:
    key = {"data": "d", "splits": "s", "schema": "x", "baselines": [], "evaluation": {"seed": 42},
           "models": {"m": {"model_id": "org/m", "family": "qwen", "catalog": None, "unavailable": False,
                            "hyperparameters": {"num_iters": 200, "lora_rank": 8}}}}
    changed = json.loads(json.dumps(key))
    changed["models"]["m"]["hyperparameters"]["num_iters"] = 30
    assert differences(key, changed) == ["model m num_iters: 200 -> 30"]
    dropped = {**key, "models": {}}
    assert differences(key, dropped) == ["models: m -> none"]
    assert differences(key, {**key, "data": "e"}) == ["data file (sha256) differ"]
    assert differences(key, key) == []


def test_a_failed_plugin_on_resume_is_not_a_settings_change() -> None:
    old = {"models": {"m": {"model_id": "org/m", "hyperparameters": {"num_iters": 3}, "unavailable": False}}}
    new = {"models": {"m": {"model_id": "org/m", "hyperparameters": {}, "unavailable": True}}}
    assert differences(old, new) == []


def test_stale_files_of_models_outside_the_run_are_removed(tmp_path: Path, small_csv: Path) -> None:
    """Issue 17, item 3: readers (report, diagnose, predict) must not pick up another run's model."""
    out = tmp_path / "R"
    config = _config(tmp_path, "a.toml", ["majority"], 200)
    args = ("run", "--baselines-only", "--config", str(config), "--data", str(small_csv), "--out", str(out))
    assert clinpred(*args).code == 0
    for rel in ("predictions/old-model.jsonl", "units/old-model/holdout.json", "adapters/old-model/adapters.safetensors"):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text("{}\n")
    assert clinpred(*args, "--resume").code == 0
    assert not (out / "predictions" / "old-model.jsonl").exists()
    assert not (out / "units" / "old-model").exists() and not (out / "adapters" / "old-model").exists()
    assert (out / "predictions" / "majority.jsonl").is_file()


def test_a_fresh_run_never_removes_files_it_did_not_write(tmp_path: Path, small_csv: Path) -> None:
    out = tmp_path / "project"
    (out / "predictions").mkdir(parents=True)
    (out / "predictions" / "my-notes.jsonl").write_text("{}\n")
    config = _config(tmp_path, "a.toml", ["majority"], 200)
    assert clinpred("run", "--baselines-only", "--config", str(config), "--data", str(small_csv), "--out", str(out)).code == 0
    assert (out / "predictions" / "my-notes.jsonl").read_text() == "{}\n"


def test_units_computed_by_an_older_revision_are_recomputed_on_resume(tmp_path: Path, small_csv: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    assert clinpred("run", "--baselines-only", "--data", str(small_csv), "--out", str(out)).code == 0
    assert clinpred("run", "--baselines-only", "--data", str(small_csv), "--out", str(out),
                    "--resume").err.count("already done") == 4
    from clinpred.core.models.baselines import Lasso

    monkeypatch.setattr(Lasso, "revision", Lasso.revision + 1)  # e.g. a fix to LASSO
    again = clinpred("run", "--baselines-only", "--data", str(small_csv), "--out", str(out), "--resume")
    assert again.code == 0 and again.err.count("already done") == 3  # only LASSO's units are recomputed
    assert not any("lasso" in line for line in again.err.splitlines() if "already done" in line)
