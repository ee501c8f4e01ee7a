"""Oversampling inside LASSO's inner folds: copies never cross from inner training to validation."""

from __future__ import annotations

import numpy as np
import pytest


def test_oversample_rows_duplicates_only_the_given_minority_rows():
    from clinpred.core.models.inner_resampling import oversample_rows

    y = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 1])
    rows = np.array([0, 1, 2, 3, 5, 6])  # one positive (row 0), five negatives
    out = oversample_rows(y, rows, np.random.default_rng(0))
    assert set(out) <= set(rows)
    assert np.bincount(y[out]).tolist() == [5, 5]
    assert sorted(out[len(rows):].tolist()) == [0, 0, 0, 0]


def test_inner_validation_folds_hold_no_copy_of_a_training_patient(monkeypatch):
    from clinpred.core.models import inner_resampling as mod

    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3))
    y = (rng.random(120) < 0.25).astype(int)
    seen = []
    original = mod.oversample_rows

    def spy(labels, rows, generator):
        out = original(labels, rows, generator)
        seen.append((set(rows.tolist()), out))
        return out

    monkeypatch.setattr(mod, "oversample_rows", spy)
    est = mod.InnerOversampledLassoCV(Cs=(0.01, 1.0), n_splits=3, seed=0).fit(X, y)
    inner = seen[:-1]
    assert len(inner) == 3
    for rows, out in inner:
        assert set(out.tolist()) == rows  # duplicates come from the inner training fold only
        assert len(rows) < 120  # ... which excludes the inner validation fold
    assert set(seen[-1][1].tolist()) == set(range(120))  # the final refit oversamples everything
    assert est.C_ in (0.01, 1.0) and est.predict_proba(X).shape == (120, 2)


def test_choice_of_c_equals_a_plain_grid_search_when_nothing_is_oversampled():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from clinpred.core.models.inner_resampling import InnerOversampledLassoCV, _penalty_kwargs

    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 4))
    y = np.r_[np.ones(100), np.zeros(100)].astype(int)  # balanced: oversampling adds no row
    X[:, 0] += y
    Cs = (0.01, 0.05, 0.3, 3.0)
    est = InnerOversampledLassoCV(Cs=Cs, n_splits=4, seed=3, tol=1e-8).fit(X, y)
    cv = StratifiedKFold(n_splits=4, shuffle=True, random_state=3)
    means = [cross_val_score(LogisticRegression(C=C, l1_ratio=1.0, solver="saga", max_iter=5000, tol=1e-8,
                                                **_penalty_kwargs()), X, y, cv=cv, scoring="roc_auc").mean()
             for C in Cs]
    assert est.scores_.mean(axis=1) == pytest.approx(means, abs=1e-4)
    assert est.C_ == Cs[int(np.argmax(means))]
