"""The seam every model of a comparison goes through: :class:`ModelAdapter`.

A plugin registers adapter objects with the ``clinpred_register_models(register)`` hook (as family
plugins register families). The runner, the executors, aggregation, the report and ``predict``
know models only through this class: an adapter declares its hyperparameters once (an attrs class
of :func:`~clinpred.core.params.param` fields), runs one unit (:meth:`ModelAdapter.run_unit`: fit
on a split's training part, score its validation and test parts) and can load what it saved for
``clinpred predict`` (:meth:`ModelAdapter.load`). What the engine must know about a model is a
typed attribute here, never a name or a kind string::

    class Forest(TabularModel):
        name, description = "forest", "a random forest"
        params = ForestParams
        def estimator(self, params, *, seed, class_weight):
            return RandomForestClassifier(n_estimators=params.n_estimators, random_state=seed)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, Mapping, Protocol

import numpy as np
from attrs import define

from clinpred.core.errors import PluginError, UserError
from clinpred.core.params import NoParams, declared

_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")


class FittedModel(Protocol):
    """A model loaded from a run directory, ready for new patients."""

    def predict_proba(self, dataset: Any) -> np.ndarray:
        """P(yes) of every patient of a validated dataset, in its row order."""


@define
class LoadContext:
    """What :meth:`ModelAdapter.load` gets: the folder it saved (``adapters/NAME[/SPLIT]``, its files
    already checked against the sha256 the run recorded), the unit's ``details``, the model's
    resolved hyperparameters, and for adapters that use an LLM its base model and family hooks."""

    folder: Path
    details: Mapping[str, Any]
    params: Any
    llm: Any = None  # clinpred.core.models.work.LLMSource
    batch_size: int | None = None  # patients scored at once (LLMs), when the user asks for another
    on_progress: Any = None  # (done, total) -> None
    #: the run's own dataset (loaded on demand, its sha256 checked): for a fitted model that refers
    #: to training rows (the few-shot arm's examples)
    run_dataset: Any = None  # () -> Dataset


class ModelAdapter:
    """One kind of model a comparison can hold (subclass it; register an instance).

    Attributes (class-level declarations):

    - ``name``: the registered name (``[run] baselines = ["NAME"]``, ``[[models]] method = "NAME"``);
    - ``kind``: the label in tables and metrics.json (``"baseline"``, ``"llm"``, or your own);
    - ``description``: one line for ``clinpred models adapters``;
    - ``params``: the attrs class of its hyperparameters (TOML keys, bounds and help in one place);
    - ``uses_llm``: it adapts a base LLM: its ``[[models]]`` entries name a model id and family, its
      units get an :class:`~clinpred.core.models.work.LLMSource` and the LLM resources of a cluster;
    - ``resumable``: a unit continues the checkpoint it left in its folder after an interruption;
    - ``searchable``: the nested hyperparameter search (``--search``) applies to it;
    - ``informative``: a candidate for the ``best-on-validation`` reference (a majority-class model is not);
    - ``default_baseline``: run when the config names no ``[run] baselines``;
    - ``default_reference``: the comparison reference when the config names none (if it runs);
    - ``default_method``: (``uses_llm`` adapters) the method of a ``[[models]]`` entry that names none;
    - ``revision``: bump it when what a unit computes changes, so ``--resume`` recomputes older units.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "baseline"
    description: ClassVar[str] = ""
    params: ClassVar[type] = NoParams
    uses_llm: ClassVar[bool] = False
    resumable: ClassVar[bool] = False
    searchable: ClassVar[bool] = False
    informative: ClassVar[bool] = True
    default_baseline: ClassVar[bool] = False
    default_reference: ClassVar[bool] = False
    default_method: ClassVar[bool] = False
    revision: ClassVar[int | None] = None

    def run_unit(self, work: Any) -> Any:
        """Fit on ``work``'s training part, score its validation and test parts, save what it fitted
        into ``work.save_dir``, and return ``work.outcome(...)`` (a
        :class:`~clinpred.core.evaluation.outcome.UnitOutcome`)."""
        raise NotImplementedError(f"model adapter {self.name!r} does not implement run_unit")

    def load(self, context: LoadContext) -> FittedModel:
        """The fitted model saved in ``context.folder`` (for ``clinpred predict``)."""
        raise UserError(f"model {self.name!r} cannot be applied to new patients: its adapter saves nothing")

    def describe(self) -> dict[str, Any]:
        """What ``clinpred models adapters`` shows."""
        return {"name": self.name, "kind": self.kind, "description": self.description, "uses_llm": self.uses_llm,
                "searchable": self.searchable, "default_baseline": self.default_baseline,
                "default_method": self.default_method,
                "hyperparameters": [info.as_dict() for info in declared(self.params).values()]}


def check_adapter(adapter: Any, plugin: str) -> ModelAdapter:
    """``adapter`` if it is a usable :class:`ModelAdapter`, else a :class:`PluginError` naming the plugin."""
    if not isinstance(adapter, ModelAdapter):
        raise PluginError(f"register() takes a ModelAdapter instance, got {type(adapter).__name__}")
    if not isinstance(adapter.name, str) or not _NAME.match(adapter.name):
        raise PluginError(f"model adapter name {adapter.name!r} must be lowercase letters, digits, '-', '_' or '.', "
                          "starting with a letter")
    if not isinstance(adapter.kind, str) or not adapter.kind:
        raise PluginError(f"model adapter {adapter.name!r}: kind must be a non-empty string")
    try:
        declared(adapter.params)
    except (TypeError, Exception) as exc:  # noqa: BLE001 - any broken declaration is the plugin's
        raise PluginError(f"model adapter {adapter.name!r}: its params class is not a clinpred param() "
                          f"declaration ({exc})") from None
    if type(adapter).run_unit is ModelAdapter.run_unit:
        raise PluginError(f"model adapter {adapter.name!r} does not implement run_unit(work)")
    return adapter


__all__ = ["FittedModel", "LoadContext", "ModelAdapter", "check_adapter"]
