"""Dataset schemas: which file, which columns, what they mean, and the clinical question.

A schema is a ``[dataset]`` TOML table (in model_configs.toml or a file of its own)::

    [dataset]
    path = "cohort.csv"            # or "synthetic"; relative to the TOML file
    id_column = "patient_id"
    target_column = "manual_removal"
    positive_values = [1]          # raw target values that mean "yes"
    negative_values = [0]          # optional: then any other value is an error
    missing_values = ["NA"]        # optional: extra missing-value markers for every feature

    [dataset.task]
    question = "Will this patient need manual removal of the placenta?"

    [[dataset.features]]
    name = "treatment"             # the CSV column
    display = "Treatment"
    kind = "binary"                # numeric | categorical | binary
    value_labels = { "1" = "oxytocin", "0" = "placebo" }

A table may instead say ``schema = "other.toml"`` and override ``path``. A table without
``features`` (and without ``schema``) extends the bundled default schema, the synthetic
retained-placenta cohort: its keys override the default's.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import attrs
from attrs import define, field, validators

from clinpred.core import bounds as B
from clinpred.core.errors import ConfigError
from clinpred.core.tomlfile import check_keys, did_you_mean, expect_type, read_toml, tomllib
from clinpred.core.values import MissingPolicy, SerializationStyle, TaskSpec

SYNTHETIC = "synthetic"
KINDS = ("numeric", "categorical", "binary")


def _text_tuple(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


def _text_dict(value: Mapping[Any, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}


@define(frozen=True)
class FeatureSpec:
    """One feature column: how it is typed, shown and rendered in a prompt."""

    name: str = field(validator=validators.min_len(1))
    display: str = ""
    unit: str = ""
    kind: str = field(default="numeric", validator=validators.in_(KINDS))
    value_labels: dict[str, str] = field(factory=dict, converter=_text_dict, hash=False)
    decimals: int | None = field(default=None)
    missing_values: tuple[str, ...] = field(default=(), converter=_text_tuple)

    def __attrs_post_init__(self) -> None:
        if not self.display:
            object.__setattr__(self, "display", self.name.replace("_", " ").capitalize())
        if self.decimals is not None and (isinstance(self.decimals, bool) or not 0 <= self.decimals <= 10):
            raise ValueError(f"feature {self.name!r}: decimals must be an integer from 0 to 10")
        if self.kind != "numeric" and self.decimals is not None:
            raise ValueError(f"feature {self.name!r}: decimals only apply to numeric features")
        if self.kind == "numeric" and self.value_labels:
            raise ValueError(
                f"feature {self.name!r}: value_labels need kind = \"categorical\" or \"binary\""
            )


def _positive_values(instance: Any, attribute: Any, value: tuple[Any, ...]) -> None:
    if not value:
        raise ValueError("positive_values must list at least one target value")


@define(frozen=True)
class DatasetSchema:
    """Where the data is and what its columns mean. ``path`` is a file or ``"synthetic"``."""

    path: str
    id_column: str = field(validator=validators.min_len(1))
    target_column: str = field(validator=validators.min_len(1))
    positive_values: tuple[Any, ...] = field(converter=tuple, validator=_positive_values)
    features: tuple[FeatureSpec, ...] = field(converter=tuple)
    task: TaskSpec
    negative_values: tuple[Any, ...] = field(default=(), converter=tuple)
    group_column: str | None = None  # rows sharing a value (patient, matched set, hospital) never span parts
    subgroups: tuple[str, ...] = field(default=(), converter=tuple)  # features reported by level
    site_column: str | None = None  # a feature naming the site, for protocol = "internal-external"
    #: the smallest number of patients a shared table shows in a cell (Table 1, subgroups); fewer are
    #: suppressed or merged (small-cell disclosure rule)
    min_cell: int = field(default=5, validator=lambda i, a, v: B.MIN_CELL.check(v, "[dataset]", "min_cell"))

    def __attrs_post_init__(self) -> None:
        if not self.features:
            raise ValueError("a dataset schema needs at least one feature")
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"feature {dupes[0]!r} is listed more than once")
        if self.id_column == self.target_column:
            raise ValueError("id_column and target_column must be different columns")
        if self.group_column is not None and self.group_column in (self.id_column, self.target_column, *names):
            raise ValueError(f"group_column {self.group_column!r} must be a column of its own (not the id, target "
                             "or a feature); with one row per patient no group_column is needed")
        if self.site_column is not None and self.site_column not in names:
            raise ValueError(f"site_column {self.site_column!r} is not a feature; name a feature column (e.g. country)")
        kinds = {f.name: f.kind for f in self.features}
        for col in self.subgroups:
            if col not in names:
                raise ValueError(f"subgroups: {col!r} is not a feature; list feature columns ({', '.join(names[:6])}...)")
            if kinds[col] == "numeric":
                raise ValueError(f"subgroups: {col!r} is numeric, and each distinct value would be a subgroup of a few "
                                 "patients (their exact values with their outcomes, in files people share); list a "
                                 f"categorical or binary feature, e.g. add a column that bins {col} into ranges")
        for col, what in ((self.id_column, "id_column"), (self.target_column, "target_column")):
            if col in names:
                raise ValueError(f"{what} {col!r} must not also be a feature (it would leak into prompts)")
        pos = {_norm(v) for v in self.positive_values}
        both = [v for v in self.negative_values if _norm(v) in pos]
        if both:
            raise ValueError(f"target value {both[0]!r} is in both positive_values and negative_values")

    @property
    def is_synthetic(self) -> bool:
        return self.path == SYNTHETIC

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def with_path(self, path: str | Path) -> "DatasetSchema":
        """This schema for another file (or ``"synthetic"``)."""
        return attrs.evolve(self, path=str(path))


def _norm(value: Any) -> str:
    """Canonical text of a target value: numbers compare by value, text case-insensitively."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text.lower()
    if number != number or number in (float("inf"), float("-inf")):
        return text.lower()
    return repr(float(number))


