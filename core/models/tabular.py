"""A scikit-learn classifier on the feature columns, as a model adapter: :class:`TabularModel`.

Subclasses give the classifier (:meth:`TabularModel.estimator`); everything around it is the same
for every tabular model, so they differ only where they should:

- the training part balanced as the run asks (``[evaluation] balance``), only inside it;
- one ``Pipeline`` fitted on the training frame only: numeric columns median-imputed (and
  standardised when ``scale_numeric``), categorical columns most-frequent-imputed and one-hot
  encoded, ignoring categories unseen in training (values compared as text, so 1 and "1" agree),
  and with ``[evaluation] missing_indicators`` (the default) a 0/1 column per feature with missing
  values in the training part, so the model sees what an LLM reads as "not recorded";
- single-threaded fitting (reproducible; OpenMP contention costs seconds on 2 cores);
- the fitted pipeline saved with skops (scikit-learn's secure format, never a pickle) as
  ``model.skops``; ``predict`` loads it only with the types its adapter trusts.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
from attrs import define

from clinpred.core.errors import DataError, RunError
from clinpred.core.models.adapter import LoadContext, ModelAdapter
from clinpred.core.models.work import TrainingPart, UnitWork

MODEL_FILE = "model.skops"


@define(frozen=True)
class FitInfo:
    """What an estimator may depend on besides its hyperparameters."""

    seed: int
    class_weight: str | None  # "balanced" when the run balances by class weights
    balance: str  # the run's [evaluation] balance
    n_pos: int  # events in the training rows
    n_neg: int


class TabularModel(ModelAdapter):
    """Base class of scikit-learn-style baselines (see the module docstring)."""

    kind = "baseline"
    #: standardise numeric columns (penalised linear models)
    scale_numeric: ClassVar[bool] = False
    #: fewest patients of each class the estimator needs in its training rows
    min_per_class: ClassVar[int] = 1
    #: module prefixes of the types its saved pipeline may hold (checked by skops on load)
    trusted_modules: ClassVar[tuple[str, ...]] = ("sklearn.", "numpy.")

    def estimator(self, params: Any, fit: FitInfo) -> Any:
        """The unfitted classifier (``predict_proba``; classes 0/1)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement estimator()")

    def training_rows(self, work: UnitWork) -> TrainingPart:
        """The rows it trains on (default: the run's balanced training part)."""
        return work.training_part()

    def fitted_details(self, pipe: Any) -> dict[str, Any]:
        """What the unit file should record about the fitted pipeline under ``estimator`` (e.g.
        ``penalty``: the penalty chosen, in words). A model with ``coef_`` also gets its odds ratios
        (``coefficients``, :func:`~clinpred.core.models.linear_terms.linear_terms`) without asking."""
        return {}

    # -- the unit ----------------------------------------------------------------------------
    def run_unit(self, work: UnitWork) -> Any:
        part = self.training_rows(work)
        pipe = self.fit(work.features(part.indices), work.labels[part.indices], work.categorical(), work.params,
                        seed=work.seed, class_weight=part.class_weight, balance=work.settings.balance,
                        missing_indicators=bool(getattr(work.settings, "missing_indicators", False)))
        p_val, p_test = (predict_yes(pipe, work.features(rows), work.categorical())
                         for rows in (work.split.val, work.split.test))
        save_pipeline(pipe, work.save_dir / MODEL_FILE)
        details = dict(self.fitted_details(pipe))
        from clinpred.core.models.linear_terms import linear_terms

        terms = linear_terms(pipe, work.dataset.schema.features)  # a linear model: its odds ratios
        if terms is not None:
            details["coefficients"] = terms
        return work.outcome(p_val, p_test, trained_on=part.indices, saved=[MODEL_FILE],
                            details={"estimator": details} if details else None, fitted=FittedPipeline(pipe))

    def fit(self, X: Any, y: Any, categorical: Sequence[str], params: Any = None, *, seed: int = 0,
            class_weight: str | None = None, balance: str = "none", missing_indicators: bool = False) -> Any:
        """The fitted pipeline on (``X``, ``y``): a pandas frame of feature columns (the categorical
        ones named) and 0/1 labels with both classes; nothing is fitted on anything else.
        ``missing_indicators`` adds a 0/1 column per feature with missing values in ``X``."""
        columns = list(X.columns)
        unknown = [c for c in categorical if c not in columns]
        if unknown:
            raise DataError(f"categorical column(s) {', '.join(map(repr, unknown))} not among the features")
        y = np.asarray(y)
        if y.dtype != bool and not np.isin(y, (0, 1)).all():
            raise DataError("training labels must be 0/1 or booleans")
        y = y.astype(int)
        if y.shape != (len(X),):
            raise DataError(f"{len(X)} training rows but {y.size} training labels")
        n_pos, n_neg = int(y.sum()), int(y.size - y.sum())
        if min(n_pos, n_neg) == 0:
            raise DataError(f"training data has {n_pos} positive and {n_neg} negative patients: "
                            f"{self.name} needs both classes")
        if min(n_pos, n_neg) < self.min_per_class:
            raise DataError(f"{self.name} needs at least {self.min_per_class} patients of each class "
                            f"to train (found {n_pos} positive, {n_neg} negative)")
        params = self.params() if params is None else params
        model = self.estimator(params, FitInfo(seed, class_weight, balance, n_pos, n_neg))
        pipe = _pipeline(columns, list(categorical), model, self.scale_numeric, missing_indicators)
        from threadpoolctl import threadpool_limits  # a scikit-learn dependency

        with warnings.catch_warnings(), threadpool_limits(limits=1):
            # constant or all-missing training columns are dropped by the imputer: not an error
            warnings.filterwarnings("ignore", message=".*Skipping features without any observed values.*")
            pipe.fit(prepare_frame(X, columns, categorical), y)
        pipe.clinpred_categorical_ = list(categorical)
        return pipe

    def fit_predict(self, X_train: Any, y_train: Any, X_eval: Sequence[Any], categorical: Sequence[str],
                    params: Any = None, *, seed: int = 0, class_weight: str | None = None,
                    balance: str = "none", missing_indicators: bool = False) -> list[np.ndarray]:
        """Fit on (``X_train``, ``y_train``) and return P(yes) for each frame of ``X_eval``."""
        pipe = self.fit(X_train, y_train, categorical, params, seed=seed, class_weight=class_weight, balance=balance,
                        missing_indicators=missing_indicators)
        for i, frame in enumerate(X_eval):
            missing = [c for c in X_train.columns if c not in frame.columns]
            if missing:
                raise DataError(f"evaluation frame {i} lacks the feature column(s) {', '.join(map(repr, missing))}")
        return [predict_yes(pipe, frame, categorical) for frame in X_eval]

    # -- predict -----------------------------------------------------------------------------
    def load(self, context: LoadContext) -> "FittedPipeline":
        return FittedPipeline(load_pipeline(context.folder / MODEL_FILE, self.trusted_modules))


