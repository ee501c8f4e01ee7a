"""Think tags shared by the reasoning families: split ``<think>...</think>`` from the answer.

Reasoning models (Qwen3, DeepSeek-R1 distills) write a thought in ``<think>...</think>`` before
the answer. The thought often mentions both answer words, so the label must be read from the
text after it. Three shapes occur:

- complete blocks ``<think>...</think>answer`` (removed, the rest is the answer);
- a closing tag only, ``...</think>answer``: the opening tag was in the prompt (DeepSeek-R1's
  template ends its generation prompt with ``<think>\\n``), so everything before it is thought;
- an unterminated ``<think>...``: the generation stopped inside the thought; only text before it
  can be an answer.
"""

from __future__ import annotations

import re

from attrs import define

from clinpred.api import ParsedOutput, ParseStatus, TaskSpec, parse_answer

_OPEN = "<think>"
_CLOSE = "</think>"
_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_OPEN_RE = re.compile(re.escape(_OPEN), re.IGNORECASE)
_CLOSE_RE = re.compile(re.escape(_CLOSE), re.IGNORECASE)


@define(frozen=True)
class ThinkSplit:
    """A generated text split into its answer part and what was thought."""

    answer: str  # the text outside any think block (stripped)
    had_think: bool  # any think tag occurred
    unterminated: bool  # a thought was opened and never closed


def split_think(text: str | None, *, opened: bool = False) -> ThinkSplit:
    """Remove think blocks from ``text``.

    ``opened`` says the prompt itself ended inside a thought (its generation prompt ended with
    ``<think>``): then text with no closing tag is all thought.
    """
    raw = text or ""
    rest = _BLOCK.sub(" ", raw)
    had = rest != raw
    closes = list(_CLOSE_RE.finditer(rest))
    if closes:  # an orphan closing tag: its opening tag was in the prompt (or nested blocks)
        rest = rest[closes[-1].end():]
        had = True
    elif opened and not had:
        return ThinkSplit("", True, True)
    opening = _OPEN_RE.search(rest)
    if opening:
        return ThinkSplit(rest[: opening.start()].strip(), True, True)
    return ThinkSplit(rest.strip(), had, False)


def parse_thinking(text: str | None, task: TaskSpec, *, opened: bool = False) -> ParsedOutput:
    """Parse a reasoning model's output: strip thoughts, then the core's Yes/No parser.

    A thought with nothing after it is ``think-only``; a thought that never closed (with no
    answer before it) is ``unterminated-think``. A label is read only from the answer part.
    """
    split = split_think(text, opened=opened)
    if not split.answer and split.had_think:
        status = ParseStatus.UNTERMINATED_THINK if split.unterminated else ParseStatus.THINK_ONLY
        return ParsedOutput(None, status, "", True)
    return parse_answer(split.answer, task, had_think=split.had_think)


__all__ = ["ThinkSplit", "split_think", "parse_thinking"]
