"""Built-in families: golden renderings of each documented chat format, including its traps,
and the prefix property on real (tiny) tokenizers."""

from __future__ import annotations

from datetime import datetime

import pytest

import tiny_tokenizers as tt
from clinpred.core.errors import RenderError
from clinpred.core.llm.rendering import render_with_template, tokenize_checked
from clinpred.core.llm.tokens import decode
from clinpred.core.values import Prompt
from clinpred.registry.registry import load_registry

SYSTEM = "Answer Yes or No."
USER = "Age: 31 years\nWill this patient need manual removal of the placenta?"
PROMPT = Prompt(user=USER, system=SYSTEM)
NO_SYSTEM = Prompt(user=USER)

#: tiny tokenizer -> the family that renders it
FAMILY_OF = {
    "llama31": "llama", "llama32": "llama", "mistral_v01": "mistral", "mistral_v03": "mistral",
    "phi3": "phi", "phi3_legacy": "phi", "qwen25": "qwen", "qwen3": "qwen", "gemma2": "gemma",
    "gemma3": "gemma", "deepseek_r1": "deepseek-r1",
}

LLAMA_HEAD = (
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
    "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
)
FOLDED = f"{SYSTEM}\n\n{USER}"

#: (tokenizer, prompt) -> (exact scoring prompt, exact completion) for the answer "Yes"
GOLDEN = {
    ("llama32", PROMPT): (
        LLAMA_HEAD + f"{SYSTEM}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{USER}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
        "Yes<|eot_id|>",
    ),
    ("llama31", NO_SYSTEM): (
        LLAMA_HEAD + f"<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{USER}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
        "Yes<|eot_id|>",
    ),
    ("mistral_v03", PROMPT): (f"<s>[INST] {FOLDED}[/INST]", " Yes</s>"),
    ("mistral_v01", PROMPT): (f"<s>[INST] {FOLDED} [/INST]", "Yes</s>"),
    ("phi3", PROMPT): (
        f"<|system|>\n{SYSTEM}<|end|>\n<|user|>\n{USER}<|end|>\n<|assistant|>\n",
        "Yes<|end|>\n<|endoftext|>",
    ),
    ("phi3_legacy", PROMPT): (f"<s><|user|>\n{FOLDED}<|end|>\n<|assistant|>\n", "Yes<|end|>\n"),
    ("qwen25", PROMPT): (
        f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{USER}<|im_end|>\n<|im_start|>assistant\n",
        "Yes<|im_end|>\n",
    ),
    ("qwen25", NO_SYSTEM): (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        f"<|im_start|>user\n{USER}<|im_end|>\n<|im_start|>assistant\n",
        "Yes<|im_end|>\n",
    ),
    ("qwen3", PROMPT): (
        f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{USER}<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\n",
        "Yes<|im_end|>\n",
    ),
    ("gemma2", PROMPT): (
        f"<bos><start_of_turn>user\n{FOLDED}<end_of_turn>\n<start_of_turn>model\n", "Yes<end_of_turn>\n"
    ),
    ("gemma3", PROMPT): (
        f"<bos><start_of_turn>user\n{FOLDED}<end_of_turn>\n<start_of_turn>model\n", "Yes<end_of_turn>\n"
    ),
    ("deepseek_r1", PROMPT): (
        f"<｜begin▁of▁sentence｜><｜User｜>{FOLDED}<｜Assistant｜><think>\n\n</think>\n\n",
        "Yes<｜end▁of▁sentence｜>",
    ),
}


@pytest.fixture
def registry():
    return load_registry()


@pytest.mark.parametrize(("tok_name", "prompt"), list(GOLDEN), ids=lambda v: getattr(v, "system", v) or "nosys")
def test_golden_rendering(registry, tok_name, prompt):
    want_prompt, want_completion = GOLDEN[(tok_name, prompt)]
    rendered = registry.render_chat(FAMILY_OF[tok_name], tt.FAMILY_TOKENIZERS[tok_name](), prompt, "Yes")
    assert rendered.prompt == want_prompt
    assert rendered.completion == want_completion
    assert rendered.completion.lstrip(" ").startswith("Yes")


