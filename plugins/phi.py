"""Phi-3 (mini, and Phi-3.5 which shares the format).

Format: ``<|system|>\\n...<|end|>\\n<|user|>\\n...<|end|>\\n<|assistant|>\\n``; stop at ``<|end|>``.
The first Phi-3-mini template (May 2024) has no system branch and silently drops a system
message; when the tokenizer's template has no ``<|system|>`` the system text is folded into the
user turn instead of being lost.
"""

from __future__ import annotations

from typing import Any

from clinpred.api import CatalogEntry, FamilySpec, Prompt, RenderedChat, hookimpl
from clinpred.plugins._gguf import PHI3
from clinpred.plugins._chat import render_family, tokenizer_template
from clinpred.plugins._defaults import study_lora

STOP = ("<|end|>", "<|endoftext|>")

#: The documented Phi-3 format (the July 2024 template), for tokenizers without a template.
FALLBACK_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"
)

HYPERPARAMETERS = study_lora()  # see plugins/_defaults.py

SPEC = FamilySpec(
    name="phi",
    description="Microsoft Phi-3 / Phi-3.5 (<|user|> ... <|end|> format)",
    aliases=("phi3", "phi-3"),
    model_patterns=(r"phi[-_ ]?3",),
    default_model="mlx-community/Phi-3-mini-4k-instruct-4bit",
    hyperparameters=HYPERPARAMETERS,
    catalog=(
        CatalogEntry(
            name="phi-3-mini-4k-instruct",
            description="Phi-3-mini 4k Instruct, MLX 4-bit (the original study)",
            hub_id="mlx-community/Phi-3-mini-4k-instruct-4bit",
            license="MIT",
        ),
    ),
    gguf_architectures=(PHI3,),
    gguf_pre_tokenizers={"gpt-4o": "o200k"},
)


@hookimpl
def clinpred_register_families(register):
    register(SPEC)


@hookimpl
def clinpred_render_chat(family: FamilySpec, tokenizer: Any, prompt: Prompt, answer: str) -> RenderedChat:
    """The tokenizer's template (or the documented format); fold the system text if it would drop it."""
    own = tokenizer_template(tokenizer)
    fold = own is not None and "system" not in own  # the first Phi-3 template drops a system turn
    return render_family(tokenizer, prompt, answer, fallback=FALLBACK_TEMPLATE, stop=STOP, fold_system=fold)
