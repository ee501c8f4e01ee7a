"""A Hugging Face tokenizer (``tokenizer.json`` + ``tokenizer_config.json``) from GGUF metadata.

Supported: byte-level BPE vocabularies (``tokenizer.ggml.model == "gpt2"``), with the
pre-tokenizer split that ``tokenizer.ggml.pre`` names. Control tokens (type 3) become special
added tokens, user-defined tokens (type 4) plain added tokens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clinpred.core.errors import ModelError

_GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_TIKTOKEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
#: ``tokenizer.ggml.pre`` -> (split each digit first?, split regex). As in llama.cpp's vocab.
PRE_TOKENIZERS: dict[str, tuple[bool, str]] = {
    "default": (False, _GPT2_SPLIT),
    "gpt-2": (False, _GPT2_SPLIT),
    "smollm": (True, _GPT2_SPLIT),
    "starcoder": (True, _GPT2_SPLIT),
    "refact": (True, _GPT2_SPLIT),
    "llama-bpe": (False, _TIKTOKEN_SPLIT),
    "llama3": (False, _TIKTOKEN_SPLIT),
    "smaug-bpe": (False, _TIKTOKEN_SPLIT),
    "qwen2": (False, _QWEN_SPLIT),
}

CONTROL, USER_DEFINED = 3, 4


def _pre_tokenizer(pre: str) -> Any:
    from tokenizers import Regex, pre_tokenizers

    digits, split = PRE_TOKENIZERS[pre]
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


def write_tokenizer(md: dict[str, Any], out: Path, *, source: str, max_length: int | None = None) -> None:
    """Write ``tokenizer.json`` and ``tokenizer_config.json`` (with the chat template) to ``out``."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, processors

    kind = md.get("tokenizer.ggml.model")
    tokens = md.get("tokenizer.ggml.tokens")
    if not isinstance(tokens, list) or not tokens:
        raise ModelError(f"{source}: the GGUF file has no tokenizer vocabulary (tokenizer.ggml.tokens)")
    if kind != "gpt2":
        raise ModelError(
            f"{source}: tokenizer type {kind!r} is not supported yet (only byte-level BPE, 'gpt2'); "
            "convert the model with mlx_lm.convert from its original files instead"
        )
    pre = str(md.get("tokenizer.ggml.pre", "default"))
    if pre not in PRE_TOKENIZERS:
        raise ModelError(
            f"{source}: pre-tokenizer {pre!r} is not supported; supported: {', '.join(sorted(PRE_TOKENIZERS))}"
        )
    merges_raw = md.get("tokenizer.ggml.merges") or []
    vocab: dict[str, int] = {}
    for i, tok in enumerate(tokens):
        vocab.setdefault(tok, i)
    merges = [tuple(m.split(" ", 1)) for m in merges_raw if " " in m]
    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    tk.pre_tokenizer = _pre_tokenizer(pre)
    tk.decoder = decoders.ByteLevel()

    raw_types = md.get("tokenizer.ggml.token_type")
    types = [int(t) for t in (raw_types.tolist() if hasattr(raw_types, "tolist") else raw_types or [])]
    special = [tokens[i] for i, t in enumerate(types) if t == CONTROL and i < len(tokens)]
    user = [tokens[i] for i, t in enumerate(types) if t == USER_DEFINED and i < len(tokens)]
    tk.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special])
    if user:
        tk.add_tokens([AddedToken(t, special=False, normalized=False) for t in user])

    bos = _token(md, "bos_token_id", tokens)
    eos = _token(md, "eos_token_id", tokens)
    add_bos = _flag(md, "tokenizer.ggml.add_bos_token", False) and bos is not None
    if add_bos:
        tk.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, vocab[bos])]
        )
    else:
        tk.post_processor = processors.ByteLevel(trim_offsets=False)
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
