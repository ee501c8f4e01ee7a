"""The trained end of turn, the label objective and the checkpoint-selection rules, on tiny
models of every architecture; the losses against formulas written here in probability space."""

from __future__ import annotations

import numpy as np
import pytest

from tiny_models import ARCHITECTURES, load_tiny, rendered, separable_items

from clinpred.core.errors import ConfigError, TrainingError
from clinpred.core.llm.batches import make_batch
from clinpred.core.llm.objectives import batch_loss
from clinpred.core.llm.rendering import end_of_turn_text, tokenize_checked
from clinpred.core.llm.scoring import generate_texts
from clinpred.core.llm.tokens import decode
from clinpred.core.llm.training import TrainConfig, train_lora
from clinpred.core.llm.training_eval import evaluate_all, label_ids_for
from clinpred.core.values import RenderedChat

ARCHS = list(ARCHITECTURES)
FAST = dict(rank=4, alpha=8, lora_layers=2, learning_rate=3e-3, batch_size=4)


def _prompt(tok, item):
    return decode(tok, list(item.example.ids[: item.example.prompt_len]))


@pytest.mark.parametrize("arch", ARCHS)
def test_the_end_of_turn_span_is_the_stop_marker_after_the_answer(arch):
    _, tok = load_tiny(arch)
    r = rendered(tok, arch, 2, 1)
    ex = tokenize_checked(arch, tok, r)
    turn = decode(tok, list(ex.ids[ex.answer_end:ex.trained_end]))
    assert ex.answer_end < ex.trained_end <= len(ex.ids)
    assert turn.strip() and r.completion[len(r.answer):].startswith(turn)
    assert not turn.startswith(("Yes", "No"))  # nothing of the answer
    batch = make_batch([separable_items(tok, arch, 1)[0]], [2.0], end_of_turn=0.5)
    assert batch["answer"].tolist() == [1.0] * int(batch["n_answer"]) + [0.0] * (len(batch["targets"]) - int(batch["n_answer"]))
    assert batch["weights"].tolist() == [2.0 if a else 1.0 for a in batch["answer"]]
    assert batch["first"].tolist()[0] == 1.0 and batch["first"].sum() == 1
    tokens = batch["tokens"].reshape(-1)
    assert np.array_equal(tokens[batch["flat"] + 1], batch["targets"])  # position p predicts p + 1


def test_end_of_turn_text_rules():
    r = RenderedChat("p", "Yes<|im_end|>\n<|endoftext|>", "Yes", stop=("<|endoftext|>", "<|im_end|>"))
    assert end_of_turn_text(r) == "<|im_end|>"  # the first stop marker in the completion
    assert end_of_turn_text(RenderedChat("p", "Yes</s>", "Yes")) == "</s>"  # no stop listed: all of it
    assert end_of_turn_text(RenderedChat("p", "Yes<eot>\n", "Yes"), eos="<eot>") == "<eot>"
    assert end_of_turn_text(RenderedChat("p", "Yes", "Yes")) == ""


@pytest.mark.parametrize("arch", ARCHS)
def test_after_training_generation_ends_with_the_stop_token(arch, tmp_path):
    """With the end of turn trained, greedy generation is the answer word and the stop token;
    without it (end_of_turn_weight = 0) the same training runs on."""
    texts = {}
    for weight in (1.0, 0.0):
        model, tok = load_tiny(arch)
        train = separable_items(tok, arch, 8)
        val = separable_items(tok, arch, 4, start=8)
        cfg = TrainConfig(**FAST, iters=12, end_of_turn_weight=weight)
        train_lora(model, tok, train, [], cfg, tmp_path / str(weight))
        ex = val[0].example
        stop = decode(tok, [ex.ids[ex.answer_end]])  # the family's stop token
        texts[weight] = generate_texts(model, tok, [_prompt(tok, it) for it in val], max_tokens=6, stop=(stop,))
    assert all(t.strip() in ("Yes", "No") for t in texts[1.0]), (arch, texts)
    assert not any(t.strip() in ("Yes", "No") for t in texts[0.0]), (arch, texts)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_label_loss_is_the_binary_cross_entropy_of_the_renormalised_p_yes():
    import mlx.core as mx

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 12)) * 2
    pos, neg = [3, 7], [1]
    batch = {"targets": np.array([3, 1, 9, 7, 1]), "weights": np.array([1.0, 2.0, 0.5, 1.0, 1.0]),
             "first": np.array([1.0, 1.0, 0.0, 1.0, 1.0]), "label": np.array([1.0, 0.0, 0.0, 1.0, 0.0])}
    arrays = {k: mx.array(v.astype(np.float32) if k != "targets" else v.astype(np.int32)) for k, v in batch.items()}
    prob = _softmax(logits)
    p_yes = prob[:, pos].sum(1) / (prob[:, pos].sum(1) + prob[:, neg].sum(1))
    y, first, w = batch["label"], batch["first"] > 0, batch["weights"]
    bce = -(y * np.log(p_yes) + (1 - y) * np.log(1 - p_yes))
    ce = -np.log(prob[np.arange(5), batch["targets"]])
    x = mx.array(logits.astype(np.float32))
    want = np.sum(w * np.where(first, bce, ce))
    got = batch_loss(x, arrays, objective="label", label_ids=(pos, neg), mass=0.0).item()
    assert got == pytest.approx(want, rel=1e-5)
    mass = -np.log(prob[:, pos + neg].sum(1))  # the label tokens' share of the vocabulary
    want_mass = np.sum(w * np.where(first, bce + 0.5 * mass, ce))
    assert batch_loss(x, arrays, objective="label", label_ids=(pos, neg)).item() == pytest.approx(want_mass, rel=1e-5)
    # mass = 1 is the cross-entropy of the correct label set
    correct = np.where(y > 0, prob[:, pos].sum(1), prob[:, neg].sum(1))
    want_set = np.sum(w * np.where(first, -np.log(correct), ce))
    assert batch_loss(x, arrays, objective="label", label_ids=(pos, neg), mass=1.0).item() == pytest.approx(want_set, rel=1e-5)
    wrong = np.where(y > 0, prob[:, neg].sum(1), prob[:, pos].sum(1))
    want_ul = np.sum(w * np.where(first, bce - 0.5 * np.log(1 - wrong), ce))
    got_ul = batch_loss(x, arrays, objective="label", label_ids=(pos, neg), mass=0.0, unlikelihood=0.5).item()
    assert got_ul == pytest.approx(want_ul, rel=1e-5)
    got_ce = batch_loss(mx.array(logits.astype(np.float32)), arrays, objective="answer-token").item()
    assert got_ce == pytest.approx(np.sum(w * ce), rel=1e-5)


