"""Nested hyperparameter search for one (LLM, outer split) unit, with Optuna.

The search sees the outer split's training part only: a stratified inner validation part is
carved from it, trials train on the rest (balanced as the run balances) and are judged on the
inner validation part (:mod:`clinpred.core.llm.search_trial`). The outer validation part (the
threshold) and the test part never reach a trial. The chosen values then train the unit itself.

Determinism: trial ``n`` is asked from a fresh study that holds the records of trials
``0..n-1`` and whose sampler is seeded with ``seed + n``. Its parameters are therefore a pure
function of the seed and the earlier results; an interrupted search resumed from its saved
trials gives the same trials and the same choice as an uninterrupted one (replaying trials into
one long-lived sampler would not: samplers advance their random state per suggestion).
Records are ``SEARCH_DIR/trial-NNN.json``, each written atomically with its fingerprint.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import numpy as np

from clinpred.core.atomic import write_json
from clinpred.core.errors import DataError, TrainingError, UserError
from clinpred.core.events import Event, EventSink
from clinpred.core.llm.search_space import ParamSpec, SearchConfig
from clinpred.core.llm.search_trial import TrialContext, TrialSpec, run_trial

INSTALL_HINT = "pip install 'clinpred[search]'"


def require_optuna() -> Any:
    """The optuna module, or one clear error naming the extra that installs it."""
    try:
        import optuna
    except ImportError:
        raise UserError(f"the hyperparameter search needs Optuna, which is not installed: {INSTALL_HINT}") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def inner_split(train_part: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(inner train, inner validation): a stratified carve of the outer training part."""
    from sklearn.model_selection import train_test_split

    part = np.sort(np.asarray(train_part, dtype=np.int64))
    y = np.asarray(labels)[part]
    counts = np.bincount(y, minlength=2)
    if counts.min() < 4:
        raise DataError(f"the search needs at least 4 patients of each class in each training part "
                        f"(found {int(counts.min())}); use more data or turn the search off")
    n_val = max(4, int(round(fraction * len(part))))
    train, val = train_test_split(part, test_size=n_val, stratify=y, random_state=seed)
    return np.sort(train), np.sort(val)


