"""Statistical warnings: where a statistician would stop and look before trusting the table.

Each check returns ``{"code", "subject", "message"}`` entries; the message is one line that
says what is wrong and what to do. They go to ``metrics.json["warnings"]``, are printed under
the comparison table and shown in the report. Never a patient row in a message: column names,
counts and metrics only.

- ``small-test-part``: a hold-out test part with fewer than 100 events or 50 patients (Collins,
  Ogundimu & Altman, Stat Med 2016; Riley et al., BMJ 2024 (validation sample size): at least
  100 events for a validation study);
- ``low-events-per-predictor``: fewer than 10 events (of the rarer class) per candidate
  predictor parameter in a training part (Peduzzi et al., J Clin Epidemiol 1996); in an
  internal-external validation the site column is not counted (it names the held-out site,
  whose level no training part has seen);
- ``possible-outcome-leak``: features that alone give AUROC >= 0.95 on training data (one line
  listing them all);
- ``missingness-predicts-outcome``: the pattern of missing values alone gives AUROC >= 0.6 on
  training data (the LLM reads "not recorded"; the baselines see it only with missingness indicators);
- ``auroc-below-chance``: a model whose whole AUROC CI lies below 0.5;
- ``collapsed-answers``: an LLM whose parsed generated answers are >= 95% one class (the rule of
  ``clinpred diagnose``: :data:`COLLAPSE_SHARE`; the advice depends on how its training was
  balanced and how long it trained);
- ``under-one-epoch``: a fine-tune whose steps covered less than one epoch of its training part;
- ``unmatched-value-labels``: ``value_labels`` keys that match no value of their column.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

#: thresholds of the checks (named so the README and tests cite the same numbers)
MIN_TEST_EVENTS = 100
MIN_TEST_PATIENTS = 50
MIN_EVENTS_PER_PREDICTOR = 10.0
LEAK_AUROC = 0.95
#: share of one predicted class at or above which answers count as collapsed (also ``clinpred diagnose``)
COLLAPSE_SHARE = 0.95


def majority_share(labels: Sequence[int]) -> float:
    """The share of the more frequent of the two classes among 0/1 labels (0.0 when empty)."""
    if not labels:
        return 0.0
    positive = sum(labels) / len(labels)
    return max(positive, 1.0 - positive)


MISSINGNESS_AUROC = 0.6


def _entry(code: str, subject: str, message: str) -> dict[str, str]:
    return {"code": code, "subject": subject, "message": message}


def candidate_parameters(dataset: Any, exclude: Sequence[str] = ()) -> int:
    """Candidate predictor parameters: 1 per numeric or binary feature, levels - 1 per categorical
    (features named in ``exclude`` left out)."""
    total = 0
    for spec in dataset.schema.features:
        if spec.name in exclude:
            continue
        if spec.kind == "categorical":
            total += max(1, int(dataset.frame[spec.name].dropna().nunique()) - 1)
        else:
            total += 1
    return total


def small_test_part(dataset: Any, splits: Sequence[Any], protocol: str) -> list[dict[str, str]]:
    if protocol != "holdout":
        return []
    out = []
    for split in splits:
        test = np.asarray(split.test, dtype=int)
        events = int(dataset.labels[test].sum())
        minority = min(events, test.size - events)
        if minority < MIN_TEST_EVENTS or test.size < MIN_TEST_PATIENTS:
            out.append(_entry(
                "small-test-part", split.name,
                f"the test part has {test.size} patients and {minority} events of the rarer class (a validation "
                f"needs >= {MIN_TEST_EVENTS} events and >= {MIN_TEST_PATIENTS} patients): its estimates are very "
                "imprecise; use --cv 5 --repeats 2"))
    return out


def low_events_per_predictor(dataset: Any, splits: Sequence[Any], protocol: str = "holdout") -> list[dict[str, str]]:
    site = getattr(dataset.schema, "site_column", None)
    params = candidate_parameters(dataset, exclude=(site,) if protocol == "internal-external" and site else ())
    worst = None
    for split in splits:
        train = np.asarray(split.train, dtype=int)
        events = int(dataset.labels[train].sum())
        minority = min(events, train.size - events)
        if worst is None or minority < worst:
            worst = minority
    if worst is None or params == 0 or worst / params >= MIN_EVENTS_PER_PREDICTOR:
        return []
    return [_entry(
        "low-events-per-predictor", "training",
        f"{worst / params:.1f} events per candidate predictor in training ({worst} events of the rarer class, "
        f"{params} predictor parameters; < {MIN_EVENTS_PER_PREDICTOR:g}): models may overfit; use fewer "
        "features, a penalised model (lasso), or more data (see the sample-size statement)")]


def feature_auroc(values: Any, labels: np.ndarray, kind: str) -> float | None:
    """AUROC of one feature alone (the better of both directions); categorical levels are
    scored by their event rate. None when undefined (one class, or fewer than 2 values)."""
    import pandas as pd

    from clinpred.core.evaluation.metric_kernels import weighted_auroc

    series = pd.Series(values).reset_index(drop=True)
    keep = series.notna().to_numpy()
    y = labels[keep].astype(float)
    if y.size < 2 or y.min() == y.max():
        return None
    present = series[keep]
    if kind == "numeric":
        score = present.astype(float).to_numpy()
    else:
        rates = pd.Series(y).groupby(present.astype(str).to_numpy()).mean()
        score = present.astype(str).map(rates).to_numpy(dtype=float)
    auc = float(weighted_auroc(y, score, np.ones((1, y.size)))[0])
    return max(auc, 1.0 - auc)


def possible_outcome_leak(dataset: Any, splits: Sequence[Any]) -> list[dict[str, str]]:
    """One warning listing every feature that alone gives AUROC >= ``LEAK_AUROC`` on training data
    (strongest first), so a real leak is not buried under one line per predictive feature."""
    if not splits:
        return []
    train = np.asarray(splits[0].train, dtype=int)
    found = []
    for spec in dataset.schema.features:
        auc = feature_auroc(dataset.frame[spec.name].iloc[train], dataset.labels[train], spec.kind)
        if auc is not None and auc >= LEAK_AUROC:
            found.append((auc, spec.name))
    if not found:
        return []
    found.sort(key=lambda item: (-item[0], item[1]))
    listed = ", ".join(f"{name} ({auc:.3f})" for auc, name in found)
    what = (f"{found[0][1]} alone gives AUROC {found[0][0]:.3f}" if len(found) == 1 else
            f"{len(found)} features alone give AUROC >= {LEAK_AUROC:g}: {listed}")
    return [_entry(
        "possible-outcome-leak", ", ".join(name for _, name in found),
        f"possible outcome leak: {what} on training data; remove any recorded after (or derived from) the "
        "outcome (strongly predictive features that are known before it are fine)")]


def missingness_auroc(frame: Any, labels: np.ndarray, seed: int = 0, folds: int = 5,
                      repeats: int = 5) -> tuple[float | None, list[str]]:
    """Cross-validated AUROC of the missingness pattern alone (which features are missing, nothing
    else): a logistic regression (L2, C = 1) on one 0/1 column per feature with missing values,
    out-of-fold predictions of a stratified ``folds``-fold CV, the AUROC averaged over ``repeats``
    seeded repetitions. None when no feature has a missing value."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from clinpred.core.evaluation.metric_kernels import weighted_auroc

    missing = frame.isna()
    columns = [c for c in missing.columns if missing[c].any()]
    y = np.asarray(labels, dtype=int)
    k = min(folds, int(y.sum()), int(y.size - y.sum()))
    if not columns or k < 2:
        return None, columns
    X = missing[columns].to_numpy().astype(float)
    aucs = []
    for r in range(repeats):
        cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed + r)
        p = cross_val_predict(LogisticRegression(C=1.0), X, y, cv=cv, method="predict_proba")[:, 1]
        aucs.append(float(weighted_auroc(y.astype(float), p, np.ones((1, y.size)))[0]))
    return float(np.mean(aucs)), columns


