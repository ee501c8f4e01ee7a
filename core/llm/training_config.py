"""Training configuration and results (value types; no mlx import)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from attrs import asdict, define, field

from clinpred.core.errors import ConfigError
from clinpred.core.llm.rendering import TokenizedExample

CLASS_WEIGHTS = ("none", "balanced")
#: model_configs.toml hyperparameter -> TrainConfig field
_HYPER_KEYS = {
    "lora_rank": "rank", "lora_alpha": "alpha", "lora_dropout": "dropout", "lora_layers": "lora_layers",
    "learning_rate": "learning_rate", "num_iters": "iters", "epochs": "epochs", "batch_size": "batch_size",
    "grad_accum": "grad_accum", "warmup": "warmup", "weight_decay": "weight_decay",
    "grad_checkpoint": "grad_checkpoint", "dora": "dora", "eval_every": "eval_every",
    "early_stopping_patience": "early_stopping_patience", "max_seq_len": "max_seq_len",
    "frozen_trunk_cache": "frozen_trunk_cache",
    "objective": "objective", "end_of_turn_weight": "end_of_turn_weight",
    "unlikelihood_weight": "unlikelihood_weight", "select_metric": "select_metric",
    "label_mass_weight": "label_mass_weight",
}
#: fields that change speed, not results: left out of the resume fingerprint
SPEED_ONLY = ("frozen_trunk_cache", "trunk_cache_mb")
#: how the kept adapter is chosen: best validation AUROC, answer-token loss or label log-loss, or the last
SELECT_METRICS = ("auroc", "loss", "log_loss", "last")
#: the training objectives (see :mod:`clinpred.core.llm.objectives`)
OBJECTIVES = ("answer-token", "label")


class TrainItem(NamedTuple):
    """One training (or validation) example: the tokenized chat, its label (0/1) and a weight
    that multiplies the loss on its answer tokens."""

    example: TokenizedExample
    label: int
    weight: float = 1.0


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


def _int_at_least(lo: int, hint: str):
    def check(instance: Any, attribute: Any, value: Any) -> None:
        _check(isinstance(value, int) and not isinstance(value, bool) and value >= lo,
               f"training: {attribute.name} must be an integer >= {lo} (got {value!r}); {hint}")
    return check


def _opt_int_at_least(lo: int, hint: str):
    inner = _int_at_least(lo, hint)

    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value is not None:
            inner(instance, attribute, value)
    return check


def _positive(hint: str):
    def check(instance: Any, attribute: Any, value: Any) -> None:
        _check(isinstance(value, (int, float)) and not isinstance(value, bool)
               and math.isfinite(value) and value > 0,
               f"training: {attribute.name} must be a number > 0 (got {value!r}); {hint}")
    return check


def _non_negative(hint: str):
    def check(instance: Any, attribute: Any, value: Any) -> None:
        _check(isinstance(value, (int, float)) and not isinstance(value, bool)
               and math.isfinite(value) and value >= 0,
               f"training: {attribute.name} must be a number >= 0 (got {value!r}); {hint}")
    return check


def _one_of(choices: tuple[str, ...]):
    def check(instance: Any, attribute: Any, value: Any) -> None:
        _check(value in choices, f"training: {attribute.name} must be one of {list(choices)} (got {value!r})")
    return check


@define(frozen=True)
class TrainConfig:
    """LoRA fine-tuning settings.

    ``alpha / rank`` becomes mlx-lm's LoRA ``scale``: mlx-lm adds ``scale * (x @ A) @ B`` to a
    layer's output, where PEFT adds ``(alpha / r) * (x @ A) @ B``; so alpha = 2 * rank gives
    scale 2. A "step" is one optimizer update over ``grad_accum`` micro-batches of
    ``batch_size`` examples. Give ``iters`` (steps) or ``epochs`` (passes over the training
    items, rounded up to whole steps); with neither, one epoch. The learning rate rises linearly
    over the warmup (``warmup`` steps, or that fraction of all steps when < 1) and then follows a cosine down to ``learning_rate * min_lr_ratio``.
    Validation runs every ``eval_every`` steps (default: once per epoch) and at the end; the
    adapter with the best ``select_metric`` is the one kept: ``auroc`` (validation AUROC, ties
    broken by validation loss), ``loss`` (answer-token cross-entropy), ``log_loss`` (the label
    log-loss of the renormalised P(yes), what scoring reports) or ``last`` (a fixed budget: the
    last adapter; validation is still recorded). ``early_stopping_patience`` evaluations without
    improvement stop training (not with ``last``). ``objective`` is ``answer-token``
    (cross-entropy on the answer token over the vocabulary) or ``label`` (a binary cross-entropy
    on the label tokens' log-sum-exp margin, plus ``label_mass_weight`` times the label tokens'
    share of the vocabulary and ``unlikelihood_weight`` times TabLLM's unlikelihood term;
    :mod:`clinpred.core.llm.objectives`). The end-of-turn tokens after the
    answer are trained with cross-entropy at ``end_of_turn_weight`` (0 leaves them out). ``class_weight="balanced"`` weights each example's answer tokens by
    n / (2 * n_class) (an alternative to oversampling). ``frozen_trunk_cache`` computes the
    states entering the first trained block once per example when that is exact
    (:mod:`clinpred.core.llm.trunk_cache`), within ``trunk_cache_mb`` of memory.
    """

    rank: int = field(default=8, validator=_int_at_least(1, "typical values are 8 or 16"))
    alpha: float = field(default=16.0, validator=_positive("alpha / rank is the LoRA scale; try alpha = 2 * rank"))
    dropout: float = field(default=0.0)
    lora_layers: int = field(default=8, validator=_int_at_least(1, "the number of last blocks that get adapters"))
    dora: bool = False
    keys: tuple[str, ...] | None = field(default=None, converter=lambda v: None if v is None else tuple(v))
    learning_rate: float = field(default=1e-4, validator=_positive("typical LoRA values are 1e-5 to 5e-4"))
    min_lr_ratio: float = field(default=0.0)
    warmup: float = field(default=0, validator=_non_negative("steps (>= 1) or a fraction of the steps (< 1); 0 for none"))
    weight_decay: float = field(default=0.0)
    max_grad_norm: float | None = None
    iters: int | None = field(default=None, validator=_opt_int_at_least(1, "or give epochs instead"))
    epochs: float | None = None
    batch_size: int = field(default=4, validator=_int_at_least(1, "lower it if memory runs out"))
    grad_accum: int = field(default=1, validator=_int_at_least(1, "1 means no gradient accumulation"))
    grad_checkpoint: bool = False
    seed: int = field(default=0, validator=_int_at_least(0, "any non-negative integer"))
    eval_every: int | None = field(default=None, validator=_opt_int_at_least(1, "or leave it unset for once per epoch"))
    early_stopping_patience: int | None = field(
        default=None, validator=_opt_int_at_least(0, "evaluations without improvement; 0 or unset is off"))
    select_metric: str = field(default="auroc", validator=_one_of(SELECT_METRICS))
    objective: str = field(default="answer-token", validator=_one_of(OBJECTIVES))
    end_of_turn_weight: float = field(default=1.0, validator=_non_negative("1 trains the end of turn like the answer; 0 leaves it out"))
    unlikelihood_weight: float = field(default=0.0, validator=_non_negative("0 is off; TabLLM uses 1"))
    label_mass_weight: float = field(default=0.5, validator=_non_negative("0.5 is TabLLM's balance; 0 may stop generation answering"))
    class_weight: str = field(default="none", validator=_one_of(CLASS_WEIGHTS))
    save_every: int = field(default=10, validator=_int_at_least(1, "steps between resumable checkpoints"))
    eval_batch_size: int = field(default=8, validator=_int_at_least(1, "examples per validation forward pass"))
    max_seq_len: int | None = field(default=None, validator=_opt_int_at_least(2, "or leave it unset"))
    frozen_trunk_cache: bool = True
    trunk_cache_mb: float = field(default=2048.0, validator=_positive("memory for the cached trunk states"))

    def __attrs_post_init__(self) -> None:
        _check(isinstance(self.dropout, (int, float)) and 0 <= self.dropout < 1,
               f"training: dropout must be in [0, 1) (got {self.dropout!r}); 0.0 or 0.05 are usual")
        _check(0 <= self.min_lr_ratio <= 1,
               f"training: min_lr_ratio must be in [0, 1] (got {self.min_lr_ratio!r})")
        _check(self.weight_decay >= 0, f"training: weight_decay must be >= 0 (got {self.weight_decay!r})")
        _check(self.max_grad_norm is None or self.max_grad_norm > 0,
               f"training: max_grad_norm must be > 0 or unset (got {self.max_grad_norm!r})")
        _check(self.iters is None or self.epochs is None,
               "training: give iters or epochs, not both")
        _check(self.epochs is None or (isinstance(self.epochs, (int, float)) and self.epochs > 0),
               f"training: epochs must be > 0 (got {self.epochs!r})")

    @classmethod
    def from_hyperparameters(cls, hyper: Mapping[str, Any], *, seed: int = 0, **overrides: Any) -> "TrainConfig":
        """From model_configs.toml keys (``lora_rank``, ``lora_alpha``, ``lora_dropout``,
        ``lora_layers``, ``learning_rate``, ``num_iters``, ``epochs``, ``batch_size``,
        ``grad_accum``, ``warmup``, ``weight_decay``, ``grad_checkpoint``, ``dora``,
        ``eval_every``, ``early_stopping_patience``, ``max_seq_len``, ``frozen_trunk_cache``,
        ``objective``, ``end_of_turn_weight``, ``unlikelihood_weight``, ``label_mass_weight``,
        ``select_metric``);
        other keys (precision, score_batch_size, prefix_cache, ...) are not training settings
        and are ignored. When both
        ``num_iters`` and ``epochs`` are present, ``num_iters`` wins. A bad value is a
        :class:`ConfigError`."""
        kwargs: dict[str, Any] = {new: hyper[old] for old, new in _HYPER_KEYS.items() if old in hyper}
        if "iters" in kwargs:
            kwargs.pop("epochs", None)
        kwargs.update(overrides)
        try:
            return cls(seed=seed, **kwargs)
        except (ValueError, TypeError) as exc:
            raise ConfigError(str(exc)) from None

    def warmup_steps(self, total: int) -> int:
        """Warmup length in steps for a run of ``total`` steps."""
        return int(round(self.warmup * total)) if self.warmup < 1 else int(self.warmup)

    @property
    def scale(self) -> float:
        """mlx-lm's LoRA ``scale`` (= alpha / rank)."""
        return self.alpha / self.rank

    def total_steps(self, n_train: int) -> int:
        """Optimizer steps for ``n_train`` training items."""
        if self.iters is not None:
            return self.iters
        micro = math.ceil((self.epochs or 1.0) * math.ceil(n_train / self.batch_size))
        return max(1, math.ceil(micro / self.grad_accum))

    def steps_per_epoch(self, n_train: int) -> int:
        return max(1, math.ceil(math.ceil(n_train / self.batch_size) / self.grad_accum))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["keys"] = list(self.keys) if self.keys is not None else None
        return d


