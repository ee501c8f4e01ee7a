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

from clinpred.core.bounds import unit_seed
from clinpred.core.evaluation.aggregate import model_metrics, paired_comparisons, prediction_rows
from clinpred.core.run.config import EvaluationConfig
from clinpred.core.errors import ConfigError
from clinpred.core.events import Event, EventSink
from clinpred.core.llm.llm_unit import FamilyHooks
from clinpred.core.llm.search import search_summary
from clinpred.core.run.executors.base import Executor
from clinpred.core.run.lock import RunLock
from clinpred.core.run.plan import ModelPlan
from clinpred.core.run.resume import check_resume, prune_stale, resume_key
from clinpred.core.run.rundir import RunDirectory
from clinpred.core.run.status import StatusRecorder
from clinpred.core.run.unit_work import ADAPTER_FILES
from clinpred.core.run.units import UnitResult, UnitSpec


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


#: bumped when what a kind of unit computes changes, so ``--resume`` recomputes older units of
#: that kind instead of mixing them in (2: LASSO oversamples inside its inner CV folds)
UNIT_REVISIONS = {"baseline": 2}


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


def make_splits(labels: np.ndarray, ev: EvaluationConfig, groups: Any = None, sites: Any = None) -> list[Any]:
    """The splits of the evaluation protocol (identical for every model); by whole groups when
    the schema has a ``group_column``; one per site for ``internal-external``."""
    from clinpred.core.data.splits import cv_splits, holdout_split

    if ev.protocol == "internal-external":
        from clinpred.core.data.group_splits import leave_one_site_out

        if sites is None:
            raise ConfigError('protocol = "internal-external" needs [dataset] site_column = "COLUMN" (a feature '
                              "naming each patient's site, e.g. hospital or country)")
        return leave_one_site_out(labels, sites, seed=ev.seed, val_fraction=ev.val_fraction)

    if groups is not None:
        from clinpred.core.data.group_splits import grouped_cv_splits, grouped_holdout_split

        if ev.protocol == "holdout":
            return [grouped_holdout_split(labels, groups, seed=ev.seed)]
        return grouped_cv_splits(labels, groups, k=ev.cv_folds, repeats=ev.cv_repeats, seed=ev.seed,
                                 val_fraction=ev.val_fraction)

    if ev.protocol == "holdout":
        return [holdout_split(labels, seed=ev.seed)]
    return cv_splits(labels, k=ev.cv_folds, repeats=ev.cv_repeats, seed=ev.seed, val_fraction=ev.val_fraction)


