"""The mlx-lm compatibility layer: LoRA conversion, adapter files, forward helpers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tiny_models import ARCHITECTURES, load_tiny, tiny_model_dir

from clinpred.core.weights import mlx_compat
from clinpred.core.errors import ModelError, TrainingError

ARCHS = list(ARCHITECTURES)


def _config(layers=2, dora=False):
    return mlx_compat.adapter_config(num_layers=layers, rank=4, scale=2.0, dropout=0.0, dora=dora)


def test_mlx_lm_is_the_pinned_series():
    assert mlx_compat.check_mlx_lm_version().startswith(mlx_compat.MLX_LM_SERIES)


@pytest.mark.parametrize("arch", ARCHS)
def test_output_head_split_matches_the_full_forward(arch):
    import mlx.core as mx

    model, _ = load_tiny(arch)
    assert mlx_compat.head_split(model)
    tokens = mx.array([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16]])
    flat = mx.array([2, 5, 6, 9])
    full = np.array(model(tokens)).reshape(12, -1)
    np.testing.assert_allclose(np.array(mlx_compat.logits_at(model, tokens, flat)), full[[2, 5, 6, 9]],
                               rtol=1e-5, atol=1e-5)


def test_an_architecture_with_extra_head_work_falls_back_to_full_logits():
    import mlx.core as mx

    model, _ = load_tiny("qwen2")
    base_call = type(model).__call__
    capped = type("Capped", (type(model),), {"__call__": lambda self, x, cache=None: 3.0 * mx.tanh(base_call(self, x, cache))})
    model.__class__ = capped
    assert not mlx_compat.head_split(model)
    tokens = mx.array([[5, 6, 7, 8]])
    np.testing.assert_allclose(np.array(mlx_compat.logits_at(model, tokens, mx.array([1, 3]))),
                               np.array(model(tokens))[0, [1, 3]], rtol=1e-6)


@pytest.mark.parametrize("arch", ["llama", "phi3"])
def test_apply_lora_trains_only_the_adapters_of_the_last_layers(arch):
    model, _ = load_tiny(arch, layers=3)
    mlx_compat.apply_lora(model, _config(layers=2))
    names = list(mlx_compat.trainable_parameters(model))
    assert names and all(n.rsplit(".", 1)[-1] in ("lora_a", "lora_b") for n in names)
    assert {n.split(".")[2] for n in names} == {"1", "2"}  # model.layers.<i>...


def test_saved_adapters_load_with_mlx_lm(tmp_path):
    import mlx.core as mx
    import mlx_lm

    model, _ = load_tiny("qwen3")
    config = _config()
    mlx_compat.apply_lora(model, config)
    weights = {k: mx.random.normal(v.shape, key=mx.random.key(i)) * 0.1
               for i, (k, v) in enumerate(sorted(mlx_compat.trainable_parameters(model).items()))}
    mlx_compat.set_parameters(model, weights)
    mlx_compat.save_adapters(model, tmp_path, config)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter_config.json", "adapters.safetensors"]
    saved = json.loads((tmp_path / "adapter_config.json").read_text())
    assert saved == {"fine_tune_type": "lora", "num_layers": 2,
                     "lora_parameters": {"rank": 4, "scale": 2.0, "dropout": 0.0}}
    tokens = mx.array([[3, 4, 5, 6]])
    model.eval()
    loaded, _ = mlx_lm.load(str(tiny_model_dir("qwen3")), adapter_path=str(tmp_path))
    np.testing.assert_allclose(np.array(loaded(tokens)), np.array(model(tokens)), rtol=1e-5, atol=1e-5)
    base, _ = load_tiny("qwen3")
    again = mlx_compat.load_adapters(base, tmp_path)
    np.testing.assert_allclose(np.array(again(tokens)), np.array(model(tokens)), rtol=1e-5, atol=1e-5)


def test_adapter_errors(tmp_path):
    model, _ = load_tiny("qwen2")
    with pytest.raises(ModelError, match="adapter_config.json"):
        mlx_compat.load_adapters(model, tmp_path)
    with pytest.raises(TrainingError, match="lora_layers"):
        mlx_compat.apply_lora(model, _config(layers=9))
    with pytest.raises(ModelError, match="cannot load model"):
        mlx_compat.load_model(tmp_path / "missing")


def test_atomic_writes_leave_no_temporary_files(tmp_path):
    import mlx.core as mx

    mlx_compat.atomic_save_safetensors(tmp_path / "a.safetensors", {"x": mx.zeros((2,))}, {"k": "v"})
    mlx_compat.atomic_write_json(tmp_path / "a.json", {"b": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.safetensors"]
    arrays, meta = mx.load(str(tmp_path / "a.safetensors"), return_metadata=True)
    assert meta == {"k": "v"} and arrays["x"].shape == (2,)


def test_grad_checkpointing_is_undone():
    model, _ = load_tiny("gemma3_text")
    cls = type(model.layers[0])
    original = cls.__call__
    with mlx_compat.grad_checkpointing(model):
        assert cls.__call__ is not original
    assert cls.__call__ is original
    with mlx_compat.grad_checkpointing(model, enabled=False):
        assert cls.__call__ is original
