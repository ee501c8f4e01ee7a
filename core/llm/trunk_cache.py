"""Frozen-trunk caching for LoRA training: when only the top blocks are trained, the hidden
states entering the first trained block are a fixed function of each example's tokens, so they
are computed once (per training and validation example) and every step runs the top blocks only.

Valid when nothing below the first trained block is trainable (no adapter, embedding or norm
parameter) and nothing there is stochastic (no dropout module with p > 0); LoRA dropout inside
the trained blocks is fine. The masks, rope positions and any embedding scaling come from the
model's own forward (:func:`clinpred.core.weights.mlx_compat.blocks_fed`), and one batch is checked
numerically against the plain forward before the cache is used. Otherwise, or when the states
would not fit the memory budget, training takes the plain path and the reason is recorded.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from attrs import define

from clinpred.core.errors import TrainingError
from clinpred.core.llm import label_head
from clinpred.core.llm.batches import make_batch
from clinpred.core.llm.training_config import TrainItem
from clinpred.core.weights import mlx_compat

#: max |difference| allowed between cached and plain logits in the check (float32 weights)
CHECK_ATOL = 1e-3


@define
class TrunkCache:
    """States ``(N, L_max, D)`` entering block ``start`` for the training and validation items
    (rows zero-padded after each item's end of turn, ``trained_end``)."""

    start: int
    train: Any
    val: Any | None
    note: str

    def batch(self, which: str, idx: Sequence[int], length: int) -> Any:
        """The states of items ``idx`` cut to ``length`` positions, ``(B, length, D)``."""
        import mlx.core as mx

        states = self.train if which == "train" else self.val
        return mx.take(states, mx.array([int(i) for i in idx], dtype=mx.int32), axis=0)[:, :length]


def _reason_not_valid(model: Any, start: int) -> str | None:
    """Why the trunk below block ``start`` cannot be cached (None when it can)."""
    if start <= 0:
        return "LoRA covers every block"
    if mlx_compat.blocks_owner(model) is None:
        return "the architecture keeps its blocks outside model.model.layers"
    top = {f"layers.{i}." for i in range(start, len(model.layers))}
    for name in mlx_compat.trainable_parameters(model):
        if name.startswith(f"{label_head.ATTRIBUTE}."):
            continue  # a label head reads the final states: it is above every block
        if not any(f".{t}" in f".{name}" for t in top):
            return f"a parameter below the trained blocks is trained ({name})"
    lower = [model.layers[i] for i in range(start)]
    others = [m for key, m in model.model.items() if key != "layers" and hasattr(m, "named_modules")]
    for module in lower + others:
        for _name, sub in module.named_modules():
            if "Dropout" in type(sub).__name__ and getattr(sub, "_p_1", 1.0) < 1.0:
                return "a dropout layer below the trained blocks is stochastic in training"
    return None


def _states(model: Any, items: Sequence[TrainItem], start: int, batch_size: int,
            on_batch: Callable[[int], None] | None = None) -> Any:
    """``(N, L_max, D)`` states entering block ``start``, in the order of ``items``
    (``on_batch(n)`` after each batch of ``n`` items)."""
    import mlx.core as mx


    width = max(it.example.trained_end for it in items)
    order = sorted(range(len(items)), key=lambda i: items[i].example.trained_end)
    rows: dict[int, Any] = {}
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        b = make_batch([items[i] for i in idx], [1.0] * len(idx), end_of_turn=1.0)
        hidden = mlx_compat.hidden_entering(model, mx.array(b["tokens"]), start)
        hidden = mx.pad(hidden, [(0, 0), (0, width - hidden.shape[1]), (0, 0)])
        mx.eval(hidden)
        for r, i in enumerate(idx):
            n = items[i].example.trained_end
            rows[i] = mx.concatenate([hidden[r, :n], mx.zeros((width - n, hidden.shape[2]), hidden.dtype)]) \
                if n < width else hidden[r]
        if on_batch is not None:
            on_batch(len(idx))
    out = mx.stack([rows[i] for i in range(len(items))])
    mx.eval(out)
    return out


def _check(model: Any, items: Sequence[TrainItem], states: Any, start: int) -> float:
    """Max |logit difference| between the cached and the plain forward on the first items."""
    import mlx.core as mx


    sample = list(items[: min(4, len(items))])
    b = make_batch(sample, [1.0] * len(sample))
    tokens, flat = mx.array(b["tokens"]), mx.array(b["flat"])
    plain = mlx_compat.logits_at(model, tokens, flat)
    cached = mlx_compat.logits_at(model, tokens, flat, hidden=states[: len(sample), : tokens.shape[1]], start=start)
    return float(mx.abs(plain.astype(mx.float32) - cached.astype(mx.float32)).max().item())


def prepare(model: Any, train: Sequence[TrainItem], val: Sequence[TrainItem], *, lora_layers: int,
            enabled: bool, budget_mb: float, batch_size: int, passes: int,
            on_progress: Callable[[int, int], None] | None = None) -> tuple[TrunkCache | None, str]:
    """The trunk cache for ``model`` (adapters already applied), or None and why not.

    ``on_progress(done, total)`` counts the examples whose states are built (for the live display).

    ``passes``: training examples the run will process (steps x micro-batches x batch size).
    Building the cache costs one pass of the lower blocks over every item, so a training of
    less than one epoch takes the plain path.
    """
    import mlx.core as mx

    if not enabled:
        return None, "frozen-trunk cache: off (switched off)"
    if passes < len(train):
        return None, "frozen-trunk cache: off (less than one epoch: building it would cost more than it saves)"
    start = len(model.layers) - lora_layers
    reason = _reason_not_valid(model, start)
    if reason is not None:
        return None, f"frozen-trunk cache: off ({reason})"
    was_training = model.training
    model.eval()
    try:
        probe = mlx_compat.hidden_entering(model, mx.array([[1, 2]], dtype=mx.int32), start)
        width = max(it.example.trained_end for it in list(train) + list(val))
        need_mb = (len(train) + len(val)) * width * probe.shape[-1] * probe.dtype.size / 2**20
        if need_mb > budget_mb:
            return None, (f"frozen-trunk cache: off (the states would take {need_mb:.0f} MB > "
                          f"trunk_cache_mb = {budget_mb:g})")
        total, done = len(train) + len(val), [0]

        def advance(n: int) -> None:
            done[0] += n
            if on_progress is not None:
                on_progress(done[0], total)

        if on_progress is not None:
            on_progress(0, total)
        train_states = _states(model, train, start, batch_size, advance)
        val_states = _states(model, val, start, batch_size, advance) if val else None
        diff = _check(model, train, train_states, start)
        tol = CHECK_ATOL if probe.dtype == mx.float32 else 5e-2
        if not diff <= tol:
            return None, (f"frozen-trunk cache: off (this architecture's blocks need more than the "
                          f"hidden state: logits differ by {diff:.2g})")
    except TrainingError as exc:
        return None, f"frozen-trunk cache: off ({exc})"
    finally:
        model.train(was_training)
    note = f"frozen-trunk cache: on (blocks 0-{start - 1} of {len(model.layers)} run once per example, {need_mb:.0f} MB)"
    return TrunkCache(start=start, train=train_states, val=val_states, note=note), note
