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
class GGUFChunks:
    """A GGUF file split across several wheels on PyPI: the concatenation of each part's member.

    ``sha256`` and ``size`` are those of the assembled file.
    """

    name: str = field(validator=validators.instance_of(str))  # file name of the assembled .gguf
    sha256: str = field(validator=validators.matches_re(_SHA256))
    parts: tuple[GGUFWheel, ...] = field(converter=tuple, validator=validators.min_len(1))
    size: int | None = field(default=None)


@define(frozen=True)
class GGUFArchitecture:
    """How a GGUF architecture id (``general.architecture``) maps onto an mlx-lm model.

    Declared by the family plugins that use it, so the engine never names an architecture.
    ``tensor_names`` adds to or overrides the plain decoder's per-layer tensor names (GGUF name
    without ``blk.N.`` -> mlx-lm name without ``model.layers.N.``; an empty value drops it).
    ``config_keys`` copies more metadata into ``config.json`` (GGUF key without the
    architecture prefix -> mlx-lm config key). ``permuted_qk``: llama.cpp stored the q/k
    projections permuted for interleaved rotary embeddings. ``norm_offset`` is added to every
    norm weight (llama.cpp stores Gemma's as ``1 + w``; mlx-lm adds the 1 itself: -1.0).
    """

    name: str = field(validator=validators.instance_of(str))
    model_type: str = field(validator=validators.instance_of(str))
    tensor_names: dict[str, str] = field(factory=dict, converter=_frozen_dict, hash=False)
    config_keys: dict[str, str] = field(factory=dict, converter=_frozen_dict, hash=False)
    config: dict[str, Any] = field(factory=dict, converter=_frozen_dict, hash=False)
    permuted_qk: bool = False
    norm_offset: float = 0.0
    #: How a SentencePiece vocabulary of this architecture is rebuilt: "metaspace" (prefix space,
    #: merges by score), "by-position" (no prefix space, merges in vocabulary order) or
    #: "prefix-normalizer" (prefix space added by a normalizer).
    sentencepiece: str = field(
        default="metaspace", validator=validators.in_(("metaspace", "by-position", "prefix-normalizer"))
    )


@define(frozen=True)
class CatalogEntry:
    """A model a family can fetch by itself: ``clinpred models pull NAME``.

    Exactly one source: ``hub_id`` (a Hugging Face repository, loaded by mlx-lm), ``gguf_wheel``
    or ``gguf_chunks`` (converted into an MLX model directory in clinpred's cache).
    """

    name: str = field(validator=_slug)
    description: str = ""
    hub_id: str | None = None
    gguf_wheel: GGUFWheel | None = None
    license: str = ""
    hyperparameters: dict[str, Any] = field(factory=dict, converter=_frozen_dict, hash=False)
    gguf_chunks: GGUFChunks | None = None

    def __attrs_post_init__(self) -> None:
        given = [x for x in (self.hub_id, self.gguf_wheel, self.gguf_chunks) if x is not None]
        if len(given) != 1:
            raise ValueError(f"catalog entry {self.name!r}: give exactly one of hub_id, gguf_wheel or gguf_chunks")

    @property
    def gguf_sha256(self) -> str | None:
        """The sha256 of the entry's GGUF file (None for a hub model)."""
        source = self.gguf_wheel or self.gguf_chunks
        return source.sha256 if source is not None else None


#: The gate activations clinpred's CPU kernels fuse (``GatedMLP.activation``).
GATE_ACTIVATIONS = ("silu", "gelu_tanh")


