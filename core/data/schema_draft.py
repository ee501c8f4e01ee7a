"""A first dataset schema guessed from a data file (``clinpred data init``), by fixed rules, no questions.

The rules (README "Your own data" and ``clinpred data init --help`` say the same):

- **missing**: empty cells and the markers NA, N/A, #N/A, NaN, NULL, None, ``.``, ``?``, ``-`` and
  "missing" (any case) are missing; the markers seen are written as ``missing_values``.
- **id**: the first column whose name says id (without ``_`` / ``-`` / spaces it starts or ends with
  "id": ``patient_id``, ``ID``, ``SubjID``) with a value in every row, all different and none a
  decimal number; else the first column with such values (``--id`` names it instead).
- **target**: among the other columns with exactly two values and none missing, the first whose
  name says outcome (outcome, target, label, class, event, status, death, died, dead, mortality,
  diagnosis, or ``y``); else the last one (``--target`` names it instead).
- **positive value**: the value (or its value label) that reads 1, yes, y, true, positive, present,
  case, dead, died or death; else the rarer value (events are usually the rarer class).
- **kind**: two values -> binary; numbers -> numeric, unless value labels name every value seen
  (then categorical); text with 3..50 values -> categorical. Left out, with the reason in a comment:
  columns with no value or one value, text with more than 50 values or a different value in every
  row (an identifier, a date or free text), and other id-like columns.
- **decimals**: the most decimals written in the column, at most 4 (prompts only; the models
  see every digit).
- **labels**: SPSS/Stata variable labels become ``display``, value labels of the values seen
  become ``value_labels``. Units are left as TODO comments.

Only aggregates are kept: counts, names, levels seen in at least ``SMALL_CELL`` rows (rarer levels
are counted, never shown), never a patient row, an id or a single extreme value.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from attrs import define, field, validators

from clinpred.core.data.levels import MANY_LEVELS
from clinpred.core.data.tableread import TextTable
from clinpred.core.errors import DataError

MISSING_MARKERS = ("na", "n/a", "#n/a", "nan", "null", "none", ".", "?", "-", "missing")
OUTCOME_WORDS = ("outcome", "target", "label", "class", "event", "status", "death", "died", "dead",
                 "mortality", "diagnosis")
POSITIVE_WORDS = ("1", "yes", "y", "true", "positive", "present", "case", "dead", "died", "death")
MAX_DECIMALS = 4
#: a level seen in fewer rows is a small cell: counted in the draft, never shown
SMALL_CELL = 5

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@define(frozen=True)
class DraftFeature:
    """One feature of the draft, with the notes written next to it."""

    name: str
    kind: str = field(validator=validators.in_(("numeric", "categorical", "binary")))
    display: str = ""
    decimals: int | None = None
    value_labels: dict[str, str] = field(factory=dict)
    levels: tuple[str, ...] = ()  # levels shown (each seen in >= SMALL_CELL rows)
    hidden_levels: int = 0  # rarer levels, counted only
    missing: int = 0
    notes: tuple[str, ...] = ()


@define(frozen=True)
class SchemaDraft:
    """What ``clinpred data init`` writes: the guesses, each with the rule that made it."""

    path: str
    rows: int
    id_column: str
    id_reason: str
    target_column: str
    target_reason: str
    positive: Any
    negative: Any
    positive_reason: str
    target_labels: dict[str, str]
    events: int
    features: tuple[DraftFeature, ...]
    left_out: tuple[tuple[str, str], ...]  # (column, why)
    missing_values: tuple[str, ...]
    question: str


def _is_missing(cell: str) -> bool:
    return not cell or cell.strip().lower() in MISSING_MARKERS


def _present(table: TextTable, column: str) -> list[str]:
    return [c for c in table.cells[column] if not _is_missing(c)]


def _says_id(name: str) -> bool:
    plain = re.sub(r"[\s_\-.]", "", name).lower()
    return plain.startswith("id") or plain.endswith("id")


def _unique_keys(table: TextTable, column: str) -> bool:
    cells = table.cells[column]
    if table.n_rows == 0 or any(_is_missing(c) for c in cells) or len(set(cells)) != len(cells):
        return False
    return not any(_NUMBER.match(c) and not float(c).is_integer() for c in cells)


def _guess_id(table: TextTable, given: str | None, name: str) -> tuple[str, str]:
    if given is not None:
        return given, "named with --id"
    candidates = [c for c in table.columns if _unique_keys(table, c)]
    named = [c for c in candidates if _says_id(c)]
    if named:
        return named[0], "its name says id and every row has a different value"
    if candidates:
        return candidates[0], "the first column with a different value in every row (no column name says id)"
    raise DataError(f"{name}: no column has a value in every row, all different, to serve as the patient id; "
                    "add one (row numbers will do) or name it with --id COLUMN")


def _says_outcome(name: str) -> bool:
    low = name.lower()
    return low == "y" or any(word in low for word in OUTCOME_WORDS)


def _guess_target(table: TextTable, id_column: str, given: str | None, name: str) -> tuple[str, str]:
    if given is not None:
        present = _present(table, given)
        if len(present) < table.n_rows:
            raise DataError(f"{name}: target column {given!r} has {table.n_rows - len(present)} missing values; "
                            "every row needs an outcome (drop those rows first)")
        if len(set(present)) != 2:
            raise DataError(f"{name}: target column {given!r} has {len(set(present))} distinct values; a target "
                            "needs exactly two (recode it, e.g. into 0 and 1)")
        return given, "named with --target"
    binary = [c for c in table.columns if c != id_column
              and len(_present(table, c)) == table.n_rows and len(set(table.cells[c])) == 2]
    named = [c for c in binary if _says_outcome(c)]
    if named:
        return named[0], "the first two-valued column, none missing, whose name says outcome"
    if binary:
        return binary[-1], "the last two-valued column with none missing (no name says outcome)"
    raise DataError(f"{name}: no column has exactly two values and none missing to serve as the outcome; "
                    "name it with --target COLUMN (recode it into two values first)")


def _value(text: str) -> Any:
    """A target value for the TOML: an integer or a number when it is one, else the text."""
    if _NUMBER.match(text):
        number = float(text)
        return int(number) if number.is_integer() and abs(number) < 1e15 else number
    return text


def _means_yes(text: str) -> bool:
    low = text.strip().lower()
    return low in POSITIVE_WORDS or bool(_NUMBER.match(low)) and float(low) == 1.0


def _positive(values: Counter, labels: dict[str, str]) -> tuple[str, str, str]:
    """(positive, negative, the rule that chose) for a two-valued target: value labels decide before
    the values (SPSS's 1 = "no", 2 = "yes" is positive 2)."""
    (a, count_a), (b, count_b) = sorted(values.items(), key=lambda kv: (kv[1], kv[0]))
    for what, text_of in (("value label", labels.get), ("value", lambda v: v)):
        for value, other in ((a, b), (b, a)):
            text = text_of(value)
            if text is not None and _means_yes(text):
                return value, other, f"its {what} {text!r} means yes"
    return a, b, f"the rarer value ({count_a} of {count_a + count_b} rows); check it"


def _decimals(cells: list[str]) -> tuple[int, int]:
    """(decimals written, most decimals seen) of a numeric column."""
    most = 0
    for cell in cells:
        mantissa, _, exponent = cell.lower().partition("e")
        digits = len(mantissa.partition(".")[2])
        most = max(most, digits - int(exponent or 0))
    return min(max(most, 0), MAX_DECIMALS), most


def _levels(present: list[str], labels: dict[str, str]) -> tuple[tuple[str, ...], int]:
    counts = Counter(present)
    shown = tuple(sorted(v for v, n in counts.items() if n >= SMALL_CELL or v in labels))
    return shown, len(counts) - len(shown)


def _display(column: str, table: TextTable) -> str:
    label = table.column_labels.get(column)
    return label or column.replace("_", " ").strip().capitalize() or column


def _feature(table: TextTable, column: str) -> DraftFeature | str:
    """The column as a draft feature, or the reason it is left out."""
    present = _present(table, column)
    distinct = set(present)
    labels_all = table.value_labels.get(column, {})
    labels = {k: v for k, v in labels_all.items() if k in distinct}
    missing = table.n_rows - len(present)
    notes: list[str] = []
    if len(labels) < len(labels_all):
        notes.append(f"{len(labels_all) - len(labels)} value label(s) of values not in the data left out")
    common = dict(name=column, display=_display(column, table), missing=missing)
    if not distinct:
        return "no values"
    if len(distinct) == 1:
        return "one value only (nothing to learn from)"
    numeric = all(_NUMBER.match(v) for v in distinct)
    if len(distinct) == 2:
        levels, hidden = _levels(present, labels)
        return DraftFeature(kind="binary", value_labels=labels, levels=levels, hidden_levels=hidden,
                            notes=tuple(notes), **common)
    if numeric and labels and len(labels) == len(distinct):
        if len(distinct) > MANY_LEVELS:
            return f"{len(distinct)} labelled codes (too many levels for a categorical feature)"
        levels, hidden = _levels(present, labels)
        return DraftFeature(kind="categorical", value_labels=labels, levels=levels, hidden_levels=hidden,
                            notes=tuple(notes), **common)
    if numeric:
        if _says_id(column) and len(distinct) == len(present) and all(float(v).is_integer() for v in distinct):
            return "looks like another identifier (its name says id, every value different)"
        decimals, most = _decimals(present)
        if most > MAX_DECIMALS:
            notes.append(f"values carry up to {most} decimals; prompts show {MAX_DECIMALS}")
        if labels:
            notes.append("value labels name some values only: " + ", ".join(f"{k} = {v!r}" for k, v in labels.items()))
        if all(float(v).is_integer() for v in distinct) and len(distinct) <= 10 and not labels:
            notes.append(f"{len(distinct)} distinct whole numbers: if they are codes, "
                         'make it kind = "categorical" with value_labels')
        return DraftFeature(kind="numeric", decimals=decimals, notes=tuple(notes), **common)
    if len(distinct) > MANY_LEVELS or (len(distinct) == len(present) and len(present) >= 10):
        return (f"text with {len(distinct)} different values"
                + (" (a different value in every row)" if len(distinct) == len(present) else "")
                + ": an identifier, a date or free text?")
    levels, hidden = _levels(present, labels)
    return DraftFeature(kind="categorical", value_labels=labels, levels=levels, hidden_levels=hidden,
                        notes=tuple(notes), **common)


def draft_schema(table: TextTable, *, path: str, name: str, id_column: str | None = None,
                 target_column: str | None = None) -> SchemaDraft:
    """Guess a dataset schema for ``table`` by the rules above (``name`` prefixes messages)."""
    for given, option in ((id_column, "--id"), (target_column, "--target")):
        if given is not None and given not in table.cells:
            raise DataError(f"{name}: {option} {given!r} is not a column (the file has: "
                            f"{', '.join(table.columns[:12])}{', ...' if len(table.columns) > 12 else ''})")
    if table.n_rows == 0:
        raise DataError(f"{name}: has a header but no data rows")
    id_col, id_reason = _guess_id(table, id_column, name)
    target, target_reason = _guess_target(table, id_col, target_column, name)
    if id_col == target:
        raise DataError(f"{name}: the id and the target would be the same column {id_col!r}; name them with --id and --target")
    counts = Counter(table.cells[target])
    target_labels = table.value_labels.get(target, {})
    positive, negative, positive_reason = _positive(counts, target_labels)
    features: list[DraftFeature] = []
    left_out: list[tuple[str, str]] = []
    for column in table.columns:
        if column in (id_col, target):
            continue
        result = _feature(table, column)
        if isinstance(result, str):
            left_out.append((column, result))
        else:
            features.append(result)
    if not features:
        raise DataError(f"{name}: no column besides the id {id_col!r} and the target {target!r} can be a feature "
                        f"(left out: {', '.join(f'{c} ({why})' for c, why in left_out) or 'none'})")
    seen = Counter(c.strip() for col in table.columns if col != target for c in table.cells[col]
                   if c.strip() and c.strip().lower() in MISSING_MARKERS)
    outcome = target_labels.get(positive) or _display(target, table)
    return SchemaDraft(
        path=path, rows=table.n_rows, id_column=id_col, id_reason=id_reason, target_column=target,
        target_reason=target_reason, positive=_value(positive), negative=_value(negative),
        positive_reason=positive_reason, target_labels=target_labels, events=counts[positive],
        features=tuple(features), left_out=tuple(left_out), missing_values=tuple(sorted(seen)),
        question=f"Will this patient have the outcome {outcome!r}?",
    )


def draft_from_file(path: str, *, id_column: str | None = None, target_column: str | None = None) -> SchemaDraft:
    """Read a data file (any format clinpred reads) and draft its schema."""
    from pathlib import Path

    from clinpred.core.data.tableread import parse_table, read_file_bytes

    file = Path(path).expanduser()
    table = parse_table(read_file_bytes(file), str(file), file.suffix)
    return draft_schema(table, path=str(file), name=str(file), id_column=id_column, target_column=target_column)
