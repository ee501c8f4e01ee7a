"""Realistic generated answers, per family output style: the leading answer word of the first
clause decides; variants, quotes and markdown are read; only a real contradiction is ambiguous."""

from __future__ import annotations

import pytest

from clinpred.core.values import ParseStatus, TaskSpec
from clinpred.registry.registry import load_registry

TASK = TaskSpec(question="Will this patient need manual removal of the placenta?")
REGISTRY = load_registry()
OK, AMB, REF, OTHER = ParseStatus.OK, ParseStatus.AMBIGUOUS, ParseStatus.REFUSAL, ParseStatus.OTHER

#: Answers as instruction-tuned models write them (no think block), label and status.
PLAIN = [
    ("Yes", True, OK),
    ("No", False, OK),
    ("Yes.", True, OK),
    ("No.", False, OK),
    ("Nope.", False, OK),
    ("Yep", True, OK),
    ("Yeah, most likely.", True, OK),
    ("Nah, the risk is low.", False, OK),
    ('"Yes"', True, OK),
    ("'No'", False, OK),
    ("“No.”", False, OK),
    ("**Yes**", True, OK),
    ("**No.**", False, OK),
    ("`Yes`", True, OK),
    ("_No_", False, OK),
    ("> Yes", True, OK),
    ("# No", False, OK),
    ("No, because although one might say yes, the risk is low.", False, OK),
    ("Yes, because the placenta was retained last time; no other risk factors apply.", True, OK),
    ("No - the blood loss is small, so yes would be wrong.", False, OK),
    ("No: nothing in the record suggests it, yes-or-no questions aside.", False, OK),
    ("Yes. Although no single factor is decisive, together they are.", True, OK),
    ("Based on the record, yes.", True, OK),
    ("Most likely no.", False, OK),
    ("Answer: No", False, OK),
    ("**Answer:** Yes. The previous delivery had the same complication, so no doubt.", True, OK),
    ("Final answer: no", False, OK),
    ("Prediction = Yes", True, OK),
    ("Yes and no.", None, AMB),
    ("Yes or no? It depends.", None, AMB),
    ("Yes, no, maybe.", None, AMB),
    ("No / Yes", None, AMB),
    ("I cannot predict this; please consult a doctor.", None, REF),
    ("I'm sorry, but I can't give medical predictions.", None, REF),
    ("It depends on the blood loss.", None, OTHER),
    ("Maybe.", None, OTHER),
    ("The notice says nothing.", None, OTHER),  # "no" inside a word is not an answer
]

#: Reasoning models (Qwen3 with thinking, DeepSeek-R1 distills): the thought never decides.
THINKING = [
    ("<think>\nThe first clause says yes, but...\n</think>\n\nNo, because the risk is low.", False, OK),
    ("<think>\nHmm, no.\n</think>\n\nYep.", True, OK),
    ("<think>\nMaybe yes, maybe no.\n</think>\n\n**No**", False, OK),
    ("<think>\n\n</think>\n\nNope.", False, OK),
    ("<think>\nLet me weigh it.\n</think>\n\nYes and no.", None, AMB),
    ("Okay, so yes is possible...\n</think>\n\n\"Yes\"", True, OK),  # R1: opening tag in the prompt
]


@pytest.mark.parametrize("family", ["llama", "mistral", "phi", "qwen", "gemma", "deepseek-r1", "smollm"])
@pytest.mark.parametrize(("text", "label", "status"), PLAIN)
def test_plain_outputs(family, text, label, status):
    parsed = REGISTRY.parse_output(family, text, TASK)
    assert (parsed.label, parsed.status) == (label, status), text


@pytest.mark.parametrize("family", ["qwen", "deepseek-r1"])
@pytest.mark.parametrize(("text", "label", "status"), PLAIN + THINKING)
def test_thinking_family_outputs(family, text, label, status):
    parsed = REGISTRY.parse_output(family, text, TASK)
    assert (parsed.label, parsed.status) == (label, status), text


def test_variants_only_for_the_default_words():
    task = TaskSpec(question="Placenta retained?", positive="Retained", negative="Delivered")
    assert REGISTRY.parse_output("llama", "Nope.", task).status is OTHER
    assert REGISTRY.parse_output("llama", "Delivered, not retained.", task).label is False
