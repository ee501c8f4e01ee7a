"""Tests of the OLMo family plugin: format, prefix property, and discovery by clinpred."""

from __future__ import annotations

import functools

import pytest

import clinpred_olmo
from clinpred.api import Prompt, TaskSpec, encode, decode

PROMPT = Prompt(user="Age: 31 years\nManual removal of the placenta?", system="Answer Yes or No.")


@functools.lru_cache(maxsize=None)
def tiny_olmo_tokenizer(with_template: bool = True):
    """A small byte-level BPE tokenizer with OLMo 2's special tokens."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = ["Yes", "No", " Yes", " No", "Answer Yes or No.", "Age: 31 years", "Manual removal of the placenta?"]
    trainer = trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus * 5, trainer=trainer)
    tok.add_special_tokens([AddedToken(t, special=True) for t in
                            ("<|endoftext|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>")])
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                 pad_token="<|pad|>")
    hf.chat_template = clinpred_olmo.CHAT_TEMPLATE if with_template else None
    return hf


@pytest.mark.parametrize("with_template", [True, False])
def test_renders_the_olmo2_format(with_template):
    rendered = clinpred_olmo.clinpred_render_chat(clinpred_olmo.SPEC, tiny_olmo_tokenizer(with_template), PROMPT, "Yes")
    assert rendered.prompt == (
        "<|endoftext|><|system|>\nAnswer Yes or No.\n<|user|>\nAge: 31 years\n"
        "Manual removal of the placenta?\n<|assistant|>\n"
    )
    assert rendered.completion == "Yes<|endoftext|>"
    assert rendered.stop == ("<|endoftext|>",)


@pytest.mark.parametrize("answer", ["Yes", "No"])
def test_scoring_prompt_is_a_token_prefix_of_the_training_text(answer):
    tok = tiny_olmo_tokenizer()
    rendered = clinpred_olmo.clinpred_render_chat(clinpred_olmo.SPEC, tok, PROMPT, answer)
    prompt_ids, ids = encode(tok, rendered.prompt), encode(tok, rendered.text)
    assert ids[: len(prompt_ids)] == prompt_ids
    assert decode(tok, ids[len(prompt_ids):]) == rendered.completion
    assert decode(tok, ids[len(prompt_ids):len(prompt_ids) + 1]) == answer


def test_spec_matches_olmo_model_ids():
    assert clinpred_olmo.SPEC.matches("mlx-community/OLMo-2-1124-7B-Instruct-4bit")
    assert clinpred_olmo.SPEC.matches(clinpred_olmo.SPEC.default_model)
    assert not clinpred_olmo.SPEC.matches("mlx-community/Qwen3-4B-4bit")


def test_discovered_through_the_entry_point():
    from clinpred.registry.registry import load_registry

    registry = load_registry()
    info = next(i for i in registry.plugins() if i.name == "olmo")
    assert (info.source, info.status, info.families) == ("entrypoint", "loaded", ["olmo"])
    assert registry.infer_family("mlx-community/OLMo-2-1124-7B-Instruct-4bit").name == "olmo"
    rendered = registry.render_chat("olmo2", tiny_olmo_tokenizer(), PROMPT, "No")
    assert rendered.completion == "No<|endoftext|>"
    parsed = registry.parse_output("olmo", "**Answer:** No.", TaskSpec(question="Manual removal?"))
    assert parsed.label is False  # clinpred's default parser answers for this plugin
