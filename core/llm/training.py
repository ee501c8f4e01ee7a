"""Prompt-masked LoRA fine-tuning on mlx (our own loop on mlx-lm's LoRA layers).

mlx-lm's trainer cannot stop early, keep the best adapter or batch without dropping examples,
so the loop is here. The loss covers the answer span of each
:class:`~clinpred.core.llm.rendering.TokenizedExample` (``ids[answer_start:answer_end]``, by the
config's objective, :mod:`~clinpred.core.llm.objectives`) and its end-of-turn span
(``ids[answer_end:turn_end]``, cross-entropy at ``end_of_turn_weight``), each token predicted from
the position just before it; nothing of the prompt is trained, and logits are computed only at
those positions.

Files in ``out_dir``: ``adapters.safetensors`` + ``adapter_config.json`` (the kept adapter,
loadable by ``mlx_lm.load(model, adapter_path=out_dir)``) and ``checkpoint/checkpoint.safetensors``
(last adapter weights + optimizer state + loop state as metadata, for ``resume``). Every file is
written atomically.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from clinpred.core.errors import TrainingError
from clinpred.core.llm import label_head, trunk_cache
from clinpred.core.llm.batches import answer_targets, make_batch, micro_batch_indices
from clinpred.core.llm.objectives import batch_loss
from clinpred.core.llm.training_config import SPEED_ONLY, ProgressEvent, TrainConfig, TrainItem, TrainResult
from clinpred.core.llm.training_eval import evaluate_all, label_ids_for
from clinpred.core.weights import mlx_compat

__all__ = ["TrainConfig", "TrainItem", "ProgressEvent", "TrainResult", "train_lora",
           "answer_targets", "make_batch", "micro_batch_indices", "lr_at"]

CHECKPOINT = "checkpoint/checkpoint.safetensors"


def lr_at(cfg: TrainConfig, step: int, total: int) -> float:
    """Learning rate of step ``step`` (1-based): linear warmup, then cosine to the minimum."""
    warm = cfg.warmup_steps(total)
    if warm and step <= warm:
        return cfg.learning_rate * step / warm
    progress = min(1.0, max(0.0, (step - warm - 1) / max(1, total - warm)))
    low = cfg.learning_rate * cfg.min_lr_ratio
    return low + 0.5 * (cfg.learning_rate - low) * (1 + math.cos(math.pi * progress))


def _item_weights(cfg: TrainConfig, train: Sequence[TrainItem]) -> list[float]:
    if cfg.class_weight == "none":
        return [float(it.weight) for it in train]
    labels = [int(it.label) for it in train]
    counts = {c: labels.count(c) for c in set(labels)}
    return [float(it.weight) * len(labels) / (len(counts) * counts[int(it.label)]) for it in train]


def _fingerprint(cfg: TrainConfig, train: Sequence[TrainItem], head: Any = None) -> str:
    settings = {k: v for k, v in cfg.to_dict().items() if k not in SPEED_ONLY}
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    if head is not None:
        weight, bias = label_head.head_arrays(head)
        h.update(weight.tobytes() + repr(bias).encode())
    for it in train:
        h.update(repr((it.example.ids, it.example.answer_start, it.example.answer_end, it.example.turn_end,
                       int(it.label), float(it.weight))).encode())
    return h.hexdigest()


def _check_items(items: Sequence[TrainItem], what: str) -> list[TrainItem]:
    out = []
    for i, raw in enumerate(items):
        it = TrainItem(*raw)
        ex = it.example
        if not (0 < ex.answer_start < ex.answer_end <= ex.trained_end <= len(ex.ids)):
            raise TrainingError(f"{what} item {i}: the answer span {ex.answer_start}:{ex.answer_end} "
                                f"(end of turn {ex.trained_end}) is empty or outside its {len(ex.ids)} tokens; "
                                "tokenize with tokenize_checked")
        if int(it.label) not in (0, 1) or not (it.weight >= 0):
            raise TrainingError(f"{what} item {i}: label must be 0 or 1 and weight >= 0")
        out.append(it)
    return out


def _better(cfg: TrainConfig, metric: str, new: dict[str, Any], best: dict[str, Any] | None) -> bool:
    if best is None:
        return True
    if metric == "auroc":
        return (new["val_auroc"], -new["val_loss"]) > (best["val_auroc"], -best["val_loss"])
    if metric == "log_loss":
        return new["val_log_loss"] < best["val_log_loss"]
    if metric == "last":
        return True
    return new["val_loss"] < best["val_loss"]


def train_lora(
    model: Any,
    tokenizer: Any,
    train: Sequence[TrainItem],
    val: Sequence[TrainItem],
    cfg: TrainConfig,
    out_dir: Path,
    *,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    on_cache_progress: Callable[[int, int], None] | None = None,
    resume: bool = False,
    positive: str | None = None,
    negative: str | None = None,
    head: Any = None,
) -> TrainResult:
    """Add LoRA adapters to ``model`` (in place) and train them on ``train``'s answer spans.

    ``val`` (may be empty) drives validation, best-adapter selection and early stopping; the
    label tokens for validation AUROC are the first answer tokens seen per class plus, given
    ``positive`` and ``negative`` answer words, their case/space variants (as in scoring). On return
    the model holds the kept (best) adapter weights. With ``resume`` a matching checkpoint in
    ``out_dir`` is continued (the same seed gives the same curve as an uninterrupted run).
    ``head`` (label objective only, :mod:`clinpred.core.llm.label_head`) is trained with the adapter
    and gives the label margin; on return it holds the kept weights, also saved in ``out_dir``.
    """
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    from mlx.utils import tree_map, tree_unflatten

    train = _check_items(train, "training")
    val = _check_items(val, "validation")
    if not train:
        raise TrainingError("no training examples; check the training split")
    out_dir = Path(out_dir)
    total = cfg.total_steps(len(train))
    per_epoch = math.ceil(len(train) / cfg.batch_size)
    eval_every = cfg.eval_every or cfg.steps_per_epoch(len(train))
    weights = _item_weights(cfg, train)
    metric = cfg.select_metric
    if metric in ("auroc", "log_loss") and len({int(it.label) for it in val}) < 2:
        metric = "loss"  # AUROC is undefined with one class in validation, and label ids may be
    if cfg.max_seq_len is not None:
        long = sum(it.example.trained_end > cfg.max_seq_len for it in train + val)
        if long:
            raise TrainingError(f"{long} examples are longer than max_seq_len = {cfg.max_seq_len} tokens; "
                                "raise max_seq_len or shorten the prompt (e.g. fewer features)")
    words = (positive, negative) if positive is not None and negative is not None else None
    label_ids = label_ids_for(tokenizer, train + val, words) if val or cfg.objective == "label" else None
    if cfg.objective == "label" and label_ids is None:
        raise TrainingError("the label objective needs both classes among the training examples")
    written = label_ids_for(tokenizer, train, None) if cfg.objective == "label" else None
    answer_ids = None if written is None else written[0] + written[1]  # the answer tokens as rendered

    mx.random.seed(cfg.seed)
    config = mlx_compat.adapter_config(num_layers=cfg.lora_layers, rank=cfg.rank, scale=cfg.scale,
                                       dropout=cfg.dropout, dora=cfg.dora, keys=cfg.keys)
    mlx_compat.apply_lora(model, config)
    if head is not None:
        if cfg.objective != "label":
            raise TrainingError("a label head needs objective = \"label\"")
        setattr(model, label_head.ATTRIBUTE, head)
        head.unfreeze()
    optimizer = optim.AdamW(learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay)
    fingerprint = _fingerprint(cfg, train, head)
    state: dict[str, Any] = {"step": 0, "best": None, "bad_evals": 0, "losses": [], "evals": [],
                             "stopped_early": False, "trained_tokens": 0, "fingerprint": fingerprint}
    ckpt = out_dir / CHECKPOINT
    if resume and ckpt.is_file():
        state = _load_checkpoint(ckpt, model, optimizer, fingerprint, tree_unflatten)
    resumed_from = state["step"]
    saved_step: list[int | None] = [resumed_from or None]  # the step the checkpoint on disk holds
    started = time.perf_counter()  # building the trunk cache counts as training time
    trunk, trunk_note = trunk_cache.prepare(
        model, train, val, lora_layers=cfg.lora_layers, enabled=cfg.frozen_trunk_cache,
        budget_mb=cfg.trunk_cache_mb, batch_size=cfg.eval_batch_size,
        passes=(total - resumed_from) * cfg.grad_accum * cfg.batch_size, on_progress=on_cache_progress)
    start = trunk.start if trunk is not None else 0

    def loss_fn(model: Any, tokens: Any, flat: Any, batch: dict[str, Any], *hidden: Any) -> Any:
        states = hidden[0] if hidden else None
        margin = None
        if head is None:
            logits = mlx_compat.logits_at(model, tokens, flat, hidden=states, start=start)
        else:
            logits, picked = mlx_compat.logits_and_states_at(model, tokens, flat, hidden=states, start=start)
            margin = model[label_head.ATTRIBUTE](picked)
        return batch_loss(logits, batch, objective=cfg.objective, label_ids=label_ids,
                          mass=cfg.label_mass_weight, unlikelihood=cfg.unlikelihood_weight,
                          answer_ids=answer_ids, margin=margin)

    grad_fn = nn.value_and_grad(model, loss_fn)

    def save_checkpoint() -> None:
        arrays = {f"adapter/{k}": v for k, v in mlx_compat.trainable_parameters(model).items()}
        from mlx.utils import tree_flatten
        arrays.update({f"optimizer/{k}": v for k, v in tree_flatten(optimizer.state)})
        mlx_compat.atomic_save_safetensors(ckpt, arrays, {"state": json.dumps(state)})
        saved_step[0] = state["step"]

    step_times: list[float] = []
    in_step = False
    try:
        with mlx_compat.grad_checkpointing(model, cfg.grad_checkpoint):
            while state["step"] < total and not state["stopped_early"]:
                step = state["step"] + 1
                tic = time.perf_counter()
                in_step = True
                model.train()
                mx.random.seed(cfg.seed * 1_000_003 + step)  # dropout masks: a function of the step
                lr = lr_at(cfg, step, total)
                optimizer.learning_rate = lr
                grads, loss_sum, n_answer, n_tokens = None, 0.0, 0, 0
                for m in range(cfg.grad_accum):
                    idx = micro_batch_indices(len(train), cfg.batch_size, cfg.seed,
                                              (step - 1) * cfg.grad_accum + m)
                    b = make_batch([train[i] for i in idx], [weights[i] for i in idx],
                                   end_of_turn=cfg.end_of_turn_weight)
                    extra = () if trunk is None else (trunk.batch("train", idx, b["tokens"].shape[1]),)
                    arrays = {k: mx.array(b[k]) for k in ("targets", "weights", "first", "label")}
                    value, g = grad_fn(model, mx.array(b["tokens"]), mx.array(b["flat"]), arrays, *extra)
                    grads = g if grads is None else tree_map(lambda x, y: x + y, grads, g)
                    mx.eval(grads, value)
                    loss_sum += value.item()
                    n_answer += b["n_answer"]
                    n_tokens += b["n_tokens"]
                grads = tree_map(lambda x: x / n_answer, grads)
                if cfg.max_grad_norm is not None:
                    grads, _ = optim.clip_grad_norm(grads, cfg.max_grad_norm)
                optimizer.update(model, grads)
                mx.eval(model.trainable_parameters(), optimizer.state)
                state["step"] = step
                state["losses"].append(loss_sum / n_answer)
                state["trained_tokens"] += n_tokens
                elapsed = time.perf_counter() - tic
                step_times.append(elapsed)

                event: dict[str, Any] = {}
                if val and (step % eval_every == 0 or step == total):
                    event = _validate(model, val, label_ids, cfg, metric, state, out_dir, config, trunk)
                if step % cfg.save_every == 0 or step == total or event or state["stopped_early"]:
                    save_checkpoint()
                in_step = False  # step, validation and checkpoint are complete
                if on_progress is not None:
                    on_progress(ProgressEvent(
                        step=step, total=total, loss=state["losses"][-1], lr=lr,
                        tokens_per_second=n_tokens / max(elapsed, 1e-9),
                        peak_memory_gb=mx.get_peak_memory() / 1e9,
                        eta_seconds=float(np.mean(step_times[-20:])) * (total - step),
                        epoch=step * cfg.grad_accum / per_epoch, checkpoint_step=saved_step[0], **event))
    except KeyboardInterrupt:
        if not in_step and state["step"] > resumed_from:
            save_checkpoint()  # interrupted between steps (e.g. in on_progress): the state is consistent
        raise

    best = state["best"]
    if best is None or metric == "last":  # no validation, or a fixed budget: keep the last adapter
        _save_kept(model, out_dir, config)
    else:
        weights_best = mx.load(str(out_dir / mlx_compat.ADAPTER_WEIGHTS))
        if head is not None:
            weights_best.update({f"{label_head.ATTRIBUTE}.{k}": v
                                 for k, v in mx.load(str(out_dir / label_head.HEAD_FILE)).items()})
        mlx_compat.set_parameters(model, weights_best)
    if head is not None:
        del model[label_head.ATTRIBUTE]
    model.eval()
    return TrainResult(
        adapter_dir=out_dir, steps_done=state["step"], total_steps=total,
        best_step=best["step"] if best else state["step"],
        best_val_loss=best["val_loss"] if best else None,
        best_val_auroc=best.get("val_auroc") if best else None,
        select_metric=metric, stopped_early=state["stopped_early"],
        train_losses=tuple(state["losses"]), evaluations=tuple(state["evals"]),
        seconds=time.perf_counter() - started, trained_tokens=state["trained_tokens"],
        resumed_from=resumed_from, notes=(trunk_note,),
    )


def _validate(model: Any, val: list[TrainItem], label_ids: Any, cfg: TrainConfig, metric: str,
              state: dict[str, Any], out_dir: Path, config: dict[str, Any],
              trunk: trunk_cache.TrunkCache | None) -> dict[str, Any]:
    """Evaluate, record, keep the best adapter and update early stopping; the ProgressEvent fields."""
    hidden = None if trunk is None else (trunk.val, trunk.start)
    scores = evaluate_all(model, val, label_ids, cfg.eval_batch_size, hidden=hidden)
    record = {"step": state["step"], "val_loss": scores["val_loss"],
              "val_auroc": None if math.isnan(scores["val_auroc"]) else scores["val_auroc"],
              "val_log_loss": None if math.isnan(scores["val_log_loss"]) else scores["val_log_loss"]}
    state["evals"].append(record)
    is_best = _better(cfg, metric, record, state["best"])
    if is_best:
        state["best"] = record
        state["bad_evals"] = 0
        if metric != "last":  # a fixed budget saves the last adapter at the end
            _save_kept(model, out_dir, config)
    else:
        state["bad_evals"] += 1
        if cfg.early_stopping_patience and state["bad_evals"] >= cfg.early_stopping_patience:
            state["stopped_early"] = True
    return {"val_loss": record["val_loss"], "val_auroc": record["val_auroc"], "is_best": is_best}


def _save_kept(model: Any, out_dir: Path, config: dict[str, Any]) -> None:
    """The adapter in mlx-lm's layout and, when one is attached, the label head beside it."""
    prefix = f"{label_head.ATTRIBUTE}."
    params = mlx_compat.trainable_parameters(model)
    mlx_compat.save_adapters(model, out_dir, config, weights={k: v for k, v in params.items() if not k.startswith(prefix)})
    if label_head.ATTRIBUTE in model:
        label_head.save_head(model[label_head.ATTRIBUTE], out_dir)


def _load_checkpoint(path: Path, model: Any, optimizer: Any, fingerprint: str, tree_unflatten: Any) -> dict[str, Any]:
    import mlx.core as mx

    arrays, meta = mx.load(str(path), return_metadata=True)
    state = json.loads(meta["state"])
    if state.get("fingerprint") != fingerprint:
        raise TrainingError(
            f"the checkpoint in {path.parent} was written with other training settings or data; "
            "delete it or train without resume"
        )
    mlx_compat.set_parameters(model, {k[len("adapter/"):]: v for k, v in arrays.items() if k.startswith("adapter/")})
    optimizer.state = tree_unflatten([(k[len("optimizer/"):], v) for k, v in arrays.items()
                                      if k.startswith("optimizer/")])
    return state
