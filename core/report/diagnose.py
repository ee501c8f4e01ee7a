"""What did the models actually output? Parse-failure counts, collapse and agreement checks.

For each model of a source (:mod:`clinpred.core.report.outputs_io`): counts by parse status, how often
think tags appear, the predicted-positive rate against the prevalence (with a one-class-collapse
flag), the spread of P(yes) (with a collapsed-score flag), agreement of probability-based and
parsed labels, examples of each failure kind (raw outputs only, truncated), and the metrics of
the probability labels and of the parsed labels (``reparse`` re-reads every text with the
current plugins: the original study's "re-evaluation with robust parsing").

Parsing is the family's: the caller passes ``parse(family, text, task)`` (the plugin registry).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Callable

import numpy as np

from clinpred.core.errors import UserError
# COLLAPSE_SHARE: the share of one predicted class at or above which a model is flagged as collapsed,
# the same rule as the run's ``collapsed-answers`` warning
from clinpred.core.evaluation.cautions import COLLAPSE_SHARE, majority_share  # noqa: F401  (re-exported)
from clinpred.core.report.outputs_io import ModelOutputs, OutputsSource
from clinpred.core.values import ParsedOutput, ParseStatus, TaskSpec

Parser = Callable[[str, str, TaskSpec], ParsedOutput]

#: P(yes) interquartile range below which the score is flagged as collapsed
COLLAPSED_IQR = 0.01
#: characters of a raw output shown in an example
EXAMPLE_CHARS = 120
STATUSES = tuple(s.value for s in ParseStatus)
#: the task used to parse outputs that come with no run (answer words Yes / No)
DEFAULT_TASK = TaskSpec(question="(external model outputs)")


def shorten(text: str | None, limit: int = EXAMPLE_CHARS) -> str:
    """One line, at most ``limit`` characters (newlines shown as ``\\n``)."""
    flat = (text or "").replace("\r", "").replace("\n", "\\n")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def class_balance(predicted: list[int | None], prevalence: float | None) -> dict[str, Any] | None:
    """Predicted-positive rate, the majority class's share and the one-class-collapse flag."""
    values = [v for v in predicted if v is not None]
    if not values:
        return None
    positive = sum(values) / len(values)
    share = majority_share(values)
    return {"n": len(values), "positive_rate": positive, "prevalence": prevalence,
            "majority_share": share, "collapsed": share >= COLLAPSE_SHARE}


def score_spread(p: list[float | None]) -> dict[str, Any] | None:
    """Mean, SD, quartiles and range of P(yes), with the collapsed-score flag (IQR < 0.01)."""
    values = np.asarray([x for x in p if x is not None], dtype=float)
    if values.size == 0:
        return None
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {"n": int(values.size), "mean": float(values.mean()), "std": float(values.std()),
            "min": float(values.min()), "q1": float(q1), "median": float(median), "q3": float(q3),
            "max": float(values.max()), "iqr": float(q3 - q1), "collapsed": bool(q3 - q1 < COLLAPSED_IQR)}


def label_metrics(labels: list[int | None], predicted: list[int | None]) -> dict[str, Any] | None:
    """Confusion matrix and rates of ``predicted`` on the rows where both are known.

    ``coverage`` is the share of labelled rows that have a prediction (unparsed outputs have none).
    """
    from clinpred.core.evaluation.metrics import confusion_metrics

    pairs = [(y, p) for y, p in zip(labels, predicted) if y is not None and p is not None]
    labelled = sum(y is not None for y in labels)
    if not pairs:
        return None
    tp = sum(1 for y, p in pairs if y == 1 and p == 1)
    fp = sum(1 for y, p in pairs if y == 0 and p == 1)
    tn = sum(1 for y, p in pairs if y == 0 and p == 0)
    fn = sum(1 for y, p in pairs if y == 1 and p == 0)
    return {"n": len(pairs), "coverage": _rate(len(pairs), labelled), "tp": tp, "fp": fp, "tn": tn, "fn": fn,
            **confusion_metrics(tp, fp, tn, fn)}


