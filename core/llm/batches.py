"""Batches of tokenized examples for training, validation and the trunk cache.

Shared by :mod:`~clinpred.core.llm.training`, :mod:`~clinpred.core.llm.training_eval` and
:mod:`~clinpred.core.llm.trunk_cache`, so none of the three needs another's internals.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from clinpred.core.llm.rendering import TokenizedExample
from clinpred.core.llm.training_config import TrainItem


def answer_targets(example: TokenizedExample) -> tuple[list[int], list[int]]:
    """(positions, target ids) of the answer span: position ``p`` predicts ``ids[p + 1]``."""
    positions = list(range(example.answer_start - 1, example.answer_end - 1))
    return positions, list(example.ids[example.answer_start:example.answer_end])


def turn_targets(example: TokenizedExample) -> tuple[list[int], list[int]]:
    """(positions, target ids) of the end-of-turn span after the answer (may be empty)."""
    positions = list(range(example.answer_end - 1, example.trained_end - 1))
    return positions, list(example.ids[example.answer_end:example.trained_end])


def make_batch(items: Sequence[TrainItem], weights: Sequence[float], *,
               end_of_turn: float = 0.0) -> dict[str, np.ndarray]:
    """Right-padded tokens ``(B, L)`` with the flattened target positions ``b * L + p``, their
    targets and loss weights ``(T,)``, and the number of real tokens.

    The targets are each item's answer tokens and, with ``end_of_turn`` > 0, its end-of-turn
    tokens too, weighted by ``end_of_turn`` times the item's weight. Per target: ``answer`` (1 for
    an answer token), ``first`` (1 for the first answer token: the scoring position) and ``label``
    (the item's label); ``n_answer`` counts the answer tokens (the loss is normalised by it).
    """
    ends = [it.example.trained_end if end_of_turn > 0 else it.example.answer_end for it in items]
    length = max(ends)
    tokens = np.zeros((len(items), length), dtype=np.int32)
    flat, targets, w, answer, first, label = [], [], [], [], [], []
    for b, (item, weight, end) in enumerate(zip(items, weights, ends)):
        tokens[b, :end] = item.example.ids[:end]
        spans = [(answer_targets(item.example), weight, 1.0)]
        if end_of_turn > 0:
            spans.append((turn_targets(item.example), weight * end_of_turn, 0.0))
        for (positions, tgt), wt, is_answer in spans:
            flat += [b * length + p for p in positions]
            targets += tgt
            w += [wt] * len(tgt)
            answer += [is_answer] * len(tgt)
            first += [1.0 if is_answer and k == 0 else 0.0 for k in range(len(tgt))]
            label += [float(item.label)] * len(tgt)
    return {"tokens": tokens, "flat": np.array(flat, np.int32), "targets": np.array(targets, np.int32),
            "weights": np.array(w, np.float32), "answer": np.array(answer, np.float32),
            "first": np.array(first, np.float32), "label": np.array(label, np.float32),
            "n_answer": int(sum(answer)), "n_tokens": int(sum(ends))}


def micro_batch_indices(n: int, batch_size: int, seed: int, index: int) -> np.ndarray:
    """Item indices of global micro-batch ``index``: each epoch is a seeded permutation cut into
    ceil(n / batch_size) batches, the last one smaller (no example dropped)."""
    per_epoch = math.ceil(n / batch_size)
    epoch, k = divmod(index, per_epoch)
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return perm[k * batch_size:(k + 1) * batch_size]
