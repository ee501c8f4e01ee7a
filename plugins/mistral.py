"""Mistral 7B Instruct v0.1 - v0.3 (and Mixtral).

Format: ``<s>[INST] user [/INST] answer</s>``. v0.1/v0.2 templates raise on a system role; the
v0.3 template writes the system text only into the LAST user turn, so it appears in the scoring
prompt but vanishes from the training text. The system text is therefore always folded into the
user message. v0.3 writes one space before the answer (``[/INST] Yes``): the answer token is then
" Yes", which the rendering reports as the answer. Stop: ``</s>``.
"""

from __future__ import annotations

from typing import Any

from clinpred.api import CatalogEntry, FamilySpec, Prompt, RenderedChat, hookimpl
from clinpred.plugins._gguf import LLAMA
from clinpred.plugins._chat import render_family
from clinpred.plugins._defaults import study_lora

STOP = ("</s>",)

#: Mistral's documented instruct format, for tokenizers without a template.
FALLBACK_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] | trim + eos_token }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}"
    "{% endfor %}"
)

# Batch size 2: the default model has 7B parameters (memory).
HYPERPARAMETERS = study_lora(batch_size=2)  # see plugins/_defaults.py

SPEC = FamilySpec(
    name="mistral",
    description="Mistral 7B Instruct v0.1-v0.3 ([INST] format; system text folded into the user turn)",
    aliases=("mixtral",),
    model_patterns=(r"mistral", r"mixtral"),
    default_model="mlx-community/Mistral-7B-Instruct-v0.3-4bit",
    hyperparameters=HYPERPARAMETERS,
    catalog=(
        CatalogEntry(
            name="mistral-7b-instruct-v0.3",
            description="Mistral 7B Instruct v0.3, MLX 4-bit (the original study)",
            hub_id="mlx-community/Mistral-7B-Instruct-v0.3-4bit",
            license="Apache-2.0",
        ),
    ),
    gguf_architectures=(LLAMA,),
    gguf_pre_tokenizers={"tekken": "tekken", "pixtral": "cl100k"},
)


@hookimpl
def clinpred_register_families(register):
    register(SPEC)


@hookimpl
def clinpred_render_chat(family: FamilySpec, tokenizer: Any, prompt: Prompt, answer: str) -> RenderedChat:
    """The tokenizer's template (or the documented format), system text folded into the user turn."""
    return render_family(tokenizer, prompt, answer, fallback=FALLBACK_TEMPLATE, stop=STOP, fold_system=True)
