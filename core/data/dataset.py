"""Loading a dataset and validating it against its schema.

``load_dataset(path, schema)`` reads CSV/TSV (delimiter sniffed), Parquet or Excel, checks every
column the schema names, and returns a :class:`Dataset`: typed features (numeric -> float,
categorical/binary -> text, NaN where missing), ids, 0/1 labels and the file's sha256.
Every problem is one :class:`DataError` line naming the column (and the line/row when it helps);
nothing is coerced silently. Messages may show one offending cell, never a patient row.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np
from attrs import define, field

from clinpred.core.errors import DataError
from clinpred.core.data.file_labels import unused_file_labels
from clinpred.core.data.levels import check_levels
from clinpred.core.data.schema import DatasetSchema, FeatureSpec, _norm
from clinpred.core.data.tableread import TextTable, parse_table, read_file_bytes
from clinpred.core.values import FeatureValue, Record

if TYPE_CHECKING:
    import pandas as pd

#: Fewest patients of each class a dataset must have to be split for training and testing.
MIN_PER_CLASS = 10
#: Above this fraction of missing values, a column gets a warning.
HEAVY_MISSING = 0.30

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _show(text: str, limit: int = 30) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _show_values(values: Iterable[str], limit: int = 6) -> str:
    values = list(values)
    shown = ", ".join(_show(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def render_value(spec: FeatureSpec, value: Any) -> str | None:
    """The prompt text of one raw value: rounded by ``decimals``, value label applied; None if missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if spec.kind == "numeric":
        number = float(value)
        if spec.decimals is not None:
            text = f"{number:.{spec.decimals}f}"
        elif number.is_integer() and abs(number) < 1e15:
            text = str(int(number))
        else:
            text = np.format_float_positional(number, trim="-")
        return text[1:] if text.startswith("-") and float(text) == 0 else text
    text = str(value)
    if text in spec.value_labels:
        return spec.value_labels[text]
    key = _norm(text)
    for raw, label in spec.value_labels.items():
        if _norm(raw) == key:
            return label
    return text