def run_on(parsed: list[ParsedOutput], raw: list[str | None], task: TaskSpec, per_kind: int = 3) -> dict[str, Any]:
    """Answers that parse but go on past the answer word ("Yes. Yes, yes."): the sign of an end
    of turn that was never trained. Count, rate among the parsed answers, and examples."""
    word = re.compile(rf"\b({re.escape(task.positive)}|{re.escape(task.negative)})\b", re.IGNORECASE)

    def goes_on(text: str) -> bool:  # a letter or digit after the first answer word
        found = word.search(text)
        return found is not None and re.search(r"[^\W_]", text[found.end():]) is not None

    ok = [(p, text) for p, text in zip(parsed, raw) if p.status is ParseStatus.OK]
    long = [text or "" for p, text in ok if goes_on(p.answer_text or "")]
    examples: list[str] = []
    for text in long:
        if len(examples) < per_kind and shorten(text) not in examples:
            examples.append(shorten(text))
    return {"count": len(long), "rate": _rate(len(long), len(ok)), "examples": examples}


def _parse_all(model: ModelOutputs, family: str | None, parse: Parser | None, task: TaskSpec) -> list[ParsedOutput] | None:
    if model.raw is None or family is None or parse is None:
        return None
    return [parse(family, text or "", task) for text in model.raw]


def _needs_family(model: ModelOutputs, reparse: bool) -> bool:
    return model.raw is not None and (reparse or model.status is None)


