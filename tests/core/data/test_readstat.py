"""SPSS, Stata and SAS files, written for real with pyreadstat, read back through clinpred's loader
and drafted into a schema whose value labels are the file's."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from clinpred.core.data.dataset import load_dataset
from clinpred.core.data.schema import schema_from_file
from clinpred.core.data.schema_draft import draft_schema
from clinpred.core.data.schema_toml import draft_toml
from clinpred.core.data.tableread import parse_table
from clinpred.core.errors import DataError
from clirun import clinpred

pyreadstat = pytest.importorskip("pyreadstat")

N = 80
#: names of at most 8 characters: SAS transport files allow no more
SEX_LABELS = {1: "female", 2: "male"}
SITE_LABELS = {1: "Leeds", 2: "Kampala", 3: "Lahore", 9: "not recorded"}  # 9 never occurs in the data
DIED_LABELS = {0: "alive", 1: "died"}


def _frame():
    import pandas as pd

    rng = np.random.default_rng(3)
    age = rng.normal(55, 10, N).round(1)
    age[[4, 11]] = np.nan
    return pd.DataFrame({
        "pid": np.arange(101, 101 + N).astype(float),  # SPSS and Stata store numbers as doubles
        "age": age,
        "sex": rng.choice([1.0, 2.0], N),
        "site": rng.choice([1.0, 2.0, 3.0], N),
        "crp": rng.gamma(2, 4, N).round(2),
        "arm": rng.choice(["drug", "placebo"], N),
        "died": np.r_[np.ones(20), np.zeros(N - 20)],
    })


WRITERS = {
    ".sav": lambda df, p: pyreadstat.write_sav(df, p, variable_value_labels=_labels(),
                                               column_labels={"age": "Age at randomisation", "crp": "C-reactive protein"}),
    ".zsav": lambda df, p: pyreadstat.write_sav(df, p, variable_value_labels=_labels(), compress=True),
    ".dta": lambda df, p: pyreadstat.write_dta(df, p, variable_value_labels=_labels(),
                                               column_labels={"age": "Age at randomisation", "crp": "C-reactive protein"}),
    ".xpt": lambda df, p: pyreadstat.write_xport(df, p),
    ".sas7bdat": lambda df, p: pyreadstat.write_sas7bdat(df, p),
}


def _labels() -> dict[str, dict[int, str]]:
    return {"sex": SEX_LABELS, "site": SITE_LABELS, "died": DIED_LABELS}


@pytest.fixture(params=sorted(WRITERS))
def stat_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / f"trial{request.param}"
    WRITERS[request.param](_frame(), str(path))
    return path


def test_cells_are_the_stored_codes(stat_file: Path) -> None:
    frame = _frame()
    table = parse_table(stat_file.read_bytes(), str(stat_file), stat_file.suffix)
    assert table.columns == list(frame.columns)
    assert table.cells["pid"][:3] == ["101", "102", "103"]  # whole-number doubles without ".0"
    assert table.cells["age"][4] == "" and float(table.cells["age"][0]) == frame["age"][0]
    assert table.cells["arm"] == frame["arm"].tolist()
    labelled = stat_file.suffix in (".sav", ".zsav", ".dta")
    expected = {c: {str(k): v for k, v in m.items()} for c, m in _labels().items()} if labelled else {}
    assert table.value_labels == expected
    if stat_file.suffix in (".sav", ".dta"):
        assert table.column_labels == {"age": "Age at randomisation", "crp": "C-reactive protein"}


def test_a_drafted_schema_uses_the_file_labels_and_loads_it(stat_file: Path, tmp_path: Path) -> None:
    table = parse_table(stat_file.read_bytes(), str(stat_file), stat_file.suffix)
    draft = draft_schema(table, path=str(stat_file), name=str(stat_file))
    assert (draft.id_column, draft.target_column, draft.positive, draft.events) == ("pid", "died", 1, 20)
    features = {f.name: f for f in draft.features}
    labelled = stat_file.suffix in (".sav", ".zsav", ".dta")
    if labelled:
        assert features["sex"].value_labels == {"1": "female", "2": "male"}
        assert features["site"].kind == "categorical"
        assert features["site"].value_labels == {"1": "Leeds", "2": "Kampala", "3": "Lahore"}  # 9 is never seen
        assert "died" in draft.positive_reason  # the value label says yes
    else:
        assert features["site"].kind == "numeric" and not features["sex"].value_labels
    if stat_file.suffix in (".sav", ".dta"):
        assert features["age"].display == "Age at randomisation"
    assert (features["age"].decimals, features["crp"].decimals) == (1, 2)
    schema_path = tmp_path / "schema.toml"
    schema_path.write_text(draft_toml(draft, source=stat_file.name, path_in_file=stat_file.name))
    schema = schema_from_file(schema_path)
    dataset = load_dataset(schema.path, schema)
    frame = _frame()
    assert dataset.ids[:2] == ["101", "102"] and dataset.n_events == 20
    assert np.allclose(dataset.frame["crp"], frame["crp"]) and np.isnan(dataset.frame["age"][11])
    record = dataset.records([0])[0]
    texts = {f.name: f.text for f in record.features}
    assert texts["sex"] == (SEX_LABELS[int(frame["sex"][0])] if labelled else str(int(frame["sex"][0])))
    assert not dataset.warnings or all("unmatched" not in w for w in dataset.warnings)


def test_data_init_then_check_on_an_spss_file(tmp_path: Path) -> None:
    data = tmp_path / "trial.sav"
    WRITERS[".sav"](_frame(), str(data))
    schema = tmp_path / "schema.toml"
    made = clinpred("data", "init", str(data), "-o", str(schema))
    assert made.code == 0, made.err
    assert "'pid'" in made.out and "'died'" in made.out and "101" not in made.out
    checked = clinpred("data", "check", "--config", str(schema))
    assert checked.code == 0, checked.err
    assert "80 rows" in checked.out and "OK: the data matches the schema." in checked.out


def test_without_pyreadstat_one_line_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "trial.dta"
    WRITERS[".dta"](_frame(), str(data))
    monkeypatch.setitem(sys.modules, "pyreadstat", None)  # import pyreadstat now fails
    with pytest.raises(DataError, match=r"reading Stata files needs pyreadstat: pip install 'clinpred\[readstat\]'"):
        parse_table(data.read_bytes(), str(data), ".dta")
    result = clinpred("data", "check", str(data))
    assert result.code == 2 and result.err.count("\n") == 1 and "clinpred[readstat]" in result.err


def test_a_corrupt_file_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "broken.sav"
    data.write_bytes(b"$FL2" + b"\x00garbage" * 50)
    with pytest.raises(DataError, match="cannot read the SPSS file"):
        parse_table(data.read_bytes(), str(data), ".sav")


def test_check_warns_when_the_schema_ignores_the_file_labels(tmp_path: Path) -> None:
    data = tmp_path / "trial.sav"
    WRITERS[".sav"](_frame(), str(data))
    schema = tmp_path / "s.toml"
    schema.write_text('path = "trial.sav"\nid_column = "pid"\ntarget_column = "died"\npositive_values = [1]\n'
                      '[task]\nquestion = "Q?"\n[[features]]\nname = "sex"\nkind = "binary"\n'
                      '[[features]]\nname = "site"\nkind = "categorical"\nvalue_labels = { "1" = "a", "2" = "b", "3" = "c" }\n')
    result = clinpred("data", "check", "--config", str(schema))
    assert result.code == 0, result.err
    assert "column 'sex': the file labels its values (1 = 'female', 2 = 'male')" in result.err
    assert "column 'site'" not in result.err
