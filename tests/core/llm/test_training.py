"""Prompt-masked LoRA training on tiny random-weight models of every architecture."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tiny_models import ARCHITECTURES, load_tiny, separable_items

from clinpred.core.errors import ConfigError, TrainingError
from clinpred.core.llm.tokens import decode
from clinpred.core.llm.training import (
    TrainConfig,
    TrainItem,
    answer_targets,
    lr_at,
    make_batch,
    micro_batch_indices,
    train_lora,
)
from clinpred.core.llm.training_config import ProgressEvent
from clinpred.core.llm.training_eval import evaluate, label_ids_for

ARCHS = list(ARCHITECTURES)
FAST = dict(rank=4, alpha=8, lora_layers=2, learning_rate=3e-3, batch_size=4)


def _logits(model, ids):
    import mlx.core as mx

    model.eval()
    return np.array(model(mx.array([list(ids)]))[0])


@pytest.fixture(scope="module", params=ARCHS)
def trained(request, tmp_path_factory):
    """One short training per architecture: (arch, model, tokenizer, train, val, result)."""
    arch = request.param
    model, tok = load_tiny(arch)
    train = separable_items(tok, arch, 8)
    val = separable_items(tok, arch, 4, start=8)
    events: list[ProgressEvent] = []
    cfg = TrainConfig(**FAST, iters=8, eval_every=4)
    out = tmp_path_factory.mktemp(f"train-{arch}")
    result = train_lora(model, tok, train, val, cfg, out, on_progress=events.append,
                        positive="Yes", negative="No")
    return arch, model, tok, train, val, result, events


def test_loss_decreases(trained):
    arch, _, _, _, _, result, events = trained
    losses = result.train_losses
    assert len(losses) == result.steps_done == 8
    assert np.mean(losses[-3:]) < 0.5 * losses[0], (arch, losses)
    assert [e.step for e in events] == list(range(1, 9))
    assert all(e.total == 8 and e.tokens_per_second > 0 and e.eta_seconds >= 0 for e in events)
    assert events[-1].eta_seconds == 0
    assert [e.step for e in events if e.val_loss is not None] == [4, 8]


def test_trained_span_is_exactly_the_answer(trained):
    arch, _, tok, train, _, _, _ = trained
    batch = make_batch(train, [1.0] * len(train))
    tokens = batch["tokens"].reshape(-1)
    assert np.array_equal(tokens[batch["flat"] + 1], batch["targets"])  # position p predicts p + 1
    for item in train:
        _, targets = answer_targets(item.example)
        assert decode(tok, targets) in ({"Yes", " Yes"} if item.label else {"No", " No"}), arch


def test_adapters_round_trip_through_mlx_lm_load(trained):
    import mlx_lm

    from tiny_models import tiny_model_dir

    arch, model, tok, train, _, result, _ = trained
    loaded, _ = mlx_lm.load(str(tiny_model_dir(arch)), adapter_path=str(result.adapter_dir))
    ids = train[0].example.ids
    np.testing.assert_allclose(_logits(loaded, ids), _logits(model, ids), rtol=1e-5, atol=1e-5)
    base, _ = load_tiny(arch)
    assert not np.allclose(_logits(base, ids), _logits(model, ids), atol=1e-3)  # the adapter matters


def test_kept_adapter_is_the_best_evaluation(trained):
    arch, model, tok, train, val, result, _ = trained
    evals = result.evaluations
    best = max(evals, key=lambda e: (e["val_auroc"], -e["val_loss"]))
    assert result.best_step == best["step"]
    loss, auroc = evaluate(model, val, label_ids_for(tok, train + val, ("Yes", "No")), 8)
    assert loss == pytest.approx(best["val_loss"], rel=1e-5)
    assert auroc == pytest.approx(best["val_auroc"])


def _tokens(items):
    return sum(it.example.trained_end for it in items)  # nothing after the end of turn is computed


@pytest.mark.parametrize("n, batch_size, steps", [(10, 4, 3), (3, 8, 1), (4, 4, 1)])
def test_no_example_is_dropped(tmp_path, n, batch_size, steps):
    for epoch in range(2):
        per_epoch = math.ceil(n / batch_size)
        seen = np.concatenate([micro_batch_indices(n, batch_size, 7, epoch * per_epoch + k) for k in range(per_epoch)])
        assert sorted(seen.tolist()) == list(range(n))
    model, tok = load_tiny("qwen2")
    train = separable_items(tok, "qwen2", n)
    cfg = TrainConfig(**{**FAST, "batch_size": batch_size}, epochs=1)
    result = train_lora(model, tok, train, [], cfg, tmp_path)
    assert result.steps_done == steps
    assert result.trained_tokens == _tokens(train)
    assert (tmp_path / "adapters.safetensors").is_file() and (tmp_path / "adapter_config.json").is_file()


def test_resume_continues_the_same_curve(tmp_path):
    cfg = TrainConfig(**{**FAST, "dropout": 0.1, "batch_size": 3}, iters=6, grad_accum=2, warmup=2,
                      save_every=100, eval_every=2)

    def run(out, **kwargs):
        model, tok = load_tiny("llama")
        train, val = separable_items(tok, "llama", 7), separable_items(tok, "llama", 4, start=7)
        return model, train_lora(model, tok, train, val, cfg, out, **kwargs)

    model_a, full = run(tmp_path / "a")

    def interrupt(event: ProgressEvent) -> None:
        if event.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", on_progress=interrupt)
    model_b, resumed = run(tmp_path / "b", resume=True)
    assert resumed.resumed_from == 3
    np.testing.assert_allclose(resumed.train_losses, full.train_losses, rtol=1e-5)
    assert [e["step"] for e in resumed.evaluations] == [e["step"] for e in full.evaluations] == [2, 4, 6]
    np.testing.assert_allclose([e["val_loss"] for e in resumed.evaluations],
                               [e["val_loss"] for e in full.evaluations], rtol=1e-5)
    assert resumed.best_step == full.best_step
    ids = list(range(1, 30))
    np.testing.assert_allclose(_logits(model_b, ids), _logits(model_a, ids), rtol=1e-5, atol=1e-5)


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path):
    model, tok = load_tiny("qwen2")
    train = separable_items(tok, "qwen2", 4)
    train_lora(model, tok, train, [], TrainConfig(**FAST, iters=2), tmp_path)
    model, tok = load_tiny("qwen2")
    with pytest.raises(TrainingError, match="other training settings"):
        train_lora(model, tok, train, [], TrainConfig(**{**FAST, "rank": 2}, iters=2), tmp_path, resume=True)


def test_early_stopping_stops_and_keeps_the_best(tmp_path):
    model, tok = load_tiny("qwen2")
    train = separable_items(tok, "qwen2", 8)
    val = separable_items(tok, "qwen2", 4, start=8, flip=True)  # the opposite rule: training hurts it
    cfg = TrainConfig(**FAST, iters=30, eval_every=1, early_stopping_patience=2, select_metric="loss")
    result = train_lora(model, tok, train, val, cfg, tmp_path)
    assert result.stopped_early and result.steps_done < 30
    losses = [e["val_loss"] for e in result.evaluations]
    assert result.best_step == result.evaluations[int(np.argmin(losses))]["step"]
    assert result.steps_done == result.best_step + 2
    loss, _ = evaluate(model, val, None, 4)  # the model holds the best adapter
    assert loss == pytest.approx(min(losses), rel=1e-5)


def test_gradient_checkpointing_gives_the_same_steps(tmp_path):
    def run(flag):
        model, tok = load_tiny("phi3")
        train = separable_items(tok, "phi3", 6)
        cfg = TrainConfig(**FAST, iters=3, grad_checkpoint=flag)
        return train_lora(model, tok, train, [], cfg, tmp_path / str(flag)).train_losses, type(model.layers[0])

    plain, cls = run(False)
    original = cls.__call__
    checkpointed, _ = run(True)
    np.testing.assert_allclose(checkpointed, plain, rtol=1e-4)
    assert cls.__call__ is original  # the block class is restored


def test_class_weights_and_item_weights(tmp_path):
    from clinpred.core.llm.training import _item_weights

    model, tok = load_tiny("qwen2")
    items = separable_items(tok, "qwen2", 5)  # labels 0,1,0,1,0
    balanced = _item_weights(TrainConfig(class_weight="balanced"), items)
    assert balanced == pytest.approx([5 / 6, 5 / 4, 5 / 6, 5 / 4, 5 / 6])
    weighted = [TrainItem(it.example, it.label, 2.0) for it in items]
    assert _item_weights(TrainConfig(), weighted) == [2.0] * 5
    batch = make_batch(weighted, [2.0] * 5)
    assert batch["weights"].tolist() == [2.0] * len(batch["targets"])
    result = train_lora(model, tok, items, [], TrainConfig(**FAST, iters=2, class_weight="balanced"), tmp_path)
    assert all(math.isfinite(x) for x in result.train_losses)


def test_dora_adapters_round_trip(tmp_path):
    import mlx_lm

    from tiny_models import tiny_model_dir

    model, tok = load_tiny("gemma3_text")
    train = separable_items(tok, "gemma3_text", 4)
    train_lora(model, tok, train, [], TrainConfig(**FAST, iters=2, dora=True), tmp_path)
    loaded, _ = mlx_lm.load(str(tiny_model_dir("gemma3_text")), adapter_path=str(tmp_path))
    ids = train[0].example.ids
    np.testing.assert_allclose(_logits(loaded, ids), _logits(model, ids), rtol=1e-5, atol=1e-5)


def test_too_long_examples_and_bad_spans_are_errors(tmp_path):
    from clinpred.core.llm.rendering import TokenizedExample

    model, tok = load_tiny("qwen2")
    train = separable_items(tok, "qwen2", 2)
    with pytest.raises(TrainingError, match="max_seq_len"):
        train_lora(model, tok, train, [], TrainConfig(**FAST, iters=1, max_seq_len=16), tmp_path)
    bad = TrainItem(TokenizedExample((1, 2, 3), 3, 3, 3), 1, 1.0)
    with pytest.raises(TrainingError, match="answer span"):
        train_lora(model, tok, [bad], [], TrainConfig(**FAST, iters=1), tmp_path)


def test_lora_layers_beyond_the_model_is_an_error(tmp_path):
    model, tok = load_tiny("qwen2")
    with pytest.raises(TrainingError, match="lora_layers"):
        train_lora(model, tok, separable_items(tok, "qwen2", 2), [], TrainConfig(lora_layers=5, iters=1), tmp_path)


@pytest.mark.parametrize("kwargs, match", [
    ({"rank": 0}, "rank"), ({"alpha": 0}, "alpha"), ({"learning_rate": -1e-4}, "learning_rate"),
    ({"dropout": 1.0}, "dropout"), ({"lora_layers": 0}, "lora_layers"), ({"batch_size": 0}, "batch_size"),
    ({"grad_accum": 0}, "grad_accum"), ({"iters": 5, "epochs": 1}, "not both"), ({"warmup": -1}, "warmup"),
    ({"select_metric": "f1"}, "select_metric"), ({"class_weight": "inverse"}, "class_weight"),
])
def test_config_validation_messages(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_config_from_hyperparameters_and_schedule():
    from clinpred.core.llm.lora_params import LoraParams
    from clinpred.core.params import build_params

    params = build_params(LoraParams, {"lora_rank": 16, "lora_alpha": 32, "num_iters": 100, "epochs": 2, "warmup": 0.1,
                                       "precision": "auto", "score_batch_size": 4, "early_stopping_patience": 0}, "m")
    cfg = params.train_config(seed=3)
    assert (cfg.rank, cfg.scale, cfg.iters, cfg.epochs, cfg.seed) == (16, 2.0, 100, None, 3)
    assert cfg.warmup_steps(100) == 10 and cfg.total_steps(1000) == 100
    with pytest.raises(ConfigError, match="lora_rank = 0 is impossible; it must be between 1 and 4096"):
        build_params(LoraParams, {"lora_rank": 0}, "m")
    with pytest.raises(ValueError, match="rank"):  # the trainer applies the same bound
        TrainConfig(rank=0)
    epochs = TrainConfig(epochs=1.5, batch_size=4, grad_accum=2)
    assert epochs.total_steps(10) == math.ceil(math.ceil(1.5 * 3) / 2)
    sched = TrainConfig(learning_rate=0.5, warmup=2, iters=6)
    lrs = [lr_at(sched, s, 6) for s in range(1, 7)]
    assert lrs[:3] == pytest.approx([0.25, 0.5, 0.5])
    assert all(a > b for a, b in zip(lrs[2:], lrs[3:])) and lrs[-1] > 0
