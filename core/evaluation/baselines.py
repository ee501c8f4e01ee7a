"""Classical baselines (scikit-learn) on the same splits and features as the language models.

Each baseline is one scikit-learn ``Pipeline`` fitted on the training frame only:

- numeric columns: median imputation (+ standardisation for LASSO);
- categorical columns: most-frequent imputation, then one-hot encoding that ignores categories
  unseen in training (values are compared as strings, so 1 and "1" are the same category);
- the classifier:

  ============== ==========================================================================
  majority       ``DummyClassifier("prior")``: P(yes) = the training prevalence, for everyone
  lasso          L1 logistic regression, C chosen among 20 values (1e-3 .. 1e3) by seeded
                 stratified inner CV (up to 5 folds) maximising AUROC (``LogisticRegressionCV``)
  random_forest  300 trees, ``min_samples_leaf=3``, ``n_jobs=1`` (reproducible), seeded
  gradient_boosting  ``HistGradientBoostingClassifier``: learning rate 0.05, 200 iterations,
                 8 leaves, ``min_samples_leaf=10``, no early stopping, seeded
  ============== ==========================================================================

Fitting runs single-threaded (``threadpoolctl``). The same ``seed`` gives the same probabilities.
scikit-learn is imported inside the functions.
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence

import numpy as np

from clinpred.core.errors import ConfigError, DataError

BASELINES = ("majority", "lasso", "random_forest", "gradient_boosting")


def _check_frame(frame: Any, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what} lacks the feature column(s) {', '.join(map(repr, missing))}")


def _prepare(frame: Any, columns: Sequence[str], categorical: Sequence[str]) -> Any:
    """The feature columns in training order: categoricals as strings (missing = NaN),
    the others as floats."""
    import pandas as pd

    out = {}
    for col in columns:
        s = frame[col]
        if col in categorical:
            out[col] = s.astype(object).where(s.notna(), np.nan).map(
                lambda v: v if isinstance(v, float) and np.isnan(v) else str(v)
            )
        else:
            try:
                out[col] = pd.to_numeric(s, errors="raise").astype(float)
            except (TypeError, ValueError):
                raise DataError(
                    f"feature column {col!r} is not numeric: declare it categorical or fix its values"
                ) from None
    return pd.DataFrame(out, index=frame.index)


def _logistic_cv(seed: int, class_weight: Any, n_splits: int) -> Any:
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    params = inspect.signature(LogisticRegressionCV).parameters
    kwargs: dict[str, Any] = dict(
        Cs=np.logspace(-3, 3, 20),
        cv=StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed),
        scoring="roc_auc",
        solver="saga",
        max_iter=5000,
        tol=1e-4,
        class_weight=class_weight,
        random_state=seed,
        n_jobs=1,
    )
    if "l1_ratios" in params and "penalty" in params and params["penalty"].default == "deprecated":
        kwargs["l1_ratios"] = (1.0,)  # scikit-learn >= 1.8: L1 is l1_ratio = 1
    else:
        kwargs["penalty"] = "l1"
    if "use_legacy_attributes" in params:
        kwargs["use_legacy_attributes"] = False
    return LogisticRegressionCV(**kwargs)


def build_pipeline(
    name: str,
    columns: Sequence[str],
    categorical: Sequence[str],
    *,
    seed: int,
    class_weight: Any = None,
    n_inner_splits: int = 5,
    inner_oversample: bool = False,
) -> Any:
    """The unfitted scikit-learn ``Pipeline`` of baseline ``name`` (see the module docstring)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if name not in BASELINES:
        raise ConfigError(f"unknown baseline {name!r}: use one of {', '.join(BASELINES)}")
    numeric = [c for c in columns if c not in categorical]
    cats = [c for c in columns if c in categorical]
    num_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if name == "lasso":
        num_steps.append(("scale", StandardScaler()))
    cat_steps = [
        ("impute", SimpleImputer(strategy="most_frequent")),
        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
    ]
    transformers = []
    if numeric:
        transformers.append(("numeric", Pipeline(num_steps), numeric))
    if cats:
        transformers.append(("categorical", Pipeline(cat_steps), cats))
    prep = ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)

    if name == "majority":
        model: Any = DummyClassifier(strategy="prior")
    elif name == "lasso" and inner_oversample:
        from clinpred.core.evaluation.inner_resampling import InnerOversampledLassoCV

        model = InnerOversampledLassoCV(n_splits=n_inner_splits, seed=seed)
    elif name == "lasso":
        model = _logistic_cv(seed, class_weight, n_inner_splits)
    elif name == "random_forest":
        model = RandomForestClassifier(
            n_estimators=300,
            min_samples_leaf=3,
            max_features="sqrt",
            class_weight=class_weight,
            n_jobs=1,
            random_state=seed,
        )
    else:
        model = HistGradientBoostingClassifier(
            learning_rate=0.05,
            max_iter=200,
            max_leaf_nodes=8,
            min_samples_leaf=10,
            early_stopping=False,
            class_weight=class_weight,
            random_state=seed,
        )
    return Pipeline([("prepare", prep), ("model", model)])