def _examples(raw: list[str | None] | None, statuses: list[str | None], per_kind: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if raw is None:
        return out
    for text, status in zip(raw, statuses):
        if status in (None, "ok") or text is None:
            continue
        shown = out.setdefault(status, [])
        line = shorten(text)
        if len(shown) < per_kind and line not in shown:
            shown.append(line)
    return out


def _parse_block(model: ModelOutputs, current: list[ParsedOutput] | None, reparse: bool,
                 per_kind: int) -> tuple[dict[str, Any] | None, list[str | None] | None, list[int | None] | None]:
    """The parse section; also the statuses and parsed labels in use."""
    if current is not None and (reparse or model.status is None):
        statuses: list[str | None] = [p.status.value for p in current]
        parsed: list[int | None] = [None if p.label is None else int(p.label) for p in current]
        source = "reparsed" if model.status is not None else "parsed"
        # rows without stored text keep their stored result
        if model.status is not None and model.raw is not None:
            for k, text in enumerate(model.raw):
                if text is None:
                    statuses[k] = model.status[k]
                    parsed[k] = model.parsed[k] if model.parsed is not None else None
    elif model.status is not None:
        statuses, source = list(model.status), "stored"
        parsed = list(model.parsed) if model.parsed is not None else [None] * model.n
    else:
        return None, None, None
    counts = Counter(s for s in statuses if s is not None)
    known = sum(counts.values())
    block: dict[str, Any] = {
        "source": source,
        "n": known,
        "counts": {s: counts.get(s, 0) for s in STATUSES} | {s: c for s, c in counts.items() if s not in STATUSES},
        "ok_rate": _rate(counts.get("ok", 0), known),
        "failures": known - counts.get("ok", 0),
        "examples": _examples(model.raw, statuses, per_kind),
    }
    if current is not None:
        think = sum(p.had_think for p in current)
        block["think_tags"] = {"count": think, "rate": _rate(think, len(current))}
    else:
        block["think_tags"] = None
    if current is not None and model.status is not None:
        changed = sum(1 for p, s in zip(current, model.status) if s is not None and p.status.value != s)
        block["changed_by_current_parser"] = changed
    return block, statuses, parsed


def diagnose_model(model: ModelOutputs, *, parse: Parser | None, task: TaskSpec, family: str | None = None,
                   reparse: bool = False, per_kind: int = 3) -> dict[str, Any]:
    """The diagnosis of one model (see the module docstring); a JSON-safe dict."""
    family = family or model.family
    current = _parse_all(model, family, parse, task)
    labelled = [y for y in model.labels if y is not None]
    prevalence = sum(labelled) / len(labelled) if labelled else None
    parse_block, statuses, parsed = _parse_block(model, current, reparse, per_kind)
    if parse_block is not None:
        parse_block["run_on"] = run_on(current, list(model.raw or []), task, per_kind) if current is not None else None
    prob_labels = list(model.predicted)
    out: dict[str, Any] = {
        "kind": model.kind or ("llm" if model.raw is not None else None),
        "family": family,
        "n": model.n,
        "labelled": len(labelled),
        "prevalence": prevalence,
        "parse": parse_block,
        "p_yes": score_spread(model.p_yes),
        "predicted_from_probability": class_balance(prob_labels, prevalence),
        "predicted_from_text": class_balance(parsed, prevalence) if parsed is not None else None,
        "agreement": None,
        "metrics": {"probability": label_metrics(model.labels, prob_labels),
                    "text": label_metrics(model.labels, parsed) if parsed is not None else None},
    }
    if parsed is not None:
        pairs = [(a, b) for a, b in zip(prob_labels, parsed) if a is not None and b is not None]
        if pairs:
            out["agreement"] = {"n": len(pairs), "rate": sum(a == b for a, b in pairs) / len(pairs)}
        out["rows"] = [{"row": k + 1, "id": model.ids[k], "status": statuses[k], "parsed": parsed[k]}
                       for k in range(model.n)]
    out["flags"] = flags(out)
    return out


def flags(d: dict[str, Any]) -> list[str]:
    """Short warnings about one model's diagnosis."""
    out: list[str] = []
    for key, what in (("predicted_from_probability", "probability labels"), ("predicted_from_text", "parsed labels")):
        bal = d.get(key)
        if bal and bal["collapsed"]:
            cls = "positive" if bal["positive_rate"] >= 0.5 else "negative"
            out.append(f"one-class collapse ({what}): {bal['majority_share']:.0%} predicted {cls}")
    spread = d.get("p_yes")
    if spread and spread["collapsed"] and spread["n"] > 1:
        out.append(f"collapsed score: P(yes) IQR {spread['iqr']:.4f} (< {COLLAPSED_IQR})")
    parse = d.get("parse")
    if parse and parse["n"] and parse["failures"]:
        out.append(f"parse failures: {parse['failures']}/{parse['n']} ({parse['failures'] / parse['n']:.0%})")
    if parse and parse.get("run_on") and parse["run_on"]["count"]:
        out.append(f"{parse['run_on']['count']} answer(s) run on past the answer word (e.g. "
                   f"{parse['run_on']['examples'][0]!r}): the end of turn was not learned")
    if parse and parse.get("think_tags") and parse["think_tags"]["count"]:
        out.append(f"think tags in {parse['think_tags']['count']} output(s)")
    if parse and parse.get("changed_by_current_parser"):
        out.append(f"{parse['changed_by_current_parser']} output(s) parse differently with the current plugins "
                   "(--reparse)")
    agree = d.get("agreement")
    if agree and agree["rate"] < 0.8:
        out.append(f"probability and parsed labels agree on only {agree['rate']:.0%}")
    return out


def diagnose(source: OutputsSource, *, parse: Parser | None = None, family: str | None = None,
             reparse: bool = False, per_kind: int = 3) -> dict[str, Any]:
    """Diagnose every model of ``source``. ``family`` fills in (or overrides) the models' family.

    Raises :class:`UserError` when raw outputs must be parsed and no family is known.
    """
    task = source.task or DEFAULT_TASK
    for model in source.models:
        if _needs_family(model, reparse) and not (family or model.family):
            raise UserError(
                f"{source.path}: model {model.name!r} has raw outputs to parse but no family is known; "
                "give --family F (see `clinpred families`)"
            )
    models = {m.name: diagnose_model(m, parse=parse, task=task, family=family, reparse=reparse, per_kind=per_kind)
              for m in source.models}
    return {"source": str(source.path), "kind": source.kind, "reparse": reparse,
            "task": {"positive": task.positive, "negative": task.negative}, "models": models}