_DATASET_KEYS = (
    "path", "id_column", "target_column", "positive_values", "negative_values",
    "missing_values", "features", "task", "schema", "group_column", "subgroups", "site_column", "min_cell",
)  # fmt: skip
_CONFIG_TABLES = ("run", "evaluation", "models", "execution", "search")
_FEATURE_KEYS = ("name", "display", "unit", "kind", "value_labels", "decimals", "missing_values")
_TASK_KEYS = ("question", "positive", "negative", "system", "style", "missing", "missing_text", "intro")


def _nested(where: str, key: str) -> str:
    """``"f.toml: [dataset]"`` + ``"task"`` -> ``"f.toml: [dataset.task]"``; ``"f.toml"`` -> ``"f.toml: [task]"``."""
    return f"{where[:-1]}.{key}]" if where.endswith("]") else f"{where}: [{key}]"


def _target_values(value: Any, where: str, key: str) -> tuple[Any, ...]:
    if not isinstance(value, list):
        value = [value]
    for item in value:
        expect_type(item, (str, int, float), where, f"each of {key}")
    return tuple(value)


def _text_list(value: Any, where: str, key: str) -> tuple[str, ...]:
    expect_type(value, list, where, key)
    for item in value:
        expect_type(item, str, where, f"each of {key}")
    return tuple(value)


