"""Chat rendering: the core's generic renderer and the prefix check every rendering must pass."""

from __future__ import annotations

from typing import Any

from attrs import define

from clinpred.core.errors import RenderError
from clinpred.core.llm.tokens import decode, encode, hf_tokenizer
from clinpred.core.values import Prompt, RenderedChat


def messages(prompt: Prompt, *, fold_system: bool = False) -> list[dict[str, str]]:
    """Chat messages for ``prompt``: the system text, each few-shot example as a user turn and
    an assistant turn, then the user text. With ``fold_system`` the system text leads the first
    user turn instead of being a turn of its own."""
    turns: list[dict[str, str]] = []
    for shot in prompt.shots:
        turns += [{"role": "user", "content": shot.user}, {"role": "assistant", "content": shot.answer}]
    turns.append({"role": "user", "content": prompt.user})
    if prompt.system and fold_system:
        turns[0] = {"role": "user", "content": f"{prompt.system}\n\n{turns[0]['content']}"}
        return turns
    return ([{"role": "system", "content": prompt.system}] if prompt.system else []) + turns


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
    """A rendered chat as tokens: ``ids[:prompt_len]`` is the scoring prompt, the answer span
    ``ids[answer_start:answer_end]`` decodes to exactly the answer, and
    ``ids[answer_end:turn_end]`` are the end-of-turn tokens after it (through the first stop
    string of the rendering; empty when the completion ends with the answer). Training teaches
    both spans, so greedy generation stops after the answer."""

    ids: tuple[int, ...]
    prompt_len: int
    answer_start: int
    answer_end: int
    turn_end: int | None = None  # None: no end-of-turn span (== answer_end)

    @property
    def trained_end(self) -> int:
        """End of the end-of-turn span (``answer_end`` when there is none)."""
        return self.answer_end if self.turn_end is None else self.turn_end


def end_of_turn_text(rendered: RenderedChat, eos: str | None = None) -> str:
    """The completion's text after the answer that ends the turn: through the first of the
    rendering's stop strings (or, when it lists none, the tokenizer's ``eos``) found there;
    otherwise all of it, trailing whitespace dropped."""
    rest = rendered.completion[len(rendered.answer):]
    markers = [s for s in (rendered.stop or ((eos,) if eos else ())) if s and s in rest]
    if markers:
        cut = min(rest.index(s) + len(s) for s in markers)
        return rest[:cut]
    return rest.rstrip()


def _turn_end(tokenizer: Any, ids: list[int], answer_end: int, tail: str) -> int:
    """First ``k`` such that ``ids[answer_end:k]`` decodes to text starting with ``tail``."""
    if not tail:
        return answer_end
    for k in range(answer_end + 1, len(ids) + 1):
        if decode(tokenizer, ids[answer_end:k]).startswith(tail):
            return k
    return len(ids)  # a decoding that never shows the marker exactly: train the rest of the text


def tokenize_checked(family: str, tokenizer: Any, rendered: RenderedChat) -> TokenizedExample:
    """Tokenize a rendering and check the prefix property; :class:`RenderError` names the family.

    The tokenized scoring prompt must be a token prefix of the tokenized training text, and the
    tokens right after it must decode to the answer (optionally after one leading space). The
    end-of-turn span after the answer is :func:`end_of_turn_text`'s tokens.
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
            eos = getattr(hf_tokenizer(tokenizer), "eos_token", None)
            turn = _turn_end(tokenizer, ids, end, end_of_turn_text(rendered, eos if isinstance(eos, str) else None))
            return TokenizedExample(tuple(ids), n, n, end, turn)
        if len(text.strip()) > len(want) or not want.startswith(text.strip()):
            break
    raise RenderError(
        f"family {family!r}: the answer {rendered.answer!r} does not start right after the "
        f"scoring prompt (the next tokens decode to {decode(tokenizer, ids[n:n + 3])!r}). "
        "Fix the family plugin's render_chat."
    )
