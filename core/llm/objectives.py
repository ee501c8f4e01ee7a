"""Training objectives: the loss of one batch's target tokens (mlx arrays, summed).

``answer-token``: cross-entropy over the whole vocabulary on every target token (the answer,
and the end-of-turn tokens at their weight). ``label``: at the scoring position (the first
answer token) a binary cross-entropy on ``z = logsumexp(logits[positive ids]) -
logsumexp(logits[negative ids])`` — the two-choice case of TabLLM's choice loss, a classification
head made of the LM head's label rows, whose probability ``sigmoid(z)`` is exactly the renormalised
P(yes) that scoring reports — plus ``mass`` times ``-log p(an answer token)`` under the
full-vocabulary softmax (the answer tokens as the renderings write them, ``answer_ids``; all label
variants when not given), and optionally ``unlikelihood`` times TabLLM's unlikelihood term
``-log(1 - p(wrong label tokens))``; the other target tokens (later answer tokens, end of turn)
keep the cross-entropy.

Why the mass term: the choice loss alone ranks the labels against each other but lets their
share of the vocabulary fall, and with the end of turn trained the stop token then wins at the
answer position (greedy generation answers nothing). Since ``-log p(correct label) = choice +
mass``, ``mass = 1`` is the answer-token loss (over the label variants) and ``mass = 0`` the pure
choice loss; TabLLM's answer-token loss plus choice loss is ``mass = 0.5`` (halved), the default.
"""

from __future__ import annotations

from typing import Any, Sequence

from clinpred.core.llm.training_config import OBJECTIVES


def label_margin(logits: Any, pos_ids: Any, neg_ids: Any) -> tuple[Any, Any, Any]:
    """(z, log-sum-exp over the positive ids, over the negative ids) per row of ``logits``."""
    import mlx.core as mx

    lp = mx.logsumexp(mx.take(logits, pos_ids, axis=1), axis=-1)
    ln = mx.logsumexp(mx.take(logits, neg_ids, axis=1), axis=-1)
    return lp - ln, lp, ln


def batch_loss(logits: Any, batch: dict[str, Any], *, objective: str,
               label_ids: tuple[Sequence[int], Sequence[int]] | None = None,
               mass: float = 0.5, unlikelihood: float = 0.0,
               answer_ids: Sequence[int] | None = None, margin: Any = None) -> Any:
    """The weighted loss summed over the targets of ``batch`` (mlx arrays ``targets``,
    ``weights``, ``first``, ``label`` of :func:`~clinpred.core.llm.batches.make_batch`);
    ``logits`` ``(T, V)`` at the target positions; ``margin`` ``(T,)``, when given, replaces the
    label tokens' margin (a label head's logit, :mod:`clinpred.core.llm.label_head`)."""
    import mlx.core as mx
    import mlx.nn as nn

    logits = logits.astype(mx.float32)
    per = nn.losses.cross_entropy(logits, batch["targets"], reduction="none")
    if objective == "label":
        if label_ids is None:
            raise ValueError("the label objective needs the label token ids")
        pos, neg = (mx.array(list(ids), dtype=mx.int32) for ids in label_ids)
        z, lp, ln = label_margin(logits, pos, neg)
        if margin is not None:  # a separate label head (LP-FT) gives the margin
            z = margin
        sign = 2.0 * batch["label"] - 1.0
        choice = mx.logaddexp(mx.zeros_like(z), -sign * z)  # -log sigmoid(sign * z)
        total = mx.logsumexp(logits, axis=-1)
        if mass > 0:
            if answer_ids is None:
                share = mx.logaddexp(lp, ln)
            else:
                share = mx.logsumexp(mx.take(logits, mx.array(list(answer_ids), dtype=mx.int32), axis=1), axis=-1)
            choice = choice + mass * (total - share)  # -log p(an answer token)
        if unlikelihood > 0:
            wrong = mx.where(batch["label"] > 0.5, ln, lp) - total  # log p(wrong label tokens)
            wrong = mx.minimum(wrong, -1e-6)
            choice = choice - unlikelihood * mx.log1p(-mx.exp(wrong))
        per = mx.where(batch["first"] > 0.5, choice, per)
    elif objective != "answer-token":
        raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    return (per * batch["weights"]).sum()
