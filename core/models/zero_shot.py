"""The untrained LLM as a classifier, as a model adapter (``method = "zero-shot"``; registered by the
built-in plugin ``clinpred.plugins.llm_arms``).

A unit scores P(yes) of the validation and test parts from the base model's label tokens,
renormalised over the labels (the family's prompt, nothing trained, nothing saved); the threshold
comes from the validation part like every model's (:meth:`~clinpred.core.models.work.UnitWork.outcome`).
``predict`` loads the base model again. :func:`scoring_book` and :class:`FittedScoring` are shared
with the few-shot and probe arms.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from attrs import define

from clinpred.core.events import Event, phase_progress
from clinpred.core.models.adapter import LoadContext, ModelAdapter
from clinpred.core.models.work import FITTED, UnitWork
from clinpred.core.params import NoParams

#: patients per forward pass of the arms without hyperparameters for it
BATCH_SIZE = 8


def scoring_book(llm: Any, loaded: Any, dataset: Any, records: list[Any] | None = None) -> Any:
    """The model's :class:`~clinpred.core.llm.llm_unit.PromptBook` over ``dataset``'s patients."""
    from clinpred.core.llm.llm_unit import PromptBook

    return PromptBook(llm.hooks, llm.family, loaded.tokenizer, dataset.schema.task,
                      records if records is not None else dataset.records())


def load_logged(work: UnitWork, precision: str = "auto") -> Any:
    """The base model of ``work`` (a ``model-load`` event first)."""
    work.emit(Event("model-load", work.unit, f"loading {work.name}"))
    return work.llm.load(precision=precision)


def model_details(loaded: Any) -> dict[str, Any]:
    """The unit file's ``model`` record (what ``predict`` reloads), as the LoRA arm writes it."""
    from clinpred.core.weights.model_source import model_revision

    return {"source": str(loaded.source), "requested": str(loaded.source), "path": str(loaded.path),
            "precision": loaded.precision, "dtype": loaded.dtype, **model_revision(loaded.path)}


@define
class FittedScoring:
    """An LLM read as a classifier: P(yes) of each patient's (optionally rewritten) scoring prompt.
    ``prompts(book, n)`` gives the prompts of a dataset's ``n`` patients (default: the family's own)."""

    loaded: Any
    llm: Any  # LLMSource
    batch_size: int = BATCH_SIZE
    on_progress: Any = None
    prompts: Callable[[Any, int], Sequence[str]] | None = None

    def predict_proba(self, dataset: Any) -> np.ndarray:
        from clinpred.core.llm.scoring import score_p_yes

        task = dataset.schema.task
        book = scoring_book(self.llm, self.loaded, dataset)
        n = len(dataset.ids)
        prompts = self.prompts(book, n) if self.prompts else [book.scoring_prompt(i) for i in range(n)]
        return score_p_yes(self.loaded.model, self.loaded.tokenizer, list(prompts), task.positive, task.negative,
                           batch_size=self.batch_size, on_progress=self.on_progress)


def score_parts(work: UnitWork, fitted: FittedScoring, val_prompts: Sequence[str],
                test_prompts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """P(yes) of the validation and test prompts, reported as the ``scoring`` phase."""
    from clinpred.core.llm.scoring import score_p_yes

    task, loaded = work.dataset.schema.task, fitted.loaded
    total = len(val_prompts) + len(test_prompts)
    work.emit(Event("message", work.unit, f"scoring {total} patients"))
    out = []
    for offset, prompts in ((0, val_prompts), (len(val_prompts), test_prompts)):
        out.append(score_p_yes(loaded.model, loaded.tokenizer, list(prompts), task.positive, task.negative,
                               batch_size=fitted.batch_size,
                               on_progress=phase_progress(work.emit, work.unit, "scoring", offset=offset, total=total)))
    return out[0], out[1]


class ZeroShot(ModelAdapter):
    name = "zero-shot"
    kind = "llm-zero-shot"
    description = "the untrained LLM: P(yes) from the label tokens renormalised over the labels (nothing trained)"
    params = NoParams
    uses_llm = True

    def run_unit(self, work: UnitWork) -> Any:
        loaded = load_logged(work)
        book = scoring_book(work.llm, loaded, work.dataset, work.llm.records())
        val, test = ([book.scoring_prompt(int(i)) for i in part] for part in (work.split.val, work.split.test))
        fitted = FittedScoring(loaded, work.llm)
        p_val, p_test = score_parts(work, fitted, val, test)
        # nothing is saved: an empty record of saved files tells `predict` so (it reloads the base model)
        return work.outcome(p_val, p_test, trained_on=work.split.train,
                            test={"prompt": test} if work.settings.store_prompts else None,
                            details={"model": model_details(loaded), FITTED: {"files": {}}}, fitted=fitted)

    def load(self, context: LoadContext) -> FittedScoring:
        model = context.details.get("model") or {}
        loaded = context.llm.load(precision=str(model.get("precision") or "auto"))
        return FittedScoring(loaded, context.llm, context.batch_size or BATCH_SIZE, context.on_progress)


__all__ = ["FittedScoring", "ZeroShot", "load_logged", "model_details", "score_parts", "scoring_book"]
