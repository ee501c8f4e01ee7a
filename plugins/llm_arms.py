"""The LLM arms as a built-in model plugin: how a ``[[models]]`` entry's base LLM is turned into a
classifier (``method``): ``lora`` (the default) fine-tunes LoRA adapters
(:mod:`clinpred.core.models.lora`), ``probe`` fits a logistic regression on the frozen model's
last-prompt-token state (:mod:`clinpred.core.models.probe`), ``zero-shot`` reads the untrained
model's label tokens (:mod:`clinpred.core.models.zero_shot`) and ``few-shot`` puts k training
examples in its prompt (:mod:`clinpred.core.models.few_shot`). Each family's prompts, chat
template and parsing come from its family plugin; the arm decides what is trained and how P(yes)
is read.
"""

from __future__ import annotations

from clinpred.api import FewShot, LoraFineTune, Probe, ZeroShot, hookimpl


@hookimpl
def clinpred_register_models(register):
    for adapter in (LoraFineTune(), Probe(), ZeroShot(), FewShot()):
        register(adapter)
