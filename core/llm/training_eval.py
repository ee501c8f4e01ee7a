"""Validation during training: answer-span loss and AUROC of label probabilities, from one
forward pass per batch (the position before the answer is the scoring position)."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from clinpred.core.errors import TrainingError
from clinpred.core.evaluation.metric_kernels import weighted_auroc
from clinpred.core.llm.batches import make_batch
from clinpred.core.llm.scoring import label_token_ids, p_yes_from_logprobs
from clinpred.core.llm.tokens import decode
from clinpred.core.llm.training_config import TrainItem


def label_ids_for(tokenizer: Any, items: Sequence[TrainItem],
                  words: tuple[str, str] | None) -> tuple[list[int], list[int]] | None:
    """(positive ids, negative ids): the first answer token of each class in ``items``, plus the
    variants of ``words`` (positive, negative) after the first item's prompt. None if a class has no token."""
    pos = sorted({it.example.ids[it.example.answer_start] for it in items if int(it.label) == 1})
    neg = sorted({it.example.ids[it.example.answer_start] for it in items if int(it.label) == 0})
    if words is not None and items:
        ex = items[0].example
        prompt = decode(tokenizer, ex.ids[: ex.prompt_len])
        pos = sorted(set(pos) | set(label_token_ids(tokenizer, prompt, [words[0]])))
        neg = sorted(set(neg) | set(label_token_ids(tokenizer, prompt, [words[1]])))
    shared = set(pos) & set(neg)
    if shared:
        pieces = [decode(tokenizer, [t]) for t in sorted(shared)]
        raise TrainingError(
            f"the positive and negative answers start with the same token(s) {pieces!r}; "
            "choose answer words whose first tokens differ"
        )
    return (pos, neg) if pos and neg else None


def evaluate(model: Any, items: Sequence[TrainItem], label_ids: tuple[list[int], list[int]] | None,
             batch_size: int, *, hidden: tuple[Any, int] | None = None) -> tuple[float, float]:
    """(mean cross-entropy over all answer tokens, AUROC of P(yes)) on ``items``; see :func:`evaluate_all`."""
    scores = evaluate_all(model, items, label_ids, batch_size, hidden=hidden)
    return scores["val_loss"], scores["val_auroc"]


def evaluate_all(model: Any, items: Sequence[TrainItem], label_ids: tuple[list[int], list[int]] | None,
                 batch_size: int, *, hidden: tuple[Any, int] | None = None) -> dict[str, float]:
    """``val_loss`` (mean cross-entropy over all answer tokens), ``val_auroc`` (AUROC of P(yes))
    and ``val_log_loss`` (mean log-loss of P(yes), the label probability renormalised over the
    label tokens as scoring reports it, or the attached label head's probability) on ``items`` in
    eval mode. End-of-turn tokens are not counted.

    ``hidden`` = (states ``(N, L_max, D)`` aligned with ``items``, block index): run from the
    cached states entering that block (:mod:`clinpred.core.llm.trunk_cache`). The AUROC is NaN
    when a class is missing or ``label_ids`` is None, the log-loss when ``label_ids`` is None.
    Training mode is left to the caller.
    """
    import mlx.core as mx
    import mlx.nn as nn

    from clinpred.core.llm.label_head import ATTRIBUTE
    from clinpred.core.weights.mlx_compat import logits_and_states_at, logits_at

    head = model[ATTRIBUTE] if ATTRIBUTE in model else None
    model.eval()
    order = sorted(range(len(items)), key=lambda i: len(items[i].example.ids))
    ce_sum, n_tok = 0.0, 0
    p_yes = np.full(len(items), np.nan)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        b = make_batch([items[i] for i in idx], [1.0] * len(idx))
        states, start = (None, 0) if hidden is None else (
            mx.take(hidden[0], mx.array([int(i) for i in idx], dtype=mx.int32), axis=0)[:, : b["tokens"].shape[1]], hidden[1])
        if head is None:
            logits = logits_at(model, mx.array(b["tokens"]), mx.array(b["flat"]),
                               hidden=states, start=start).astype(mx.float32)
        else:
            logits, picked = logits_and_states_at(model, mx.array(b["tokens"]), mx.array(b["flat"]),
                                                  hidden=states, start=start)
            logits = logits.astype(mx.float32)
            first_rows = np.flatnonzero(b["first"] > 0.5)
            z = np.array(head(picked), dtype=np.float64)[first_rows]
            p_yes[idx] = 1.0 / (1.0 + np.exp(-z))
        ce = nn.losses.cross_entropy(logits, mx.array(b["targets"]), reduction="sum")
        logprobs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        ce_sum += ce.item()
        n_tok += len(b["targets"])
        if label_ids is not None and head is None:
            first = np.flatnonzero(b["first"] > 0.5)
            rows = np.array(logprobs, dtype=np.float64)[first]
            p_yes[idx] = p_yes_from_logprobs(rows, *label_ids)
    y = np.array([int(it.label) for it in items])
    auroc = log_loss = math.nan
    if label_ids is not None and len(y):
        p = np.clip(p_yes, 1e-12, 1 - 1e-12)
        log_loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))
        if len(set(y.tolist())) == 2:
            auroc = float(weighted_auroc(y, p_yes, np.ones((1, len(y))))[0])
    return {"val_loss": ce_sum / max(n_tok, 1), "val_auroc": auroc, "val_log_loss": log_loss}
