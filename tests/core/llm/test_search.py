"""Nested hyperparameter search on a tiny random-weight model: nesting (no outer validation or
test patient reaches a trial), determinism, resume of an interrupted search, the grid sampler."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("optuna")

from clinpred.core.events import Event
from clinpred.core.llm import search as search_mod
from clinpred.core.llm.llm_unit import PromptBook
from clinpred.core.llm.search_space import ParamSpec, SearchConfig

ITERS = 4


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from clirun import clinpred
    from tiny_models import tiny_model_dir

    from clinpred.core.data.dataset import load_dataset
    from clinpred.core.data.schema import default_schema
    from clinpred.core.data.splits import holdout_split
    from clinpred.core.weights.loading import load_model
    from clinpred.registry.registry import load_registry

    root = tmp_path_factory.mktemp("search")
    data = root / "cohort.csv"
    assert clinpred("data", "synth", "--n", "90", "--seed", "5", "-o", str(data)).code == 0
    dataset = load_dataset(data, default_schema())
    registry = load_registry()
    model_dir = tiny_model_dir("qwen2")
    return {"dataset": dataset, "records": dataset.records(), "registry": registry,
            "family": registry.family("qwen"), "split": holdout_split(dataset.labels, seed=1),
            "load": lambda: load_model(model_dir)}


def _cfg(**kw: Any) -> SearchConfig:
    params = kw.pop("params", (ParamSpec("learning_rate", low=1e-4, high=1e-2, log=True),
                               ParamSpec("lora_rank", choices=(2, 4))))
    return SearchConfig(params=params, **{"n_trials": 3, "enabled": True, **kw})


def _search(setting: dict[str, Any], out: Path, cfg: SearchConfig, *, seed: int = 7, book: Any = PromptBook,
            emit: Any = None, **hyper: Any) -> dict[str, Any]:
    ds, task = setting["dataset"], setting["dataset"].schema.task
    return search_mod.run_search(
        cfg=cfg, load=setting["load"],
        book=lambda tok: book(setting["registry"], setting["family"], tok, task, setting["records"]),
        labels=ds.labels, train_part=setting["split"].train, balance="oversample",
        hyper={"lora_layers": 2, "lora_rank": 4, "learning_rate": 1e-3, "num_iters": ITERS, "eval_every": 2, **hyper},
        seed=seed, search_dir=out, positive=task.positive, negative=task.negative,
        emit=emit or (lambda e: None), unit="tiny/holdout")


@pytest.fixture(scope="module")
def reference(setting, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """An uninterrupted 4-trial search (seed 7)."""
    out = tmp_path_factory.mktemp("reference")
    return _search(setting, out, _cfg(n_trials=4)), out


def _trials(result: dict[str, Any]) -> list[tuple[int, dict[str, Any], str, float | None]]:
    return [(t["number"], t["params"], t["state"], t["value"]) for t in result["trials"]]


def test_no_outer_validation_or_test_patient_reaches_a_trial(setting, tmp_path: Path) -> None:
    seen: set[int] = set()

    class Recording(PromptBook):
        def example(self, i: int, label: bool) -> Any:
            seen.add(int(i))
            return super().example(i, label)

        def scoring_prompt(self, i: int) -> str:
            seen.add(int(i))
            return super().scoring_prompt(i)

    result = _search(setting, tmp_path / "s", _cfg(n_trials=2), book=Recording)
    split = setting["split"]
    assert seen, "the search trained on nobody"
    assert not seen & set(split.test.tolist()), "a test patient reached the search"
    assert not seen & set(split.val.tolist()), "an outer validation patient reached the search"
    assert seen <= set(split.train.tolist())
    inner = result["inner"]
    assert inner["train"] + inner["val"] == len(split.train)
    assert 0 < inner["val_events"] < inner["val"]


def test_same_seed_same_trials_and_choice(setting, reference, tmp_path: Path) -> None:
    a, out = reference
    b = _search(setting, tmp_path / "b", _cfg(n_trials=4))
    assert _trials(a) == _trials(b)
    assert a["chosen"] == b["chosen"] and a["best_trial"] == b["best_trial"]
    assert len({json.dumps(t[1], sort_keys=True) for t in _trials(a)}) > 1  # the trials differ
    c = _search(setting, tmp_path / "c", _cfg(n_trials=2), seed=8)
    assert [t[1] for t in _trials(c)] != [t[1] for t in _trials(a)][:2]
    best = max((t for t in a["trials"] if t["state"] == "complete"), key=lambda t: (t["value"], -t["number"]))
    assert a["chosen"] == best["params"] and a["best_value"] == best["value"]
    files = sorted(p.name for p in out.iterdir())
    assert files == [f"trial-00{k}.json" for k in range(4)]  # trial adapters are not kept


def test_interrupted_search_resumes_from_its_completed_trials(setting, reference, tmp_path: Path) -> None:
    reference = reference[0]
    out = tmp_path / "run"

    def stop_at_third(event: Event) -> None:
        if event.message == "search trial 3/4":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _search(setting, out, _cfg(n_trials=4), emit=stop_at_third)
    assert sorted(p.name for p in out.glob("trial-*.json")) == ["trial-000.json", "trial-001.json"]
    messages: list[str] = []
    resumed = _search(setting, out, _cfg(n_trials=4), emit=lambda e: messages.append(e.message))
    assert _trials(resumed) == _trials(reference)
    assert resumed["chosen"] == reference["chosen"]
    assert "search trial 0: already done" in messages and "search trial 1: already done" in messages
    assert "search trial 3/4" in messages  # trials 2 and 3 ran
    # other search settings: the saved trials do not match and run again
    messages.clear()

    def record_then_stop(event: Event) -> None:
        messages.append(event.message)
        if event.message.startswith("search trial 0:"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _search(setting, out, _cfg(n_trials=4, objective="val_loss"), emit=record_then_stop)
    assert messages[0] == "search trial 1/4" and "already done" not in messages[-1]


def test_grid_sampler_visits_each_cell_once_also_after_resume(setting, tmp_path: Path) -> None:
    cfg = _cfg(sampler="grid", n_trials=10, params=(ParamSpec("learning_rate", choices=(1e-3, 1e-2)),
                                                    ParamSpec("lora_rank", choices=(2, 4))), pruner="none")
    full = _search(setting, tmp_path / "g", cfg)
    cells = [tuple(sorted(t[1].items())) for t in _trials(full)]
    assert len(cells) == 4 == len(set(cells))  # n_trials capped at the grid's size

    def stop(event: Event) -> None:
        if event.message == "search trial 3/4":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _search(setting, tmp_path / "h", cfg, emit=stop)
    resumed = _search(setting, tmp_path / "h", cfg)
    assert _trials(resumed) == _trials(full)


def test_val_loss_objective_is_minimized(setting, tmp_path: Path) -> None:
    result = _search(setting, tmp_path / "l", _cfg(objective="val_loss", pruner="none"))
    values = [t["value"] for t in result["trials"] if t["state"] == "complete"]
    assert result["direction"] == "minimize" and result["best_value"] == min(values)
    assert all(v > 0 for v in values)


def test_choose_and_the_no_trial_completed_error() -> None:
    from clinpred.core.errors import TrainingError

    records = [{"number": 0, "state": "complete", "value": 0.6, "params": {"a": 1}},
               {"number": 1, "state": "pruned", "value": None, "params": {"a": 2}},
               {"number": 2, "state": "complete", "value": 0.6, "params": {"a": 3}},
               {"number": 3, "state": "complete", "value": 0.5, "params": {"a": 4}}]
    assert search_mod.choose(records, "maximize")["number"] == 0  # ties: the earliest
    assert search_mod.choose(records, "minimize")["number"] == 3
    with pytest.raises(TrainingError, match="no search trial completed"):
        search_mod.choose(records[1:2], "maximize")


def test_inner_split_is_stratified_and_inside_the_training_part() -> None:
    labels = np.array([0] * 60 + [1] * 20)
    part = np.arange(0, 80, 1)[::1][:70]
    train, val = search_mod.inner_split(part, labels, 0.2, seed=3)
    assert set(train) | set(val) == set(part) and not set(train) & set(val)
    assert len(val) == 14 and labels[val].sum() == round(14 * labels[part].mean())
    from clinpred.core.errors import DataError

    with pytest.raises(DataError, match="at least 4 patients of each class"):
        search_mod.inner_split(np.arange(62), labels, 0.2, seed=3)


def test_missing_optuna_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from clinpred.core.errors import UserError

    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(UserError, match=r"needs Optuna.*clinpred\[search\]"):
        search_mod.require_optuna()


def test_trial_records_are_json_with_validation_curves(setting, tmp_path: Path) -> None:
    _search(setting, tmp_path / "j", _cfg(n_trials=2, pruner="none"))
    record = json.loads((tmp_path / "j" / "trial-000.json").read_text())
    assert record["state"] == "complete" and len(record["fingerprint"]) == 16
    assert [e["step"] for e in record["evaluations"]] == [2, 4]
    assert record["steps_done"] == ITERS and len(record["train_losses"]) == ITERS


def test_a_split_search_hands_out_a_batch_at_a_time_and_only_after_the_previous_one(setting, tmp_path: Path) -> None:
    ds = setting["dataset"]

    def search(batch: int) -> Any:
        return search_mod.SplitSearch(cfg=_cfg(n_trials=5, parallel_trials=batch, sampler="random"), labels=ds.labels,
                                      train_part=setting["split"].train, balance="oversample",
                                      hyper={"num_iters": ITERS}, seed=3, search_dir=tmp_path / f"b{batch}",
                                      emit=lambda e: None, unit="tiny/holdout")

    def record(task: Any, value: float) -> dict[str, Any]:
        return {"number": task.spec.number, "params": task.spec.params, "state": "complete", "value": value,
                "fingerprint": task.spec.fingerprint(), "intermediate": {}}

    s = search(2)
    first = s.ready()
    assert [t.spec.number for t in first] == [0, 1] and s.ready() == []  # trial 2 waits for the batch
    s.record(0, record(first[0], 0.6))
    assert s.ready() == []
    s.record(1, record(first[1], 0.7))
    second = s.ready()
    assert [t.spec.number for t in second] == [2, 3] and [r["number"] for r in second[0].prior] == [0, 1]
    single = search(1)
    assert [t.spec.number for t in single.ready()] == [0] and single.ready() == []
    with pytest.raises(ValueError, match="parallel_trials = 0 is impossible"):
        _cfg(parallel_trials=0)


def test_lp_ft_trials_start_from_a_probe_of_their_inner_training_part(setting, tmp_path: Path) -> None:
    """``head = "probe"`` is searched as it runs: each trial fits its probe on the frozen model's
    states of its inner training patients (no outer patient, no inner validation patient)."""
    prompted: set[int] = set()

    class Recording(PromptBook):
        def scoring_prompt(self, i: int) -> str:
            prompted.add(int(i))
            return super().scoring_prompt(i)

    result = _search(setting, tmp_path / "lpft", _cfg(n_trials=2, pruner="none"), book=Recording,
                     objective="label", head="probe")
    assert [t["state"] for t in result["trials"]] == ["complete", "complete"]
    split, inner = setting["split"], result["inner"]
    assert prompted and prompted <= set(split.train.tolist())
    assert len(prompted) == inner["train"]  # the inner training part only: not the inner validation part
