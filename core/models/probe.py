"""The frozen LLM as an encoder, as a model adapter (``method = "probe"``; registered by the built-in
plugin ``clinpred.plugins.llm_arms``).

A unit takes the base model's hidden state at the last prompt token of every patient (after the
final norm, or entering block ``layer``; :mod:`clinpred.core.llm.features`: forward passes only)
and fits an L2 logistic regression on the training part's states, its ``C`` chosen by
``inner_folds``-fold inner cross-validation on the training part only
(:func:`clinpred.core.llm.probe.fit_probe`; the training part as it is, never oversampled; with
``balance = "class-weight"`` class-weighted). The fitted scaler and regression are saved with
skops as ``model.skops`` (as the tabular models are), checked by sha256 when ``predict`` applies
them to the states of new patients.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from attrs import define

from clinpred.core import bounds as B
from clinpred.core.models.adapter import LoadContext, ModelAdapter
from clinpred.core.models.tabular import MODEL_FILE, load_pipeline, save_pipeline
from clinpred.core.models.work import UnitWork
from clinpred.core.models.zero_shot import BATCH_SIZE, load_logged, model_details, scoring_book
from clinpred.core.params import param


@define(frozen=True)
class ProbeParams:
    """The probe's ``[[models]]`` keys."""

    layer: int | None = param(None, kind=int, bound=B.Bound(1, 1024),
                              help="the state entering this block (unset: after the final norm, what the head reads)")
    inner_folds: int = param(5, kind=int, bound=B.CV_FOLDS,
                             help="inner CV folds on the training part that choose the L2 penalty")


@define
class FittedProbe:
    """The base model's states fed to the saved logistic regression."""

    loaded: Any
    llm: Any  # LLMSource
    pipeline: Any
    layer: int | None
    batch_size: int = BATCH_SIZE
    on_progress: Any = None

    def states(self, book: Any, patients: Any, on_progress: Any = None) -> np.ndarray:
        from clinpred.core.llm.features import last_token_features

        prompts = [book.scoring_prompt(int(i)) for i in patients]
        return last_token_features(self.loaded.model, self.loaded.tokenizer, prompts, layer=self.layer,
                                   batch_size=self.batch_size, on_progress=on_progress).states

    def p_yes(self, states: np.ndarray) -> np.ndarray:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            proba = self.pipeline.predict_proba(np.asarray(states, dtype=np.float64))
        return np.asarray(proba[:, list(self.pipeline.classes_).index(1)], dtype=float)

    def predict_proba(self, dataset: Any) -> np.ndarray:
        book = scoring_book(self.llm, self.loaded, dataset)
        return self.p_yes(self.states(book, range(len(dataset.ids)), self.on_progress))


class Probe(ModelAdapter):
    name = "probe"
    kind = "llm-probe"
    description = ("the frozen LLM as an encoder: an L2 logistic regression (C by inner CV) on its "
                   "last-prompt-token state")
    params = ProbeParams
    uses_llm = True

    def run_unit(self, work: UnitWork) -> Any:
        from clinpred.core.events import Event, phase_progress
        from clinpred.core.llm.features import check_layer
        from clinpred.core.llm.probe import fit_probe

        params: ProbeParams = work.params
        loaded = load_logged(work)
        check_layer(loaded.model, params.layer)
        book = scoring_book(work.llm, loaded, work.dataset, work.llm.records())
        train = np.asarray(work.split.train, dtype=int)
        rows = np.concatenate([train, np.asarray(work.split.val, dtype=int), np.asarray(work.split.test, dtype=int)])
        work.emit(Event("message", work.unit, f"hidden states of {rows.size} patients"))
        fitted = FittedProbe(loaded, work.llm, None, params.layer)
        states = fitted.states(book, rows, phase_progress(work.emit, work.unit, "scoring"))
        class_weight = "balanced" if work.settings.balance == "class-weight" else None
        fit = fit_probe(states[:train.size], work.labels[train], seed=work.seed, folds=params.inner_folds,
                        class_weight=class_weight, layer=params.layer)
        fitted.pipeline = fit.estimator
        n_val = len(work.split.val)
        p_val = fitted.p_yes(states[train.size:train.size + n_val])
        p_test = fitted.p_yes(states[train.size + n_val:])
        save_pipeline(fit.estimator, work.save_dir / MODEL_FILE)
        test_prompts = [book.scoring_prompt(int(i)) for i in work.split.test]
        probe = {"C": fit.c, "layer": params.layer, "features": int(states.shape[1]),
                 "inner_folds": params.inner_folds, "class_weight": class_weight}
        return work.outcome(p_val, p_test, trained_on=train, saved=[MODEL_FILE],
                            test={"prompt": test_prompts} if work.settings.store_prompts else None,
                            details={"model": model_details(loaded), "probe": probe}, fitted=fitted)

    def load(self, context: LoadContext) -> FittedProbe:
        model = context.details.get("model") or {}
        pipeline = load_pipeline(context.folder / MODEL_FILE, ("sklearn.", "numpy."))
        loaded = context.llm.load(precision=str(model.get("precision") or "auto"))
        return FittedProbe(loaded, context.llm, pipeline, context.params.layer, context.batch_size or BATCH_SIZE,
                           context.on_progress)


__all__ = ["FittedProbe", "Probe", "ProbeParams"]