def _parse_task(table: Any, where: str, base: TaskSpec | None) -> TaskSpec:
    where = _nested(where, "task")
    expect_type(table, dict, where, "the task table")
    check_keys(table, _TASK_KEYS, where)
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        kwargs[key] = expect_type(value, str, where, key)
    choices = {"style": [s.value for s in SerializationStyle], "missing": [m.value for m in MissingPolicy]}
    for key, allowed in choices.items():
        if key in kwargs and kwargs[key] not in allowed:
            raise ConfigError(
                f"{where}: {key} = {kwargs[key]!r} is not one of {', '.join(allowed)}"
                f"{did_you_mean(kwargs[key], allowed)}"
            )
    if base is None and "question" not in kwargs:
        raise ConfigError(f"{where}: missing key 'question' (the clinical question the model answers)")
    try:
        return attrs.evolve(base, **kwargs) if base is not None else TaskSpec(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _parse_feature(item: Any, where: str, default_missing: tuple[str, ...]) -> FeatureSpec:
    expect_type(item, dict, where, "each features entry")
    if "name" not in item:
        raise ConfigError(f"{where}: missing key 'name' (the column name in the data file)")
    name = expect_type(item["name"], str, where, "name")
    where = f"{where} ({name!r})"
    check_keys(item, _FEATURE_KEYS, where)
    kwargs: dict[str, Any] = {"name": name}
    for key in ("display", "unit"):
        if key in item:
            kwargs[key] = expect_type(item[key], str, where, key)
    if "kind" in item:
        kind = expect_type(item["kind"], str, where, "kind")
        if kind not in KINDS:
            raise ConfigError(f"{where}: kind = {kind!r} is not one of {', '.join(KINDS)}{did_you_mean(kind, KINDS)}")
        kwargs["kind"] = kind
    if "decimals" in item:
        kwargs["decimals"] = expect_type(item["decimals"], int, where, "decimals")
    if "value_labels" in item:
        labels = expect_type(item["value_labels"], dict, where, "value_labels")
        for label in labels.values():
            expect_type(label, str, where, "each value label")
        kwargs["value_labels"] = labels
    missing = _text_list(item["missing_values"], where, "missing_values") if "missing_values" in item else ()
    kwargs["missing_values"] = tuple(dict.fromkeys(default_missing + missing))
    try:
        return FeatureSpec(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def parse_dataset_schema(
    table: Mapping[str, Any], *, where: str, base_dir: Path, _seen: frozenset[Path] = frozenset()
) -> DatasetSchema:
    """Validate a ``[dataset]`` table into a :class:`DatasetSchema` (one ConfigError line per problem).

    Relative paths (``path``, ``schema``) are resolved against ``base_dir``.
    """
    expect_type(table, dict, where, "[dataset]")
    check_keys(table, _DATASET_KEYS, where)
    base: DatasetSchema | None = None
    if "schema" in table:
        extra = sorted(set(table) - {"schema", "path"})
        if extra:
            raise ConfigError(
                f"{where}: with schema = ... only 'path' may be given here, not {extra[0]!r}; "
                "put it in the schema file"
            )
        ref = Path(expect_type(table["schema"], str, where, "schema")).expanduser()
        base = schema_from_file(ref if ref.is_absolute() else base_dir / ref, _seen=_seen)
    elif "features" not in table:
        base = default_schema()

    kwargs: dict[str, Any] = {}
    if "path" in table:
        path = expect_type(table["path"], str, where, "path")
        if not path.strip():
            raise ConfigError(f"{where}: path is empty; give a data file or \"synthetic\"")
        if path != SYNTHETIC:
            resolved = Path(path).expanduser()
            path = str(resolved if resolved.is_absolute() else base_dir / resolved)
        kwargs["path"] = path
    for key in ("id_column", "target_column"):
        if key in table:
            kwargs[key] = expect_type(table[key], str, where, key)
            if not kwargs[key].strip():
                what = "the patient (row) id" if key == "id_column" else "the outcome"
                raise ConfigError(f"{where}: {key} is empty; give the name of the column that holds {what}")
    for key in ("positive_values", "negative_values"):
        if key in table:
            kwargs[key] = _target_values(table[key], where, key)
    if "site_column" in table:
        kwargs["site_column"] = expect_type(table["site_column"], str, where, "site_column")
    if "subgroups" in table:
        kwargs["subgroups"] = _text_list(table["subgroups"], where, "subgroups")
    if "min_cell" in table:
        kwargs["min_cell"] = B.MIN_CELL.check(expect_type(table["min_cell"], int, where, "min_cell"), where, "min_cell")
    if "group_column" in table:
        kwargs["group_column"] = expect_type(table["group_column"], str, where, "group_column")
        if not kwargs["group_column"].strip():
            raise ConfigError(f"{where}: group_column is empty; name the column that groups rows, or remove the key")
    default_missing = _text_list(table["missing_values"], where, "missing_values") if "missing_values" in table else ()
    if "features" in table:
        features = expect_type(table["features"], list, where, "features ([[dataset.features]] entries)")
        kwargs["features"] = tuple(
            _parse_feature(item, f"{_nested(where, 'features')} #{i + 1}", default_missing) for i, item in enumerate(features)
        )
    elif default_missing and base is not None:
        kwargs["features"] = tuple(
            attrs.evolve(f, missing_values=tuple(dict.fromkeys(f.missing_values + default_missing)))
            for f in base.features
        )
    if "task" in table:
        kwargs["task"] = _parse_task(table["task"], where, base.task if base else None)

    if base is None:
        for key in ("path", "id_column", "target_column", "positive_values", "task"):
            if key not in kwargs:
                raise ConfigError(f"{where}: missing key {key!r}" + (
                    " (add a [dataset.task] table with a question)" if key == "task" else ""
                ))
    try:
        return attrs.evolve(base, **kwargs) if base is not None else DatasetSchema(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def schema_from_file(path: str | Path, *, _seen: frozenset[Path] = frozenset()) -> DatasetSchema:
    """Read a dataset schema from a TOML file that is a schema or has a ``[dataset]`` table."""
    path = Path(path).expanduser()
    key = path.resolve()
    if key in _seen:
        raise ConfigError(f"{path}: schema files refer to each other in a loop")
    data = read_toml(path)
    if "dataset" in data:
        table, where = data["dataset"], f"{path}: [dataset]"
    elif any(k in data for k in _CONFIG_TABLES):
        raise ConfigError(f"{path}: is a run config with no [dataset] table, not a dataset schema; give a dataset "
                          "schema file (`clinpred data init DATA -o schema.toml` drafts one)")
    else:
        table, where = data, f"{path}"
    return parse_dataset_schema(table, where=where, base_dir=key.parent, _seen=_seen | {key})


@functools.lru_cache(maxsize=1)
def default_schema() -> DatasetSchema:
    """The bundled schema of the synthetic retained-placenta cohort (core/data/default_dataset.toml)."""
    text = resources.files("clinpred.core.data").joinpath("default_dataset.toml").read_text(encoding="utf-8")
    # The bundled file lists its features, so parsing it never falls back to itself.
    return parse_dataset_schema(tomllib.loads(text), where="default_dataset.toml", base_dir=Path("."))
