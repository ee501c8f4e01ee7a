"""Table 1 from the schema: names, units, value labels, level order, missing rows, small cells."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from clinpred.core.data.cohort_table import level_order, missing_data, table_one, written_decimals
from clinpred.core.data.schema import FeatureSpec
from clinpred.core.report.table_one import table_one_rows


def _dataset():
    n = 40
    y = np.array([1, 0] * 20)
    frame = pd.DataFrame({
        "trt": ["1"] * 16 + ["2"] * 16 + [np.nan] * 8,  # 8 patients outside the trial
        "stage": ["3", "4", "2", "1", "4", "3", "4", "3", "10", "4"] * 4,
        "alk": [2056.0 + 13.7 * k for k in range(n)],  # thousands: never 2.06e+03
        "tiny": [-0.0004] * n,
    })
    features = (FeatureSpec("trt", display="Treatment", kind="categorical",
                            value_labels={"1": "D-penicillamine", "2": "placebo"}),
                FeatureSpec("stage", display="Histologic stage", kind="categorical"),
                FeatureSpec("alk", display="Alkaline phosphatase", unit="U/L", decimals=1),
                FeatureSpec("tiny", display="Tiny"))
    task = SimpleNamespace(missing=SimpleNamespace(value="text"), missing_text="not recorded")
    return SimpleNamespace(frame=frame, labels=y, schema=SimpleNamespace(features=features, task=task))


def test_levels_in_schema_then_natural_order():
    spec = FeatureSpec("s", kind="categorical", value_labels={"b": "Bee", "a": "Ay"})
    assert level_order(spec, ["10", "a", "Zed", "2", "b", "apple"]) == ["b", "a", "2", "10", "apple", "Zed"]
    assert level_order(FeatureSpec("n", kind="categorical", value_labels={"1": "one"}), ["2", "1.0"]) == ["1.0", "2"]


def test_table_one_uses_the_schema_and_adds_up():
    t1 = table_one(_dataset(), min_cell=1)  # the small-cell rule off
    trt = t1["rows"]["trt"]
    assert trt["display"] == "Treatment" and trt["level_labels"] == {"1": "D-penicillamine", "2": "placebo"}
    assert trt["all"]["levels"] == {"1": 16, "2": 16} and trt["all"]["missing"] == 8
    assert list(t1["rows"]["stage"]["level_labels"]) == ["1", "2", "3", "4", "10"]
    assert t1["rows"]["alk"]["unit"] == "U/L" and t1["rows"]["alk"]["decimals"] == 1
    header, rows = table_one_rows(t1)
    assert header == ["", "all (n=40)", "events (n=20)", "non-events (n=20)"]
    text = {r[0].strip("\u2003"): r[1:] for r in rows}
    assert text["Treatment, n (%)"] == ["", "", ""]
    assert text["D-penicillamine"][0] == "16 (40.0%)" and text["placebo"][0] == "16 (40.0%)"
    assert text["missing, n (%)"][0] == "8 (20.0%)"  # 40% + 40% + 20% = 100%
    assert text["Alkaline phosphatase (U/L), mean (SD)"][0] == "2323.2 (160.2)"
    cells = [c for r in rows for c in r]
    assert not any("e+" in c or "e-" in c for c in cells)
    assert not any(c.startswith("-0.0") or " -0.0" in c for c in cells)  # -0.0004 prints as 0.000
    assert sum(r[0].strip("\u2003") == "missing, n (%)" for r in rows) == 1  # only the feature with missing values


def test_small_cells_are_suppressed_in_one_place():
    t1 = table_one(_dataset())  # the schema has no min_cell: the default, 5
    stage = t1["rows"]["stage"]
    # stages "1", "2", "10" (4 patients each) are merged into one level of 12: 8 events, 4 non-events;
    # the 4 is a small cell, so the 8 beside it is hidden too (else 12 - 8 gives it back); likewise
    # stage "3": 4 events and 8 non-events; stage "4": 8 and 8, shown
    other = "other levels (each < 5 patients)"
    assert list(stage["level_labels"]) == ["3", "4", other]
    assert stage["all"]["levels"] == {"3": 12, "4": 16, other: 12}
    assert stage["events"]["levels"] == {"3": None, "4": 8, other: None}
    assert stage["non-events"]["levels"] == {"3": None, "4": 8, other: None}
    trt = table_one(_dataset(), min_cell=9)["rows"]["trt"]  # 8 missing of 40: a small cell at min_cell 9
    assert trt["all"]["missing"] is None and trt["events"]["missing"] is None and trt["non-events"]["missing"] is None
    assert "missing" in trt["all"]["suppressed"]
    header, rows = table_one_rows(t1)
    assert any("< 5" in c for r in rows for c in r)


def test_missing_data_names_indicators_and_decimals():
    rows = {m["feature"]: m for m in missing_data(_dataset(), indicators=True)}
    assert rows["trt"]["missing"] == 8 and rows["trt"]["baselines"].endswith("+ a missingness indicator")
    assert rows["stage"]["baselines"] == "most frequent level (training part)"
    assert written_decimals(pd.Series([1.5, 2.25, 3.0])) == 2 and written_decimals(pd.Series([0.1234567])) == 3
