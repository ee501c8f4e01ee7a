"""Hook specifications: the contract between the engine and its plugins.

Project name ``"clinpred"``. Two collecting hooks register what a plugin provides: model families
(``clinpred_register_families``: how an LLM family formats, renders and parses) and model adapters
(``clinpred_register_models``: every model a comparison can hold, baselines and LLM arms alike). A family's three operation hooks (``format_prompt``,
``render_chat``, ``parse_output``) are called only on the plugin that registered the family, the
core's generic implementations (``trylast``) and any cross-cutting plugin that is not a family
plugin (see :mod:`clinpred.registry`). So a family plugin implements them plainly, with no
"is this my family?" guard.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

from clinpred.core.values import FamilySpec, ParsedOutput, Prompt, Record, RenderedChat, TaskSpec

PROJECT = "clinpred"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def clinpred_register_families(register: Callable[[FamilySpec], None]) -> None:
    """Declare the model families this plugin provides (collected from every plugin).

    Call ``register(FamilySpec(...))`` once per family. Returns nothing. A family name or alias
    that another plugin already registered is refused, naming both plugins.
    """


@hookspec
def clinpred_register_models(register: Callable[[Any], None]) -> None:
    """Declare the model adapters this plugin provides (collected from every plugin).

    Call ``register(adapter)`` once per adapter: an instance of
    :class:`~clinpred.core.models.adapter.ModelAdapter` (``clinpred.api.ModelAdapter``, or
    ``TabularModel`` for a scikit-learn-style classifier). Returns nothing. A name another plugin
    already registered is refused, naming both plugins.
    """


@hookspec(firstresult=True)
def clinpred_format_prompt(family: FamilySpec, record: Record, task: TaskSpec) -> Prompt | None:
    """Prompt templating: turn one patient record into a system + user text.

    Receives the family, the record (features already rendered by the data layer, never the
    target) and the task (question, answer words, serialization style). Returns a
    :class:`Prompt`, or None to let the next implementation (ultimately the core's default
    serializer) answer. firstresult.
    """


@hookspec(firstresult=True)
def clinpred_render_chat(
    family: FamilySpec, tokenizer: Any, prompt: Prompt, answer: str
) -> RenderedChat | None:
    """Chat-template handling: the exact scoring prompt and completion for ``answer``.

    ``tokenizer`` is a Hugging Face tokenizer (or mlx-lm's wrapper of one), which may lack a
    chat template. Returns a :class:`RenderedChat` whose ``prompt + completion`` is the exact
    training text and whose ``completion`` starts with ``answer``; or None to defer (the core's
    default uses the tokenizer's own chat template). firstresult. The core then checks that the
    tokenized prompt is a token prefix of the tokenized training text.
    """


@hookspec(firstresult=True)
def clinpred_parse_output(family: FamilySpec, text: str, task: TaskSpec) -> ParsedOutput | None:
    """Output parsing: raw generated text -> label (or None) and a :class:`ParseStatus`.

    Receives the raw text exactly as generated (it may hold ``<think>`` blocks, markdown, a
    refusal or nothing). Returns a :class:`ParsedOutput`, or None to defer to the core's robust
    Yes/No parser. firstresult.
    """


#: The operation hooks that are routed to the family's own plugin.
FAMILY_HOOKS = ("clinpred_format_prompt", "clinpred_render_chat", "clinpred_parse_output")
#: Every hook, for documentation and the meta-test.
ALL_HOOKS = ("clinpred_register_families", "clinpred_register_models", *FAMILY_HOOKS)

__all__ = ["PROJECT", "hookspec", "hookimpl", "FAMILY_HOOKS", "ALL_HOOKS"]
