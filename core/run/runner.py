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
from clinpred.core.errors import ClinpredError, CorruptRunFileError, UserError
from clinpred.core.evaluation.aggregate import ModelRow, model_metrics, paired_comparisons, prediction_rows
from clinpred.core.evaluation.settings import EvaluationConfig
from clinpred.core.events import Event, EventSink
from clinpred.core.llm.search import search_summary
from clinpred.core.evaluation.outcome import UnitOutcome
from clinpred.core.evaluation.sample_size import check_anticipated_r2
from clinpred.core.run.executors.base import Executor
from clinpred.core.run.lock import RunLock
from clinpred.core.run.plan import ModelPlan
from clinpred.core.run.run_splits import make_splits
from clinpred.core.run.resume import check_resume, prune_stale, resume_key
from clinpred.core.run.rundir import RunDirectory, read_run_info, remove_temporary_files
from clinpred.core.run.status import StatusRecorder
from clinpred.core.run.units import UnitResult, UnitSpec


@define
class RunRequest:
    """Everything a run decided before running (built by :func:`clinpred.core.run.assemble.build_request`).

    ``plans`` are the rows of the comparison in table order: the baselines, then the LLM arms.
    ``default_method``: the method a ``[[models]]`` entry gets when it names none (fingerprints
    leave it out, so runs of older versions, which had no methods, still resume).
    """

    out: Path
    plans: list[ModelPlan]
    evaluation: EvaluationConfig
    schema: Any  # DatasetSchema
    config_source: str
    resume: bool = False
    command: list[str] = field(factory=list)
    #: model name -> SearchConfig, for the models whose hyperparameters are searched (nested)
    search: dict[str, Any] = field(factory=dict)
    default_method: str | None = None
    #: lines to tell the user before the units run (e.g. a command-line option replaced the config's protocol)
    notices: list[str] = field(factory=list)
    #: where the finished run is logged (TrackingSettings, core/run/tracking.py); None: nowhere
    tracking: Any = None

    @property
    def baselines(self) -> tuple[str, ...]:
        """The names of the models that use no LLM (run.json's ``baselines``)."""
        return tuple(p.name for p in self.plans if not p.uses_llm)

    @property
    def llm_plans(self) -> list[ModelPlan]:
        return [p for p in self.plans if p.uses_llm]


@define
class RunSummary:
    out: Path
    metrics: dict[str, Any]
    failed: dict[str, str]
    seconds: float
    #: where the run was tracked (one line), or why tracking failed; None when not tracked
    tracked: str | None = None
    tracking_error: str | None = None


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


