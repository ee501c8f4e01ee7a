"""Splits: stratification within one patient per class, disjoint parts, determinism."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from clinpred.core.errors import DataError
from clinpred.core.data.splits import Split, class_weights, cv_splits, holdout_split, manifest, oversample_minority


def _labels(n_pos: int, n_neg: int, seed: int) -> np.ndarray:
    y = np.array([1] * n_pos + [0] * n_neg)
    return np.random.default_rng(seed).permutation(y)


labels_strategy = st.builds(_labels, st.integers(10, 150), st.integers(10, 150), st.integers(0, 10**6))


def _assert_partition(split: Split, n: int) -> None:
    parts = [split.train, split.val, split.test]
    joined = np.concatenate(parts)
    assert len(joined) == len(set(joined.tolist())) == n  # disjoint and complete
    assert all(len(p) > 0 for p in parts)


def _assert_stratified(part: np.ndarray, pool: np.ndarray, fraction: float, y: np.ndarray) -> None:
    """Each class's count in ``part`` is within one patient of ``fraction`` of that class in ``pool``."""
    for cls in (0, 1):
        expected = fraction * np.sum(y[pool] == cls)
        assert abs(np.sum(y[part] == cls) - expected) < 1 + 1e-9


@settings(max_examples=150, deadline=None)
@given(labels_strategy, st.integers(0, 2**31 - 1))
def test_holdout_properties(y: np.ndarray, seed: int) -> None:
    split = holdout_split(y, seed=seed)
    _assert_partition(split, len(y))
    everyone = np.arange(len(y))
    for part, fraction in zip((split.train, split.val, split.test), (0.8, 0.1, 0.1)):
        _assert_stratified(part, everyone, fraction, y)
        assert (np.diff(part) > 0).all()  # sorted
    again = holdout_split(y, seed=seed)
    for a, b in zip(split.parts().values(), again.parts().values()):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=60, deadline=None)
@given(labels_strategy, st.integers(2, 5), st.integers(1, 2), st.integers(0, 2**31 - 1))
@example(np.array([1] * 10 + [0] * 30), 2, 1, 0)  # a 2-patient validation part drew no positive once
def test_cv_properties(y: np.ndarray, k: int, repeats: int, seed: int) -> None:
    if min(y.sum(), len(y) - y.sum()) < 2 * k:
        with pytest.raises(DataError, match=f"{k}-fold cross-validation needs at least {2 * k}"):
            cv_splits(y, k=k, repeats=repeats, seed=seed)
        return
    splits = cv_splits(y, k=k, repeats=repeats, seed=seed)
    assert len(splits) == k * repeats
    everyone = np.arange(len(y))
    for r in range(repeats):
        folds = [s for s in splits if s.repeat == r]
        assert [s.fold for s in folds] == list(range(k))
        assert [s.name for s in folds] == [f"r{r}f{f}" for f in range(k)]
        tests = np.concatenate([s.test for s in folds])
        assert sorted(tests.tolist()) == everyone.tolist()  # each patient tested once per repeat
        for s in folds:
            _assert_partition(s, len(y))
            _assert_stratified(s.test, everyone, 1 / k, y)
            rest = np.concatenate([s.train, s.val])
            val_fraction = len(s.val) / len(rest)
            # 12.5% of the rest, but at least 2 patients and enough for one of the rarer class
            floor = max(2, math.ceil(len(rest) / np.bincount(y[rest]).min()))
            assert val_fraction == pytest.approx(0.125, abs=0.5 / len(rest) + 1e-9) or len(s.val) == floor
            _assert_stratified(s.val, rest, val_fraction, y)
            _assert_stratified(s.train, rest, 1 - val_fraction, y)
    again = cv_splits(y, k=k, repeats=repeats, seed=seed)
    for a, b in zip(splits, again):
        for pa, pb in zip(a.parts().values(), b.parts().values()):
            np.testing.assert_array_equal(pa, pb)


def test_repeats_differ_and_seeds_differ() -> None:
    y = _labels(60, 40, 0)
    splits = cv_splits(y, k=5, repeats=2, seed=1)
    assert not np.array_equal(splits[0].test, splits[5].test)
    other = cv_splits(y, k=5, repeats=1, seed=2)
    assert not np.array_equal(splits[0].test, other[0].test)
    assert not np.array_equal(holdout_split(y, seed=1).test, holdout_split(y, seed=2).test)


def test_original_protocol_sizes_on_577() -> None:
    y = _labels(358, 219, 3)
    split = holdout_split(y, seed=42)
    assert split.name == "holdout" and split.sizes() == {"train": 461, "val": 58, "test": 58}
    assert int(y[split.test].sum()) == 36


def test_too_few_patients_for_a_part() -> None:
    with pytest.raises(DataError, match=r"split holdout: the test part has no positive patient \(0 positive, 5 negative in 5\)"):
        holdout_split(_labels(5, 50, 0))
    with pytest.raises(ValueError, match="fractions"):
        holdout_split(_labels(20, 20, 0), fractions=(0.5, 0.5, 0.5))


def test_split_arrays_are_read_only() -> None:
    split = holdout_split(_labels(20, 20, 0))
    with pytest.raises(ValueError):
        split.train[0] = 5


def test_manifest_is_json_and_lists_ids_per_part() -> None:
    y = _labels(20, 30, 1)
    ids = [f"id{i}" for i in range(len(y))]
    splits = cv_splits(y, k=2, seed=0)
    data = json.loads(json.dumps(manifest(splits, ids, y)))
    assert data["n_patients"] == 50 and [s["name"] for s in data["splits"]] == ["r0f0", "r0f1"]
    first = data["splits"][0]
    assert set(first["train"]) | set(first["val"]) | set(first["test"]) == set(ids)
    assert first["sizes"] == splits[0].sizes()
    assert first["events"]["test"] == int(y[splits[0].test].sum())
    assert "events" not in manifest(splits, ids)["splits"][0]


@settings(max_examples=100, deadline=None)
@given(labels_strategy, st.integers(0, 1000))
def test_oversampling_stays_inside_the_training_part(y: np.ndarray, seed: int) -> None:
    split = holdout_split(y, seed=seed)
    balanced = oversample_minority(split.train, y, seed)
    assert set(balanced.tolist()) == set(split.train.tolist())  # no val/test patient, none lost
    counts = np.bincount(y[balanced], minlength=2)
    assert counts[0] == counts[1] == np.bincount(y[split.train], minlength=2).max()
    np.testing.assert_array_equal(balanced, oversample_minority(split.train, y, seed))


def test_class_weights_balance_the_classes() -> None:
    y = np.array([1] * 30 + [0] * 10)
    weights = class_weights(y)
    assert weights == {0: 2.0, 1: 40 / 60}
    assert weights[0] * 10 == pytest.approx(weights[1] * 30)
    with pytest.raises(ValueError):
        class_weights(np.ones(5, dtype=int))
