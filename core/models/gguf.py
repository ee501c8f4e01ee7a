"""Converting a GGUF file into an MLX model directory that ``mlx_lm.load`` opens.

MLX reads GGUF natively (``mx.load(path, return_metadata=True)``): Q4_0, Q4_1 and Q8_0 tensors
come back as MLX affine-quantized weights (group size 32), F16/F32 as floats, and a few other
types (BF16, Q2_K, Q4_K, Q6_K) dequantized to float16. This module maps the tensor names to
mlx-lm's, writes ``config.json`` from the metadata (with the quantization of each layer),
``model.safetensors`` and the tokenizer. The output is written atomically.

Supported architecture: the plain decoder layout of GGUF architecture id ``"llama"`` (an
architecture id of the file format, also used by many model families). GGUF stores the q/k
projections permuted for interleaved rotary embeddings, hence ``rope_traditional: true``.
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
from clinpred.core.models.gguf_header import READABLE_TYPES, read_header, unreadable_tensors

#: GGUF architecture id -> mlx-lm ``model_type``.
ARCHITECTURES = {"llama": "llama"}

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
_NAME = re.compile(r"^(?:blk\.(\d+)\.)?([a-z_]+)\.(weight|scales|biases)$")
#: The file format's version written into ``clinpred.json``; bump when the output changes.
CONVERTER_VERSION = 1


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _f32(value: Any) -> float:
    """A float32 metadata value as the decimal it was written from (1e-05, not 9.99e-06)."""
    return float(f"{float(value):.7g}")


def _mlx_name(name: str, n_layers: int, source: str) -> str:
    m = _NAME.match(name)
    if m is None:
        raise ModelError(f"{source}: unexpected tensor {name!r}; this GGUF layout is not supported")
    layer, base, suffix = m.groups()
    if layer is not None:
        if base not in _LAYER_TENSORS or int(layer) >= n_layers:
            raise ModelError(f"{source}: unexpected tensor {name!r}; this GGUF layout is not supported")
        return f"model.layers.{layer}.{_LAYER_TENSORS[base]}.{suffix}"
    if base not in _GLOBAL_TENSORS:
        raise ModelError(f"{source}: unexpected tensor {name!r}; this GGUF layout is not supported")
    return f"{_GLOBAL_TENSORS[base]}.{suffix}"


def _required(n_layers: int) -> list[str]:
    names = ["token_embd.weight", "output_norm.weight"]
    return names + [f"blk.{i}.{t}.weight" for i in range(n_layers) for t in _LAYER_TENSORS]


def _config(md: dict[str, Any], arch: str, weights: dict[str, Any], source: str) -> dict[str, Any]:
    def get(key: str, default: Any = None, *, required: bool = True) -> Any:
        value = md.get(f"{arch}.{key}")
        if value is None:
            if required and default is None:
                raise ModelError(f"{source}: the GGUF metadata has no {arch}.{key}; the file is incomplete")
            return default
        return _scalar(value)

    heads = int(get("attention.head_count"))
    hidden = int(get("embedding_length"))
    config: dict[str, Any] = {
        "model_type": ARCHITECTURES[arch],
        "hidden_size": hidden,
        "num_hidden_layers": int(get("block_count")),
        "intermediate_size": int(get("feed_forward_length")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(get("attention.head_count_kv", heads)),
        "rms_norm_eps": _f32(get("attention.layer_norm_rms_epsilon", 1e-5)),
        "rope_theta": _f32(get("rope.freq_base", 10000.0)),
        "rope_traditional": True,
        "vocab_size": int(weights["model.embed_tokens.weight"].shape[0]),
        "max_position_embeddings": int(get("context_length", 2048)),
        "tie_word_embeddings": "lm_head.weight" not in weights,
    }
    key_length = get("attention.key_length", required=False)
    if key_length is not None and int(key_length) != hidden // heads:
        config["head_dim"] = int(key_length)
    scaling = get("rope.scaling.type", required=False)
    if scaling == "linear":
        config["rope_scaling"] = {"type": "linear", "factor": float(get("rope.scaling.factor"))}
    elif scaling not in (None, "none"):
        raise ModelError(f"{source}: rope scaling {scaling!r} is not supported")
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
    """Tensors and metadata of a GGUF file MLX can read; :class:`ModelError` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file; give the path of a .gguf file")
    header = read_header(path)
    bad = unreadable_tensors(header)
    if bad:
        name, kind = next(iter(bad.items()))
        raise ModelError(
            f"{path}: tensor {name!r} has type {kind}, which MLX cannot read "
            f"({len(bad)} such tensors); supported types: {', '.join(sorted(READABLE_TYPES))}"
        )
    from clinpred.core.models import blas

    blas.activate()  # before mlx is first imported, or it has no effect
    import mlx.core as mx

    try:
        weights, md = mx.load(str(path), return_metadata=True)
    except (RuntimeError, ValueError, OSError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"{path}: corrupt or truncated GGUF file ({detail}); download it again") from None
    return weights, md


def convert_gguf(
    path: str | Path,
    out_dir: str | Path,
    *,
    extra: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Convert a GGUF file into the MLX model directory ``out_dir`` (replaced atomically).

    Quantized tensors stay quantized (``config.json`` says how); the precision policy
    dequantizes at load time. ``extra`` is stored in ``clinpred.json`` beside the model.
    """
    path, out_dir = Path(path), Path(out_dir)
    source = str(path)
    say = progress or (lambda _msg: None)
    say("reading GGUF")
    weights, md = read_gguf(path)
    arch = md.get("general.architecture")
    if arch not in ARCHITECTURES:
        raise ModelError(
            f"{source}: GGUF architecture {arch!r} is not supported "
            f"(supported: {', '.join(sorted(ARCHITECTURES))})"
        )
    n_layers = int(_scalar(md.get(f"{arch}.block_count", 0)))
    missing = [n for n in _required(n_layers) if n not in weights]
    if n_layers <= 0 or missing:
        what = f"tensor {missing[0]!r} is missing" if missing else "it declares no layers"
        raise ModelError(f"{source}: incomplete or unsupported GGUF model ({what})")
    mapped = {_mlx_name(name, n_layers, source): w for name, w in weights.items()}
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
        from clinpred.core.models.gguf_tokenizer import write_tokenizer

        write_tokenizer(md, tmp, source=source, max_length=config["max_position_embeddings"])
        info = {
            "converter_version": CONVERTER_VERSION,
            "source_file": path.name,
            "architecture": arch,
            "gguf_name": md.get("general.name"),
            "license": md.get("general.license"),
            **(extra or {}),
        }
        (tmp / "clinpred.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _replace_dir(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``, replacing an existing directory with one rename each."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
