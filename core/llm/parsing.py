"""The core's robust answer parser: generated text -> label, or a reason why there is none.

A label is given only when the text answers unambiguously. Family plugins that need more (think
blocks, special tokens) clean the text first and then call :func:`parse_answer`.
"""

from __future__ import annotations

import re

from clinpred.core.values import ParsedOutput, ParseStatus, TaskSpec

_MARKDOWN = re.compile(r"[*_`#>|~\"“”‘’«»\[\]()]+")
_MARKER = re.compile(r"\b(?:final\s+answer|answer|prediction|response)\s*(?:is)?\s*[:=\-]\s*", re.I)
_SENTENCE_END = re.compile(r"[.!?;\n]")
#: The first clause ends at a sentence end, a comma, a colon or a dash between words.
_CLAUSE_END = re.compile(r"[.!?;:,\n]|\s[-–—]+\s")
#: Common spellings of the default answer words (used when the task's word is one of these).
VARIANTS = {"yes": ("yep", "yeah", "yup", "yea"), "no": ("nope", "nah")}
_REFUSAL = re.compile(
    r"\b(?:i\s*(?:cannot|can't|can\s*not|am\s+unable|'m\s+unable|am\s+not\s+able|won't|will\s+not)"
    r"|as\s+an\s+ai\b|unable\s+to\s+(?:provide|predict|determine|answer)"
    r"|not\s+able\s+to\s+(?:provide|predict|determine|answer)"
    r"|(?:please\s+)?consult\s+(?:a|your)\s+(?:doctor|physician|healthcare)"
    r"|i'?m\s+sorry|i\s+apologi[sz]e)",
    re.I,
)


def _word(word: str) -> re.Pattern[str]:
    """The answer word, or one of its common variants, as a whole word (any case)."""
    word = word.strip()
    spellings = [word, *VARIANTS.get(word.lower(), ())]
    alternatives = "|".join(re.escape(w) for w in spellings)
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.I)


def _labels_in(text: str, yes: re.Pattern[str], no: re.Pattern[str]) -> set[bool]:
    found = set()
    if yes.search(text):
        found.add(True)
    if no.search(text):
        found.add(False)
    return found


def parse_answer(text: str | None, task: TaskSpec, *, had_think: bool = False) -> ParsedOutput:
    """Read the task's answer word (e.g. Yes/No, any case, markdown allowed) from ``text``.

    Order of evidence: an explicit marker ("Answer: No"), then the first clause (up to a comma,
    colon, dash or sentence end: "No, because ... yes ..." is No), then the first sentence, then
    the whole text. Common variants count ("Yep", "Nope"); quotes and markdown are ignored. Both
    words in the deciding part ("Yes and no") -> ``ambiguous``; none but a refusal phrase ->
    ``refusal``; nothing -> ``empty``; anything else -> ``other``.
    """
    raw = (text or "").strip()
    if not raw:
        return ParsedOutput(None, ParseStatus.EMPTY, "", had_think)
    clean = _MARKDOWN.sub(" ", raw)
    yes, no = _word(task.positive), _word(task.negative)

    marker = _MARKER.search(clean)
    if marker:
        after = clean[marker.end():]
        head = _SENTENCE_END.split(after.strip(), maxsplit=1)[0]
        found = _labels_in(head, yes, no)
        if len(found) == 1:
            return ParsedOutput(found.pop(), ParseStatus.OK, raw, had_think)

    clause, *rest = _CLAUSE_END.split(clean.strip(), maxsplit=1)
    found = _labels_in(clause, yes, no)
    # "Yes, no" / "No - yes" is a contradiction, not an answer followed by its reason
    next_word = re.match(r"[\W_]*(\w+)", rest[0]) if rest else None
    contradicted = next_word is not None and bool(_labels_in(next_word.group(1), yes, no) - found)
    if len(found) == 1 and not contradicted and not _REFUSAL.search(clause):
        return ParsedOutput(found.pop(), ParseStatus.OK, raw, had_think)

    first = _SENTENCE_END.split(clean.strip(), maxsplit=1)[0]
    found = _labels_in(first, yes, no)
    if len(found) == 2:
        return ParsedOutput(None, ParseStatus.AMBIGUOUS, raw, had_think)
    if len(found) == 1 and not _REFUSAL.search(first):
        return ParsedOutput(found.pop(), ParseStatus.OK, raw, had_think)

    if _REFUSAL.search(clean):
        return ParsedOutput(None, ParseStatus.REFUSAL, raw, had_think)
    found = _labels_in(clean, yes, no)
    if len(found) == 1:
        return ParsedOutput(found.pop(), ParseStatus.OK, raw, had_think)
    if len(found) == 2:
        return ParsedOutput(None, ParseStatus.AMBIGUOUS, raw, had_think)
    return ParsedOutput(None, ParseStatus.OTHER, raw, had_think)
