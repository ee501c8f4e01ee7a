"""The synthetic retained-placenta cohort against REFERENCES.md §2."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinpred.core.data import synthetic
from clinpred.core.data.synthetic import (
    COUNTRY_MIX,
    COUNTRY_RATES,
    bayes_auroc,
    cohort_csv,
    generate_cohort,
    truth_csv,
)


@pytest.fixture(scope="module")
def big() -> tuple:
    return generate_cohort(n=20000, seed=2024)


def test_country_mix_treatment_and_outcome_rates(big: tuple) -> None:
    frame, _ = big
    shares = frame["country"].value_counts(normalize=True)
    for country, share in zip(synthetic.COUNTRIES, COUNTRY_MIX):
        assert shares[country] == pytest.approx(share, abs=0.001)
    assert frame["treatment"].mean() == 0.5
    # no treatment effect (odds ratio ~1)
    by_arm = frame.groupby("treatment")["manual_removal"].mean()
    odds = by_arm / (1 - by_arm)
    assert odds[1] / odds[0] == pytest.approx(1.0, abs=0.1)
    assert frame["manual_removal"].mean() == pytest.approx(0.62, abs=0.015)
    rates = frame.groupby("country")["manual_removal"].mean()
    tolerance = {"UK": 0.02, "Uganda": 0.025, "Pakistan": 0.05}
    for country, rate in zip(synthetic.COUNTRIES, COUNTRY_RATES):
        assert rates[country] == pytest.approx(rate, abs=tolerance[country])


def test_clinical_marginals(big: tuple) -> None:
    frame, _ = big
    uk = frame["country"] == "UK"
    assert frame.loc[uk, "age"].mean() == pytest.approx(30, abs=0.3)
    assert frame.loc[~uk, "age"].mean() == pytest.approx(25, abs=0.3)
    assert frame.loc[uk, "age"].std() == pytest.approx(5.5, abs=0.4)
    assert frame.loc[uk, "hemoglobin"].mean() == pytest.approx(12, abs=0.1)
    assert frame.loc[~uk, "hemoglobin"].mean() == pytest.approx(11, abs=0.1)
    assert frame.loc[~uk, "hemoglobin"].std() == pytest.approx(1.5, abs=0.15)
    assert frame["birth_weight"].mean() == pytest.approx(3.3, abs=0.03)
    assert frame["birth_weight"].std() == pytest.approx(0.5, abs=0.05)
    assert frame["gestational_age"].min() >= 34
    minutes = frame["minutes_since_delivery"]
    assert minutes.min() >= 30
    assert minutes.mean() == pytest.approx(48, abs=1) and minutes.std() == pytest.approx(8, abs=1)
    loss = frame["blood_loss"]
    assert loss.mean() == pytest.approx(550, abs=25) and loss.std() == pytest.approx(460, abs=40)
    assert loss.skew() > 1 and loss.mean() > loss.median()  # right-skewed
    assert frame["systolic_bp"].min() > 100
    assert frame["pulse"].max() < 110


def test_missing_values_as_in_real_records(big: tuple) -> None:
    frame, _ = big
    for name, (_, fraction) in synthetic.COLUMNS.items():
        assert frame[name].isna().mean() == pytest.approx(fraction, abs=0.01)
    assert frame[["patient_id", "country", "treatment", "manual_removal"]].notna().all().all()


def test_bayes_optimal_auroc_is_weak_like_the_trial(big: tuple) -> None:
    frame, truth = big
    auroc = bayes_auroc(frame["manual_removal"].to_numpy(), truth)
    assert 0.60 <= auroc <= 0.72
    # country alone discriminates at about 0.60
    from sklearn.metrics import roc_auc_score

    country_rate = frame["country"].map(frame.groupby("country")["manual_removal"].mean())
    assert roc_auc_score(frame["manual_removal"], country_rate) == pytest.approx(0.60, abs=0.03)


def test_reported_auroc_equals_sklearn(big: tuple) -> None:
    from sklearn.metrics import roc_auc_score

    frame, truth = big
    y = frame["manual_removal"].to_numpy()
    assert bayes_auroc(y, truth) == pytest.approx(roc_auc_score(y, truth), abs=1e-12)
    tied = np.round(truth, 2)  # many ties
    assert bayes_auroc(y, tied) == pytest.approx(roc_auc_score(y, tied), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=2, max_size=60))
def test_bayes_auroc_matches_sklearn_with_ties(pairs: list[tuple[bool, int]]) -> None:
    from sklearn.metrics import roc_auc_score

    y = np.array([int(a) for a, _ in pairs])
    p = np.array([b / 5 for _, b in pairs])
    if y.min() == y.max():
        with pytest.raises(ValueError):
            bayes_auroc(y, p)
    else:
        assert bayes_auroc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)


def test_true_probability_is_the_model_probability_of_complete_rows() -> None:
    frame, truth = generate_cohort(n=3000, seed=9)
    complete = frame[list(synthetic.COLUMNS)].notna().all(axis=1).to_numpy()
    assert 0.1 < (~complete).mean() < 0.3
    country = frame["country"].map({c: i for i, c in enumerate(synthetic.COUNTRIES)}).to_numpy()
    cov = {name: frame[name].to_numpy() for name in synthetic.COLUMNS}
    expected = 1 / (1 + np.exp(-synthetic._logit(country, cov, synthetic.INTERCEPTS)))
    np.testing.assert_allclose(truth[complete], expected[complete], rtol=1e-12)
    assert ((truth > 0) & (truth < 1)).all()
    # a missing value's probability is an average: between the extremes the feature allows
    assert np.isfinite(truth[~complete]).all()


def test_intercepts_are_calibrated_to_the_country_rates() -> None:
    assert synthetic.calibrate_intercepts() == pytest.approx(synthetic.INTERCEPTS, abs=0.01)


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    a = cohort_csv(generate_cohort(n=577, seed=7)[0])
    b = cohort_csv(generate_cohort(n=577, seed=7)[0])
    c = cohort_csv(generate_cohort(n=577, seed=8)[0])
    assert a == b and a != c
    lines = a.decode().splitlines()
    assert len(lines) == 578
    assert lines[0] == ("patient_id,country,treatment,age,hemoglobin,gestational_age,birth_weight,"
                        "blood_loss,minutes_since_delivery,systolic_bp,pulse,manual_removal")
    assert "nan" not in a.decode().lower()


def test_577_patients_reproduce_the_trial_country_counts() -> None:
    frame, truth = generate_cohort()
    assert frame["country"].value_counts().to_dict() == {"UK": 361, "Uganda": 190, "Pakistan": 26}
    assert len(truth) == 577 and frame["patient_id"].is_unique


def test_truth_csv() -> None:
    text = truth_csv(["P1", "P2"], np.array([0.5, 0.123456789])).decode()
    assert text == "patient_id,true_probability\nP1,0.500000\nP2,0.123457\n"


def test_small_cohorts_work() -> None:
    frame, truth = generate_cohort(n=1, seed=0)
    assert len(frame) == 1 and len(truth) == 1
    with pytest.raises(ValueError):
        generate_cohort(n=0)


# ---------------------------------------------------------------- the numeric design


@pytest.fixture(scope="module")
def numeric() -> tuple:
    return generate_cohort(n=20000, seed=2024, design_name="numeric")


def test_numeric_design_has_the_same_features_and_a_higher_ceiling(big: tuple, numeric: tuple) -> None:
    frame, truth = numeric
    release = big[0]
    assert frame.drop(columns="manual_removal").equals(release.drop(columns="manual_removal"))
    assert 0.78 <= bayes_auroc(frame["manual_removal"].to_numpy(), truth) <= 0.82
    assert frame["manual_removal"].mean() == pytest.approx(0.62, abs=0.015)


def test_numeric_design_signal_is_in_the_continuous_features(numeric: tuple) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    frame, truth = numeric
    y = frame["manual_removal"].to_numpy()
    country_rate = frame["country"].map(frame.groupby("country")["manual_removal"].mean())
    assert roc_auc_score(y, country_rate) < 0.56  # country alone says little
    numbers = frame[list(synthetic.COLUMNS)]
    complete = numbers.notna().all(axis=1).to_numpy()
    fit = LogisticRegression(max_iter=2000).fit(numbers[complete], y[complete])
    ceiling = bayes_auroc(y[complete], truth[complete])
    assert roc_auc_score(y[complete], fit.predict_proba(numbers[complete])[:, 1]) > ceiling - 0.01


def test_numeric_design_effects_are_recovered_by_statsmodels(numeric: tuple) -> None:
    import statsmodels.api as sm

    frame, _ = numeric
    numbers = frame[list(synthetic.COLUMNS)]
    complete = numbers.notna().all(axis=1).to_numpy()
    country = frame["country"].to_numpy()[complete]
    X = numbers[complete].copy()
    for level in synthetic.COUNTRIES:
        X[level] = (country == level).astype(float)
    fit = sm.GLM(frame["manual_removal"].to_numpy()[complete], X, family=sm.families.Binomial()).fit()
    for name, (beta, _) in synthetic.NUMERIC_EFFECTS.items():
        lo, hi = fit.conf_int(alpha=0.001).loc[name]
        assert lo <= beta <= hi, (name, beta, lo, hi)


def test_numeric_intercepts_are_calibrated_to_their_rates() -> None:
    got = synthetic.calibrate_intercepts(design_name="numeric")
    assert got == pytest.approx(synthetic.NUMERIC_INTERCEPTS, abs=0.01)
    with pytest.raises(ValueError, match="release, numeric"):
        generate_cohort(n=10, design_name="nope")


def test_release_design_is_the_default_and_unchanged() -> None:
    assert cohort_csv(generate_cohort(n=300, seed=4)[0]) == cohort_csv(generate_cohort(n=300, seed=4, design_name="release")[0])
