"""The core's generic hook implementations, registered ``trylast`` so any plugin comes first.

A family whose plugin implements nothing still works: the default serializer, the tokenizer's
own chat template and the robust Yes/No parser.
"""

from __future__ import annotations

from typing import Any

from clinpred.core.hookspecs import hookimpl
from clinpred.core.llm.parsing import parse_answer
from clinpred.core.llm.rendering import render_with_template
from clinpred.core.data.serialize import serialize
from clinpred.core.values import FamilySpec, ParsedOutput, Prompt, Record, RenderedChat, TaskSpec

#: The name under which the registry registers this module.
PLUGIN_NAME = "clinpred.core.defaults"


@hookimpl(trylast=True)
def clinpred_format_prompt(family: FamilySpec, record: Record, task: TaskSpec) -> Prompt:
    """Default prompt templating: the core serializer (style and missing policy from the task)."""
    return serialize(record, task)


@hookimpl(trylast=True)
def clinpred_render_chat(family: FamilySpec, tokenizer: Any, prompt: Prompt, answer: str) -> RenderedChat:
    """Default chat handling: the tokenizer's own chat template."""
    return render_with_template(tokenizer, prompt, answer)


@hookimpl(trylast=True)
def clinpred_parse_output(family: FamilySpec, text: str, task: TaskSpec) -> ParsedOutput:
    """Default output parsing: the robust Yes/No parser."""
    return parse_answer(text, task)
