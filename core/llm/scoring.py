"""Label-probability scoring (P(yes) from the label tokens at the answer position) and greedy
generation.

Shapes: ``score_p_yes`` returns a float64 array ``(len(prompts),)`` in the order of ``prompts``;
``generate_texts`` returns one string per prompt. A prompt is the exact scoring prompt of a
rendering (``RenderedChat.prompt``): the text after which the answer's first token comes.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from clinpred.core.errors import RenderError
from clinpred.core.llm.tokens import decode, encode, hf_tokenizer

#: tokenizing prompt + word only depends on the end of the prompt; cache label ids by this tail
_TAIL_CHARS = 256
#: shortest shared token prefix worth a KV cache
MIN_PREFIX = 8

Progress = Callable[[int, int], None]  # (done, total)


def label_variants(word: str) -> list[str]:
    """``word`` and its case variants (as given, lower, upper, capitalized), each also with a
    leading space, without duplicates; the word as given comes first."""
    cased = [word, word.lower(), word.upper(), word[:1].upper() + word[1:].lower()]
    out: list[str] = []
    for v in cased + [" " + c for c in cased]:
        if v not in out:
            out.append(v)
    return out


def label_token_ids(tokenizer: Any, rendered_prompt: str, words: Sequence[str]) -> list[int]:
    """Token ids that start the label ``words`` right after ``rendered_prompt``.

    For each word and variant (:func:`label_variants`) the tokenization of prompt + variant is
    diffed against the prompt's: the first token after the prompt is the label token. The word
    as given (with or without a leading space) counts by its first token even when it spans
    several tokens; the other case variants count only when they are a single token (a first
    piece like ``"Y"`` is not evidence for ``"YES"``). Variants that change the prompt's own
    tokens (a merge across the boundary) or start with a whitespace-only token are skipped.
    """
    prompt_ids = encode(tokenizer, rendered_prompt)
    n = len(prompt_ids)
    ids: list[int] = []
    for word in words:
        exact = {word, " " + word.lstrip(" ")}
        for variant in label_variants(word):
            full = encode(tokenizer, rendered_prompt + variant)
            if len(full) <= n or full[:n] != prompt_ids:
                continue
            new = full[n:]
            if not decode(tokenizer, new[:1]).strip():
                continue
            if variant not in exact and len(new) != 1:
                continue
            if new[0] not in ids:
                ids.append(new[0])
    if not ids:
        raise RenderError(
            f"no token starts the label {list(words)!r} right after the scoring prompt (the "
            "label merges with the prompt's last token); the family's render_chat must end the "
            "prompt where the answer starts"
        )
    return ids


def label_id_sets(tokenizer: Any, prompt: str, positive: str, negative: str) -> tuple[list[int], list[int]]:
    """(positive ids, negative ids) for one prompt; :class:`RenderError` if they overlap."""
    pos = label_token_ids(tokenizer, prompt, [positive])
    neg = label_token_ids(tokenizer, prompt, [negative])
    shared = set(pos) & set(neg)
    if shared:
        pieces = [decode(tokenizer, [t]) for t in sorted(shared)]
        raise RenderError(
            f"the labels {positive!r} and {negative!r} start with the same token(s) {pieces!r}; "
            "choose answer words whose first tokens differ"
        )
    return pos, neg


def p_yes_from_logprobs(logprobs: np.ndarray, pos_ids: Sequence[int], neg_ids: Sequence[int]) -> np.ndarray:
    """P(yes) per row of vocabulary log-probabilities ``(N, V)``: the positive ids' probability
    mass over the positive + negative mass (computed in log space)."""
    lp = np.logaddexp.reduce(logprobs[:, list(pos_ids)], axis=1)
    ln = np.logaddexp.reduce(logprobs[:, list(neg_ids)], axis=1)
    return 1.0 / (1.0 + np.exp(ln - lp))


def right_pad(rows: Sequence[Sequence[int]], pad_id: int = 0) -> np.ndarray:
    """``(B, max_len)`` int32 array, rows left-aligned and padded on the right."""
    out = np.full((len(rows), max(len(r) for r in rows)), pad_id, dtype=np.int32)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def shared_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix common to all ``rows``, leaving at least one token per row."""
    if not rows:
        return 0
    first, n = rows[0], min(len(r) for r in rows) - 1
    for r in rows[1:]:
        k = 0
        while k < n and r[k] == first[k]:
            k += 1
        n = k
    return max(n, 0)


