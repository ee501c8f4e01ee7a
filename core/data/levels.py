"""Categorical features with so many levels that one-hot encoding them would make the baselines
run for a very long time (usually an id, free text or a column of numbers): warn, or refuse."""

from __future__ import annotations

import re
from typing import Any

from clinpred.core.data.schema import FeatureSpec
from clinpred.core.errors import DataError

#: a categorical feature with more levels than this is a warning; with more than MAX_LEVELS, an error
MANY_LEVELS = 50
MAX_LEVELS = 1000

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def check_levels(values: list[Any], spec: FeatureSpec, name: str) -> list[str]:
    """Refuse (or warn about) a categorical feature with so many levels that one-hot encoding it
    would make the baselines run for a very long time: usually an id, free text or a number."""
    levels = {v for v in values if isinstance(v, str)}
    if len(levels) <= MANY_LEVELS:
        return []
    numeric = all(_NUMBER.match(v) for v in levels)
    how = ('its values are numbers: declare it kind = "numeric" in its features entry of the dataset schema'
           if numeric else "remove it from the dataset schema's features if it is an identifier or free text, "
           "or group its values into fewer levels")
    if len(levels) > MAX_LEVELS:
        raise DataError(f"{name}: categorical feature column {spec.name!r} has {len(levels)} distinct values "
                        f"(at most {MAX_LEVELS} are allowed; each becomes a one-hot column); {how}")
    return [f"column {spec.name!r}: categorical with {len(levels)} distinct values (each becomes a one-hot column "
            f"for the baselines, which is slow and overfits); {how}"]
