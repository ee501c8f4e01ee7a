"""Gemma 2 / Gemma 3 (instruction-tuned).

Format: ``<bos><start_of_turn>user\\n...<end_of_turn>\\n<start_of_turn>model\\n``; content is
trimmed. Gemma 2's template raises on a system role and Gemma 3's folds it into the first user
turn (``system + "\\n\\n" + user``): the plugin folds it the same way itself, so both work and
render alike. Stops: ``<end_of_turn>``, ``<eos>``.
"""

from __future__ import annotations

from typing import Any

from clinpred.api import CatalogEntry, FamilySpec, Prompt, RenderedChat, hookimpl
from clinpred.plugins._chat import render_family
from clinpred.plugins._defaults import study_lora

STOP = ("<end_of_turn>", "<eos>")

#: The documented Gemma turn format, for tokenizers without a template (e.g. GGUF base models).
FALLBACK_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)

HYPERPARAMETERS = study_lora()  # see plugins/_defaults.py

SPEC = FamilySpec(
    name="gemma",
    description="Google Gemma 2 / 3 (turn format; system text folded into the first user turn)",
    aliases=("gemma2", "gemma3"),
    model_patterns=(r"gemma",),
    default_model="mlx-community/gemma-3-4b-it-4bit",
    hyperparameters=HYPERPARAMETERS,
    catalog=(
        CatalogEntry(
            name="gemma-3-4b-it",
            description="Gemma 3 4B it, MLX 4-bit (biased in the original study: recall 19.4%)",
            hub_id="mlx-community/gemma-3-4b-it-4bit",
            license="Gemma Terms of Use",
        ),
    ),
)


@hookimpl
def clinpred_register_families(register):
    register(SPEC)


@hookimpl
def clinpred_render_chat(family: FamilySpec, tokenizer: Any, prompt: Prompt, answer: str) -> RenderedChat:
    """The tokenizer's template (or the turn format), system text folded into the user turn."""
    return render_family(tokenizer, prompt, answer, fallback=FALLBACK_TEMPLATE, stop=STOP, fold_system=True)