def last_position_logprobs(model: Any, batch_ids: Sequence[Sequence[int]], *,
                           prefix: list[Any] | None = None) -> np.ndarray:
    """Vocabulary log-probabilities ``(B, V)`` (float64) at each row's last real token.

    Rows are right-padded; the model call has no attention mask, but a causal model's hidden
    state at a real position never sees the padding after it. Only those B positions go through
    the output head and the softmax. With ``prefix`` (batch-1 KV caches of a token prefix,
    :func:`clinpred.core.weights.mlx_compat.prefix_cache`) the rows are the tokens after that prefix.
    """
    import mlx.core as mx

    from clinpred.core.weights.mlx_compat import broadcast_prefix, logits_at

    tokens = right_pad(batch_ids)
    length = tokens.shape[1]
    flat = np.array([i * length + len(r) - 1 for i, r in enumerate(batch_ids)], dtype=np.int32)
    cache = None if prefix is None else broadcast_prefix(prefix, len(batch_ids))
    logits = logits_at(model, mx.array(tokens), mx.array(flat), cache=cache).astype(mx.float32)
    logprobs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return np.array(logprobs, dtype=np.float64)


def score_p_yes(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    positive: str,
    negative: str,
    *,
    batch_size: int = 8,
    on_progress: Progress | None = None,
    prefix_cache: bool = True,
) -> np.ndarray:
    """P(``positive``) vs ``negative`` at the answer position of each prompt, float64 ``(n,)``.

    Label ids come from :func:`label_id_sets` (variants summed). Prompts are batched by length
    (right padding, results returned in the order of ``prompts``); the model is put in eval mode.
    With ``prefix_cache`` the token prefix shared by all prompts (system text, the start of the
    user turn) is run once and its key/value cache continued by every batch, where the model's
    caches allow it (plain KV caches; not sliding-window ones).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if not prompts:
        return np.zeros(0)
    model.eval()
    cache: dict[str, tuple[list[int], list[int]]] = {}
    encoded, labels = [], []
    for prompt in prompts:
        key = prompt[-_TAIL_CHARS:]
        if key not in cache:
            cache[key] = label_id_sets(tokenizer, prompt, positive, negative)
        labels.append(cache[key])
        encoded.append(encode(tokenizer, prompt))
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    n_pre = shared_prefix_length(encoded) if prefix_cache and len(encoded) > 1 else 0
    prefix = None
    if n_pre >= MIN_PREFIX:
        from clinpred.core.weights.mlx_compat import prefix_cache as make_prefix

        prefix = make_prefix(model, list(encoded[0][:n_pre]))
    n_pre = n_pre if prefix is not None else 0
    out = np.empty(len(prompts))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        logprobs = last_position_logprobs(model, [encoded[i][n_pre:] for i in idx], prefix=prefix)
        for row, i in enumerate(idx):
            out[i] = p_yes_from_logprobs(logprobs[row : row + 1], *labels[i])[0]
        if on_progress is not None:
            on_progress(min(start + batch_size, len(order)), len(order))
    return out


class _StopTokens:
    """The two things ``batch_generate`` asks of a tokenizer: its stop ids and ``decode``."""

    def __init__(self, tokenizer: Any, eos_token_ids: set[int]) -> None:
        self._tokenizer = tokenizer
        self.eos_token_ids = sorted(eos_token_ids)

    def decode(self, ids: list[int]) -> str:
        return decode(self._tokenizer, ids)


def _eos_ids(tokenizer: Any) -> set[int]:
    ids = set(getattr(tokenizer, "eos_token_ids", None) or ())
    eos = getattr(hf_tokenizer(tokenizer), "eos_token_id", None)
    if eos is not None:
        ids.add(eos)
    return ids


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to the first occurrence of any stop string."""
    cut = min((text.find(s) for s in stop if s and s in text), default=len(text))
    return text[:cut]


def generate_texts(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_tokens: int = 16,
    stop: tuple[str, ...] = (),
    batch_size: int = 8,
    on_progress: Progress | None = None,
) -> list[str]:
    """Greedy continuations of ``prompts`` (mlx-lm's ``batch_generate``), cut at ``stop``.

    Generation ends at the tokenizer's EOS tokens and at stop strings that are single tokens;
    the text keeps special tokens until the cut, so a stop marker never leaks into the result.
    """
    from mlx_lm.generate import batch_generate

    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    hf = hf_tokenizer(tokenizer)
    stop_tokens = _eos_ids(tokenizer)
    for s in stop:
        ids = hf.encode(s, add_special_tokens=False)
        if len(ids) == 1:
            stop_tokens.add(ids[0])
    model.eval()
    texts: list[str] = []
    for start in range(0, len(prompts), batch_size):
        chunk = [encode(tokenizer, p) for p in prompts[start : start + batch_size]]
        response = batch_generate(
            model, _StopTokens(tokenizer, stop_tokens), chunk, max_tokens=max_tokens,
            return_token_ids=True, completion_batch_size=batch_size, prefill_batch_size=batch_size,
        )
        texts.extend(cut_at_stop(decode(tokenizer, ids), stop) for ids in response.token_ids)
        if on_progress is not None:
            on_progress(len(texts), len(prompts))
    return texts