class Runner:
    """Runs a :class:`RunRequest`; the caller supplies the plugin registry (model adapters and
    family hooks), the event sink and optionally an executor (default: in-process, one unit after
    another)."""

    def __init__(self, request: RunRequest, registry: Any, emit: EventSink, executor: Executor | None = None,
                 report: Callable[[Path, Path], Any] | None = None) -> None:
        """``report`` writes a shareable report of a run directory into a folder (for tracking; the
        run stage does not import the report stage)."""
        from clinpred.core.run.executors.local import LocalExecutor

        self.request = request
        self.registry = registry
        self.rundir = RunDirectory(request.out)
        self.status = StatusRecorder(self.rundir, emit)
        self.emit = self.status.emit
        self.executor = executor or LocalExecutor(registry)
        self.report = report

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> RunSummary:
        """Run every unit, holding the run directory's writer lock throughout."""
        self._lock = RunLock(self.request.out, "clinpred run")
        try:
            summary = self._run()
        finally:
            if self._lock.held:  # every writer has stopped (workers are reaped): no temporary file is in use
                remove_temporary_files(self.rundir.path)
            self._lock.release()
        if self.request.tracking is not None:  # after the lock: a report for the tracker takes it again
            self._track(summary)
        return summary

    def _track(self, summary: RunSummary) -> None:
        """Log the finished run where the user asked; a failure is reported, the run stays complete."""
        from clinpred.core.run.tracking import track_run

        try:
            summary.tracked = track_run(self.request.tracking, self.request.out, self.report)
            self.emit(Event("message", message=f"tracked: {summary.tracked}"))
        except ClinpredError as exc:
            summary.tracking_error = str(exc)
            self.emit(Event("warning", message=str(exc)))

    def _run(self) -> RunSummary:
        from clinpred.core.data.dataset import load_from_schema
        from clinpred.core.data.splits import manifest

        req, ev = self.request, self.request.evaluation
        start = time.perf_counter()
        dataset = load_from_schema(req.schema)  # the cohort is fixed; --seed changes splits and training
        check_anticipated_r2(ev.anticipated_r2, dataset.prevalence, f"{req.config_source} [evaluation]")
        site_column = getattr(req.schema, "site_column", None)
        splits = make_splits(dataset.labels, ev, getattr(dataset, "groups", None),
                             dataset.frame[site_column].to_numpy() if site_column else None)
        split_manifest = manifest(splits, dataset.ids, dataset.labels, groups=getattr(dataset, "groups", None),
                                  group_column=getattr(req.schema, "group_column", None))
        data_key = {"sha256": dataset.sha256, "splits": _fingerprint(split_manifest)}

        prepare = getattr(self.executor, "prepare", None)  # e.g. connect to a cluster and check its resources
        if prepare is not None:
            prepare({p.uses_llm for p in req.plans if not p.unavailable})
        self.rundir.create(resume=req.resume)
        self._lock.acquire()  # one writer per run directory (released by run())
        if req.resume:  # what a killed writer left half-written
            remove_temporary_files(self.rundir.path)
        key = resume_key(data_sha256=dataset.sha256, split_manifest=split_manifest, evaluation=ev,
                         plans=req.plans, schema=req.schema, default_method=req.default_method)
        if req.resume:
            check_resume(req.out, read_run_info(self.rundir.path) or {}, key, data_key)
        run_info = {**self._run_info(dataset, splits, data_key), "resume_key": key}
        self.rundir.write_json(self.rundir.splits_json, split_manifest)
        self.rundir.write_json(self.rundir.run_json, {**run_info, "status": "running"})

        names = [p.name for p in req.plans]
        self.status.start(names, [s.name for s in splits])
        self.emit(Event("run-start", data={"n": len(dataset.labels), "splits": len(splits), "models": names}))
        for warning in [*req.notices, *dataset.warnings]:  # e.g. heavy missingness, a categorical with many levels
            self.emit(Event("warning", message=warning))

        results: dict[str, dict[str, UnitOutcome]] = {n: {} for n in names}
        specs = self._plan_units(splits, results)
        failed = self._execute(specs, dataset, results)

        metrics = self._aggregate(dataset, splits, results, failed)
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
        for plan in req.plans:
            if plan.unavailable:
                continue
            adapter = self.registry.model_adapter(plan.adapter)
            for k, split in enumerate(splits):
                body = {"name": plan.name, "split": k, "seed": ev.seed,
                        "hyper": {**plan.hyperparameters, **self._search_key(plan.name)}, "ev": self._unit_settings()}
                if adapter.revision is not None:  # the unit's computation changed since older runs
                    body["revision"] = adapter.revision
                if plan.uses_llm and plan.adapter != req.default_method:
                    body["method"] = plan.adapter
                key = _fingerprint(body)
                done = self._done_unit(plan.name, split.name, key) if req.resume else None
                if done is not None:
                    results[plan.name][split.name] = done
                    self.emit(Event("unit-skip", f"{plan.name}/{split.name}", "already done"))
                    continue
                specs.append(UnitSpec(plan, split, k, unit_seed(ev.seed, k), key, ev,
                                      adapter_split=split.name if multi else None, resume=req.resume))
        return specs

    def _done_unit(self, name: str, split: str, key: str) -> UnitOutcome | None:
        """The saved outcome of a unit whose fingerprint matches (``--resume``), else None; a
        corrupt unit file is recomputed (it is replaced when the unit completes)."""
        try:
            saved = self.rundir.read_unit(name, split)
            if not saved or saved.get("status") != "done" or saved.get("fingerprint") != key:
                return None
            return UnitOutcome.from_json(saved, where=str(self.rundir.unit_file(name, split)))
        except CorruptRunFileError:
            self.emit(Event("warning", f"{name}/{split}", f"{self.rundir.unit_file(name, split)} is corrupt; "
                                                          "recomputing that unit"))
            return None

    def _searches(self, specs: list[UnitSpec], dataset: Any, fail: Callable[[UnitSpec, str, bool], None]) -> dict[str, Any]:
        """The nested search of every searched LLM unit, by unit (a search that cannot start,
        e.g. too few patients of a class, fails its unit)."""
        from clinpred.core.llm.search import SplitSearch

        out: dict[str, Any] = {}
        for spec in specs:
            cfg = self.request.search.get(spec.name)
            if cfg is None:
                continue
            try:
                out[spec.unit] = SplitSearch(
                    cfg=cfg, labels=dataset.labels, train_part=np.asarray(spec.split.train, dtype=int),
                    balance=spec.evaluation.balance, hyper=spec.plan.hyperparameters, seed=spec.seed,
                    search_dir=self.rundir.search_dir(spec.name, spec.split.name), emit=self.emit, unit=spec.unit)
            except ClinpredError as exc:  # e.g. too few patients of a class for the inner split
                fail(spec, str(exc), isinstance(exc, UserError))
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
            if spec.trial is not None:
                if result.ok:
                    queue.trial_done(spec, result.record)
                    summary = describe_trial(result.record, spec.trial.cfg.objective).split(": ", 1)[-1]
                    self.emit(Event("trial-done", spec.unit, summary,
                                    data={"node": result.node, "seconds": result.record.get("seconds")}))
                    return
                queue.fail(spec.model_unit)
                if result.fatal:
                    queue.drop_model(spec.name)
                self.emit(Event("trial-done", spec.unit, "failed", data={"node": result.node}))
                fail(spec, f"search trial {spec.trial.spec.number}: {result.error or 'failed'}", result.fatal)
                return
            if result.ok:
                self._save(spec, result)
                results[spec.name][spec.split.name] = result.outcome
                self.emit(Event("unit-done", spec.unit, data={"seconds": result.outcome.seconds, "node": result.node,
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
        for name in [p.name for p in self.request.plans]:
            if name in unavailable:
                failed[name] = unavailable[name]
            for spec in specs:
                if spec.name == name and spec.unit in errors:
                    failed.setdefault(name, errors[spec.unit])
        return failed

    def _save(self, spec: UnitSpec, result: UnitResult) -> None:
        """Write a finished unit (the files its model saved first, then its unit file) atomically."""
        from clinpred.core.atomic import write_bytes

        folder = self.rundir.adapter_dir(spec.name, spec.adapter_split)
        for name, data in result.saved_files.items():
            write_bytes(folder / name, data)
        payload = {**result.outcome.to_json(), "fingerprint": spec.fingerprint, "split": spec.split.name}
        self.rundir.write_unit(spec.name, spec.split.name, payload)

    def _unit_settings(self) -> dict[str, Any]:
        ev = self.request.evaluation
        return {"protocol": ev.protocol, "cv": [ev.cv_folds, ev.cv_repeats, ev.val_fraction],
                "threshold": [ev.threshold, ev.fixed_threshold], "balance": ev.balance,
                "generate": [ev.generate, ev.max_new_tokens]}

    def _search_key(self, name: str) -> dict[str, Any]:
        cfg = self.request.search.get(name)
        return {} if cfg is None else {"search": cfg.to_dict()}

    # -- results -----------------------------------------------------------------------------
    def _aggregate(self, dataset: Any, splits: list[Any], results: dict[str, dict[str, UnitOutcome]],
                   failed: dict[str, str]) -> dict[str, Any]:
        ev = self.request.evaluation
        rows = {p.name: ModelRow(p.kind, p.family_name, reference_candidate=not p.uses_llm and
                                 self.registry.model_adapter(p.adapter).informative) for p in self.request.plans}
        repeats = None if ev.protocol == "holdout" else {s.name: s.repeat for s in splits}  # sites: one repeat
        methods = {p.name: p.adapter for p in self.request.plans if p.uses_llm}
        clusters = getattr(dataset, "groups", None)
        models: dict[str, Any] = {}
        for name, units in results.items():
            entry: dict[str, Any] = {"kind": rows[name].kind, "family": rows[name].family}
            if methods.get(name):  # an LLM arm: how the LLM was used (lora, probe, zero-shot, few-shot)
                entry["method"] = methods[name]
            if name in failed or len(units) < len(splits):
                entry.update(status="failed", error=failed.get(name, "not every split completed"))
                models[name] = entry
                continue
            ordered = {s.name: units[s.name] for s in splits}
            entry.update(status="done", **model_metrics(dataset, ordered, n_resamples=ev.bootstrap, seed=ev.seed,
                                                        repeats=repeats, clusters=clusters))
            # chosen hyperparameters per split, if searched
            entry.update(search_summary({s: o.details["search"] for s, o in ordered.items() if "search" in o.details}))
            self.rundir.write_predictions(name, prediction_rows(dataset, ordered, ev.store_prompts))
            models[name] = entry
        best = paired_comparisons(dataset, {n: {s.name: u[s.name] for s in splits} for n, u in results.items()
                                            if len(u) == len(splits)}, rows, models, reference=ev.reference,
                                  repeats=repeats, clusters=clusters, n_resamples=ev.bootstrap, seed=ev.seed)
        out: dict[str, Any] = {"models": models, "best_baseline": best, "reference": ev.reference,
                               "protocol": ev.protocol,
                               "threshold_method": ev.threshold, "bootstrap_resamples": ev.bootstrap}
        ceiling = getattr(dataset, "bayes_auroc", None)
        if ceiling is not None:
            out["bayes_optimal_auroc"] = ceiling
        from clinpred.core.evaluation.cautions import run_warnings

        out["warnings"] = run_warnings(dataset, splits, ev.protocol, models, results,
                                       missing_indicators=ev.missing_indicators, balance=ev.balance)
        from clinpred.core.evaluation.cohort_items import cohort_items

        out["cohort"] = cohort_items(dataset, splits, ev)
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
            "models": [{"name": p.name, "model_id": p.model_id, "family": p.family_name, "method": p.adapter,
                        "catalog": p.catalog.name if p.catalog else None,
                        "hyperparameters": p.hyperparameters, "unavailable": p.unavailable,
                        **({"search": req.search[p.name].to_dict()} if p.name in req.search else {})}
                       for p in req.llm_plans],
            "baselines": list(req.baselines),
            # every model's adapter and kind (baselines and LLM arms alike), and what predict needs
            "adapters": {p.name: {"adapter": p.adapter, "kind": p.kind, "hyperparameters": p.hyperparameters}
                         for p in req.plans},
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
