"""LP-FT in a run (``head = "probe"``): the probe of the frozen model is the head LoRA starts
from, the run keeps the trained head beside the adapter, and P(yes) is the head's.

The reference is independent of the LP-FT code path: with a learning rate of 1e-9 the trained
head is still the probe, so the LP-FT row must give the probe arm's probabilities (scikit-learn's
regression on the frozen states, checked against scikit-learn in test_llm_arms.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clirun import clinpred
from llm_run import synth_csv

CONFIG = """
[run]
models = ["m-lpft", "m-probe"]
[[models]]
name = "m-lpft"
model_id = "{model}"
family = "qwen"
objective = "label"
head = "probe"
learning_rate = {lr}
[[models]]
name = "m-probe"
model_id = "{model}"
family = "qwen"
method = "probe"
"""


def _run(root: Path, lr: float) -> Path:
    from tiny_models import tiny_model_dir

    data = synth_csv(root / "cohort.csv", n=120)
    config = root / "c.toml"
    config.write_text(CONFIG.format(model=tiny_model_dir("qwen2"), lr=lr))
    result = clinpred("run", "--config", str(config), "--iters", "2", "--baseline", "majority", "--no-generate",
                      "--data", str(data), "--out", str(root / "run"))
    assert result.code == 0, result.err
    return root / "run"


def _p_yes(run: Path, name: str) -> dict[str, float]:
    rows = [json.loads(line) for line in (run / "predictions" / f"{name}.jsonl").read_text().splitlines()]
    return {row["id"]: row["p_yes"] for row in rows}


@pytest.fixture(scope="module")
def still_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tmp_path_factory.mktemp("lpft-still"), lr=1e-9)


def test_an_untrained_lp_ft_head_is_the_probe(still_run: Path) -> None:
    lpft, probe = _p_yes(still_run, "m-lpft"), _p_yes(still_run, "m-probe")
    assert lpft.keys() == probe.keys() and len(lpft) > 5
    np.testing.assert_allclose([lpft[k] for k in probe], [probe[k] for k in probe], atol=1e-4)
    assert len({round(v, 4) for v in lpft.values()}) > 3  # the head's probabilities, not the label tokens' two-ish
    unit = json.loads(next((still_run / "units" / "m-lpft").glob("*.json")).read_text())
    assert unit["training"]["probe_head"]["patients"] > 50 and "probe head" in unit["timings"]
    assert "label_head.safetensors" in unit["fitted"]["files"]


def test_the_head_is_saved_and_predict_applies_it(still_run: Path, tmp_path: Path) -> None:
    from clinpred.core.llm.label_head import HEAD_FILE

    saved = sorted(p.name for p in (still_run / "adapters" / "m-lpft").iterdir() if p.suffix != ".tmp")
    assert HEAD_FILE in saved and "adapters.safetensors" in saved
    out = tmp_path / "p.csv"
    result = clinpred("predict", str(still_run), "--model", "m-lpft", "--data", str(still_run.parent / "cohort.csv"),
                      "-o", str(out))
    assert result.code == 0, result.err
    import csv

    with out.open(newline="") as fh:
        predicted = {row["patient_id"]: float(row["p_yes"]) for row in csv.DictReader(fh)}
    stored = _p_yes(still_run, "m-lpft")
    np.testing.assert_allclose([predicted[k] for k in stored], [stored[k] for k in stored], atol=1e-5)


def test_a_missing_head_file_is_one_line(still_run: Path, tmp_path: Path) -> None:
    import shutil

    from clinpred.core.llm.label_head import HEAD_FILE

    copy = tmp_path / "run"
    shutil.copytree(still_run, copy)
    (copy / "adapters" / "m-lpft" / HEAD_FILE).unlink()
    result = clinpred("predict", str(copy), "--model", "m-lpft", "--data", str(still_run.parent / "cohort.csv"),
                      "-o", str(tmp_path / "p.csv"))
    assert result.code != 0 and HEAD_FILE in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "p.csv").exists()


def test_lp_ft_that_trains_moves_away_from_the_probe(tmp_path: Path) -> None:
    run = _run(tmp_path, lr=0.05)
    lpft, probe = _p_yes(run, "m-lpft"), _p_yes(run, "m-probe")
    assert max(abs(lpft[k] - probe[k]) for k in probe) > 1e-3


def test_head_probe_applies_to_the_label_objective_only(tmp_path: Path) -> None:
    """With answer-token (no head to start) the key does not apply, so a search may still try that
    objective; a user who set it explicitly is told in a warning."""
    from clinpred.core.llm.lora_params import LoraParams
    from clinpred.core.params import build_params
    from tiny_models import tiny_model_dir

    assert build_params(LoraParams, {"head": "probe", "objective": "label"}, "m").lpft
    assert not build_params(LoraParams, {"head": "probe"}, "m").lpft
    assert not build_params(LoraParams, {"objective": "label"}, "m").lpft
    data = synth_csv(tmp_path / "cohort.csv", n=80)
    config = tmp_path / "c.toml"
    config.write_text(f'[run]\nmodels = ["m"]\n[[models]]\nname = "m"\nmodel_id = "{tiny_model_dir("qwen2")}"\n'
                      'family = "qwen"\nhead = "probe"\n')
    result = clinpred("run", "--config", str(config), "--iters", "1", "--no-baselines", "--no-generate",
                      "--data", str(data), "--out", str(tmp_path / "r"))
    assert result.code == 0, result.err
    assert 'head = "probe" (LP-FT) applies to objective = "label"' in result.err
    assert not (tmp_path / "r" / "adapters" / "m" / "label_head.safetensors").exists()
