"""Few-shot prompts: ``k`` class-balanced worked examples from the training part before each patient.

The examples are drawn once per split (:func:`draw_shots`, seeded, from the training part only)
and are the same for every patient scored, so the shared-prefix KV cache computes them once.
Each example is the patient's own prompt (the family's ``clinpred_format_prompt``) and its true
answer word; where they go is the family's choice (``FamilySpec.few_shot``): ``"turns"`` (the
default) makes each an earlier user turn and assistant answer of the chat, ``"one-message"`` writes
them all into the final user message. The family's ``clinpred_render_chat`` renders the result
(its signature is unchanged: the :class:`~clinpred.core.values.Prompt` carries the shots), and the
core checks it as it checks training renderings: the same scoring prompt for both answers, the
tokenized prompt a token prefix of the training text, every example present in it, and the
whole prompt within the model's context length.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from clinpred.core.errors import ConfigError, RenderError
from clinpred.core.llm.rendering import tokenize_checked
from clinpred.core.llm.tokens import encode
from clinpred.core.values import Prompt, Shot

#: the header and footer of ``"one-message"`` examples
EXAMPLES_INTRO = "Here are {k} example patients with their answers."
QUERY_INTRO = "Now the patient to predict:"


def draw_shots(labels: Sequence[int] | np.ndarray, train_idx: Sequence[int] | np.ndarray, k: int, *,
               seed: int) -> np.ndarray:
    """``k`` patient indices from ``train_idx``: ``k // 2`` of each class (the odd one from a
    seeded coin), drawn without replacement and shuffled, all seeded by ``seed``."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"shots must be an integer >= 1 (got {k!r}); 4, 8, 16 or 32 are usual")
    y = np.asarray(labels)
    pool = np.asarray(train_idx, dtype=int)
    rng = np.random.default_rng([seed, k])
    wanted = {0: k // 2, 1: k // 2}
    if k % 2:
        wanted[int(rng.integers(2))] += 1
    chosen = []
    for cls in (1, 0):
        members = pool[y[pool].astype(int) == cls]
        if len(members) < wanted[cls]:
            raise ConfigError(f"shots = {k} needs {wanted[cls]} training patients with the "
                              f"{'positive' if cls else 'negative'} outcome, the training part has {len(members)}; "
                              "use fewer shots")
        chosen.append(rng.choice(members, size=wanted[cls], replace=False))
    return rng.permutation(np.concatenate(chosen))


def with_shots(prompt: Prompt, shots: Sequence[Shot], placement: str = "turns") -> Prompt:
    """``prompt`` with ``shots`` before it: as earlier turns, or inside its user text."""
    if placement == "turns":
        return Prompt(user=prompt.user, system=prompt.system, shots=tuple(shots))
    if placement != "one-message":
        raise ConfigError(f"few-shot placement {placement!r} is not 'turns' or 'one-message'")
    blocks = [EXAMPLES_INTRO.format(k=len(shots))]
    blocks += [f"Example {n}:\n{shot.user}\nAnswer: {shot.answer}" for n, shot in enumerate(shots, 1)]
    blocks += [QUERY_INTRO, prompt.user]
    return Prompt(user="\n\n".join(blocks), system=prompt.system)


def render_checked(book: Any, prompt: Prompt, shots: Sequence[Shot], model: Any = None) -> str:
    """The family's scoring prompt for ``prompt`` (shots included), checked as training
    renderings are; :class:`ConfigError` when it is longer than ``model``'s context."""
    family, task, tokenizer = book.family, book.task, book.tokenizer
    yes = book.hooks.render_chat(family, tokenizer, prompt, task.answer(True))
    no = book.hooks.render_chat(family, tokenizer, prompt, task.answer(False))
    if yes.prompt != no.prompt:
        raise RenderError(f"family {family.name!r}: render_chat gives different few-shot scoring prompts for "
                          f"the answers {task.positive!r} and {task.negative!r}")
    tokenize_checked(family.name, tokenizer, yes)
    missing = [n for n, shot in enumerate(shots, 1) if shot.user.strip() not in yes.prompt]
    if missing:
        raise RenderError(f"family {family.name!r}: the rendered few-shot prompt lacks example(s) {missing}; its "
                          "render_chat must render Prompt.shots, or the family must declare few_shot = 'one-message'")
    if model is not None:
        from clinpred.core.weights.mlx_compat import context_length

        limit, n = context_length(model), len(encode(tokenizer, yes.text))
        if limit is not None and n > limit:
            alone = book.hooks.render_chat(family, tokenizer, Prompt(user=prompt.user, system=prompt.system),
                                           task.answer(True))
            per = (n - len(encode(tokenizer, alone.text))) / max(1, len(shots))
            fit = max(0, int((limit - len(encode(tokenizer, alone.text))) // max(per, 1)))
            raise ConfigError(f"few-shot: {len(shots)} examples make a prompt of {n} tokens but the model reads at "
                              f"most {limit} (about {per:.0f} tokens per example); use at most {fit} shots")
    return yes.prompt


def few_shot_prompts(book: Any, shot_idx: Sequence[int], patients: Sequence[int], labels: Sequence[int] | np.ndarray,
                     *, model: Any = None) -> list[str]:
    """Scoring prompts of ``patients`` with the examples ``shot_idx`` (their true answers from
    ``labels``) placed as the family declares; ``book`` is the model's
    :class:`~clinpred.core.llm.llm_unit.PromptBook`. Every rendering is checked
    (:func:`render_checked`); ``model`` gives the context length to respect."""
    return shot_prompts(book, make_shots(book, shot_idx, labels), patients, model=model)


def make_shots(book: Any, shot_idx: Sequence[int], labels: Sequence[int] | np.ndarray) -> list[Shot]:
    """The examples ``shot_idx`` of ``book``'s patients with their true answers."""
    return [Shot(user=book.prompt(int(j)).user, answer=book.task.answer(bool(labels[int(j)]))) for j in shot_idx]


def shot_prompts(book: Any, shots: Sequence[Shot], patients: Sequence[int], *, model: Any = None) -> list[str]:
    """Scoring prompts of ``book``'s ``patients`` after ``shots`` (see :func:`few_shot_prompts`)."""
    placement = getattr(book.family, "few_shot", "turns")
    return [render_checked(book, with_shots(book.prompt(int(i)), shots, placement), shots, model) for i in patients]
