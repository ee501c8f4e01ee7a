"""A family's prompt format as text, without its tokenizer (``clinpred prompt --family F`` offline).

The family plugin renders with a stand-in tokenizer that has no chat template of its own, so the
plugin's fallback template (its documented format) is used; special tokens a template takes from
the tokenizer (``bos_token``, ``eos_token``) are shown as ``<BOS>`` / ``<EOS>``. Token-level
checks (prefix property, trained span, label token ids) need the real tokenizer and are not made.
"""

from __future__ import annotations

from typing import Any

from clinpred.core.llm.llm_unit import FamilyHooks
from clinpred.core.values import FamilySpec, Record, TaskSpec

NOTE = (
    "text only: rendered from the family's template without its tokenizer; the prefix check, the "
    "trained span and the label token ids need the tokenizer (pull the model, or give --model)"
)


class TemplateOnlyTokenizer:
    """Just enough of a Hugging Face tokenizer to apply a chat template as text."""

    chat_template: str | None = None
    bos_token = "<BOS>"
    eos_token = "<EOS>"

    def apply_chat_template(self, conversation: list[dict[str, str]], *, chat_template: str | None = None,
                            tokenize: bool = False, add_generation_prompt: bool = False, **kwargs: Any) -> str:
        from transformers.utils.chat_template_utils import render_jinja_template

        template = chat_template or self.chat_template
        if not template:
            from clinpred.core.errors import RenderError

            raise RenderError("the family plugin supplied no chat template to render without a tokenizer")
        kwargs.setdefault("bos_token", self.bos_token)
        kwargs.setdefault("eos_token", self.eos_token)
        rendered, _ = render_jinja_template(
            conversations=[conversation], chat_template=template, add_generation_prompt=add_generation_prompt,
            **kwargs,
        )
        return rendered[0]

    def encode(self, text: str, **_kwargs: Any) -> list[int]:
        from clinpred.core.errors import RenderError

        raise RenderError("a template-only preview has no tokens")


def template_preview(hooks: FamilyHooks, family: FamilySpec, task: TaskSpec, record: Record,
                     label: bool) -> dict[str, Any]:
    """The scoring prompt and training text of one record as the family formats them."""
    prompt = hooks.format_prompt(family, record, task)
    rendered = hooks.render_chat(family, TemplateOnlyTokenizer(), prompt, task.answer(label))
    return {
        "family": family.name,
        "text_only": True,
        "note": NOTE,
        "system": prompt.system,
        "user": prompt.user,
        "scoring_prompt": rendered.prompt,
        "training_text": rendered.text,
        "answer": rendered.answer,
        "completion": rendered.completion,
        "stop": list(rendered.stop),
    }


__all__ = ["NOTE", "TemplateOnlyTokenizer", "template_preview"]
