"""The LoRA fine-tune's hyperparameters, declared once (model_configs.toml keys of ``[[models]]``).

Keys follow the original study (``lora_rank``, ``lora_alpha``, ``learning_rate``, ``num_iters``,
``batch_size``) plus clinpred's additions. ``lora_alpha`` is PEFT-style: mlx-lm's LoRA ``scale``
multiplies the update directly, so clinpred passes ``scale = lora_alpha / lora_rank`` (rank 16,
alpha 32 -> scale 2.0). The trainer's :class:`~clinpred.core.llm.training_config.TrainConfig`
is built from these values by :meth:`LoraParams.train_config` (its field names are the
trainer's; the mapping lives here and nowhere else).
"""

from __future__ import annotations

from typing import Any

from attrs import define

from clinpred.core import bounds as B
from clinpred.core.llm.training_config import OBJECTIVES, SELECT_METRICS
from clinpred.core.params import declared, param

PRECISIONS = ("auto", "float32", "bfloat16", "float16", "quantized")
#: where the label objective's margin comes from: the LM head's label-token rows, or a linear head
#: started from the frozen model's probe (LP-FT)
HEADS = ("lm", "probe")



@define(frozen=True)
class LoraParams:
    """LoRA fine-tuning of an LLM (``[[models]]`` keys)."""

    lora_rank: int = param(8, kind=int, bound=B.LORA_RANK, searchable=True, help="LoRA rank r (8 or 16 are usual)")
    lora_alpha: float = param(16.0, kind=float, bound=B.LORA_ALPHA, searchable=True,
                              help="PEFT-style alpha; the update is scaled by alpha / rank")
    lora_dropout: float = param(0.0, kind=float, bound=B.DROPOUT, searchable=True, help="dropout on the LoRA input")
    lora_layers: int = param(8, kind=int, bound=B.LORA_LAYERS, searchable=True,
                             help="the last N transformer blocks get adapters (more than the model has: all)")
    learning_rate: float = param(1e-4, kind=float, bound=B.LEARNING_RATE, searchable=True,
                                 help="peak learning rate (AdamW; linear warmup, cosine decay)")
    num_iters: int | None = param(None, kind=int, bound=B.NUM_ITERS, searchable=True,
                                  help="optimizer steps (unset: epochs, or one epoch)")
    epochs: float | None = param(None, kind=float, bound=B.EPOCHS, searchable=True,
                                 help="passes over the training part (num_iters wins when both are set)")
    batch_size: int = param(4, kind=int, bound=B.BATCH_SIZE, help="examples per micro-batch")
    grad_accum: int = param(1, kind=int, bound=B.GRAD_ACCUM, help="micro-batches per optimizer step")
    warmup: float = param(0, kind=float, bound=B.WARMUP, searchable=True,
                          help="warmup steps, or a fraction (< 1) of all steps")
    weight_decay: float = param(0.0, kind=float, bound=B.WEIGHT_DECAY, searchable=True, help="AdamW weight decay")
    grad_checkpoint: bool = param(False, kind=bool, help="recompute activations in the backward pass (less memory)")
    dora: bool = param(False, kind=bool, help="DoRA instead of LoRA")
    eval_every: int | None = param(None, kind=int, bound=B.EVAL_EVERY,
                                   help="steps between validations (unset: once per epoch)")
    early_stopping_patience: int | None = param(None, kind=int, bound=B.PATIENCE,
                                                help="validations without improvement before stopping (0: off)")
    max_seq_len: int | None = param(None, kind=int, bound=B.MAX_SEQ_LEN, help="refuse longer training texts")
    precision: str = param("auto", kind=str, choices=PRECISIONS,
                           help="weights' precision (auto: float32 on a CPU, quantized kept on Metal/CUDA)")
    score_batch_size: int = param(8, kind=int, bound=B.BATCH_SIZE, help="patients per scoring forward pass")
    frozen_trunk_cache: bool = param(True, kind=bool,
                                     help="compute the frozen blocks' states once per example (same numbers, faster)")
    prefix_cache: bool = param(True, kind=bool, help="share the prompt prefix's KV cache when scoring (same numbers)")
    objective: str = param("answer-token", kind=str, choices=OBJECTIVES, searchable=True,
                           help="answer-token: cross-entropy on the answer token; label: TabLLM's choice loss "
                                "on the label tokens")
    end_of_turn_weight: float = param(1.0, kind=float, bound=B.LOSS_WEIGHT,
                                      help="weight of the end-of-turn tokens after the answer (0: not trained)")
    unlikelihood_weight: float = param(0.0, kind=float, bound=B.LOSS_WEIGHT, searchable=True,
                                       help="TabLLM's unlikelihood term on the wrong label (label objective; 0: off)")
    label_mass_weight: float = param(0.5, kind=float, bound=B.LOSS_WEIGHT, searchable=True,
                                     help="weight of the label tokens' share of the vocabulary (label objective)")
    select_metric: str = param("auroc", kind=str, choices=SELECT_METRICS,
                               help="the kept adapter: best validation auroc, loss, log_loss, or the last")
    head: str = param("lm", kind=str, choices=HEADS,
                      help="label objective's head: lm (the label tokens' rows of the LM head) or probe "
                           "(LP-FT: a linear head started from a probe of the frozen model; P(yes) is the head's)")

    @property
    def lpft(self) -> bool:
        """LP-FT: ``head = "probe"`` with the label objective (with ``answer-token`` the key does not
        apply: that objective has no head, so a search may still try it)."""
        return self.head == "probe" and self.objective == "label"

    def train_config(self, *, seed: int, **overrides: Any) -> Any:
        """The trainer's settings (``num_iters`` wins over ``epochs``)."""
        from clinpred.core.llm.training_config import TrainConfig

        kwargs: dict[str, Any] = dict(
            rank=self.lora_rank, alpha=self.lora_alpha, dropout=self.lora_dropout, lora_layers=self.lora_layers,
            learning_rate=self.learning_rate, iters=self.num_iters,
            epochs=None if self.num_iters is not None else self.epochs, batch_size=self.batch_size,
            grad_accum=self.grad_accum, warmup=self.warmup, weight_decay=self.weight_decay,
            grad_checkpoint=self.grad_checkpoint, dora=self.dora, eval_every=self.eval_every,
            early_stopping_patience=self.early_stopping_patience, max_seq_len=self.max_seq_len,
            frozen_trunk_cache=self.frozen_trunk_cache, objective=self.objective,
            end_of_turn_weight=self.end_of_turn_weight, unlikelihood_weight=self.unlikelihood_weight,
            label_mass_weight=self.label_mass_weight, select_metric=self.select_metric, seed=seed)
        kwargs.update(overrides)
        return TrainConfig(**kwargs)


#: hyperparameters a nested search may vary, and which of them are integers (from the declaration)
SEARCHABLE = tuple(name for name, info in declared(LoraParams).items() if info.searchable)
INTEGER = tuple(name for name, info in declared(LoraParams).items() if info.kind is int)
