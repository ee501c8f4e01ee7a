"""Stratified splits: the original 80/10/10 holdout and repeated stratified k-fold CV.

Indices are row positions in a :class:`~clinpred.core.data.dataset.Dataset`. Every split has a
training, a validation (early stopping, threshold choice) and a test part; no patient is in two
parts. Everything is deterministic for a given seed. Minority oversampling, when used, happens
only inside a training part (:func:`oversample_minority`).
"""

from __future__ import annotations

import math

from typing import Any, Sequence

import numpy as np
from attrs import define, field

from clinpred.core.errors import DataError


def _index_array(value: Any) -> np.ndarray:
    array = np.array(value, dtype=np.int64).reshape(-1)
    array.setflags(write=False)
    return array


@define(frozen=True, eq=False)
class Split:
    """One split: ``name`` ("holdout" or "r{repeat}f{fold}") and its three index arrays."""

    name: str
    repeat: int
    fold: int
    train: np.ndarray = field(converter=_index_array)
    val: np.ndarray = field(converter=_index_array)
    test: np.ndarray = field(converter=_index_array)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def parts(self) -> dict[str, np.ndarray]:
        return {"train": self.train, "val": self.val, "test": self.test}


def _labels(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    if len(y) and not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0/1")
    return y


def holdout_split(
    labels: Sequence[int] | np.ndarray, seed: int = 42, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> Split:
    """The original protocol: one stratified train/val/test split.

    Each class is shuffled and divided among the parts by largest remainder, so every part holds
    each class within one patient of its share (a two-step ``train_test_split`` can miss by more).
    """
    y = _labels(labels)
    fractions_arr = np.asarray(fractions, dtype=float)
    if len(fractions_arr) != 3 or (fractions_arr <= 0).any() or not np.isclose(fractions_arr.sum(), 1.0):
        raise ValueError("fractions must be three positive numbers (train, val, test) summing to 1")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for cls in (0, 1):
        members = rng.permutation(np.flatnonzero(y == cls))
        quota = len(members) * fractions_arr
        counts = np.floor(quota).astype(int)
        order = np.lexsort((np.arange(3), -(quota - counts)))  # largest remainder, then train first
        for i in order[: len(members) - counts.sum()]:
            counts[i] += 1
        for i, chunk in enumerate(np.split(members, np.cumsum(counts)[:2])):
            parts[i].append(chunk)
    train, val, test = (np.sort(np.concatenate(p)) for p in parts)
    split = Split("holdout", 0, 0, train, val, test)
    _check_both_classes(split, y)
    return split


def cv_splits(
    labels: Sequence[int] | np.ndarray,
    k: int = 5,
    repeats: int = 1,
    seed: int = 42,
    val_fraction: float = 0.125,
) -> list[Split]:
    """Repeated stratified k-fold: each fold is the test part once; a stratified validation part
    (``val_fraction`` of the rest) is carved from each training part."""
    from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split

    y = _labels(labels)
    if k < 2 or repeats < 1:
        raise ValueError("cv_splits: k must be at least 2 and repeats at least 1")
    if not 0 < val_fraction < 1:
        raise ValueError("cv_splits: val_fraction must be between 0 and 1")
    counts = np.bincount(y, minlength=2)
    need = 2 * k
    if counts.min() < need:
        short = int(np.argmin(counts))  # the class that is short, and its own count
        cls = "positive" if short == 1 else "negative"
        raise DataError(
            f"{k}-fold cross-validation needs at least {need} {cls} patients; the data has "
            f"{counts[short]} ({counts[1]} positive, {counts[0]} negative): use fewer folds or the holdout split"
        )
    splitter = RepeatedStratifiedKFold(n_splits=k, n_repeats=repeats, random_state=seed)
    out = []
    for number, (rest, test) in enumerate(splitter.split(np.zeros(len(y)), y)):
        repeat, fold = divmod(number, k)
        # at least one patient of the rarer class in expectation, so the stratified draw has one
        n_val = max(2, int(round(val_fraction * len(rest))), math.ceil(len(rest) / np.bincount(y[rest]).min()))
        state = int(np.random.SeedSequence([seed, repeat, fold]).generate_state(1)[0])
        train, val = train_test_split(rest, test_size=n_val, stratify=y[rest], random_state=state)
        split = Split(f"r{repeat}f{fold}", repeat, fold, np.sort(train), np.sort(val), np.sort(test))
        _check_both_classes(split, y)
        out.append(split)
    return out


def _check_both_classes(split: Split, y: np.ndarray) -> None:
    for part, idx in split.parts().items():
        counts = np.bincount(y[idx], minlength=2)
        if counts.min() == 0:
            raise DataError(
                f"split {split.name}: the {part} part has no {'positive' if counts[1] == 0 else 'negative'} "
                f"patient ({counts[1]} positive, {counts[0]} negative in {len(idx)}); the data has too few "
                "events for this split"
            )


def manifest(
    splits: Sequence[Split], ids: Sequence[str], labels: Sequence[int] | np.ndarray | None = None,
    *, groups: Sequence[Any] | np.ndarray | None = None, group_column: str | None = None,
) -> dict[str, Any]:
    """A JSON-able record of which patient ids are in which part of each split.

    With ``labels``, each part also records its size and number of events. With ``groups``, each
    part records its number of groups, and the record says the groups were checked: no group in
    two parts (``"groups_checked": true``; a violation raises).
    """
    ids = [str(i) for i in ids]
    y = None if labels is None else _labels(labels)
    entries = []
    for split in splits:
        entry: dict[str, Any] = {"name": split.name, "repeat": split.repeat, "fold": split.fold}
        for part, idx in split.parts().items():
            entry[part] = [ids[i] for i in idx]
        entry["sizes"] = split.sizes()
        if y is not None:
            entry["events"] = {part: int(y[idx].sum()) for part, idx in split.parts().items()}
        if groups is not None:
            codes = np.asarray(groups)
            entry["groups"] = {part: int(np.unique(codes[idx]).size) for part, idx in split.parts().items()}
        entries.append(entry)
    out: dict[str, Any] = {"n_patients": len(ids), "splits": entries}
    if groups is not None:
        check_groups(splits, groups)
        out.update(group_column=group_column, n_groups=int(np.unique(np.asarray(groups)).size), groups_checked=True)
    return out


def oversample_minority(
    train_idx: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray, seed: int
) -> np.ndarray:
    """Training indices with random duplicates of the minority class until both classes are equal
    in number, shuffled. ``labels`` is the full label array that ``train_idx`` indexes."""
    idx = np.asarray(train_idx, dtype=np.int64).reshape(-1)
    y = _labels(labels)[idx]
    rng = np.random.default_rng(seed)
    counts = np.bincount(y, minlength=2)
    if counts.min() == 0 or counts[0] == counts[1]:
        return rng.permutation(idx)
    minority = int(np.argmin(counts))
    extra = rng.choice(idx[y == minority], size=int(counts.max() - counts.min()), replace=True)
    return rng.permutation(np.concatenate([idx, extra]))


def class_weights(labels: Sequence[int] | np.ndarray) -> dict[int, float]:
    """Balanced class weights ``n / (2 * n_class)`` (the alternative to oversampling)."""
    y = _labels(labels)
    counts = np.bincount(y, minlength=2)
    if counts.min() == 0:
        raise ValueError("class_weights: both classes must be present")
    return {cls: float(len(y) / (2 * counts[cls])) for cls in (0, 1)}


def check_groups(splits: Sequence[Split], groups) -> None:
    """Raise :class:`DataError` if any group has rows in two parts of one split."""
    codes = np.asarray(groups)
    for split in splits:
        seen: dict[object, str] = {}
        for part, idx in split.parts().items():
            for g in np.unique(codes[idx]):
                if g in seen and seen[g] != part:
                    raise DataError(f"split {split.name}: group {str(g)!r} is in both the {seen[g]} and the {part} part")
                seen[g] = part
