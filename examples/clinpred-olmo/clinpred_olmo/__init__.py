"""clinpred family plugin: AllenAI OLMo 2 Instruct.

OLMo 2 Instruct uses the Tulu chat format, with ``<|endoftext|>`` as both BOS and EOS::

    <|endoftext|><|system|>
    {system}
    <|user|>
    {user}
    <|assistant|>
    {answer}<|endoftext|>

The plugin uses the tokenizer's own chat template when it has one and this format otherwise. It
imports only :mod:`clinpred.api`, as every third-party plugin should.
"""

from __future__ import annotations

from typing import Any

from clinpred.api import FamilySpec, Prompt, RenderedChat, hf_tokenizer, hookimpl, render_with_template

__version__ = "0.1.0"

STOP = ("<|endoftext|>",)

#: The OLMo 2 Instruct (Tulu) format, for tokenizers that ship without a chat template.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ '<|system|>\\n' + message['content'] + '\\n' }}"
    "{% elif message['role'] == 'user' %}{{ '<|user|>\\n' + message['content'] + '\\n' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{% if not loop.last %}{{ '<|assistant|>\\n' + message['content'] + eos_token + '\\n' }}"
    "{% else %}{{ '<|assistant|>\\n' + message['content'] + eos_token }}{% endif %}"
    "{% endif %}"
    "{% if loop.last and add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
    "{% endfor %}"
)

SPEC = FamilySpec(
    name="olmo",
    description="AllenAI OLMo 2 Instruct (Tulu chat format)",
    aliases=("olmo2", "olmo-2"),
    model_patterns=(r"olmo",),
    default_model="mlx-community/OLMo-2-1124-7B-Instruct-4bit",
    # LoRA rank 16 / 1000 iterations as clinpred's built-in families; batch 2 for a 7B model.
    hyperparameters={
        "lora_rank": 16,
        "lora_alpha": 32,
        "learning_rate": 1e-5,
        "num_iters": 1000,
        "batch_size": 2,
        "lora_layers": 16,
    },
)


@hookimpl
def clinpred_register_families(register):
    """Declare the ``olmo`` family."""
    register(SPEC)


@hookimpl
def clinpred_render_chat(family: FamilySpec, tokenizer: Any, prompt: Prompt, answer: str) -> RenderedChat:
    """Render with the tokenizer's template, or the OLMo 2 format when it has none."""
    own = getattr(hf_tokenizer(tokenizer), "chat_template", None)
    rendered = render_with_template(tokenizer, prompt, answer, chat_template=own or CHAT_TEMPLATE)
    return RenderedChat(rendered.prompt, rendered.completion, rendered.answer, stop=STOP)
