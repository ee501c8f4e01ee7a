"""scoring: patients per second of clinpred's scoring against the original study's method, on
the same model (the default SmolLM2-135M as distributed: 4-bit weights) and the runner's prompts.

- The study's method, as its scripts ran it: ``mlx_lm.load`` of the model (which keeps the 4-bit
  weights), then one ``mlx_lm.generate`` per patient and parsing of the text.
- clinpred's method, as ``clinpred run`` runs it: ``load_model`` (the precision policy: on a
  CPU the same weights dequantized to float32, an exact conversion), then batched label
  probabilities (``score_p_yes``) with the shared-prefix cache.

The headline ratio is that end-to-end comparison. The details also hold the method alone on
identical float32 weights (``generate`` per patient vs ``score_p_yes``), clinpred without the
prefix cache, and how far the 4-bit model's P(yes) is from clinpred's (same model check, with
the relative error of one layer's matmul both ways against float64 arithmetic).
Interleaved in one process: each repeat times every method on the same patients; ratios are
medians over repeats. Model loading is timed apart and left out of the rates. The study's method
runs on MLX's own ops (clinpred's vectorized CPU kernels switched off, as in the study's
scripts); clinpred's with the kernels where they apply (x86_64 Linux).
"""

from __future__ import annotations

import argparse
import time
import common


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    tic = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - tic, value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=12)
    ap.add_argument("--check-patients", type=int, default=2,
                    help="patients whose P(yes) is also computed on the 4-bit weights")
    args = ap.parse_args()
    info = common.start()
    import mlx_lm
    import numpy as np

    from clinpred.core.weights import cpu_kernels
    from clinpred.core.weights.device import resolve_precision
    from clinpred.core.weights.loading import load_model
    from clinpred.core.llm.scoring import score_p_yes
    from clinpred.core.llm.tokens import encode

    source = common.default_model_dir()
    t_load_study, (study_model, tok) = timed(mlx_lm.load, str(source))
    t_load_ours, loaded = timed(load_model, source)
    fp32_model = loaded.model
    registry, family, book, labels = common.cohort(tok)
    task = book.task

    def study(model, prompts: list[str]) -> list[object]:
        out = []
        with cpu_kernels.switched(False):  # stock MLX, as the study ran
            for p in prompts:
                text = mlx_lm.generate(model, tok, prompt=encode(tok, p), max_tokens=args.max_tokens)
                out.append(registry.parse_output(family, text, task).label)
        return out

    def ours(model, prompts: list[str], prefix: bool = True) -> np.ndarray:
        return score_p_yes(model, tok, prompts, task.positive, task.negative, batch_size=args.batch,
                           prefix_cache=prefix)

    warm = [book.scoring_prompt(i) for i in range(2)]
    study(study_model, warm[:1]), study(fp32_model, warm), ours(fp32_model, warm)
    rows = []
    for r in range(args.repeats):
        idx = np.random.default_rng(r).choice(len(labels), args.patients, replace=False)
        prompts = [book.scoring_prompt(int(i)) for i in idx]
        t_study, parsed = timed(study, study_model, prompts)
        t_ours, p = timed(ours, fp32_model, prompts)
        t_study_fp32, _ = timed(study, fp32_model, prompts)
        t_plain, p_plain = timed(ours, fp32_model, prompts, False)
        rows.append({"study_s": t_study, "ours_s": t_ours, "study_fp32_s": t_study_fp32, "plain_s": t_plain,
                     "prefix_max_abs_diff": float(np.max(np.abs(p - p_plain))),
                     "parsed": sum(x is not None for x in parsed), "p": p, "prompts": prompts})
    check = rows[0]["prompts"][: args.check_patients]
    p_4bit = ours(study_model, check)
    matmul_errors = common.quantized_matmul_errors(study_model)
    n = args.patients

    def rate(key: str) -> float:
        return round(n / common.median([r[key] for r in rows]), 3)

    common.emit([{
        "name": "scoring: clinpred's batched label probabilities vs the study's mlx_lm.generate per patient (patients/s)",
        "ratio": round(common.median([r["study_s"] / r["ours_s"] for r in rows]), 3),
        "goal": 10.0,
        "details": {
            **info, "device_precision": resolve_precision("auto"),
            "patients_per_repeat": n, "repeats": args.repeats, "batch_size": args.batch,
            "generate_max_tokens": args.max_tokens,
            "ratios": [round(r["study_s"] / r["ours_s"], 3) for r in rows],
            "study_method_patients_per_s": rate("study_s"),
            "clinpred_patients_per_s": rate("ours_s"),
            "method_only_ratio_same_float32_weights": round(
                common.median([r["study_fp32_s"] / r["ours_s"] for r in rows]), 3),
            "study_method_on_float32_weights_patients_per_s": rate("study_fp32_s"),
            "clinpred_no_prefix_cache_patients_per_s": rate("plain_s"),
            "prefix_cache_max_abs_p_diff": max(r["prefix_max_abs_diff"] for r in rows),
            "same_model_check": {
                "patients": len(check),
                "max_abs_p_diff_4bit_vs_clinpred_float32": float(np.max(np.abs(p_4bit - rows[0]["p"][: len(check)]))),
                **matmul_errors,
            },
            "load_seconds": {"study_mlx_lm_load": round(t_load_study, 2), "clinpred_load_model": round(t_load_ours, 2)},
            "study_answers_parsed": [r["parsed"] for r in rows],
            "prompt_tokens": round(float(np.mean([len(encode(tok, book.scoring_prompt(i))) for i in range(50)])), 1),
            "how": ("study: mlx_lm.load(model as distributed, 4-bit) + one mlx_lm.generate per patient + the "
                    "family's parser; clinpred: load_model (precision policy) + score_p_yes, batch "
                    f"{args.batch}, shared-prefix cache; model loading not timed"),
        },
    }])


if __name__ == "__main__":
    main()