@pytest.mark.parametrize(
    ("family", "stops"),
    [
        ("llama", {"<|eot_id|>", "<|eom_id|>"}), ("mistral", {"</s>"}), ("phi", {"<|end|>"}),
        ("qwen", {"<|im_end|>"}), ("gemma", {"<end_of_turn>"}), ("deepseek-r1", {"<｜end▁of▁sentence｜>"}),
    ],
)
def test_stop_strings(registry, family, stops):
    tok_name = next(name for name, fam in FAMILY_OF.items() if fam == family)
    rendered = registry.render_chat(family, tt.FAMILY_TOKENIZERS[tok_name](), PROMPT, "No")
    assert stops <= set(rendered.stop)


# -- the traps: the template alone gets them wrong; the family plugin does not -----------------


class _Clock:
    def __init__(self, day: datetime):
        self.day = day

    def now(self, tz=None):
        return self.day


def _set_clock(monkeypatch, day: datetime) -> None:
    from transformers.utils import chat_template_utils

    monkeypatch.setattr(chat_template_utils, "datetime", _Clock(day))


def test_llama32_template_reads_the_clock_but_the_plugin_pins_the_date(registry, monkeypatch):
    tok = tt.llama32()
    _set_clock(monkeypatch, datetime(2031, 1, 1))
    raw = tok.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True, tokenize=False)
    assert "Today Date: 01 Jan 2031\n" in raw
    first = registry.render_chat("llama", tok, PROMPT, "Yes")
    _set_clock(monkeypatch, datetime(2033, 6, 15))
    second = registry.render_chat("llama", tok, PROMPT, "Yes")
    assert first == second
    assert "Today Date: 26 Jul 2024\n" in first.prompt


def test_mistral_v03_template_drops_the_system_text_from_the_training_text(registry):
    tok = tt.mistral_v03()
    msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
    scoring = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    training = tok.apply_chat_template(msgs + [{"role": "assistant", "content": "Yes"}], tokenize=False)
    assert SYSTEM in scoring and SYSTEM not in training
    with pytest.raises(RenderError):
        render_with_template(tok, PROMPT, "Yes")  # the core's generic rendering refuses it
    rendered = registry.render_chat("mistral", tok, PROMPT, "Yes")
    assert SYSTEM in rendered.prompt and rendered.text == rendered.prompt + " Yes</s>"


@pytest.mark.parametrize("tok_name", ["mistral_v01", "gemma2"])
def test_templates_that_reject_a_system_role(registry, tok_name):
    tok = tt.FAMILY_TOKENIZERS[tok_name]()
    with pytest.raises(Exception, match="(?i)system|alternate"):
        tok.apply_chat_template(
            [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}], tokenize=False
        )
    rendered = registry.render_chat(FAMILY_OF[tok_name], tok, PROMPT, "No")
    assert FOLDED in rendered.prompt


def test_gemma3_folds_the_system_text_like_the_plugin(registry):
    tok = tt.gemma3()
    raw = tok.apply_chat_template(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
        add_generation_prompt=True, tokenize=False,
    )
    assert registry.render_chat("gemma", tok, PROMPT, "Yes").prompt == raw


def test_gemma_trims_content(registry):
    rendered = registry.render_chat("gemma", tt.gemma2(), Prompt(user=f"  {USER}\n\n"), "Yes")
    assert f"user\n{USER}<end_of_turn>" in rendered.prompt


def test_phi3_legacy_template_silently_drops_the_system_message(registry):
    tok = tt.phi3_legacy()
    raw = tok.apply_chat_template(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}], tokenize=False
    )
    assert SYSTEM not in raw
    assert SYSTEM in registry.render_chat("phi", tok, PROMPT, "Yes").prompt


def test_qwen3_thinking_on_trains_an_empty_thought_before_the_answer(registry):
    tok = tt.qwen3()
    msgs = [{"role": "user", "content": USER}]
    thinking = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    training = tok.apply_chat_template(msgs + [{"role": "assistant", "content": "Yes"}], tokenize=False)
    assert training[len(thinking):].startswith("<think>\n\n</think>\n\nYes")
    with pytest.raises(RenderError):
        render_with_template(tok, PROMPT, "Yes")  # thinking on (the template's default)
    rendered = registry.render_chat("qwen", tok, PROMPT, "Yes")
    assert rendered.prompt.endswith("<think>\n\n</think>\n\n") and rendered.completion.startswith("Yes")


