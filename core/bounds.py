"""Numeric bounds shared by config keys and command-line options, so both refuse the same values
with the same message (the bound is always in it).

A :class:`Bound` is the ``check`` of a config rule (``bound(value) -> bool``) and knows its own
``meaning`` ("between 0 and 4294967295"); the CLI wraps it in a click type (``cli/bounded.py``).
"""

from __future__ import annotations

import math
from typing import Any

from attrs import define, field

from clinpred.core.errors import ConfigError

#: numpy / scikit-learn take seeds in 0 .. 2**32 - 1.
SEED_MAX = 2**32 - 1


def _order(instance: "Bound", attribute: Any, value: float | None) -> None:
    if value is not None and instance.low is not None and value < instance.low:
        raise ValueError(f"bound high {value} is below low {instance.low}")


@define(frozen=True)
class Bound:
    """``low <= value <= high`` (an open end when ``low_open`` / ``high_open``; None: unbounded)."""

    low: float | None = None
    high: float | None = field(default=None, validator=_order)
    low_open: bool = False
    high_open: bool = False

    def __call__(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return True

    @property
    def meaning(self) -> str:
        """What the bound means, in words: "between 1 and 1000000", "at least 2", "in (0, 1)"."""
        lo, hi = _num(self.low), _num(self.high)
        if self.low is not None and self.high is not None:
            if self.low_open or self.high_open:
                return f"in {'(' if self.low_open else '['}{lo}, {hi}{')' if self.high_open else ']'}"
            return f"between {lo} and {hi}"
        if self.low is not None:
            return f"above {lo}" if self.low_open else f"at least {lo}"
        if self.high is not None:
            return f"below {hi}" if self.high_open else f"at most {hi}"
        return "a finite number"

    def check(self, value: Any, where: str, key: str) -> Any:
        """``value`` if within the bound, else one :class:`ConfigError` line naming key and bound."""
        if not self(value):
            raise ConfigError(f"{where}: {key} = {value!r} is impossible; it must be {self.meaning}")
        return value


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(value)


def unit_seed(seed: int, offset: int) -> int:
    """The seed of the ``offset``-th unit of a run: ``seed + offset`` kept inside numpy's range."""
    return (seed + offset) % (SEED_MAX + 1)


# -- the bounds of clinpred's numeric settings (config keys and CLI options use these) ----------
SEED = Bound(0, SEED_MAX)
NUM_ITERS = Bound(1, 1_000_000)
EPOCHS = Bound(0, 10_000, low_open=True)
LORA_RANK = Bound(1, 4096)
LORA_LAYERS = Bound(1, 1024)
LORA_ALPHA = Bound(0, 1_000_000, low_open=True)
BATCH_SIZE = Bound(1, 4096)
GRAD_ACCUM = Bound(1, 4096)
EVAL_EVERY = Bound(1, 1_000_000)
PATIENCE = Bound(0, 1_000_000)
MAX_SEQ_LEN = Bound(16, 1_048_576)
LEARNING_RATE = Bound(0, 1, low_open=True, high_open=True)
DROPOUT = Bound(0, 1, high_open=True)
PROBABILITY = Bound(0, 1, low_open=True, high_open=True)
MAX_NEW_TOKENS = Bound(1, 512)
WARMUP = Bound(0, 1_000_000)
WEIGHT_DECAY = Bound(0, 100)
LOSS_WEIGHT = Bound(0, 100)  # a weight of a training loss term (end of turn, unlikelihood, label mass)
CV_FOLDS = Bound(2, 100)
CV_REPEATS = Bound(1, 1000)
BOOTSTRAP = Bound(200, 1_000_000)
IMPORTANCE_REPEATS = Bound(0, 1000)
R2 = Bound(0, 1, low_open=True, high_open=True)
SYNTH_PATIENTS = Bound(2, 10_000_000)
SEARCH_TRIALS = Bound(1, 10_000)  # trials of a nested search per split (`n_trials`, `--trials`)
PARALLEL_TRIALS = Bound(1, 1024)
PRUNER_STARTUP_TRIALS = Bound(0, 10_000)
MAX_RETRIES = Bound(0, 100)  # re-runs of a unit whose worker or node died
JOBS = Bound(1, 4096)  # worker processes (`--jobs`) and units in flight (`max_concurrent`)
CHECKPOINT_UPLOAD_SECONDS = Bound(0, 86_400)
MIN_CELL = Bound(1, 1000)  # patients below which a shared table suppresses or merges a cell
