"""DeepSeek-R1 distills (R1-Distill-Qwen / -Llama), family ``deepseek-r1``.

Format: ``<｜begin▁of▁sentence｜><｜User｜>...<｜Assistant｜>``. The template forces the generation
prompt to end with ``<think>\\n`` but cuts every thought out of assistant turns, so the scoring
prompt is not a prefix of the training text: prompt masking would overshoot and the answer token
would never be trained. This plugin trains and prefills an empty thought instead: the scoring
prompt ends with ``<｜Assistant｜><think>\\n\\n</think>\\n\\n`` and the completion is the answer.
DeepSeek advises against a system prompt for R1 (its template pastes it right after BOS with no
separator), so the system text is folded into the user turn. Generated text is parsed after
removing think blocks. Stop: ``<｜end▁of▁sentence｜>``.
"""

from __future__ import annotations

from typing import Any

from clinpred.api import (
    CatalogEntry,
    FamilySpec,
    ParsedOutput,
    Prompt,
    RenderedChat,
    RenderError,
    TaskSpec,
    hf_tokenizer,
    hookimpl,
    messages,
)
from clinpred.plugins._gguf import LLAMA, LLAMA3_PRE, QWEN2, QWEN2_PRE
from clinpred.plugins._chat import tokenizer_template
from clinpred.plugins._think import parse_thinking
from clinpred.plugins._defaults import study_lora

EOS = "<｜end▁of▁sentence｜>"
STOP = (EOS,)
OPEN_THOUGHT = "<think>\n"
EMPTY_THOUGHT = "<think>\n\n</think>\n\n"

#: The R1 format, for tokenizers without a template (generation prompt as the real one's).
FALLBACK_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '<｜User｜>' + message['content'] }}"
    "{% elif message['role'] == 'assistant' %}{{ '<｜Assistant｜>' + message['content'] + eos_token }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<｜Assistant｜><think>\\n' }}{% endif %}"
)

HYPERPARAMETERS = study_lora()  # see plugins/_defaults.py

SPEC = FamilySpec(
    name="deepseek-r1",
    description="DeepSeek-R1 distills (empty thought trained and prefilled; think blocks stripped)",
    aliases=("deepseek_r1", "r1"),
    model_patterns=(r"deepseek[-_ ]?r1",),
    default_model="mlx-community/DeepSeek-R1-Distill-Qwen-1.5B-4bit",
    hyperparameters=HYPERPARAMETERS,
    catalog=(
        CatalogEntry(
            name="deepseek-r1-distill-qwen-1.5b",
            description="DeepSeek-R1-Distill-Qwen-1.5B, MLX 4-bit (reasoned instead of answering in the study)",
            hub_id="mlx-community/DeepSeek-R1-Distill-Qwen-1.5B-4bit",
            license="MIT",
        ),
    ),
    gguf_architectures=(QWEN2, LLAMA),
    gguf_pre_tokenizers={"deepseek-r1-qwen": "cl100k-digit", **QWEN2_PRE, **LLAMA3_PRE},
)


@hookimpl
def clinpred_register_families(register):
    register(SPEC)


@hookimpl
def clinpred_render_chat(family: FamilySpec, tokenizer: Any, prompt: Prompt, answer: str) -> RenderedChat:
    """Scoring prompt = the template's generation prompt with the thought closed empty."""
    tok = hf_tokenizer(tokenizer)
    template = tokenizer_template(tokenizer) or FALLBACK_TEMPLATE
    msgs = messages(prompt, fold_system=True)
    scoring = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False, chat_template=template)
    if scoring.endswith(OPEN_THOUGHT):
        scoring = scoring[: -len(OPEN_THOUGHT)]
    if not scoring.endswith("<｜Assistant｜>"):
        raise RenderError("the chat template's generation prompt does not end with <｜Assistant｜>")
    eos = getattr(tok, "eos_token", None) or EOS
    return RenderedChat(prompt=scoring + EMPTY_THOUGHT, completion=answer + eos, answer=answer, stop=STOP)


@hookimpl
def clinpred_parse_output(family: FamilySpec, text: str, task: TaskSpec) -> ParsedOutput:
    """Strip think blocks (a lone ``</think>`` closes a thought opened in the prompt), then Yes/No."""
    return parse_thinking(text, task)
