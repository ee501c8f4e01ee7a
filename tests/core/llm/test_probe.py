"""The probe arm: last-token features of the frozen model (tiny models of every architecture)
and the L2 logistic regression tuned by inner CV (against scikit-learn's own grid search)."""

from __future__ import annotations

import numpy as np
import pytest

from tiny_models import ARCHITECTURES, load_tiny, rendered

from clinpred.core.errors import ConfigError, TrainingError
from clinpred.core.llm.features import last_token_features
from clinpred.core.llm.probe import ProbeFit, fit_probe
from clinpred.core.llm.scoring import score_p_yes
from clinpred.core.llm.tokens import encode

ARCHS = list(ARCHITECTURES)


def _prompts(tok, arch, n=7):
    return [rendered(tok, arch, i, i % 2).prompt for i in range(n)]


def _by_hand(model, tok, prompt, layer=None):
    """One prompt, no batching, no cache: the blocks run one by one."""
    import mlx.core as mx

    tokens = mx.array([encode(tok, prompt)], dtype=mx.int32)
    if layer is None:
        return np.array(model.model(tokens)[0, -1])
    from clinpred.core.weights import mlx_compat

    return np.array(mlx_compat.hidden_entering(model, tokens, layer)[0, -1])


@pytest.mark.parametrize("arch", ARCHS)
def test_final_norm_state_at_the_last_prompt_token(arch):
    model, tok = load_tiny(arch, layers=3)
    prompts = _prompts(tok, arch)
    got = last_token_features(model, tok, prompts, positive="Yes", negative="No", batch_size=3)
    want = np.stack([_by_hand(model, tok, p) for p in prompts])
    np.testing.assert_allclose(got.states, want, rtol=2e-4, atol=2e-4)
    # the same pass gives the zero-shot P(yes) that scoring computes
    np.testing.assert_allclose(got.p_yes, score_p_yes(model, tok, prompts, "Yes", "No", batch_size=3), atol=1e-5)
    plain = last_token_features(model, tok, prompts, batch_size=2, prefix_cache=False)
    np.testing.assert_allclose(plain.states, got.states, rtol=2e-4, atol=2e-4)
    assert plain.p_yes is None


def test_a_chosen_layer_is_the_state_after_that_many_blocks():
    import mlx.core as mx

    model, tok = load_tiny("llama", layers=3)
    prompts = _prompts(tok, "llama", 5)
    got = last_token_features(model, tok, prompts, layer=2, batch_size=4)
    for i, prompt in enumerate(prompts):
        h = model.model.embed_tokens(mx.array([encode(tok, prompt)], dtype=mx.int32))
        for block in model.layers[:2]:
            h = block(h, "causal", None)
        np.testing.assert_allclose(got.states[i], np.array(h[0, -1]), rtol=2e-4, atol=2e-4)
    with pytest.raises(ConfigError, match="1..2"):
        last_token_features(model, tok, prompts, layer=3)


