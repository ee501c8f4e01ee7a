"""What the tabular models relied on: odds ratios against statsmodels, missingness indicators, and
permutation importance through the adapters (the same path for a tabular model and an LLM-like one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clinpred.core.data.schema import FeatureSpec
from clinpred.core.models.baselines import Lasso, Logistic
from clinpred.core.models.linear_terms import linear_terms

SPECS = (FeatureSpec("age", unit="years"), FeatureSpec("crp", unit="mg/L"),
         FeatureSpec("stage", kind="categorical", value_labels={"3": "early", "1": "middle", "2": "late"}))


def _cohort(n: int = 600, seed: int = 0, missing: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    age = rng.normal(60, 10, n)
    crp = rng.gamma(2.0, 20.0, n)
    stage = rng.choice(["1", "2", "3"], n)
    lp = -1 + 0.04 * (age - 60) + 0.01 * (crp - 40) + np.where(stage == "2", 0.8, np.where(stage == "3", -0.5, 0))
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    crp = crp.copy()
    if missing:  # missing more often in events: the indicator carries information
        crp[(rng.random(n) < np.where(y == 1, 0.3, 0.1))] = np.nan
    return pd.DataFrame({"age": age, "crp": crp, "stage": stage}), y


def test_logistic_odds_ratios_equal_statsmodels() -> None:
    import statsmodels.api as sm

    X, y = _cohort()
    pipe = Logistic().fit(X, y, ["stage"], missing_indicators=True)
    terms = {t["term"]: t for t in linear_terms(pipe, SPECS)["terms"]}
    assert list(terms) == ["age", "crp", "stage: middle vs early", "stage: late vs early", "crp missing"]
    # the same model by maximum likelihood in statsmodels: imputed crp, stage with reference "3"
    # (the schema's first level), the missingness indicator
    design = pd.DataFrame({"age": X["age"], "crp": X["crp"].fillna(X["crp"].median()),
                           "stage1": (X["stage"] == "1").astype(float), "stage2": (X["stage"] == "2").astype(float),
                           "crp_missing": X["crp"].isna().astype(float)})
    fit = sm.Logit(y, sm.add_constant(design)).fit(disp=0, method="newton", tol=1e-12)
    expect = {"age": "age", "crp": "crp", "stage: middle vs early": "stage1", "stage: late vs early": "stage2",
              "crp missing": "crp_missing"}
    for term, column in expect.items():
        assert terms[term]["odds_ratio_per_unit"] == pytest.approx(np.exp(fit.params[column]), rel=1e-4), term
    sd = design["age"].std(ddof=0)
    assert terms["age"]["odds_ratio_per_sd"] == pytest.approx(np.exp(fit.params["age"] * sd), rel=1e-4)
    assert terms["age"]["sd"] == pytest.approx(sd)


def test_indicators_change_nothing_without_missing_values() -> None:
    X, y = _cohort(missing=False)
    plain = Logistic().fit(X, y, ["stage"])
    flagged = Logistic().fit(X, y, ["stage"], missing_indicators=True)
    from clinpred.core.models.tabular import predict_yes

    assert np.array_equal(predict_yes(plain, X, ["stage"]), predict_yes(flagged, X, ["stage"]))
    assert not any(t["level"] == "missing" for t in linear_terms(flagged, SPECS)["terms"])
    # a new patient with a missing value is still scored (imputed, no indicator learnt)
    new = X.iloc[:2].copy()
    new.loc[0, "crp"] = np.nan
    assert np.isfinite(predict_yes(flagged, new, ["stage"])).all()


def test_lasso_records_its_penalty_and_unselected_terms() -> None:
    X, y = _cohort()
    X["noise"] = np.random.default_rng(3).normal(size=len(X))
    pipe = Lasso().fit(X, y, ["stage"], missing_indicators=True, seed=1)
    details = Lasso().fitted_details(pipe)
    assert details["C"] > 0 and "chosen by inner CV" in details["penalty"]
    terms = {t["term"]: t for t in linear_terms(pipe, SPECS)["terms"]}
    zero = [t for t in terms.values() if t["coefficient"] == 0]
    assert all(t["odds_ratio_per_unit"] == 1.0 for t in zero)
    assert terms["age"]["odds_ratio_per_sd"] > 1  # older patients: more events, as simulated


def test_importance_goes_through_the_fitted_model(tmp_path: Path) -> None:
    """Every adapter's outcome(fitted=...) measures the same thing: a tabular pipeline, and a model
    that reads the rendered records as an LLM reads its prompt."""
    from sklearn.metrics import roc_auc_score

    from clinpred.core.data.dataset import load_dataset
    from clinpred.core.data.dataset_rows import dataset_rows
    from clinpred.core.data.schema import default_schema
    from clinpred.core.data.splits import holdout_split
    from clinpred.core.data.synthetic import cohort_csv, generate_cohort
    from clinpred.core.evaluation.settings import EvaluationConfig
    from clinpred.core.models.work import LLMSource, UnitWork

    frame, _ = generate_cohort(n=300, seed=2)
    path = tmp_path / "c.csv"
    path.write_bytes(cohort_csv(frame))
    ds = load_dataset(path, default_schema())
    split = holdout_split(ds.labels, seed=1)
    work = UnitWork(name="lasso", unit="lasso/holdout", dataset=ds, split=split, params=Lasso.params(), seed=1,
                    settings=EvaluationConfig(importance_repeats=3, llm_importance_repeats=2), save_dir=tmp_path / "a")
    outcome = Lasso().run_unit(work)
    imp = outcome.details["importance"]
    assert [f["feature"] for f in imp["features"]] == ds.schema.feature_names and imp["repeats"] == 3
    assert imp["auroc"] == pytest.approx(roc_auc_score(ds.labels[split.val], outcome.val.p))

    class ReadsTheCountry:
        """P(yes) from the rendered record text of one feature, as an LLM reads its prompt."""

        def predict_proba(self, dataset):
            records = dataset.records()
            return np.array([0.8 if next(f.text for f in r.features if f.name == "country") == "UK" else 0.3
                             for r in records])

    llm_work = UnitWork(name="llm", unit="llm/holdout", dataset=ds, split=split, params=None, seed=1,
                        settings=work.settings, save_dir=tmp_path / "b", llm=LLMSource("m", None, None))
    p_val = ReadsTheCountry().predict_proba(dataset_rows(ds, split.val))
    result = llm_work.relied_on(ReadsTheCountry(), p_val)
    by = {f["feature"]: f for f in result["features"]}
    assert result["repeats"] == 2  # llm_importance_repeats for a model that uses an LLM
    assert by["country"]["auroc_drop"] > 0.02
    assert all(abs(f["auroc_drop"]) < 1e-12 for name, f in by.items() if name != "country")
