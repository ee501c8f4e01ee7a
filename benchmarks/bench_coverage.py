"""Coverage of clinpred's 95% cross-validation CIs on simulated cohorts whose truth is known.

    python benchmarks/bench_coverage.py --design lasso --cohorts 100 --seed 1 [--out FILE.jsonl] [--cache DIR]
    python benchmarks/bench_coverage.py --pool 'benchmarks/results/coverage-*.jsonl' [--markdown]

A run simulates ``--cohorts`` cohorts of one design (:mod:`coverage_designs`: ``one-feature`` or
``lasso``; n = 300, about 35% events), splits each by repeated stratified K-fold (``--folds 5
--repeats 2``), fits the design's models on every training part, and evaluates them with the
estimators of ``metrics.json`` (``cv_summarize``, ``cv_delong``; 1000 resamples). Each cohort is
one JSON line in ``--out`` (default ``benchmarks/results/coverage-DESIGN-SEED.jsonl``), written as
soon as it is done: a run that is stopped keeps its cohorts, and a rerun with the same file
continues after them. Cohort ``c`` of seed ``S`` is drawn from ``default_rng([S, c])``, so runs
over different seeds are independent and ``--pool`` adds them up: coverage (the share of cohorts
whose interval contains the truth) with its Wilson 95% interval, misses below / above, and the
mean width, as JSON rows ``{"name", "ratio", "goal", "details"}`` like every benchmark.

The truth of each interval is the quantity the estimator estimates, conditional on the fitted
models (LeDell et al. 2015's target for the cross-validated AUROC): model ``a``'s AUROC = the mean
over the folds of each fold model's population AUROC; calibration intercept, slope and Brier = the
population values of the repeat's fold models stacked, averaged over repeats; the difference =
the mean over folds of the two models' population AUROC difference. Population values come from
100,000 patients with their true risks (in the one-feature design AUROC(a) is exact and the
difference 0). The stratified bootstrap of the calibration intercept that clinpred used before
issue 24 is measured alongside (``calibration-intercept-stratified-bootstrap``).

What it does not cover: LLMs (no model is fine-tuned; an LLM's fold scores are just other scores to
these estimators), hold-out runs (one test part: the stratified / patient bootstrap of the test
predictions), group-level (clustered) bootstraps, other sample sizes, event rates and fold counts,
and the calibration of risks far from the fitted population; a coverage of 0.95 says the interval
has the right width for this design, not for every data set.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import coverage_designs as designs  # noqa: E402

N, FOLDS, REPEATS, RESAMPLES = 300, 5, 2, 1000
INTERVALS = {
    "auroc-cluster-bootstrap": "AUROC, patient-level cluster bootstrap (metrics.json auroc.ci)",
    "auroc-influence-curve": "AUROC, cvAUC influence curve (auroc.ci_influence_curve)",
    "auroc-difference-bootstrap": "AUROC difference a - b, cluster bootstrap (delong_vs_best_baseline.ci)",
    "auroc-difference-delong": "AUROC difference, DeLong per fold: difference +- 1.96 SE",
    "calibration-intercept": "calibration intercept, unstratified patient bootstrap (now)",
    "calibration-intercept-stratified-bootstrap": "calibration intercept, bootstrap stratified by outcome (before)",
    "calibration-slope": "calibration slope, unstratified patient bootstrap",
    "brier": "Brier score, unstratified patient bootstrap",
}


def _bounds(entry: dict) -> tuple[float, float] | None:
    lo, hi = (entry.get("ci") or [None, None])[:2]
    open_end = entry.get("ci_unbounded")
    lo = -math.inf if open_end in ("lower", "both") else lo
    hi = math.inf if open_end in ("upper", "both") else hi
    return None if lo is None or hi is None else (float(lo), float(hi))


def draw_cohort(design, seed: int, cohort: int) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Cohort ``cohort`` of ``seed``: ``(X, y, [(train, test), ...])``, the repeated stratified K-fold
    splits in order (repeat-major), the same on every call."""
    from sklearn.model_selection import RepeatedStratifiedKFold

    rng = np.random.default_rng([seed, cohort])
    X, _, y = design.draw(rng, N)
    splitter = RepeatedStratifiedKFold(n_splits=FOLDS, n_repeats=REPEATS, random_state=int(rng.integers(2**31)))
    return X, y, list(splitter.split(X, y))


