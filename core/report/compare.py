"""``clinpred compare``: one table of the models of several finished runs (model x run), read from their
run directories only (run.json, metrics.json): AUROC and calibration with CIs, n, events, protocol,
seed and the data's sha256, with one sentence saying whether every run used the same data."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from clinpred.core.errors import DataError
from clinpred.core.report.model_table import ordered_models
from clinpred.core.report.tables import Column, DataTable
from clinpred.core.run.rundir import read_metrics, read_run_info


def protocol_label(ev: dict[str, Any]) -> str:
    """``holdout``, ``cv 5x2`` (folds x repeats) or ``internal-external``."""
    protocol = ev.get("protocol") or "holdout"
    if protocol == "cv":
        return f"cv {ev.get('cv_folds', '?')}x{ev.get('cv_repeats', 1)}"
    return str(protocol)


def _read_run(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(run.json, metrics.json) of a finished run; anything else is one DataError line."""
    if not path.is_dir():
        raise DataError(f"{path}: not a directory; give run directories written by `clinpred run`")
    run_info = read_run_info(path)
    if run_info is None:
        raise DataError(f"{path}: not a run directory (no run.json); give run directories written by `clinpred run`")
    from clinpred.core.report.unfinished import refuse_unfinished

    refuse_unfinished(path, "compare")
    metrics = read_metrics(path)
    if metrics is None:
        raise DataError(f"{path}: no metrics.json; finish the run with `clinpred run ... --out {path} --resume`")
    return run_info, metrics


def _short(row: dict[str, Any]) -> str:
    sha = row.get("data_sha256")
    return sha[:12] if isinstance(sha, str) else "-"


def _data_note(runs: list[tuple[str, dict[str, Any]]]) -> str:
    groups: dict[str, list[str]] = {}
    for label, info in runs:
        sha = str((info.get("dataset") or {}).get("sha256") or "unknown")
        groups.setdefault(sha, []).append(label)
    if len(groups) == 1:
        sha, labels = next(iter(groups.items()))
        n = (runs[0][1].get("dataset") or {}).get("n", "?")
        what = "The run used" if len(runs) == 1 else f"All {len(runs)} runs used the same data:"
        return f"{what} sha256 {sha[:12]}, {n} patients."
    parts = "; ".join(f"{sha[:12]} in {', '.join(labels)}" for sha, labels in groups.items())
    return (f"The runs used different data (sha256 {parts}): their numbers come from different patients "
            "and are not a paired comparison.")


def compare_runs(run_dirs: Sequence[str | Path]) -> DataTable:
    """The completed models of every run: models in the order of the first run that has them (best AUROC
    first), each model's rows in the order the runs were given."""
    seen: set[Path] = set()
    runs: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for given in run_dirs:
        path = Path(given)
        key = path.resolve()
        if key in seen:
            raise DataError(f"{given}: given twice; name each run directory once")
        seen.add(key)
        run_info, metrics = _read_run(path)
        runs.append((str(given), run_info, metrics))
    rows: list[dict[str, Any]] = []
    unfinished: list[str] = []
    for label, info, metrics in runs:
        data = info.get("dataset") or {}
        common = {"run": label, "protocol": protocol_label(info.get("evaluation") or {}), "seed": info.get("seed"),
                  "data_sha256": data.get("sha256")}
        for name, m in ordered_models(metrics):
            if m.get("status") != "done":
                unfinished.append(f"{name} in {label} ({m.get('status', 'not done')})")
                continue
            values = m.get("metrics") or {}
            rows.append({**common, "model": name, "kind": m.get("kind"), "n": m.get("n"), "events": m.get("events"),
                         **{k: _estimate(values.get(k)) for k in ("auroc", "calibration_slope",
                                                                  "calibration_intercept", "brier")}})
    order = list(dict.fromkeys(row["model"] for row in rows))  # model x run: a model's runs side by side
    rows.sort(key=lambda row: order.index(row["model"]))  # stable: runs keep the order given
    notes = [_data_note([(label, info) for label, info, _ in runs])]
    if unfinished:
        notes.append("Not in the table (did not complete): " + "; ".join(unfinished) + ".")
    columns = [
        Column("model", "model"), Column("run", "run"), Column("kind", "kind"),
        Column("auroc", "AUROC [95% CI]", "estimate"),
        Column("calibration_slope", "calibration slope", "estimate", 2),
        Column("calibration_intercept", "calibration intercept", "estimate", 2),
        Column("brier", "Brier", "estimate"),
        Column("n", "n", "int"), Column("events", "events", "int"), Column("protocol", "protocol"),
        Column("seed", "seed", "int"), Column("data_sha256", "data sha256", show=_short),
    ]
    return DataTable(title="Runs compared", columns=columns, rows=rows, keys=("model", "run"), notes=notes)


def _estimate(value: Any) -> dict[str, Any] | None:
    from clinpred.core.report.model_table import ESTIMATE_KEYS

    return {k: value[k] for k in ESTIMATE_KEYS if k in value} if isinstance(value, dict) else None
