"""The TOML text of a drafted dataset schema: the form of core/data/default_dataset.toml, with the
rule behind every guess and the TODOs for the user as comments."""

from __future__ import annotations

import json
from typing import Any

from clinpred.core.data.schema_draft import SMALL_CELL, DraftFeature, SchemaDraft


def _str(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(str(text), ensure_ascii=False)


def _comment(text: str) -> str:
    """Text safe inside a ``#`` comment (one line)."""
    return " ".join(str(text).split())


def _val(value: Any) -> str:
    return _str(value) if isinstance(value, str) else repr(value)


def _inline(labels: dict[str, str]) -> str:
    return "{ " + ", ".join(f"{_str(k)} = {_str(v)}" for k, v in labels.items()) + " }"


def _levels_comment(feature: DraftFeature) -> str | None:
    if not feature.levels and not feature.hidden_levels:
        return None
    shown = ", ".join(_str(v) for v in feature.levels)
    rare = (f"{' + ' if shown else ''}{feature.hidden_levels} level(s) seen in fewer than {SMALL_CELL} rows, "
            "not shown") if feature.hidden_levels else ""
    return _comment(f"# levels: {shown}{rare}")


def _feature_lines(feature: DraftFeature, rows: int) -> list[str]:
    lines = ["", "[[features]]", f"name = {_str(feature.name)}", f"display = {_str(feature.display)}",
             f"kind = {_str(feature.kind)}"]
    if feature.kind == "numeric":
        lines.append(f"decimals = {feature.decimals}")
        lines.append('# unit = ""                      # TODO: the unit, e.g. "years", "mmHg", "g/dL"')
    if feature.value_labels:
        lines.append(f"value_labels = {_inline(feature.value_labels)}")
    levels = _levels_comment(feature)
    if levels:
        lines.append(levels)
    if feature.missing:
        lines.append(f"# missing in {feature.missing} of {rows} rows")
    lines += [f"# {_comment(note)}" for note in feature.notes]
    return lines


def draft_toml(draft: SchemaDraft, *, source: str, path_in_file: str) -> str:
    """The schema file ``clinpred data init`` writes (``path_in_file``: the data path as written)."""
    labels = draft.target_labels
    target_values = ", ".join(f"{k} = {v!r}" for k, v in labels.items())
    lines = [
        f"# Dataset schema drafted by `clinpred data init` from {_comment(source)} ({draft.rows} rows).",
        "# Check every guess, fill in the TODOs, then: clinpred data check --config THIS_FILE",
        "# Use it from a run config with:  [dataset]  schema = \"THIS_FILE\"",
        "",
        f"path = {_str(path_in_file)}",
        f"id_column = {_str(draft.id_column)}            # {draft.id_reason}",
        f"target_column = {_str(draft.target_column)}    # {draft.target_reason}",
        f"positive_values = [{_val(draft.positive)}]     # {draft.positive_reason}; "
        f"{draft.events} of {draft.rows} rows",
        f"negative_values = [{_val(draft.negative)}]",
    ]
    if target_values:
        lines.append(_comment(f"# value labels of {draft.target_column!r} in the file: {target_values}"))
    if draft.missing_values:
        lines.append(f"missing_values = [{', '.join(_str(m) for m in draft.missing_values)}]   "
                     "# markers of a missing value seen in the file")
    lines += [
        "",
        "[task]",
        f"question = {_str(draft.question)}   # TODO: the clinical question, as a clinician would ask it",
        'positive = "Yes"',
        'negative = "No"',
        '# system = "You are a clinical prediction assistant. Read the patient record and answer '
        'the question with one word."',
        '# style = "list"                  # list | sentences',
        '# missing = "not-recorded"        # not-recorded | omit',
    ]
    for feature in draft.features:
        lines += _feature_lines(feature, draft.rows)
    if draft.left_out:
        lines += ["", "# Columns left out of the features (add a [[features]] entry to use one):"]
        lines += [f"#   {_comment(column)}: {why}" for column, why in draft.left_out]
    return "\n".join(lines) + "\n"


def path_in_schema(data_path: str, schema_path: str) -> str:
    """The data path as the schema file should hold it: relative to the schema's folder (as the
    schema resolves it) when possible, else absolute."""
    import os
    from pathlib import Path

    data = Path(data_path).expanduser().resolve()
    folder = Path(schema_path).expanduser().resolve().parent
    try:
        return Path(os.path.relpath(data, folder)).as_posix()
    except ValueError:  # another drive (Windows)
        return str(data)
