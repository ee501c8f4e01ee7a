"""A real baselines-only run directory plus one hand-written LLM model (a test fixture).

The LLM's unit files, predictions and metrics follow the run-directory contract exactly as
core/llm/llm_unit.py and core/evaluation/aggregate.py write them: P(yes) is a noisy copy of the LASSO
baseline's, and the generated texts include every parse-failure kind.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from clirun import clinpred

LLM = "tiny-qwen"
FAMILY = "qwen"
#: generated texts cycled over the test patients ({label} is the probability label's word)
TEXTS = (
    "{label}",
    "<think>The patient is from the UK. Yes or no?</think>\n{label}",
    "**Answer:** {label}.",
    "",
    "I'm sorry, I cannot predict this. Please consult a doctor.",
    "Yes or No? It depends.",
    "<think>Hemoglobin is low, so maybe Yes, maybe No",
    "{label}",
)


def make_baseline_run(out: Path, data: Path, *extra: str) -> Path:
    result = clinpred("run", "--baselines-only", "--data", str(data), "--out", str(out), *extra)
    assert result.code == 0, result.err
    return out


def synth_csv(path: Path, n: int = 240, seed: int = 3) -> Path:
    result = clinpred("data", "synth", "--n", str(n), "--seed", str(seed), "-o", str(path))
    assert result.code == 0, result.err
    return path


def add_llm(run_dir: Path, data: Path, *, name: str = LLM, family: str = FAMILY, seed: int = 0) -> dict:
    """Write units/, predictions/ and metrics.json / run.json entries of an LLM into ``run_dir``."""
    from clinpred.core.evaluation.aggregate import ModelRow, model_metrics, paired_comparisons, prediction_rows
    from clinpred.core.evaluation.outcome import UnitOutcome
    from clinpred.core.atomic import write_json, write_jsonl
    from clinpred.core.data.dataset import load_dataset
    from clinpred.core.run.rundir import RunDirectory
    from clinpred.core.data.schema import default_schema
    from clinpred.registry.registry import load_registry

    rundir = RunDirectory(run_dir)
    dataset = load_dataset(data, default_schema())
    task = dataset.schema.task
    registry = load_registry()
    metrics = json.loads(rundir.metrics_json.read_text())
    run_info = json.loads(rundir.run_json.read_text())
    rng = np.random.default_rng(seed)
    results: dict[str, dict] = {}
    for split in run_info["splits"]:
        base = rundir.read_unit("lasso", split)
        p_val = np.clip(np.asarray(base["val"]["p"]) * 0.6 + rng.normal(0.2, 0.05, len(base["val"]["p"])), 0.01, 0.99)
        p_test = np.clip(np.asarray(base["test"]["p"]) * 0.6 + rng.normal(0.2, 0.05, len(base["test"]["p"])), 0.01, 0.99)
        threshold = float(np.median(p_val))
        texts = [TEXTS[k % len(TEXTS)].format(label=task.answer(bool(p >= threshold))) for k, p in enumerate(p_test)]
        parsed = [registry.parse_output(family, t, task) for t in texts]
        unit = {
            "status": "done", "threshold": threshold, "threshold_reason": "",
            "val": {"index": base["val"]["index"], "p": p_val.tolist()},
            "test": {"index": base["test"]["index"], "p": p_test.tolist(),
                     "prompt": [f"<|im_start|>user\nPatient record {k}<|im_end|>\n<|im_start|>assistant\n" for k in range(len(p_test))],
                     "raw_output": texts, "parsed": [p.label for p in parsed],
                     "parse_status": [p.status.value for p in parsed]},
            "training": {"steps_done": 20, "total_steps": 20, "best_step": 15, "train_losses": [1.0 / (k + 1) for k in range(20)],
                         "evaluations": [{"step": 10, "val_loss": 0.7, "val_auroc": 0.6}], "seconds": 12.5,
                         "trained_tokens": 4000, "select_metric": "val_auroc"},
            "model": {"source": "/models/tiny-qwen", "precision": "fp32"},
            "seconds": 20.0, "fingerprint": "0" * 16, "split": split,
        }
        rundir.write_unit(name, split, unit)
        results[split] = UnitOutcome.from_json(json.loads(json.dumps(unit)))
    entry = {"kind": "llm", "family": family, "status": "done",
             **model_metrics(dataset, results, n_resamples=200, seed=0)}
    metrics["models"][name] = entry
    write_jsonl(rundir.predictions(name), prediction_rows(dataset, results, True))
    all_units = {m: {s: UnitOutcome.from_json(rundir.read_unit(m, s)) for s in run_info["splits"]}
                 for m in metrics["models"]}
    rows = {m: ModelRow(e["kind"], reference_candidate=e["kind"] == "baseline" and m != "majority")
            for m, e in metrics["models"].items()}
    metrics["best_baseline"] = paired_comparisons(dataset, all_units, rows, metrics["models"], reference="lasso")
    write_json(rundir.metrics_json, metrics)
    hyper = {"lora_rank": 8, "learning_rate": 1e-4, "num_iters": 20}
    run_info["models"] = [{"name": name, "model_id": "/models/tiny-qwen", "family": family, "catalog": None,
                           "method": "lora", "hyperparameters": hyper, "unavailable": None}]
    run_info.setdefault("adapters", {})[name] = {"adapter": "lora", "kind": "llm", "hyperparameters": hyper}
    write_json(rundir.run_json, run_info)
    return entry