def balanced(indices: np.ndarray, labels: np.ndarray, balance: str, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The inner training indices balanced as the run balances its training parts."""
    from clinpred.core.data.splits import class_weights, oversample_minority

    if balance == "oversample":
        return np.asarray(oversample_minority(indices, labels, seed), dtype=np.int64), None
    if balance == "class-weight":
        w = class_weights(labels[indices])
        return indices, np.asarray([w[int(labels[i])] for i in indices], dtype=float)
    return indices, None


def distributions(cfg: SearchConfig) -> dict[str, Any]:
    """Optuna distributions of the searched parameters."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for p in cfg.params:
        if p.choices is not None:
            out[p.name] = CategoricalDistribution(list(p.choices))
        elif p.name in ("lora_rank", "lora_layers", "num_iters"):
            out[p.name] = IntDistribution(int(p.low), int(p.high), log=p.log)
        else:
            out[p.name] = FloatDistribution(float(p.low), float(p.high), log=p.log)
    return out


def grid_cells(cfg: SearchConfig, seed: int) -> list[dict[str, Any]]:
    """The grid's cells in a seeded order (trial ``n`` takes cell ``n``: each cell once, also after
    a resume, without depending on a sampler's state)."""
    import itertools

    names = [p.name for p in cfg.params]
    cells = [dict(zip(names, values)) for values in itertools.product(*(p.values for p in cfg.params))]
    order = np.random.default_rng(seed).permutation(len(cells))
    return [cells[i] for i in order]


def _sampler(cfg: SearchConfig, seed: int) -> Any:
    from optuna.samplers import RandomSampler, TPESampler

    if cfg.sampler == "random" or cfg.sampler == "grid":  # grid: the cell is enqueued, nothing is sampled
        return RandomSampler(seed=seed)
    # TPE models the results after a few random trials (optuna's default is 10, too many here)
    return TPESampler(seed=seed, n_startup_trials=max(2, min(10, cfg.trials // 2)))


def _study(cfg: SearchConfig, seed: int, records: list[dict[str, Any]]) -> Any:
    optuna = require_optuna()
    from optuna.pruners import MedianPruner, NopPruner
    from optuna.trial import TrialState, create_trial

    pruner = (MedianPruner(n_startup_trials=cfg.pruner_startup_trials, n_warmup_steps=0)
              if cfg.pruner == "median" else NopPruner())
    study = optuna.create_study(direction=cfg.direction, sampler=_sampler(cfg, seed), pruner=pruner)
    dists = distributions(cfg)
    states = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "failed": TrialState.FAIL}
    for r in records:
        study.add_trial(create_trial(
            state=states[r["state"]], value=r["value"] if r["state"] == "complete" else None,
            params=r["params"], distributions=dists,
            intermediate_values={int(k): v for k, v in (r.get("intermediate") or {}).items()}))
    return study


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def choose(records: list[dict[str, Any]], direction: str) -> dict[str, Any]:
    """The best complete trial (ties: the earliest)."""
    done = [r for r in records if r["state"] == "complete" and r["value"] is not None and math.isfinite(r["value"])]
    if not done:
        states = ", ".join(sorted({r["state"] for r in records})) or "none run"
        raise TrainingError(f"no search trial completed ({states}); widen the ranges, add trials or set pruner = \"none\"")
    sign = -1.0 if direction == "maximize" else 1.0
    return min(done, key=lambda r: (sign * r["value"], r["number"]))


def run_search(*, cfg: SearchConfig, load: Callable[[], Any], book: Callable[[Any], Any], labels: np.ndarray,
               train_part: np.ndarray, balance: str, hyper: dict[str, Any], seed: int, search_dir: Path,
               positive: str, negative: str, emit: EventSink, unit: str) -> dict[str, Any]:
    """Run (or resume) the search of one unit; the record for the unit file (``chosen`` values,
    the trials with their validation curves, the inner part sizes)."""
    require_optuna()
    search_dir = Path(search_dir)
    inner_train, inner_val = inner_split(train_part, labels, cfg.inner_val_fraction, seed)
    fit_idx, weights = balanced(inner_train, labels, balance, seed)
    base = {k: v for k, v in hyper.items() if k not in {p.name for p in cfg.params}}
    if any(p.name in ("num_iters", "epochs") for p in cfg.params):
        base = {k: v for k, v in base.items() if k not in ("num_iters", "epochs")}
    ctx = TrialContext(load=load, book=book, labels=np.asarray(labels), positive=positive, negative=negative,
                       emit=emit, unit=unit)
    dists = distributions(cfg)
    records: list[dict[str, Any]] = []
    cells = grid_cells(cfg, seed) if cfg.sampler == "grid" else None
    for number in range(cfg.trials):
        study = _study(cfg, seed + number, records)
        if cells is not None:
            study.enqueue_trial(cells[number])
        trial = study.ask(dists)
        params = {k: _plain(v) for k, v in trial.params.items()}
        spec = TrialSpec(number=number, params=params, seed=seed, inner_train=fit_idx, inner_val=inner_val,
                         weights=weights, base=base, objective=cfg.objective, search=cfg.to_dict())
        path = search_dir / f"trial-{number:03d}.json"
        saved = _read(path)
        if saved is not None and saved.get("fingerprint") == spec.fingerprint():
            emit(Event("message", unit, f"search trial {number}: already done"))
            records.append(saved)
            continue
        emit(Event("message", unit, f"search trial {number + 1}/{cfg.trials}"))

        def report(step: int, value: float, trial: Any = trial) -> bool:
            trial.report(value, step)
            return trial.should_prune()

        record = run_trial(spec, ctx, search_dir, report)
        write_json(path, record)
        records.append(record)
    best = choose(records, cfg.direction)
    return {
        "objective": cfg.objective, "direction": cfg.direction, "sampler": cfg.sampler, "pruner": cfg.pruner,
        "n_trials": cfg.trials, "space": cfg.to_dict()["params"], "chosen": dict(best["params"]),
        "best_trial": best["number"], "best_value": best["value"],
        "inner": {"train": int(len(inner_train)), "val": int(len(inner_val)),
                  "train_events": int(np.asarray(labels)[inner_train].sum()),
                  "val_events": int(np.asarray(labels)[inner_val].sum())},
        "trials": [{k: v for k, v in r.items() if k != "train_losses"} for r in records],
    }


def _read(path: Path) -> dict[str, Any] | None:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # a torn or corrupt record: the trial runs again


__all__ = ["ParamSpec", "SearchConfig", "run_search", "inner_split", "choose", "require_optuna"]


def search_summary(units: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """metrics.json keys of a searched model: per split, the chosen values and the trial counts."""
    per = {name: u["search"] for name, u in units.items() if isinstance(u, dict) and u.get("search")}
    if not per:
        return {}
    out = {}
    for split, s in per.items():
        states = [t["state"] for t in s.get("trials", [])]
        out[split] = {"chosen": s["chosen"], "best_trial": s["best_trial"], "best_value": s["best_value"],
                      "objective": s["objective"], "n_trials": s["n_trials"],
                      "complete": states.count("complete"), "pruned": states.count("pruned"),
                      "failed": states.count("failed")}
    return {"search": out}