def simulate(design, population: tuple[np.ndarray, np.ndarray], seed: int, cohort: int) -> dict:
    """One cohort: labels, every model's fold predictions and the truths (the slow part: fits and the
    population values), as arrays that :func:`evaluate` turns into intervals."""
    X, y, splits = draw_cohort(design, seed, cohort)
    tests, preds = [], {}
    fitted: dict[str, list[list]] = {}
    for k, (train, test) in enumerate(splits):
        tests.append(test)
        for name, model in design.fit(X[train], y[train], seed=k).items():
            preds.setdefault(name, []).append(model(X[test]))
            fitted.setdefault(name, [[] for _ in range(REPEATS)])[k // FOLDS].append(model)
    pop_X, pop_risk = population
    truth = designs.truths(pop_risk, pop_X, fitted["a"])
    a, b = design.comparison
    if isinstance(design, designs.OneFeature):
        truth["auroc"], truth["difference"] = design.true_auc_a(), 0.0
    else:
        truth["difference"] = float(np.mean([designs.auroc_population(pop_risk, ma(pop_X)) -
                                             designs.auroc_population(pop_risk, mb(pop_X))
                                             for ra, rb in zip(fitted[a], fitted[b]) for ma, mb in zip(ra, rb)]))
    return {"y": y, "tests": tests, "preds": preds, "truth": truth}


def cached_simulation(design, population, seed: int, cohort: int, cache: Path | None) -> dict:
    """:func:`simulate`, read from / written to ``cache`` (an ``.npz`` per cohort) when given, so the
    intervals of the same cohorts can be recomputed after a change to clinpred's estimators."""
    path = None if cache is None else cache / f"{design.name}-{seed}-{cohort}.npz"
    if path is not None and path.exists():
        with np.load(path) as z:
            names = json.loads(str(z["names"]))
            return {"y": z["y"], "tests": [z[f"test{k}"] for k in range(FOLDS * REPEATS)],
                    "preds": {m: [z[f"{m}{k}"] for k in range(FOLDS * REPEATS)] for m in names},
                    "truth": json.loads(str(z["truth"]))}
    data = simulate(design, population, seed, cohort)
    if path is not None:
        arrays = {"y": data["y"], "names": json.dumps(sorted(data["preds"])), "truth": json.dumps(data["truth"]),
                  **{f"test{k}": t for k, t in enumerate(data["tests"])},
                  **{f"{m}{k}": p for m, ps in data["preds"].items() for k, p in enumerate(ps)}}
        cache.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **arrays)
    return data


