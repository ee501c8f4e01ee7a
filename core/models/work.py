"""One model on one split, as an adapter sees it: :class:`UnitWork` (and :class:`LLMSource`).

The engine builds a :class:`UnitWork` for every (model, split) unit, in the driver, a pool
process or a Ray worker alike, and calls the adapter's ``run_unit(work)``. It holds the
validated dataset, the split, the adapter's typed hyperparameters, the run's evaluation settings,
the folder to save what was fitted into, the progress sink and, for adapters that use an LLM, the
base model and family hooks. :meth:`UnitWork.outcome` turns P(yes) on the validation and test
parts into the unit's :class:`~clinpred.core.evaluation.outcome.UnitOutcome`, choosing the threshold
on the validation part exactly as for every other model.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from attrs import define, field

from clinpred.core.events import EventSink, ignore
from clinpred.core.evaluation.outcome import PartScores, TestScores, UnitOutcome

#: the unit-file detail that lists the files an adapter saved and their sha256
FITTED = "fitted"


@define(frozen=True, eq=False)
class TrainingPart:
    """The rows a model trains on, balanced as the run asks (``[evaluation] balance``): oversampled
    indices, or the training part with per-example ``weights`` and ``class_weight="balanced"``."""

    indices: np.ndarray
    weights: np.ndarray | None = None
    class_weight: str | None = None


@define
class LLMSource:
    """The base LLM of a model entry and its family's hooks (for adapters with ``uses_llm``)."""

    model_id: str
    family: Any  # FamilySpec
    hooks: Any  # FamilyHooks: format_prompt, render_chat, parse_output
    catalog: Any = None  # CatalogEntry of a catalog model (the embedded default)
    records: Callable[[], list[Any]] | None = None  # the dataset's records, built once per process

    def load(self, *, precision: str = "auto", adapter_path: str | Path | None = None) -> Any:
        """The base model (catalog entry, local directory or hub id) with the precision policy."""
        from clinpred.core.weights.loading import load_base_model

        return load_base_model(self.model_id, self.catalog, precision=precision, adapter_path=adapter_path,
                               gated_mlps=getattr(self.family, "gated_mlps", ()))


