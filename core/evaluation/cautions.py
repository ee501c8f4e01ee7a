"""Statistical warnings: where a statistician would stop and look before trusting the table.

Each check returns ``{"code", "subject", "message"}`` entries; the message is one line that
says what is wrong and what to do. They go to ``metrics.json["warnings"]``, are printed under
the comparison table and shown in the report. Never a patient row in a message: column names,
counts and metrics only.

- ``small-test-part``: a hold-out test part with fewer than 100 events or 50 patients (Collins,
  Ogundimu & Altman, Stat Med 2016; Riley et al., BMJ 2024 (validation sample size): at least
  100 events for a validation study);
- ``low-events-per-predictor``: fewer than 10 events (of the rarer class) per candidate
  predictor parameter in a training part (Peduzzi et al., J Clin Epidemiol 1996);
- ``possible-outcome-leak``: a single feature that alone gives AUROC >= 0.95 on training data;
- ``auroc-below-chance``: a model whose whole AUROC CI lies below 0.5;
- ``collapsed-answers``: an LLM whose parsed generated answers are all one class (the advice
  depends on how its training was balanced and how long it trained);
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


def _entry(code: str, subject: str, message: str) -> dict[str, str]:
    return {"code": code, "subject": subject, "message": message}


def candidate_parameters(dataset: Any) -> int:
    """Candidate predictor parameters: 1 per numeric or binary feature, levels - 1 per categorical."""
    total = 0
    for spec in dataset.schema.features:
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


def low_events_per_predictor(dataset: Any, splits: Sequence[Any]) -> list[dict[str, str]]:
    params = candidate_parameters(dataset)
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
    if not splits:
        return []
    train = np.asarray(splits[0].train, dtype=int)
    out = []
    for spec in dataset.schema.features:
        auc = feature_auroc(dataset.frame[spec.name].iloc[train], dataset.labels[train], spec.kind)
        if auc is not None and auc >= LEAK_AUROC:
            out.append(_entry(
                "possible-outcome-leak", spec.name,
                f"possible outcome leak: {spec.name} alone gives AUROC {auc:.3f} on training data; remove it "
                "if it is recorded after (or derived from) the outcome"))
    return out


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


def collapsed_answers(results: Mapping[str, Mapping[str, Any]], balance: str = "none") -> list[dict[str, str]]:
    """Models whose parsed generated answers (LLMs that generated) are all one class. The advice
    says what was already done: a run that balanced its training is not told to balance it."""
    out = []
    for name, units in results.items():
        if not units or not all(u.test.has_answers for u in units.values()):
            continue
        parsed = [int(v) for u in units.values() for v in u.test.parsed if v is not None]
        if len(parsed) >= 2 and len(set(parsed)) == 1:
            word = "positive" if parsed[0] == 1 else "negative"
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
            advice.append("check the prompt (clinpred prompt)")
            out.append(_entry(
                "collapsed-answers", name,
                f"{name}: all {len(parsed)} parsed generated answers are {word}: the model's words collapsed to one "
                f"class; {'; '.join(advice)}. Its AUROC and the table's classification use P(yes) at the "
                "threshold chosen on validation, not these words"))
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
                 results: Mapping[str, Mapping[str, Any]], balance: str = "none") -> list[dict[str, str]]:
    """Every warning of a finished run, in a stable order (``balance``: the run's ``[evaluation] balance``)."""
    return [
        *small_test_part(dataset, splits, protocol),
        *low_events_per_predictor(dataset, splits),
        *possible_outcome_leak(dataset, splits),
        *unmatched_value_labels(dataset),
        *auroc_below_chance(models),
        *under_one_epoch(results),
        *collapsed_answers(results, balance),
    ]
