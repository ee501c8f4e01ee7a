"""One trial of a nested search: LoRA training on an inner training part with trial
hyperparameters, judged on the inner validation part.

A trial is a unit of its own: :class:`TrialSpec` (inner indices, parameters, seed, base
hyperparameters, objective) fully determines its result, carries a fingerprint, and its
result is one JSON file written atomically, so an interrupted search resumes from its completed
trials and an executor can run trials elsewhere. Training is :func:`train_lora` as in a normal
unit: validation AUROC (or loss) every ``eval_every`` steps, the best checkpoint kept, early
stopping by ``early_stopping_patience``; the trial's value is that best validation value.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from attrs import define, field

from clinpred.core.errors import ClinpredError
from clinpred.core.events import EventSink


def _indices(value: Any) -> tuple[int, ...]:
    return tuple(int(i) for i in np.asarray(value).reshape(-1))


@define(frozen=True)
class TrialSpec:
    """Everything that determines one trial's result."""

    number: int
    params: dict[str, Any] = field(hash=False)
    seed: int
    inner_train: tuple[int, ...] = field(converter=_indices)
    inner_val: tuple[int, ...] = field(converter=_indices)
    weights: tuple[float, ...] | None = field(default=None, converter=lambda v: None if v is None else tuple(float(x) for x in v))
    base: dict[str, Any] = field(factory=dict, hash=False)
    objective: str = "val_auroc"
    search: dict[str, Any] = field(factory=dict, hash=False)  # SearchConfig.to_dict()

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return {**self.base, **self.params}

    def fingerprint(self) -> str:
        body = {"params": self.params, "seed": self.seed, "train": self.inner_train, "val": self.inner_val,
                "weights": self.weights, "base": self.base, "objective": self.objective, "search": self.search}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


class TrialPruned(Exception):
    """Raised from the progress callback when the pruner stops a trial."""


@define
class TrialContext:
    """What a trial needs from its surroundings (the same for every trial of a search)."""

    load: Callable[[], Any]  # -> LoadedModel (a fresh model: LoRA is added in place)
    book: Callable[[Any], Any]  # tokenizer -> PromptBook
    labels: np.ndarray
    positive: str
    negative: str
    emit: EventSink
    unit: str


def objective_value(result: Any, objective: str) -> float | None:
    """The trial's value: the best validation AUROC or answer loss that training kept."""
    value = result.best_val_auroc if objective == "val_auroc" else result.best_val_loss
    return None if value is None else float(value)


def _lpft_head(params: Any, spec: TrialSpec, loaded: Any, book: Any, labels: np.ndarray) -> Any:
    """LP-FT's start for a trial: the probe of the frozen model on the inner training part (once
    per patient; class-weighted when the trial's examples are)."""
    from clinpred.core.llm.label_head import probe_head

    train = np.unique(np.asarray(spec.inner_train, dtype=int))
    head, _ = probe_head(loaded.model, loaded.tokenizer, [book.scoring_prompt(int(i)) for i in train], labels[train],
                         seed=spec.seed, class_weight="balanced" if spec.weights is not None else None,
                         batch_size=params.score_batch_size, prefix_cache=params.prefix_cache)
    return head


def run_trial(spec: TrialSpec, ctx: TrialContext, work_dir: Path,
              report: Callable[[int, float], bool] | None = None) -> dict[str, Any]:
    """Train and judge one trial; ``report(step, value)`` gets each validation value and returns
    True to prune. Returns the trial record (``state`` complete, pruned or failed)."""
    from clinpred.core.llm.llm_unit import fit_layers
    from clinpred.core.llm.lora_params import LoraParams
    from clinpred.core.llm.training import TrainItem, train_lora
    from clinpred.core.params import build_params

    start = time.perf_counter()
    loaded = ctx.load()
    book = ctx.book(loaded.tokenizer)
    labels = ctx.labels
    params = build_params(LoraParams, spec.hyperparameters, f"search trial {spec.number}")
    params = fit_layers(params, frozenset(spec.params), len(loaded.model.layers), ctx.emit, ctx.unit)
    weights = spec.weights

    def items(indices: tuple[int, ...], w: tuple[float, ...] | None) -> list[Any]:
        return [TrainItem(book.example(i, bool(labels[i])), int(labels[i]), w[k] if w is not None else 1.0)
                for k, i in enumerate(indices)]

    cfg = params.train_config(seed=spec.seed)
    if spec.objective == "val_loss":
        import attrs

        cfg = attrs.evolve(cfg, select_metric="loss")
    intermediate: dict[int, float] = {}

    def on_progress(progress: Any) -> None:
        value = progress.val_auroc if spec.objective == "val_auroc" else progress.val_loss
        if value is None:
            return
        intermediate[int(progress.step)] = float(value)
        if report is not None and report(int(progress.step), float(value)):
            raise TrialPruned

    record: dict[str, Any] = {"number": spec.number, "params": dict(spec.params), "fingerprint": spec.fingerprint()}
    adapter_dir = work_dir / f"trial-{spec.number:03d}"
    shutil.rmtree(adapter_dir, ignore_errors=True)  # a trial interrupted mid-way starts over
    try:
        head = _lpft_head(params, spec, loaded, book, labels) if params.lpft else None
        result = train_lora(loaded.model, loaded.tokenizer, items(spec.inner_train, weights),
                            items(spec.inner_val, None), cfg, adapter_dir, on_progress=on_progress,
                            positive=ctx.positive, negative=ctx.negative, head=head)
    except TrialPruned:
        record.update(state="pruned", value=None)
    except (ClinpredError, ValueError, RuntimeError, MemoryError) as exc:
        record.update(state="failed", value=None, error=f"{type(exc).__name__}: {exc}")
    else:
        value = objective_value(result, spec.objective)
        record.update(state="complete" if value is not None else "failed", value=value,
                      best_step=result.best_step, steps_done=result.steps_done, total_steps=result.total_steps,
                      stopped_early=result.stopped_early, evaluations=[dict(e) for e in result.evaluations],
                      train_losses=list(result.train_losses))
        if value is None:
            record["error"] = "no validation value (one class in the inner validation part?)"
    finally:
        shutil.rmtree(adapter_dir, ignore_errors=True)  # trial adapters are not kept: only the record
    record.setdefault("evaluations", [{"step": s, spec.objective: v} for s, v in sorted(intermediate.items())])
    record["intermediate"] = {str(k): v for k, v in sorted(intermediate.items())}
    record["seconds"] = round(time.perf_counter() - start, 3)
    return record


def describe_trial(record: dict[str, Any], objective: str) -> str:
    """``search trial 3: learning_rate=0.0002, lora_rank=8 -> val_auroc 0.612`` (or its state)."""
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in record["params"].items())
    outcome = f"{objective} {record['value']:.3f}" if record.get("value") is not None else record["state"]
    return f"search trial {record['number']}: {params} -> {outcome}"
