"""What a nested hyperparameter search explores (value types; no optuna import).

A :class:`SearchConfig` holds the searched parameters (:class:`ParamSpec`: a numeric range or a
list of choices, keys as in model_configs.toml), the number of trials, the sampler, the objective
and the pruning rule. the run stage (`run/search_config.py`) reads it from TOML;
:mod:`clinpred.core.llm.search` runs it.
"""

from __future__ import annotations

import math
from typing import Any

from attrs import define, field

# the hyperparameters a search may vary (model_configs.toml keys) and the integer ones come from
# the LoRA hyperparameters' declaration
from clinpred.core import bounds as B
from clinpred.core.llm.lora_params import INTEGER, SEARCHABLE

#: searched on a log scale unless the range says otherwise
LOG_BY_DEFAULT = ("learning_rate",)
SAMPLERS = ("tpe", "random", "grid")
OBJECTIVES = {"val_auroc": "maximize", "val_loss": "minimize"}
PRUNERS = ("median", "none")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@define(frozen=True)
class ParamSpec:
    """One searched hyperparameter: ``choices``, or a range ``low``..``high`` (``log``: log-uniform)."""

    name: str = field()
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = field(default=None, converter=lambda v: None if v is None else tuple(v))

    @name.validator
    def _known(self, attribute: Any, value: str) -> None:
        if value not in SEARCHABLE:
            raise ValueError(f"{value!r} cannot be searched; searchable: {', '.join(SEARCHABLE)}")

    def __attrs_post_init__(self) -> None:
        if self.choices is not None:
            if not self.choices:
                raise ValueError(f"{self.name}: the choice list is empty; give at least one value")
            if self.low is not None or self.high is not None:
                raise ValueError(f"{self.name}: give choices or a low/high range, not both")
            return
        if not (_number(self.low) and _number(self.high)):
            raise ValueError(f"{self.name}: a range needs numeric low and high, e.g. {{ low = 1e-5, high = 1e-3 }}")
        if self.low > self.high:
            raise ValueError(f"{self.name}: low = {self.low!r} is above high = {self.high!r}")
        if self.log and self.low <= 0:
            raise ValueError(f"{self.name}: a log-uniform range needs low > 0 (got {self.low!r})")
        if self.name in INTEGER and not (float(self.low).is_integer() and float(self.high).is_integer()):
            raise ValueError(f"{self.name}: an integer range needs whole-number bounds")

    @property
    def values(self) -> tuple[Any, ...]:
        """The candidate values (choices only; for the grid sampler)."""
        if self.choices is None:
            raise ValueError(f"{self.name}: the grid sampler needs a choice list, not a range")
        return self.choices

    def to_dict(self) -> dict[str, Any]:
        if self.choices is not None:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log}


@define(frozen=True)
class SearchConfig:
    """A nested search: ``n_trials`` trials of ``params`` by ``sampler``, judged by ``objective``
    on an inner validation part (``inner_val_fraction`` of each outer training part)."""

    params: tuple[ParamSpec, ...] = field(converter=tuple)
    n_trials: int = 8
    sampler: str = "tpe"
    objective: str = "val_auroc"
    pruner: str = "median"
    #: trials judged before the pruner may stop a trial
    pruner_startup_trials: int = 2
    inner_val_fraction: float = 0.2
    enabled: bool = False
    #: trials of one split asked at once (and run side by side on a parallel executor); 1 = each
    #: trial knows every earlier result
    parallel_trials: int = 1

    def __attrs_post_init__(self) -> None:
        if not self.params:
            raise ValueError("no parameter to search; give e.g. learning_rate = { low = 1e-5, high = 1e-3 }")
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError("a parameter is searched twice")
        if "num_iters" in names and "epochs" in names:
            raise ValueError("search num_iters or epochs, not both")
        for key, bound in (("n_trials", B.SEARCH_TRIALS), ("parallel_trials", B.PARALLEL_TRIALS),
                           ("pruner_startup_trials", B.PRUNER_STARTUP_TRIALS)):
            value = getattr(self, key)
            if not (isinstance(value, int) and bound(value)):
                raise ValueError(f"{key} = {value!r} is impossible; it must be a whole number {bound.meaning}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler = {self.sampler!r} is unknown; choose {', '.join(SAMPLERS)}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective = {self.objective!r} is unknown; choose {', '.join(OBJECTIVES)}")
        if self.pruner not in PRUNERS:
            raise ValueError(f"pruner = {self.pruner!r} is unknown; choose {', '.join(PRUNERS)}")
        if not (_number(self.inner_val_fraction) and 0 < self.inner_val_fraction < 0.5):
            raise ValueError(f"inner_val_fraction = {self.inner_val_fraction!r} is impossible; it must be in (0, 0.5)")
        if self.sampler == "grid":
            for p in self.params:
                p.values  # noqa: B018 - raises for a range

    @property
    def direction(self) -> str:
        return OBJECTIVES[self.objective]

    @property
    def grid_size(self) -> int | None:
        if self.sampler != "grid":
            return None
        return math.prod(len(p.values) for p in self.params)

    @property
    def trials(self) -> int:
        """Trials to run: ``n_trials``, at most the grid's size."""
        size = self.grid_size
        return self.n_trials if size is None else min(self.n_trials, size)

    def to_dict(self) -> dict[str, Any]:
        """A JSON form (also the search's fingerprint input)."""
        out = {"params": {p.name: p.to_dict() for p in self.params}, "n_trials": self.n_trials,
               "sampler": self.sampler, "objective": self.objective, "pruner": self.pruner,
               "pruner_startup_trials": self.pruner_startup_trials,
               "inner_val_fraction": self.inner_val_fraction}
        if self.parallel_trials != 1:  # absent at 1: searches from before the setting keep their fingerprints
            out["parallel_trials"] = self.parallel_trials
        return out
