"""What one model produced on one split: a typed :class:`UnitOutcome` (and its unit-file JSON).

Every adapter returns one (built with :meth:`~clinpred.core.models.work.UnitWork.outcome`, which
chooses the threshold on the validation part the same way for every model). Aggregation, the
report, ``predict``, ``diagnose`` and ``status`` read outcomes, never raw dicts. The unit file
``units/NAME/SPLIT.json`` is :meth:`UnitOutcome.to_json` plus the runner's ``fingerprint`` and
``split``; its layout is the one older clinpred versions wrote, so their runs still read.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import numpy as np
from attrs import define, field

from clinpred.core.errors import CorruptRunFileError

#: the test part's optional per-patient columns (LLMs): the scoring prompt and the generated answer
ANSWER_COLUMNS = ("raw_output", "parsed", "parse_status")


def _ints(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=int).reshape(-1)


def _floats(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=float).reshape(-1)


@define(frozen=True, eq=False)
class PartScores:
    """P(yes) of the patients of one part of a split (``index``: dataset rows)."""

    index: np.ndarray = field(converter=_ints)
    p: np.ndarray = field(converter=_floats)

    def __attrs_post_init__(self) -> None:
        if self.index.shape != self.p.shape:
            raise ValueError(f"{self.index.size} patients but {self.p.size} probabilities")

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index.tolist(), "p": self.p.tolist()}


@define(frozen=True, eq=False)
class TestScores(PartScores):
    """The test part: P(yes), plus for LLMs the scoring prompts and the generated answers."""

    prompt: tuple[str, ...] | None = field(default=None, converter=lambda v: None if v is None else tuple(v))
    raw_output: tuple[str, ...] | None = field(default=None, converter=lambda v: None if v is None else tuple(v))
    parsed: tuple[int | None, ...] | None = field(default=None, converter=lambda v: None if v is None else tuple(v))
    parse_status: tuple[str, ...] | None = field(default=None, converter=lambda v: None if v is None else tuple(v))

    @property
    def has_answers(self) -> bool:
        """Generated answers were parsed (an LLM that generated)."""
        return self.parse_status is not None

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        if self.prompt is not None:
            out["prompt"] = list(self.prompt)
        if self.has_answers:
            out.update(raw_output=list(self.raw_output or ()), parsed=list(self.parsed or ()),
                       parse_status=list(self.parse_status))
        return out


@define(frozen=True, eq=False)
class UnitOutcome:
    """One (model, split) unit: validation and test scores, the threshold chosen on validation
    data (``threshold_reason``: why a fallback was used, else empty), the wall time, and the
    adapter's own ``details`` (JSON: e.g. ``training``, ``model``, ``timings``, ``search``, ``fitted``)."""

    threshold: float = field(converter=float)
    threshold_reason: str
    val: PartScores
    test: TestScores
    seconds: float = field(converter=float)
    details: Mapping[str, Any] = field(factory=dict)

    def detail(self, key: str) -> dict[str, Any]:
        """``details[key]`` when it is a JSON object, else an empty dict."""
        value = self.details.get(key)
        return value if isinstance(value, dict) else {}

    def with_details(self, **extra: Any) -> "UnitOutcome":
        import attrs

        return attrs.evolve(self, details={**self.details, **extra})

    def to_json(self) -> dict[str, Any]:
        """The unit file's layout (without the runner's ``fingerprint`` and ``split``)."""
        out: dict[str, Any] = {"status": "done", "threshold": self.threshold, "threshold_reason": self.threshold_reason,
                               "val": self.val.to_json(), "test": self.test.to_json()}
        out.update({k: v for k, v in self.details.items() if k not in out and k != "seconds"})
        out["seconds"] = self.seconds
        return json.loads(json.dumps(out, default=_jsonable))  # exactly what a unit file reads back as

    @classmethod
    def from_json(cls, data: Any, where: str = "unit") -> "UnitOutcome":
        """An outcome from a unit file's JSON; a file of the wrong shape is one
        :class:`CorruptRunFileError` (exit 2; ``--resume`` recomputes the unit)."""
        try:
            if not isinstance(data, dict) or data.get("status") != "done":
                raise ValueError("not a completed unit")
            test = data["test"]
            answers = {k: test[k] for k in ANSWER_COLUMNS if k in test}
            if answers and set(answers) != set(ANSWER_COLUMNS):
                raise ValueError("incomplete generated answers")
            details = {k: v for k, v in data.items()
                       if k not in ("status", "threshold", "threshold_reason", "val", "test", "seconds",
                                    "fingerprint", "split")}
            return cls(threshold=data["threshold"], threshold_reason=str(data.get("threshold_reason") or ""),
                       val=PartScores(data["val"]["index"], data["val"]["p"]),
                       test=TestScores(test["index"], test["p"], prompt=test.get("prompt"), **answers),
                       seconds=data.get("seconds") or 0.0, details=details)
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptRunFileError(f"{where} is corrupt (not a completed unit of this clinpred: "
                                      f"{type(exc).__name__}: {exc}); `clinpred run ... --out RUN_DIR --resume` "
                                      "recomputes that unit") from None


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "value"):  # enums
        return value.value
    return str(value)


def pooled_test(outcomes: Mapping[str, UnitOutcome]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(split name per row, dataset index, P(yes), threshold) of every test patient, in split order."""
    splits: list[str] = []
    index: list[Sequence[int]] = []
    p: list[np.ndarray] = []
    thr: list[np.ndarray] = []
    for name, outcome in outcomes.items():
        n = outcome.test.index.size
        splits += [name] * n
        index.append(outcome.test.index)
        p.append(outcome.test.p)
        thr.append(np.full(n, outcome.threshold))
    cat = (lambda parts, dtype: np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype))
    return splits, cat(index, int), cat(p, float), cat(thr, float)
