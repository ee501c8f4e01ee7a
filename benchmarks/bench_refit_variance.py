"""Can a variance that refits bring the CV AUROC interval of a refitted model to 95%? (issue 24)

    python benchmarks/bench_refit_variance.py --estimator nested --design lasso --seed 1 --cohorts 150 --cache cov-cache
    python benchmarks/bench_refit_variance.py --pool 'benchmarks/results/refit-variance-*.jsonl' \\
        --coverage 'benchmarks/results/coverage-*.jsonl'

``bench_coverage.py`` finds that clinpred's intervals, which hold the fitted fold models fixed,
cover 0.93-0.94 where LASSO is refitted per fold: each fold's model learned from the other folds'
test patients, so the fold errors are dependent (Bates, Hastie & Tibshirani, JASA 2023). This
script measures two candidate estimators that see the refitting, on the same cohorts (the
``--cache`` of ``bench_coverage.py``: the same draws, splits and fold predictions), at the cost of
extra fits of the model of interest (model ``a`` of the design):

- ``nested``: nested CV on the run's own splits (the estimator of Bates et al., with as many
  repetitions as the run has): per outer split, a stratified (K - 1)-fold CV of the model on its
  training part gives ``inner``; the outer fold's AUROC ``outer`` is an independent estimate of the
  outer model's AUROC with variance ``v`` (DeLong, unbiased placements). ``MSE = mean (inner -
  outer)^2 - mean v`` over the splits, ``SE = sqrt(max(MSE, 0) (K - 1) / K)``. K(K - 1) R extra fits.
- ``jackknife``: a grouped jackknife (``--groups G`` stratified random groups) of the whole
  cross-validated estimate, each group left out of training *and* testing, the models refitted
  (``refit``) or held fixed (``fixed``); ``var = (G - 1) / G sum (theta_(-g) - mean)^2``, for the
  AUROC and the AUROC difference a - b. G K R extra fits.

Each cohort is one JSON line (``refit-variance-ESTIMATOR-DESIGN-SEED.jsonl`` in
``benchmarks/results`` unless ``--out``), resumable like ``bench_coverage.py``. ``--pool`` joins them
with the ``bench_coverage.py`` records of the same cohorts (``--coverage``) and prints the coverage
(Wilson 95%) and mean width of the current interval and of the candidates, against the same truth
(the fold models' population AUROC).
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import coverage_designs as designs  # noqa: E402
from bench_coverage import FOLDS, cached_simulation, draw_cohort  # noqa: E402

Z = 1.959963984540054


def delong_variance(y: np.ndarray, s: np.ndarray) -> float:
    """The variance of the AUROC of ``s`` on these patients: DeLong's, placements with n - 1."""
    pos, neg = s[y == 1], s[y == 0]
    v10 = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean(1)
    v01 = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean(0)
    return float(v10.var(ddof=1) / pos.size + v01.var(ddof=1) / neg.size)


def nested(design, X: np.ndarray, y: np.ndarray, splits: list, preds: list[np.ndarray]) -> dict:
    """The nested-CV terms of every outer split and the resulting standard error."""
    from sklearn.model_selection import StratifiedKFold

    inner, outer, v = [], [], []
    for k, ((train, test), p) in enumerate(zip(splits, preds)):
        Xt, yt = X[train], y[train]
        aucs = []
        for j, (itr, ite) in enumerate(StratifiedKFold(FOLDS - 1, shuffle=True, random_state=1000 + k).split(Xt, yt)):
            model = design.fit(Xt[itr], yt[itr], seed=100 * k + j)["a"]
            aucs.append(designs._auc(yt[ite], model(Xt[ite])))
        inner.append(float(np.mean(aucs)))
        outer.append(designs._auc(y[test], p))
        v.append(delong_variance(y[test], p))
    mse = float(np.mean((np.array(inner) - np.array(outer)) ** 2) - np.mean(v))
    return {"inner": inner, "outer": outer, "v": v, "mse": mse,
            "se": float(np.sqrt(max(mse, 0.0) * (FOLDS - 1) / FOLDS))}


