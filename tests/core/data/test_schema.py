"""Dataset schemas: the bundled default, TOML parsing, references between files, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from clinpred.core.errors import ConfigError
from clinpred.core.data.schema import (
    DatasetSchema,
    FeatureSpec,
    default_schema,
    parse_dataset_schema,
    schema_from_file,
)
from clinpred.core.data.synthetic import COLUMNS, ID_COLUMN, TARGET_COLUMN
from clinpred.core.values import MissingPolicy, SerializationStyle

MINIMAL = """
path = "cohort.csv"
id_column = "pid"
target_column = "died"
positive_values = ["yes"]

[task]
question = "Will this patient die within 30 days?"

[[features]]
name = "age"
unit = "years"
decimals = 0

[[features]]
name = "sex"
kind = "binary"
value_labels = { "F" = "female", "M" = "male" }
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_default_schema_describes_the_synthetic_cohort() -> None:
    schema = default_schema()
    assert schema.is_synthetic and schema.path == "synthetic"
    assert schema.id_column == ID_COLUMN and schema.target_column == TARGET_COLUMN
    assert schema.feature_names == ["country", "treatment", *COLUMNS]
    assert "manual removal of the placenta" in schema.task.question
    assert (schema.task.positive, schema.task.negative) == ("Yes", "No")
    treatment = schema.features[1]
    assert treatment.kind == "binary" and treatment.value_labels["0"] == "placebo"
    # the rounding of the prompt matches the generator's recorded precision
    for spec in schema.features[2:]:
        assert spec.decimals == COLUMNS[spec.name][0]


def test_standalone_schema_file_resolves_path_relative_to_it(tmp_path: Path) -> None:
    schema = schema_from_file(_write(tmp_path / "s.toml", MINIMAL))
    assert schema.path == str(tmp_path / "cohort.csv")
    assert schema.positive_values == ("yes",) and schema.negative_values == ()
    assert schema.features[0] == FeatureSpec(name="age", display="Age", unit="years", decimals=0)
    assert schema.features[1].value_labels == {"F": "female", "M": "male"}
    assert schema.task.question.startswith("Will this patient die")


def test_dataset_table_in_a_config_and_task_options(tmp_path: Path) -> None:
    text = "[models]\nx = 1\n\n" + MINIMAL.replace("[task]", "[dataset.task]\nstyle = \"sentences\"\nmissing = \"omit\"")
    text = text.replace("[[features]]", "[[dataset.features]]").replace('path = "cohort.csv"', '[dataset]\npath = "cohort.csv"')
    schema = schema_from_file(_write(tmp_path / "model_configs.toml", text))
    assert schema.task.style is SerializationStyle.SENTENCES
    assert schema.task.missing is MissingPolicy.OMIT
    assert len(schema.features) == 2


def test_schema_reference_is_relative_to_the_referring_file(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    _write(tmp_path / "schemas" / "mine.toml", MINIMAL)
    config = _write(tmp_path / "run.toml", '[dataset]\nschema = "schemas/mine.toml"\npath = "data/other.csv"\n')
    schema = schema_from_file(config)
    assert schema.path == str(tmp_path / "data" / "other.csv")
    assert schema.target_column == "died"


def test_schema_reference_may_only_override_path(tmp_path: Path) -> None:
    _write(tmp_path / "mine.toml", MINIMAL)
    config = _write(tmp_path / "run.toml", '[dataset]\nschema = "mine.toml"\nid_column = "x"\n')
    with pytest.raises(ConfigError, match="only 'path' may be given here, not 'id_column'"):
        schema_from_file(config)


def test_schema_reference_loop_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "a.toml", '[dataset]\nschema = "b.toml"\n')
    _write(tmp_path / "b.toml", 'schema = "a.toml"\n')
    with pytest.raises(ConfigError, match="loop"):
        schema_from_file(tmp_path / "a.toml")


