"""scoring: patients per second of clinpred's batched label-probability scoring (``score_p_yes``,
shared-prefix cache on) against the original study's method, one ``mlx_lm.generate`` per patient
and then parsing its text, on the same float32 model and the runner's prompts.

Interleaved in one process: each repeat times the study's method, then clinpred's, on the same
patients; the ratio is the median over repeats. clinpred without the prefix cache is timed too.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path)
    ap.add_argument("--patients", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=12)
    args = ap.parse_args()
    info = common.start()
    import mlx_lm
    import numpy as np

    from clinpred.core.models import load_model
    from clinpred.core.scoring import score_p_yes
    from clinpred.core.tokens import encode

    model_dir = common.write_fp32_copy(args.model_dir or Path(tempfile.mkdtemp(prefix="clinpred-bench-")) / "fp32")
    loaded = load_model(model_dir, precision="float32")
    model, tok = loaded.model, loaded.tokenizer
    registry, family, book, labels = common.cohort(tok)
    task = book.task

    def study(prompts: list[str]) -> list[object]:
        out = []
        for p in prompts:
            text = mlx_lm.generate(model, tok, prompt=encode(tok, p), max_tokens=args.max_tokens)
            out.append(registry.parse_output(family, text, task).label)
        return out

    def ours(prompts: list[str], prefix: bool = True) -> np.ndarray:
        return score_p_yes(model, tok, prompts, task.positive, task.negative, batch_size=args.batch,
                           prefix_cache=prefix)

    def timed(fn, *a, **k) -> tuple[float, object]:
        tic = time.perf_counter()
        value = fn(*a, **k)
        return time.perf_counter() - tic, value

    warm = [book.scoring_prompt(i) for i in range(2)]
    study(warm), ours(warm)
    rows = []
    for r in range(args.repeats):
        idx = np.random.default_rng(r).choice(len(labels), args.patients, replace=False)
        prompts = [book.scoring_prompt(int(i)) for i in idx]
        t_study, parsed = timed(study, prompts)
        t_ours, p = timed(ours, prompts)
        t_plain, p_plain = timed(ours, prompts, False)
        rows.append({"study_s": t_study, "ours_s": t_ours, "plain_s": t_plain,
                     "prefix_max_abs_diff": float(np.max(np.abs(p - p_plain))),
                     "parsed": sum(x is not None for x in parsed)})
    n = args.patients
    common.emit([{
        "name": "scoring: batched label-probability scoring vs one mlx_lm.generate per patient (patients/s)",
        "ratio": round(common.median([r["study_s"] / r["ours_s"] for r in rows]), 3),
        "goal": 10.0,
        "details": {
            **info, "patients_per_repeat": n, "repeats": args.repeats, "batch_size": args.batch,
            "generate_max_tokens": args.max_tokens,
            "ratios": [round(r["study_s"] / r["ours_s"], 3) for r in rows],
            "clinpred_patients_per_s": round(n / common.median([r["ours_s"] for r in rows]), 3),
            "clinpred_no_prefix_cache_patients_per_s": round(n / common.median([r["plain_s"] for r in rows]), 3),
            "study_method_patients_per_s": round(n / common.median([r["study_s"] for r in rows]), 3),
            "prefix_cache_max_abs_p_diff": max(r["prefix_max_abs_diff"] for r in rows),
            "study_answers_parsed": [r["parsed"] for r in rows],
            "prompt_tokens": round(float(np.mean([len(encode(tok, book.scoring_prompt(i))) for i in range(50)])), 1),
        },
    }])


if __name__ == "__main__":
    main()
