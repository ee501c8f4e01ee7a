"""Reading model outputs for ``clinpred diagnose`` and ``clinpred report``.

Three sources: a run directory (``predictions/*.jsonl`` with ``metrics.json`` and ``run.json``),
one predictions file, or any CSV / TSV / JSONL of raw model outputs that clinpred did not write
(the text and label columns are options). Everything becomes one :class:`ModelOutputs` per model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

from attrs import define, field

from clinpred.core.errors import DataError
from clinpred.core.run.rundir import read_metrics, read_run_info
from clinpred.core.values import TaskSpec

#: text columns tried in order when ``--text-column`` is not given
TEXT_COLUMNS = ("raw_output", "output", "text", "response")
_TRUE = {"1", "1.0", "true", "yes", "y", "t", "positive"}
_FALSE = {"0", "0.0", "false", "no", "n", "f", "negative"}


@define
class ModelOutputs:
    """The evaluated rows of one model. Lists are aligned; ``None`` marks a missing value.

    ``raw`` is None when the source has no text column (a probability-only model); ``status``
    and ``parsed`` are the stored parse results (None when the source has none).
    """

    name: str
    kind: str | None = None  # llm | baseline | None (unknown: an external file)
    family: str | None = None
    ids: list[str | None] = field(factory=list)
    labels: list[int | None] = field(factory=list)
    p_yes: list[float | None] = field(factory=list)
    predicted: list[int | None] = field(factory=list)
    raw: list[str | None] | None = None
    status: list[str | None] | None = None
    parsed: list[int | None] | None = None
    prompts: list[str | None] | None = None
    folds: list[str | None] | None = None  # the split of each row (a run's predictions), else None

    @property
    def n(self) -> int:
        return len(self.labels)


@define
class OutputsSource:
    """What was read: ``kind`` is ``run``, ``predictions`` or ``outputs``."""

    path: Path
    kind: str
    models: list[ModelOutputs]
    task: TaskSpec | None = None
    run_dir: Path | None = None


def task_from_run(run_info: dict[str, Any] | None) -> TaskSpec | None:
    """The run's :class:`TaskSpec` from ``run.json`` (None when absent or unreadable)."""
    task = ((run_info or {}).get("dataset") or {}).get("task")
    if not isinstance(task, dict):
        return None
    try:
        import attrs

        names = {a.name for a in attrs.fields(TaskSpec)}
        return TaskSpec(**{k: v for k, v in task.items() if k in names})
    except (TypeError, ValueError):
        return None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSON-lines file (a ``.json`` file may also hold one list of objects)."""
    from clinpred.core.files import read_regular_bytes

    try:
        text = read_regular_bytes(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: cannot read the file as UTF-8 text ({type(exc).__name__})") from None
    except ValueError as exc:  # a FIFO or device
        raise DataError(f"{path}: {exc}") from None
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; check the path") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file as UTF-8 text ({type(exc).__name__})") from None
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" and stripped.startswith("["):
        try:
            rows = json.loads(text)
        except RecursionError:
            raise DataError(f"{path}: JSON nested too deeply; give a list of flat JSON objects") from None
        except ValueError as exc:
            raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        bad = next((k for k, r in enumerate(rows) if not isinstance(r, dict)), None)
        if bad is not None:
            raise DataError(f"{path}: item {bad + 1} of the list is not a JSON object")
        return rows
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except RecursionError:
            raise DataError(f"{path}: line {number} is JSON nested too deeply; one flat JSON object per line") from None
        except ValueError as exc:
            raise DataError(f"{path}: line {number} is not valid JSON ({exc.msg}); one JSON object per line") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}: line {number} is not a JSON object; one object per line")
        rows.append(row)
    return rows


def _read_csv(path: Path) -> list[dict[str, Any]]:
    from clinpred.core.data.tableread import parse_table, read_file_bytes

    table = parse_table(read_file_bytes(path), str(path), path.suffix)
    return [{c: table.cells[c][i] for c in table.columns} for i in range(table.n_rows)]


def _label(value: Any, where: str, task: TaskSpec | None) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    text = str(value).strip().lower()
    if text in ("", "na", "nan", "null", "none"):
        return None
    if text in _TRUE or (task and text == task.positive.lower()):
        return 1
    if text in _FALSE or (task and text == task.negative.lower()):
        return 0
    raise DataError(f"{where}: a label is not 0/1, true/false or yes/no; fix the column or name another with --label-column")


def _number(value: Any, where: str) -> float | None:
    if value is None or (isinstance(value, str) and value.strip() in ("", "NA", "nan", "null")):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{where}: a value is not a number; p_yes must be a probability in [0, 1]") from None
    if not math.isfinite(x) or not 0.0 <= x <= 1.0:
        raise DataError(f"{where}: a value is outside [0, 1]; p_yes must be a probability")
    return x


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value if isinstance(value, str) else str(value)


def outputs_from_rows(name: str, rows: Sequence[dict[str, Any]], where: str, *, text_column: str | None = None,
                      label_column: str = "label", task: TaskSpec | None = None, kind: str | None = None,
                      family: str | None = None) -> ModelOutputs:
    """One model's :class:`ModelOutputs` from rows (dicts of column -> value)."""
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    if text_column is not None and text_column not in columns:
        raise DataError(f"{where}: no column {text_column!r} (columns: {', '.join(columns)}); check --text-column")
    text_col = text_column or next((c for c in TEXT_COLUMNS if c in columns), None)
    has_status = "parse_status" in columns
    if text_col is None and "p_yes" not in columns and not has_status:
        raise DataError(
            f"{where}: no model outputs found: no text column ({', '.join(TEXT_COLUMNS)}) and no p_yes; "
            "name the text column with --text-column"
        )
    out = ModelOutputs(name=name, kind=kind, family=family)
    out.raw = [] if text_col else None
    out.status = [] if has_status else None
    out.parsed = [] if "parsed" in columns else None
    out.prompts = [] if "prompt" in columns else None
    out.folds = [] if "fold" in columns else None
    have_label = label_column in columns
    for k, row in enumerate(rows):
        at = f"{where}, row {k + 1}"
        out.ids.append(_text(row.get("id")))
        if out.folds is not None:
            out.folds.append(_text(row.get("fold")))
        out.labels.append(_label(row.get(label_column), f"{at}, column {label_column!r}", task) if have_label else None)
        out.p_yes.append(_number(row.get("p_yes"), f"{at}, column 'p_yes'"))
        pred = row.get("predicted")
        out.predicted.append(None if pred in (None, "") else _label(pred, f"{at}, column 'predicted'", task))
        if out.raw is not None:
            out.raw.append(_text(row.get(text_col)))
        if out.status is not None:
            out.status.append(_text(row.get("parse_status")) or None)
        if out.parsed is not None:
            value = row.get("parsed")
            out.parsed.append(None if value in (None, "") else _label(value, f"{at}, column 'parsed'", task))
        if out.prompts is not None:
            out.prompts.append(_text(row.get("prompt")))
    return out