def _search_reference(x, y, cs, folds, seed):
    """scikit-learn's own pipeline + grid search with the same folds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    grid = GridSearchCV(pipe, {"logisticregression__C": list(cs)}, scoring="neg_log_loss",
                        cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
    return grid.fit(x, y)


def test_probe_chooses_c_as_scikit_learns_grid_search_and_recovers_a_known_truth():
    rng = np.random.default_rng(3)
    n, d = 400, 30
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, size=d) + rng.normal(size=d)
    beta = np.zeros(d)
    beta[:4] = [1.0, -0.8, 0.6, 0.5]
    truth = 1 / (1 + np.exp(-((x - x.mean(0)) / x.std(0)) @ beta))
    y = (rng.random(n) < truth).astype(int)
    cs = (0.001, 0.01, 0.1, 1.0, 10.0)
    fit = fit_probe(x, y, seed=5, folds=5, cs=cs)
    ref = _search_reference(x, y, cs, 5, 5)
    assert fit.c == ref.best_params_["logisticregression__C"]
    np.testing.assert_allclose(-np.array(fit.cv_log_loss), ref.cv_results_["mean_test_score"], rtol=1e-5)
    np.testing.assert_allclose(fit.p_yes(x), ref.predict_proba(x)[:, 1], atol=1e-5)
    # on fresh patients the probe ranks nearly as well as the truth
    from sklearn.metrics import roc_auc_score

    x_new = rng.normal(size=(4000, d)) * x.std(0) + x.mean(0)
    p_new = 1 / (1 + np.exp(-((x_new - x.mean(0)) / x.std(0)) @ beta))
    y_new = (rng.random(4000) < p_new).astype(int)
    assert roc_auc_score(y_new, fit.p_yes(x_new)) > roc_auc_score(y_new, p_new) - 0.03


def test_probe_round_trips_as_plain_data_and_refuses_bad_input():
    import json

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6)), np.array([0, 1] * 20)
    x[:, 5] = 1.0  # a constant feature is harmless
    fit = fit_probe(x, y, cs=(0.1, 1.0), layer=4)
    again = ProbeFit.from_dict(json.loads(json.dumps(fit.to_dict())))
    np.testing.assert_allclose(again.p_yes(x), fit.p_yes(x))
    assert again.layer == 4 and np.isfinite(fit.p_yes(x)).all()
    with pytest.raises(TrainingError, match="2 patients of each class"):
        fit_probe(x, np.array([0] * 39 + [1]))
    with pytest.raises(TrainingError, match="features"):
        fit.p_yes(x[:, :3])


# ---------------------------------------------------------------- LP-FT: LoRA through a head that starts as the probe


def _probe_on_tiny(arch="llama"):
    from tiny_models import separable_items

    model, tok = load_tiny(arch, layers=3)
    train = separable_items(tok, arch, 12)
    val = separable_items(tok, arch, 4, start=12)
    prompts = [_prompt_of(tok, it) for it in train + val]
    feats = last_token_features(model, tok, prompts).states
    fit = fit_probe(feats[:12], [it.label for it in train], cs=(0.1, 1.0), folds=3)
    return model, tok, train, val, prompts, feats, fit


def _prompt_of(tok, item):
    from clinpred.core.llm.tokens import decode

    return decode(tok, list(item.example.ids[: item.example.prompt_len]))


def test_a_head_from_the_probe_computes_the_probes_probability():
    from clinpred.core.llm.label_head import head_from_probe, head_p_yes

    model, tok, _, _, prompts, feats, fit = _probe_on_tiny()
    head = head_from_probe(fit)
    np.testing.assert_allclose(head_p_yes(model, tok, prompts, head), fit.p_yes(feats), atol=1e-5)


def test_lp_ft_trains_lora_and_the_head_and_keeps_both(tmp_path):
    import mlx_lm

    from clinpred.core.llm.label_head import HEAD_FILE, head_arrays, head_from_probe, head_p_yes, load_head
    from clinpred.core.llm.training import TrainConfig, train_lora
    from clinpred.core.llm.training_eval import evaluate_all, label_ids_for
    from tiny_models import tiny_model_dir

    model, tok, train, val, prompts, feats, fit = _probe_on_tiny()
    head = head_from_probe(fit)
    before = head_arrays(head)[0].copy()
    cfg = TrainConfig(rank=4, alpha=8, lora_layers=2, learning_rate=3e-3, batch_size=4, epochs=3, eval_every=3,
                      objective="label", select_metric="log_loss")
    result = train_lora(model, tok, train, val, cfg, tmp_path, positive="Yes", negative="No", head=head)
    assert result.notes[0].startswith("frozen-trunk cache: on")  # the head does not block the cache
    assert not np.allclose(head_arrays(head)[0], before)  # the head was trained
    assert (tmp_path / HEAD_FILE).is_file()
    np.testing.assert_allclose(head_arrays(load_head(tmp_path))[0], head_arrays(head)[0])
    # the adapter alone loads in mlx-lm (no head tensors in it)
    loaded, _ = mlx_lm.load(str(tiny_model_dir("llama", layers=3)), adapter_path=str(tmp_path))
    # the kept checkpoint's validation log-loss is the head's probability on the validation part
    p_val = head_p_yes(model, tok, prompts[12:], head)
    y = np.array([it.label for it in val])
    log_loss = -np.mean(y * np.log(p_val) + (1 - y) * np.log(1 - p_val))
    chosen = next(e for e in result.evaluations if e["step"] == result.best_step)
    assert chosen["val_log_loss"] == pytest.approx(log_loss, rel=1e-4)
    assert "clinpred_label_head" not in model  # detached after training
    with pytest.raises(TrainingError, match="objective"):
        model2, tok2 = load_tiny("llama", layers=3)
        train_lora(model2, tok2, train, val, TrainConfig(rank=4, alpha=8, lora_layers=2, iters=1), tmp_path / "x",
                   head=head_from_probe(fit))
