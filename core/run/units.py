"""Units of work as values: a :class:`UnitSpec` in, a :class:`UnitResult` out.

A unit is one model (any model adapter: a baseline or an LLM arm) on one split, or one trial of a
model's nested search. Its spec holds everything the work needs except the dataset (shared by
reference: one copy per worker) and the plugins (model adapters and family hooks, rebuilt in each
worker from a :class:`WorkerRef`, an importable registry factory). Specs and results pickle, so
the same unit runs in-process, in a process pool or as a Ray task; the driver alone writes the
run directory from the results.
"""

from __future__ import annotations

import importlib
import json
import os
from typing import Any, Callable

from attrs import define, field, validators

from clinpred.core.data.splits import Split
from clinpred.core.errors import ConfigError
from clinpred.core.evaluation.settings import EvaluationConfig
from clinpred.core.evaluation.outcome import UnitOutcome
from clinpred.core.run.plan import ModelPlan


@define(frozen=True)
class UnitSpec:
    """One (model, split) unit, or one trial of a model's nested search on a split (``trial``:
    a :class:`~clinpred.core.llm.search.TrialTask`). ``fingerprint`` is the key ``--resume`` checks."""

    plan: ModelPlan
    split: Split
    index: int = field(validator=validators.ge(0))  # the split's position in the plan
    seed: int = field(validator=validators.ge(0))
    fingerprint: str = field(validator=validators.min_len(1))
    evaluation: EvaluationConfig
    adapter_split: str | None = None  # adapters/NAME/SPLIT when the run has several splits
    resume: bool = False  # continue a checkpoint found in the model's folder
    #: the finished nested search of the unit (its record; ``chosen`` overrides hyperparameters)
    search: dict[str, Any] | None = None
    trial: Any = None  # trial units only

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def unit(self) -> str:
        """``model/split`` (``model/split/trial-NNN`` for a trial), the name events and
        status.json use."""
        if self.trial is not None:
            return f"{self.model_unit}/trial-{self.trial.spec.number:03d}"
        return self.model_unit

    @property
    def model_unit(self) -> str:
        """``model/split``: the unit itself, or the unit whose search a trial belongs to."""
        return f"{self.name}/{self.split.name}"


@define(frozen=True)
class UnitResult:
    """What a unit produced: its ``outcome`` (a trial: its ``record``), or ``error`` when it failed
    (``fatal``: the model's other splits would fail the same way). ``saved_files`` carries what
    the model saved (relative path -> bytes) when the worker did not write into the run directory
    itself."""

    unit: str
    fingerprint: str
    outcome: UnitOutcome | None = None
    record: dict[str, Any] | None = None
    error: str | None = None
    fatal: bool = False
    saved_files: dict[str, bytes] = field(factory=dict)
    node: str = ""
    attempt_started: float | None = None  # wall clock on the worker (status only, never metrics)
    attempt_finished: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and (self.outcome is not None or self.record is not None)


def jsonable(value: Any) -> Any:
    """numpy arrays -> lists, enums -> values, anything else -> str (for unit records)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "value"):  # enums
        return value.value
    return str(value)


def normalized(payload: dict[str, Any]) -> dict[str, Any]:
    """A record exactly as it reads back from its file (so every executor aggregates the same
    values, fresh or resumed)."""
    return json.loads(json.dumps(payload, default=jsonable))


#: environment variables a worker copies from the driver (set, or unset when the driver has
#: none): plugin allow/deny lists, the BLAS choice and its thread counts. A BLAS sums in another
#: order with another thread count, and Ray sets OMP_NUM_THREADS to a task's CPUs: copying the
#: driver's keeps the numbers byte-identical to a local run.
FORWARDED_ENV = ("CLINPRED_LOAD_PLUGINS", "CLINPRED_DISABLE_PLUGINS", "CLINPRED_NO_BLAS", "CLINPRED_BLAS",
                 "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _resolve(target: str) -> Callable[..., Any]:
    module, _, attr = target.partition(":")
    if not module or not attr:
        raise ConfigError(f"{target!r} is not 'module:function'")
    return getattr(importlib.import_module(module), attr)


@define(frozen=True)
class WorkerRef:
    """How a worker rebuilds the plugins that cannot travel by value: ``registry`` =
    "module:function" called with ``registry_kwargs`` (the plugin registry with the driver's plugin
    paths: model adapters and family hooks). ``env`` is the driver's plugin/BLAS environment,
    applied before it is built."""

    registry: str
    registry_kwargs: dict[str, Any] = field(factory=dict)
    env: dict[str, str] = field(factory=dict)

    @classmethod
    def capture(cls, registry: str, **registry_kwargs: Any) -> "WorkerRef":
        env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        return cls(registry, registry_kwargs, env)

    def apply_env(self) -> None:
        for key in FORWARDED_ENV:
            if key in self.env:
                os.environ[key] = self.env[key]
            else:
                os.environ.pop(key, None)

    def build(self) -> Any:
        """The plugin registry in this process."""
        self.apply_env()
        return _resolve(self.registry)(**self.registry_kwargs)
