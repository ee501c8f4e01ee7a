"""The probe arm's classifier: an L2 logistic regression on the frozen model's features.

:func:`fit_probe` standardises the features (mean and scale of the training part) and chooses the
inverse regularisation strength ``C`` by stratified inner cross-validation on the training part
only (log-loss, a proper scoring rule, smoother than AUROC at these sizes); the refit on the whole
training part is the probe. The training part is used as it is, never oversampled: duplicated
patients would sit in inner training and inner validation folds at once. The fitted probe is a
value of plain arrays (:meth:`ProbeFit.to_dict` / :meth:`ProbeFit.from_dict`: JSON, no pickle).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from attrs import define, field

from clinpred.core.errors import TrainingError

#: The inverse regularisation strengths tried by default (log-spaced).
DEFAULT_CS = tuple(float(c) for c in np.logspace(-4, 2, 13))


def _array(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


@define(frozen=True, eq=False)
class ProbeFit:
    """A fitted probe: ``p = sigmoid(((x - mean) / scale) @ coef + intercept)``.

    ``c`` is the chosen inverse regularisation strength, ``cv_log_loss`` the inner-CV log-loss
    per candidate in ``cs`` (mean over folds), ``layer`` the feature layer it was fitted on.
    """

    coef: np.ndarray = field(converter=_array)
    intercept: float
    mean: np.ndarray = field(converter=_array)
    scale: np.ndarray = field(converter=_array)
    c: float
    cs: tuple[float, ...] = field(converter=tuple)
    cv_log_loss: tuple[float, ...] = field(converter=tuple)
    layer: int | None = None
    #: the same fit as a scikit-learn ``Pipeline`` (StandardScaler, LogisticRegression): what a run saves
    estimator: Any = field(default=None, repr=False)

    def __attrs_post_init__(self) -> None:
        if not (self.coef.shape == self.mean.shape == self.scale.shape and self.coef.ndim == 1):
            raise ValueError("ProbeFit: coef, mean and scale must be vectors of one length")

    def logit(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.coef):
            raise TrainingError(f"the probe was fitted on {len(self.coef)} features, got an array of shape {x.shape}")
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def p_yes(self, features: np.ndarray) -> np.ndarray:
        """P(yes) per row of ``features`` ``(N, D)``, float64 ``(N,)``."""
        return 1.0 / (1.0 + np.exp(-self.logit(features)))

    def to_dict(self) -> dict[str, Any]:
        return {"coef": self.coef.tolist(), "intercept": float(self.intercept), "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "c": self.c, "cs": list(self.cs),
                "cv_log_loss": list(self.cv_log_loss), "layer": self.layer}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ProbeFit":
        return cls(**{k: data[k] for k in ("coef", "intercept", "mean", "scale", "c", "cs", "cv_log_loss")},
                   layer=data.get("layer"))


def fit_probe(features: np.ndarray, labels: Sequence[int], *, seed: int = 0, folds: int = 5,
              cs: Sequence[float] = DEFAULT_CS, class_weight: str | None = None,
              layer: int | None = None) -> ProbeFit:
    """Fit the probe on one training part: ``features`` ``(N, D)``, ``labels`` 0/1 ``(N,)``.

    ``folds`` inner stratified folds (fewer when the rarer class has fewer patients, at least 2),
    shuffled with ``seed``; ``class_weight`` None or ``"balanced"``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels).astype(int)
    if x.ndim != 2 or len(x) != len(y):
        raise TrainingError(f"probe: features {x.shape} and labels ({len(y)},) do not match")
    rarer = int(min((y == 0).sum(), (y == 1).sum()))
    if rarer < 2:
        raise TrainingError("probe: the training part needs at least 2 patients of each class")
    if not cs:
        raise TrainingError("probe: no regularisation strengths to try")
    k = max(2, min(folds, rarer))
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)

    def fit(xs: np.ndarray, ys: np.ndarray, c: float) -> tuple[Any, np.ndarray, np.ndarray]:
        mean, scale = xs.mean(axis=0), xs.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        model = LogisticRegression(C=c, max_iter=5000, class_weight=class_weight)
        model.fit((xs - mean) / scale, ys)
        return model, mean, scale

    losses = np.zeros(len(cs))
    for train, val in splitter.split(x, y):
        for j, c in enumerate(cs):
            model, mean, scale = fit(x[train], y[train], c)
            p = model.predict_proba((x[val] - mean) / scale)[:, 1]
            losses[j] += log_loss(y[val], p, labels=[0, 1]) / k
    best = int(np.argmin(losses))
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = Pipeline([("scale", StandardScaler()),
                     ("model", LogisticRegression(C=cs[best], max_iter=5000, class_weight=class_weight))])
    pipe.fit(x, y)
    scaler, model = pipe.named_steps["scale"], pipe.named_steps["model"]
    return ProbeFit(coef=model.coef_[0], intercept=float(model.intercept_[0]), mean=scaler.mean_,
                    scale=scaler.scale_, c=float(cs[best]), cs=tuple(float(c) for c in cs),
                    cv_log_loss=tuple(float(v) for v in losses), layer=layer, estimator=pipe)
