"""Which models a run evaluates: one :class:`ModelPlan` per row of the comparison, baselines and
LLM arms alike, each with its model adapter, family (LLM arms) and resolved hyperparameters.

The engine never imports the registry: it receives any object with the :class:`Families` and
model-lookup methods (the CLI and the Python API pass the plugin registry).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol, Sequence

import attrs
from attrs import define, field

from clinpred.core.errors import ConfigError, FamilyUnavailableError, UnknownFamilyError
from clinpred.core.params import build_params, check_params
from clinpred.core.run.config import ModelConfig, RunConfig, default_method, method_adapter
from clinpred.core.values import CatalogEntry, FamilySpec


class Families(Protocol):
    """What planning needs from the plugin registry."""

    def family(self, name: str) -> FamilySpec: ...

    def infer_family(self, model_id: str) -> FamilySpec | None: ...

    def catalog(self) -> list[tuple[FamilySpec, CatalogEntry]]: ...

    def model_adapter(self, name: str) -> Any: ...

    def model_adapters(self) -> list[Any]: ...


@define(frozen=True)
class ModelPlan:
    """One model of a run (a row of the comparison).

    ``adapter`` is the registered model adapter that runs it (a baseline's own name, or an LLM
    arm's method), ``kind`` its table label, ``params`` its typed hyperparameters and
    ``hyperparameters`` the values as resolved from the layers (family, catalog, config, command
    line: what fingerprints and run.json record). LLM arms also have a base ``model_id``, a
    ``family`` and, for catalog models, their ``catalog`` entry. ``unavailable`` holds why a model
    cannot run (its family plugin failed).
    """

    name: str
    adapter: str
    kind: str
    params: Any = None
    hyperparameters: dict[str, Any] = field(factory=dict, hash=False)
    explicit: frozenset[str] = frozenset()  # keys the user set (config or command line)
    uses_llm: bool = False
    model_id: str | None = None
    family: FamilySpec | None = None
    family_name: str | None = None
    catalog: CatalogEntry | None = None
    unavailable: str | None = None


def _safe_name(model_id: str) -> str:
    name = Path(model_id.rstrip("/")).name or model_id
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-").lower() or "model"


def _catalog_entry(families: Families, name: str) -> tuple[FamilySpec, CatalogEntry] | None:
    return next(((s, e) for s, e in families.catalog() if e.name == name), None)


def baseline_plans(config: RunConfig, models: Families, names: Sequence[str] | None = None) -> list[ModelPlan]:
    """The plans of ``names`` (default: the config's baselines), with their ``[baselines.NAME]`` values."""
    out = []
    for name in config.baselines if names is None else names:
        adapter = models.model_adapter(name)
        if adapter.uses_llm:
            raise ConfigError(f"{name!r} is a method of [[models]] entries (it needs a base LLM), not a baseline")
        hyper = dict(config.baseline_hyperparameters.get(name, {}))
        where = f"{config.source} [baselines.{name}]"
        out.append(ModelPlan(name=name, adapter=name, kind=adapter.kind, params=build_params(adapter.params, hyper, where),
                             hyperparameters=hyper, explicit=frozenset(hyper)))
    return out


def _plan(config: ModelConfig, families: Families, overrides: dict[str, Any], family_hint: str | None) -> ModelPlan:
    method = config.method or default_method(families)
    adapter = method_adapter(families, method, f"model {config.name!r}")
    family_name = config.family or family_hint
    entry = _catalog_entry(families, config.model_id)
    try:
        if family_name:
            spec = families.family(family_name)
        elif entry:
            spec = entry[0]
        else:
            spec = families.infer_family(config.model_id)
            if spec is None:
                raise ConfigError(
                    f"model {config.name!r}: cannot tell the family of {config.model_id!r}; "
                    "name it with --family (see `clinpred families`)"
                )
    except FamilyUnavailableError as exc:
        return ModelPlan(config.name, method, adapter.kind, uses_llm=True, model_id=config.model_id,
                         family_name=family_name or "?", unavailable=str(exc))
    keys = _keys(adapter)  # a family's or catalog entry's defaults apply to the methods that declare them
    hyper: dict[str, Any] = {k: v for k, v in spec.hyperparameters.items() if k in keys}
    if entry:
        hyper.update({k: v for k, v in entry[1].hyperparameters.items() if k in keys})
    hyper.update(config.hyperparameters)
    applied = {k: v for k, v in overrides.items() if k in _keys(adapter)}
    hyper.update(applied)
    where = f"model {config.name!r}"
    hyper = check_params(adapter.params, hyper, where)
    return ModelPlan(
        name=config.name, adapter=method, kind=adapter.kind, params=build_params(adapter.params, hyper, where),
        hyperparameters=hyper, explicit=frozenset(config.hyperparameters) | frozenset(applied), uses_llm=True,
        model_id=config.model_id, family=spec, family_name=spec.name, catalog=entry[1] if entry else None,
    )


def _keys(adapter: Any) -> set[str]:
    import attrs

    return set(attrs.fields_dict(adapter.params))


def select_models(
    config: RunConfig,
    families: Families,
    *,
    models: Sequence[str] = (),
    family_names: Sequence[str] = (),
    overrides: dict[str, Any] | None = None,
    methods: Sequence[str] = (),
) -> list[ModelPlan]:
    """Resolve ``--model`` / ``--family`` choices (or the config's defaults) into LLM plans.

    ``--model`` takes a configured name, a catalog name, or a hub id / local path (family from
    ``--family`` or inferred from the id). ``--family`` alone selects the configured models of
    that family. An unknown family is a :class:`UnknownFamilyError` (exit 2); a family whose
    plugin failed only marks its models unavailable. ``overrides`` (e.g. ``--iters``) apply to the
    models whose adapter declares them. ``methods`` (``--method``, repeatable) gives every chosen
    model one row per method (:func:`with_methods`).
    """
    overrides = overrides or {}
    for name in family_names:
        try:
            families.family(name)
        except FamilyUnavailableError:
            pass
    hint = family_names[0] if len(family_names) == 1 else None
    chosen: list[ModelConfig] = []
    if models:
        for ref in models:
            configured = config.model(ref)
            if configured is not None:
                chosen.append(configured)
            elif _catalog_entry(families, ref):
                chosen.append(ModelConfig(name=ref, model_id=ref))
            else:
                chosen.append(ModelConfig(name=_safe_name(ref), model_id=ref, family=hint))
    elif family_names:
        wanted = set()
        for name in family_names:
            try:
                wanted.add(families.family(name).name)
            except FamilyUnavailableError:
                wanted.add(name)
        for m in config.models:
            family = m.family or getattr(families.infer_family(m.model_id), "name", None)
            if family is not None:
                try:
                    family = families.family(family).name
                except (UnknownFamilyError, FamilyUnavailableError):
                    pass
            if family in wanted:
                chosen.append(m)
        if not chosen:
            raise ConfigError(
                f"no configured model belongs to family {', '.join(family_names)}; "
                "add one to the config or name a model with --model"
            )
    else:
        for ref in config.default_models:
            configured = config.model(ref)
            chosen.append(configured or ModelConfig(name=ref, model_id=ref))
    if methods:
        chosen = [row for m in chosen for row in with_methods(m, methods, families)]
    plans = [_plan(m, families, overrides, hint if models else None) for m in chosen]
    seen: set[str] = set()
    for plan in plans:
        if plan.name in seen:
            raise ConfigError(f"model {plan.name!r} is selected twice (a configured name, or a model NAME with "
                              "--method METHOD as NAME-METHOD); give each model once or rename one in the config")
        seen.add(plan.name)
    return plans


def with_methods(model: ModelConfig, methods: Sequence[str], families: Families) -> list[ModelConfig]:
    """``model`` once per method: named as configured for its own method (the default method when it
    names none), ``NAME-METHOD`` otherwise; its configured values go with the methods that declare them."""
    own = model.method or default_method(families)
    out = []
    for method in dict.fromkeys(methods):
        adapter = method_adapter(families, method, f"--method {method}")
        keys = _keys(adapter)
        hyper = {k: v for k, v in model.hyperparameters.items() if k in keys}
        name = model.name if method == own else f"{model.name}-{method}"
        out.append(attrs.evolve(model, name=name, method=method, hyperparameters=hyper))
    return out


def validate_config_families(config: RunConfig, families: Families) -> None:
    """Every configured family must exist (unknown -> exit 2); unavailable ones are allowed."""
    for m in config.models:
        if m.family:
            try:
                families.family(m.family)
            except FamilyUnavailableError:
                continue
            except UnknownFamilyError as exc:
                raise UnknownFamilyError(f"{config.source} model {m.name!r}: {exc}") from None
