"""The plugin manager, the family registry with per-family hook routing, and the model adapters.

A family's operation hooks are called on a subset of the plugins: the plugin that registered
the family, every plugin that registers no family (cross-cutting wrappers and overrides), and
the core defaults (``trylast``). Other family plugins are left out
(``PluginManager.subset_hook_caller``). Model adapters (``clinpred_register_models``) are
collected from every plugin, the built-in baselines and LLM arms included, by name.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import pluggy
from attrs import define, field

from clinpred.core import defaults, hookspecs
from clinpred.core.signals import Terminated
from clinpred.core.errors import (
    ClinpredError,
    FamilyUnavailableError,
    PluginError,
    UnknownFamilyError,
    UnknownModelError,
)
from clinpred.core.models.adapter import ModelAdapter, check_adapter
from clinpred.core.tomlfile import did_you_mean
from clinpred.core.values import (
    CatalogEntry,
    FamilySpec,
    ParsedOutput,
    Prompt,
    Record,
    RenderedChat,
    TaskSpec,
)
from clinpred.registry.loading import (
    Candidate,
    blocked_reason,
    builtin_candidates,
    entry_point_candidates,
    import_time_limit,
    local_candidates,
)


@define
class PluginInfo:
    """What ``clinpred plugins`` shows about one plugin."""

    name: str
    source: str  # core | builtin | entrypoint | local
    origin: str
    version: str | None
    status: str  # loaded | blocked | failed
    error: str | None = None
    hooks: list[str] = field(factory=list)
    families: list[str] = field(factory=list)
    models: list[str] = field(factory=list)  # the model adapters it registered

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "origin": self.origin,
            "status": self.status,
            "error": self.error,
            "hooks": self.hooks,
            "families": self.families,
            "models": self.models,
        }


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Registry:
    """Loaded plugins, the families they registered, and family-routed hook calls."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.pm.register(defaults, name=defaults.PLUGIN_NAME)
        self._infos: dict[str, PluginInfo] = {
            defaults.PLUGIN_NAME: PluginInfo(
                defaults.PLUGIN_NAME, "core", defaults.__name__, None, "loaded",
                hooks=list(hookspecs.FAMILY_HOOKS),
            )
        }
        self._families: dict[str, FamilySpec] = {}
        self._owner: dict[str, str] = {}  # family name -> plugin name
        self._aliases: dict[str, str] = {}  # alias -> family name
        self._callers: dict[tuple[str, str], Any] = {}
        self._adapters: dict[str, ModelAdapter] = {}
        self._adapter_owner: dict[str, str] = {}  # adapter name -> plugin name

    # -- loading -----------------------------------------------------------------------------

    def add(self, candidate: Candidate) -> PluginInfo:
        """Import and register one candidate; failures are recorded, never raised."""
        info = PluginInfo(candidate.name, candidate.source, candidate.origin, candidate.version, "loaded")
        if candidate.name in self._infos:
            info.status, info.error = "failed", f"another plugin is already named {candidate.name!r}"
            self._infos[f"{candidate.name} ({candidate.origin})"] = info
            return info
        self._infos[candidate.name] = info
        reason = blocked_reason(candidate)
        if reason:
            info.status, info.error = "blocked", reason
            return info
        limit = import_time_limit()  # a plugin whose import hangs is a broken plugin, not a hung clinpred
        try:
            with limit:
                plugin = candidate.load()
        except Terminated:  # SIGTERM / SIGHUP of clinpred itself, not the plugin's doing
            raise
        except BaseException as exc:  # noqa: BLE001 - a broken plugin must not break clinpred
            # SystemExit / KeyboardInterrupt raised by the plugin's own code at import are
            # a broken plugin too: it must not end clinpred silently with its exit code.
            info.status, info.error = "failed", f"error importing plugin: {_describe(exc)}"
            return info
        try:
            self.pm.register(plugin, name=candidate.name)
            self.pm.check_pending()
        except Exception as exc:  # noqa: BLE001
            self._unregister(candidate.name)
            info.status, info.error = "failed", f"invalid hooks: {_describe(exc)}"
            return info
        info.hooks = sorted(c.name for c in self.pm.get_hookcallers(plugin) or [])
        try:
            info.families = self._register_families(candidate.name)
        except BaseException as exc:  # noqa: BLE001 - sys.exit() in a hook is a broken plugin too
            self._unregister(candidate.name)
            info.status, info.error = "failed", f"error registering families: {_describe(exc)}"
            return info
        try:
            info.models = self._register_models(candidate.name)
        except BaseException as exc:  # noqa: BLE001
            self._drop_families(candidate.name)
            self._unregister(candidate.name)
            info.families = []
            info.status, info.error = "failed", f"error registering models: {_describe(exc)}"
        return info

    def _drop_families(self, plugin_name: str) -> None:
        for name in [n for n, owner in self._owner.items() if owner == plugin_name]:
            spec = self._families.pop(name)
            del self._owner[name]
            for alias in spec.aliases:
                self._aliases.pop(alias, None)
        self._callers.clear()

    def _register_models(self, plugin_name: str) -> list[str]:
        found: list[ModelAdapter] = []

        def register(adapter: Any) -> None:
            found.append(check_adapter(adapter, plugin_name))

        others = [p for name, p in self.pm.list_name_plugin() if name != plugin_name]
        self.pm.subset_hook_caller("clinpred_register_models", remove_plugins=others)(register=register)
        names: list[str] = []
        for adapter in found:
            holder = self._adapter_owner.get(adapter.name) or (plugin_name if adapter.name in names else None)
            if holder:
                raise PluginError(f"model {adapter.name!r} is already registered by plugin {holder!r}; "
                                  f"plugin {plugin_name!r} cannot register it too")
            names.append(adapter.name)
        for adapter in found:
            self._adapters[adapter.name] = adapter
            self._adapter_owner[adapter.name] = plugin_name
        return names

    def _unregister(self, name: str) -> None:
        if self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)

    def _register_families(self, plugin_name: str) -> list[str]:
        found: list[FamilySpec] = []

        def register(spec: FamilySpec) -> None:
            if not isinstance(spec, FamilySpec):
                raise PluginError(f"register() takes a FamilySpec, got {type(spec).__name__}")
            found.append(spec)

        others = [p for name, p in self.pm.list_name_plugin() if name != plugin_name]
        self.pm.subset_hook_caller("clinpred_register_families", remove_plugins=others)(register=register)
        taken: dict[str, str] = {}
        for spec in found:
            for key in (spec.name, *spec.aliases):
                holder = self._family_holder(key) or taken.get(key)
                if holder:
                    raise PluginError(
                        f"family name {key!r} is already registered by plugin {holder!r}; "
                        f"plugin {plugin_name!r} cannot register it too"
                    )
                taken[key] = plugin_name
        for spec in found:
            self._families[spec.name] = spec
            self._owner[spec.name] = plugin_name
            for alias in spec.aliases:
                self._aliases[alias] = spec.name
        self._callers.clear()
        return [spec.name for spec in found]

    def _family_holder(self, key: str) -> str | None:
        name = self._aliases.get(key, key)
        return self._owner.get(name)

    # -- queries -----------------------------------------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        return list(self._infos.values())

    def failed_plugins(self) -> list[PluginInfo]:
        return [i for i in self._infos.values() if i.status == "failed"]

    def families(self) -> list[FamilySpec]:
        return sorted(self._families.values(), key=lambda s: s.name)

    def plugin_of(self, family: str | FamilySpec) -> str:
        return self._owner[self.family(family).name]

    def family(self, name: str | FamilySpec) -> FamilySpec:
        """The family named ``name`` (or an alias); a clear error when unknown or unavailable."""
        if isinstance(name, FamilySpec):
            return name
        key = name.strip().lower()
        key = self._aliases.get(key, key)
        if key in self._families:
            return self._families[key]
        info = self._infos.get(key) or self._infos.get(key.replace("-", "_"))
        if info is not None and info.status != "loaded":
            what = "failed to load" if info.status == "failed" else "is blocked"
            raise FamilyUnavailableError(
                f"family {name!r} is unavailable: its plugin {info.name!r} {what} ({info.error})"
            )
        known = sorted([*self._families, *self._aliases])
        listing = ", ".join(sorted(self._families)) or "none (no family plugin is loaded)"
        raise UnknownFamilyError(
            f"unknown family {name!r}{did_you_mean(key, known)}; available families: {listing}"
        )

    def infer_family(self, model_id: str) -> FamilySpec | None:
        """The family whose model-id patterns match ``model_id`` (None if none or several)."""
        hits = [spec for spec in self._families.values() if spec.matches(model_id)]
        if len(hits) > 1:  # prefer the longest matching pattern, e.g. a distill over its base family
            import re

            def best(spec: FamilySpec) -> int:
                return max(len(p) for p in spec.model_patterns if re.search(p, model_id, re.I))

            hits.sort(key=best, reverse=True)
            if best(hits[0]) == best(hits[1]):
                return None
        return hits[0] if hits else None

    def catalog(self) -> list[tuple[FamilySpec, CatalogEntry]]:
        return [(spec, entry) for spec in self.families() for entry in spec.catalog]

    # -- model adapters ------------------------------------------------------------------------

    def model_adapters(self) -> list[ModelAdapter]:
        """Every registered model adapter, in registration order (built-ins first)."""
        return list(self._adapters.values())

    def model_plugin(self, name: str) -> str:
        return self._adapter_owner[self.model_adapter(name).name]

    def model_adapter(self, name: str) -> ModelAdapter:
        """The adapter registered as ``name``; a clear error when no loaded plugin has it."""
        if name in self._adapters:
            return self._adapters[name]
        listing = ", ".join(self._adapters) or "none (no model plugin is loaded)"
        raise UnknownModelError(f"unknown model {name!r}{did_you_mean(name, self._adapters)}; "
                                f"registered models: {listing}{self.unloaded_hint()}")

    def unloaded_hint(self) -> str:
        """``"; plugins that did not load: NAME (why), ..."`` when some did not, else ``""``."""
        blocked = [i for i in self._infos.values() if i.status != "loaded" and i.source != "core"]
        if not blocked:
            return ""
        return "; plugins that did not load: " + ", ".join(f"{i.name} ({i.error})" for i in blocked[:3])

    # -- family-routed hook calls ---------------------------------------------------------

    def _caller(self, family: FamilySpec, hook: str) -> Callable[..., Any]:
        key = (family.name, hook)
        if key not in self._callers:
            mine = self._owner[family.name]
            owners = set(self._owner.values()) - {mine}
            others = [self.pm.get_plugin(name) for name in owners]
            self._callers[key] = self.pm.subset_hook_caller(hook, remove_plugins=[p for p in others if p])
        return self._callers[key]

    def _call(self, family: FamilySpec | str, hook: str, expected: type, **kwargs: Any) -> Any:
        spec = self.family(family)
        plugin = self._owner[spec.name]
        try:
            result = self._caller(spec, hook)(family=spec, **kwargs)
        except ClinpredError as exc:
            raise type(exc)(f"plugin {plugin!r}, family {spec.name!r}: {exc}") from exc
        except Exception as exc:
            raise PluginError(
                f"plugin {plugin!r}, family {spec.name!r}: {hook} raised {_describe(exc)}"
            ) from exc
        if not isinstance(result, expected):
            raise PluginError(
                f"plugin {plugin!r}, family {spec.name!r}: {hook} returned "
                f"{type(result).__name__}, expected {expected.__name__}"
            )
        return result

    def format_prompt(self, family: FamilySpec | str, record: Record, task: TaskSpec) -> Prompt:
        return self._call(family, "clinpred_format_prompt", Prompt, record=record, task=task)

    def gguf_formats(self) -> Any:
        """The GGUF architectures and pre-tokenizers the loaded families declare."""
        from clinpred.core.weights.gguf_formats import from_families

        return from_families(self.families())

    def render_chat(self, family: FamilySpec | str, tokenizer: Any, prompt: Prompt, answer: str) -> RenderedChat:
        return self._call(
            family, "clinpred_render_chat", RenderedChat, tokenizer=tokenizer, prompt=prompt, answer=answer
        )

    def parse_output(self, family: FamilySpec | str, text: str, task: TaskSpec) -> ParsedOutput:
        return self._call(family, "clinpred_parse_output", ParsedOutput, text=text, task=task)


def load_registry(
    plugin_paths: Iterable[str] = (),
    *,
    strict: bool = False,
    candidates: Iterable[Candidate] | None = None,
) -> Registry:
    """Load the built-ins, the entry-point plugins and local files into a fresh :class:`Registry`.

    A plugin that fails is recorded with its error and the rest keep working; with ``strict``
    any failure raises :class:`PluginError` naming the plugin.
    """
    registry = Registry()
    if candidates is None:
        candidates = [*builtin_candidates(), *entry_point_candidates(), *local_candidates(tuple(plugin_paths))]
    for candidate in candidates:
        registry.add(candidate)
    if strict:
        failed = registry.failed_plugins()
        if failed:
            first = failed[0]
            raise PluginError(
                f"plugin {first.name!r} ({first.source}: {first.origin}) failed: {first.error}"
                + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else "")
            )
    from clinpred.core.weights import gguf_formats

    gguf_formats.install(registry.gguf_formats())  # conversions started anywhere use this table
    return registry


__all__ = ["PluginInfo", "Registry", "load_registry"]
