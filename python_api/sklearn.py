"""``clinpred.sklearn.LLMClassifier``: the LoRA fine-tune of an LLM as a scikit-learn estimator.

Conventions follow scikit-learn (and skorch's ``ZeroShotClassifier``, TabPFN's
``TabPFNClassifier``): every setting is a keyword of ``__init__`` and nothing else (so ``clone``,
``GridSearchCV``, ``cross_val_score`` and ``CalibratedClassifierCV`` work), ``fit(X, y)`` takes a
pandas DataFrame of feature columns and returns the estimator, and ``predict_proba`` gives P(yes)
from the answer tokens' probabilities, renormalised over the two answer words::

    from clinpred.sklearn import LLMClassifier
    from sklearn.model_selection import cross_val_score

    clf = LLMClassifier(question="Will this patient need manual removal of the placenta?", num_iters=100)
    cross_val_score(clf, X, y, cv=5, scoring="roc_auc")

Each patient row is rendered through the model family's plugin exactly as in ``clinpred run``
(numeric columns as numbers, other columns as categories; ``schema`` gives display names, units and
value labels). The LoRA hyperparameters are the keys of a ``[[models]]`` entry (``num_iters``,
``learning_rate``, ``lora_rank``, ...; None: the family's default). A fitted estimator holds its
model in memory (it is not picklable); ``clinpred run`` is the way to keep fitted models.
"""

from __future__ import annotations

import inspect
import io
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from clinpred.core.llm.lora_params import LoraParams
from clinpred.core.params import declared
from clinpred.core.tomlfile import did_you_mean

#: the LoRA hyperparameters, keywords of the estimator (None: the model family's default)
HYPERPARAMETERS = tuple(declared(LoraParams))
_ID, _TARGET = "__clinpred_row__", "__clinpred_outcome__"
DEFAULT_QUESTION = "Will this patient have the outcome?"


