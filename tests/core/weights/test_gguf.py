"""GGUF -> MLX conversion on tiny hand-written GGUF files (tests/gguf_writer.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import gguf_writer as gw
from clinpred.core.errors import ModelError
from clinpred.core.weights.gguf import convert_gguf
from clinpred.core.weights.gguf_header import read_header


def _load(path: Path):
    from mlx_lm import load

    return load(str(path))


@pytest.mark.parametrize("kind,bits", [(gw.Q8_0, 8), (gw.Q4_0, 4), (gw.Q4_1, 4), (gw.F16, None), (gw.F32, None)])
def test_convert_keeps_weights_and_loads(tmp_path: Path, kind: int, bits: int | None) -> None:
    import mlx.core as mx

    src, tensors = gw.tiny_decoder(tmp_path / "m.gguf", kind=kind)
    out = convert_gguf(src, tmp_path / "out")
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "llama"
    assert config["rope_traditional"] is True
    assert config["tie_word_embeddings"] is True
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_key_value_heads"]) == (64, 2, 2)
    assert config["rms_norm_eps"] == 1e-5
    assert config.get("quantization", {}).get("bits") == bits
    if kind in (gw.Q4_0, gw.Q4_1):  # ffn_down is Q8_0 in the fixture: a per-layer override
        assert config["quantization"]["model.layers.0.mlp.down_proj"] == {"group_size": 32, "bits": 8}

    model, tok = _load(out)
    layer = model.model.layers[1].self_attn.q_proj
    arr, k = tensors["blk.1.attn_q.weight"]
    if bits is None:
        got = np.array(layer.weight.astype(mx.float32))
        want = arr.astype(np.float16).astype(np.float32) if kind == gw.F16 else arr
    else:
        got = np.array(mx.dequantize(layer.weight, layer.scales, layer.biases, group_size=32, bits=layer.bits))
        want = gw.dequantize(gw.quantize(arr, k), k, arr.shape)
    np.testing.assert_allclose(got, want, atol=2e-3)
    logits = model(mx.array([[5, 6, 7]]))
    assert logits.shape == (1, 3, config["vocab_size"])


def test_tokenizer_and_chat_template(tmp_path: Path) -> None:
    src, _ = gw.tiny_decoder(tmp_path / "m.gguf")
    out = convert_gguf(src, tmp_path / "out")
    _, tok = _load(out)
    hf = tok._tokenizer
    ids = hf.encode("<|im_start|>user\nsay the 2024<|im_end|>", add_special_tokens=False)
    vocab = hf.get_vocab()
    assert ids[0] == vocab["<|im_start|>"] and ids[-1] == vocab["<|im_end|>"]
    assert vocab["Ġthe"] in ids  # merges applied
    assert [hf.decode([i]) for i in ids[-5:-1]] == ["2", "0", "2", "4"]  # digits split one by one
    assert hf.decode(ids) == "<|im_start|>user\nsay the 2024<|im_end|>"
    text = hf.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True, tokenize=False)
    assert text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert tok.eos_token == "<|im_end|>" and tok.eos_token_ids == {2}
    config = json.loads((out / "tokenizer_config.json").read_text())
    assert config["chat_template"] == gw.CHAT_TEMPLATE and config["add_bos_token"] is False


def test_untied_output_and_replacing_existing(tmp_path: Path) -> None:
    src, _ = gw.tiny_decoder(tmp_path / "m.gguf", tied=False)
    target = tmp_path / "out"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    convert_gguf(src, target)
    assert not (target / "stale.txt").exists()
    assert json.loads((target / "config.json").read_text())["tie_word_embeddings"] is False
    model, _ = _load(target)
    assert hasattr(model, "lm_head")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp dirs left


def test_not_a_gguf_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"PK\x03\x04 not gguf at all")
    with pytest.raises(ModelError, match="not a GGUF file"):
        convert_gguf(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("keep", [0.3, 0.97])
def test_truncated_file(tmp_path: Path, keep: float) -> None:
    src, _ = gw.tiny_decoder(tmp_path / "m.gguf")
    data = src.read_bytes()
    src.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelError, match="truncated") as info:
        convert_gguf(src, tmp_path / "out")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_unsupported_tensor_type(tmp_path: Path) -> None:
    iq2 = np.zeros((4, 256), np.float32)
    extra = {"blk.0.extra.weight": (iq2, gw.IQ2_XXS)}
    src, _ = gw.tiny_decoder(tmp_path / "m.gguf", kind=gw.F32, extra_tensors=extra)
    with pytest.raises(ModelError, match=r"'blk.0.extra.weight' has type IQ2_XXS, which clinpred cannot read"):
        convert_gguf(src, tmp_path / "out")


def test_other_architecture(tmp_path: Path) -> None:
    src, _ = gw.tiny_decoder(tmp_path / "m.gguf", kind=gw.F32, arch="falcon")
    with pytest.raises(ModelError, match="architecture 'falcon' is not supported"):
        convert_gguf(src, tmp_path / "out")


def test_missing_and_unexpected_tensors(tmp_path: Path) -> None:
    src, _ = gw.tiny_decoder(tmp_path / "a.gguf", kind=gw.F32, drop=("blk.1.ffn_up.weight",))
    with pytest.raises(ModelError, match="'blk.1.ffn_up.weight' is missing"):
        convert_gguf(src, tmp_path / "out")
    bias = (np.zeros(64, np.float32), gw.F32)
    src, _ = gw.tiny_decoder(tmp_path / "b.gguf", kind=gw.F32, extra_tensors={"blk.0.attn_q.bias": bias})
    with pytest.raises(ModelError, match=r"tensors do not fit mlx-lm's 'llama' model .*q_proj\.bias"):
        convert_gguf(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unsupported_tokenizer(tmp_path: Path) -> None:
    src, tensors = gw.tiny_decoder(tmp_path / "m.gguf", kind=gw.F32)
    header = read_header(src)
    assert header.scalars["tokenizer.ggml.model"] == "gpt2"
    md = {k: v for k, v in header.scalars.items()}
    md["tokenizer.ggml.model"] = "bert"
    md["tokenizer.ggml.tokens"] = ["a", "b"]
    gw.write_gguf(src, md, tensors)
    with pytest.raises(ModelError, match="tokenizer type 'bert' is not supported"):
        convert_gguf(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_header_reader(tmp_path: Path) -> None:
    src, tensors = gw.tiny_decoder(tmp_path / "m.gguf", kind=gw.Q4_1)
    header = read_header(src)
    assert header.version == 3
    assert header.scalars["general.architecture"] == "llama"
    assert header.tensor_types["blk.0.attn_q.weight"] == "Q4_1"
    assert header.tensor_types["blk.0.ffn_down.weight"] == "Q8_0"
    assert header.tensor_types["output_norm.weight"] == "F32"
    assert set(header.tensor_types) == set(tensors)