def evaluate(design, data: dict, cohort: int) -> tuple[dict, float]:
    """The intervals of ``metrics.json`` for one simulated cohort: ``({name: (ci, truth, estimate)}, DeLong p)``."""
    from clinpred.core.evaluation.cv_compare import cv_delong
    from clinpred.core.evaluation.cv_estimate import Fold, _by_repeat, _statistics, cv_summarize
    from clinpred.core.evaluation.intervals import percentile_interval
    from clinpred.core.evaluation.resampling import cluster_weights

    y, truth = data["y"], data["truth"]
    folds = {m: [Fold(k // FOLDS, t, p, 0.5) for k, (t, p) in enumerate(zip(data["tests"], ps))]
             for m, ps in data["preds"].items()}
    a, b = design.comparison
    res = cv_summarize(y, folds["a"], n_resamples=RESAMPLES, seed=cohort)
    cmp = cv_delong(y, folds[a], folds[b], n_resamples=RESAMPLES, seed=cohort)
    old = _statistics(y.astype(float), _by_repeat(folds["a"]),
                      cluster_weights(y, None, RESAMPLES, cohort, stratified=True), None, ("calibration_intercept",))
    old_lo, old_hi, _ = percentile_interval(old["calibration_intercept"])
    z = 1.959963984540054
    rows = {
        "auroc-cluster-bootstrap": (_bounds(res["auroc"]), truth["auroc"], res["auroc"]["value"]),
        "auroc-influence-curve": (tuple(res["auroc"]["ci_influence_curve"]), truth["auroc"], res["auroc"]["value"]),
        "auroc-difference-bootstrap": (_bounds(cmp), truth["difference"], cmp["auroc_difference"]),
        "auroc-difference-delong": ((cmp["auroc_difference"] - z * cmp["se"], cmp["auroc_difference"] + z * cmp["se"]),
                                    truth["difference"], cmp["auroc_difference"]),
        "calibration-intercept": (_bounds(res["calibration_intercept"]), truth["calibration_intercept"],
                                  res["calibration_intercept"]["value"]),
        "calibration-intercept-stratified-bootstrap": ((old_lo, old_hi), truth["calibration_intercept"],
                                                       res["calibration_intercept"]["value"]),
        "calibration-slope": (_bounds(res["calibration_slope"]), truth["calibration_slope"], res["calibration_slope"]["value"]),
        "brier": (_bounds(res["brier"]), truth["brier"], res["brier"]["value"]),
    }
    return rows, cmp["p_value"]


def one_cohort(design, population: tuple[np.ndarray, np.ndarray], seed: int, cohort: int,
               cache: Path | None = None) -> dict:
    start = time.process_time()
    rows, p_value = evaluate(design, cached_simulation(design, population, seed, cohort, cache), cohort)
    return {"design": design.name, "seed": seed, "cohort": cohort, "delong_p": p_value,
            "seconds": round(time.process_time() - start, 2),
            "ci": {k: {"ci": None if ci is None or any(v is None or (isinstance(v, float) and math.isnan(v)) for v in ci)
                       else [float(ci[0]), float(ci[1])], "truth": t, "estimate": e}
                   for k, (ci, t, e) in rows.items()}}


def run(args: argparse.Namespace) -> None:
    design = designs.DESIGNS[args.design]()
    out = Path(args.out or Path(__file__).resolve().parent / "results" / f"coverage-{args.design}-{args.seed}.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {json.loads(line)["cohort"] for line in out.read_text().splitlines() if line.strip()} if out.exists() else set()
    pop_X, pop_risk, _ = design.draw(np.random.default_rng([20240, 0]), designs.POPULATION)  # the same for every run
    with out.open("a") as fh:
        for c in range(args.cohorts):
            if c in done:
                continue
            record = one_cohort(design, (pop_X, pop_risk), args.seed, c, Path(args.cache) if args.cache else None)
            fh.write(json.dumps(record, allow_nan=True) + "\n")
            fh.flush()
    print(f"{out}: {args.cohorts} cohorts of design {args.design}, seed {args.seed}", file=sys.stderr)


def pool(pattern: str, markdown: bool) -> None:
    from clinpred.core.evaluation.intervals import wilson_interval

    records = [json.loads(line) for path in sorted(glob.glob(pattern)) for line in Path(path).read_text().splitlines()
               if line.strip()]
    rows = []
    for design in sorted({r["design"] for r in records}):
        mine = [r for r in records if r["design"] == design]
        seeds = sorted({r["seed"] for r in mine})
        for name, what in INTERVALS.items():
            cells = [r["ci"][name] for r in mine if name in r["ci"]]
            k = len(cells)
            hit = below = above = none = 0
            widths = []
            for cell in cells:
                if cell["ci"] is None or cell["truth"] is None:
                    none += 1
                    continue
                lo, hi = cell["ci"]
                truth = cell["truth"]
                hit += lo <= truth <= hi
                below += truth < lo  # the interval lies above the truth
                above += truth > hi
                if math.isfinite(lo) and math.isfinite(hi):
                    widths.append(hi - lo)
            wl, wh = wilson_interval(hit, k)
            rows.append({"name": f"coverage-{design}-{name}", "ratio": hit / k if k else None,
                         "goal": "about 0.95 (Wilson interval containing 0.95)",
                         "details": {"what": what, "design": design, "cohorts": k, "seeds": seeds, "covered": hit,
                                     "wilson_95": [round(wl, 3), round(wh, 3)], "truth_below_interval": below,
                                     "truth_above_interval": above, "no_interval": none,
                                     "mean_width": round(float(np.mean(widths)), 4) if widths else None}})
        p = [r["delong_p"] for r in mine if r.get("delong_p") is not None]
        if design == "one-feature" and p:
            rejected = sum(v < 0.05 for v in p)
            wl, wh = wilson_interval(rejected, len(p))
            rows.append({"name": f"type1-{design}-delong", "ratio": rejected / len(p), "goal": "at most about 0.05",
                         "details": {"what": "DeLong p < 0.05 for two equally good models (type I error)",
                                     "design": design, "cohorts": len(p),
                                     "wilson_95": [round(wl, 3), round(wh, 3)]}})
    print(json.dumps(rows, indent=1))
    if markdown:
        print("\n| design | CI | cohorts | coverage [Wilson 95%] | truth below / above | mean width |")
        print("| --- | --- | --- | --- | --- | --- |")
        for r in rows:
            d = r["details"]
            cov = f"{r['ratio']:.3f} [{d['wilson_95'][0]:.3f}, {d['wilson_95'][1]:.3f}]"
            side = f"{d.get('truth_below_interval', '-')} / {d.get('truth_above_interval', '-')}"
            print(f"| {d['design']} | {d['what']} | {d['cohorts']} | {cov} | {side} | "
                  f"{d.get('mean_width', '-')} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--design", choices=sorted(designs.DESIGNS), default="one-feature")
    parser.add_argument("--cohorts", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", help="JSON-lines file of this run's cohorts (appended to, resumable)")
    parser.add_argument("--cache", help="folder of simulated cohorts (.npz): reused when present, so a rerun after "
                        "a change to the estimators recomputes only the intervals")
    parser.add_argument("--pool", metavar="GLOB", help="pool the cohorts of these files instead of simulating")
    parser.add_argument("--markdown", action="store_true", help="with --pool: also print a markdown table")
    args = parser.parse_args()
    if args.pool:
        pool(args.pool, args.markdown)
    else:
        run(args)


if __name__ == "__main__":
    main()
