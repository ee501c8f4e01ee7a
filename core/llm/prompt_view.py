"""What ``clinpred prompt`` shows: the exact scoring prompt, the training text with the trained
spans (the answer and the end of turn after it), and the label token ids — how a plugin author
checks a family end to end."""

from __future__ import annotations

from typing import Any

from clinpred.core.llm.llm_unit import FamilyHooks, PromptBook
from clinpred.core.llm.tokens import decode
from clinpred.core.values import FamilySpec, Record, TaskSpec


def prompt_view(hooks: FamilyHooks, family: FamilySpec, tokenizer: Any, task: TaskSpec,
                record: Record, label: bool) -> dict[str, Any]:
    """Everything about one record's rendering for ``family`` with ``tokenizer``.

    Raises the core's :class:`RenderError` when the rendering breaks the prefix property, so the
    command fails exactly where training would.
    """
    from clinpred.core.llm.scoring import label_id_sets

    book = PromptBook(hooks, family, tokenizer, task, [record])
    prompt = book.prompt(0)
    rendered = book.rendered(0, label)
    example = book.example(0, label)
    scoring_prompt = book.scoring_prompt(0)
    pos, neg = label_id_sets(tokenizer, scoring_prompt, task.positive, task.negative)
    ids = list(example.ids)
    return {
        "family": family.name,
        "system": prompt.system,
        "user": prompt.user,
        "scoring_prompt": scoring_prompt,
        "training_text": rendered.text,
        "answer": rendered.answer,
        "completion": rendered.completion,
        "stop": list(rendered.stop),
        "trained_span": {
            "start": example.answer_start,
            "end": example.answer_end,
            "ids": ids[example.answer_start:example.answer_end],
            "text": decode(tokenizer, ids[example.answer_start:example.answer_end]),
        },
        "end_of_turn_span": {
            "start": example.answer_end,
            "end": example.trained_end,
            "ids": ids[example.answer_end:example.trained_end],
            "text": decode(tokenizer, ids[example.answer_end:example.trained_end]),
        },
        "n_prompt_tokens": example.prompt_len,
        "n_training_tokens": len(ids),
        "label_token_ids": {
            task.positive: [{"id": i, "text": decode(tokenizer, [i])} for i in pos],
            task.negative: [{"id": i, "text": decode(tokenizer, [i])} for i in neg],
        },
    }
