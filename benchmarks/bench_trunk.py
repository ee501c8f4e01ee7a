"""trunk: clinpred's trainer with the frozen-trunk cache (LoRA on the top 8 blocks; the states
entering them computed once per example) against ``python -m mlx_lm lora`` over a training of
several epochs, as in the original study (1000 iterations of batch 4 over ~460 patients).

Ratio: mlx-lm's training time (the sum of its per-step times: model loading and validation
excluded) over clinpred's whole ``train_lora`` call (adapter setup, building the cache and
checkpoints included); the median over interleaved repeats. The cached loss curve is compared
with clinpred's own uncached trainer on the first steps (same batches, same learning rate).
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import common
from bench_training import train_ours


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path)
    ap.add_argument("--patients", type=int, default=460)
    ap.add_argument("--epochs", type=float, default=9.0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--check-steps", type=int, default=4)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4)
    args = ap.parse_args()
    info = common.start()
    import numpy as np

    from clinpred.core.weights.loading import load_model

    tmp = Path(tempfile.mkdtemp(prefix="clinpred-bench-trunk-"))
    model_dir = common.write_fp32_copy(args.model_dir or tmp / "fp32")
    tokenizer = load_model(model_dir, precision="float32").tokenizer
    _, _, book, labels = common.cohort(tokenizer)
    indices = sorted(np.random.default_rng(1).choice(len(labels), args.patients, replace=False).tolist())
    items = common.train_items(book, labels, indices)
    data = common.write_mlx_lm_data(book, labels, indices, tmp / "data")
    iters = math.ceil(args.epochs * args.patients / args.batch)
    rank, alpha, lr = 8, 16.0, 1e-4
    train = dict(batch=args.batch, layers=args.layers, rank=rank, alpha=alpha, lr=lr)
    runs = []
    for r in range(args.repeats):
        ref = common.run_mlx_lm_lora(model_dir, data, tmp / f"mlx-{r}", iters=iters, batch_size=args.batch,
                                     layers=args.layers, rank=rank, scale=alpha / rank, learning_rate=lr)
        ours = train_ours(model_dir, items, tmp / f"ours-{r}", iters=iters, trunk=True, **train)
        runs.append((ref, ours))
    plain = train_ours(model_dir, items, tmp / "plain", iters=args.check_steps, trunk=False, **train)
    ratios = [sum(ref["step_seconds"]) / ours["wall_seconds"] for ref, ours in runs]
    ref, ours = runs[0]
    n = args.check_steps
    diff = float(np.max(np.abs(np.array(ours["losses"][:n]) - np.array(plain["losses"][:n]))))
    step_ratio = common.median(plain["step_seconds"][1:]) / common.median(ours["step_seconds"][1:])
    common.emit([{
        "name": "trunk: frozen-trunk cached training vs mlx_lm lora, top 8 layers, several epochs",
        "ratio": round(common.median(ratios), 3),
        "goal": 3.0,
        "details": {
            **info, "patients": args.patients, "epochs": args.epochs, "iters": iters,
            "batch_size": args.batch, "lora_layers": args.layers, "rank": rank, "scale": alpha / rank,
            "repeats": args.repeats, "ratios": [round(x, 3) for x in ratios],
            "mlx_lm_training_seconds": round(sum(ref["step_seconds"]), 1),
            "mlx_lm_wall_seconds_with_loading": round(ref["wall_seconds"], 1),
            "clinpred_train_lora_seconds": round(ours["wall_seconds"], 1),
            "clinpred_notes": ours["notes"],
            "cached_vs_uncached_steps_compared": n,
            "cached_vs_uncached_max_abs_loss_diff": diff,
            "cached_losses_first_steps": ours["losses"][:n],
            "uncached_losses_first_steps": plain["losses"][:n],
            "cached_vs_uncached_step_speedup": round(step_ratio, 3),
            "clinpred_loss_first_epoch_mean": round(float(np.mean(ours["losses"][: iters // max(1, round(args.epochs))])), 4),
            "clinpred_loss_last_epoch_mean": round(float(np.mean(ours["losses"][-(iters // max(1, round(args.epochs))):])), 4),
            "mlx_lm_loss_first_epoch_mean": round(float(np.mean(ref["losses"][: iters // max(1, round(args.epochs))])), 4),
            "mlx_lm_loss_last_epoch_mean": round(float(np.mean(ref["losses"][-(iters // max(1, round(args.epochs))):])), 4),
            "mlx_lm_command": ref["command"],
        },
    }])


if __name__ == "__main__":
    main()
