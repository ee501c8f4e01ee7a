"""Doing one unit: the same function runs in the driver, a pool process or a Ray worker.

:func:`execute_unit` turns a :class:`~clinpred.core.run.units.UnitSpec` into a
:class:`~clinpred.core.run.units.UnitResult`. It never raises for a failure of the unit itself
(that becomes the result's ``error``), so one bad unit fails only itself and the other units go on.
"""

from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from attrs import define, field

from clinpred.core.errors import ClinpredError
from clinpred.core.events import Event, EventSink
from clinpred.core.run.config import EvaluationConfig
from clinpred.core.run.units import UnitResult, UnitSpec, normalized

#: Errors after which the other splits of the same model would fail the same way.
FATAL_FOR_MODEL = ("ModelError", "FamilyUnavailableError", "RenderError", "PluginError")

#: adapter files a unit hands back (the training checkpoint stays with the worker)
ADAPTER_FILES = ("adapters.safetensors", "adapter_config.json")


@define
class WorkContext:
    """What a process needs to do units: the dataset, family hooks, a model loader and where
    adapters go. ``adapter_root`` is the run directory when the worker shares the driver's file
    system, else None (adapters are written to a temporary folder and returned as bytes) or, with
    ``ship`` set, a worker-local folder whose adapters are returned as bytes."""

    dataset: Any
    hooks: Any
    load_model: Callable[[Any], Any]
    adapter_root: Path | None = None
    node: str = field(factory=socket.gethostname)
    ship: bool = False
    _records: list[Any] | None = None

    def records(self) -> list[Any]:
        if self._records is None:
            self._records = self.dataset.records()
        return self._records


def balanced_training(split: Any, labels: np.ndarray, ev: EvaluationConfig, seed: int) -> tuple[np.ndarray, np.ndarray | None, str | None]:
    """Training indices (oversampled, or with class weights) — only inside the training part."""
    from clinpred.core.data.splits import class_weights, oversample_minority

    train = np.asarray(split.train, dtype=int)
    if ev.balance == "oversample":
        return np.asarray(oversample_minority(train, labels, seed), dtype=int), None, None
    if ev.balance == "class-weight":
        weights = class_weights(labels[train])
        return train, np.asarray([weights[int(labels[i])] for i in train], dtype=float), "balanced"
    return train, None, None


def _baseline(spec: UnitSpec, ctx: WorkContext) -> dict[str, Any]:
    from clinpred.core.evaluation.baseline_unit import run_baseline_unit

    ev, dataset, split = spec.evaluation, ctx.dataset, spec.split
    inner = spec.name == "lasso" and ev.balance == "oversample"  # oversampled inside its inner CV folds
    if spec.name == "majority" or inner:  # "always the most common class" is defined on the data as it is
        train, class_weight = np.asarray(split.train, dtype=int), None
    else:
        train, _, class_weight = balanced_training(split, dataset.labels, ev, spec.seed)
    return run_baseline_unit(spec.name, dataset, split, train, seed=spec.seed, threshold_method=ev.threshold,
                             fixed_threshold=ev.fixed_threshold, class_weight=class_weight,
                             inner_oversample=inner)


def _adapter_dir(spec: UnitSpec, root: Path) -> Path:
    from clinpred.core.run.rundir import RunDirectory

    return RunDirectory(root).adapter_dir(spec.name, spec.adapter_split)


def _llm(spec: UnitSpec, ctx: WorkContext, emit: EventSink, root: Path) -> dict[str, Any]:
    from clinpred.core.llm.llm_unit import run_llm_unit

    ev, dataset, split, plan = spec.evaluation, ctx.dataset, spec.split, spec.plan
    train, weights, _ = balanced_training(split, dataset.labels, ev, spec.seed)
    hyper, explicit, search = plan.hyperparameters, plan.explicit, spec.search
    if search is not None:  # its nested search ran first, as trial units (core/run/work_queue.py)
        hyper, explicit = {**hyper, **search["chosen"]}, explicit | frozenset(search["chosen"])
    result = run_llm_unit(
        name=plan.name, family=plan.family, hooks=ctx.hooks, load=lambda: ctx.load_model(plan),
        dataset=dataset, records=ctx.records(), split=split, train_idx=train, sample_weights=weights,
        hyper=hyper, explicit=explicit, evaluation=ev,
        adapter_dir=_adapter_dir(spec, root), seed=spec.seed, emit=emit, unit=spec.unit, resume=spec.resume,
    )
    if search is not None:
        result["search"] = search
    return result


def _trial(spec: UnitSpec, ctx: WorkContext, emit: EventSink) -> dict[str, Any]:
    """One search trial; its record comes back as the payload (the driver saves it)."""
    from clinpred.core.llm.llm_unit import PromptBook
    from clinpred.core.llm.search import execute_trial
    from clinpred.core.llm.search_trial import TrialContext

    plan, dataset = spec.plan, ctx.dataset
    task = dataset.schema.task
    trial_ctx = TrialContext(load=lambda: ctx.load_model(plan),
                             book=lambda tok: PromptBook(ctx.hooks, plan.family, tok, task, ctx.records()),
                             labels=dataset.labels, positive=task.positive, negative=task.negative,
                             emit=emit, unit=spec.unit)
    with tempfile.TemporaryDirectory(prefix="clinpred-trial-") as tmp:  # trial adapters are not kept
        return execute_trial(spec.trial, trial_ctx, Path(tmp))


def _collect_adapter(spec: UnitSpec, root: Path) -> dict[str, bytes]:
    folder = _adapter_dir(spec, root)
    return {name: (folder / name).read_bytes() for name in ADAPTER_FILES if (folder / name).is_file()}


def execute_unit(spec: UnitSpec, ctx: WorkContext, emit: EventSink) -> UnitResult:
    """Run ``spec``; progress goes to ``emit``; failures come back in the result."""
    started = time.time()
    emit(Event("unit-start", spec.unit, data={"node": ctx.node}))

    def done(**kwargs: Any) -> UnitResult:
        return UnitResult(spec.unit, spec.fingerprint, node=ctx.node, attempt_started=started,
                          attempt_finished=time.time(), **kwargs)

    try:
        if spec.kind == "baseline":
            return done(payload=normalized(_baseline(spec, ctx)))
        if spec.kind == "trial":
            return done(payload=normalized(_trial(spec, ctx, emit)))
        if ctx.adapter_root is not None and not ctx.ship:
            return done(payload=normalized(_llm(spec, ctx, emit, ctx.adapter_root)))
        if ctx.adapter_root is not None:
            payload = _llm(spec, ctx, emit, ctx.adapter_root)
            return done(payload=normalized(payload), adapter_files=_collect_adapter(spec, ctx.adapter_root))
        with tempfile.TemporaryDirectory(prefix="clinpred-unit-") as tmp:
            payload = _llm(spec, ctx, emit, Path(tmp))
            return done(payload=normalized(payload), adapter_files=_collect_adapter(spec, Path(tmp)))
    except ClinpredError as exc:
        return done(error=str(exc), fatal=type(exc).__name__ in FATAL_FOR_MODEL)
    except Exception as exc:  # noqa: BLE001 - any other failure fails this unit only (in a worker
        # it must come back as a result, not kill the worker: Ray would retry it as a lost worker)
        return done(error=f"{type(exc).__name__}: {exc}")
