"""Which llama.cpp GGUF files the engine can convert: data the family plugins declare.

A family plugin lists the GGUF architectures (:class:`~clinpred.core.values.GGUFArchitecture`)
and the llama.cpp pre-tokenizer names (``tokenizer.ggml.pre``) its models use; the registry merges
them into one :class:`GGUFFormats` and installs it (:func:`install`) so conversions started from
anywhere (``models import``, ``models pull``, a run's first use of a catalog model) see the same
table. The engine itself names no architecture and no pre-tokenizer of a model family.
"""

from __future__ import annotations

from typing import Any, Iterable

from attrs import define, field

from clinpred.core.errors import ModelError
from clinpred.core.weights.gguf_split_rules import BASE_PRE_TOKENIZERS, SPLIT_RULES
from clinpred.core.values import FamilySpec, GGUFArchitecture


def _dict(value: Any) -> dict:
    return dict(value or {})


@define(frozen=True)
class GGUFFormats:
    """GGUF architecture id -> how to convert it; pre-tokenizer name -> split rule name."""

    architectures: dict[str, GGUFArchitecture] = field(factory=dict, converter=_dict)
    pre_tokenizers: dict[str, str] = field(factory=dict, converter=_dict)
    #: Which families declared each architecture / pre-tokenizer (for messages).
    declared_by: dict[str, tuple[str, ...]] = field(factory=dict, converter=_dict)
    #: Who the table is for, in messages (e.g. "family 'llama'"); empty for all families.
    scope: str = ""

    def _for(self) -> str:
        return f" for {self.scope}" if self.scope else ""

    def architecture(self, arch: Any, source: str) -> GGUFArchitecture:
        spec = self.architectures.get(arch) if isinstance(arch, str) else None
        if spec is None:
            known = ", ".join(sorted(self.architectures)) or "none: no family plugin declares one"
            raise ModelError(
                f"{source}: GGUF architecture {arch!r} is not supported{self._for()} (supported: {known}); "
                "a family plugin can declare it (FamilySpec.gguf_architectures)"
            )
        return spec

    def split_rule(self, pre: str, source: str) -> str:
        rule = self.pre_tokenizers.get(pre, BASE_PRE_TOKENIZERS.get(pre))
        if rule is None:
            known = sorted({*self.pre_tokenizers, *BASE_PRE_TOKENIZERS})
            raise ModelError(
                f"{source}: llama.cpp pre-tokenizer {pre!r} is not supported{self._for()} (supported: {', '.join(known)}); "
                "a family plugin can declare it (FamilySpec.gguf_pre_tokenizers)"
            )
        if rule not in SPLIT_RULES:
            who = ", ".join(self.declared_by.get(pre, ())) or "a plugin"
            raise ModelError(
                f"{source}: family {who} maps pre-tokenizer {pre!r} to split rule {rule!r}, which does not "
                f"exist (known: {', '.join(sorted(SPLIT_RULES))}); fix the plugin"
            )
        return rule


def from_families(families: Iterable[FamilySpec], scope: str = "") -> GGUFFormats:
    """Merge the families' declarations (the first family to declare a name wins)."""
    archs: dict[str, GGUFArchitecture] = {}
    pres: dict[str, str] = {}
    by: dict[str, list[str]] = {}
    for spec in families:
        for arch in spec.gguf_architectures:
            archs.setdefault(arch.name, arch)
            by.setdefault(arch.name, []).append(spec.name)
        for pre, rule in spec.gguf_pre_tokenizers.items():
            pres.setdefault(pre, rule)
            by.setdefault(pre, []).append(spec.name)
    return GGUFFormats(archs, pres, {k: tuple(v) for k, v in by.items()}, scope)


_INSTALLED: list[GGUFFormats] = [GGUFFormats()]


def install(formats: GGUFFormats) -> None:
    """Make ``formats`` the table conversions use when they are given none."""
    _INSTALLED[0] = formats


def current() -> GGUFFormats:
    """The installed table (empty until a registry installs one)."""
    return _INSTALLED[0]


__all__ = ["GGUFFormats", "current", "from_families", "install"]