def fit_predict_baseline(
    name: str,
    X_train: Any,
    y_train: Any,
    X_eval_list: Sequence[Any],
    *,
    categorical: Sequence[str],
    seed: int,
    class_weight: Any = None,
    inner_oversample: bool = False,
) -> list[np.ndarray]:
    """Fit baseline ``name`` on (``X_train``, ``y_train``) and return P(yes) for each eval frame.

    ``X_train`` and every frame of ``X_eval_list`` are pandas DataFrames; the features are the
    columns of ``X_train`` (every eval frame must have them; extra columns are ignored).
    ``categorical`` names the categorical columns, every other column must be numeric; missing
    values are allowed anywhere. ``y_train``: 0/1 or booleans, both classes present.
    ``class_weight`` (None or "balanced") is passed to LASSO, random forest and gradient
    boosting; the majority model always returns the training prevalence. ``inner_oversample``
    (LASSO only; ``X_train`` not oversampled) duplicates the minority class inside each inner CV
    training fold and for the final refit, never across inner folds
    (:mod:`clinpred.core.evaluation.inner_resampling`).

    Returns a list of float arrays (one per eval frame, in order), each of shape ``(len(frame),)``.
    The eval frames' labels are never given to this function; nothing is fitted on eval frames.
    """
    if name not in BASELINES:
        raise ConfigError(f"unknown baseline {name!r}: use one of {', '.join(BASELINES)}")
    columns = list(X_train.columns)
    unknown = [c for c in categorical if c not in columns]
    if unknown:
        raise DataError(f"categorical column(s) {', '.join(map(repr, unknown))} not among the features")
    y = np.asarray(y_train)
    if y.dtype != bool and not np.isin(y, (0, 1)).all():
        raise DataError("training labels must be 0/1 or booleans")
    y = y.astype(int)
    if y.shape != (len(X_train),):
        raise DataError(f"{len(X_train)} training rows but {y.size} training labels")
    n_pos, n_neg = int(y.sum()), int(y.size - y.sum())
    if min(n_pos, n_neg) == 0:
        raise DataError(
            f"training data has {n_pos} positive and {n_neg} negative patients: "
            "a baseline needs both classes"
        )
    if name == "lasso" and min(n_pos, n_neg) < 2:
        raise DataError("LASSO's inner cross-validation needs at least 2 patients of each class")
    for i, frame in enumerate(X_eval_list):
        _check_frame(frame, columns, f"evaluation frame {i}")

    pipe = build_pipeline(
        name, columns, list(categorical), seed=seed, class_weight=class_weight,
        n_inner_splits=min(5, n_pos, n_neg), inner_oversample=inner_oversample,
    )
    import warnings

    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    # one thread: reproducible and fast on small data (OpenMP contention costs seconds on 2 cores)
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        # constant or all-missing training columns are dropped by the imputer: not an error
        warnings.filterwarnings("ignore", message=".*Skipping features without any observed values.*")
        pipe.fit(_prepare(X_train, columns, categorical), y)
        yes = list(pipe.classes_).index(1)
        return [
            np.asarray(pipe.predict_proba(_prepare(f, columns, categorical))[:, yes], dtype=float)
            for f in X_eval_list
        ]
