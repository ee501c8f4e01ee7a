"""Hyperparameters declared once: an attrs class per model adapter, one field per TOML key.

A field made with :func:`param` carries its type, its bound or choices and one line of help in
its metadata. The config parser, the command line's bounds, the search space and
``clinpred models adapters`` all read that one declaration (:func:`declared`), so a value is
refused by the same rule, with the same message, wherever it comes from::

    @define(frozen=True)
    class ForestParams:
        n_estimators: int = param(300, kind=int, bound=Bound(1, 100_000), help="trees in the forest")

``check_params(ForestParams, {"n_estimators": 0}, "model_configs.toml [baselines.forest]")`` raises
``ConfigError: ... n_estimators = 0 is impossible; it must be between 1 and 100000``.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import attrs
from attrs import define, field

from clinpred.core.bounds import Bound
from clinpred.core.errors import ConfigError
from clinpred.core.tomlfile import check_keys, expect_type

_META = "clinpred.param"
_KINDS = (int, float, bool, str)


@define(frozen=True)
class ParamInfo:
    """One declared hyperparameter: its TOML ``name``, value ``kind`` (``float`` accepts ints),
    ``default`` (None: unset, the adapter decides), ``bound`` or ``choices``, ``help``, and
    whether a nested search may vary it (``searchable``)."""

    name: str
    kind: type = field(validator=attrs.validators.in_(_KINDS))
    default: Any
    help: str
    bound: Bound | None = None
    choices: tuple[Any, ...] | None = None
    searchable: bool = False

    @property
    def meaning(self) -> str:
        """The allowed values in words (as error messages and ``--help`` show them)."""
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        if self.bound is not None:
            return self.bound.meaning
        return {bool: "true or false", str: "a string"}.get(self.kind, "a finite number")

    def check(self, value: Any, where: str) -> Any:
        """``value`` if allowed, else one :class:`ConfigError` line naming the key and the rule."""
        if value is None and self.default is None:
            return value
        expect_type(value, (int, float) if self.kind is float else self.kind, where, self.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where}: {self.name} = {value!r} is impossible; it must be {self.meaning}")
        ok = (self.choices is None or value in self.choices) and (self.bound is None or self.bound(value))
        if not ok:
            raise ConfigError(f"{where}: {self.name} = {value!r} is impossible; it must be {self.meaning}")
        return value

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.kind.__name__, "default": self.default, "allowed": self.meaning,
                "help": self.help, "searchable": self.searchable}


def _validate(instance: Any, attribute: Any, value: Any) -> None:
    attribute.metadata[_META].check(value, type(instance).__name__)


def param(default: Any, *, kind: type, help: str, bound: Bound | None = None,
          choices: Iterable[Any] | None = None, searchable: bool = False) -> Any:
    """An attrs field declaring one hyperparameter (see the module docstring)."""
    info = ParamInfo("", kind, default, help, bound, tuple(choices) if choices is not None else None, searchable)
    return field(default=default, validator=_validate, metadata={_META: info})


def declared(cls: type) -> dict[str, ParamInfo]:
    """Every hyperparameter ``cls`` declares, by TOML name, in declaration order."""
    out = {}
    for attribute in attrs.fields(cls):
        info = attribute.metadata.get(_META)
        if info is None:
            raise TypeError(f"{cls.__name__}.{attribute.name} is not declared with clinpred's param()")
        out[attribute.name] = attrs.evolve(info, name=attribute.name)
    return out


def check_params(cls: type, values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate ``values`` (TOML keys of ``cls``): unknown keys (with a "did you mean"), types,
    bounds and choices; one :class:`ConfigError` line per problem. Returns them as a dict."""
    infos = declared(cls)
    check_keys(values, infos, where)
    return {key: infos[key].check(value, where) for key, value in values.items()}


def build_params(cls: type, values: Mapping[str, Any], where: str) -> Any:
    """An instance of ``cls`` from TOML ``values`` (unset keys keep their declared defaults)."""
    return cls(**check_params(cls, values, where))


def params_dict(instance: Any) -> dict[str, Any]:
    """Every hyperparameter of ``instance`` (defaults included), by TOML name."""
    return attrs.asdict(instance)


@define(frozen=True)
class NoParams:
    """The hyperparameters of an adapter that has none."""


__all__ = ["NoParams", "ParamInfo", "build_params", "check_params", "declared", "param", "params_dict"]
