"""Doing one unit: the same function runs in the driver, a pool process or a Ray worker.

:func:`execute_unit` turns a :class:`~clinpred.core.run.units.UnitSpec` into a
:class:`~clinpred.core.run.units.UnitResult` through the model's adapter (``run_unit``), or runs
one search trial. It never raises for a failure of the unit itself (that becomes the result's
``error``), so one bad unit fails only itself and the other units go on.
"""

from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from attrs import define, field

from clinpred.core.errors import ClinpredError, FamilyUnavailableError, ModelError, PluginError
from clinpred.core.events import Event, EventSink
from clinpred.core.evaluation.outcome import UnitOutcome
from clinpred.core.models.work import FITTED, LLMSource, UnitWork
from clinpred.core.params import build_params
from clinpred.core.run.units import UnitResult, UnitSpec, normalized

#: Errors after which the other splits of the same model would fail the same way (RenderError is
#: a PluginError).
FATAL_FOR_MODEL: tuple[type[ClinpredError], ...] = (ModelError, FamilyUnavailableError, PluginError)


@define
class WorkContext:
    """What a process needs to do units: the dataset, the plugin registry (model adapters and
    family hooks) and where models save what they fitted. ``adapter_root`` is the run directory
    when the worker shares the driver's file system, else None (files go to a temporary folder
    and come back as bytes) or, with ``ship`` set, a worker-local folder whose files come back as
    bytes."""

    dataset: Any
    registry: Any
    adapter_root: Path | None = None
    node: str = field(factory=socket.gethostname)
    ship: bool = False
    _records: list[Any] | None = None

    def records(self) -> list[Any]:
        if self._records is None:
            self._records = self.dataset.records()
        return self._records


def save_dir(spec: UnitSpec, root: Path) -> Path:
    """Where a unit's model saves what it fitted: ``adapters/NAME[/SPLIT]`` of ``root``."""
    from clinpred.core.run.rundir import RunDirectory

    return RunDirectory(root).adapter_dir(spec.name, spec.adapter_split)


def unit_work(spec: UnitSpec, ctx: WorkContext, emit: EventSink, root: Path) -> UnitWork:
    """The adapter's view of ``spec`` (a finished search's chosen values applied)."""
    plan, adapter = spec.plan, ctx.registry.model_adapter(spec.plan.adapter)
    params, hyper, explicit = plan.params, dict(plan.hyperparameters), plan.explicit
    if spec.search is not None:  # its nested search ran first, as trial units (core/run/work_queue.py)
        hyper = {**hyper, **spec.search["chosen"]}
        params, explicit = build_params(adapter.params, hyper, f"model {plan.name!r}"), explicit | frozenset(spec.search["chosen"])
    llm = None
    if plan.uses_llm:
        llm = LLMSource(plan.model_id, plan.family, ctx.registry, catalog=plan.catalog, records=ctx.records)
    return UnitWork(name=plan.name, unit=spec.unit, dataset=ctx.dataset, split=spec.split, params=params,
                    seed=spec.seed, settings=spec.evaluation, save_dir=save_dir(spec, root), emit=emit,
                    resume=spec.resume, llm=llm, hyperparameters=hyper, explicit=explicit)


def _run(spec: UnitSpec, ctx: WorkContext, emit: EventSink, root: Path) -> UnitOutcome:
    adapter = ctx.registry.model_adapter(spec.plan.adapter)
    outcome = adapter.run_unit(unit_work(spec, ctx, emit, root))
    if not isinstance(outcome, UnitOutcome):
        raise PluginError(f"model {adapter.name!r}: run_unit returned {type(outcome).__name__}, "
                          "not the UnitOutcome of work.outcome(...)")
    if spec.search is not None:
        outcome = outcome.with_details(search=spec.search)
    return UnitOutcome.from_json(normalized(outcome.to_json()))  # exactly as its unit file reads back


def _trial(spec: UnitSpec, ctx: WorkContext, emit: EventSink) -> dict[str, Any]:
    """One search trial; its record comes back (the driver saves it)."""
    from clinpred.core.llm.llm_unit import PromptBook
    from clinpred.core.llm.search import execute_trial
    from clinpred.core.llm.search_trial import TrialContext

    plan, dataset = spec.plan, ctx.dataset
    task = dataset.schema.task
    source = LLMSource(plan.model_id, plan.family, ctx.registry, catalog=plan.catalog)
    trial_ctx = TrialContext(load=lambda: source.load(precision=plan.params.precision),
                             book=lambda tok: PromptBook(ctx.registry, plan.family, tok, task, ctx.records()),
                             labels=dataset.labels, positive=task.positive, negative=task.negative,
                             emit=emit, unit=spec.unit)
    with tempfile.TemporaryDirectory(prefix="clinpred-trial-") as tmp:  # trial adapters are not kept
        return execute_trial(spec.trial, trial_ctx, Path(tmp))


def _collect(outcome: UnitOutcome, folder: Path) -> dict[str, bytes]:
    """The files the model saved (its ``fitted`` record), to send back to the driver."""
    return {name: (folder / name).read_bytes() for name in outcome.detail(FITTED).get("files", {})}


def execute_unit(spec: UnitSpec, ctx: WorkContext, emit: EventSink) -> UnitResult:
    """Run ``spec``; progress goes to ``emit``; failures come back in the result."""
    started = time.time()
    emit(Event("unit-start", spec.unit, data={"node": ctx.node}))

    def done(**kwargs: Any) -> UnitResult:
        return UnitResult(spec.unit, spec.fingerprint, node=ctx.node, attempt_started=started,
                          attempt_finished=time.time(), **kwargs)

    try:
        if spec.trial is not None:
            return done(record=normalized(_trial(spec, ctx, emit)))
        if ctx.adapter_root is not None and not ctx.ship:
            return done(outcome=_run(spec, ctx, emit, ctx.adapter_root))
        if ctx.adapter_root is not None:
            outcome = _run(spec, ctx, emit, ctx.adapter_root)
            return done(outcome=outcome, saved_files=_collect(outcome, save_dir(spec, ctx.adapter_root)))
        with tempfile.TemporaryDirectory(prefix="clinpred-unit-") as tmp:
            outcome = _run(spec, ctx, emit, Path(tmp))
            return done(outcome=outcome, saved_files=_collect(outcome, save_dir(spec, Path(tmp))))
    except ClinpredError as exc:
        return done(error=str(exc), fatal=isinstance(exc, FATAL_FOR_MODEL))
    except Exception as exc:  # noqa: BLE001 - any other failure fails this unit only (in a worker
        # it must come back as a result, not kill the worker: Ray would retry it as a lost worker)
        return done(error=f"{type(exc).__name__}: {exc}")


__all__ = ["FATAL_FOR_MODEL", "WorkContext", "execute_unit", "save_dir", "unit_work"]
