"""Unit outcomes built by hand (test helpers): the typed values adapters return."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from clinpred.core.evaluation.outcome import PartScores, TestScores, UnitOutcome


def outcome(test_index: Sequence[int], test_p: Sequence[float], *, val_index: Sequence[int] = (),
            val_p: Sequence[float] = (), threshold: float = 0.5, parsed: Sequence[int | None] | None = None,
            **details: Any) -> UnitOutcome:
    """A unit outcome; ``parsed`` adds generated answers (every one "ok" unless None)."""
    answers: dict[str, Any] = {}
    if parsed is not None:
        answers = {"raw_output": ["Yes" if v == 1 else "No" if v == 0 else "?" for v in parsed], "parsed": list(parsed),
                   "parse_status": ["ok" if v is not None else "ambiguous" for v in parsed]}
    return UnitOutcome(threshold=threshold, threshold_reason="", val=PartScores(val_index, np.asarray(val_p, float)),
                       test=TestScores(test_index, np.asarray(test_p, float), **answers), seconds=0.0, details=details)
