"""Tokenization helpers shared by rendering checks, training and scoring.

A tokenizer here is a Hugging Face tokenizer or mlx-lm's ``TokenizerWrapper`` around one.
"""

from __future__ import annotations

from typing import Any


def hf_tokenizer(tokenizer: Any) -> Any:
    """The Hugging Face tokenizer inside mlx-lm's wrapper (or the tokenizer itself).

    A Hugging Face fast tokenizer also has a ``_tokenizer`` (its Rust backend, which has no
    ``apply_chat_template``): that one is not unwrapped.
    """
    inner = getattr(tokenizer, "_tokenizer", None)
    return inner if hasattr(inner, "apply_chat_template") else tokenizer


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text``, adding BOS only when the text does not already start with it.

    Chat templates usually write the BOS token into the text; encoding that text with special
    tokens on would double it.
    """
    tok = hf_tokenizer(tokenizer)
    bos = getattr(tok, "bos_token", None)
    add_special = not (bos and text.startswith(bos))
    return list(tok.encode(text, add_special_tokens=add_special))


def decode(tokenizer: Any, ids: list[int]) -> str:
    """Text of ``ids`` with special tokens kept (so templates can be inspected exactly)."""
    return hf_tokenizer(tokenizer).decode(list(ids), skip_special_tokens=False)
