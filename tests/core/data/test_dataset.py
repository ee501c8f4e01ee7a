"""Loading and validation: the synthetic cohort, CSV/TSV, the malformed-file corpus, rendering."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import attrs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinpred.core.data.dataset import Dataset, load_bytes, load_dataset, load_from_schema, render_value
from clinpred.core.errors import DataError
from clinpred.core.data.schema import FeatureSpec, default_schema
from clinpred.core.data.synthetic import cohort_csv, generate_cohort

BAD = Path(__file__).parents[2] / "data" / "bad"

#: file -> the message that file must give (and nothing else).
CORPUS = {
    "empty.csv": "the file is empty",
    "binary.csv": "is a binary file, not CSV/TSV text",
    "missing_target.csv": "missing column 'manual_removal' (the file has: patient_id, country",
    "non_numeric.csv": "column 'age', line 7: 'thirty' is not a number",
    "non_binary_target.csv": "target column 'manual_removal' has value '2' at line 12, which is neither in positive_values (1) nor in negative_values (0)",
    "duplicate_ids.csv": "id 'P00003' appears twice in id column 'patient_id' (line 4 and line 9)",
    "all_missing_feature.csv": "feature column 'hemoglobin' has no values (all 40 rows missing)",
    "too_few_events.csv": "target column 'manual_removal' has only 3 positive rows (3 positive, 37 negative); at least 10 of each class",
    "ragged.tsv": "line 6 has 13 fields but the header (line 1) has 12 (tab-separated)",
    "header_only.csv": "has a header but no data rows",
    "missing_target_value.csv": "target column 'manual_removal' is empty at line 4",
    "not_utf8.csv": "is not UTF-8 text (byte 0xe9",
    "binary_feature_three_values.csv": "binary feature column 'treatment' has 3 distinct values ('0', '1', '2')",
    "duplicate_column.csv": "column 'age' appears twice in the header",
    "missing_id.csv": "id column 'patient_id' is empty at line 6",
    "nan_text.csv": "column 'pulse', line 8: 'NaN' is not a number",
}


@pytest.fixture(scope="module")
def cohort_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame, _ = generate_cohort(n=200, seed=11)
    path = tmp_path_factory.mktemp("data") / "cohort.csv"
    path.write_bytes(cohort_csv(frame))
    return path


def test_corpus_is_complete() -> None:
    assert sorted(p.name for p in BAD.iterdir()) == sorted(CORPUS)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_each_malformed_file_gives_its_own_message(name: str) -> None:
    path = BAD / name
    with pytest.raises(DataError) as info:
        load_dataset(path, default_schema())
    message = str(info.value)
    assert message.startswith(str(path) + ": ")
    assert CORPUS[name] in message
    assert "\n" not in message
    assert info.value.exit_code == 2
    # never a patient row: no data line of the file appears in the message
    if path.stat().st_size and name not in ("binary.csv", "not_utf8.csv"):
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            assert line not in message


def test_the_corpus_source_is_valid_before_it_is_broken() -> None:
    frame, _ = generate_cohort(n=40, seed=3)
    dataset = load_bytes(cohort_csv(frame), default_schema(), name="x.csv")
    assert len(dataset) == 40


def test_missing_path_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nope.csv: data file not found"):
        load_dataset(tmp_path / "nope.csv", default_schema())
    with pytest.raises(DataError, match="is a directory, not a data file"):
        load_dataset(tmp_path, default_schema())


def test_loaded_file_matches_the_generated_cohort(cohort_file: Path) -> None:
    frame, _ = generate_cohort(n=200, seed=11)
    dataset = load_dataset(cohort_file, default_schema())
    assert dataset.sha256 == hashlib.sha256(cohort_file.read_bytes()).hexdigest()
    assert dataset.ids == frame["patient_id"].tolist()
    assert dataset.labels.dtype.kind == "i" and set(np.unique(dataset.labels)) == {0, 1}
    np.testing.assert_array_equal(dataset.labels, frame["manual_removal"].to_numpy())
    np.testing.assert_array_equal(dataset.frame["hemoglobin"].to_numpy(), frame["hemoglobin"].to_numpy())
    assert dataset.frame["age"].dtype == np.float64
    assert dataset.frame["treatment"].tolist() == [str(v) for v in frame["treatment"]]
    assert dataset.warnings == [] and dataset.ignored_columns == []
    assert dataset.true_probability is None and dataset.bayes_auroc is None


def test_tsv_and_semicolon_files_load_like_the_csv(cohort_file: Path, tmp_path: Path) -> None:
    csv_ds = load_dataset(cohort_file, default_schema())
    text = cohort_file.read_text()
    for name, sep in (("c.tsv", "\t"), ("c.txt", "\t"), ("c.csv", ";")):
        other = tmp_path / name
        other.write_text(text.replace(",", sep))
        ds = load_dataset(other, default_schema())
        assert ds.ids == csv_ds.ids
        assert ds.frame.equals(csv_ds.frame)


def test_load_from_schema_synthetic_and_file(cohort_file: Path) -> None:
    ds = load_from_schema(default_schema(), seed=5, n=300)
    frame, truth = generate_cohort(n=300, seed=5)
    assert ds.sha256 == hashlib.sha256(cohort_csv(frame)).hexdigest()
    assert "synthetic" in ds.source and len(ds) == 300
    np.testing.assert_array_equal(ds.true_probability, truth)
    assert 0.5 < ds.bayes_auroc < 0.85
    from_file = load_from_schema(default_schema().with_path(cohort_file))
    assert from_file.source == str(cohort_file) and from_file.true_probability is None


def test_extra_columns_are_ignored_and_reported(cohort_file: Path, tmp_path: Path) -> None:
    lines = cohort_file.read_text().splitlines()
    extra = tmp_path / "extra.csv"
    extra.write_text("\n".join(f"{line},{'note' if i == 0 else 'x'}" for i, line in enumerate(lines)) + "\n")
    ds = load_dataset(extra, default_schema())
    assert ds.ignored_columns == ["note"]
    assert "note" not in ds.feature_frame().columns


def _csv(header: str, rows: list[str]) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def _mini_schema(**changes: object):
    base = default_schema()
    features = (
        FeatureSpec(name="x", display="X", unit="mg", decimals=1),
        FeatureSpec(name="grp", display="Group", kind="categorical", value_labels={"1": "one"}),
    )
    fields = {"path": "m.csv", "id_column": "id", "target_column": "y", "positive_values": ("yes",),
              "negative_values": (), "features": features, **changes}
    return attrs.evolve(base, **fields)


def _rows(n_pos: int, n_neg: int, x: str = "1.25", grp: str = "a") -> list[str]:
    return [f"p{i},{x},{grp},{'yes' if i < n_pos else 'no'}" for i in range(n_pos + n_neg)]


def test_target_without_negative_values_must_have_two_values() -> None:
    schema = _mini_schema()
    ds = load_bytes(_csv("id,x,grp,y", _rows(10, 12)), schema, name="m.csv")
    assert ds.n_events == 10 and ds.labels[:10].all() and not ds.labels[10:].any()
    rows = _rows(10, 12)
    rows[3] = rows[3].replace(",yes", ",maybe")
    with pytest.raises(DataError, match=r"target column 'y' is not binary: it has 3 distinct values \('maybe', 'no', 'yes'\)"):
        load_bytes(_csv("id,x,grp,y", rows), schema, name="m.csv")
    with pytest.raises(DataError, match=r"never has a positive value \('yes'\); its values are 'n', 'y'"):
        load_bytes(_csv("id,x,grp,y", [r.replace(",yes", ",y").replace(",no", ",n") for r in _rows(10, 12)]),
                   schema, name="m.csv")


def test_target_values_match_numbers_by_value_and_text_without_case() -> None:
    schema = _mini_schema(positive_values=(1,), negative_values=(0,))
    rows = [r.replace(",yes", ",1.0").replace(",no", ",0") for r in _rows(10, 10)]
    assert load_bytes(_csv("id,x,grp,y", rows), schema, name="m.csv").n_events == 10
    rows = [r.replace(",yes", ",YES") for r in _rows(10, 10)]
    assert load_bytes(_csv("id,x,grp,y", rows), _mini_schema(), name="m.csv").n_events == 10


def test_min_per_class_is_a_parameter() -> None:
    data = _csv("id,x,grp,y", _rows(4, 30))
    with pytest.raises(DataError, match="only 4 positive rows"):
        load_bytes(data, _mini_schema(), name="m.csv")
    assert load_bytes(data, _mini_schema(), name="m.csv", min_per_class=4).n_events == 4


def test_missing_markers_are_only_those_declared() -> None:
    rows = _rows(10, 10)
    rows[2] = "p2,NA,a,yes"
    with pytest.raises(DataError, match="column 'x', line 4: 'NA' is not a number; fix the value or list"):
        load_bytes(_csv("id,x,grp,y", rows), _mini_schema(), name="m.csv")
    schema = _mini_schema()
    schema = attrs.evolve(schema, features=(attrs.evolve(schema.features[0], missing_values=("NA",)), schema.features[1]))
    ds = load_bytes(_csv("id,x,grp,y", rows), schema, name="m.csv")
    assert math.isnan(ds.frame["x"][2]) and ds.frame["x"].notna().sum() == 19


@pytest.mark.parametrize("cell", ["1,5", "1.2.3", "inf", "0x10", "1_000", "12 mg", "--1"])
def test_numbers_are_strict(cell: str) -> None:
    rows = _rows(10, 10)
    rows[5] = f'p5,"{cell}",a,yes'
    with pytest.raises(DataError, match="column 'x', line 7: .* is not a number"):
        load_bytes(_csv("id,x,grp,y", rows), _mini_schema(), name="m.csv")


def test_heavy_missingness_is_warned_once() -> None:
    rows = [r.replace(",1.25,", ",,") if i % 2 else r for i, r in enumerate(_rows(10, 10))]
    ds = load_bytes(_csv("id,x,grp,y", rows), _mini_schema(), name="m.csv")
    assert ds.warnings == ["column 'x': 50% of values are missing (10 of 20)"]
    assert ds.summary()["warnings"] == ds.warnings


def test_records_render_values_and_never_carry_target_or_id(cohort_file: Path) -> None:
    ds = load_dataset(cohort_file, default_schema())
    records = ds.records()
    assert len(records) == len(ds) and [r.id for r in records] == ds.ids
    for record in records[:50]:
        names = [f.name for f in record.features]
        assert names == default_schema().feature_names
        assert "manual_removal" not in names and "patient_id" not in names
        by_name = {f.name: f for f in record.features}
        assert by_name["treatment"].text in ("placebo", "umbilical-vein oxytocin")
        bw = by_name["birth_weight"]
        assert bw.missing or (bw.text == f"{bw.value:.2f}" and bw.unit == "kg")
        assert by_name["age"].text is not None and "." not in by_name["age"].text
    missing = [f for r in records for f in r.features if f.missing]
    assert missing and all(f.value is None and f.text is None for f in missing)
    sub = ds.records(np.array([5, 2]))
    assert [r.id for r in sub] == [ds.ids[5], ds.ids[2]]


def test_feature_frame_holds_features_only(cohort_file: Path) -> None:
    ds = load_dataset(cohort_file, default_schema())
    frame = ds.feature_frame([3, 1, 4])
    assert list(frame.columns) == default_schema().feature_names
    assert list(frame.index) == [0, 1, 2]
    assert frame["age"].tolist() == ds.frame["age"].iloc[[3, 1, 4]].tolist()
    frame.loc[0, "age"] = -1.0  # a copy: the dataset does not change
    assert ds.frame["age"].iloc[3] != -1.0


def test_summary(cohort_file: Path) -> None:
    ds = load_dataset(cohort_file, default_schema())
    summary = ds.summary()
    assert summary["rows"] == 200 and summary["events"] == int(ds.labels.sum())
    assert summary["prevalence"] == pytest.approx(ds.labels.mean())
    columns = {c["name"]: c for c in summary["columns"]}
    assert columns["country"] == {"name": "country", "display": "Country", "kind": "categorical",
                                  "missing": 0, "missing_fraction": 0.0, "levels": 3}
    hb = columns["hemoglobin"]
    assert hb["missing"] == int(ds.frame["hemoglobin"].isna().sum())
    assert hb["min"] <= hb["mean"] <= hb["max"]


@pytest.mark.parametrize(
    ("spec", "value", "text"),
    [
        (FeatureSpec(name="a", decimals=1), 12.25, "12.2"),
        (FeatureSpec(name="a", decimals=0), -0.4, "0"),
        (FeatureSpec(name="a", decimals=2), 3.0, "3.00"),
        (FeatureSpec(name="a"), 40.0, "40"),
        (FeatureSpec(name="a"), 0.1, "0.1"),
        (FeatureSpec(name="a"), 1e-7, "0.0000001"),
        (FeatureSpec(name="a"), float("nan"), None),
        (FeatureSpec(name="a", kind="binary", value_labels={"1": "yes"}), "1.0", "yes"),
        (FeatureSpec(name="a", kind="binary", value_labels={"1": "yes"}), "0", "0"),
        (FeatureSpec(name="a", kind="categorical", value_labels={"UK": "United Kingdom"}), "UK", "United Kingdom"),
        (FeatureSpec(name="a", kind="categorical"), None, None),
    ],
)
def test_render_value(spec: FeatureSpec, value: object, text: str | None) -> None:
    assert render_value(spec, value) == text


@pytest.mark.skipif(__import__("importlib").util.find_spec("pyarrow") is not None, reason="pyarrow installed")
def test_parquet_without_pyarrow_says_what_to_install(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 20 + b"PAR1")
    with pytest.raises(DataError, match=r"reading Parquet needs pyarrow: pip install 'clinpred\[parquet\]'"):
        load_dataset(path, default_schema())


@pytest.mark.skipif(__import__("importlib").util.find_spec("openpyxl") is not None, reason="openpyxl installed")
def test_excel_without_openpyxl_says_what_to_install(tmp_path: Path) -> None:
    path = tmp_path / "d.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 20)
    with pytest.raises(DataError, match=r"reading Excel needs openpyxl: pip install 'clinpred\[excel\]'"):
        load_dataset(path, default_schema())


def test_parquet_and_excel_round_trip(cohort_file: Path, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    csv_ds = load_dataset(cohort_file, default_schema())
    frame = pd.read_csv(cohort_file)
    tried = 0
    for module, suffix, write in (("pyarrow", ".parquet", "to_parquet"), ("openpyxl", ".xlsx", "to_excel")):
        if __import__("importlib").util.find_spec(module) is None:
            continue
        path = tmp_path / f"c{suffix}"
        getattr(frame, write)(path, index=False)
        ds = load_dataset(path, default_schema())
        assert ds.ids == csv_ds.ids and (ds.labels == csv_ds.labels).all()
        assert ds.frame[["age", "hemoglobin"]].equals(csv_ds.frame[["age", "hemoglobin"]])
        tried += 1
    if not tried:
        pytest.skip("neither pyarrow nor openpyxl installed")


def test_a_zip_named_csv_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_bytes(b"PK\x03\x04" + b"\x14" * 40)
    with pytest.raises(DataError, match="is a zip archive"):
        load_dataset(path, default_schema())


# -- properties: loading never fails with anything but a DataError -----------------------------

_HEADER = "id,x,grp,y"
_cells = st.text(alphabet=st.sampled_from(list("0123456789.-eE ,\"\tNa\n\r;yesno")), max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes_load_or_raise_data_error(data: bytes) -> None:
    try:
        result = load_bytes(data, _mini_schema(), name="f.csv", min_per_class=1)
    except DataError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(result, Dataset)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_cells, _cells, _cells), min_size=0, max_size=12), st.booleans())
def test_arbitrary_tables_load_or_raise_data_error(rows: list[tuple[str, str, str]], tsv: bool) -> None:
    sep = "\t" if tsv else ","
    lines = [_HEADER.replace(",", sep)]
    lines += [sep.join([f"p{i}", x, g, y]) for i, (x, g, y) in enumerate(rows)]
    try:
        ds = load_bytes("\n".join(lines).encode(), _mini_schema(), name="f.csv", min_per_class=1)
    except DataError as exc:
        assert "\n" not in str(exc)
    else:
        assert len(ds.ids) == len(ds.labels) == len(ds.frame)
        assert set(np.unique(ds.labels)) == {0, 1}
        for record in ds.records():
            assert all(f.text is None or isinstance(f.text, str) for f in record.features)
