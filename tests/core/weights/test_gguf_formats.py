"""GGUF conversion driven by the families' declarations: quant types read by the gguf package,
architectures other than the plain decoder, llama.cpp pre-tokenizer names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import gguf_writer as gw
from clinpred.core.errors import ModelError
from clinpred.core.weights import gguf_formats
from clinpred.core.weights.gguf import convert_gguf
from clinpred.core.weights.gguf_header import read_header
from clinpred.core.values import FamilySpec, GGUFArchitecture

#: The largest error llama.cpp's block formats allow for N(0, 0.05) weights (step/2 of the block
#: scale with 16 (Q5) or 256 (BF16) levels), with a margin.
TOLERANCE = {gw.Q5_0: 0.02, gw.Q5_1: 0.02, gw.BF16: 2e-3}


@pytest.mark.parametrize("kind", [gw.Q5_0, gw.Q5_1, gw.BF16])
def test_types_mlx_cannot_read_are_dequantized(tmp_path: Path, kind: int) -> None:
    import mlx.core as mx
    from mlx_lm import load

    src, tensors = gw.tiny_decoder(tmp_path / "m.gguf", kind=kind)
    out = convert_gguf(src, tmp_path / "out")
    config = json.loads((out / "config.json").read_text())
    assert "quantization" not in config  # dequantized to floats
    model, _ = load(str(out))
    want = tensors["blk.1.attn_q.weight"][0]  # the float weights before quantization
    got = np.array(model.model.layers[1].self_attn.q_proj.weight.astype(mx.float32))
    assert np.abs(got - want).max() < TOLERANCE[kind]
    assert np.abs(got - want).max() > 0  # it really went through the quantized format
    assert model(mx.array([[5, 6, 7]])).shape == (1, 3, config["vocab_size"])


def _retag(src: Path, **changes) -> None:
    header = read_header(src, arrays=True)
    md = dict(header.metadata)
    md.update(changes)
    tensors = _tensors_of(src)
    gw.write_gguf(src, md, tensors)


def _tensors_of(src: Path):
    import gguf

    reader = gguf.GGUFReader(str(src))
    out = {}
    for t in reader.tensors:
        shape = tuple(int(n) for n in reversed(t.shape.tolist()))
        out[t.name] = (np.asarray(t.data, np.float32).reshape(shape), gw.F32)
    return out


@pytest.mark.parametrize("pre", ["deepseek-r1-qwen", "qwen2", "llama-bpe", "smollm", "gpt-4o", "tekken", "default"])
def test_every_declared_pre_tokenizer_converts(tmp_path: Path, pre: str) -> None:
    src, _ = gw.tiny_decoder(tmp_path / "m.gguf", kind=gw.F32)
    _retag(src, **{"tokenizer.ggml.pre": pre})
    out = convert_gguf(src, tmp_path / "out")
    tok = json.loads((out / "tokenizer.json").read_text())
    assert tok["pre_tokenizer"]["type"] == "Sequence"


def test_unknown_pre_tokenizer_is_one_line_naming_it(tmp_path: Path) -> None:
    src, _ = gw.tiny_decoder(tmp_path / "m.gguf", kind=gw.F32)
    _retag(src, **{"tokenizer.ggml.pre": "made-up-bpe"})
    with pytest.raises(ModelError, match=r"pre-tokenizer 'made-up-bpe' is not supported \(supported: .*qwen2") as exc:
        convert_gguf(src, tmp_path / "out")
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "out").exists()


def test_unknown_architecture_lists_the_declared_ones(tmp_path: Path) -> None:
    src, _ = gw.tiny_decoder(tmp_path / "m.gguf", kind=gw.F32, arch="falcon")
    with pytest.raises(ModelError, match=r"architecture 'falcon' is not supported \(supported: gemma2, gemma3, llama"):
        convert_gguf(src, tmp_path / "out")


def _qkv_biases() -> dict:
    rng = np.random.default_rng(1)
    biases = {}
    for i in range(2):
        for name, n in (("attn_q", 64), ("attn_k", 32), ("attn_v", 32)):
            biases[f"blk.{i}.{name}.bias"] = (rng.standard_normal(n).astype(np.float32), gw.F32)
    return biases


def test_qwen2_layout_with_biases_converts(tmp_path: Path) -> None:
    biases = _qkv_biases()
    src, _ = gw.tiny_decoder(tmp_path / "m.gguf", kind=gw.F32, arch="qwen2", extra_tensors=biases)
    _retag(src, **{"tokenizer.ggml.pre": "deepseek-r1-qwen"})
    out = convert_gguf(src, tmp_path / "out")
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "qwen2" and config["rope_traditional"] is False
    from mlx_lm import load

    model, _ = load(str(out))
    got = np.array(model.model.layers[1].self_attn.k_proj.bias)
    np.testing.assert_allclose(got, biases["blk.1.attn_k.bias"][0])


def test_norm_offset_and_extra_config_keys(tmp_path: Path) -> None:
    arch = GGUFArchitecture(name="llama", model_type="llama", config_keys={"rope.dimension_count": "x_dims"},
                            norm_offset=-1.0)
    formats = gguf_formats.from_families([FamilySpec(name="t", gguf_architectures=(arch,),
                                                      gguf_pre_tokenizers={"smollm": "gpt2-digits"})])
    src, _ = gw.tiny_decoder(tmp_path / "m.gguf", kind=gw.F32)
    _retag(src, **{"llama.rope.dimension_count": 16})
    out = convert_gguf(src, tmp_path / "out", formats=formats)
    config = json.loads((out / "config.json").read_text())
    assert config["x_dims"] == 16 and config["rope_traditional"] is False
    from mlx_lm import load

    model, _ = load(str(out))
    assert float(model.model.norm.weight.sum()) == 0.0  # stored as 1.0, offset by -1


def test_a_plugin_mapping_to_a_missing_split_rule_is_named(tmp_path: Path) -> None:
    formats = gguf_formats.from_families([FamilySpec(
        name="broken", gguf_architectures=(GGUFArchitecture(name="llama", model_type="llama"),),
        gguf_pre_tokenizers={"smollm": "no-such-rule"},
    )])
    src, _ = gw.tiny_decoder(tmp_path / "m.gguf", kind=gw.F32)
    with pytest.raises(ModelError, match=r"family broken maps pre-tokenizer 'smollm' to split rule 'no-such-rule'"):
        convert_gguf(src, tmp_path / "out", formats=formats)


def test_the_engine_names_no_family_architecture() -> None:
    from clinpred.core.weights import gguf, gguf_tokenizer

    assert not hasattr(gguf, "ARCHITECTURES") and not hasattr(gguf_tokenizer, "PRE_TOKENIZERS")
    assert gguf_formats.GGUFFormats().architectures == {}


def test_models_import_accepts_only_what_the_named_family_declares(tmp_path: Path) -> None:
    from clirun import clinpred

    env = {"CLINPRED_HOME": str(tmp_path / "home")}
    src, _ = gw.tiny_decoder(tmp_path / "q.gguf", kind=gw.F32, arch="qwen2", extra_tensors=_qkv_biases())
    _retag(src, **{"tokenizer.ggml.pre": "qwen2"})
    refused = clinpred("models", "import", str(src), "--name", "q", "--family", "gemma", env=env)
    assert refused.code == 2
    assert "architecture 'qwen2' is not supported for family 'gemma' (supported: gemma2, gemma3)" in refused.err
    assert not (tmp_path / "home" / "models" / "q").exists()
    ok = clinpred("-q", "models", "import", str(src), "--name", "q", "--family", "qwen", env=env)
    assert ok.code == 0, ok.err
    assert (tmp_path / "home" / "models" / "q" / "config.json").is_file()
