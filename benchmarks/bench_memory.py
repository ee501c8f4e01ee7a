"""Peak memory of training and of scoring on the default model (each in a fresh process), and
the wall time of the default ``clinpred run`` (a subprocess with a fresh --out). No ratio.

MLX's peak (``mx.get_peak_memory``) and the process's max resident set size are both reported.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common


def _child(what: str, patients: int, iters: int) -> None:
    info = common.start()
    import mlx.core as mx
    import numpy as np

    from clinpred.core.weights.loading import load_model
    from clinpred.core.llm.scoring import score_p_yes
    from clinpred.core.llm.training import TrainConfig, train_lora

    loaded = load_model(common.default_model_dir(), precision="float32")
    _, _, book, labels = common.cohort(loaded.tokenizer)
    idx = np.random.default_rng(0).choice(len(labels), patients, replace=False)
    mx.reset_peak_memory()
    out: dict = {}
    if what == "training":
        items = common.train_items(book, labels, idx)
        cfg = TrainConfig(iters=iters, batch_size=4, lora_layers=8, seed=0)
        result = train_lora(loaded.model, loaded.tokenizer, items[:-8], items[-8:], cfg,
                            Path(tempfile.mkdtemp(prefix="clinpred-bench-mem-")), positive="Yes", negative="No")
        out["notes"] = list(result.notes)
        out["iters"] = iters
    else:
        score_p_yes(loaded.model, loaded.tokenizer, [book.scoring_prompt(int(i)) for i in idx],
                    book.task.positive, book.task.negative, batch_size=8)
    out.update(info, patients=patients, mlx_peak_gb=round(mx.get_peak_memory() / 1e9, 3),
               max_rss_gb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3))
    print(json.dumps(out))


def _run_child(*args: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", choices=["training", "scoring"])
    ap.add_argument("--patients", type=int, default=32)
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--run-iters", type=int, help="clinpred run --iters N (default: the configured 200)")
    args = ap.parse_args()
    if args.child:
        return _child(args.child, args.patients, args.iters)
    out = Path(tempfile.mkdtemp(prefix="clinpred-bench-run-")) / "run"
    cmd = [str(Path(sys.executable).with_name("clinpred")), "run", "--out", str(out)]
    if args.run_iters:
        cmd += ["--iters", str(args.run_iters)]
    tic = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - tic
    run_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6
    train = _run_child("--child", "training", "--patients", str(args.patients), "--iters", str(args.iters))
    score = _run_child("--child", "scoring", "--patients", str(args.patients))
    common.emit([
        {"name": "memory: peak memory of training (default model, float32, LoRA top 8, batch 4)",
         "ratio": None, "goal": None, "details": train},
        {"name": "memory: peak memory of scoring (default model, float32, batch 8)",
         "ratio": None, "goal": None, "details": score},
        {"name": "run: wall time of the default clinpred run" + (f" (shortened: --iters {args.run_iters})" if args.run_iters else ""), "ratio": None, "goal": None,
         "details": {"seconds": round(wall, 1), "exit_code": proc.returncode,
                     "command": "clinpred run --out TMP" + (f" --iters {args.run_iters}" if args.run_iters else ""),
                     "max_rss_gb": round(run_rss, 3),
                     "stderr_tail": proc.stderr[-500:] if proc.returncode else ""}},
    ])


if __name__ == "__main__":
    main()