def missingness_predicts_outcome(dataset: Any, splits: Sequence[Any], indicators: bool) -> list[dict[str, str]]:
    """Warn when which values are missing predicts the outcome (AUROC >= ``MISSINGNESS_AUROC`` on
    training data): the LLM reads "not recorded" while the baselines see imputed values, unless
    missingness indicators are on."""
    if not splits:
        return []
    train = np.asarray(splits[0].train, dtype=int)
    auc, columns = missingness_auroc(dataset.frame.iloc[train], dataset.labels[train])
    if auc is None or auc < MISSINGNESS_AUROC:
        return []
    shown = ", ".join(columns[:8]) + (f" and {len(columns) - 8} more" if len(columns) > 8 else "")
    how = ("the baselines get a missingness indicator per feature ([evaluation] missing_indicators = true), so "
           "both see it" if indicators else "the baselines see imputed values only: set [evaluation] "
           "missing_indicators = true so that they see it too")
    return [_entry(
        "missingness-predicts-outcome", ", ".join(columns),
        f"which values are missing predicts the outcome (cross-validated AUROC {auc:.3f} of the missingness "
        f"pattern alone on training data; columns with missing values: {shown}): the LLM reads \"not recorded\"; "
        f"{how}. Ask why "
        "the values are missing (another group of patients, a test ordered only when ill) before trusting "
        "any model")]


