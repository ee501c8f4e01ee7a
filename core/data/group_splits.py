"""Grouped stratified splits: rows that share a group (several rows per patient, a matched
case-control set, a hospital) are always in the same part.

Built on scikit-learn's ``StratifiedGroupKFold`` (each fold keeps the class balance as well as
whole groups allow). The hold-out takes one tenth of the groups as the test part and one tenth
as the validation part; cross-validation uses each of ``k`` group folds once as the test part
and carves the validation part from the rest, again by whole groups. :func:`~clinpred.core.data.splits.check_groups`
verifies that no group spans two parts of a split.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from clinpred.core.data.splits import Split, _check_both_classes, _labels, check_groups
from clinpred.core.errors import DataError


def _codes(groups: Sequence[object] | np.ndarray, n: int) -> np.ndarray:
    values = np.asarray(groups, dtype=object).reshape(-1)
    if values.size != n:
        raise DataError(f"groups: {values.size} group values for {n} rows")
    return np.unique(values.astype(str), return_inverse=True)[1]


def _group_folds(y: np.ndarray, codes: np.ndarray, rows: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """``k`` disjoint sets of rows (whole groups, stratified by outcome) covering ``rows``."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = np.unique(codes[rows]).size
    if n_groups < k:
        raise DataError(f"grouped splits need at least {k} groups here; the data has {n_groups}: "
                        "use fewer folds or check group_column")
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed % (2**32))
    return [rows[test] for _, test in splitter.split(np.zeros(rows.size), y[rows], codes[rows])]


def grouped_holdout_split(labels, groups, seed: int = 42) -> Split:
    """One train/val/test split (about 80/10/10) by whole groups, stratified by outcome."""
    y = _labels(labels)
    codes = _codes(groups, y.size)
    folds = _group_folds(y, codes, np.arange(y.size), 10, seed)
    test, val = folds[0], folds[1]
    train = np.concatenate(folds[2:])
    split = Split("holdout", 0, 0, np.sort(train), np.sort(val), np.sort(test))
    _check_both_classes(split, y)
    check_groups([split], codes)
    return split


def grouped_cv_splits(labels, groups, k: int = 5, repeats: int = 1, seed: int = 42,
                      val_fraction: float = 0.125) -> list[Split]:
    """Repeated stratified group k-fold; the validation part is whole groups of the rest."""
    y = _labels(labels)
    codes = _codes(groups, y.size)
    if k < 2 or repeats < 1:
        raise ValueError("grouped_cv_splits: k must be at least 2 and repeats at least 1")
    if not 0 < val_fraction < 1:
        raise ValueError("grouped_cv_splits: val_fraction must be between 0 and 1")
    inner = max(2, int(round(1.0 / val_fraction)))
    out = []
    for repeat in range(repeats):
        state = int(np.random.SeedSequence([seed, repeat]).generate_state(1)[0])
        for fold, test in enumerate(_group_folds(y, codes, np.arange(y.size), k, state)):
            rest = np.setdiff1d(np.arange(y.size), test)
            val = _group_folds(y, codes, rest, inner, state + fold + 1)[0]
            train = np.setdiff1d(rest, val)
            split = Split(f"r{repeat}f{fold}", repeat, fold, train, np.sort(val), np.sort(test))
            _check_both_classes(split, y)
            out.append(split)
    check_groups(out, codes)
    return out


def leave_one_site_out(labels, sites, seed: int = 42, val_fraction: float = 0.125) -> list[Split]:
    """Internal-external cross-validation (TRIPOD+AI): each site (hospital, country) is the test
    part once; a stratified validation part is carved from the other sites' rows. Split names
    are ``site-<value>``; ``fold`` numbers the sites in sorted order."""
    from sklearn.model_selection import train_test_split

    y = _labels(labels)
    values = np.asarray(sites, dtype=object).astype(str)
    if values.size != y.size:
        raise DataError(f"sites: {values.size} site values for {y.size} rows")
    names = sorted(set(values.tolist()))
    if len(names) < 2:
        raise DataError(f"internal-external validation needs at least 2 sites; the site column has {len(names)}")
    out = []
    for fold, site in enumerate(names):
        test = np.flatnonzero(values == site)
        rest = np.flatnonzero(values != site)
        n_val = max(2, int(round(val_fraction * rest.size)))
        state = int(np.random.SeedSequence([seed, fold]).generate_state(1)[0])
        try:
            train, val = train_test_split(rest, test_size=n_val, stratify=y[rest], random_state=state)
        except ValueError:
            raise DataError(f"site {site!r}: the other sites have too few patients of a class for a validation "
                            "part; merge small sites") from None
        split = Split(f"site-{site}", 0, fold, np.sort(train), np.sort(val), np.sort(test))
        try:
            _check_both_classes(split, y)
        except DataError as exc:
            raise DataError(f"{exc}; site {site!r} cannot be a test part on its own: merge it with another site") from None
        out.append(split)
    return out
