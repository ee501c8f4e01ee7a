"""Nested hyperparameter search for one (LLM, outer split) unit, with Optuna.

The search sees the outer split's training part only: a stratified inner validation part is
carved from it, trials train on the rest (balanced as the run balances) and are judged on the
inner validation part (:mod:`clinpred.core.llm.search_trial`). The outer validation part (the
threshold) and the test part never reach a trial. The chosen values then train the unit itself.

Determinism: trial ``n`` is asked from a fresh study that holds the records of trials
``0..n-1`` and whose sampler is seeded with ``seed + n`` (with ``parallel_trials = B``: the records
of the batches before ``n``'s, plus its batch-mates as running trials). Its parameters are therefore a pure
function of the seed and the earlier results; an interrupted search resumed from its saved
trials gives the same trials and the same choice as an uninterrupted one (replaying trials into
one long-lived sampler would not: samplers advance their random state per suggestion).
Records are ``SEARCH_DIR/trial-NNN.json``, each written atomically with its fingerprint.

:class:`SplitSearch` is the driver's side (ask, record, choose) and :func:`execute_trial` the
worker's, so the runner sends trials to its executor like any other unit: one per outer split
at a time (a batch of ``parallel_trials`` with the ``parallel_trials`` setting), all the splits'
searches at once. :func:`run_search` runs one search in-process, trial after trial.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
from attrs import define

from clinpred.core.atomic import write_json
from clinpred.core.errors import DataError, TrainingError, UserError
from clinpred.core.events import Event, EventSink
from clinpred.core.llm.search_space import INTEGER, ParamSpec, SearchConfig
from clinpred.core.llm.search_trial import TrialContext, TrialSpec, describe_trial, run_trial

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
        elif p.name in INTEGER:
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
    extra = {"constant_liar": True} if cfg.parallel_trials > 1 else {}
    return TPESampler(seed=seed, n_startup_trials=max(2, min(10, cfg.trials // 2)), **extra)


def _study(cfg: SearchConfig, seed: int, records: list[dict[str, Any]],
           running: list[dict[str, Any]] = ()) -> Any:
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
    for params in running:  # batch-mates asked before this trial (TPE's constant liar avoids them)
        study.add_trial(create_trial(state=TrialState.RUNNING, params=params, distributions=dists))
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


@define(frozen=True)
class TrialTask:
    """One trial as work an executor can send anywhere: the trial, the search settings and the
    records of the trials before its batch (what the pruner compares its curve with)."""

    spec: TrialSpec
    cfg: SearchConfig
    prior: tuple[dict[str, Any], ...] = ()


def execute_trial(task: TrialTask, ctx: TrialContext, work_dir: Path) -> dict[str, Any]:
    """Run one trial wherever it landed: the pruner sees the same study the driver asked the
    trial from (its earlier records, this trial's fixed parameters)."""
    cfg, spec = task.cfg, task.spec
    study = _study(cfg, spec.seed + spec.number, list(task.prior))
    study.enqueue_trial(dict(spec.params))
    trial = study.ask(distributions(cfg))

    def report(step: int, value: float) -> bool:
        trial.report(value, step)
        return trial.should_prune()

    return run_trial(spec, ctx, work_dir, report)


class SplitSearch:
    """The search of one (LLM, outer split), driven from the run's driver: it asks trials batch
    by batch (``parallel_trials`` at a time; trial ``n`` of a batch is asked from the records of
    the earlier batches plus its batch-mates' parameters as running trials), takes back their
    records (each saved as ``SEARCH_DIR/trial-NNN.json``, atomically, with its fingerprint) and
    finally chooses. Saved trials with a matching fingerprint are taken from disk (resume)."""

    def __init__(self, *, cfg: SearchConfig, labels: np.ndarray, train_part: np.ndarray, balance: str,
                 hyper: dict[str, Any], seed: int, search_dir: Path, emit: EventSink, unit: str) -> None:
        require_optuna()
        self.cfg, self.seed, self.unit, self.emit = cfg, seed, unit, emit
        self.search_dir = Path(search_dir)
        self.labels = np.asarray(labels)
        self.inner_train, self.inner_val = inner_split(train_part, self.labels, cfg.inner_val_fraction, seed)
        self.fit_idx, self.weights = balanced(self.inner_train, self.labels, balance, seed)
        base = {k: v for k, v in hyper.items() if k not in {p.name for p in cfg.params}}
        if any(p.name in ("num_iters", "epochs") for p in cfg.params):
            base = {k: v for k, v in base.items() if k not in ("num_iters", "epochs")}
        self.base = base
        self._dists = distributions(cfg)
        self._cells = grid_cells(cfg, seed) if cfg.sampler == "grid" else None
        self._params: list[dict[str, Any]] = []  # of every trial asked so far, by number
        self.records: dict[int, dict[str, Any]] = {}

    @property
    def done(self) -> bool:
        return len(self.records) == self.cfg.trials

    def pending(self) -> int:
        """Trials not asked yet (an upper bound of the work still to come)."""
        return self.cfg.trials - len(self._params)

    def ready(self) -> list[TrialTask]:
        """The trials that can start now (none while the previous batch is still running)."""
        out: list[TrialTask] = []
        batch = self.cfg.parallel_trials
        while len(self._params) < self.cfg.trials:
            number = len(self._params)
            first = number - number % batch
            if any(i not in self.records for i in range(first)):
                break
            prior = [self.records[i] for i in range(first)]
            spec = self._ask(number, prior, self._params[first:number])
            self._params.append(spec.params)
            saved = _read(self.path(number))
            if saved is not None and saved.get("fingerprint") == spec.fingerprint():
                self.emit(Event("message", self.unit, f"search trial {number}: already done"))
                self.records[number] = saved
                continue
            out.append(TrialTask(spec, self.cfg, tuple(_lean(r) for r in prior)))
        return out

    def _ask(self, number: int, prior: list[dict[str, Any]], running: list[dict[str, Any]]) -> TrialSpec:
        study = _study(self.cfg, self.seed + number, prior, running)
        if self._cells is not None:
            study.enqueue_trial(self._cells[number])
        trial = study.ask(self._dists)
        params = {k: _plain(v) for k, v in trial.params.items()}
        return TrialSpec(number=number, params=params, seed=self.seed, inner_train=self.fit_idx,
                         inner_val=self.inner_val, weights=self.weights, base=self.base,
                         objective=self.cfg.objective, search=self.cfg.to_dict())

    def path(self, number: int) -> Path:
        return self.search_dir / f"trial-{number:03d}.json"

    def record(self, number: int, record: dict[str, Any]) -> None:
        """Keep a finished trial's record (saved first, so a crash after it loses nothing)."""
        write_json(self.path(number), record)
        self.records[number] = record

    def result(self) -> dict[str, Any]:
        """The unit file's ``search`` record: the chosen values, every trial with its validation
        curve, the inner part sizes."""
        cfg, labels = self.cfg, self.labels
        records = [self.records[i] for i in range(cfg.trials)]
        best = choose(records, cfg.direction)
        return {
            "objective": cfg.objective, "direction": cfg.direction, "sampler": cfg.sampler, "pruner": cfg.pruner,
            "n_trials": cfg.trials, "space": cfg.to_dict()["params"], "chosen": dict(best["params"]),
            "best_trial": best["number"], "best_value": best["value"],
            "inner": {"train": int(len(self.inner_train)), "val": int(len(self.inner_val)),
                      "train_events": int(labels[self.inner_train].sum()),
                      "val_events": int(labels[self.inner_val].sum())},
            "trials": [{k: v for k, v in r.items() if k != "train_losses"} for r in records],
        }


def _lean(record: dict[str, Any]) -> dict[str, Any]:
    """A record as the pruner needs it (no per-step training losses)."""
    return {k: record.get(k) for k in ("number", "state", "value", "params", "intermediate")}


def run_search(*, cfg: SearchConfig, load: Callable[[], Any], book: Callable[[Any], Any], labels: np.ndarray,
               train_part: np.ndarray, balance: str, hyper: dict[str, Any], seed: int, search_dir: Path,
               positive: str, negative: str, emit: EventSink, unit: str) -> dict[str, Any]:
    """Run (or resume) one unit's search in this process, trial after trial (the runner sends
    the same trials to its executor instead); the ``search`` record of the unit file."""
    search = SplitSearch(cfg=cfg, labels=labels, train_part=train_part, balance=balance, hyper=hyper, seed=seed,
                         search_dir=search_dir, emit=emit, unit=unit)
    ctx = TrialContext(load=load, book=book, labels=np.asarray(labels), positive=positive, negative=negative,
                       emit=emit, unit=unit)
    while not search.done:
        for task in search.ready():
            emit(Event("message", unit, f"search trial {task.spec.number + 1}/{cfg.trials}"))
            record = execute_trial(task, ctx, search.search_dir)
            emit(Event("message", unit, describe_trial(record, cfg.objective)))
            search.record(task.spec.number, record)
    return search.result()


def _read(path: Path) -> dict[str, Any] | None:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # a torn or corrupt record: the trial runs again


__all__ = ["ParamSpec", "SearchConfig", "SplitSearch", "TrialTask", "execute_trial", "run_search", "inner_split",
           "choose", "require_optuna"]


def search_summary(records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """metrics.json keys of a searched model from its units' ``search`` records (split -> record):
    per split, the chosen values and the trial counts."""
    if not records:
        return {}
    out = {}
    for split, s in records.items():
        states = [t["state"] for t in s.get("trials", [])]
        out[split] = {"chosen": s["chosen"], "best_trial": s["best_trial"], "best_value": s["best_value"],
                      "objective": s["objective"], "n_trials": s["n_trials"],
                      "complete": states.count("complete"), "pruned": states.count("pruned"),
                      "failed": states.count("failed")}
    return {"search": out}