@define(frozen=True)
class GatedMLP:
    """An mlx-lm MLP class that computes ``down_proj(act(gate_proj(x)) * up_proj(x))`` inline
    (rather than through ``activations.swiglu``, which the engine replaces for every model).

    Declared by the family plugins whose architectures use one, so the engine never names an
    architecture: on x86 CPUs its ``__call__`` is routed through the fused gate kernel.
    ``module`` is the mlx-lm module (``mlx_lm.models.gemma3_text``), ``cls`` the class in it,
    ``activation`` one of :data:`GATE_ACTIVATIONS` (``gelu_tanh``: ``nn.gelu_approx``).
    """

    module: str = field(validator=validators.matches_re(r"mlx_lm\.models\.[A-Za-z0-9_]+"))
    cls: str = field(validator=validators.matches_re(r"[A-Za-z_][A-Za-z0-9_]*"))
    activation: str = field(validator=validators.in_(GATE_ACTIVATIONS))


#: Where a family's few-shot examples go (``FamilySpec.few_shot``).
FEW_SHOT_PLACEMENTS = ("turns", "one-message")


@define(frozen=True)
class FamilySpec:
    """What a family plugin declares through ``clinpred_register_families``.

    ``model_patterns`` are case-insensitive regular expressions searched in a model id (e.g.
    ``r"olmo"`` matches ``mlx-community/OLMo-2-1124-7B-Instruct-4bit``) to infer the family of a model the user
    names by id. ``hyperparameters`` are the family's defaults (keys as in model_configs.toml).
    ``gguf_architectures`` and ``gguf_pre_tokenizers`` say which llama.cpp files of the family
    the engine can convert.
    """

    name: str = field(validator=_slug)
    description: str = ""
    aliases: tuple[str, ...] = field(default=(), converter=tuple, validator=_slugs)
    model_patterns: tuple[str, ...] = field(default=(), converter=tuple, validator=_regexes)
    default_model: str | None = None
    hyperparameters: dict[str, Any] = field(factory=dict, converter=_frozen_dict, hash=False)
    catalog: tuple[CatalogEntry, ...] = field(default=(), converter=tuple)
    #: GGUF architectures the family's models use (``clinpred models import`` converts them).
    gguf_architectures: tuple[GGUFArchitecture, ...] = field(
        default=(), converter=tuple, validator=validators.deep_iterable(validators.instance_of(GGUFArchitecture))
    )
    #: llama.cpp pre-tokenizer names (``tokenizer.ggml.pre``) -> the split rule they mean (one
    #: of :data:`clinpred.core.weights.gguf_split_rules.SPLIT_RULES`).
    gguf_pre_tokenizers: dict[str, str] = field(factory=dict, converter=_frozen_dict, hash=False)
    #: Where few-shot examples go: ``"turns"`` (earlier user/assistant turns of the chat, the
    #: default) or ``"one-message"`` (all in the final user message, for formats without
    #: multi-turn chat).
    few_shot: str = field(default="turns", validator=validators.in_(FEW_SHOT_PLACEMENTS))
    #: mlx-lm MLP classes of the family's architectures that compute their gate inline (the CPU
    #: kernels replace their ``__call__``; see :class:`GatedMLP`).
    gated_mlps: tuple[GatedMLP, ...] = field(
        default=(), converter=tuple, validator=validators.deep_iterable(validators.instance_of(GatedMLP))
    )

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
    SENTENCES = "sentences"  # TabLLM's "The feature is value unit."


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
class Shot:
    """One worked example of a few-shot prompt: a patient's user text and its answer word."""

    user: str = field(validator=validators.min_len(1))
    answer: str = field(validator=validators.min_len(1))


@define(frozen=True)
class Prompt:
    """A chat prompt before any template: an optional system text and the user text.

    ``shots`` are worked examples placed before the user text as earlier turns of the chat (a
    user turn and the assistant's answer each), in order; a family whose format does not take
    earlier turns declares ``FamilySpec.few_shot = "one-message"`` and gets the examples inside
    the user text instead (:mod:`clinpred.core.llm.few_shot`).
    """

    user: str = field(validator=validators.min_len(1))
    system: str | None = None
    shots: tuple[Shot, ...] = field(default=(), converter=tuple,
                                    validator=validators.deep_iterable(validators.instance_of(Shot)))


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
