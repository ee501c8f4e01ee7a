"""The LLM arms as a built-in model plugin: how a ``[[models]]`` entry's base LLM is turned into a
classifier (``method``; the default ``lora`` fine-tunes LoRA adapters, see
:mod:`clinpred.core.models.lora`). Each family's prompts, chat template and parsing come from its
family plugin; the arm decides what is trained and how P(yes) is read.
"""

from __future__ import annotations

from clinpred.api import LoraFineTune, hookimpl


@hookimpl
def clinpred_register_models(register):
    register(LoraFineTune())
