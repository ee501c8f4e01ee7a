"""Chat rendering: the core's generic renderer and the prefix check every rendering must pass."""

from __future__ import annotations

from typing import Any

from attrs import define

from clinpred.core.errors import RenderError
from clinpred.core.llm.tokens import decode, encode, hf_tokenizer
from clinpred.core.values import Prompt, RenderedChat


def messages(prompt: Prompt, *, fold_system: bool = False) -> list[dict[str, str]]:
    """Chat messages for ``prompt``; with ``fold_system`` the system text leads the user turn."""
    if prompt.system and fold_system:
        return [{"role": "user", "content": f"{prompt.system}\n\n{prompt.user}"}]
    out = [{"role": "system", "content": prompt.system}] if prompt.system else []
    return out + [{"role": "user", "content": prompt.user}]


def render_with_template(
    tokenizer: Any,
    prompt: Prompt,
    answer: str,
    *,
    chat_template: str | None = None,
    fold_system: bool = False,
    **template_kwargs: Any,
) -> RenderedChat:
    """Render with the tokenizer's chat template (or ``chat_template``).

    The scoring prompt is the template with a generation prompt; the completion is whatever the
    template adds after it when the assistant turn is ``answer``.
    """
    tok = hf_tokenizer(tokenizer)
    template = chat_template or getattr(tok, "chat_template", None)
    if not template:
        raise RenderError(
            "the tokenizer has no chat template and the family plugin supplied none; "
            "set a chat template or use a family plugin that provides one"
        )
    msgs = messages(prompt, fold_system=fold_system)
    kwargs = dict(tokenize=False, chat_template=template, **template_kwargs)
    scoring = tok.apply_chat_template(msgs, add_generation_prompt=True, **kwargs)
    full = tok.apply_chat_template(msgs + [{"role": "assistant", "content": answer}], **kwargs)
    if not full.startswith(scoring):
        raise RenderError(
            "the chat template's training text does not start with its generation prompt; "
            "the family plugin must render this format itself"
        )
    completion = full[len(scoring):]
    if not completion.startswith(answer) and completion.startswith(" " + answer):
        answer = " " + answer  # the template writes one space before the answer (e.g. "[/INST] Yes")
    if not completion.startswith(answer):
        raise RenderError(
            "the chat template puts text between the generation prompt and the answer; "
            "the family plugin must prefill it in the scoring prompt"
        )
    return RenderedChat(prompt=scoring, completion=completion, answer=answer)


@define(frozen=True)
class TokenizedExample:
    """A rendered chat as tokens: ``ids[:prompt_len]`` is the scoring prompt, and the trained
    span ``ids[answer_start:answer_end]`` decodes to exactly the answer."""

    ids: tuple[int, ...]
    prompt_len: int
    answer_start: int
    answer_end: int


def tokenize_checked(family: str, tokenizer: Any, rendered: RenderedChat) -> TokenizedExample:
    """Tokenize a rendering and check the prefix property; :class:`RenderError` names the family.

    The tokenized scoring prompt must be a token prefix of the tokenized training text, and the
    tokens right after it must decode to the answer (optionally after one leading space).
    """
    prompt_ids = encode(tokenizer, rendered.prompt)
    ids = encode(tokenizer, rendered.text)
    n = len(prompt_ids)
    if ids[:n] != prompt_ids:
        at = next((i for i, (a, b) in enumerate(zip(ids, prompt_ids)) if a != b), min(n, len(ids)))
        raise RenderError(
            f"family {family!r}: the tokenized scoring prompt is not a prefix of the tokenized "
            f"training text (they differ at token {at} of {n}); its render_chat would train the "
            "wrong tokens. Fix the family plugin's render_chat."
        )
    want = rendered.answer.strip()
    for end in range(n + 1, len(ids) + 1):
        text = decode(tokenizer, ids[n:end])
        if text.strip() == want and text.lstrip(" ") == text.strip():
            return TokenizedExample(tuple(ids), n, n, end)
        if len(text.strip()) > len(want) or not want.startswith(text.strip()):
            break
    raise RenderError(
        f"family {family!r}: the answer {rendered.answer!r} does not start right after the "
        f"scoring prompt (the next tokens decode to {decode(tokenizer, ids[n:n + 3])!r}). "
        "Fix the family plugin's render_chat."
    )
