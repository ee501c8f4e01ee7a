"""A nested search on the real default model (slow: SmolLM2-135M from PyPI, 3 trials of 2 steps)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clirun import clinpred

pytestmark = pytest.mark.slow

MODEL = "smollm2-135m-instruct"


def test_three_trial_search_on_the_default_model_records_its_choice(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    data = tmp_path / "small.csv"
    assert clinpred("data", "synth", "--n", "60", "--seed", "4", "-o", str(data)).code == 0
    assert clinpred("-q", "models", "pull", MODEL).code == 0
    config = tmp_path / "c.toml"
    config.write_text(f"""
[evaluation]
generate = false
bootstrap = 200
[search]
n_trials = 5
pruner = "none"
learning_rate = {{ low = 1e-5, high = 1e-3 }}
lora_rank = [4, 8]
[[models]]
name = "{MODEL}"
family = "smollm"
model_id = "{MODEL}"
eval_every = 1
""")
    out = tmp_path / "run"
    result = clinpred("run", "--config", str(config), "--data", str(data), "--no-baselines", "--iters", "2",
                      "--search", "--trials", "3", "--out", str(out))
    assert result.code == 0, result.err
    unit = json.loads((out / "units" / MODEL / "holdout.json").read_text())
    search = unit["search"]
    assert [t["state"] for t in search["trials"]] == ["complete"] * 3
    assert all(len(t["evaluations"]) == 2 and t["value"] is not None for t in search["trials"])
    best = max(search["trials"], key=lambda t: (t["value"], -t["number"]))
    assert search["chosen"] == best["params"] and 1e-5 <= search["chosen"]["learning_rate"] <= 1e-3
    assert search["inner"]["train"] + search["inner"]["val"] == json.loads((out / "run.json").read_text())[
        "splits"]["holdout"]["train"]["n"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["models"][MODEL]["search"]["holdout"]["chosen"] == search["chosen"]
    assert metrics["models"][MODEL]["metrics"]["auroc"]["value"] is not None