def auroc_below_chance(models: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for name, entry in models.items():
        hi = (((entry.get("metrics") or {}).get("auroc") or {}).get("ci") or [None, None])[1]
        if hi is not None and hi < 0.5:
            out.append(_entry(
                "auroc-below-chance", name,
                f"{name}: the whole AUROC CI lies below 0.5 (upper limit {hi:.3f}): scores are inverted or the "
                "answer words are swapped; check the task's positive/negative answers and the target values"))
    return out


def _epochs(units: Mapping[str, Any]) -> list[float]:
    """The epochs each unit's fine-tune covered (its ``training`` details), where recorded."""
    out = []
    for unit in units.values():
        value = unit.detail("training").get("epochs") if hasattr(unit, "detail") else None
        if isinstance(value, (int, float)):
            out.append(float(value))
    return out


def _separate_head(unit: Any) -> bool:
    """Whether the unit's P(yes) came from a head of its own (LP-FT's probe head), not from its words."""
    return hasattr(unit, "detail") and bool(unit.detail("training").get("probe_head"))


def _collapse_advice(units: Mapping[str, Any], balance: str) -> list[str]:
    """What to do about collapsed words, given what the run already did."""
    if all(_separate_head(u) for u in units.values()):
        return ['its words come from the LM head, which LP-FT (head = "probe") does not train for the answer: '
                "its P(yes) comes from the probe head, and more training or balancing would not change the words"]
    epochs = _epochs(units)
    advice = []
    if epochs and max(epochs) < 1:
        advice.append(f"train longer (its fine-tune covered {max(epochs):.2g} of an epoch)")
    elif balance == "none":
        advice.append("train longer")
    if balance == "none":
        advice.append('balance its training (balance = "oversample" or "class-weight" in [evaluation])')
    else:
        done = "oversampled" if balance == "oversample" else "class-weighted"
        advice.append(f"train longer or with another learning rate (its training was already {done})")
    return advice + ["check the prompt (clinpred prompt)"]


def collapsed_answers(results: Mapping[str, Mapping[str, Any]], balance: str = "none") -> list[dict[str, str]]:
    """Models whose parsed generated answers (LLMs that generated) >= 95% one class (:data:`COLLAPSE_SHARE`). The advice
    says what was already done: a run that balanced its training is not told to balance it."""
    out = []
    for name, units in results.items():
        if not units or not all(u.test.has_answers for u in units.values()):
            continue
        parsed = [int(v) for u in units.values() for v in u.test.parsed if v is not None]
        share = majority_share(parsed)
        if len(parsed) >= 2 and share >= COLLAPSE_SHARE:
            positive = sum(parsed) * 2 >= len(parsed)
            count = sum(parsed) if positive else len(parsed) - sum(parsed)
            word = "positive" if positive else "negative"
            advice = _collapse_advice(units, balance)
            out.append(_entry(
                "collapsed-answers", name,
                f"{name}: {count} of {len(parsed)} parsed generated answers ({share:.0%}, >= {COLLAPSE_SHARE:.0%}) are "
                f"{word}: the model's words collapsed to one class; {'; '.join(advice)}. Its AUROC and the table's "
                "classification use P(yes) at the threshold chosen on validation, not these words"))
    return out


def under_one_epoch(results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, str]]:
    """Fine-tunes whose steps covered less than one pass over their training part."""
    out = []
    for name, units in results.items():
        epochs = _epochs(units)
        if epochs and len(epochs) == len(units) and max(epochs) < 1:
            span = f"{min(epochs):.2g}" if min(epochs) == max(epochs) else f"{min(epochs):.2g}-{max(epochs):.2g}"
            out.append(_entry(
                "under-one-epoch", name,
                f"{name}: its fine-tune covered {span} of an epoch of the training part: some training patients were "
                "never seen; train for at least one epoch (num_iters, --iters, or epochs = 1)"))
    return out


def unmatched_value_labels(dataset: Any) -> list[dict[str, str]]:
    from clinpred.core.data.schema import _norm

    out = []
    for spec in dataset.schema.features:
        if not spec.value_labels:
            continue
        present = {_norm(v) for v in dataset.frame[spec.name].dropna().tolist()}
        unmatched = sorted(k for k in spec.value_labels if _norm(k) not in present)
        if unmatched:
            shown = ", ".join(repr(k) for k in unmatched[:5])
            out.append(_entry(
                "unmatched-value-labels", spec.name,
                f"feature {spec.name}: value_labels key(s) {shown} match no value in the data; fix the keys to the "
                "values as written in the file (the prompts show those values unlabelled)"))
    return out


def run_warnings(dataset: Any, splits: Sequence[Any], protocol: str, models: dict[str, Any],
                 results: Mapping[str, Mapping[str, Any]], *, missing_indicators: bool = False,
                 balance: str = "none") -> list[dict[str, str]]:
    """Every warning of a finished run, in a stable order (``balance``: the run's ``[evaluation] balance``)."""
    return [
        *small_test_part(dataset, splits, protocol),
        *low_events_per_predictor(dataset, splits, protocol),
        *possible_outcome_leak(dataset, splits),
        *missingness_predicts_outcome(dataset, splits, missing_indicators),
        *unmatched_value_labels(dataset),
        *auroc_below_chance(models),
        *under_one_epoch(results),
        *collapsed_answers(results, balance),
    ]
