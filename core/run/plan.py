"""Which models a run evaluates, with their family and resolved hyperparameters.

The engine never imports the registry: it receives any object with the :class:`Families`
methods (the CLI passes the plugin registry).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol, Sequence

from attrs import define, field

from clinpred.core.run.config import ModelConfig, RunConfig, check_hyperparameters
from clinpred.core.errors import ConfigError, FamilyUnavailableError, UnknownFamilyError
from clinpred.core.values import CatalogEntry, FamilySpec


class Families(Protocol):
    """What planning needs from the plugin registry."""

    def family(self, name: str) -> FamilySpec: ...

    def infer_family(self, model_id: str) -> FamilySpec | None: ...

    def catalog(self) -> list[tuple[FamilySpec, CatalogEntry]]: ...


@define(frozen=True)
class ModelPlan:
    """One model of a run. ``unavailable`` holds why it cannot run (its plugin failed)."""

    name: str
    model_id: str
    family: FamilySpec | None
    family_name: str
    catalog: CatalogEntry | None = None
    hyperparameters: dict[str, Any] = field(factory=dict, hash=False)
    unavailable: str | None = None
    #: hyperparameter keys the user set (config or command line), as opposed to family defaults
    explicit: frozenset[str] = frozenset()


def _safe_name(model_id: str) -> str:
    name = Path(model_id.rstrip("/")).name or model_id
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-").lower() or "model"


def _catalog_entry(families: Families, name: str) -> tuple[FamilySpec, CatalogEntry] | None:
    return next(((s, e) for s, e in families.catalog() if e.name == name), None)


def _plan(config: ModelConfig, families: Families, overrides: dict[str, Any], family_hint: str | None) -> ModelPlan:
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
        return ModelPlan(config.name, config.model_id, None, family_name or "?", unavailable=str(exc))
    hyper: dict[str, Any] = dict(spec.hyperparameters)
    if entry:
        hyper.update(entry[1].hyperparameters)
    hyper.update(config.hyperparameters)
    hyper.update(overrides)
    check_hyperparameters(hyper, f"model {config.name!r}")
    return ModelPlan(
        name=config.name,
        model_id=config.model_id,
        family=spec,
        family_name=spec.name,
        catalog=entry[1] if entry else None,
        hyperparameters=hyper,
        explicit=frozenset(config.hyperparameters) | frozenset(overrides),
    )


def select_models(
    config: RunConfig,
    families: Families,
    *,
    models: Sequence[str] = (),
    family_names: Sequence[str] = (),
    overrides: dict[str, Any] | None = None,
) -> list[ModelPlan]:
    """Resolve ``--model`` / ``--family`` choices (or the config's defaults) into plans.

    ``--model`` takes a configured name, a catalog name, or a hub id / local path (family from
    ``--family`` or inferred from the id). ``--family`` alone selects the configured models of
    that family. An unknown family is a :class:`UnknownFamilyError` (exit 2); a family whose
    plugin failed only marks its models unavailable.
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
    plans = [_plan(m, families, overrides, hint if models else None) for m in chosen]
    seen: set[str] = set()
    for plan in plans:
        if plan.name in seen:
            raise ConfigError(f"model {plan.name!r} is selected twice; give each model once")
        seen.add(plan.name)
    return plans


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
