"""Converting a GGUF file into an MLX model directory that ``mlx_lm.load`` opens.

A file whose tensors are all F32, F16, Q4_0, Q4_1 or Q8_0 is read by MLX itself
(``mx.load(path, return_metadata=True)``): the quantized ones stay MLX affine-quantized weights
(group size 32). Any other file is read with the ``gguf`` package (llama.cpp's own reader), which
dequantizes every llama.cpp quant type listed in :mod:`.gguf_header` to float16. This module maps
the tensor names to mlx-lm's, writes ``config.json`` from the metadata (with the quantization
of each layer), ``model.safetensors`` and the tokenizer (:mod:`.gguf_tokenizer`), atomically.

Which architectures convert, and how, is data the family plugins declare (:mod:`.gguf_formats`):
the plain decoder layout plus each architecture's tensor names, extra config keys, whether
llama.cpp permuted the q/k projections for interleaved rotary embeddings (then
``rope_traditional: true``) and an offset for norm weights.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from clinpred.core.errors import ModelError
from clinpred.core.weights.gguf_formats import GGUFFormats
from clinpred.core.weights.gguf_header import KEPT_TYPES, READABLE_TYPES, read_header, unreadable_tensors
from clinpred.core.values import GGUFArchitecture

#: The plain decoder's per-layer tensors (GGUF name -> mlx-lm name); architectures add to it.
_LAYER_TENSORS = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}
_GLOBAL_TENSORS = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
_NAME = re.compile(r"^(?:blk\.(\d+)\.)?([a-z_]+)\.(weight|scales|biases|bias)$")
#: The file format's version written into ``clinpred.json``; bump when the output changes.
CONVERTER_VERSION = 2


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _f32(value: Any) -> float:
    """A float32 metadata value as the decimal it was written from (1e-05, not 9.99e-06)."""
    return float(f"{float(value):.7g}")


def _layer_names(arch: GGUFArchitecture) -> dict[str, str]:
    names = {**_LAYER_TENSORS, **arch.tensor_names}
    return {k: v for k, v in names.items() if v}


def _mlx_name(name: str, n_layers: int, layer_names: dict[str, str], source: str) -> str:
    m = _NAME.match(name)
    if m is None:
        raise ModelError(f"{source}: unexpected tensor {name!r}; this GGUF layout is not supported")
    layer, base, suffix = m.groups()
    if layer is not None:
        if base not in layer_names or int(layer) >= n_layers:
            raise ModelError(f"{source}: unexpected tensor {name!r}; this GGUF layout is not supported")
        return f"model.layers.{layer}.{layer_names[base]}.{suffix}"
    if base not in _GLOBAL_TENSORS:
        raise ModelError(f"{source}: unexpected tensor {name!r}; this GGUF layout is not supported")
    return f"{_GLOBAL_TENSORS[base]}.{suffix}"


def _required(n_layers: int, layer_names: dict[str, str]) -> list[str]:
    names = ["token_embd.weight", "output_norm.weight"]
    return names + [f"blk.{i}.{t}.weight" for i in range(n_layers) for t in layer_names]


def _config(md: dict[str, Any], arch: GGUFArchitecture, weights: dict[str, Any], source: str) -> dict[str, Any]:
    prefix = arch.name

    def get(key: str, default: Any = None, *, required: bool = True) -> Any:
        value = md.get(f"{prefix}.{key}")
        if value is None:
            if required and default is None:
                raise ModelError(f"{source}: the GGUF metadata has no {prefix}.{key}; the file is incomplete")
            return default
        return _scalar(value)

    heads = int(get("attention.head_count"))
    hidden = int(get("embedding_length"))
    config: dict[str, Any] = {
        "model_type": arch.model_type,
        "hidden_size": hidden,
        "num_hidden_layers": int(get("block_count")),
        "intermediate_size": int(get("feed_forward_length")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(get("attention.head_count_kv", heads)),
        "rms_norm_eps": _f32(get("attention.layer_norm_rms_epsilon", 1e-5)),
        "rope_theta": _f32(get("rope.freq_base", 10000.0)),
        "rope_traditional": arch.permuted_qk,
        "vocab_size": int(weights["model.embed_tokens.weight"].shape[0]),
        "max_position_embeddings": int(get("context_length", 2048)),
        "tie_word_embeddings": "lm_head.weight" not in weights,
    }
    key_length = get("attention.key_length", required=False)
    config["head_dim"] = int(key_length) if key_length is not None else hidden // heads
    scaling = get("rope.scaling.type", required=False)
    if scaling == "linear":
        config["rope_scaling"] = {"type": "linear", "factor": float(get("rope.scaling.factor"))}
    elif scaling not in (None, "none"):
        raise ModelError(f"{source}: rope scaling {scaling!r} is not supported")
    for key, field in arch.config_keys.items():
        value = get(key, required=False)
        if value is not None:
            config[field] = _f32(value) if isinstance(value, float) else value
    config.update(arch.config)
    for key, field in (("bos_token_id", "bos_token_id"), ("eos_token_id", "eos_token_id")):
        value = md.get(f"tokenizer.ggml.{key}")
        if value is not None:
            config[field] = int(_scalar(value))
    return config


def _quantization(weights: dict[str, Any]) -> dict[str, Any] | None:
    """mlx-lm's ``quantization`` config: the most common bits, per-layer overrides for others."""
    bits: dict[str, int] = {}
    for name, w in weights.items():
        if name.endswith(".scales"):
            layer = name[: -len(".scales")]
            bits[layer] = int(weights[f"{layer}.weight"].shape[-1] // w.shape[-1])
    if not bits:
        return None
    common = Counter(bits.values()).most_common(1)[0][0]
    quant: dict[str, Any] = {"group_size": 32, "bits": common}
    for layer, b in sorted(bits.items()):
        if b != common:
            quant[layer] = {"group_size": 32, "bits": b}
    return quant


def read_gguf(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Tensors and metadata (arrays included) of a GGUF file; :class:`ModelError` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file; give the path of a .gguf file")
    header = read_header(path, arrays=True)
    bad = unreadable_tensors(header)
    if bad:
        name, kind = next(iter(bad.items()))
        raise ModelError(
            f"{path}: tensor {name!r} has type {kind}, which clinpred cannot read "
            f"({len(bad)} such tensors); supported types: {', '.join(sorted(READABLE_TYPES))}"
        )
    size = path.stat().st_size
    if header.data_end is not None and size < header.data_end:
        raise ModelError(
            f"{path}: the GGUF file is truncated: its tensors need {header.data_end} bytes, it has {size} "
            "(an incomplete download, or one chunk of a split GGUF); use the whole file"
        )
    from clinpred.core.weights import blas

    blas.activate()  # before mlx is first imported, or it has no effect
    if all(kind in KEPT_TYPES for kind in header.tensor_types.values()):
        import mlx.core as mx

        try:
            weights, _md = mx.load(str(path), return_metadata=True)
        except (RuntimeError, ValueError, OSError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelError(f"{path}: corrupt or truncated GGUF file ({detail}); download it again") from None
    else:
        from clinpred.core.weights.gguf_tensors import dequantized_tensors

        weights = dequantized_tensors(path)
    return weights, header.metadata


def convert_gguf(
    path: str | Path,
    out_dir: str | Path,
    *,
    extra: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    formats: GGUFFormats | None = None,
) -> Path:
    """Convert a GGUF file into the MLX model directory ``out_dir`` (replaced atomically).

    Tensors MLX reads quantized stay quantized (``config.json`` says how); the precision policy
    dequantizes at load time. ``extra`` is stored in ``clinpred.json`` beside the model.
    ``formats`` defaults to the table the registry installed (:func:`.gguf_formats.current`).
    """
    path, out_dir = Path(path), Path(out_dir)
    source = str(path)
    say = progress or (lambda _msg: None)
    if formats is None:
        from clinpred.core.weights import gguf_formats

        formats = gguf_formats.current()
    say("reading GGUF")
    if path.is_file():  # refuse an unsupported architecture before the (slow) tensor read
        formats.architecture(read_header(path).scalars.get("general.architecture"), source)
    weights, md = read_gguf(path)
    arch = formats.architecture(md.get("general.architecture"), source)
    layer_names = _layer_names(arch)
    n_layers = int(_scalar(md.get(f"{arch.name}.block_count", 0)))
    missing = [n for n in _required(n_layers, layer_names) if n not in weights]
    if n_layers <= 0 or missing:
        what = f"tensor {missing[0]!r} is missing" if missing else "it declares no layers"
        raise ModelError(f"{source}: incomplete or unsupported GGUF model ({what})")
    mapped = {_mlx_name(name, n_layers, layer_names, source): w for name, w in weights.items()}
    if arch.norm_offset:
        mapped = {k: (w + arch.norm_offset if k.endswith("norm.weight") else w) for k, w in mapped.items()}
    config = _config(md, arch, mapped, source)
    quant = _quantization(mapped)
    if quant is not None:
        config["quantization"] = quant
        config["quantization_config"] = quant

    import mlx.core as mx

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        say("writing weights")
        mx.save_safetensors(str(tmp / "model.safetensors"), mapped, metadata={"format": "mlx"})
        (tmp / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        say("writing tokenizer")
        from clinpred.core.weights.gguf_tokenizer import write_tokenizer

        write_tokenizer(
            md, tmp, source=source, max_length=config["max_position_embeddings"],
            split_rule=formats.split_rule, sentencepiece=arch.sentencepiece,
        )
        info = {
            "converter_version": CONVERTER_VERSION,
            "source_file": path.name,
            "architecture": arch.name,
            "gguf_name": md.get("general.name"),
            "license": md.get("general.license"),
            **(extra or {}),
        }
        (tmp / "clinpred.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
        _check_loads(tmp, config["model_type"], source)
        from clinpred.core.weights.cache_integrity import record_files

        record_files(tmp)  # each file's sha256, checked whenever the model is loaded from the cache
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _check_loads(model_dir: Path, model_type: str, source: str) -> None:
    """mlx-lm builds the model from ``config.json`` and takes every tensor (lazily: no compute)."""
    from mlx_lm.utils import load_model

    try:
        load_model(model_dir, lazy=True, strict=True)
    except (ValueError, KeyError, TypeError) as exc:
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise ModelError(
            f"{source}: the GGUF tensors do not fit mlx-lm's {model_type!r} model ({detail}); "
            "this GGUF layout is not supported"
        ) from None


def _replace_dir(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``, replacing an existing directory with one rename each."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
