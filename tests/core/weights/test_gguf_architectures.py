"""Every GGUF architecture the built-in families declare converts into a model mlx-lm runs
(tiny random-weight files in each llama.cpp tensor layout)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import gguf_writer as gw
from clinpred.core.weights.gguf import convert_gguf


def _layout(arch: str, layers: int) -> tuple[dict, tuple[str, ...], dict]:
    """(extra tensors, dropped tensors, extra metadata) turning the tiny decoder into ``arch``."""
    rng = np.random.default_rng(2)

    def w(*shape: int) -> tuple[np.ndarray, int]:
        return (rng.standard_normal(shape) * 0.05).astype(np.float32), gw.F32

    def norm(n: int) -> tuple[np.ndarray, int]:
        return np.ones(n, np.float32), gw.F32

    extra: dict = {}
    drop: list[str] = []
    for i in range(layers):
        p = f"blk.{i}."
        if arch == "phi3":  # fused projections: q|k|v and gate|up
            extra[p + "attn_qkv.weight"] = w(64 + 2 * 32, 64)
            extra[p + "ffn_up.weight"] = w(2 * 128, 64)
            drop += [p + n for n in ("attn_q.weight", "attn_k.weight", "attn_v.weight", "ffn_gate.weight")]
        if arch in ("qwen3", "gemma3"):
            extra[p + "attn_q_norm.weight"] = norm(16)
            extra[p + "attn_k_norm.weight"] = norm(16)
        if arch in ("gemma2", "gemma3"):
            extra[p + "post_attention_norm.weight"] = norm(64)
            extra[p + "post_ffw_norm.weight"] = norm(64)
    md = {}
    if arch in ("gemma2", "gemma3"):
        md = {f"{arch}.attention.key_length": 16, f"{arch}.attention.sliding_window": 8}
    return extra, tuple(drop), md


@pytest.mark.parametrize("arch", ["phi3", "qwen3", "gemma2", "gemma3"])
def test_each_declared_architecture_converts_and_runs(tmp_path: Path, arch: str) -> None:
    import mlx.core as mx
    from mlx_lm import load

    layers = 6 if arch == "gemma3" else 2  # mlx-lm's Gemma 3 needs one global-attention layer (every 6th)
    extra, drop, md = _layout(arch, layers)
    src, tensors = gw.tiny_decoder(tmp_path / "m.gguf", kind=gw.F32, arch=arch, layers=layers,
                                   extra_tensors=extra, drop=drop)
    from clinpred.core.weights.gguf_header import read_header

    gw.write_gguf(src, {**read_header(src, arrays=True).metadata, **md}, tensors)
    out = convert_gguf(src, tmp_path / "out")
    config = json.loads((out / "config.json").read_text())
    model, _ = load(str(out))
    assert model(mx.array([[5, 6, 7]])).shape == (1, 3, config["vocab_size"])
    assert config["rope_traditional"] is False  # llama.cpp permutes q/k only for the llama layout
    if arch.startswith("gemma"):  # llama.cpp stores Gemma's norms as 1 + w; mlx-lm adds the 1
        assert float(mx.abs(model.model.layers[0].input_layernorm.weight).sum()) == 0.0
        assert config["query_pre_attn_scalar"] == 16 and config["sliding_window"] == 8
    if arch == "phi3":
        assert model.model.layers[0].self_attn.qkv_proj.weight.shape == (128, 64)


def test_the_header_alone_gives_the_tokenizer_arrays(tmp_path: Path) -> None:
    """read_metadata reads arrays from the header only: a file cut right after its tensor table
    (no tensor data, like the first chunk of a split GGUF) still yields the vocabulary."""
    from clinpred.core.weights.gguf_header import read_header, read_metadata

    src, _ = gw.tiny_decoder(tmp_path / "m.gguf", kind=gw.F32)
    tokens, merges, types = gw.byte_level_vocab()
    full = read_metadata(src)
    cut = tmp_path / "head.gguf"
    data = src.read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # the tensor data of the tiny file is most of it
    assert read_header(cut).tensor_types == read_header(src).tensor_types
    md = read_metadata(cut)
    assert md["tokenizer.ggml.tokens"][: len(tokens)] == tokens and md["tokenizer.ggml.merges"] == merges
    assert md["tokenizer.ggml.token_type"][: len(types)] == types
    assert md == full and "tokenizer.ggml.tokens" not in read_header(cut).scalars


def test_a_chunk_of_a_split_file_is_refused_as_truncated(tmp_path: Path) -> None:
    from clinpred.core.errors import ModelError
    from clinpred.core.weights.gguf_header import read_header

    src, _ = gw.tiny_decoder(tmp_path / "m.gguf", kind=gw.Q8_0)
    assert read_header(src).data_end == src.stat().st_size  # the tensor table accounts for every byte
    cut = tmp_path / "part0.gguf"
    cut.write_bytes(src.read_bytes()[:-100])
    with pytest.raises(ModelError, match=r"truncated: its tensors need \d+ bytes, it has \d+ .*one chunk of a split GGUF"):
        convert_gguf(cut, tmp_path / "out")
    assert not (tmp_path / "out").exists()
