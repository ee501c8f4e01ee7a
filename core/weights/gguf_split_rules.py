"""Pre-tokenizer split rules of byte-level BPE vocabularies, as llama.cpp applies them.

llama.cpp names the split rule of a GGUF's vocabulary in ``tokenizer.ggml.pre`` (its own names,
mostly one per model family: see ``llama-vocab.cpp``). The engine knows the rules under neutral
names; the family plugins map llama.cpp's names onto them (``FamilySpec.gguf_pre_tokenizers``).
"""

from __future__ import annotations

_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_CL100K = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_CL100K_DIGIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_O200K = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_TEKKEN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

#: split rule name -> (split every digit first?, split regex).
SPLIT_RULES: dict[str, tuple[bool, str]] = {
    "gpt2": (False, _GPT2),  # GPT-2's rule
    "gpt2-digits": (True, _GPT2),  # GPT-2's rule after splitting every digit (StarCoder-style)
    "cl100k": (False, _CL100K),  # tiktoken cl100k: numbers in groups of up to 3 digits
    "cl100k-digit": (False, _CL100K_DIGIT),  # the same with single digits
    "o200k": (False, _O200K),  # tiktoken o200k (case-aware words)
    "tekken": (False, _TEKKEN),  # tiktoken-based "tekken" (case-aware words, single digits)
}

#: llama.cpp's names that belong to no model family.
BASE_PRE_TOKENIZERS: dict[str, str] = {"default": "gpt2", "gpt-2": "gpt2"}

__all__ = ["BASE_PRE_TOKENIZERS", "SPLIT_RULES"]
