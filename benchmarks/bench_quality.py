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

The engine's own units do the work: the plans come from the same assembly as `clinpred run`
(core/run/assemble.py) and every model, baseline or LLM, runs through its model adapter
(core/run/unit_work.py; the search through core/llm/search.py), so this is the quality of
`clinpred run`, not of a re-implementation. Full size takes many hours on a
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

SIZES = (32, 64, 128, 256, 577)
#: the baselines of the learning curve (the run's default baselines; whichever of these it has)
CURVE_BASELINES = ("lasso", "gradient_boosting")
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
        from clinpred.core.run.assemble import RunChoices, build_request
        from clinpred.core.run.config import load_config
        from clinpred.registry.registry import load_registry

        self.s = _settings(quick)
        self.dataset, self.pool, self.test = build_data(self.s["n_train"], self.s["n_eval"])
        self.labels = self.dataset.labels
        self.truth = self.dataset.true_probability
        from clinpred.core.evaluation.metrics import bootstrap_weights

        self.weights = bootstrap_weights(self.labels[self.test], self.s["resamples"], seed=0)
        self.registry = load_registry()
        config = load_config(models=self.registry)
        # the default run's models, as `clinpred run --no-generate` plans them
        request = build_request(RunChoices(generate=False, store_prompts=False, iters=self.s["iters"]), self.registry, config)
        self.ev = request.evaluation
        self.baselines = [p for p in request.plans if not p.uses_llm]
        self.plan = next(p for p in request.plans if p.uses_llm)
        if self.s["eval_every"]:
            self.plan = with_hyper(self.plan, self.registry, eval_every=self.s["eval_every"])
        self.search_cfg = config.search.for_model(self.plan.name)

    def evaluate(self, p_test: np.ndarray) -> dict[str, Any]:
        return auroc_with_ceiling(self.labels[self.test], np.asarray(p_test, dtype=float), self.truth[self.test], self.weights)

    def unit(self, plan: Any, split: Any, work: Path, search: dict[str, Any] | None = None) -> Any:
        """One model on ``split`` through its adapter, as a run does it (seed 0)."""
        from clinpred.core.run.unit_work import WorkContext, execute_unit
        from clinpred.core.run.units import UnitSpec

        emit = lambda e: print(f"    {e.message}", file=sys.stderr) if e.kind == "message" and e.message else None  # noqa: E731
        spec = UnitSpec(plan, split, 0, 0, "bench", self.ev, search=search)
        result = execute_unit(spec, WorkContext(self.dataset, self.registry, adapter_root=work), emit)
        if not result.ok:
            raise SystemExit(f"{plan.name}: {result.error}")
        return result.outcome

    def baseline(self, plan: Any, split: Any, work: Path) -> dict[str, Any]:
        outcome = self.unit(plan, split, work)
        return {**self.evaluate(outcome.test.p), "seconds": round(outcome.seconds, 1)}

    def llm(self, split: Any, work: Path, *, search: bool) -> dict[str, Any]:
        from clinpred.core.llm.llm_unit import PromptBook
        from clinpred.core.llm.search import run_search
        from clinpred.core.models.work import LLMSource

        import attrs

        start = time.perf_counter()
        plan, task = self.plan, self.dataset.schema.task
        source = LLMSource(plan.model_id, plan.family, self.registry, catalog=plan.catalog)
        found = None
        if search:
            cfg = attrs.evolve(self.search_cfg, n_trials=self.s["trials"], enabled=True)
            hyper = dict(plan.hyperparameters)
            trial_hyper = {**hyper, "num_iters": self.s["trial_iters"]} if self.s["trial_iters"] else hyper
            records = self.dataset.records()
            emit = lambda e: print(f"    {e.message}", file=sys.stderr) if e.kind == "message" and e.message else None  # noqa: E731
            found = run_search(cfg=cfg, load=lambda: source.load(precision=plan.params.precision),
                               book=lambda tok: PromptBook(self.registry, plan.family, tok, task, records),
                               labels=self.labels, train_part=split.train, balance=self.ev.balance, hyper=trial_hyper,
                               seed=0, search_dir=work / "search", positive=task.positive, negative=task.negative,
                               emit=emit, unit=split.name)
        outcome = self.unit(plan, split, work / "unit", search=found)
        training = outcome.detail("training")
        out = {**self.evaluate(outcome.test.p), "seconds": round(time.perf_counter() - start, 1),
               "steps": training.get("steps_done"), "best_step": training.get("best_step")}
        if found is not None:
            out["search"] = {"chosen": found["chosen"], "best_value": found["best_value"],
                             "trials": [(t["params"], t["state"], t["value"]) for t in found["trials"]]}
        return out


def with_hyper(plan: Any, registry: Any, **changes: Any) -> Any:
    """``plan`` with some hyperparameters changed (validated by its adapter's declaration)."""
    import attrs

    from clinpred.core.params import build_params

    hyper = {**plan.hyperparameters, **changes}
    params = build_params(registry.model_adapter(plan.adapter).params, hyper, f"model {plan.name!r}")
    return attrs.evolve(plan, hyperparameters=hyper, params=params, explicit=plan.explicit | frozenset(changes))


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
    names = [p.name for p in bench.baselines]
    by_name = {p.name: p for p in bench.baselines}
    with tempfile.TemporaryDirectory() as tmp:
        for plan in bench.baselines:
            models[plan.name] = bench.baseline(plan, full, Path(tmp) / "baselines")
            print(_row(plan.name, models[plan.name]), flush=True)
        print(f"{bench.plan.name} (plugin defaults) ...", file=sys.stderr, flush=True)
        models["llm"] = bench.llm(full, Path(tmp) / "llm", search=False)
        print(_row("llm", models["llm"]), flush=True)
        print(f"{bench.plan.name} (nested search) ...", file=sys.stderr, flush=True)
        models["llm+search"] = bench.llm(full, Path(tmp) / "llm-search", search=True)
        print(_row("llm+search", models["llm+search"]), flush=True)
        curve_models = [n for n in CURVE_BASELINES if n in by_name]
        curve: dict[str, dict[str, Any]] = {**{n: {} for n in curve_models}, "llm": {}}
        for size in SIZES:
            split = full if size >= n_train else split_for(bench.labels, bench.pool, bench.test, size, seed=0)
            for name in curve_models:
                curve[name][str(size)] = models[name] if size >= n_train else bench.baseline(
                    by_name[name], split, Path(tmp) / f"lc{size}")
            if size in s["llm_sizes"]:
                curve["llm"][str(size)] = models["llm"] if size >= n_train else bench.llm(split, Path(tmp) / f"lc{size}", search=False)
    ceiling = {"auroc": models[names[0]]["ceiling"], "ci": models[names[0]]["ceiling_ci"]}
    best = max(names, key=lambda n: models[n]["auroc"])
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