class LLMClassifier(ClassifierMixin, BaseEstimator):
    """A LoRA fine-tuned LLM as a binary classifier (see the module docstring).

    ``model``: a catalog name (default: the embedded SmolLM2-135M-Instruct), a hub id or a local
    MLX model directory; ``family``: its family (inferred from the id when None). ``question``,
    ``positive``, ``negative``: the task as the prompt asks it. ``schema``: a dataset schema TOML (or
    a ``DatasetSchema``) whose features describe the columns. ``validation_fraction``: a stratified
    share of the training rows kept for choosing the best checkpoint (0: train on all, keep the
    last). ``class_weight``: None or ``"balanced"``. ``random_state``: seeds the split and training.
    """

    def __init__(self, model: str = "smollm2-135m-instruct", family: str | None = None, *,
                 question: str = DEFAULT_QUESTION, positive: str = "Yes", negative: str = "No", schema: Any = None,
                 validation_fraction: float = 0.1, class_weight: str | None = None, random_state: int = 0,
                 plugins: tuple[str, ...] = (), **hyperparameters: Any) -> None:
        self.model = model
        self.family = family
        self.question = question
        self.positive = positive
        self.negative = negative
        self.schema = schema
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.random_state = random_state
        self.plugins = plugins
        for key in HYPERPARAMETERS:
            setattr(self, key, hyperparameters.pop(key, None))
        if hyperparameters:
            key = next(iter(hyperparameters))
            raise TypeError(f"LLMClassifier got an unexpected keyword {key!r}{did_you_mean(key, HYPERPARAMETERS)}")

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> "LLMClassifier":
        """Fine-tune on (``X``, ``y``): a DataFrame of feature columns and two classes of labels."""
        from sklearn.model_selection import train_test_split

        from clinpred.core.events import ignore
        from clinpred.core.llm.llm_unit import PromptBook, fit_layers
        from clinpred.core.llm.training import TrainItem, train_lora
        from clinpred.core.models.work import LLMSource

        frame = _frame(X)
        y = np.asarray(y)
        classes = np.unique(y)
        if classes.size != 2 or y.shape != (len(frame),):
            raise ValueError(f"LLMClassifier is a binary classifier: y must hold two classes for the {len(frame)} rows "
                             f"(got {classes.size} classes, {y.size} labels)")
        labels = (y == classes[1]).astype(int)
        registry, plan = self._plan()
        schema = self._schema_for(frame)
        dataset = _dataset(frame, labels, schema, min_per_class=1)
        rows = np.arange(len(frame))
        train, val = rows, rows[:0]
        if self.validation_fraction and np.bincount(labels, minlength=2).min() >= 2:
            train, val = train_test_split(rows, test_size=self.validation_fraction, stratify=labels,
                                          random_state=self.random_state)
        loaded = LLMSource(plan.model_id, plan.family, registry, catalog=plan.catalog).load(
            precision=plan.params.precision)
        book = PromptBook(registry, plan.family, loaded.tokenizer, schema.task, dataset.records())
        params = fit_layers(plan.params, plan.explicit, len(loaded.model.layers), ignore, "fit")
        items = lambda idx: [TrainItem(book.example(int(i), bool(labels[i])), int(labels[i])) for i in idx]  # noqa: E731
        cfg = params.train_config(seed=int(self.random_state), class_weight=self.class_weight or "none")
        with tempfile.TemporaryDirectory(prefix="clinpred-fit-") as tmp:
            result = train_lora(loaded.model, loaded.tokenizer, items(train), items(val), cfg, Path(tmp),
                                positive=schema.task.positive, negative=schema.task.negative)
        self.classes_ = classes
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]
        self.family_ = plan.family.name
        self.schema_ = schema
        self.params_ = params
        self.model_ = loaded
        self.training_ = {k: v for k, v in result.as_dict().items() if k != "adapter_dir"}
        return self

    def _plan(self) -> tuple[Any, Any]:
        from clinpred.core.run.config import parse_config
        from clinpred.core.run.plan import select_models
        from clinpred.registry.registry import load_registry

        registry = load_registry(tuple(self.plugins))
        given = {k: getattr(self, k) for k in HYPERPARAMETERS if getattr(self, k) is not None}
        config = parse_config({}, source="LLMClassifier", models=registry)
        plan = select_models(config, registry, models=[self.model], family_names=[self.family] if self.family else [],
                             overrides=given)[0]
        if plan.unavailable:
            from clinpred.core.errors import FamilyUnavailableError

            raise FamilyUnavailableError(plan.unavailable)
        return registry, plan

    def _schema_for(self, frame: Any) -> Any:
        """The given schema's features (in ``frame``'s column order), or one built from the dtypes."""
        import pandas as pd

        from clinpred.core.data.schema import DatasetSchema, FeatureSpec, schema_from_file
        from clinpred.core.values import TaskSpec

        task = TaskSpec(question=self.question, positive=self.positive, negative=self.negative)
        given = self.schema
        if isinstance(given, (str, Path)):
            given = schema_from_file(given)
        if given is not None:
            specs = {f.name: f for f in given.features}
            missing = [c for c in frame.columns if c not in specs]
            if missing:
                raise ValueError(f"the schema describes no column {missing[0]!r}; give every column of X a feature")
            features = [specs[c] for c in frame.columns]
        else:
            features = [FeatureSpec(name=str(c), kind="numeric" if pd.api.types.is_numeric_dtype(frame[c])
                                    and not pd.api.types.is_bool_dtype(frame[c]) else "categorical")
                        for c in frame.columns]
        return DatasetSchema(path="<memory>", id_column=_ID, target_column=_TARGET, positive_values=(1,),
                             negative_values=(0,), features=features, task=task)

    # -- predicting ----------------------------------------------------------------------------
    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n, 2)``: P(``classes_[0]``), P(``classes_[1]``) from the answer words' probabilities."""
        from sklearn.utils.validation import check_is_fitted

        from clinpred.core.llm.llm_unit import PromptBook
        from clinpred.core.llm.scoring import score_p_yes
        from clinpred.registry.registry import load_registry

        check_is_fitted(self, "model_")
        frame = _frame(X)
        missing = [c for c in self.feature_names_in_ if c not in frame.columns]
        if missing:
            raise ValueError(f"X lacks the column(s) {', '.join(map(repr, missing))} the classifier was fitted on")
        frame = frame[list(self.feature_names_in_)]
        dataset = _dataset(frame, np.ones(len(frame), dtype=int), self.schema_, min_per_class=0)
        registry = load_registry(tuple(self.plugins))
        task = self.schema_.task
        book = PromptBook(registry, registry.family(self.family_), self.model_.tokenizer, task, dataset.records())
        prompts = [book.scoring_prompt(i) for i in range(len(frame))]
        p = score_p_yes(self.model_.model, self.model_.tokenizer, prompts, task.positive, task.negative,
                        batch_size=self.params_.score_batch_size, prefix_cache=self.params_.prefix_cache)
        return np.column_stack([1.0 - p, p])

    def decision_function(self, X: Any) -> np.ndarray:
        """The log-odds of ``classes_[1]``."""
        p = np.clip(self.predict_proba(X)[:, 1], 1e-12, 1 - 1e-12)
        return np.log(p / (1 - p))

    def predict(self, X: Any) -> np.ndarray:
        """``classes_[1]`` where its probability is at least 0.5 (threshold it yourself for another cut)."""
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]


def _signature() -> inspect.Signature:
    """``__init__``'s signature with every hyperparameter as an explicit keyword (scikit-learn's
    ``get_params`` reads it; ``**kwargs`` would be invisible to ``clone``)."""
    base = inspect.signature(LLMClassifier.__init__)
    params = [p for p in base.parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
    params += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=None) for k in HYPERPARAMETERS]
    return base.replace(parameters=params)


LLMClassifier.__init__.__signature__ = _signature()  # type: ignore[attr-defined]


def _frame(X: Any) -> Any:
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        return X.reset_index(drop=True)
    array = np.asarray(X)
    if array.ndim != 2:
        raise ValueError(f"X must be a DataFrame or a 2-D array, got {array.ndim} dimension(s)")
    return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])


def _dataset(frame: Any, labels: np.ndarray, schema: Any, *, min_per_class: int) -> Any:
    """The rows as a validated dataset (through the same data layer as a run's file, in memory)."""
    from clinpred.core.data.dataset import load_bytes

    table = frame.copy()
    table.insert(0, _ID, [f"row{i}" for i in range(len(frame))])
    table[_TARGET] = labels
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    return load_bytes(buffer.getvalue().encode("utf-8"), schema, name="X", min_per_class=min_per_class)


__all__ = ["HYPERPARAMETERS", "LLMClassifier"]
