"""The frozen model as an encoder: its hidden state at the last prompt token, per patient.

These are the features of the probe arm (:mod:`clinpred.core.llm.probe`; the "LLM as encoder"
approach of Hegselmann et al. 2025): forward passes only, batched by length with the shared-prefix
KV cache like :func:`~clinpred.core.llm.scoring.score_p_yes`. By default the state is the one the
output head reads (after the final norm, at the position where the answer's first token is
predicted); ``layer = k`` takes instead the residual stream entering block ``k`` (the output of
the first ``k`` blocks, before any norm). Given the answer words, the same pass also gives the
zero-shot P(yes) (the label tokens' probability renormalised over the labels), exactly as scoring
computes it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from attrs import define

from clinpred.core.errors import ConfigError
from clinpred.core.llm.scoring import (
    _TAIL_CHARS,
    MIN_PREFIX,
    Progress,
    label_id_sets,
    p_yes_from_logprobs,
    right_pad,
    shared_prefix_length,
)
from clinpred.core.llm.tokens import encode


@define(frozen=True)
class LastTokenFeatures:
    """``states`` ``(N, D)`` float32 in the order of the prompts; ``p_yes`` ``(N,)`` (zero-shot
    label probability) when answer words were given, else None; ``layer`` as asked."""

    states: np.ndarray
    p_yes: np.ndarray | None
    layer: int | None


def check_layer(model: Any, layer: int | None) -> None:
    """:class:`ConfigError` unless ``layer`` is None or a block index 1..n_blocks-1."""
    n = len(model.layers)
    if layer is not None and not (isinstance(layer, int) and 1 <= layer < n):
        raise ConfigError(f"layer = {layer!r} is not a block of this model: give 1..{n - 1} "
                          "(the state after that many blocks) or leave it unset (after the final norm)")


def last_token_features(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    layer: int | None = None,
    positive: str | None = None,
    negative: str | None = None,
    batch_size: int = 8,
    prefix_cache: bool = True,
    on_progress: Progress | None = None,
) -> LastTokenFeatures:
    """Hidden states at the last token of each scoring prompt (and, given ``positive`` and
    ``negative``, the untrained P(yes)); the model is put in eval mode."""
    import mlx.core as mx

    from clinpred.core.weights import mlx_compat

    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    check_layer(model, layer)
    model.eval()
    want_p = positive is not None and negative is not None
    encoded = [encode(tokenizer, p) for p in prompts]
    labels: list[tuple[list[int], list[int]]] = []
    ids_by_tail: dict[str, tuple[list[int], list[int]]] = {}
    if want_p:
        for prompt in prompts:
            key = prompt[-_TAIL_CHARS:]
            if key not in ids_by_tail:
                ids_by_tail[key] = label_id_sets(tokenizer, prompt, positive, negative)  # type: ignore[arg-type]
            labels.append(ids_by_tail[key])
    if not prompts:
        return LastTokenFeatures(np.zeros((0, 0), np.float32), np.zeros(0) if want_p else None, layer)
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    n_pre = shared_prefix_length(encoded) if prefix_cache and len(encoded) > 1 else 0
    prefix = mlx_compat.prefix_cache(model, list(encoded[0][:n_pre])) if n_pre >= MIN_PREFIX else None
    n_pre = n_pre if prefix is not None else 0
    split = mlx_compat.head_split(model)
    states: np.ndarray | None = None
    p_yes = np.empty(len(prompts)) if want_p else None
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        rows = [encoded[i][n_pre:] for i in idx]
        tokens = mx.array(right_pad(rows))
        last = mx.array([len(r) - 1 for r in rows], dtype=mx.int32)
        cache = None if prefix is None else mlx_compat.broadcast_prefix(prefix, len(idx))
        if layer is None:
            hidden = mlx_compat.final_states(model, tokens, cache=cache)
        else:
            hidden = mlx_compat.hidden_entering(model, tokens, layer, cache=cache)
        picked = hidden[mx.arange(len(idx)), last]  # (B, D)
        logprobs = None
        if want_p:
            if split and layer is None:
                logits = mlx_compat.head_logits(model, picked)
            else:  # the full forward (a second pass) when the head cannot be split off
                flat = mx.array([b * tokens.shape[1] + len(r) - 1 for b, r in enumerate(rows)], dtype=mx.int32)
                cache = None if prefix is None else mlx_compat.broadcast_prefix(prefix, len(idx))
                logits = mlx_compat.logits_at(model, tokens, flat, cache=cache)
            logits = logits.astype(mx.float32)
            logprobs = np.array(logits - mx.logsumexp(logits, axis=-1, keepdims=True), dtype=np.float64)
        block = np.array(picked.astype(mx.float32))
        if states is None:
            states = np.empty((len(prompts), block.shape[1]), np.float32)
        for r, i in enumerate(idx):
            states[i] = block[r]
            if logprobs is not None and p_yes is not None:
                p_yes[i] = p_yes_from_logprobs(logprobs[r:r + 1], *labels[i])[0]
        if on_progress is not None:
            on_progress(min(start + batch_size, len(order)), len(order))
    assert states is not None
    return LastTokenFeatures(states, p_yes, layer)
