"""A Hugging Face tokenizer (``tokenizer.json`` + ``tokenizer_config.json``) from GGUF metadata.

Supported: byte-level BPE vocabularies (``tokenizer.ggml.model == "gpt2"``), with the split rule
the family plugins map ``tokenizer.ggml.pre`` to (:mod:`.gguf_formats`), and SentencePiece
vocabularies (model id ``_SPM`` below), rebuilt by transformers' GGUF tokenizer builders in the style the
architecture declares (prefix space by Metaspace, merges ordered by position, or prefix by a
normalizer). Control tokens (type 3) become special added tokens, user-defined tokens (type 4)
plain added tokens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clinpred.core.errors import ModelError
from clinpred.core.weights.gguf_split_rules import SPLIT_RULES

_BPE = "gpt2"  # tokenizer.ggml.model of a byte-level BPE vocabulary
_SPM = "llama"  # tokenizer.ggml.model of a SentencePiece vocabulary (a GGUF format value)

#: ``GGUFArchitecture.sentencepiece`` styles -> the transformers GGUF builder that makes them.
SENTENCEPIECE_STYLES = ("metaspace", "by-position", "prefix-normalizer")

CONTROL, USER_DEFINED = 3, 4


def _pre_tokenizer(rule: str) -> Any:
    from tokenizers import Regex, pre_tokenizers

    digits, split = SPLIT_RULES[rule]
    steps = [pre_tokenizers.Digits(individual_digits=True)] if digits else []
    steps.append(pre_tokenizers.Split(Regex(split), behavior="isolated"))
    steps.append(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False))
    return pre_tokenizers.Sequence(steps)


def _token(md: dict[str, Any], key: str, tokens: list[str]) -> str | None:
    value = md.get(f"tokenizer.ggml.{key}")
    if value is None:
        return None
    index = int(value.item() if hasattr(value, "item") else value)
    return tokens[index] if 0 <= index < len(tokens) else None


def _flag(md: dict[str, Any], key: str, default: bool) -> bool:
    value = md.get(key)
    if value is None:
        return default
    return bool(value.item() if hasattr(value, "item") else value)


def _bpe(md: dict[str, Any], tokens: list[str], rule: str) -> Any:
    from tokenizers import AddedToken, Tokenizer, decoders, models

    vocab: dict[str, int] = {}
    for i, tok in enumerate(tokens):
        vocab.setdefault(tok, i)
    merges = [tuple(m.split(" ", 1)) for m in md.get("tokenizer.ggml.merges") or [] if " " in m]
    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    tk.pre_tokenizer = _pre_tokenizer(rule)
    tk.decoder = decoders.ByteLevel()
    types = _types(md)
    special = [tokens[i] for i, t in enumerate(types) if t == CONTROL and i < len(tokens)]
    user = [tokens[i] for i, t in enumerate(types) if t == USER_DEFINED and i < len(tokens)]
    tk.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special])
    if user:
        tk.add_tokens([AddedToken(t, special=False, normalized=False) for t in user])
    return tk


def _types(md: dict[str, Any]) -> list[int]:
    raw = md.get("tokenizer.ggml.token_type")
    return [int(t) for t in (raw.tolist() if hasattr(raw, "tolist") else raw or [])]


def _sentencepiece(md: dict[str, Any], tokens: list[str], style: str, source: str) -> Any:
    try:
        from transformers.integrations.gguf import gguf_tokenizer_mapping as builders
    except ImportError as exc:
        raise ModelError(
            f"{source}: a SentencePiece GGUF tokenizer needs transformers' GGUF support ({exc}); "
            "pip install 'transformers>=5'"
        ) from None
    scores = md.get("tokenizer.ggml.scores")
    tokenizer_dict = {
        "tokenizer_type": _SPM,
        "tokens": list(tokens),
        "scores": [float(x) for x in (scores.tolist() if hasattr(scores, "tolist") else scores or [])],
        "token_type": _types(md),
    }
    if md.get("tokenizer.ggml.merges"):
        tokenizer_dict["merges"] = list(md["tokenizer.ggml.merges"])
    if not tokenizer_dict["scores"] and "merges" not in tokenizer_dict:
        raise ModelError(f"{source}: the SentencePiece vocabulary has neither scores nor merges; the file is incomplete")
    build = {
        "metaspace": builders.sentencepiece_tokenizer,
        "by-position": builders.gemma_tokenizer,
        "prefix-normalizer": builders.phi3_tokenizer,
    }[style]
    tokenizer = builders.add_gguf_special_tokens(build(tokenizer_dict), tokenizer_dict)
    tk = tokenizer.backend_tokenizer
    if style == "metaspace" and not _flag(md, "tokenizer.ggml.add_space_prefix", True):
        from tokenizers import pre_tokenizers

        tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="never", split=False)
    return tk


def write_tokenizer(
    md: dict[str, Any],
    out: Path,
    *,
    source: str,
    max_length: int | None = None,
    split_rule: Any = None,
    sentencepiece: str = "metaspace",
) -> None:
    """Write ``tokenizer.json`` and ``tokenizer_config.json`` (with the chat template) to ``out``.

    ``split_rule(pre)`` gives the split rule of a byte-level BPE vocabulary's pre-tokenizer name
    (raising :class:`ModelError` for an unknown one); ``sentencepiece`` is the architecture's
    SentencePiece style (:data:`SENTENCEPIECE_STYLES`).
    """
    from tokenizers import processors

    kind = md.get("tokenizer.ggml.model")
    tokens = md.get("tokenizer.ggml.tokens")
    if not isinstance(tokens, list) or not tokens:
        raise ModelError(f"{source}: the GGUF file has no tokenizer vocabulary (tokenizer.ggml.tokens)")
    if kind == _BPE:
        pre = str(md.get("tokenizer.ggml.pre", "default"))
        if split_rule is None:
            from clinpred.core.weights import gguf_formats

            split_rule = gguf_formats.current().split_rule
        tk = _bpe(md, tokens, split_rule(pre, source))
    elif kind == _SPM:
        if sentencepiece not in SENTENCEPIECE_STYLES:
            raise ModelError(f"{source}: unknown SentencePiece style {sentencepiece!r}")
        tk = _sentencepiece(md, tokens, sentencepiece, source)
    else:
        raise ModelError(
            f"{source}: tokenizer type {kind!r} is not supported (supported: {_BPE!r} byte-level BPE, "
            f"{_SPM!r} SentencePiece); convert the model with mlx_lm.convert from its original files instead"
        )
    vocab = tk.get_vocab(with_added_tokens=True)

    bos = _token(md, "bos_token_id", tokens)
    eos = _token(md, "eos_token_id", tokens)
    # llama.cpp adds BOS to a SentencePiece vocabulary whose file does not say otherwise
    add_bos = _flag(md, "tokenizer.ggml.add_bos_token", kind == _SPM) and bos is not None
    if add_bos:
        tk.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, vocab[bos])]
        )
    elif kind == _BPE:
        tk.post_processor = processors.ByteLevel(trim_offsets=False)
    else:
        tk.post_processor = None
    out.mkdir(parents=True, exist_ok=True)
    tk.save(str(out / "tokenizer.json"))

    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": bos,
        "eos_token": eos,
        "unk_token": _token(md, "unknown_token_id", tokens),
        "pad_token": _token(md, "padding_token_id", tokens) or eos,
        "add_bos_token": add_bos,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": max_length or 131072,
    }
    template = md.get("tokenizer.chat_template")
    if isinstance(template, str) and template.strip():
        config["chat_template"] = template
        (out / "chat_template.jinja").write_text(template, encoding="utf-8")
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
