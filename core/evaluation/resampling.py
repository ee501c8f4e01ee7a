"""Bootstrap case weights: which patients (or groups) a resample holds, and how often.

A resample is a vector of multiplicities over the patients; ``B`` resamples are a ``(B, n)``
matrix that the batched metric kernels evaluate at once. Two designs, chosen per statistic:

- **stratified by outcome** (:func:`stratified_weights`): positives drawn from the positives and
  negatives from the negatives, so the event rate is the sample's in every resample. Right for
  statistics defined conditionally on the classes (:data:`CLASS_CONDITIONAL`: AUROC,
  sensitivity, specificity and their functions), whose sampling variance is conditional on the
  class counts (as DeLong's);
- **plain patient bootstrap** (:func:`patient_weights`): patients drawn from all patients, so the
  event rate varies between resamples as it does between samples. Needed by every statistic
  that depends on the event rate (calibration intercept and slope, Brier, AUPRC, accuracy, PPV,
  F1, MCC, the smooth-calibration numbers): holding the event rate fixed makes their intervals
  too narrow (a constant prediction's calibration intercept would not vary at all).

With clusters (a ``group_column``: several rows per patient, matched sets) whole clusters are
drawn with replacement (:func:`cluster_weights`), unstratified, for every statistic.
Each design draws from its own seeded stream: the same seed gives the same resamples.
"""

from __future__ import annotations

import numpy as np

#: statistics conditional on the classes: bootstrapped stratified by outcome
CLASS_CONDITIONAL = ("auroc", "recall", "specificity", "balanced_accuracy", "balance_gap")


def stratified_weights(labels, n_resamples: int, seed: int) -> np.ndarray:
    """Multiplicities ``(n_resamples, n)`` of a bootstrap stratified by outcome: each resample draws,
    with replacement, as many positives from the positives and negatives from the negatives as the
    data hold (``numpy.random.default_rng(seed)``, positives first)."""
    y = np.asarray(labels).astype(bool)
    rng = np.random.default_rng(seed)
    w = np.zeros((n_resamples, y.size))
    for mask in (y, ~y):  # positives first, then negatives: part of the seed contract
        idx = np.flatnonzero(mask)
        if idx.size:
            w[:, idx] = rng.multinomial(idx.size, np.full(idx.size, 1.0 / idx.size), size=n_resamples)
    return w


def patient_weights(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """Multiplicities ``(n_resamples, n)`` of a plain bootstrap: ``n`` patients drawn with
    replacement from all ``n`` (stream ``numpy.random.default_rng([seed, 1])``)."""
    rng = np.random.default_rng([seed, 1])
    if n == 0:
        return np.zeros((n_resamples, 0))
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples).astype(float)


def cluster_weights(labels: np.ndarray, clusters: np.ndarray | None, n_resamples: int, seed: int,
                    *, stratified: bool = False) -> np.ndarray:
    """Patient multiplicities ``(B, n)`` of a cluster bootstrap. Without ``clusters`` each patient
    is its own cluster: :func:`stratified_weights` when ``stratified`` (for the class-conditional
    statistics), else :func:`patient_weights`. With ``clusters`` whole clusters are drawn with
    replacement (unstratified), each patient counting as often as its cluster was drawn."""
    if clusters is None:
        y = np.asarray(labels)
        return stratified_weights(y, n_resamples, seed) if stratified else patient_weights(y.size, n_resamples, seed)
    codes, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(codes.size, np.full(codes.size, 1.0 / codes.size), size=n_resamples)
    return draws[:, inverse].astype(float)
