"""Llama 3.1 / 3.2 Instruct.

Format: ``<|begin_of_text|><|start_header_id|>role<|end_header_id|>\\n\\n...<|eot_id|>``; the
system role is supported. The Llama 3.1/3.2 templates write a "Today Date" line into the system
header; 3.2's takes it from the clock (``strftime_now``), so a prompt would change every day. The
date is pinned to the templates' own default so prompts are reproducible. Stops: ``<|eot_id|>``
and ``<|eom_id|>``.
"""

from __future__ import annotations

from typing import Any

from clinpred.api import CatalogEntry, FamilySpec, Prompt, RenderedChat, hookimpl
from clinpred.plugins._gguf import LLAMA, LLAMA3_PRE
from clinpred.plugins._chat import render_family
from clinpred.plugins._defaults import study_lora

#: The date the Llama 3.1/3.2 templates use when no clock is available: pinned for every prompt.
PINNED_DATE = "26 Jul 2024"
STOP = ("<|eot_id|>", "<|eom_id|>")

#: Llama 3 chat format for tokenizers without a template (as Meta's Llama 3 template: no date).
FALLBACK_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)

HYPERPARAMETERS = study_lora()  # see plugins/_defaults.py

SPEC = FamilySpec(
    name="llama",
    description="Meta Llama 3.1 / 3.2 Instruct (header-token chat format, pinned template date)",
    aliases=("llama3", "llama-3"),
    model_patterns=(r"llama[-_ ]?3",),
    default_model="mlx-community/Llama-3.2-3B-Instruct-4bit",
    hyperparameters=HYPERPARAMETERS,
    catalog=(
        CatalogEntry(
            name="llama-3.2-3b-instruct",
            description="Llama 3.2 3B Instruct, MLX 4-bit (the original study's first model)",
            hub_id="mlx-community/Llama-3.2-3B-Instruct-4bit",
            license="Llama 3.2 Community License",
        ),
        CatalogEntry(
            name="llama-3.1-8b-instruct",
            description="Llama 3.1 8B Instruct, MLX 4-bit",
            hub_id="mlx-community/Meta-Llama-3.1-8B-Instruct-4bit",
            license="Llama 3.1 Community License",
            hyperparameters={"batch_size": 2},
        ),
    ),
    gguf_architectures=(LLAMA,),
    gguf_pre_tokenizers=dict(LLAMA3_PRE),
)


@hookimpl
def clinpred_register_families(register):
    register(SPEC)


@hookimpl
def clinpred_render_chat(family: FamilySpec, tokenizer: Any, prompt: Prompt, answer: str) -> RenderedChat:
    """The tokenizer's template (or the Llama 3 format) with the date pinned."""
    return render_family(
        tokenizer, prompt, answer, fallback=FALLBACK_TEMPLATE, stop=STOP, date_string=PINNED_DATE
    )