@define(eq=False)
class Dataset:
    """A validated dataset: typed feature frame, ids, labels (1 = positive) and provenance."""

    frame: "pd.DataFrame"  # features only, in schema order
    ids: list[str]
    labels: np.ndarray  # int 0/1
    schema: DatasetSchema
    sha256: str
    source: str
    warnings: list[str] = field(factory=list)
    ignored_columns: list[str] = field(factory=list)
    true_probability: np.ndarray | None = None  # known only for the synthetic cohort
    groups: np.ndarray | None = None  # the schema's group_column, one value per row (else None)
    _texts: dict[str, list[str | None]] | None = field(default=None, init=False, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_events(self) -> int:
        return int(self.labels.sum())

    @property
    def prevalence(self) -> float:
        return self.n_events / len(self.ids)

    @property
    def bayes_auroc(self) -> float | None:
        """AUROC of the true probabilities (the synthetic cohort's ceiling), else None."""
        if self.true_probability is None:
            return None
        from clinpred.core.data.synthetic import bayes_auroc

        return bayes_auroc(self.labels, self.true_probability)

    def _indices(self, indices: Sequence[int] | np.ndarray | None) -> np.ndarray:
        if indices is None:
            return np.arange(len(self.ids))
        return np.asarray(indices, dtype=int).reshape(-1)

    def _rendered(self) -> dict[str, list[str | None]]:
        if self._texts is None:
            self._texts = {
                spec.name: [render_value(spec, v) for v in self.frame[spec.name].tolist()]
                for spec in self.schema.features
            }
        return self._texts

    def records(self, indices: Sequence[int] | np.ndarray | None = None) -> list[Record]:
        """Patient records (features only, rendered text) for the given row positions."""
        texts = self._rendered()
        columns = {spec.name: self.frame[spec.name].tolist() for spec in self.schema.features}
        out = []
        for i in self._indices(indices):
            features = []
            for spec in self.schema.features:
                raw = columns[spec.name][i]
                text = texts[spec.name][i]
                features.append(
                    FeatureValue(
                        name=spec.name,
                        display=spec.display,
                        value=None if text is None else raw,
                        text=text,
                        unit=spec.unit,
                        kind=spec.kind,
                    )
                )
            out.append(Record(id=self.ids[i], features=tuple(features)))
        return out

    def feature_frame(self, indices: Sequence[int] | np.ndarray | None = None) -> "pd.DataFrame":
        """The features (never the id or target) of the given rows, as a fresh frame with a 0..n-1 index."""
        return self.frame.iloc[self._indices(indices)].reset_index(drop=True).copy()

    def summary(self) -> dict[str, Any]:
        """Rows, events, prevalence and each feature column's type and missingness (JSON-able)."""
        columns = []
        n = len(self.ids)
        for spec in self.schema.features:
            series = self.frame[spec.name]
            missing = int(series.isna().sum())
            entry: dict[str, Any] = {
                "name": spec.name,
                "display": spec.display,
                "kind": spec.kind,
                "missing": missing,
                "missing_fraction": missing / n,
            }
            present = series.dropna()
            if spec.kind == "numeric":
                entry.update(mean=float(present.mean()), min=float(present.min()), max=float(present.max()))
            else:
                entry["levels"] = int(present.nunique())
            columns.append(entry)
        return {
            "source": self.source,
            "sha256": self.sha256,
            "rows": n,
            "events": self.n_events,
            "non_events": n - self.n_events,
            "prevalence": self.prevalence,
            "target_column": self.schema.target_column,
            "id_column": self.schema.id_column,
            "columns": columns,
            "ignored_columns": list(self.ignored_columns),
            "warnings": list(self.warnings),
        }


def load_dataset(path: str | Path, schema: DatasetSchema, *, min_per_class: int = MIN_PER_CLASS) -> Dataset:
    """Read and validate a data file against ``schema`` (one DataError line per problem)."""
    path = Path(path).expanduser()
    data = read_file_bytes(path)
    return load_bytes(data, schema, name=str(path), suffix=path.suffix, source=str(path), min_per_class=min_per_class)


def load_bytes(
    data: bytes,
    schema: DatasetSchema,
    *,
    name: str,
    suffix: str = ".csv",
    source: str | None = None,
    min_per_class: int = MIN_PER_CLASS,
) -> Dataset:
    """Validate file bytes against ``schema``; ``name`` prefixes messages."""
    table = parse_table(data, name, suffix)
    return _validate(table, schema, name=name, sha256=hashlib.sha256(data).hexdigest(),
                     source=source or name, min_per_class=min_per_class)


def load_from_schema(
    schema: DatasetSchema, *, seed: int = 42, n: int = 577, min_per_class: int = MIN_PER_CLASS
) -> Dataset:
    """The schema's data: the synthetic cohort (``n`` patients, ``seed``) or its file."""
    if not schema.is_synthetic:
        return load_dataset(schema.path, schema, min_per_class=min_per_class)
    from clinpred.core.data.synthetic import cohort_csv, generate_cohort

    frame, truth = generate_cohort(n=n, seed=seed)
    source = f"synthetic retained-placenta cohort (n={n}, seed={seed})"
    dataset = load_bytes(cohort_csv(frame), schema, name="synthetic cohort", source=source,
                         min_per_class=min_per_class)
    dataset.true_probability = truth
    return dataset


def load_new_patients(path: str | Path, schema: DatasetSchema) -> tuple[Dataset, list[int | None] | None]:
    """Validate a data file against the run's schema; the outcome column may be absent or partly empty.

    Returns the validated dataset and the known outcomes (None when the file has no outcome column).
    Missing outcomes are filled with a positive value only so that the common validation runs; they
    come back as None and ``dataset.labels`` must not be used for them.
    """
    path = Path(path).expanduser()
    data = read_file_bytes(path)
    table = parse_table(data, str(path), path.suffix)
    target = schema.target_column
    labels: list[int | None] | None = None
    filler = str(schema.positive_values[0])
    if target in table.cells:
        known = [bool(v) for v in table.cells[target]]
        table.cells[target] = [v if v else filler for v in table.cells[target]]
    else:
        known = None
        table.columns.append(target)
        table.cells[target] = [filler] * table.n_rows
    dataset = _validate(table, schema, name=str(path), sha256=hashlib.sha256(data).hexdigest(), source=str(path),
                        min_per_class=0)
    if known is not None:
        labels = [int(y) if k else None for y, k in zip(dataset.labels.tolist(), known)]
    return dataset, labels


def _validate(
    table: TextTable, schema: DatasetSchema, *, name: str, sha256: str, source: str, min_per_class: int
) -> Dataset:
    import pandas as pd

    needed = [schema.id_column, schema.target_column, *schema.feature_names]
    if getattr(schema, "group_column", None):
        needed.append(schema.group_column)
    absent = [c for c in needed if c not in table.cells]
    if absent:
        have = table.columns[:12] + (["..."] if len(table.columns) > 12 else [])
        what = "column" if len(absent) == 1 else "columns"
        raise DataError(
            f"{name}: missing {what} {', '.join(map(repr, absent))} (the file has: {', '.join(have)}); "
            "fix the file or the schema"
        )
    if table.n_rows == 0:
        raise DataError(f"{name}: has a header but no data rows")

    ids = _check_ids(table, schema.id_column, name)
    labels = _target_labels(table, schema, name)
    frame_cols: dict[str, Any] = {}
    warnings: list[str] = []
    for spec in schema.features:
        values, n_missing = _feature_column(table, spec, name)
        frame_cols[spec.name] = values
        if n_missing == table.n_rows:
            raise DataError(
                f"{name}: feature column {spec.name!r} has no values (all {table.n_rows} rows missing); "
                "fill it or remove it from the schema"
            )
        if spec.kind == "categorical":
            warnings.extend(check_levels(values, spec, name))
        if n_missing / table.n_rows > HEAVY_MISSING:
            warnings.append(
                f"column {spec.name!r}: {n_missing / table.n_rows:.0%} of values are missing "
                f"({n_missing} of {table.n_rows})"
            )
    events = int(labels.sum())
    for cls, count in (("positive", events), ("negative", len(labels) - events)):
        if count < min_per_class:
            raise DataError(
                f"{name}: target column {schema.target_column!r} has only {count} {cls} rows "
                f"({events} positive, {len(labels) - events} negative); at least {min_per_class} of "
                "each class are needed to split into training and test parts"
            )
    frame = pd.DataFrame(
        {
            spec.name: pd.Series(frame_cols[spec.name], dtype=float if spec.kind == "numeric" else object)
            for spec in schema.features
        }
    )
    warnings.extend(unused_file_labels(table, schema))
    ignored = [c for c in table.columns if c not in needed]
    groups = _groups(table, schema.group_column, name) if getattr(schema, "group_column", None) else None
    return Dataset(frame=frame, ids=ids, labels=labels, schema=schema, sha256=sha256, source=source,
                   warnings=warnings, ignored_columns=ignored, groups=groups)


def _groups(table: TextTable, column: str, name: str) -> np.ndarray:
    """The group column's values (text); every row needs one."""
    values = [str(v).strip() for v in table.cells[column]]
    empty = [i for i, v in enumerate(values) if not v]
    if empty:
        raise DataError(f"{name}: group column {column!r}, {table.where(empty[0])}: no group value "
                        f"({len(empty)} rows empty); every row needs its group (patient, matched set, site)")
    return np.asarray(values, dtype=object)


def _check_ids(table: TextTable, column: str, name: str) -> list[str]:
    ids = table.cells[column]
    first_seen: dict[str, int] = {}
    duplicates: list[tuple[str, int, int]] = []
    for i, value in enumerate(ids):
        if not value:
            raise DataError(f"{name}: id column {column!r} is empty at {table.where(i)}; every row needs an id")
        if value in first_seen:
            duplicates.append((value, first_seen[value], i))
        else:
            first_seen[value] = i
    if duplicates:
        value, a, b = duplicates[0]
        more = f" ({len(duplicates)} duplicates in all)" if len(duplicates) > 1 else ""
        raise DataError(
            f"{name}: id {_show(value)} appears twice in id column {column!r} "
            f"({table.where(a)} and {table.where(b)}){more}; ids must be unique"
        )
    return list(ids)


def _target_labels(table: TextTable, schema: DatasetSchema, name: str) -> np.ndarray:
    column = schema.target_column
    cells = table.cells[column]
    positive = {_norm(v) for v in schema.positive_values}
    negative = {_norm(v) for v in schema.negative_values}
    shown_pos = ", ".join(map(repr, schema.positive_values))
    labels = np.zeros(len(cells), dtype=np.int64)
    distinct: dict[str, str] = {}  # canonical -> first raw text
    for i, value in enumerate(cells):
        if not value:
            raise DataError(
                f"{name}: target column {column!r} is empty at {table.where(i)}; "
                "every row needs an outcome (drop rows without one)"
            )
        key = _norm(value)
        distinct.setdefault(key, value)
        if negative and key not in positive and key not in negative:
            raise DataError(
                f"{name}: target column {column!r} has value {_show(value)} at {table.where(i)}, which is "
                f"neither in positive_values ({shown_pos}) nor in negative_values "
                f"({', '.join(map(repr, schema.negative_values))})"
            )
        labels[i] = key in positive
    if len(distinct) > 2:
        raise DataError(
            f"{name}: target column {column!r} is not binary: it has {len(distinct)} distinct values "
            f"({_show_values(sorted(distinct.values()))}); a target needs exactly two"
        )
    if not any(k in positive for k in distinct):
        raise DataError(
            f"{name}: target column {column!r} never has a positive value ({shown_pos}); its values are "
            f"{_show_values(sorted(distinct.values()))}: set positive_values in the schema"
        )
    return labels


def _feature_column(table: TextTable, spec: FeatureSpec, name: str) -> tuple[list[Any], int]:
    """Typed values of one feature column (NaN where missing) and the number missing."""
    markers = set(spec.missing_values) | {""}
    out: list[Any] = []
    n_missing = 0
    for i, cell in enumerate(table.cells[spec.name]):
        if cell in markers:
            out.append(np.nan)
            n_missing += 1
        elif spec.kind == "numeric":
            if not _NUMBER.match(cell) or not math.isfinite(float(cell)):
                raise DataError(
                    f"{name}: column {spec.name!r}, {table.where(i)}: {_show(cell)} is not a number; "
                    "fix the value or list the marker in the feature's missing_values"
                )
            out.append(float(cell))
        else:
            out.append(cell)
    if spec.kind == "binary":
        levels = sorted({v for v in out if isinstance(v, str)})
        if len(levels) > 2:
            raise DataError(
                f"{name}: binary feature column {spec.name!r} has {len(levels)} distinct values "
                f"({_show_values(levels)}); use kind = \"categorical\" or fix the values"
            )
    return out, n_missing