def jackknife(design, X: np.ndarray, y: np.ndarray, splits: list, seed: int, cohort: int, groups: int) -> dict:
    """Grouped-jackknife variances of the cross-validated AUROC of ``a`` and of ``a - b``, refitted and fixed."""
    a, b = design.comparison
    fits = [design.fit(X[train], y[train], seed=k) for k, (train, _) in enumerate(splits)]
    group = np.empty(y.size, dtype=int)
    rng = np.random.default_rng([seed, cohort, 77])
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        group[idx] = np.arange(idx.size) % groups

    def estimate(keep: np.ndarray, refit: bool) -> tuple[float, float]:
        va, vd = [], []
        for k, (train, test) in enumerate(splits):
            tr, te = train[keep[train]], test[keep[test]]
            models = design.fit(X[tr], y[tr], seed=k) if refit else fits[k]
            sa, sb = designs._auc(y[te], models[a](X[te])), designs._auc(y[te], models[b](X[te]))
            va.append(sa)
            vd.append(sa - sb)
        return float(np.mean(va)), float(np.mean(vd))

    def variance(values: list[tuple[float, float]]) -> list[float]:
        v = np.array(values)
        return [float(x) for x in (groups - 1) / groups * ((v - v.mean(0)) ** 2).sum(0)]

    out = {}
    for name, refit in (("refit", True), ("fixed", False)):
        out[name] = variance([estimate(group != g, refit) for g in range(groups)])  # [auroc, difference]
    return out


