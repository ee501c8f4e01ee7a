"""The resume fingerprint: everything that determines a run's results, compared part by part.

``run.json`` records it under ``resume_key``. ``--resume`` recomputes it from the command line
and configuration and refuses a mismatch in one line that says which parts differ (e.g.
``baselines: lasso, majority -> majority; evaluation.bootstrap: 1000 -> 200``), so a resumed run
never mixes units of two settings. Runs written before the key existed are compared on their
``data_key`` (data sha256 + split manifest) as before.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Iterable

import attrs

from clinpred.core.errors import RunDirectoryError


def digest(obj: Any) -> str:
    """A short, stable hash of a JSON-able object."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _plain(obj: Any) -> Any:
    return json.loads(json.dumps(attrs.asdict(obj) if attrs.has(type(obj)) else obj, sort_keys=True,
                                 default=lambda v: v.tolist() if hasattr(v, "tolist") else getattr(v, "value", str(v))))


def resume_key(*, data_sha256: str, split_manifest: Any, evaluation: Any, plans: Iterable[Any], schema: Any,
               default_method: str | None = None) -> dict[str, Any]:
    """The parts of a run that determine its results (JSON-able, compared by :func:`check_resume`).

    The schema is taken without its data path (a moved file with the same sha256 is the same data)
    and its ``min_cell`` (no unit depends on it);
    LLM arms with their resolved hyperparameters (family defaults, catalog, config and command line)
    and their method when it is not ``default_method``; baselines by name, and their hyperparameters
    when the config sets any (keys older runs did not have are left out when empty, so they resume).
    """
    schema_part = _plain(schema)
    if isinstance(schema_part, dict):
        schema_part.pop("path", None)
        schema_part.pop("min_cell", None)  # only what shared tables show (applied anew when a run resumes)
    plans = list(plans)
    key: dict[str, Any] = {
        "data": data_sha256,
        "splits": digest(split_manifest),
        "evaluation": _plain(evaluation),
        "baselines": sorted(p.name for p in plans if not p.uses_llm),
        "models": {p.name: {"model_id": p.model_id, "family": p.family_name,
                            "catalog": p.catalog.name if p.catalog else None,
                            "hyperparameters": _plain(dict(p.hyperparameters)),
                            "unavailable": bool(p.unavailable),
                            **({"method": p.adapter} if p.adapter != default_method else {})}
                   for p in plans if p.uses_llm},
        "schema": digest(schema_part),
    }
    configured = {p.name: _plain(dict(p.hyperparameters)) for p in plans if not p.uses_llm and p.hyperparameters}
    if configured:
        key["baseline_hyperparameters"] = configured
    return key


def _short(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    if isinstance(value, dict):
        return ", ".join(value) or "none"
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable differences between two resume keys ("part: old -> new")."""
    out: list[str] = []
    labels = {"data": "data file (sha256)", "splits": "splits (seed, --cv, --repeats or the data)",
              "schema": "dataset schema or task"}
    for part in ("data", "splits", "schema"):
        if old.get(part) != new.get(part):
            out.append(f"{labels[part]} differ")
    if old.get("baselines") != new.get("baselines"):
        out.append(f"baselines: {_short(old.get('baselines'))} -> {_short(new.get('baselines'))}")
    old_ev, new_ev = old.get("evaluation") or {}, new.get("evaluation") or {}
    for key in sorted(set(old_ev) | set(new_ev)):
        if old_ev.get(key) != new_ev.get(key):
            out.append(f"evaluation.{key}: {_short(old_ev.get(key))} -> {_short(new_ev.get(key))}")
    if (old.get("baseline_hyperparameters") or {}) != (new.get("baseline_hyperparameters") or {}):
        out.append("baseline hyperparameters ([baselines.NAME]) differ")
    old_m, new_m = old.get("models") or {}, new.get("models") or {}
    if set(old_m) != set(new_m):
        out.append(f"models: {_short(sorted(old_m))} -> {_short(sorted(new_m))}")
    for name in sorted(set(old_m) & set(new_m)):
        a, b = old_m[name], new_m[name]
        if a.get("unavailable") or b.get("unavailable"):  # a plugin that failed: no plan to compare
            if a.get("model_id") != b.get("model_id"):
                out.append(f"model {name} model_id: {_short(a.get('model_id'))} -> {_short(b.get('model_id'))}")
            continue
        for key in ("model_id", "family", "catalog", "method"):
            if a.get(key) != b.get(key):
                out.append(f"model {name} {key}: {_short(a.get(key))} -> {_short(b.get(key))}")
        ha, hb = a.get("hyperparameters") or {}, b.get("hyperparameters") or {}
        for key in sorted(set(ha) | set(hb)):
            if ha.get(key) != hb.get(key):
                out.append(f"model {name} {key}: {_short(ha.get(key))} -> {_short(hb.get(key))}")
    return out


def check_resume(run_dir: Path, previous: dict[str, Any], key: dict[str, Any], data_key: dict[str, Any]) -> None:
    """Refuse (exit 2) to resume ``previous`` (its run.json) with other results-determining settings."""
    old = previous.get("resume_key")
    if old is None:  # a run from before the resume key: the data and splits are all it recorded
        if previous.get("data_key") != data_key:
            raise RunDirectoryError(
                f"{run_dir} was run on other data or splits (sha256/seed/protocol differ); "
                "resume it with the same --data, --seed and --cv, or start a new --out")
        return
    diff = differences(old, key)
    if not diff:
        return
    shown = "; ".join(diff[:4]) + (f"; and {len(diff) - 4} more" if len(diff) > 4 else "")
    command = " ".join(previous.get("command") or []) or "its original options"
    hint = ""
    old_balance = (old.get("evaluation") or {}).get("balance")
    if old_balance not in (None, (key.get("evaluation") or {}).get("balance")):
        hint = (f"; a run made before the default balance became \"none\" (it was \"oversample\") continues "
                f"with [evaluation] balance = \"{old_balance}\" in its config")
    raise RunDirectoryError(
        f"cannot resume {run_dir} with other settings ({shown}); resume with the run's own options "
        f"({command}) or start a new --out{hint}")


def prune_stale(rundir: Any, current: Iterable[str], done: Iterable[str]) -> list[Path]:
    """Remove files readers would take for results of this run but are not: units, adapters and
    predictions of models outside ``current``, and predictions of current models not ``done``."""
    from clinpred.core.run.rundir import safe

    current_safe = {safe(n) for n in current}
    done_safe = {safe(n) for n in done}
    removed: list[Path] = []
    for folder in ("units", "adapters"):
        base = rundir.path / folder
        if base.is_dir():
            for child in base.iterdir():
                if child.is_dir() and child.name not in current_safe:
                    shutil.rmtree(child, ignore_errors=True)
                    removed.append(child)
    predictions = rundir.path / "predictions"
    if predictions.is_dir():
        for file in predictions.glob("*.jsonl"):
            if file.stem not in done_safe:
                file.unlink(missing_ok=True)
                removed.append(file)
    return removed
