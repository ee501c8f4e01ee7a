"""``clinpred run``: every model and baseline, on identical splits, with honest statistics.

Units of work are (model, split) pairs. Each completed unit is saved atomically under
``units/`` with a fingerprint of everything that determines it, so an interrupted run resumed
with ``--resume`` skips exactly the units that are already done and still valid.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from attrs import define, field

from clinpred.core.evaluation.aggregate import model_metrics, paired_comparisons, prediction_rows
from clinpred.core.run.config import EvaluationConfig
from clinpred.core.errors import ClinpredError, RunError
from clinpred.core.events import Event, EventSink
from clinpred.core.llm.llm_unit import FamilyHooks, run_llm_unit
from clinpred.core.llm.search import search_summary
from clinpred.core.run.plan import ModelPlan
from clinpred.core.run.rundir import RunDirectory
from clinpred.core.run.status import StatusRecorder

#: Errors after which the other splits of the same model would fail the same way.
_FATAL_FOR_MODEL = ("ModelError", "FamilyUnavailableError", "RenderError", "PluginError")


@define
class RunRequest:
    """Everything ``clinpred run`` decided before running."""

    out: Path
    plans: list[ModelPlan]
    baselines: tuple[str, ...]
    evaluation: EvaluationConfig
    schema: Any  # DatasetSchema
    config_source: str
    resume: bool = False
    command: list[str] = field(factory=list)
    #: model name -> SearchConfig, for the models whose hyperparameters are searched (nested)
    search: dict[str, Any] = field(factory=dict)


@define
class RunSummary:
    out: Path
    metrics: dict[str, Any]
    failed: dict[str, str]
    seconds: float


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("clinpred", "mlx", "mlx-lm", "scikit-learn", "numpy", "pandas", "transformers", "pluggy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def make_splits(labels: np.ndarray, ev: EvaluationConfig) -> list[Any]:
    """The splits of the evaluation protocol (identical for every model)."""
    from clinpred.core.data.splits import cv_splits, holdout_split

    if ev.protocol == "holdout":
        return [holdout_split(labels, seed=ev.seed)]
    return cv_splits(labels, k=ev.cv_folds, repeats=ev.cv_repeats, seed=ev.seed, val_fraction=ev.val_fraction)


def _balanced_training(split: Any, labels: np.ndarray, ev: EvaluationConfig, seed: int) -> tuple[np.ndarray, np.ndarray | None, str | None]:
    """Training indices (oversampled, or with class weights) — only inside the training part."""
    from clinpred.core.data.splits import class_weights, oversample_minority

    train = np.asarray(split.train, dtype=int)
    if ev.balance == "oversample":
        return np.asarray(oversample_minority(train, labels, seed), dtype=int), None, None
    if ev.balance == "class-weight":
        weights = class_weights(labels[train])
        return train, np.asarray([weights[int(labels[i])] for i in train], dtype=float), "balanced"
    return train, None, None


class Runner:
    """Runs a :class:`RunRequest`; the CLI supplies the hooks (registry) and the event sink."""

    def __init__(self, request: RunRequest, hooks: FamilyHooks, emit: EventSink,
                 load_model: Callable[[ModelPlan], Any]) -> None:
        self.request = request
        self.hooks = hooks
        self.rundir = RunDirectory(request.out)
        self.status = StatusRecorder(self.rundir, emit)
        self.emit = self.status.emit
        self.load_model = load_model

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> RunSummary:
        from clinpred.core.data.dataset import load_from_schema
        from clinpred.core.data.splits import manifest

        req, ev = self.request, self.request.evaluation
        start = time.perf_counter()
        dataset = load_from_schema(req.schema)  # the cohort is fixed; --seed changes splits and training
        splits = make_splits(dataset.labels, ev)
        split_manifest = manifest(splits, dataset.ids, dataset.labels)
        data_key = {"sha256": dataset.sha256, "splits": _fingerprint(split_manifest)}

        self.rundir.create(resume=req.resume)
        if req.resume:
            previous = self.rundir.read_json(self.rundir.run_json) or {}
            if previous.get("data_key") != data_key:
                raise RunError(
                    f"{req.out} was run on other data or splits (sha256/seed/protocol differ); "
                    "resume it with the same --data, --seed and --cv, or start a new --out"
                )
        run_info = self._run_info(dataset, splits, data_key)
        self.rundir.write_json(self.rundir.splits_json, split_manifest)
        self.rundir.write_json(self.rundir.run_json, {**run_info, "status": "running"})

        names = [*req.baselines, *(p.name for p in req.plans)]
        self.status.start(names, [s.name for s in splits])
        self.emit(Event("run-start", data={"n": len(dataset.labels), "splits": len(splits), "models": names}))

        results: dict[str, dict[str, dict[str, Any]]] = {n: {} for n in names}
        failed: dict[str, str] = {}
        records = None
        for name in req.baselines:
            for k, split in enumerate(splits):
                self._unit(name, split, k, results, failed, lambda s=split, k=k, n=name: self._baseline(n, dataset, s, k))
        for plan in req.plans:
            if plan.unavailable:
                failed[plan.name] = plan.unavailable
                self.emit(Event("unit-failed", f"{plan.name}/*", plan.unavailable))
                continue
            if records is None:
                records = dataset.records()
            for k, split in enumerate(splits):
                if plan.name in failed:
                    break
                self._unit(plan.name, split, k, results, failed,
                           lambda s=split, k=k, p=plan: self._llm(p, dataset, records, s, k),
                           hyper={**plan.hyperparameters, **self._search_key(plan.name)})

        kinds = {**{b: "baseline" for b in req.baselines}, **{p.name: "llm" for p in req.plans}}
        metrics = self._aggregate(dataset, splits, results, kinds, failed)
        seconds = time.perf_counter() - start
        self.rundir.write_json(self.rundir.metrics_json, metrics)
        self.rundir.write_json(self.rundir.run_json, {**run_info, "status": "complete", "seconds": seconds,
                                                      "failed": failed})
        self.status.finish()
        self.emit(Event("run-done", data={"seconds": seconds}))
        return RunSummary(req.out, metrics, failed, seconds)

    # -- units -------------------------------------------------------------------------------
    def _unit(self, name: str, split: Any, k: int, results: dict, failed: dict[str, str],
              compute: Callable[[], dict[str, Any]], hyper: dict[str, Any] | None = None) -> None:
        unit = f"{name}/{split.name}"
        key = _fingerprint({"name": name, "split": k, "seed": self.request.evaluation.seed,
                            "hyper": hyper or {}, "ev": self._unit_settings()})
        done = self.rundir.read_unit(name, split.name) if self.request.resume else None
        if done and done.get("status") == "done" and done.get("fingerprint") == key:
            results[name][split.name] = done
            self.emit(Event("unit-skip", unit, "already done"))
            return
        self.emit(Event("unit-start", unit))
        try:
            result = compute()
        except ClinpredError as exc:
            self._fail(name, unit, str(exc), failed, fatal=type(exc).__name__ in _FATAL_FOR_MODEL)
            return
        except (MemoryError, RuntimeError, ValueError, OSError) as exc:
            self._fail(name, unit, f"{type(exc).__name__}: {exc}", failed, fatal=False)
            return
        result["fingerprint"] = key
        result["split"] = split.name
        self.rundir.write_unit(name, split.name, result)
        results[name][split.name] = json.loads(json.dumps(result, default=_jsonable))
        self.emit(Event("unit-done", unit, data={"seconds": result.get("seconds")}))

    def _fail(self, name: str, unit: str, reason: str, failed: dict[str, str], *, fatal: bool) -> None:
        failed.setdefault(name, reason)
        self.emit(Event("unit-failed", unit, reason, data={"fatal": fatal}))

    def _unit_settings(self) -> dict[str, Any]:
        ev = self.request.evaluation
        return {"protocol": ev.protocol, "cv": [ev.cv_folds, ev.cv_repeats, ev.val_fraction],
                "threshold": [ev.threshold, ev.fixed_threshold], "balance": ev.balance,
                "generate": [ev.generate, ev.max_new_tokens]}

    def _baseline(self, name: str, dataset: Any, split: Any, k: int) -> dict[str, Any]:
        from clinpred.core.evaluation.baseline_unit import run_baseline_unit

        ev = self.request.evaluation
        seed = ev.seed + k
        if name == "majority":  # "always the most common class" is defined on the data as it is
            train, class_weight = np.asarray(split.train, dtype=int), None
        else:
            train, _, class_weight = _balanced_training(split, dataset.labels, ev, seed)
        return run_baseline_unit(name, dataset, split, train, seed=seed, threshold_method=ev.threshold,
                                 fixed_threshold=ev.fixed_threshold, class_weight=class_weight)

    def _llm(self, plan: ModelPlan, dataset: Any, records: list[Any], split: Any, k: int) -> dict[str, Any]:
        ev = self.request.evaluation
        seed = ev.seed + k
        train, weights, _ = _balanced_training(split, dataset.labels, ev, seed)
        multi = len(self.status.splits) > 1
        hyper, explicit, search = plan.hyperparameters, plan.explicit, None
        if plan.name in self.request.search:  # nested search on the training part (core/llm/search.py)
            search = self._search(plan, dataset, records, split, seed)
            hyper, explicit = {**hyper, **search["chosen"]}, explicit | frozenset(search["chosen"])
        result = run_llm_unit(
            name=plan.name, family=plan.family, hooks=self.hooks, load=lambda: self.load_model(plan),
            dataset=dataset, records=records, split=split, train_idx=train, sample_weights=weights,
            hyper=hyper, explicit=explicit, evaluation=ev,
            adapter_dir=self.rundir.adapter_dir(plan.name, split.name if multi else None),
            seed=seed, emit=self.emit, unit=f"{plan.name}/{split.name}", resume=self.request.resume,
        )
        if search is not None:
            result["search"] = search
        return result

    def _search_key(self, name: str) -> dict[str, Any]:
        cfg = self.request.search.get(name)
        return {} if cfg is None else {"search": cfg.to_dict()}

    def _search(self, plan: ModelPlan, dataset: Any, records: list[Any], split: Any, seed: int) -> dict[str, Any]:
        from clinpred.core.llm.llm_unit import PromptBook
        from clinpred.core.llm.search import run_search

        task = dataset.schema.task
        return run_search(
            cfg=self.request.search[plan.name], load=lambda: self.load_model(plan),
            book=lambda tok: PromptBook(self.hooks, plan.family, tok, task, records), labels=dataset.labels,
            train_part=np.asarray(split.train, dtype=int), balance=self.request.evaluation.balance,
            hyper=plan.hyperparameters, seed=seed, search_dir=self.rundir.search_dir(plan.name, split.name),
            positive=task.positive, negative=task.negative, emit=self.emit, unit=f"{plan.name}/{split.name}")

    # -- results -----------------------------------------------------------------------------
    def _aggregate(self, dataset: Any, splits: list[Any], results: dict, kinds: dict[str, str],
                   failed: dict[str, str]) -> dict[str, Any]:
        ev = self.request.evaluation
        families = {p.name: p.family_name for p in self.request.plans}
        models: dict[str, Any] = {}
        for name, units in results.items():
            entry: dict[str, Any] = {"kind": kinds[name], "family": families.get(name)}
            if name in failed or len(units) < len(splits):
                entry.update(status="failed", error=failed.get(name, "not every split completed"))
                models[name] = entry
                continue
            ordered = {s.name: units[s.name] for s in splits}
            entry.update(status="done", **model_metrics(dataset, ordered, n_resamples=ev.bootstrap, seed=ev.seed))
            entry.update(search_summary(ordered))  # chosen hyperparameters per split, if searched
            self.rundir.write_predictions(name, prediction_rows(dataset, ordered, ev.store_prompts))
            models[name] = entry
        best = paired_comparisons(dataset, {n: {s.name: u[s.name] for s in splits} for n, u in results.items()
                                            if len(u) == len(splits)}, kinds, models)
        out: dict[str, Any] = {"models": models, "best_baseline": best, "protocol": ev.protocol,
                               "threshold_method": ev.threshold, "bootstrap_resamples": ev.bootstrap}
        ceiling = getattr(dataset, "bayes_auroc", None)
        if ceiling is not None:
            out["bayes_optimal_auroc"] = ceiling
        return out

    def _run_info(self, dataset: Any, splits: list[Any], data_key: dict[str, str]) -> dict[str, Any]:
        req = self.request
        labels = dataset.labels
        return {
            "clinpred_run_format": 1,
            "command": req.command,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "versions": _versions(),
            "config": req.config_source,
            "evaluation": _attrs_dict(req.evaluation),
            "seed": req.evaluation.seed,
            "data_key": data_key,
            "dataset": {"source": dataset.source, "sha256": dataset.sha256, "n": int(labels.size),
                        "events": int(labels.sum()), "task": _attrs_dict(req.schema.task),
                        "features": [f.name for f in req.schema.features]},
            "splits": {s.name: {part: {"n": len(getattr(s, part)), "events": int(labels[np.asarray(getattr(s, part), dtype=int)].sum())}
                                for part in ("train", "val", "test")} for s in splits},
            "models": [{"name": p.name, "model_id": p.model_id, "family": p.family_name,
                        "catalog": p.catalog.name if p.catalog else None,
                        "hyperparameters": p.hyperparameters, "unavailable": p.unavailable,
                        **({"search": req.search[p.name].to_dict()} if p.name in req.search else {})}
                       for p in req.plans],
            "baselines": list(req.baselines),
            "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        }


def _attrs_dict(obj: Any) -> dict[str, Any]:
    import attrs

    return json.loads(json.dumps(attrs.asdict(obj), default=_jsonable))


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "value"):  # enums
        return value.value
    return str(value)