@define
class UnitWork:
    """Everything one unit needs (see the module docstring)."""

    name: str  # the model's row name in the comparison
    unit: str  # "name/split", the name events and status.json use
    dataset: Any  # a validated Dataset
    split: Any  # a Split: train / val / test indices
    params: Any  # the adapter's typed hyperparameters
    seed: int
    settings: Any  # EvaluationConfig: balance, threshold rule, generation
    save_dir: Path  # where the adapter saves what it fitted (adapters/NAME[/SPLIT] of the run)
    emit: EventSink = ignore
    resume: bool = False  # continue a checkpoint found in save_dir
    llm: LLMSource | None = None
    hyperparameters: Mapping[str, Any] = field(factory=dict)  # the values as written (TOML), not defaults
    explicit: frozenset[str] = frozenset()  # keys the user set (config or command line)
    _started: float = field(factory=time.perf_counter)

    @property
    def labels(self) -> np.ndarray:
        return self.dataset.labels

    def training_part(self) -> TrainingPart:
        """The training part, balanced as the run asks, only inside the training part."""
        from clinpred.core.data.splits import class_weights, oversample_minority

        train = np.asarray(self.split.train, dtype=int)
        if self.settings.balance == "oversample":
            return TrainingPart(np.asarray(oversample_minority(train, self.labels, self.seed), dtype=int))
        if self.settings.balance == "class-weight":
            weights = class_weights(self.labels[train])
            return TrainingPart(train, np.asarray([weights[int(self.labels[i])] for i in train], dtype=float),
                                "balanced")
        return TrainingPart(train)

    def features(self, indices: Sequence[int] | np.ndarray) -> Any:
        """The feature columns (pandas) of ``indices``, re-indexed from 0."""
        return self.dataset.feature_frame().iloc[np.asarray(indices, dtype=int)].reset_index(drop=True)

    def categorical(self) -> list[str]:
        """The categorical and binary feature columns (compared as text)."""
        return [f.name for f in self.dataset.schema.features if f.kind in ("categorical", "binary")]

    def outcome(self, p_val: Any, p_test: Any, *, trained_on: Sequence[int] | np.ndarray,
                test: Mapping[str, Any] | None = None, details: Mapping[str, Any] | None = None,
                saved: Sequence[str] = (), fitted: Any = None) -> UnitOutcome:
        """The unit's outcome: the threshold is chosen on the validation part by the run's rule
        (falling back to the prevalence of ``trained_on`` when the validation part cannot rank);
        ``test`` adds the test part's LLM columns (``prompt``, ``raw_output``, ``parsed``,
        ``parse_status``); ``saved`` names the files in ``save_dir`` that make up the fitted model
        (their sha256 is recorded and checked when ``predict`` loads them). ``fitted`` is the fitted
        model in memory (a :class:`~clinpred.core.models.adapter.FittedModel`: ``predict_proba(dataset)``,
        as ``load`` returns it): with it, what the model relied on is measured the same way for every
        model (:meth:`relied_on`) and recorded under ``importance``."""
        from clinpred.core.evaluation.thresholds import select_threshold

        ev = self.settings
        val_idx, test_idx = np.asarray(self.split.val, dtype=int), np.asarray(self.split.test, dtype=int)
        p_val = np.asarray(p_val, dtype=float)
        choice = select_threshold(self.labels[val_idx], p_val, ev.threshold, ev.fixed_threshold,
                                  fallback=float(self.labels[np.asarray(trained_on, dtype=int)].mean()))
        extra = dict(details or {})
        if fitted is not None:
            extra["importance"] = self.relied_on(fitted, p_val)
        if saved:
            extra[FITTED] = {"files": file_digests(self.save_dir, saved)}
        return UnitOutcome(threshold=choice.value, threshold_reason=choice.reason,
                           val=PartScores(val_idx, p_val), test=TestScores(test_idx, p_test, **dict(test or {})),
                           seconds=time.perf_counter() - self._started, details=extra)


    def importance_repeats(self) -> int:
        """Permutations per feature: ``llm_importance_repeats`` for a model that uses an LLM (each
        is a scoring pass of the validation part per feature), else ``importance_repeats``."""
        key = "llm_importance_repeats" if self.llm is not None else "importance_repeats"
        return int(getattr(self.settings, key, 0))

    def relied_on(self, fitted: Any, p_val: Any) -> dict[str, Any]:
        """Permutation importance on the validation part (:mod:`clinpred.core.evaluation.importance`):
        each feature's values permuted across its patients, P(yes) asked again from ``fitted``."""
        from clinpred.core.data.dataset_rows import dataset_rows
        from clinpred.core.evaluation.importance import permutation_importance
        from clinpred.core.events import Event

        val = np.asarray(self.split.val, dtype=int)
        frame = self.dataset.feature_frame(val)
        features = list(frame.columns)
        repeats = self.importance_repeats()

        def predict(permuted: Any) -> np.ndarray:
            if self.llm is not None:
                self.emit(Event("message", self.unit, f"importance: scoring {len(permuted)} prompts ({repeats} "
                                                      f"permutation(s) x {len(features)} features x {val.size} patients)"))
            rows = np.resize(val, len(permuted))  # the stacked copies keep each patient's id and label
            return np.asarray(fitted.predict_proba(dataset_rows(self.dataset, rows, permuted)), dtype=float)

        started = time.perf_counter()
        result = permutation_importance(predict, frame, self.labels[val], p_val, features=features,
                                        repeats=repeats, seed=self.seed)
        result["seconds"] = round(time.perf_counter() - started, 3)
        return result


def file_digests(folder: Path, names: Sequence[str]) -> dict[str, str]:
    """sha256 of each named file in ``folder`` (the record ``predict`` checks before loading)."""
    return {name: sha256_file(folder / name) for name in names}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


__all__ = ["FITTED", "LLMSource", "TrainingPart", "UnitWork", "file_digests", "sha256_file"]
