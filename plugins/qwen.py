"""Qwen2.5 and Qwen3 (ChatML).

Format: ``<|im_start|>role\\n...<|im_end|>\\n``. Qwen2.5's template injects a default system
message ("You are Qwen, created by Alibaba Cloud...") when the prompt has none. Qwen3's template
opens a thought unless ``enable_thinking=False``: then the generation prompt ends with the empty
thought ``<think>\\n\\n</think>\\n\\n`` and the training text holds the same, so the answer is
scored and trained right after it. Thinking is OFF for scoring and training (Qwen2.5's template
ignores the flag). Generated text is parsed after removing think blocks; an unterminated thought
is recognised. Stops: ``<|im_end|>``, ``<|endoftext|>``.
"""

from __future__ import annotations

from typing import Any

from clinpred.api import CatalogEntry, FamilySpec, ParsedOutput, Prompt, RenderedChat, TaskSpec, hookimpl
from clinpred.plugins._gguf import QWEN2, QWEN2_PRE, QWEN3
from clinpred.plugins._chat import render_family
from clinpred.plugins._think import parse_thinking
from clinpred.plugins._defaults import study_lora

STOP = ("<|im_end|>", "<|endoftext|>")

#: Plain ChatML (no default system message, no thoughts), for tokenizers without a template.
FALLBACK_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Batch size 2: the default model (the study's Qwen2.5-7B) has 7B parameters (memory).
HYPERPARAMETERS = study_lora(batch_size=2)  # see plugins/_defaults.py

SPEC = FamilySpec(
    name="qwen",
    description="Qwen2.5 / Qwen3 (ChatML; Qwen3 thinking off, think blocks stripped when parsing)",
    aliases=("qwen2.5", "qwen3"),
    model_patterns=(r"qwen",),
    default_model="mlx-community/Qwen2.5-7B-Instruct-4bit",
    hyperparameters=HYPERPARAMETERS,
    catalog=(
        CatalogEntry(
            name="qwen2.5-7b-instruct",
            description="Qwen2.5 7B Instruct, MLX 4-bit (the original study)",
            hub_id="mlx-community/Qwen2.5-7B-Instruct-4bit",
            license="Apache-2.0",
        ),
        CatalogEntry(
            name="qwen3-4b",
            description="Qwen3 4B, MLX 4-bit (failed in the original study: <think> broke its parser)",
            hub_id="mlx-community/Qwen3-4B-4bit",
            license="Apache-2.0",
            hyperparameters={"batch_size": 4},
        ),
    ),
    gguf_architectures=(QWEN2, QWEN3),
    gguf_pre_tokenizers=dict(QWEN2_PRE),
)


@hookimpl
def clinpred_register_families(register):
    register(SPEC)


@hookimpl
def clinpred_render_chat(family: FamilySpec, tokenizer: Any, prompt: Prompt, answer: str) -> RenderedChat:
    """The tokenizer's template (or plain ChatML) with thinking off."""
    return render_family(
        tokenizer, prompt, answer, fallback=FALLBACK_TEMPLATE, stop=STOP, enable_thinking=False
    )


@hookimpl
def clinpred_parse_output(family: FamilySpec, text: str, task: TaskSpec) -> ParsedOutput:
    """Strip think blocks (recognising an unterminated one), then read Yes/No."""
    return parse_thinking(text, task)