@define
class FittedPipeline:
    """A saved tabular model, applied to new patients."""

    pipeline: Any

    def predict_proba(self, dataset: Any) -> np.ndarray:
        return predict_yes(self.pipeline, dataset.feature_frame(), self.pipeline.clinpred_categorical_)


def prepare_frame(frame: Any, columns: Sequence[str], categorical: Sequence[str]) -> Any:
    """The feature columns in training order: categoricals as text (missing = NaN), the others as floats."""
    import pandas as pd

    out = {}
    for col in columns:
        s = frame[col]
        if col in categorical:
            out[col] = s.astype(object).where(s.notna(), np.nan).map(
                lambda v: v if isinstance(v, float) and np.isnan(v) else str(v))
        else:
            try:
                out[col] = pd.to_numeric(s, errors="raise").astype(float)
            except (TypeError, ValueError):
                raise DataError(f"feature column {col!r} is not numeric: declare it categorical or fix its values") from None
    return pd.DataFrame(out, index=frame.index)


def predict_yes(pipe: Any, frame: Any, categorical: Sequence[str]) -> np.ndarray:
    """P(yes) of each row of ``frame`` (the pipeline's training columns, in their order)."""
    from threadpoolctl import threadpool_limits

    columns = list(pipe.feature_names_in_)
    with threadpool_limits(limits=1):
        proba = pipe.predict_proba(prepare_frame(frame, columns, categorical))
    return np.asarray(proba[:, list(pipe.classes_).index(1)], dtype=float)


def _pipeline(columns: list[str], categorical: list[str], model: Any, scale: bool, indicators: bool = False) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in columns if c not in categorical]
    cats = [c for c in columns if c in categorical]
    num_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if scale:
        num_steps.append(("scale", StandardScaler()))
    cat_steps = [("impute", SimpleImputer(strategy="most_frequent")),
                 ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]
    transformers = []
    if numeric:
        transformers.append(("numeric", Pipeline(num_steps), numeric))
    if cats:
        transformers.append(("categorical", Pipeline(cat_steps), cats))
    if indicators:  # only features with missing values in training get a column; none: no column
        transformers.append(("missing", MissingIndicator(features="missing-only", error_on_new=False), list(columns)))
    prep = ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)
    return Pipeline([("prepare", prep), ("model", model)])


def save_pipeline(pipe: Any, path: Path) -> None:
    """Write a fitted pipeline with skops (atomically; deflated: a 300-tree forest is 10 MB raw, 1.3 MB so)."""
    import zipfile

    import skops.io as sio

    from clinpred.core.atomic import write_bytes

    write_bytes(path, sio.dumps(pipe, compression=zipfile.ZIP_DEFLATED, compresslevel=6))


def load_pipeline(path: Path, trusted_modules: Sequence[str]) -> Any:
    """A pipeline saved by :func:`save_pipeline`; a file holding a type outside ``trusted_modules``
    (or not a skops file) is refused in one line."""
    import skops.io as sio

    try:
        data = path.read_bytes()
        untrusted = sio.get_untrusted_types(data=data)
    except FileNotFoundError:
        raise RunError(f"{path}: the saved model is missing; rerun the model with `clinpred run ... --resume`") from None
    except Exception as exc:  # noqa: BLE001 - skops raises many kinds for a damaged file
        raise RunError(f"{path}: not a readable skops file ({type(exc).__name__}); rerun the model") from None
    refused = [t for t in untrusted if not t.startswith(tuple(trusted_modules))]
    if refused:
        raise RunError(f"{path}: holds types its model adapter does not trust ({', '.join(refused[:3])}); "
                       "it was not written by this model: rerun the model")
    return sio.loads(data, trusted=untrusted)


__all__ = ["FitInfo", "FittedPipeline", "MODEL_FILE", "TabularModel", "load_pipeline", "predict_yes",
           "prepare_frame", "save_pipeline"]
