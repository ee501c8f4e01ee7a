"""Training configuration and results (value types; no mlx import)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

from attrs import asdict, define, field

from clinpred.core import bounds as B
from clinpred.core.llm.rendering import TokenizedExample

CLASS_WEIGHTS = ("none", "balanced")
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


def _bounded(bound: B.Bound, hint: str = "", optional: bool = False, integer: bool = False):
    """A validator applying ``bound`` (the same bound as the model_configs.toml key, core/bounds.py)."""
    def check(instance: Any, attribute: Any, value: Any) -> None:
        if optional and value is None:
            return
        if integer and not isinstance(value, int) or not bound(value):
            what = "an integer" if integer else "a number"
            raise ValueError(f"training: {attribute.name} must be {what} {bound.meaning} (got {value!r})"
                             + (f"; {hint}" if hint else ""))
    return check


def _one_of(choices: tuple[str, ...]):
    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value not in choices:
            raise ValueError(f"training: {attribute.name} must be one of {list(choices)} (got {value!r})")
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

    rank: int = field(default=8, validator=_bounded(B.LORA_RANK, "typical values are 8 or 16", integer=True))
    alpha: float = field(default=16.0, validator=_bounded(B.LORA_ALPHA, "alpha / rank is the LoRA scale; try alpha = 2 * rank"))
    dropout: float = field(default=0.0, validator=_bounded(B.DROPOUT, "0.0 or 0.05 are usual"))
    lora_layers: int = field(default=8, validator=_bounded(B.LORA_LAYERS, "the number of last blocks that get adapters", integer=True))
    dora: bool = False
    keys: tuple[str, ...] | None = field(default=None, converter=lambda v: None if v is None else tuple(v))
    learning_rate: float = field(default=1e-4, validator=_bounded(B.LEARNING_RATE, "typical LoRA values are 1e-5 to 5e-4"))
    min_lr_ratio: float = field(default=0.0)
    warmup: float = field(default=0, validator=_bounded(B.WARMUP, "steps (>= 1) or a fraction of the steps (< 1); 0 for none"))
    weight_decay: float = field(default=0.0, validator=_bounded(B.WEIGHT_DECAY))
    max_grad_norm: float | None = None
    iters: int | None = field(default=None, validator=_bounded(B.NUM_ITERS, "or give epochs instead", optional=True, integer=True))
    epochs: float | None = field(default=None, validator=_bounded(B.EPOCHS, optional=True))
    batch_size: int = field(default=4, validator=_bounded(B.BATCH_SIZE, "lower it if memory runs out", integer=True))
    grad_accum: int = field(default=1, validator=_bounded(B.GRAD_ACCUM, "1 means no gradient accumulation", integer=True))
    grad_checkpoint: bool = False
    seed: int = field(default=0, validator=_bounded(B.SEED, integer=True))
    eval_every: int | None = field(default=None, validator=_bounded(B.EVAL_EVERY, "or leave it unset for once per epoch", optional=True, integer=True))
    early_stopping_patience: int | None = field(
        default=None, validator=_bounded(B.PATIENCE, "evaluations without improvement; 0 or unset is off", optional=True, integer=True))
    select_metric: str = field(default="auroc", validator=_one_of(SELECT_METRICS))
    objective: str = field(default="answer-token", validator=_one_of(OBJECTIVES))
    end_of_turn_weight: float = field(default=1.0, validator=_bounded(B.LOSS_WEIGHT, "1 trains the end of turn like the answer; 0 leaves it out"))
    unlikelihood_weight: float = field(default=0.0, validator=_bounded(B.LOSS_WEIGHT, "0 is off; TabLLM uses 1"))
    label_mass_weight: float = field(default=0.5, validator=_bounded(B.LOSS_WEIGHT, "0.5 is TabLLM's balance; 0 may stop generation answering"))
    class_weight: str = field(default="none", validator=_one_of(CLASS_WEIGHTS))
    save_every: int = field(default=10, validator=_bounded(B.Bound(1), "steps between resumable checkpoints", integer=True))
    eval_batch_size: int = field(default=8, validator=_bounded(B.BATCH_SIZE, "examples per validation forward pass", integer=True))
    max_seq_len: int | None = field(default=None, validator=_bounded(B.MAX_SEQ_LEN, "or leave it unset", optional=True, integer=True))
    frozen_trunk_cache: bool = True
    trunk_cache_mb: float = field(default=2048.0, validator=_bounded(B.Bound(0, low_open=True), "memory for the cached trunk states"))

    def __attrs_post_init__(self) -> None:
        if not (0 <= self.min_lr_ratio <= 1):
            raise ValueError(f"training: min_lr_ratio must be in [0, 1] (got {self.min_lr_ratio!r})")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ValueError(f"training: max_grad_norm must be > 0 or unset (got {self.max_grad_norm!r})")
        if self.iters is not None and self.epochs is not None:
            raise ValueError("training: give iters or epochs, not both")

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
    #: the step the resumable checkpoint on disk holds (what a resumed or retried unit continues from)
    checkpoint_step: int | None = None

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
