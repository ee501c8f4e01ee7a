"""training: clinpred's LoRA trainer (plain path, frozen-trunk cache off) against
``python -m mlx_lm lora`` on the same float32 weights, patients, rank, scale, layers, batch size,
learning rate (constant) and iterations. Ratio: mlx-lm's median seconds per step over ours
(median over repeats of interleaved pairs); tokens/s = batch x mean tokens per example / step.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import common


def train_ours(model_dir: Path, items: list[Any], out: Path, *, iters: int, batch: int, layers: int,
               rank: int, alpha: float, lr: float, trunk: bool) -> dict[str, Any]:
    """One clinpred training from a freshly loaded model: per-step losses and seconds, wall time."""
    import mlx.core as mx

    from clinpred.core.weights.loading import load_model
    from clinpred.core.llm.training import TrainConfig, train_lora

    loaded = load_model(model_dir, precision="float32")
    cfg = TrainConfig(rank=rank, alpha=alpha, lora_layers=layers, learning_rate=lr, min_lr_ratio=1.0,
                      iters=iters, batch_size=batch, save_every=10**6, frozen_trunk_cache=trunk, seed=0)
    stamps: list[float] = []
    mx.reset_peak_memory()
    tic = time.perf_counter()
    result = train_lora(loaded.model, loaded.tokenizer, items, [], cfg, out,
                        on_progress=lambda e: stamps.append(time.perf_counter()))
    wall = time.perf_counter() - tic
    steps = [b - a for a, b in zip([tic] + stamps[:-1], stamps)]
    return {"losses": list(result.train_losses), "step_seconds": steps, "wall_seconds": wall,
            "notes": list(result.notes), "peak_memory_gb": mx.get_peak_memory() / 1e9}


def same_tokens(tokenizer: Any, book: Any, labels: Any, items: list[Any], indices: list[int]) -> bool:
    """Whether mlx-lm's chat-template tokens start with clinpred's training tokens for every item."""
    for item, i in zip(items, indices):
        prompt = book.prompt(int(i))
        messages = ([{"role": "system", "content": prompt.system}] if prompt.system else []) + [
            {"role": "user", "content": prompt.user},
            {"role": "assistant", "content": book.task.answer(bool(labels[i]))}]
        ids = list(tokenizer.apply_chat_template(messages, return_dict=False))
        if ids[: item.example.answer_end] != list(item.example.ids[: item.example.answer_end]):
            return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path)
    ap.add_argument("--patients", type=int, default=48)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4)
    args = ap.parse_args()
    info = common.start()
    import numpy as np

    from clinpred.core.weights.loading import load_model

    tmp = Path(tempfile.mkdtemp(prefix="clinpred-bench-training-"))
    model_dir = common.write_fp32_copy(args.model_dir or tmp / "fp32")
    tokenizer = load_model(model_dir, precision="float32").tokenizer
    _, _, book, labels = common.cohort(tokenizer)
    indices = sorted(np.random.default_rng(0).choice(len(labels), args.patients, replace=False).tolist())
    items = common.train_items(book, labels, indices)
    data = common.write_mlx_lm_data(book, labels, indices, tmp / "data")
    rank, alpha, lr = 8, 16.0, 1e-4
    mean_len = float(np.mean([len(it.example.ids) for it in items]))
    pairs = []
    for r in range(args.repeats):
        ref = common.run_mlx_lm_lora(model_dir, data, tmp / f"mlx-{r}", iters=args.iters, batch_size=args.batch,
                                     layers=args.layers, rank=rank, scale=alpha / rank, learning_rate=lr)
        ours = train_ours(model_dir, items, tmp / f"ours-{r}", iters=args.iters, batch=args.batch,
                          layers=args.layers, rank=rank, alpha=alpha, lr=lr, trunk=False)
        pairs.append((ref, ours))
    ratios = [common.median(ref["step_seconds"][1:]) / common.median(ours["step_seconds"][1:]) for ref, ours in pairs]
    ref, ours = pairs[0]
    ref_s, our_s = common.median(ref["step_seconds"][1:]), common.median(ours["step_seconds"][1:])
    half = max(1, args.iters // 2)
    common.emit([{
        "name": "training: clinpred LoRA trainer vs mlx_lm lora (tokens/s)",
        "ratio": round(common.median(ratios), 3),
        "goal": 1.0,
        "details": {
            **info, "patients": args.patients, "iters": args.iters, "batch_size": args.batch,
            "lora_layers": args.layers, "rank": rank, "scale": alpha / rank, "learning_rate": lr,
            "repeats": args.repeats, "ratios": [round(x, 3) for x in ratios],
            "clinpred_tokens_per_s": round(args.batch * mean_len / our_s, 1),
            "mlx_lm_tokens_per_s": round(args.batch * mean_len / ref_s, 1),
            "mean_tokens_per_example": round(mean_len, 1),
            "same_training_tokens": same_tokens(tokenizer, book, labels, items, indices),
            "clinpred_losses": [round(x, 4) for x in ours["losses"]],
            "mlx_lm_losses": [round(x, 4) for x in ref["losses"]],
            "clinpred_mean_loss_first_half": round(float(np.mean(ours["losses"][:half])), 4),
            "clinpred_mean_loss_second_half": round(float(np.mean(ours["losses"][half:])), 4),
            "mlx_lm_mean_loss_first_half": round(float(np.mean(ref["losses"][:half])), 4),
            "mlx_lm_mean_loss_second_half": round(float(np.mean(ref["losses"][half:])), 4),
            "clinpred_notes": ours["notes"],
            "timing": "median seconds per training step over steps 2..n (mlx-lm: 1 / its reported "
                      "iterations/s with --steps-per-report 1, training time only; clinpred: time "
                      "between progress callbacks); tokens/s = batch x mean tokens per example / "
                      "step seconds, the same token count for both",
            "loss_note": "mlx-lm (--mask-prompt) averages cross-entropy over the answer and the "
                         "end-of-turn tokens after it; clinpred over the answer token(s) only, and "
                         "the two tools draw their batches in different orders: compare the trend",
            "mlx_lm_command": ref["command"],
        },
    }])


if __name__ == "__main__":
    main()