@pytest.mark.parametrize("arch", ["llama", "gemma3_text"])
def test_label_objective_learns_the_separable_task_and_ends_the_turn(arch, tmp_path):
    model, tok = load_tiny(arch)
    train = separable_items(tok, arch, 8)
    val = separable_items(tok, arch, 4, start=8)
    ids = label_ids_for(tok, train + val, ("Yes", "No"))
    before = evaluate_all(model, val, ids, 8)
    cfg = TrainConfig(**FAST, iters=24, eval_every=8, objective="label", unlikelihood_weight=1.0,
                      select_metric="log_loss")
    result = train_lora(model, tok, train, val, cfg, tmp_path, positive="Yes", negative="No")
    after = evaluate_all(model, val, ids, 8)
    assert after["val_log_loss"] < before["val_log_loss"], (before, after)
    assert after["val_auroc"] == 1.0
    assert all(e["val_log_loss"] is not None for e in result.evaluations)
    stop = decode(tok, [val[0].example.ids[val[0].example.answer_end]])
    texts = generate_texts(model, tok, [_prompt(tok, it) for it in val], max_tokens=6, stop=(stop,))
    assert all(t.strip() in ("Yes", "No") for t in texts), texts  # an answer word, then the stop token


def test_label_objective_needs_both_classes(tmp_path):
    model, tok = load_tiny("llama")
    one_class = [it for it in separable_items(tok, "llama", 8) if it.label == 1]
    with pytest.raises(TrainingError, match="both classes"):
        train_lora(model, tok, one_class, [], TrainConfig(**FAST, iters=2, objective="label"), tmp_path)


@pytest.mark.parametrize("metric", ["log_loss", "loss", "last"])
def test_selection_rules_keep_the_adapter_they_name(metric, tmp_path):
    model, tok = load_tiny("qwen2")
    train = separable_items(tok, "qwen2", 8)
    val = separable_items(tok, "qwen2", 4, start=8)
    cfg = TrainConfig(**FAST, iters=9, eval_every=3, select_metric=metric, early_stopping_patience=1)
    result = train_lora(model, tok, train, val, cfg, tmp_path, positive="Yes", negative="No")
    evals = result.evaluations
    if metric == "last":
        assert result.steps_done == 9 and result.best_step == 9 and not result.stopped_early
    else:
        key = "val_log_loss" if metric == "log_loss" else "val_loss"
        assert result.best_step == min(evals, key=lambda e: e[key])["step"]
    kept = evaluate_all(model, val, label_ids_for(tok, train + val, ("Yes", "No")), 8)
    chosen = next(e for e in evals if e["step"] == result.best_step)
    assert kept["val_loss"] == pytest.approx(chosen["val_loss"], rel=1e-5)
    assert kept["val_log_loss"] == pytest.approx(chosen["val_log_loss"], rel=1e-5)


def test_new_settings_are_config_keys_with_clear_errors():
    from clinpred.core.llm.lora_params import SEARCHABLE, LoraParams
    from clinpred.core.params import build_params, check_params

    given = {"objective": "label", "end_of_turn_weight": 0.5, "unlikelihood_weight": 1, "select_metric": "last",
             "label_mass_weight": 0.2}
    cfg = build_params(LoraParams, given, "m").train_config(seed=0)
    assert (cfg.objective, cfg.end_of_turn_weight, cfg.unlikelihood_weight, cfg.select_metric,
            cfg.label_mass_weight) == ("label", 0.5, 1, "last", 0.2)
    assert TrainConfig().objective == "answer-token" and TrainConfig().end_of_turn_weight == 1.0
    assert LoraParams().train_config(seed=0) == TrainConfig()  # one set of defaults
    assert "objective" in SEARCHABLE
    with pytest.raises(ValueError, match="objective must be one of"):
        TrainConfig(objective="choice")
    for key, bad in (("objective", "choice"), ("end_of_turn_weight", -1), ("unlikelihood_weight", -0.5),
                     ("select_metric", "best"), ("label_mass_weight", -1)):
        with pytest.raises(ConfigError, match=f"models\\[0\\]: {key} = .* is impossible"):
            check_params(LoraParams, {key: bad}, "models[0]")
    assert check_params(LoraParams, {"objective": "label", "select_metric": "log_loss"}, "m") == \
        {"objective": "label", "select_metric": "log_loss"}