def run(args: argparse.Namespace) -> None:
    design = designs.DESIGNS[args.design]()
    cache = Path(args.cache)
    out = Path(args.out or Path(__file__).resolve().parent / "results" /
               f"refit-variance-{args.estimator}-{args.design}-{args.seed}.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {r["cohort"] for r in _rows(str(out)) if r["estimator"] == args.estimator and r["seed"] == args.seed}
    with out.open("a") as fh:
        for c in range(args.cohorts):
            if c in done:
                continue
            if not (cache / f"{design.name}-{args.seed}-{c}.npz").exists():
                sys.exit(f"{cache}: cohort {c} of seed {args.seed} is not cached; run bench_coverage.py --cache first")
            start = time.process_time()
            data = cached_simulation(design, None, args.seed, c, cache)
            X, y, splits = draw_cohort(design, args.seed, c)
            if not (np.array_equal(y, data["y"]) and all(np.array_equal(t, s[1]) for t, s in zip(data["tests"], splits))):
                sys.exit(f"{cache}: cohort {c} of seed {args.seed} does not match its draw (another version of the design?)")
            record = {"design": design.name, "seed": args.seed, "cohort": c, "estimator": args.estimator}
            if args.estimator == "nested":
                record["nested"] = nested(design, X, y, splits, data["preds"]["a"])
            else:
                record["jackknife"] = jackknife(design, X, y, splits, args.seed, c, args.groups)
            record["seconds"] = round(time.process_time() - start, 2)
            fh.write(json.dumps(record) + "\n")
            fh.flush()
    print(f"{out}: {args.cohorts} cohorts", file=sys.stderr)


def _rows(pattern: str) -> list[dict]:
    return [json.loads(line) for path in sorted(glob.glob(pattern)) for line in Path(path).read_text().splitlines()
            if line.strip()]


def pool(pattern: str, coverage: str) -> None:
    """Coverage of the current interval and of the candidates on the cohorts measured by both scripts."""
    from clinpred.core.evaluation.intervals import wilson_interval

    current = {(r["design"], r["seed"], r["cohort"]): r["ci"] for r in _rows(coverage)}
    merged: dict[tuple, dict] = {}  # one record per cohort, with the estimators measured on it
    for r in _rows(pattern):
        key = (r["design"], r["seed"], r["cohort"])
        if key in current:
            merged.setdefault(key, {}).update(r)
    results = [(r, current[key]) for key, r in merged.items()]
    cells: dict[tuple[str, str, str], list[tuple[bool, float]]] = {}

    def add(r: dict, what: str, name: str, lo: float, hi: float, truth: float) -> None:
        cells.setdefault((r["design"], what, name), []).append((lo <= truth <= hi, hi - lo))

    for r, ci in results:
        for what, key, col in (("AUROC", "auroc-cluster-bootstrap", 0), ("AUROC difference", "auroc-difference-bootstrap", 1)):
            lo, hi = ci[key]["ci"]
            est, truth = ci[key]["estimate"], ci[key]["truth"]
            add(r, what, "current (bootstrap widened to the larger SE)", lo, hi, truth)
            if "nested" in r and col == 0:
                half = Z * r["nested"]["se"]
                add(r, what, "nested CV SE alone", est - half, est + half, truth)
                add(r, what, "current, widened to the nested CV SE", min(lo, est - half), max(hi, est + half), truth)
            if "jackknife" in r:
                refit, fixed = r["jackknife"]["refit"][col], r["jackknife"]["fixed"][col]
                half = Z * np.sqrt(refit)
                add(r, what, "jackknife with refits alone", est - half, est + half, truth)
                f = np.sqrt(max(refit / fixed, 1.0)) if fixed > 0 else 1.0
                add(r, what, "current x sqrt(jackknife refit / fixed)", est - (est - lo) * f, est + (hi - est) * f, truth)
    for design in sorted({r["design"] for r, _ in results}):
        mine = [(r, ci) for r, ci in results if r["design"] == design]
        errors = [ci["auroc-cluster-bootstrap"]["estimate"] - ci["auroc-cluster-bootstrap"]["truth"] for _, ci in mine]
        print(f"{design}: SD of the AUROC's error (estimate - truth) over {len(errors)} cohorts {np.std(errors):.4f}")
        nested_runs = [r["nested"] for r, _ in mine if "nested" in r]
        if nested_runs:
            print(f"{design}: nested MSE estimate < 0 (SE 0) in {np.mean([n['mse'] < 0 for n in nested_runs]):.1%} of "
                  f"{len(nested_runs)} cohorts; RMS SE {np.sqrt(np.mean([n['se'] ** 2 for n in nested_runs])):.4f}")
        jk = [r["jackknife"] for r, _ in mine if "jackknife" in r]
        if jk:
            refit, fixed = np.array([j["refit"] for j in jk]), np.array([j["fixed"] for j in jk])
            print(f"{design}: jackknife variance refitted / fixed, pooled over {len(jk)} cohorts: AUROC "
                  f"{refit[:, 0].sum() / fixed[:, 0].sum():.2f}, difference {refit[:, 1].sum() / fixed[:, 1].sum():.2f}; "
                  f"RMS jackknife SE (refitted) {np.sqrt(refit[:, 0].mean()):.4f}")
    print()
    print("| design | CI | cohorts | coverage [Wilson 95%] | mean width |")
    print("| --- | --- | --- | --- | --- |")
    for (design, what, name), v in cells.items():
        hit = sum(h for h, _ in v)
        wl, wh = wilson_interval(hit, len(v))
        print(f"| {design} | {what}: {name} | {len(v)} | {hit / len(v):.3f} [{wl:.3f}, {wh:.3f}] | "
              f"{np.mean([w for _, w in v]):.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimator", choices=("nested", "jackknife"), default="nested")
    parser.add_argument("--design", choices=sorted(designs.DESIGNS), default="lasso")
    parser.add_argument("--cohorts", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--groups", type=int, default=10, help="jackknife groups")
    parser.add_argument("--cache", default="cov-cache", help="the --cache folder of bench_coverage.py")
    parser.add_argument("--out", help="JSON-lines file of this run's cohorts (appended to, resumable)")
    parser.add_argument("--pool", metavar="GLOB", help="pool these files instead of computing")
    parser.add_argument("--coverage", metavar="GLOB", default=str(Path(__file__).resolve().parent / "results" /
                                                                    "coverage-*.jsonl"),
                        help="with --pool: the bench_coverage.py records of the same cohorts")
    args = parser.parse_args()
    if args.pool:
        pool(args.pool, args.coverage)
    else:
        run(args)


if __name__ == "__main__":
    main()
