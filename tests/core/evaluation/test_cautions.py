"""Every statistical warning fires on a case built to trigger it, and stays quiet otherwise."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from clinpred.core.data.schema import FeatureSpec
from clinpred.core.data.splits import cv_splits, holdout_split
from clinpred.core.evaluation import cautions


def _dataset(n: int = 400, seed: int = 0, leak: bool = False, labels_map: dict | None = None, n_noise: int = 2):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    columns = {f"x{i}": rng.normal(size=n) + 0.3 * y for i in range(n_noise)}
    columns["sex"] = rng.choice(["1", "0"], n)
    if leak:
        columns["discharge_code"] = np.where(y == 1, 5.0, 1.0) + rng.normal(0, 0.1, n)
    features = [FeatureSpec(name) for name in columns if name != "sex"]
    features.append(FeatureSpec("sex", kind="binary", value_labels=labels_map or {"1": "male", "0": "female"}))
    frame = pd.DataFrame(columns)[[f.name for f in features]]
    return SimpleNamespace(frame=frame, labels=y, schema=SimpleNamespace(features=tuple(features)))


def _codes(found):
    return [(w["code"], w["subject"]) for w in found]


def test_quiet_on_a_healthy_cv_run():
    ds = _dataset()
    splits = cv_splits(ds.labels, k=5, repeats=1, seed=1)
    models = {"lasso": {"metrics": {"auroc": {"ci": [0.6, 0.7]}}}}
    assert cautions.run_warnings(ds, splits, "cv", models, {}) == []


def test_small_holdout_test_part_says_use_cv():
    ds = _dataset(n=190)
    found = cautions.small_test_part(ds, [holdout_split(ds.labels, seed=1)], "holdout")
    assert _codes(found) == [("small-test-part", "holdout")]
    assert "use --cv" in found[0]["message"] and "19 patients" in found[0]["message"]
    assert cautions.small_test_part(ds, [holdout_split(ds.labels, seed=1)], "cv") == []


def test_low_events_per_predictor():
    ds = _dataset(n=120, n_noise=8)  # about 29 training events for 9 parameters: 3.2 per parameter
    found = cautions.low_events_per_predictor(ds, [holdout_split(ds.labels, seed=1)])
    assert _codes(found) == [("low-events-per-predictor", "training")]
    assert "events per candidate predictor" in found[0]["message"]
    assert cautions.candidate_parameters(ds) == 9


def test_events_per_predictor_does_not_count_the_site_column_in_internal_external_validation():
    from clinpred.core.data.group_splits import leave_one_site_out

    ds = _dataset(n=400, n_noise=2)
    sites = np.random.default_rng(3).choice(["uk", "uganda", "pakistan", "kenya", "india"], 400)
    ds.frame["site"] = sites
    features = (*ds.schema.features, FeatureSpec("site", kind="categorical"))
    ds.schema = SimpleNamespace(features=features, site_column="site")
    splits = leave_one_site_out(ds.labels, sites, seed=1)
    assert cautions.candidate_parameters(ds) == 3 + 4  # 2 noise + sex, and the site's 5 levels - 1
    assert cautions.candidate_parameters(ds, exclude=("site",)) == 3
    # about 70 training events: 10 per parameter with the site counted, 23 without it
    rare = min(int(ds.labels[s.train].sum()) for s in splits)
    assert rare / 7 < 10 <= rare / 3
    assert cautions.low_events_per_predictor(ds, splits, "internal-external") == []
    assert _codes(cautions.low_events_per_predictor(ds, splits, "cv")) == [("low-events-per-predictor", "training")]


def test_outcome_leak_names_the_column():
    ds = _dataset(leak=True)
    found = cautions.possible_outcome_leak(ds, [holdout_split(ds.labels, seed=1)])
    assert _codes(found) == [("possible-outcome-leak", "discharge_code")]
    assert found[0]["message"].startswith("possible outcome leak: discharge_code")


def test_leak_check_scores_categorical_levels_by_event_rate():
    y = np.array([0, 0, 1, 1, 0, 1, 0, 1])
    values = pd.Series(["a", "a", "b", "b", "a", "b", "a", "b"])
    assert cautions.feature_auroc(values, y, "categorical") == 1.0


def test_auroc_ci_below_chance():
    models = {"llm": {"metrics": {"auroc": {"ci": [0.21, 0.44]}}}, "ok": {"metrics": {"auroc": {"ci": [0.4, 0.6]}}},
              "failed": {"status": "failed"}}
    found = cautions.auroc_below_chance(models)
    assert _codes(found) == [("auroc-below-chance", "llm")]
    assert "inverted or the answer words are swapped" in found[0]["message"]


def test_collapsed_generated_answers():
    from outcomes import outcome

    units = {"r0f0": outcome([0, 1, 2, 3], [0.6] * 4, parsed=[1, 1, None, 1]), "r0f1": outcome([4, 5], [0.7] * 2, parsed=[1, 1])}
    mixed = {"r0f0": outcome([0, 1], [0.6, 0.4], parsed=[1, 0])}
    no_answers = {"r0f0": outcome([0, 1, 2, 3], [0.6] * 4)}  # a model that generates nothing (a baseline)
    found = cautions.collapsed_answers({"m": units, "n": mixed, "lasso": no_answers})
    assert _codes(found) == [("collapsed-answers", "m")]


@pytest.mark.parametrize("yes, no", [(19, 1), (20, 0), (1, 19), (18, 2), (18, 1), (50, 3)])
def test_collapse_warning_uses_the_same_95_percent_rule_as_diagnose(yes, no):
    from outcomes import outcome

    from clinpred.core.report.diagnose import class_balance

    parsed = [1] * yes + [0] * no
    n = len(parsed)
    found = cautions.collapsed_answers({"m": {"r0f0": outcome(list(range(n)), [0.6] * n, parsed=parsed)}})
    flagged = class_balance(parsed, None)["collapsed"]
    assert bool(found) == flagged == (max(yes, no) / (yes + no) >= 0.95)
    if found:
        assert f"{max(yes, no)} of {yes + no}" in found[0]["message"]


@pytest.mark.parametrize("mapping, bad", [({"1": "male", "2": "female"}, "'2'"), ({"M": "male", "F": "female"}, "'F', 'M'")])
def test_value_labels_that_match_no_value(mapping, bad):
    found = cautions.unmatched_value_labels(_dataset(labels_map=mapping))
    assert _codes(found) == [("unmatched-value-labels", "sex")] and bad in found[0]["message"]


def test_value_labels_compare_numbers_by_value():
    assert cautions.unmatched_value_labels(_dataset(labels_map={"1.0": "male", "0": "female"})) == []


def test_several_leaks_fold_into_one_line_strongest_first():
    ds = _dataset(leak=True)
    rng = np.random.default_rng(5)
    ds.frame["echo"] = np.where(ds.labels == 1, 2.0, 0.0) + rng.normal(0, 0.3, len(ds.labels))
    ds.schema.features = (*ds.schema.features, FeatureSpec("echo"))
    found = cautions.possible_outcome_leak(ds, [holdout_split(ds.labels, seed=1)])
    assert _codes(found) == [("possible-outcome-leak", "discharge_code, echo")]
    message = found[0]["message"]
    assert message.startswith("possible outcome leak: 2 features alone give AUROC >= 0.95: discharge_code (1.000), echo (")


def _with_missing(informative: bool, seed: int = 0):
    ds = _dataset(n=600, seed=seed)
    rng = np.random.default_rng(seed + 1)
    rate = np.where(ds.labels == 1, 0.6, 0.1) if informative else np.full(len(ds.labels), 0.3)
    gone = rng.random(len(ds.labels)) < rate
    ds.frame.loc[gone, "x0"] = np.nan
    ds.frame.loc[gone, "x1"] = np.nan  # the same patients (one pattern, as trial vs non-trial patients)
    return ds


def test_missingness_that_predicts_the_outcome_is_named():
    ds = _with_missing(informative=True)
    splits = [holdout_split(ds.labels, seed=1)]
    found = cautions.missingness_predicts_outcome(ds, splits, indicators=False)
    assert _codes(found) == [("missingness-predicts-outcome", "x0, x1")]
    assert 'the LLM reads "not recorded"' in found[0]["message"] and "missing_indicators = true" in found[0]["message"]
    on = cautions.missingness_predicts_outcome(ds, splits, indicators=True)
    assert "so both see it" in on[0]["message"]
    # the cross-fitted AUROC against the truth: P(missing | event) 0.6, P(missing | non-event) 0.1 ->
    # AUROC of the pattern = 0.5 + (0.6 - 0.1) / 2 = 0.75 (a two-valued score)
    auc, _ = cautions.missingness_auroc(ds.frame, ds.labels)
    assert auc == pytest.approx(0.75, abs=0.05)


def test_missingness_at_random_is_quiet():
    ds = _with_missing(informative=False)
    assert cautions.missingness_predicts_outcome(ds, [holdout_split(ds.labels, seed=1)], indicators=False) == []
    complete = _dataset()
    assert cautions.missingness_auroc(complete.frame, complete.labels) == (None, [])


@pytest.mark.parametrize("balance, says, never", [
    ("oversample", "its training was already oversampled", 'balance = "oversample"'),
    ("class-weight", "its training was already class-weighted", 'balance = "oversample"'),
    ("none", 'balance its training (balance = "oversample" or "class-weight" in [evaluation])', "already"),
])
def test_collapse_advice_says_what_the_run_already_did(balance, says, never):
    """Issue 27: a run that oversampled was told to oversample."""
    from outcomes import outcome

    units = {"r0f0": outcome([0, 1, 2], [0.6] * 3, parsed=[1, 1, 1], training={"epochs": 2.0})}
    (found,) = cautions.collapsed_answers({"m": units}, balance)
    assert says in found["message"] and never not in found["message"]
    assert "P(yes) at the threshold chosen on validation" in found["message"]


def test_collapse_advice_and_a_warning_for_a_fine_tune_under_one_epoch():
    from outcomes import outcome

    short = {"r0f0": outcome([0, 1], [0.6] * 2, parsed=[1, 1], training={"epochs": 0.345}),
             "r0f1": outcome([2, 3], [0.6] * 2, parsed=[1, 1], training={"epochs": 0.35})}
    (collapse,) = cautions.collapsed_answers({"m": short}, "oversample")
    assert "train longer (its fine-tune covered 0.35 of an epoch)" in collapse["message"]
    long = {"r0f0": outcome([0, 1], [0.6] * 2, training={"epochs": 1.0})}
    baseline = {"r0f0": outcome([0, 1], [0.6] * 2)}
    found = cautions.under_one_epoch({"m": short, "long": long, "lasso": baseline})
    assert _codes(found) == [("under-one-epoch", "m")]
    assert "m: its fine-tune covered 0.34-0.35 of an epoch of the training part" in found[0]["message"]


def test_collapse_advice_for_lpft_says_the_words_are_not_what_it_trained():
    """The default recipe (LP-FT) scores with its probe head: its words are the LM head's, untrained
    for the answer, so "train longer / balance" would be wrong advice."""
    from outcomes import outcome

    lpft = {"training": {"epochs": 1.7, "probe_head": {"C": 0.01, "patients": 462, "class_weight": None}}}
    units = {"r0f0": outcome([0, 1, 2], [0.6] * 3, parsed=[1, 1, 1], **lpft)}
    (found,) = cautions.collapsed_answers({"m": units}, "none")
    assert 'LP-FT (head = "probe") does not train for the answer' in found["message"]
    assert "train longer" not in found["message"] and "balance its training" not in found["message"]
    assert "P(yes) at the threshold chosen on validation" in found["message"]
    mixed = {**units, "r0f1": outcome([3, 4], [0.6] * 2, parsed=[1, 1], training={"epochs": 1.7})}
    (found,) = cautions.collapsed_answers({"m": mixed}, "none")
    assert "train longer" in found["message"] and "LP-FT" not in found["message"]
