"""The LoRA fine-tune of an LLM family's model, as a model adapter (``method = "lora"``, the default
of a ``[[models]]`` entry; registered by the built-in plugin ``clinpred.plugins.llm_arms``).

A unit renders each patient through the family's hooks, fine-tunes LoRA adapters on the (balanced)
training part with the best validation checkpoint kept (:mod:`clinpred.core.llm.llm_unit`), scores
P(yes) from the answer tokens and optionally generates and parses the test answers. The adapter
(``adapters.safetensors`` + ``adapter_config.json``, loadable by ``mlx_lm.load``) is what it saves,
with ``label_head.safetensors`` beside it for LP-FT (``head = "probe"``: P(yes) is that head's);
its training checkpoint stays beside it so an interrupted unit continues from it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from attrs import define

from clinpred.core.llm.label_head import HEAD_FILE
from clinpred.core.llm.lora_params import LoraParams
from clinpred.core.models.adapter import LoadContext, ModelAdapter
from clinpred.core.models.work import UnitWork

#: the files of a trained adapter (what a run keeps and ``predict`` loads)
ADAPTER_FILES = ("adapters.safetensors", "adapter_config.json")


class LoraFineTune(ModelAdapter):
    name = "lora"
    kind = "llm"
    description = "LoRA fine-tune of an LLM (answer-token or label objective, end of turn trained), P(yes) from label tokens"
    params = LoraParams
    uses_llm = True
    resumable = True
    searchable = True
    default_method = True
    revision = 2  # 2: the end of turn is trained, the label objective and selection keys (issue 22)

    def run_unit(self, work: UnitWork) -> Any:
        from clinpred.core.llm.llm_unit import run_llm_unit

        llm = work.llm
        part = work.training_part()
        result = run_llm_unit(
            name=work.name, family=llm.family, hooks=llm.hooks, load=lambda: llm.load(precision=work.params.precision),
            dataset=work.dataset, records=llm.records(), split=work.split, train_idx=part.indices,
            sample_weights=part.weights, params=work.params, explicit=work.explicit, evaluation=work.settings,
            adapter_dir=work.save_dir, seed=work.seed, emit=work.emit, unit=work.unit, resume=work.resume)
        head = _head(work.params, work.save_dir)
        fitted = FittedLora(result.loaded, llm, work.params.score_batch_size, prefix_cache=work.params.prefix_cache,
                            head=head)
        saved = ADAPTER_FILES + ((HEAD_FILE,) if head is not None else ())
        return work.outcome(result.p_val, result.p_test, trained_on=part.indices, test=result.test,
                            details=result.details, saved=saved, fitted=fitted)

    def load(self, context: LoadContext) -> "FittedLora":
        model = context.details.get("model") or {}
        loaded = context.llm.load(precision=str(model.get("precision") or context.params.precision),
                                  adapter_path=context.folder)
        return FittedLora(loaded, context.llm, context.batch_size or context.params.score_batch_size,
                          context.on_progress, head=_head(context.params, context.folder))


def _head(params: LoraParams, folder: Any) -> Any:
    """The trained label head of an LP-FT model (``head = "probe"``, label objective), else None."""
    if not params.lpft:
        return None
    from clinpred.core.llm.label_head import load_head

    return load_head(folder)


@define
class FittedLora:
    """A fine-tuned model of a run (base model + its adapter), applied to new patients."""

    loaded: Any
    llm: Any  # LLMSource
    batch_size: int
    on_progress: Any = None
    prefix_cache: bool = True
    head: Any = None  # the label head of an LP-FT model: P(yes) is its output

    def predict_proba(self, dataset: Any) -> np.ndarray:
        from clinpred.core.llm.llm_unit import PromptBook, p_yes

        task = dataset.schema.task
        book = PromptBook(self.llm.hooks, self.llm.family, self.loaded.tokenizer, task, dataset.records())
        prompts = [book.scoring_prompt(i) for i in range(len(dataset.ids))]
        return p_yes(self.loaded.model, self.loaded.tokenizer, prompts, task, self.head, batch_size=self.batch_size,
                     on_progress=self.on_progress, prefix_cache=self.prefix_cache)


__all__ = ["ADAPTER_FILES", "FittedLora", "LoraFineTune"]
