"""``[search]`` and ``[models.search]`` tables -> validated :class:`SearchConfig` per model.

```toml
[search]                       # defaults for every model
enabled = false                # or `clinpred run --search`
n_trials = 8                   # `--trials N`
sampler = "tpe"                # tpe | random | grid (grid: every parameter a choice list)
objective = "val_auroc"        # val_auroc (maximized) | val_loss (answer loss, minimized)
pruner = "median"              # median (stop a trial below the median curve) | none
inner_val_fraction = 0.2       # inner validation part carved from each outer training part
parallel_trials = 1            # trials of one split asked (and run) at once; 1 = each sees every earlier result
learning_rate = { low = 1e-5, high = 1e-3 }   # a range (log-uniform for learning_rate)
lora_rank = [4, 8, 16]         # a choice list
# objective = ["answer-token", "label"]   # a list: the training objectives to search (a string: the search's objective)

[[models]]
name = "my-model"
...
[models.search]                # this model only: settings merge over [search]
num_iters = { low = 50, high = 200 }
```

A table that names any parameter replaces the inherited parameters as a whole (so a model can
search fewer of them); the other keys merge one by one. Every bound and choice must be a valid
value of its hyperparameter (the same rules as the model keys); every problem is one
:class:`ConfigError` line.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from attrs import define, evolve, field

from clinpred.core.errors import ConfigError
from clinpred.core.llm.search_space import LOG_BY_DEFAULT, SEARCHABLE, ParamSpec, SearchConfig
from clinpred.core.tomlfile import check_keys, expect_type

#: validates {key: value} for ``where`` (the searched hyperparameters' own declaration by default)
Checker = Callable[[Mapping[str, Any], str], Any]


def check_lora(values: Mapping[str, Any], where: str) -> Any:
    """Search bounds and choices follow the LoRA hyperparameters' rules (the search trains LoRA)."""
    from clinpred.core.llm.lora_params import LoraParams
    from clinpred.core.params import check_params

    return check_params(LoraParams, values, where)
SETTINGS = ("enabled", "n_trials", "sampler", "objective", "pruner", "pruner_startup_trials", "inner_val_fraction",
            "parallel_trials")
#: what `clinpred run --search` explores when the config names no parameter
DEFAULT_PARAMS: dict[str, Any] = {"learning_rate": {"low": 1e-5, "high": 1e-3}, "lora_rank": [4, 8, 16]}


@define(frozen=True)
class SearchSettings:
    """The resolved search of every configured model, and the one for models not configured."""

    default: SearchConfig
    models: dict[str, SearchConfig] = field(factory=dict, hash=False)

    def for_model(self, name: str) -> SearchConfig:
        return self.models.get(name, self.default)

    def with_command_line(self, *, enable: bool, trials: int | None) -> "SearchSettings":
        """``--search`` turns every model's search on; ``--trials N`` sets its trial count."""
        def apply(cfg: SearchConfig) -> SearchConfig:
            changes: dict[str, Any] = {}
            if enable:
                changes["enabled"] = True
            if trials is not None:
                changes["n_trials"] = trials
            return evolve(cfg, **changes) if changes else cfg
        return SearchSettings(apply(self.default), {k: apply(v) for k, v in self.models.items()})


def _param(name: str, value: Any, where: str, check_hyperparameters: Checker) -> ParamSpec:
    try:
        return _spec(name, value, where, check_hyperparameters)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _spec(name: str, value: Any, where: str, check_hyperparameters: Checker) -> ParamSpec:
    if isinstance(value, list):
        for v in value:
            check_hyperparameters({name: v}, f"{where} {name} choice")
        return ParamSpec(name, choices=tuple(value))
    if isinstance(value, dict):
        check_keys(value, ("low", "high", "log"), f"{where} {name}")
        for bound in ("low", "high"):
            if bound not in value:
                raise ConfigError(f"{where}: {name} needs {bound}, e.g. {name} = {{ low = ..., high = ... }}")
            check_hyperparameters({name: value[bound]}, f"{where} {name}.{bound}")
        log = value.get("log", name in LOG_BY_DEFAULT)
        expect_type(log, bool, f"{where} {name}", "log")
        return ParamSpec(name, low=value["low"], high=value["high"], log=log)
    raise ConfigError(f"{where}: {name} must be a choice list like [4, 8, 16] or a range like "
                      f"{{ low = 1e-5, high = 1e-3 }} (got {value!r})")


def searched(key: str, value: Any) -> bool:
    """A key of a search table names a searched hyperparameter (else a search setting). ``objective``
    is both: a string is the search's objective (``"val_auroc"``), a list the training objectives
    to search (``objective = ["answer-token", "label"]``)."""
    return key in SEARCHABLE and not (key in SETTINGS and not isinstance(value, list))


@define(frozen=True)
class _Merged:
    """A search table merged over its parent: its settings and its searched parameters."""

    settings: dict[str, Any]
    params: dict[str, Any]


def _merge(base: _Merged, table: Mapping[str, Any], where: str) -> _Merged:
    expect_type(table, dict, where, "search table")
    check_keys(table, (*SETTINGS, *SEARCHABLE), where)
    given = {k: v for k, v in table.items() if searched(k, v)}
    settings = {**base.settings, **{k: v for k, v in table.items() if not searched(k, v)}}
    return _Merged(settings, given if given else dict(base.params))


def _build(merged: _Merged, where: str, check: Checker) -> SearchConfig:
    settings = merged.settings
    for key, types in (("enabled", bool), ("n_trials", int), ("sampler", str), ("objective", str),
                       ("pruner", str), ("pruner_startup_trials", int), ("inner_val_fraction", (int, float)),
                       ("parallel_trials", int)):
        if key in settings:
            expect_type(settings[key], types, where, key)
    params = [_param(k, v, where, check) for k, v in merged.params.items()]
    try:
        return SearchConfig(params=params, **settings)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def parse_search(data: Mapping[str, Any], source: str, check: Checker = check_lora) -> SearchSettings:
    """The ``[search]`` table of a parsed config and the ``search`` sub-table of each ``[[models]]``;
    ``check`` validates hyperparameter values."""
    top = data.get("search", {})
    where = f"{source} [search]"
    base = _merge(_Merged({}, dict(DEFAULT_PARAMS)), top, where)
    default = _build(base, where, check)
    models: dict[str, SearchConfig] = {}
    for item in data.get("models", []) or []:
        if isinstance(item, dict) and "search" in item and isinstance(item.get("name"), str):
            mwhere = f"{source} model {item['name']!r} [models.search]"
            models[item["name"]] = _build(_merge(base, item["search"], mwhere), mwhere, check)
    return SearchSettings(default, models)
