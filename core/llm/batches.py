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
    """(positions, target ids) of the trained span: position ``p`` predicts ``ids[p + 1]``."""
    positions = list(range(example.answer_start - 1, example.answer_end - 1))
    return positions, list(example.ids[example.answer_start:example.answer_end])


def make_batch(items: Sequence[TrainItem], weights: Sequence[float]) -> dict[str, np.ndarray]:
    """Right-padded tokens ``(B, L)`` with the flattened answer positions ``b * L + p``, their
    targets and loss weights ``(T,)``, and the number of real tokens. Tokens after the answer
    (end-of-turn markers) are left out: a causal model's loss on the answer never sees them."""
    length = max(it.example.answer_end for it in items)
    tokens = np.zeros((len(items), length), dtype=np.int32)
    flat, targets, w = [], [], []
    for b, (item, weight) in enumerate(zip(items, weights)):
        tokens[b, : item.example.answer_end] = item.example.ids[: item.example.answer_end]
        positions, tgt = answer_targets(item.example)
        flat += [b * length + p for p in positions]
        targets += tgt
        w += [weight] * len(tgt)
    return {"tokens": tokens, "flat": np.array(flat, np.int32), "targets": np.array(targets, np.int32),
            "weights": np.array(w, np.float32), "n_tokens": int(sum(it.example.answer_end for it in items))}


def micro_batch_indices(n: int, batch_size: int, seed: int, index: int) -> np.ndarray:
    """Item indices of global micro-batch ``index``: each epoch is a seeded permutation cut into
    ceil(n / batch_size) batches, the last one smaller (no example dropped)."""
    per_epoch = math.ceil(n / batch_size)
    epoch, k = divmod(index, per_epoch)
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return perm[k * batch_size:(k + 1) * batch_size]
