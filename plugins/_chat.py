"""Chat rendering shared by the built-in family plugins.

A family renders with the tokenizer's own chat template when it has one, with the family's
options (system folding, template variables), and otherwise with a fallback template in the
family's documented format (base models and GGUF conversions often ship without one).
"""

from __future__ import annotations

from typing import Any

from clinpred.api import Prompt, RenderedChat, hf_tokenizer, render_with_template


def tokenizer_template(tokenizer: Any) -> str | None:
    """The tokenizer's own chat template, or None (a dict of named templates -> the default)."""
    template = getattr(hf_tokenizer(tokenizer), "chat_template", None)
    if isinstance(template, dict):
        template = template.get("default")
    return template or None


def render_family(
    tokenizer: Any,
    prompt: Prompt,
    answer: str,
    *,
    fallback: str,
    stop: tuple[str, ...],
    fold_system: bool = False,
    **template_kwargs: Any,
) -> RenderedChat:
    """Render with the tokenizer's template (or ``fallback`` when it has none) and set ``stop``."""
    template = tokenizer_template(tokenizer) or fallback
    rendered = render_with_template(
        tokenizer, prompt, answer, chat_template=template, fold_system=fold_system, **template_kwargs
    )
    return RenderedChat(rendered.prompt, rendered.completion, rendered.answer, stop=stop)


__all__ = ["tokenizer_template", "render_family"]