def _run_context(run_dir: Path) -> tuple[dict[str, Any], TaskSpec | None]:
    metrics = read_metrics(run_dir) or {}
    return (metrics.get("models") or {}), task_from_run(read_run_info(run_dir))


def _is_run_dir(path: Path) -> bool:
    return path.is_dir() and ((path / "run.json").exists() or (path / "predictions").is_dir())


def read_run_outputs(run_dir: Path) -> OutputsSource:
    """Every model's predictions of a run directory (models of ``metrics.json`` first, in its order)."""
    from clinpred.core.run.rundir import safe

    if not _is_run_dir(run_dir):
        raise DataError(f"{run_dir}: not a run directory (no run.json or predictions/); give RUN_DIR of `clinpred run`")
    from clinpred.core.report.unfinished import refuse_unfinished

    refuse_unfinished(run_dir, "diagnose")  # an empty table with exit 0 said nothing
    entries, task = _run_context(run_dir)
    files = {p.stem: p for p in sorted((run_dir / "predictions").glob("*.jsonl"))}
    models: list[ModelOutputs] = []
    for name, entry in entries.items():
        path = files.pop(safe(name), None)
        if path is not None:
            models.append(outputs_from_rows(name, _run_rows(path), str(path), task=task,
                                            kind=entry.get("kind"), family=entry.get("family")))
    for stem, path in files.items():
        models.append(outputs_from_rows(stem, _run_rows(path), str(path), task=task))
    return OutputsSource(run_dir, "run", models, task, run_dir)


def _run_rows(path: Path) -> list[dict[str, Any]]:
    """A run's predictions file; a damaged one is a corrupt run file (exit 2) that ``--resume`` rewrites."""
    from clinpred.core.errors import CorruptRunFileError
    from clinpred.core.run.rundir import recovery

    try:
        return read_jsonl(path)
    except DataError as exc:
        raise CorruptRunFileError(f"{exc}; {recovery(path)}") from None


def read_outputs(path: str | Path, *, text_column: str | None = None, label_column: str = "label") -> OutputsSource:
    """Read a run directory, a predictions file or a CSV / TSV / JSONL of raw outputs."""
    path = Path(path)
    if path.is_dir():
        return read_run_outputs(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory; give a run directory, a predictions file or a CSV/JSONL of outputs")
    suffix = path.suffix.lower()
    rows = read_jsonl(path) if suffix in (".jsonl", ".json", ".ndjson") else _read_csv(path)
    if not rows:
        raise DataError(f"{path}: holds no rows")
    run_dir = path.parent.parent if path.parent.name == "predictions" else None
    kind, family, task, source_kind = None, None, None, "outputs"
    if run_dir is not None and _is_run_dir(run_dir):
        entries, task = _run_context(run_dir)
        from clinpred.core.run.rundir import safe

        match = next((n for n in entries if safe(n) == path.stem), None)
        if match is not None:
            kind, family, source_kind = entries[match].get("kind"), entries[match].get("family"), "predictions"
    else:
        run_dir = None
    model = outputs_from_rows(path.stem, rows, str(path), text_column=text_column, label_column=label_column,
                              task=task, kind=kind, family=family)
    return OutputsSource(path, source_kind, [model], task, run_dir)
