"""In-context learning, as a model adapter (``method = "few-shot"``; registered by the built-in plugin
``clinpred.plugins.llm_arms``).

A unit draws ``shots`` class-balanced examples from the split's training part only (seeded;
:func:`clinpred.core.llm.few_shot.draw_shots`), puts them before every validation and test
patient's prompt as the family declares (earlier chat turns or one user message), and scores
P(yes) from the label tokens of the untrained model; a prompt longer than the model's context is
one clear error line. It saves ``shots.json``: the examples' patient ids and labels only (no
patient values); ``predict`` rebuilds their prompts from the run's own data file (its sha256
checked, :attr:`~clinpred.core.models.adapter.LoadContext.run_dataset`) and applies them to new
patients.
"""

from __future__ import annotations

import json
from typing import Any

from attrs import define

from clinpred.core.bounds import Bound
from clinpred.core.errors import RunDirectoryError
from clinpred.core.models.adapter import LoadContext, ModelAdapter
from clinpred.core.models.work import UnitWork
from clinpred.core.models.zero_shot import (BATCH_SIZE, FittedScoring, load_logged, model_details, score_parts,
                                            scoring_book)
from clinpred.core.params import param

SHOTS_FILE = "shots.json"


@define(frozen=True)
class FewShotParams:
    """The few-shot arm's ``[[models]]`` keys."""

    shots: int = param(8, kind=int, bound=Bound(1, 64),
                       help="examples before each patient, half of each outcome (limited by the context length)")


@define
class ShotPrompts:
    """``prompts(book, n)`` for :class:`FittedScoring`: every patient after the same examples."""

    shots: list[Any]  # Shot
    model: Any = None  # the context length to respect

    def __call__(self, book: Any, n: int) -> list[str]:
        from clinpred.core.llm.few_shot import shot_prompts

        return shot_prompts(book, self.shots, range(n), model=self.model)


class FewShot(ModelAdapter):
    name = "few-shot"
    kind = "llm-few-shot"
    description = "the untrained LLM with k class-balanced training examples in its prompt (in-context learning)"
    params = FewShotParams
    uses_llm = True

    def run_unit(self, work: UnitWork) -> Any:
        from clinpred.core.llm.few_shot import draw_shots, make_shots, shot_prompts

        rows = draw_shots(work.labels, work.split.train, work.params.shots, seed=work.seed)
        loaded = load_logged(work)
        book = scoring_book(work.llm, loaded, work.dataset, work.llm.records())
        shots = make_shots(book, rows, work.labels)
        val, test = (shot_prompts(book, shots, part, model=loaded.model) for part in (work.split.val, work.split.test))
        fitted = FittedScoring(loaded, work.llm, prompts=ShotPrompts(shots, loaded.model))
        p_val, p_test = score_parts(work, fitted, val, test)
        record = {"shots": [{"id": work.dataset.ids[int(j)], "label": int(work.labels[int(j)])} for j in rows]}
        from clinpred.core.atomic import write_bytes

        write_bytes(work.save_dir / SHOTS_FILE, json.dumps(record, indent=1).encode())
        return work.outcome(p_val, p_test, trained_on=work.split.train, saved=[SHOTS_FILE],
                            test={"prompt": test} if work.settings.store_prompts else None,
                            details={"model": model_details(loaded), "few_shot": {"shots": len(rows)}}, fitted=fitted)

    def load(self, context: LoadContext) -> FittedScoring:
        from clinpred.core.llm.few_shot import make_shots

        saved = json.loads((context.folder / SHOTS_FILE).read_text(encoding="utf-8"))["shots"]
        if context.run_dataset is None:
            raise RunDirectoryError("few-shot: the run's data are needed to rebuild its examples")
        data = context.run_dataset()
        position = {str(i): k for k, i in enumerate(data.ids)}
        missing = [s["id"] for s in saved if str(s["id"]) not in position]
        rows = [position[str(s["id"])] for s in saved if str(s["id"]) in position]
        if missing or any(int(data.labels[r]) != int(s["label"]) for r, s in zip(rows, saved)):
            raise RunDirectoryError(f"{context.folder / SHOTS_FILE}: its examples are not rows of the run's data "
                                    "(the data file changed?); rerun the model")
        model = context.details.get("model") or {}
        loaded = context.llm.load(precision=str(model.get("precision") or "auto"))
        shots = make_shots(scoring_book(context.llm, loaded, data), rows, data.labels)
        return FittedScoring(loaded, context.llm, context.batch_size or BATCH_SIZE, context.on_progress,
                             prompts=ShotPrompts(shots, loaded.model))


__all__ = ["FewShot", "FewShotParams", "SHOTS_FILE", "ShotPrompts"]