@define(frozen=True)
class ProgressEvent:
    """One training step, for progress bars. ``val_*`` are set on evaluation steps only."""

    step: int
    total: int
    loss: float
    lr: float
    tokens_per_second: float
    peak_memory_gb: float
    eta_seconds: float
    epoch: float
    val_loss: float | None = None
    val_auroc: float | None = None
    is_best: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@define(frozen=True)
class TrainResult:
    """What :func:`~clinpred.core.llm.training.train_lora` did.

    ``adapter_dir`` holds the kept adapter (best by validation, else the last). ``train_losses``
    has one entry per step (1..steps_done); ``evaluations`` one dict per validation
    (step, val_loss, val_auroc).
    """

    adapter_dir: Path
    steps_done: int
    total_steps: int
    best_step: int
    best_val_loss: float | None
    best_val_auroc: float | None
    select_metric: str
    stopped_early: bool
    train_losses: tuple[float, ...]
    evaluations: tuple[dict[str, Any], ...]
    seconds: float
    trained_tokens: int
    resumed_from: int = 0
    notes: tuple[str, ...] = ()  # which fast paths were used, or why not

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["adapter_dir"] = str(self.adapter_dir)
        d["train_losses"] = list(self.train_losses)
        d["evaluations"] = [dict(e) for e in self.evaluations]
        d["notes"] = list(self.notes)
        return d