class Runner:
    """Runs a :class:`RunRequest`; the CLI supplies the hooks (registry), the event sink and
    optionally an executor (default: in-process, one unit after another)."""

    def __init__(self, request: RunRequest, hooks: FamilyHooks, emit: EventSink,
                 load_model: Callable[[ModelPlan], Any], executor: Executor | None = None) -> None:
        from clinpred.core.run.executors.local import LocalExecutor

        self.request = request
        self.hooks = hooks
        self.rundir = RunDirectory(request.out)
        self.status = StatusRecorder(self.rundir, emit)
        self.emit = self.status.emit
        self.load_model = load_model
        self.executor = executor or LocalExecutor(hooks, load_model)

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> RunSummary:
        """Run every unit, holding the run directory's writer lock throughout."""
        self._lock = RunLock(self.request.out, "clinpred run")
        try:
            return self._run()
        finally:
            self._lock.release()

    def _run(self) -> RunSummary:
        from clinpred.core.data.dataset import load_from_schema
        from clinpred.core.data.splits import manifest

        req, ev = self.request, self.request.evaluation
        start = time.perf_counter()
        dataset = load_from_schema(req.schema)  # the cohort is fixed; --seed changes splits and training
        site_column = getattr(req.schema, "site_column", None)
        splits = make_splits(dataset.labels, ev, getattr(dataset, "groups", None),
                             dataset.frame[site_column].to_numpy() if site_column else None)
        split_manifest = manifest(splits, dataset.ids, dataset.labels, groups=getattr(dataset, "groups", None),
                                  group_column=getattr(req.schema, "group_column", None))
        data_key = {"sha256": dataset.sha256, "splits": _fingerprint(split_manifest)}

        prepare = getattr(self.executor, "prepare", None)  # e.g. connect to a cluster and check its resources
        if prepare is not None:
            prepare({*(["baseline"] if req.baselines else []), *(["llm"] if req.plans else [])})
        self.rundir.create(resume=req.resume)
        self._lock.acquire()  # one writer per run directory (released by run())
        key = resume_key(data_sha256=dataset.sha256, split_manifest=split_manifest, evaluation=ev,
                         plans=req.plans, baselines=req.baselines, schema=req.schema)
        if req.resume:
            check_resume(req.out, self.rundir.read_json(self.rundir.run_json) or {}, key, data_key)
        run_info = {**self._run_info(dataset, splits, data_key), "resume_key": key}
        self.rundir.write_json(self.rundir.splits_json, split_manifest)
        self.rundir.write_json(self.rundir.run_json, {**run_info, "status": "running"})

        names = [*req.baselines, *(p.name for p in req.plans)]
        self.status.start(names, [s.name for s in splits])
        self.emit(Event("run-start", data={"n": len(dataset.labels), "splits": len(splits), "models": names}))
        for warning in dataset.warnings:  # e.g. heavy missingness, a categorical with many levels
            self.emit(Event("warning", message=warning))

        results: dict[str, dict[str, dict[str, Any]]] = {n: {} for n in names}
        specs = self._plan_units(splits, results)
        failed = self._execute(specs, dataset, results)

        kinds = {**{b: "baseline" for b in req.baselines}, **{p.name: "llm" for p in req.plans}}
        metrics = self._aggregate(dataset, splits, results, kinds, failed)
        seconds = time.perf_counter() - start
        if req.resume:  # only in a directory known to hold a run of ours: never touch a user's files
            prune_stale(self.rundir, names, [n for n, m in metrics["models"].items() if m.get("status") == "done"])
        self.rundir.write_json(self.rundir.metrics_json, metrics)
        self.rundir.write_json(self.rundir.run_json, {**run_info, "status": "complete", "seconds": seconds,
                                                      "failed": failed})
        self.status.finish()
        self.emit(Event("run-done", data={"seconds": seconds}))
        return RunSummary(req.out, metrics, failed, seconds)

    # -- units -------------------------------------------------------------------------------
    def _plan_units(self, splits: list[Any], results: dict) -> list[UnitSpec]:
        """Every (model, split) unit in plan order; units already done (``--resume``) go
        straight into ``results``."""
        req, ev = self.request, self.request.evaluation
        multi = len(splits) > 1
        specs: list[UnitSpec] = []
        todo = [(name, "baseline", None) for name in req.baselines] + [(p.name, "llm", p) for p in req.plans]
        for name, kind, plan in todo:
            if plan is not None and plan.unavailable:
                continue
            for k, split in enumerate(splits):
                hyper = {**plan.hyperparameters, **self._search_key(name)} if plan else {}
                body = {"name": name, "split": k, "seed": ev.seed, "hyper": hyper, "ev": self._unit_settings()}
                if kind in UNIT_REVISIONS:  # the unit's computation changed since older runs
                    body["revision"] = UNIT_REVISIONS[kind]
                key = _fingerprint(body)
                done = self.rundir.read_unit(name, split.name) if req.resume else None
                if done and done.get("status") == "done" and done.get("fingerprint") == key:
                    results[name][split.name] = done
                    self.emit(Event("unit-skip", f"{name}/{split.name}", "already done"))
                    continue
                specs.append(UnitSpec(kind, name, split, k, unit_seed(ev.seed, k), key, ev, plan=plan,
                                      adapter_split=split.name if multi else None, resume=req.resume))
        return specs

    def _searches(self, specs: list[UnitSpec], dataset: Any, fail: Callable[[UnitSpec, str, bool], None]) -> dict[str, Any]:
        """The nested search of every searched LLM unit, by unit (a search that cannot start,
        e.g. too few patients of a class, fails its unit)."""
        from clinpred.core.errors import ClinpredError
        from clinpred.core.llm.search import SplitSearch

        out: dict[str, Any] = {}
        for spec in specs:
            cfg = self.request.search.get(spec.name) if spec.kind == "llm" else None
            if cfg is None:
                continue
            try:
                out[spec.unit] = SplitSearch(
                    cfg=cfg, labels=dataset.labels, train_part=np.asarray(spec.split.train, dtype=int),
                    balance=spec.evaluation.balance, hyper=spec.plan.hyperparameters, seed=spec.seed,
                    search_dir=self.rundir.search_dir(spec.name, spec.split.name), emit=self.emit, unit=spec.unit)
            except ClinpredError as exc:
                fail(spec, str(exc), type(exc).__name__ == "UserError")
        return out

    def _execute(self, specs: list[UnitSpec], dataset: Any, results: dict) -> dict[str, str]:
        """Run ``specs`` (and the trials of their searches) on the executor; the failures per
        model, in plan order (as a serial run reports them, whatever order the units finished in)."""
        from clinpred.core.llm.search_trial import describe_trial
        from clinpred.core.run.work_queue import UnitQueue

        errors: dict[str, str] = {}
        queue: UnitQueue

        def fail(spec: UnitSpec, error: str, is_fatal: bool) -> None:
            unit = spec.model_unit  # a failed trial fails its LLM unit
            errors.setdefault(unit, error)
            self.emit(Event("unit-failed", unit, error, data={"fatal": is_fatal}))

        def deliver(spec: UnitSpec, result: UnitResult) -> None:
            if spec.kind == "trial":
                if result.ok:
                    queue.trial_done(spec, result.payload)
                    summary = describe_trial(result.payload, spec.trial.cfg.objective).split(": ", 1)[-1]
                    self.emit(Event("trial-done", spec.unit, summary,
                                    data={"node": result.node, "seconds": result.payload.get("seconds")}))
                    return
                queue.fail(spec.model_unit)
                if result.fatal:
                    queue.drop_model(spec.name)
                self.emit(Event("trial-done", spec.unit, "failed", data={"node": result.node}))
                fail(spec, f"search trial {spec.trial.spec.number}: {result.error or 'failed'}", result.fatal)
                return
            if result.ok:
                payload = self._save(spec, result)
                results[spec.name][spec.split.name] = payload
                self.emit(Event("unit-done", spec.unit, data={"seconds": payload.get("seconds"), "node": result.node,
                                                            "started": result.attempt_started}))
                return
            if result.fatal:
                queue.drop_model(spec.name)
            fail(spec, result.error or "failed", result.fatal)

        for plan in self.request.plans:
            if plan.unavailable:
                self.emit(Event("unit-failed", f"{plan.name}/*", plan.unavailable))
        searches = self._searches(specs, dataset, fail)
        queue = UnitQueue([s for s in specs if s.unit not in errors], searches)
        self.executor.run(queue, dataset=dataset, run_dir=self.rundir.path, deliver=deliver, emit=self.emit)
        failed: dict[str, str] = {}
        unavailable = {p.name: p.unavailable for p in self.request.plans if p.unavailable}
        for name in [*self.request.baselines, *(p.name for p in self.request.plans)]:
            if name in unavailable:
                failed[name] = unavailable[name]
            for spec in specs:
                if spec.name == name and spec.unit in errors:
                    failed.setdefault(name, errors[spec.unit])
        return failed

    def _save(self, spec: UnitSpec, result: UnitResult) -> dict[str, Any]:
        """Write a finished unit (its adapter first, then its unit file) atomically."""
        from clinpred.core.atomic import write_bytes

        payload = dict(result.payload or {})
        if result.adapter_files:
            folder = self.rundir.adapter_dir(spec.name, spec.adapter_split)
            for name in ADAPTER_FILES:
                if name in result.adapter_files:
                    write_bytes(folder / name, result.adapter_files[name])
            if isinstance(payload.get("training"), dict):
                payload["training"] = {**payload["training"], "adapter_dir": str(folder)}
        payload["fingerprint"] = spec.fingerprint
        payload["split"] = spec.split.name
        self.rundir.write_unit(spec.name, spec.split.name, payload)
        return payload

    def _unit_settings(self) -> dict[str, Any]:
        ev = self.request.evaluation
        return {"protocol": ev.protocol, "cv": [ev.cv_folds, ev.cv_repeats, ev.val_fraction],
                "threshold": [ev.threshold, ev.fixed_threshold], "balance": ev.balance,
                "generate": [ev.generate, ev.max_new_tokens]}

    def _search_key(self, name: str) -> dict[str, Any]:
        cfg = self.request.search.get(name)
        return {} if cfg is None else {"search": cfg.to_dict()}

    # -- results -----------------------------------------------------------------------------
    def _aggregate(self, dataset: Any, splits: list[Any], results: dict, kinds: dict[str, str],
                   failed: dict[str, str]) -> dict[str, Any]:
        ev = self.request.evaluation
        families = {p.name: p.family_name for p in self.request.plans}
        repeats = None if ev.protocol == "holdout" else {s.name: s.repeat for s in splits}  # sites: one repeat
        clusters = getattr(dataset, "groups", None)
        models: dict[str, Any] = {}
        for name, units in results.items():
            entry: dict[str, Any] = {"kind": kinds[name], "family": families.get(name)}
            if name in failed or len(units) < len(splits):
                entry.update(status="failed", error=failed.get(name, "not every split completed"))
                models[name] = entry
                continue
            ordered = {s.name: units[s.name] for s in splits}
            entry.update(status="done", **model_metrics(dataset, ordered, n_resamples=ev.bootstrap, seed=ev.seed,
                                                        repeats=repeats, clusters=clusters))
            entry.update(search_summary(ordered))  # chosen hyperparameters per split, if searched
            self.rundir.write_predictions(name, prediction_rows(dataset, ordered, ev.store_prompts))
            models[name] = entry
        best = paired_comparisons(dataset, {n: {s.name: u[s.name] for s in splits} for n, u in results.items()
                                            if len(u) == len(splits)}, kinds, models, reference=ev.reference,
                                  repeats=repeats, clusters=clusters, n_resamples=ev.bootstrap, seed=ev.seed)
        out: dict[str, Any] = {"models": models, "best_baseline": best, "reference": ev.reference,
                               "protocol": ev.protocol,
                               "threshold_method": ev.threshold, "bootstrap_resamples": ev.bootstrap}
        ceiling = getattr(dataset, "bayes_auroc", None)
        if ceiling is not None:
            out["bayes_optimal_auroc"] = ceiling
        from clinpred.core.evaluation.cautions import run_warnings

        out["warnings"] = run_warnings(dataset, splits, ev.protocol, models, results, kinds)
        from clinpred.core.evaluation.cohort_items import cohort_items

        out["cohort"] = cohort_items(dataset, splits)
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