def test_missing_schema_reference_names_the_file(tmp_path: Path) -> None:
    config = _write(tmp_path / "run.toml", '[dataset]\nschema = "nope.toml"\n')
    with pytest.raises(ConfigError, match="nope.toml: config file not found"):
        schema_from_file(config)


def test_table_without_features_extends_the_default(tmp_path: Path) -> None:
    table = {"path": "a.csv", "task": {"style": "sentences"}, "missing_values": ["NA"]}
    schema = parse_dataset_schema(table, where="[dataset]", base_dir=tmp_path)
    default = default_schema()
    assert schema.path == str(tmp_path / "a.csv")
    assert schema.feature_names == default.feature_names
    assert schema.task.question == default.task.question
    assert schema.task.style is SerializationStyle.SENTENCES
    assert all("NA" in f.missing_values for f in schema.features)


def test_dataset_level_missing_values_merge_into_features(tmp_path: Path) -> None:
    text = MINIMAL.replace('positive_values = ["yes"]', 'positive_values = ["yes"]\nmissing_values = ["NA"]')
    text = text.replace('decimals = 0', 'decimals = 0\nmissing_values = ["-99"]')
    schema = schema_from_file(_write(tmp_path / "s.toml", text))
    assert schema.features[0].missing_values == ("NA", "-99")
    assert schema.features[1].missing_values == ("NA",)


def test_synthetic_path_is_kept_literally(tmp_path: Path) -> None:
    schema = parse_dataset_schema({"path": "synthetic"}, where="[dataset]", base_dir=tmp_path)
    assert schema.is_synthetic


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("id_column", "idcolumn"), "unknown key 'idcolumn' (did you mean 'id_column'?)"),
        (('kind = "binary"', 'kind = "binray"'), "kind = 'binray' is not one of numeric, categorical, binary (did you mean 'binary'?)"),
        (("decimals = 0", 'decimals = "0"'), "decimals must be int, got str '0'"),
        (("decimals = 0", "decimals = 0\nlevel = 1"), "[features] #1 ('age'): unknown key 'level'"),
        (('unit = "years"', 'unit = "years"\nvalue_labels = { "1" = "one" }'), "value_labels need kind"),
        (('kind = "binary"', 'kind = "categorical"\ndecimals = 1'), "decimals only apply to numeric"),
        (('question = "Will this patient die within 30 days?"', 'style = "list"'), "missing key 'question'"),
        (('question = "Will', 'style = "table"\nquestion = "Will'), "style = 'table' is not one of list, sentences"),
        (('question = "Will', 'positive = "No"\nquestion = "Will'), "positive and negative answer words must differ"),
        (('name = "sex"', 'name = "pid"'), "id_column 'pid' must not also be a feature"),
        (('name = "sex"', 'name = "died"'), "target_column 'died' must not also be a feature"),
        (('name = "sex"', 'name = "age"'), "feature 'age' is listed more than once"),
        (('positive_values = ["yes"]', 'positive_values = []'), "positive_values must list at least one"),
        (('positive_values = ["yes"]', 'positive_values = ["yes"]\nnegative_values = ["YES"]'), "in both positive_values and negative_values"),
        (('path = "cohort.csv"\n', ""), "missing key 'path'"),
        (('[[features]]\nname = "age"', '[[features]]\ndisplay = "Age"'), "missing key 'name'"),
    ],
)
def test_schema_errors_are_one_config_error_line(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    old, new = edit
    assert old in MINIMAL
    path = _write(tmp_path / "s.toml", MINIMAL.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        schema_from_file(path)
    text = str(info.value)
    assert message in text
    assert "\n" not in text and text.startswith(str(path))


def test_schema_value_type_is_frozen_and_validates() -> None:
    schema = default_schema()
    with pytest.raises(Exception):
        schema.path = "x"  # type: ignore[misc]
    assert schema.with_path("a.csv").path == "a.csv" and schema.path == "synthetic"
    with pytest.raises(ValueError, match="at least one feature"):
        DatasetSchema(path="a", id_column="i", target_column="t", positive_values=(1,), features=(), task=schema.task)
