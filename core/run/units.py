"""Units of work as values: a :class:`UnitSpec` in, a :class:`UnitResult` out.

A unit is one baseline or LLM on one split. Its spec holds everything the work needs except
the dataset (shared by reference: one copy per worker) and the family hooks (rebuilt in each
worker from a :class:`WorkerRef`, an importable factory the CLI injects). Specs and results
pickle, so the same unit runs in-process, in a process pool or as a Ray task; the driver alone
writes the run directory from the results.
"""

from __future__ import annotations

import importlib
import json
import os
from typing import Any, Callable

from attrs import define, field, validators

from clinpred.core.data.splits import Split
from clinpred.core.errors import ConfigError
from clinpred.core.run.config import EvaluationConfig
from clinpred.core.run.plan import ModelPlan

KINDS = ("baseline", "llm", "trial")


@define(frozen=True)
class UnitSpec:
    """One (model, split) unit, or one trial of an LLM's nested search on a split (``trial``:
    a :class:`~clinpred.core.llm.search.TrialTask`). ``fingerprint`` is the key ``--resume``
    checks."""

    kind: str = field(validator=validators.in_(KINDS))
    name: str = field(validator=validators.min_len(1))
    split: Split
    index: int = field(validator=validators.ge(0))  # the split's position in the plan
    seed: int = field(validator=validators.ge(0))
    fingerprint: str = field(validator=validators.min_len(1))
    evaluation: EvaluationConfig
    plan: ModelPlan | None = None  # LLM units only
    adapter_split: str | None = None  # adapters/NAME/SPLIT when the run has several splits
    resume: bool = False  # continue a training checkpoint found in the adapter directory
    #: the finished nested search of an LLM unit (its record; ``chosen`` overrides hyperparameters)
    search: dict[str, Any] | None = None
    trial: Any = None  # trial units only

    def __attrs_post_init__(self) -> None:
        if self.kind in ("llm", "trial") and self.plan is None:
            raise ValueError(f"LLM unit {self.unit!r} needs its model plan")
        if (self.kind == "trial") != (self.trial is not None):
            raise ValueError(f"unit {self.name!r}: a trial unit, and only a trial unit, has a trial")

    @property
    def unit(self) -> str:
        """``model/split`` (``model/split/trial-NNN`` for a trial), the name events and
        status.json use."""
        if self.trial is not None:
            return f"{self.model_unit}/trial-{self.trial.spec.number:03d}"
        return self.model_unit

    @property
    def model_unit(self) -> str:
        """``model/split``: the unit itself, or the LLM unit whose search a trial belongs to."""
        return f"{self.name}/{self.split.name}"


@define(frozen=True)
class UnitResult:
    """What a unit produced: ``payload`` is the unit file's JSON (as run_llm_unit and
    run_baseline_unit return it), or ``error`` when it failed (``fatal``: the model's other
    splits would fail the same way). ``adapter_files`` carries the adapter (relative path ->
    bytes) when the worker did not write into the run directory itself."""

    unit: str
    fingerprint: str
    payload: dict[str, Any] | None = None
    error: str | None = None
    fatal: bool = False
    adapter_files: dict[str, bytes] = field(factory=dict)
    node: str = ""
    attempt_started: float | None = None  # wall clock on the worker (status only, never metrics)
    attempt_finished: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.payload is not None


def jsonable(value: Any) -> Any:
    """numpy arrays -> lists, enums -> values, anything else -> str (for unit payloads)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "value"):  # enums
        return value.value
    return str(value)


def normalized(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload exactly as it reads back from its unit file (so every executor aggregates
    the same values, fresh or resumed)."""
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
    """How a worker rebuilds what cannot travel by value: the family hooks (``hooks`` =
    "module:function" called with ``hooks_kwargs``, e.g. the plugin registry with the driver's
    plugin paths) and the model loader (``loader`` = "module:function" taking a ModelPlan).
    ``env`` is the driver's plugin/BLAS environment, applied before either is built."""

    hooks: str
    loader: str
    hooks_kwargs: dict[str, Any] = field(factory=dict)
    env: dict[str, str] = field(factory=dict)

    @classmethod
    def capture(cls, hooks: str, loader: str, **hooks_kwargs: Any) -> "WorkerRef":
        env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        return cls(hooks, loader, hooks_kwargs, env)

    def apply_env(self) -> None:
        for key in FORWARDED_ENV:
            if key in self.env:
                os.environ[key] = self.env[key]
            else:
                os.environ.pop(key, None)

    def build(self) -> tuple[Any, Callable[[ModelPlan], Any]]:
        """(hooks, load_model) in this process."""
        self.apply_env()
        return _resolve(self.hooks)(**self.hooks_kwargs), _resolve(self.loader)
