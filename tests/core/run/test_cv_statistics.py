"""`clinpred run --cv 5 --repeats 2`: honest repeated-CV statistics end to end (baselines only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clirun import clinpred


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("cv")
    data = root / "small.csv"
    assert clinpred("data", "synth", "--n", "200", "--seed", "4", "-o", str(data)).code == 0
    config = root / "c.toml"
    config.write_text('[run]\nbaselines = ["majority", "lasso", "random_forest"]\n[evaluation]\nbootstrap = 200\n'
                      '[dataset]\nsubgroups = ["country"]\n')
    out = root / "run"
    result = clinpred("run", "--baselines-only", "--config", str(config), "--data", str(data), "--cv", "5",
                      "--repeats", "2", "--out", str(out))
    assert result.code == 0, result.err
    metrics = json.loads((out / "metrics.json").read_text())
    metrics["_out"], metrics["_stderr"] = str(out), result.err
    return metrics


def test_majority_is_half_and_has_no_slope(cv_run: dict) -> None:
    m = cv_run["models"]["majority"]["metrics"]
    assert m["auroc"]["value"] == 0.5
    assert m["calibration_slope"]["value"] is None and m["calibration_slope"]["ci"] == [None, None]


def test_patients_are_counted_once_and_estimators_are_recorded(cv_run: dict) -> None:
    lasso = cv_run["models"]["lasso"]
    assert lasso["n"] == 200 and lasso["rows"] == 400
    assert set(lasso["per_repeat"]) == {"r0", "r1"}
    assert "cluster bootstrap" in lasso["metrics"]["auroc"]["ci_method"]
    lo, hi = lasso["metrics"]["auroc"]["ci_influence_curve"]
    assert lo < lasso["metrics"]["auroc"]["value"] < hi
    assert lasso["metrics"]["calibration_slope"]["value"] is not None
    assert "cluster bootstrap" in lasso["estimator"]["ci"]


def test_reference_is_lasso_fixed_in_advance(cv_run: dict) -> None:
    assert cv_run["best_baseline"] == "lasso" and cv_run["reference"] == "lasso"
    d = cv_run["models"]["random_forest"]["delong_vs_best_baseline"]
    assert d["baseline"] == "lasso" and d["method"].startswith("DeLong per fold")
    assert 0.0 <= d["p_value"] <= 1.0
    assert "delong_vs_best_baseline" not in cv_run["models"]["lasso"]


def test_warnings_are_recorded_printed_and_reported(cv_run: dict) -> None:
    from clinpred.core.report.report import build_report
    from clinpred.core.report.report_render import to_markdown

    warnings = cv_run["warnings"]
    assert isinstance(warnings, list)
    for w in warnings:
        assert set(w) == {"code", "subject", "message"}
        assert f"Warning: {w['message']}" in cv_run["_stderr"]
    title, blocks = build_report(cv_run["_out"])
    text = to_markdown(blocks, title, "f")
    assert "patient-level cluster bootstrap" in text and "influence curve" in text
    assert "van den Goorbergh" not in text  # the note on oversampling's calibration shift: balance is "none" by default
    assert "lasso (configured reference" in text
    if warnings:
        assert "## Warnings" in text
    assert "Smooth calibration (TRIPOD+AI)" in text and "(f/calibration.png)" in text
    assert "smooth_calibration.png" not in text  # the smooth curves are in the calibration figure
    assert "## What each model relied on" in text and "(f/importance.png)" in text
    assert "Performance by subgroup (TRIPOD+AI)" in text and "country = UK" in text
    assert "Table 1: the cohort" in text and "### Missing data" in text and "Riley et al. (BMJ 2020" in text


def test_cohort_items_in_metrics(cv_run: dict) -> None:
    cohort = cv_run["cohort"]
    t1 = cohort["table1"]
    assert t1["columns"] == ["all", "events", "non-events"]  # CV: no single split to show by part
    assert t1["sizes"]["all"]["n"] == 200
    assert {m["feature"] for m in cohort["missing_data"]} == set(t1["rows"])
    assert cohort["sample_size"]["minimum_n"] == max(cohort["sample_size"]["criteria"])


def test_every_model_records_what_it_relied_on(cv_run: dict) -> None:
    features = {"age", "country", "treatment"}
    for name, m in cv_run["models"].items():
        imp = {e["feature"]: e for e in m["importance"]}
        assert features <= set(imp), name
        assert all(e["splits"] == 10 for e in imp.values())
        assert m["importance_method"]["repeats"] == 5 and m["importance_method"]["splits"] == 10
    assert all(abs(e["auroc_drop"]) < 1e-12 for e in cv_run["models"]["majority"]["importance"])
    lasso = cv_run["models"]["lasso"]
    assert lasso["penalty"]["C"]["min"] <= lasso["penalty"]["C"]["median"] <= lasso["penalty"]["C"]["max"]
    assert set(lasso["penalty"]["per_split"]) == {f"r{r}f{f}" for r in range(2) for f in range(5)}
    assert "age" in lasso["coefficients"] and lasso["coefficients"]["age"]["splits"] == 10
    assert "coefficients" not in cv_run["models"]["random_forest"]


def test_tripod_calibration_items_in_metrics(cv_run: dict) -> None:
    lasso = cv_run["models"]["lasso"]
    sc = lasso["smooth_calibration"]
    assert 0 <= sc["ici"]["value"] <= sc["emax"]["value"] and sc["ici"]["ci"][0] is not None
    assert len(sc["curve"]["p"]) == 50
    # the majority model's CV scores are its folds' training prevalences (a few distinct values): a
    # recalibration line exists (fewer knots) and shows it calibrated in the large
    majority = cv_run["models"]["majority"]["smooth_calibration"]
    assert majority is not None and majority["ici"]["value"] < 0.05
    assert lasso["metrics"]["scaled_brier"]["value"] is not None


def test_small_holdout_run_warns_to_use_cv(tmp_path: Path) -> None:
    data = tmp_path / "small.csv"
    assert clinpred("data", "synth", "--n", "150", "--seed", "4", "-o", str(data)).code == 0
    config = tmp_path / "c.toml"
    config.write_text('[run]\nbaselines = ["majority", "lasso"]\n[evaluation]\nbootstrap = 200\n')
    out = tmp_path / "run"
    result = clinpred("run", "--baselines-only", "--config", str(config), "--data", str(data), "--out", str(out))
    assert result.code == 0, result.err
    metrics = json.loads((out / "metrics.json").read_text())
    codes = [w["code"] for w in metrics["warnings"]]
    assert "small-test-part" in codes
    assert "use --cv" in result.err
    assert metrics["models"]["lasso"]["metrics"]["auroc"]["ci_method"] == "stratified bootstrap (percentile)"


def test_subgroups_per_level(cv_run: dict) -> None:
    sub = cv_run["models"]["lasso"]["subgroups"]["country"]
    assert set(sub["levels"]) <= {"UK", "Uganda", "Pakistan"} and "UK" in sub["levels"]
    uk = sub["levels"]["UK"]
    assert uk["auroc"]["ci"][0] <= uk["auroc"]["value"] <= uk["auroc"]["ci"][1]
    assert sum(v["n"] for v in sub["levels"].values()) == 200


def test_internal_external_validation_by_country(tmp_path: Path) -> None:
    data = tmp_path / "cohort.csv"
    assert clinpred("data", "synth", "--n", "400", "--seed", "2", "-o", str(data)).code == 0
    config = tmp_path / "c.toml"
    config.write_text('[run]\nbaselines = ["majority", "lasso"]\n[evaluation]\nbootstrap = 200\n'
                      'protocol = "internal-external"\n[dataset]\nsite_column = "country"\n')
    out = tmp_path / "run"
    result = clinpred("run", "--baselines-only", "--config", str(config), "--data", str(data), "--out", str(out))
    assert result.code == 0, result.err
    metrics = json.loads((out / "metrics.json").read_text())
    lasso = metrics["models"]["lasso"]
    sites = lasso["per_site"]["sites"]
    assert set(sites) == {"UK", "Uganda", "Pakistan"} and sum(v["n"] for v in sites.values()) == 400
    aucs = [v["auroc"] for v in sites.values()]
    assert lasso["metrics"]["auroc"]["value"] == pytest.approx(sum(aucs) / 3, abs=1e-12)
    assert lasso["per_site"]["auroc_spread"]["max"] == pytest.approx(max(aucs))
    assert metrics["models"]["majority"]["metrics"]["auroc"]["value"] == 0.5
    splits = json.loads((out / "splits.json").read_text())
    assert [s["name"] for s in splits["splits"]] == ["site-Pakistan", "site-UK", "site-Uganda"]
    from clinpred.core.report.report import build_report
    from clinpred.core.report.report_render import to_markdown

    title, blocks = build_report(out)
    text = to_markdown(blocks, title, "f")
    assert "Internal-external validation: by site" in text and "internal-external cross-validation" in text
    # its own caption: the CIs cover patient sampling within these sites, not the spread between them
    assert "not the spread between sites" in text and "Repeated cross-validation" not in text
    assert "vertical average of its splits' curves" in text  # the ROC curve whose area is the site-mean AUROC


def test_internal_external_without_site_column_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "cohort.csv"
    assert clinpred("data", "synth", "--n", "200", "--seed", "2", "-o", str(data)).code == 0
    config = tmp_path / "c.toml"
    config.write_text('[evaluation]\nprotocol = "internal-external"\n')
    result = clinpred("run", "--baselines-only", "--config", str(config), "--data", str(data), "--out", str(tmp_path / "r"))
    assert result.code == 2 and "needs [dataset] site_column" in result.err and "Traceback" not in result.err
