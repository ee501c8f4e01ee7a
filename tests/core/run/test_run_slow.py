"""The main job on the real default model (slow: SmolLM2-135M from PyPI, a few training steps)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from clirun import clinpred, spawn

pytestmark = pytest.mark.slow

MODEL = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("slow") / "small.csv"
    assert clinpred("data", "synth", "--n", "60", "--seed", "4", "-o", str(path)).code == 0
    assert clinpred("-q", "models", "pull", MODEL).code == 0
    return path


def test_five_lora_steps_on_16_patients_lower_the_answer_loss(small_csv: Path, tmp_path: Path) -> None:
    from clinpred.core.data.dataset import load_from_schema
    from clinpred.core.llm.llm_unit import PromptBook
    from clinpred.core.weights.model_source import resolve_source
    from clinpred.core.weights.loading import load_model
    from clinpred.core.data.schema import default_schema
    from clinpred.core.llm.scoring import score_p_yes
    from clinpred.core.llm.training import TrainConfig, TrainItem, train_lora
    from clinpred.registry.registry import load_registry

    registry = load_registry()
    family = registry.family("smollm")
    dataset = load_from_schema(default_schema().with_path(small_csv))
    loaded = load_model(resolve_source(MODEL, [e for _, e in registry.catalog()]))
    task = dataset.schema.task
    book = PromptBook(registry, family, loaded.tokenizer, task, dataset.records())
    idx = list(range(16))
    y = dataset.labels[idx]
    items = [TrainItem(book.example(i, bool(y[k])), int(y[k]), 1.0) for k, i in enumerate(idx)]
    prompts = [book.scoring_prompt(i) for i in idx]

    def answer_loss() -> float:
        p = np.clip(score_p_yes(loaded.model, loaded.tokenizer, prompts, task.positive, task.negative), 1e-7, 1 - 1e-7)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    before = answer_loss()
    cfg = TrainConfig(rank=8, alpha=16, lora_layers=4, learning_rate=5e-4, iters=5, batch_size=4, seed=0)
    result = train_lora(loaded.model, loaded.tokenizer, items, [], cfg, tmp_path / "adapters")
    assert result.steps_done == 5
    assert answer_loss() < before


def test_run_on_the_real_model_writes_an_llm_entry_with_real_probabilities(small_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "R2"
    result = clinpred("run", "--data", str(small_csv), "--model", MODEL, "--iters", "6", "--out", str(out))
    assert result.code == 0, result.err
    entry = json.loads((out / "metrics.json").read_text())["models"][MODEL]
    assert entry["kind"] == "llm" and entry["status"] == "done" and entry["family"] == "smollm"
    rows = [json.loads(line) for line in (out / "predictions" / f"{MODEL}.jsonl").read_text().splitlines()]
    p = np.array([r["p_yes"] for r in rows])
    assert ((p > 0) & (p < 1)).all() and np.unique(p.round(6)).size > 1
    assert all(isinstance(r["raw_output"], str) for r in rows)
    assert (out / "adapters" / MODEL / "adapters.safetensors").is_file()
    unit = json.loads((out / "units" / MODEL / "holdout.json").read_text())
    assert len(unit["model"]["gguf_sha256"]) == 64 and unit["model"]["precision"] == "float32"


def test_kill_9_mid_training_then_resume_completes(small_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    args = ["run", "--data", str(small_csv), "--model", MODEL, "--iters", "14", "--no-generate", "--out", str(out)]
    proc = spawn(args,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # the file, not its folder: the folder appears a moment before the file is renamed into it
    checkpoint = out / "adapters" / MODEL / "checkpoint" / "checkpoint.safetensors"
    deadline = time.time() + 900
    killed = False
    while time.time() < deadline and proc.poll() is None:
        if checkpoint.exists():
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.2)
    proc.wait()
    assert killed, "the run ended before its first checkpoint"
    assert not (out / "metrics.json").exists()
    resumed = clinpred(*args, "--resume")
    assert resumed.code == 0, resumed.err
    entry = json.loads((out / "metrics.json").read_text())["models"][MODEL]
    assert entry["status"] == "done"
    unit = json.loads((out / "units" / MODEL / "holdout.json").read_text())
    assert unit["training"]["resumed_from"] >= 10
    assert unit["training"]["steps_done"] == 14
