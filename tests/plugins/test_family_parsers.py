"""Built-in families: output parsing (table tests and hypothesis fuzzing) and think-tag splitting."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinpred.core.values import ParsedOutput, ParseStatus, TaskSpec
from clinpred.plugins._think import parse_thinking, split_think
from clinpred.registry.registry import load_registry

TASK = TaskSpec(question="Will this patient need manual removal of the placenta?")
FAMILIES = ["llama", "mistral", "phi", "qwen", "gemma", "deepseek-r1"]
THINKING = ["qwen", "deepseek-r1"]
OK, EMPTY, AMBIGUOUS, REFUSAL = ParseStatus.OK, ParseStatus.EMPTY, ParseStatus.AMBIGUOUS, ParseStatus.REFUSAL

REGISTRY = load_registry()  # read-only use: parse_output keeps no state

COMMON = [
    ("Yes", True, OK),
    (" Yes.", True, OK),
    ("yes", True, OK),
    ("NO", False, OK),
    ("No.", False, OK),
    ("**Answer:** No.", False, OK),
    ("Answer: Yes", True, OK),
    ("", None, EMPTY),
    ("   \n", None, EMPTY),
    ("I cannot answer that. Please consult a doctor.", None, REFUSAL),
    ("I'm sorry, I am unable to predict this.", None, REFUSAL),
    ("Yes or No? It depends.", None, AMBIGUOUS),
    ("It depends on the blood loss.", None, ParseStatus.OTHER),
]

THINK_CASES = [
    ("<think>\nUK patient, Yes is likely, but no.\n</think>\n\nNo", False, OK),
    ("<think>\n\n</think>\n\nYes", True, OK),
    ("<think>\nThe answer is Yes... or No", None, ParseStatus.UNTERMINATED_THINK),
    ("<think>\n\n</think>\n\n", None, ParseStatus.THINK_ONLY),
    ("<think>a</think><think>b Yes</think>", None, ParseStatus.THINK_ONLY),
    ("Okay, so the patient... maybe Yes.\n</think>\n\nNo", False, OK),  # R1: opening tag in the prompt
    ("<THINK>No</THINK> Yes", True, OK),
]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(("text", "label", "status"), COMMON)
def test_common_outputs(family, text, label, status):
    parsed = REGISTRY.parse_output(family, text, TASK)
    assert (parsed.label, parsed.status) == (label, status)


@pytest.mark.parametrize("family", THINKING)
@pytest.mark.parametrize(("text", "label", "status"), THINK_CASES)
def test_think_outputs(family, text, label, status):
    parsed = REGISTRY.parse_output(family, text, TASK)
    assert (parsed.label, parsed.status) == (label, status)
    assert parsed.had_think
    assert "<think>" not in parsed.answer_text.lower() and "</think>" not in parsed.answer_text.lower()


def test_custom_answer_words():
    task = TaskSpec(question="Manual removal?", positive="Removal", negative="Expectant")
    assert REGISTRY.parse_output("qwen", "<think>Removal? Hmm</think>Expectant.", task).label is False


@pytest.mark.parametrize(
    ("text", "answer", "had", "unterminated"),
    [
        ("Yes", "Yes", False, False),
        ("<think>x</think>\n\nNo", "No", True, False),
        ("<think>x", "", True, True),
        ("No <think>x", "No", True, True),
        ("x</think>Yes", "Yes", True, False),
        ("<think>a<think>b</think>c</think>Yes", "Yes", True, False),
        ("", "", False, False),
    ],
)
def test_split_think(text, answer, had, unterminated):
    assert split_think(text) == split_think(text)  # pure
    split = split_think(text)
    assert (split.answer, split.had_think, split.unterminated) == (answer, had, unterminated)


def test_split_think_opened_in_the_prompt():
    assert split_think("the patient is", opened=True).unterminated
    assert split_think("reasoning</think>\n\nNo", opened=True).answer == "No"
    assert parse_thinking("still thinking Yes", TASK, opened=True).status is ParseStatus.UNTERMINATED_THINK


# -- fuzzing: never raises; a label only when the answer part says one word unambiguously ------

# An answer word stands alone: not inside another word or a hyphenated one; "_" is markdown emphasis
# ("_No_"), which the parser reads as a separator.
# Common variants count too ("Yep", "Nope": core/llm/parsing.py VARIANTS).
_WORD = {label: re.compile(rf"(?<![^\W_])(?<!-)(?:{words})(?![^\W_])(?!-)", re.I)
         for label, words in ((True, "yes|yep|yeah|yup|yea"), (False, "no|nope|nah"))}
_FUZZ = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
_ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs",))
_ANY_TEXT = st.text(_ALPHABET, max_size=80) | st.lists(
    st.sampled_from(["Yes", "No", "yes", "NO", "<think>", "</think>", "\n", " ", ".", "**", "Answer:", "maybe",
                     "I cannot", "?", "not", "-"]),
    max_size=12,
).map("".join)


def _valid(parsed: ParsedOutput) -> None:
    assert isinstance(parsed, ParsedOutput)
    assert (parsed.label is None) == (parsed.status is not ParseStatus.OK)
    if parsed.label is not None:
        assert _WORD[parsed.label].search(parsed.answer_text), parsed


@pytest.mark.parametrize("family", FAMILIES)
@_FUZZ
@given(text=_ANY_TEXT)
def test_fuzz_never_raises_and_labels_only_from_the_answer(family, text):
    _valid(REGISTRY.parse_output(family, text, TASK))


@pytest.mark.parametrize("family", FAMILIES)
@_FUZZ
@given(text=st.text(_ALPHABET, max_size=80).filter(lambda t: not (_WORD[True].search(t) or _WORD[False].search(t))))
def test_fuzz_no_label_without_an_answer_word(family, text):
    assert REGISTRY.parse_output(family, text, TASK).label is None


@pytest.mark.parametrize("family", FAMILIES)
@_FUZZ
@given(
    a=st.sampled_from(["Yes", "yes", "YES"]), b=st.sampled_from(["No", "no", "NO"]),
    join=st.sampled_from([" or ", " / ", ", ", " and "]), flip=st.booleans(),
)
def test_fuzz_both_words_is_never_a_label(family, a, b, join, flip):
    text = f"{b}{join}{a}" if flip else f"{a}{join}{b}"
    assert REGISTRY.parse_output(family, text, TASK).status is AMBIGUOUS


@pytest.mark.parametrize("family", THINKING)
@_FUZZ
@given(
    thought=st.text(_ALPHABET, max_size=60).filter(lambda t: "<" not in t),
    label=st.booleans(), sep=st.sampled_from(["", "\n", "\n\n", " "]), opened=st.booleans(),
)
def test_fuzz_the_thought_never_decides(family, thought, label, sep, opened):
    word = TASK.answer(label)
    text = (f"{thought}</think>" if opened else f"<think>{thought}</think>") + sep + word
    parsed = REGISTRY.parse_output(family, text, TASK)
    assert (parsed.label, parsed.status, parsed.had_think) == (label, OK, True)
    unterminated = REGISTRY.parse_output(family, f"<think>{thought} {word}", TASK)
    assert (unterminated.label, unterminated.status) == (None, ParseStatus.UNTERMINATED_THINK)