def test_deepseek_r1_forces_an_open_thought_the_plugin_closes_it(registry):
    tok = tt.deepseek_r1()
    msgs = [{"role": "user", "content": USER}]
    gen = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    training = tok.apply_chat_template(msgs + [{"role": "assistant", "content": "Yes"}], tokenize=False)
    assert gen.endswith("<｜Assistant｜><think>\n") and not training.startswith(gen)
    with pytest.raises(RenderError):
        render_with_template(tok, PROMPT, "Yes")
    rendered = registry.render_chat("deepseek-r1", tok, NO_SYSTEM, "Yes")
    assert rendered.prompt == gen + "\n</think>\n\n"


# -- the prefix property on every tokenizer -----------------------------------------------------


@pytest.mark.parametrize("with_template", [True, False], ids=["template", "fallback"])
@pytest.mark.parametrize("prompt", [PROMPT, NO_SYSTEM], ids=["system", "nosystem"])
@pytest.mark.parametrize("answer", ["Yes", "No"])
@pytest.mark.parametrize("tok_name", list(FAMILY_OF))
def test_prefix_property(registry, tok_name, answer, prompt, with_template):
    tok = tt.FAMILY_TOKENIZERS[tok_name]()
    if not with_template:
        tok = tt.without_template(tok)
    family = FAMILY_OF[tok_name]
    rendered = registry.render_chat(family, tok, prompt, answer)
    example = tokenize_checked(family, tok, rendered)
    span = decode(tok, list(example.ids[example.answer_start:example.answer_end]))
    assert span.strip() == answer
    assert example.answer_start == example.prompt_len
    assert prompt.user.strip() in rendered.prompt
    if prompt.system:
        assert prompt.system in rendered.prompt


FALLBACK_GOLDEN = {
    "llama": (
        f"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{SYSTEM}<|eot_id|>"
        f"<|start_header_id|>user<|end_header_id|>\n\n{USER}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
        "Yes<|eot_id|>",
    ),
    "mistral": (f"<s>[INST] {FOLDED} [/INST]", " Yes</s>"),
    "phi": (
        f"<|system|>\n{SYSTEM}<|end|>\n<|user|>\n{USER}<|end|>\n<|assistant|>\n", "Yes<|end|>\n<|endoftext|>"
    ),
    "qwen": (
        f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{USER}<|im_end|>\n<|im_start|>assistant\n",
        "Yes<|im_end|>\n",
    ),
    "gemma": (f"<bos><start_of_turn>user\n{FOLDED}<end_of_turn>\n<start_of_turn>model\n", "Yes<end_of_turn>\n"),
    "deepseek-r1": (
        f"<｜begin▁of▁sentence｜><｜User｜>{FOLDED}<｜Assistant｜><think>\n\n</think>\n\n", "Yes<｜end▁of▁sentence｜>"
    ),
}


@pytest.mark.parametrize("tok_name", list(FAMILY_OF))
def test_fallback_template_renders_the_documented_format(registry, tok_name):
    family = FAMILY_OF[tok_name]
    bare = tt.without_template(tt.FAMILY_TOKENIZERS[tok_name]())
    rendered = registry.render_chat(family, bare, PROMPT, "Yes")
    assert (rendered.prompt, rendered.completion) == FALLBACK_GOLDEN[family]


def test_no_template_and_no_plugin_is_a_clear_error():
    with pytest.raises(RenderError, match="no chat template"):
        render_with_template(tt.without_template(tt.qwen25()), PROMPT, "Yes")


def test_a_broken_rendering_is_caught_naming_the_family():
    from clinpred.core.values import RenderedChat

    tok = tt.qwen3()
    bad = RenderedChat(prompt="<|im_start|>assistant\n<think>\n\n</think>\n", completion="\nYes", answer="\nYes")
    with pytest.raises(RenderError, match="qwen"):
        tokenize_checked("qwen", tok, bad)


def test_qwen3_through_mlx_lm_tokenizer_wrapper_thinking_stays_off(registry):
    from mlx_lm.tokenizer_utils import TokenizerWrapper

    wrapped = TokenizerWrapper(tt.qwen3())
    msgs = [{"role": "user", "content": USER}]
    assert not wrapped.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False).endswith(
        "</think>\n\n"
    )  # mlx-lm turns thinking on when the caller does not say
    rendered = registry.render_chat("qwen", wrapped, NO_SYSTEM, "Yes")
    assert rendered.prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    example = tokenize_checked("qwen", wrapped, rendered)
    assert decode(wrapped, list(example.ids[example.answer_start:example.answer_end])) == "Yes"
