"""Permutation importance: against scikit-learn's, against brute force over every permutation, and
the combination over cross-validation splits."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from clinpred.core.evaluation.importance import permutation_importance, summarize_importance


def _auroc(y: np.ndarray, p: np.ndarray) -> float:
    """Mann-Whitney by brute force over every (event, non-event) pair, ties counting one half."""
    pos, neg = p[y == 1], p[y == 0]
    return float(((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean())


def test_matches_sklearn_permutation_importance() -> None:
    from sklearn.inspection import permutation_importance as sk_importance
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)})
    y = (rng.random(n) < 1 / (1 + np.exp(-(1.5 * X["a"] + 0.5 * X["b"])))).astype(int)
    model = LogisticRegression().fit(X, y)
    predict = lambda frame: model.predict_proba(frame[list(X.columns)])[:, 1]  # noqa: E731
    ours = permutation_importance(predict, X, y, predict(X), features=list(X.columns), repeats=100, seed=1)
    ref = sk_importance(model, X, y, scoring="roc_auc", n_repeats=100, random_state=1)
    drops = {f["feature"]: f["auroc_drop"] for f in ours["features"]}
    for k, name in enumerate(X.columns):
        # two independent Monte Carlo estimates of one expectation (100 permutations each; SE of the difference ~0.004)
        assert drops[name] == pytest.approx(ref.importances_mean[k], abs=0.015)
    assert drops["a"] > drops["b"] > 0.01
    assert ours["auroc"] == pytest.approx(_auroc(y, predict(X)))


def test_brute_force_over_every_permutation() -> None:
    # 7 patients: the expected drop is the mean over all 5040 permutations of the feature
    x = np.array([0.1, 0.9, 0.4, 0.8, 0.3, 0.7, 0.2])
    z = np.array([3.0, 1.0, 2.0, 5.0, 4.0, 0.0, 6.0])
    y = np.array([0, 1, 0, 1, 1, 0, 0])
    frame = pd.DataFrame({"x": x, "z": z})
    predict = lambda f: f["x"].to_numpy() + 0.0 * f["z"].to_numpy()  # noqa: E731 - uses x only
    base = _auroc(y, x)
    exact = base - np.mean([_auroc(y, x[list(perm)]) for perm in itertools.permutations(range(7))])
    out = permutation_importance(predict, frame, y, x, features=["x", "z"], repeats=3000, seed=5)
    by = {f["feature"]: f for f in out["features"]}
    assert by["x"]["auroc_drop"] == pytest.approx(exact, abs=0.01)
    # a feature the model does not read: zero in every permutation, and a zero-width interval
    assert by["z"]["auroc_drop"] == pytest.approx(0.0, abs=1e-12)
    assert by["z"]["ci"] == pytest.approx([0.0, 0.0], abs=1e-12)
    assert set(by["z"]["per_repeat"]) == {0.0}


def test_one_stacked_call_and_seeded() -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.choice(["u", "v", None], size=40)})
    y = (frame["a"] > 0).astype(int).to_numpy()
    calls = []

    def predict(f: pd.DataFrame) -> np.ndarray:
        calls.append(len(f))
        return f["a"].to_numpy()

    first = permutation_importance(predict, frame, y, frame["a"].to_numpy(), features=["a", "b"], repeats=4, seed=9)
    assert calls == [2 * 4 * 40]  # every permuted copy in one call
    again = permutation_importance(predict, frame, y, frame["a"].to_numpy(), features=["a", "b"], repeats=4, seed=9)
    assert first == again
    lo, hi = first["features"][0]["ci"]
    assert lo <= first["features"][0]["auroc_drop"] <= hi


def test_skipped_without_both_classes_or_repeats() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    predict = lambda f: f["a"].to_numpy()  # noqa: E731
    assert "one class" in permutation_importance(predict, frame, [1, 1, 1], [0.1, 0.2, 0.3], features=["a"],
                                                 repeats=2, seed=0)["skipped"]
    assert "off" in permutation_importance(predict, frame, [0, 1, 1], [0.1, 0.2, 0.3], features=["a"],
                                           repeats=0, seed=0)["skipped"]


def test_cross_validation_summary_by_hand() -> None:
    def split(drop: float, se: float) -> dict:
        return {"features": [{"feature": "a", "auroc_drop": drop, "ci": [0, 0], "se": se}]}

    # two repeats of two folds: SE per repeat sqrt(se1^2 + se2^2) / 2, averaged over the repeats
    per_split = [split(0.10, 0.04), split(0.20, 0.03), split(0.12, 0.05), split(0.18, 0.05)]
    out = summarize_importance(per_split, [0, 0, 1, 1])
    se = (math.sqrt(0.04 ** 2 + 0.03 ** 2) / 2 + math.sqrt(0.05 ** 2 + 0.05 ** 2) / 2) / 2
    assert out[0]["auroc_drop"] == pytest.approx(0.15)
    assert out[0]["ci"] == pytest.approx([0.15 - 1.96 * se, 0.15 + 1.96 * se])
    assert out[0]["splits"] == 4
    assert summarize_importance([{"skipped": "x"}]) is None
