"""The core's default prompt templating: a patient record -> system + user text.

Family plugins may override it through ``clinpred_format_prompt``; this is the fallback, and
plugins can build on :func:`record_text` (the record in the task's style). Two styles: ``list``
("Age: 31 years" lines) and ``sentences``, TabLLM's text serialisation ("The age is 31 years.",
Hegselmann et al. 2023): the display name's first word is lowercased unless it is an acronym or
holds other capitals or digits ("HbA1c", "BMI" stay as written).
Features keep the schema's order; missing values read ``task.missing_text`` or are omitted.
The record carries no target, and its id never reaches the text.
"""

from __future__ import annotations

from clinpred.core.values import FeatureValue, MissingPolicy, Prompt, Record, SerializationStyle, TaskSpec


def _value(feature: FeatureValue) -> str:
    assert feature.text is not None
    return f"{feature.text} {feature.unit}" if feature.unit else feature.text


def _lower_first(display: str) -> str:
    """``display`` with its first word lowercased when that word is plainly capitalised."""
    word = display.split(" ", 1)[0]
    if word[:1].isupper() and word[1:] == word[1:].lower() and not any(c.isdigit() for c in word):
        return display[:1].lower() + display[1:]
    return display


def _line(feature: FeatureValue, task: TaskSpec) -> str:
    if task.style is SerializationStyle.SENTENCES:
        value = task.missing_text if feature.missing else _value(feature)
        return f"The {_lower_first(feature.display)} is {value}."
    return f"{feature.display}: {task.missing_text if feature.missing else _value(feature)}"


def record_text(record: Record, task: TaskSpec) -> str:
    """The record's features as text in the task's style (no question)."""
    features = [f for f in record.features if not (f.missing and task.missing is MissingPolicy.OMIT)]
    parts = [_line(f, task) for f in features]
    if task.style is SerializationStyle.SENTENCES:
        return " ".join(parts)
    return "\n".join(parts)


def serialize(record: Record, task: TaskSpec) -> Prompt:
    """The default prompt: intro, the record, the question, and which words to answer with."""
    body = record_text(record, task)
    blocks = [f"{task.intro}\n{body}" if body else task.intro]
    blocks.append(f"{task.question}\nAnswer with {task.positive} or {task.negative} only.")
    return Prompt(user="\n\n".join(b for b in blocks if b), system=task.system or None)
