"""How good is each model, measured where the truth is known: the Bayes ceiling of a large
fresh sample from the synthetic cohort's generator.

    python benchmarks/bench_quality.py [--quick] [--out DIR]

Every model trains on a study-sized synthetic cohort (577 patients, seed 1; 10% of it, stratified,
is the validation part for early stopping and the threshold) and is evaluated on a fresh sample
of the same generator (5,000 patients, seed 2), next to that sample's Bayes-optimal AUROC (the
AUROC of the true probabilities). CIs are a stratified bootstrap of the fresh sample, paired:
the model's gap to the ceiling is computed on the same resamples. Models: the four baselines,
the default LLM with its plugin's hyperparameters, and the default LLM with a nested search
(core/llm/search.py) on its training part. Then a learning curve: training sizes 32 ... 577
(stratified subsets of the training cohort), LLM vs LASSO vs gradient boosting.

The engine's own units do the work (run_baseline_unit, run_llm_unit, run_search), so this is
the quality of `clinpred run`, not of a re-implementation. Full size takes many hours on a
2-core CPU (SmolLM2-135M: ~3 s per LoRA step, ~2 patients/s scored); ``--quick`` is small:
200 fresh patients, 16 LoRA steps, a 2-trial search of 8 steps, LLM learning-curve sizes 64
and 577 only. Writes ``quality-<time>.json`` and ``quality-<time>.png`` into ``--out``
(default benchmarks/results/).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402

BASELINES = ("majority", "lasso", "random_forest", "gradient_boosting")
SIZES = (32, 64, 128, 256, 577)
GOAL = "tuned LLM within 0.03 AUROC of the Bayes ceiling at n = 577, and not below the best baseline's CI"


def _settings(quick: bool) -> dict[str, Any]:
    if quick:
        return {"n_train": 577, "n_eval": 200, "iters": 16, "trials": 2, "trial_iters": 8, "eval_every": 4,
                "llm_sizes": (64, 577), "resamples": 1000}
    return {"n_train": 577, "n_eval": 5000, "iters": None, "trials": 8, "trial_iters": None, "eval_every": None,
            "llm_sizes": SIZES, "resamples": 2000}


def build_data(n_train: int, n_eval: int) -> tuple[Any, np.ndarray, np.ndarray]:
    """One dataset: the training cohort (rows 0..n_train-1) then the fresh sample; their true probabilities."""
    import pandas as pd

    from clinpred.core.data.dataset import load_bytes
    from clinpred.core.data.schema import default_schema
    from clinpred.core.data.synthetic import ID_COLUMN, cohort_csv, generate_cohort

    train, p_train = generate_cohort(n=n_train, seed=1)
    fresh, p_fresh = generate_cohort(n=n_eval, seed=2)
    fresh[ID_COLUMN] = [f"F{i + 1:05d}" for i in range(n_eval)]
    frame = pd.concat([train, fresh], ignore_index=True)
    dataset = load_bytes(cohort_csv(frame), default_schema(), name="quality cohort",
                         source=f"synthetic: {n_train} training (seed 1) + {n_eval} fresh (seed 2)")
    truth = np.concatenate([p_train, p_fresh])
    dataset.true_probability = truth
    return dataset, np.arange(n_train), np.arange(n_train, n_train + n_eval)


def split_for(labels: np.ndarray, pool: np.ndarray, test: np.ndarray, size: int, seed: int) -> Any:
    """A stratified subset of ``size`` training-cohort patients: 90% training, 10% validation."""
    from sklearn.model_selection import train_test_split

    from clinpred.core.data.splits import Split

    chosen = pool if size >= len(pool) else train_test_split(pool, train_size=size, stratify=labels[pool],
                                                            random_state=seed)[0]
    n_val = max(4, int(round(0.1 * len(chosen))))
    train, val = train_test_split(chosen, test_size=n_val, stratify=labels[chosen], random_state=seed)
    return Split(f"n{size}", 0, 0, np.sort(train), np.sort(val), test)


def auroc_with_ceiling(labels: np.ndarray, p: np.ndarray, truth: np.ndarray, weights: np.ndarray) -> dict[str, Any]:
    """AUROC and gap to the Bayes ceiling (ceiling - model), each with a paired bootstrap 95% CI."""
    from clinpred.core.evaluation.metric_kernels import weighted_auroc

    one = np.ones((1, len(labels)))
    model, ceiling = float(weighted_auroc(labels, p, one)[0]), float(weighted_auroc(labels, truth, one)[0])
    boot_m, boot_c = weighted_auroc(labels, p, weights), weighted_auroc(labels, truth, weights)
    ci = lambda x: [float(np.quantile(x, 0.025)), float(np.quantile(x, 0.975))]  # noqa: E731
    return {"auroc": model, "auroc_ci": ci(boot_m), "gap": ceiling - model, "gap_ci": ci(boot_c - boot_m),
            "ceiling": ceiling, "ceiling_ci": ci(boot_c)}


class Bench:
    def __init__(self, quick: bool) -> None:
        from clinpred.core.run.config import EvaluationConfig, load_config
        from clinpred.core.run.plan import select_models
        from clinpred.registry.registry import load_registry

        self.s = _settings(quick)
        self.dataset, self.pool, self.test = build_data(self.s["n_train"], self.s["n_eval"])
        self.labels = self.dataset.labels
        self.truth = self.dataset.true_probability
        from clinpred.core.evaluation.metrics import bootstrap_weights

        self.weights = bootstrap_weights(self.labels[self.test], self.s["resamples"], seed=0)
        self.registry = load_registry()
        config = load_config()
        self.plan = select_models(config, self.registry)[0]
        self.search_cfg = config.search.for_model(self.plan.name)
        self.ev = EvaluationConfig(generate=False, store_prompts=False)
        self.model_dir = common.default_model_dir()
        self.records = self.dataset.records()

    def evaluate(self, p_test: np.ndarray) -> dict[str, Any]:
        return auroc_with_ceiling(self.labels[self.test], np.asarray(p_test, dtype=float), self.truth[self.test], self.weights)

    def baseline(self, name: str, split: Any) -> dict[str, Any]:
        from clinpred.core.data.splits import oversample_minority
        from clinpred.core.evaluation.baseline_unit import run_baseline_unit

        train = split.train if name == "majority" else oversample_minority(split.train, self.labels, 0)
        unit = run_baseline_unit(name, self.dataset, split, np.asarray(train), seed=0, threshold_method="youden",
                                 fixed_threshold=0.5, class_weight=None)
        return {**self.evaluate(unit["test"]["p"]), "seconds": round(unit["seconds"], 1)}

    def llm(self, split: Any, work: Path, *, search: bool) -> dict[str, Any]:
        from clinpred.core.data.splits import oversample_minority
        from clinpred.core.llm.llm_unit import PromptBook, run_llm_unit
        from clinpred.core.llm.search import run_search
        from clinpred.core.weights.loading import load_model

        import attrs

        start = time.perf_counter()
        hyper = dict(self.plan.hyperparameters)
        if self.s["iters"]:
            hyper["num_iters"] = self.s["iters"]
        if self.s["eval_every"]:
            hyper["eval_every"] = self.s["eval_every"]
        load = lambda: load_model(self.model_dir)  # noqa: E731
        task = self.dataset.schema.task
        emit = lambda e: print(f"    {e.message}", file=sys.stderr) if e.kind == "message" and e.message else None  # noqa: E731
        found = None
        if search:
            cfg = attrs.evolve(self.search_cfg, n_trials=self.s["trials"], enabled=True)
            trial_hyper = {**hyper, "num_iters": self.s["trial_iters"]} if self.s["trial_iters"] else hyper
            found = run_search(cfg=cfg, load=load, book=lambda tok: PromptBook(self.registry, self.plan.family, tok, task, self.records),
                               labels=self.labels, train_part=split.train, balance="oversample", hyper=trial_hyper,
                               seed=0, search_dir=work / "search", positive=task.positive, negative=task.negative,
                               emit=emit, unit=split.name)
            hyper.update(found["chosen"])
        train = np.asarray(oversample_minority(split.train, self.labels, 0))
        unit = run_llm_unit(name=self.plan.name, family=self.plan.family, hooks=self.registry, load=load,
                            dataset=self.dataset, records=self.records, split=split, train_idx=train,
                            sample_weights=None, hyper=hyper, explicit=self.plan.explicit, evaluation=self.ev,
                            adapter_dir=work / "adapter", seed=0, emit=emit, unit=split.name, resume=False)
        out = {**self.evaluate(unit["test"]["p"]), "seconds": round(time.perf_counter() - start, 1),
               "steps": unit["training"]["steps_done"], "best_step": unit["training"]["best_step"]}
        if found is not None:
            out["search"] = {"chosen": found["chosen"], "best_value": found["best_value"],
                             "trials": [(t["params"], t["state"], t["value"]) for t in found["trials"]]}
        return out


def _row(name: str, r: dict[str, Any]) -> str:
    return (f"{name:<24} AUROC {r['auroc']:.3f} [{r['auroc_ci'][0]:.3f}, {r['auroc_ci'][1]:.3f}]  "
            f"gap to ceiling {r['gap']:+.3f} [{r['gap_ci'][0]:+.3f}, {r['gap_ci'][1]:+.3f}]")


def plot(result: dict[str, Any], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for k, (name, points) in enumerate(result["learning_curve"].items()):
        sizes = sorted(int(s) for s in points)
        values = [points[str(s)]["auroc"] for s in sizes]
        lo = [points[str(s)]["auroc_ci"][0] for s in sizes]
        hi = [points[str(s)]["auroc_ci"][1] for s in sizes]
        ax.plot(sizes, values, marker="o", label=name, color=f"C{k}")
        ax.fill_between(sizes, lo, hi, alpha=0.15, color=f"C{k}")
    ax.axhline(result["ceiling"]["auroc"], color="black", linestyle="--", label="Bayes ceiling (fresh sample)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training patients")
    ax.set_ylabel("AUROC on the fresh sample")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (minutes, not hours)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    info = common.start()
    import tempfile

    wall = time.perf_counter()
    bench = Bench(args.quick)
    s = bench.s
    n_train = s["n_train"]
    full = split_for(bench.labels, bench.pool, bench.test, n_train, seed=0)
    models: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in BASELINES:
            models[name] = bench.baseline(name, full)
            print(_row(name, models[name]), flush=True)
        print(f"{bench.plan.name} (plugin defaults) ...", file=sys.stderr, flush=True)
        models["llm"] = bench.llm(full, Path(tmp) / "llm", search=False)
        print(_row("llm", models["llm"]), flush=True)
        print(f"{bench.plan.name} (nested search) ...", file=sys.stderr, flush=True)
        models["llm+search"] = bench.llm(full, Path(tmp) / "llm-search", search=True)
        print(_row("llm+search", models["llm+search"]), flush=True)
        curve: dict[str, dict[str, Any]] = {"lasso": {}, "gradient_boosting": {}, "llm": {}}
        for size in SIZES:
            split = full if size >= n_train else split_for(bench.labels, bench.pool, bench.test, size, seed=0)
            for name in ("lasso", "gradient_boosting"):
                curve[name][str(size)] = models[name] if size >= n_train else bench.baseline(name, split)
            if size in s["llm_sizes"]:
                curve["llm"][str(size)] = models["llm"] if size >= n_train else bench.llm(split, Path(tmp) / f"lc{size}", search=False)
    ceiling = {"auroc": models["lasso"]["ceiling"], "ci": models["lasso"]["ceiling_ci"]}
    best = max(BASELINES, key=lambda n: models[n]["auroc"])
    tuned = models["llm+search"]
    result = {
        "quick": args.quick, "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in s.items()},
        "model": bench.plan.name, "hyperparameters": bench.plan.hyperparameters, **info,
        "ceiling": ceiling, "models": models, "learning_curve": curve, "best_baseline": best,
        "goal": GOAL,
        "goal_met": bool(tuned["gap"] <= 0.03 and tuned["auroc"] >= models[best]["auroc_ci"][0]),
        "seconds": round(time.perf_counter() - wall, 1),
    }
    print(f"\nBayes ceiling of the fresh sample ({s['n_eval']} patients): {ceiling['auroc']:.3f} "
          f"[{ceiling['ci'][0]:.3f}, {ceiling['ci'][1]:.3f}]")
    print("learning curve (AUROC on the fresh sample):")
    for name, points in curve.items():
        print(f"  {name:<18} " + "  ".join(f"n={k}: {v['auroc']:.3f} [{v['auroc_ci'][0]:.3f}, {v['auroc_ci'][1]:.3f}]"
                                           for k, v in sorted(points.items(), key=lambda kv: int(kv[0]))))
    print(f"goal ({GOAL}): {'met' if result['goal_met'] else 'not met'}; best baseline {best}; "
          f"{result['seconds']:.0f} s")
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.out / f"quality-{stamp}.json").write_text(json.dumps(result, indent=2))
    plot(result, args.out / f"quality-{stamp}.png")
    print(f"wrote {args.out / f'quality-{stamp}.json'} and .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
