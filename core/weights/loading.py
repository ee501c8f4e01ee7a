"""Loading a model for training and scoring, with the precision policy of :mod:`.device`.

``load_model`` opens a local MLX model directory or a hub id through ``mlx_lm.load``; on the
CPU it dequantizes quantized weights to float32 (see :func:`clinpred.core.weights.device.resolve_precision`).
An optimized BLAS is loaded first when one is installed (:mod:`.blas`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable

from attrs import define

from clinpred.core.errors import ModelError
from clinpred.core.values import GatedMLP
from clinpred.core.weights.model_source import import_gguf, local_path, pull_catalog_entry, resolve_source

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_FLOAT_DTYPES = {"float32", "bfloat16", "float16"}


@define
class LoadedModel:
    """A loaded model: the mlx-lm ``model`` and ``tokenizer`` (a ``TokenizerWrapper``)."""

    model: Any
    tokenizer: Any
    source: str  # what the caller asked for (path or hub id)
    path: Path  # the local model directory
    precision: str  # float32 | bfloat16 | float16 | quantized (the resolved policy)
    dtype: str  # dtype of the floating weights, e.g. "float32"
    bits: int | None  # quantization bits when weights stay quantized
    config: dict[str, Any]


def check_model_dir(path: Path) -> None:
    """One clear :class:`ModelError` when ``path`` is not a loadable MLX model directory."""
    if not path.is_dir():
        raise ModelError(f"{path}: not a directory; give an MLX model directory or a hub id")
    if not (path / "config.json").is_file():
        raise ModelError(f"{path}: no config.json; this is not an MLX model directory")
    weights = sorted(path.glob("model*.safetensors"))
    if not weights:
        raise ModelError(f"{path}: no model*.safetensors weights; this is not an MLX model directory")
    if not any((path / f).is_file() for f in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")):
        raise ModelError(
            f"{path}: no tokenizer (tokenizer.json or tokenizer.model); copy the tokenizer files "
            "of the original model into this directory"
        )
    for file in weights:
        _check_safetensors(file)


def _check_safetensors(file: Path) -> None:
    """Header and size check: a truncated or corrupt file fails here, not deep inside MLX."""
    size = file.stat().st_size
    try:
        with file.open("rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if n <= 0 or n > size - 8:
                raise ValueError("bad header length")
            header = json.loads(f.read(n))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    except (ValueError, KeyError, TypeError, IndexError, RecursionError):
        raise ModelError(f"{file}: corrupt safetensors file; download or convert the model again") from None
    if 8 + n + end > size:
        raise ModelError(
            f"{file}: truncated safetensors file ({size} of {8 + n + end} bytes); "
            "download or convert the model again"
        )


def _resolve_path(source: str | Path) -> Path:
    path = Path(str(source)).expanduser()
    if path.exists() or not _HUB_ID.match(str(source)):
        if not path.exists():
            raise ModelError(
                f"model {str(source)!r}: no such directory, and not a hub id (owner/name); "
                "give a local MLX model directory, a hub id, or a catalog name ('clinpred models list')"
            )
        check_model_dir(path)
        return path
    try:
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(str(source), local_files_only=True))
        except Exception:  # noqa: BLE001 - not cached: try the network below
            pass
        return Path(snapshot_download(str(source)))
    except Exception as exc:  # noqa: BLE001 - every hub failure becomes one line
        raise ModelError(
            f"cannot load {str(source)!r} from the Hugging Face hub ({type(exc).__name__}: the hub "
            "is unreachable or the id is wrong); pass the path of a local MLX model directory "
            "instead, or use a catalog model ('clinpred models list')"
        ) from None


def _quantized_bits(model: Any) -> int | None:
    import mlx.nn as nn

    for _name, module in model.named_modules():
        if isinstance(module, (nn.QuantizedLinear, nn.QuantizedEmbedding)):
            return int(module.bits)
    return None


def _float_dtype(model: Any) -> str:
    import mlx.core as mx
    from mlx.utils import tree_flatten

    for _name, value in tree_flatten(model.parameters()):
        if mx.issubdtype(value.dtype, mx.floating):
            return str(value.dtype).split(".")[-1]
    return "float32"


def apply_precision(model: Any, precision: str) -> Any:
    """Dequantize and/or cast ``model`` for a resolved precision; returns the model."""
    import mlx.core as mx

    if precision == "quantized":
        return model
    if precision not in _FLOAT_DTYPES:
        raise ModelError(f"precision {precision!r} is not one of quantized, {', '.join(sorted(_FLOAT_DTYPES))}")
    if _quantized_bits(model) is not None:
        from mlx_lm.utils import dequantize_model

        model = dequantize_model(model)
    model.set_dtype(getattr(mx, precision))
    mx.eval(model.parameters())
    return model


def load_model(source: str | Path, *, precision: str = "auto", adapter_path: str | Path | None = None,
               gated_mlps: Iterable[GatedMLP] = ()) -> LoadedModel:
    """Load a local MLX model directory or a hub id, apply the precision policy, add adapters;
    ``gated_mlps`` (the family's ``FamilySpec.gated_mlps``) get the CPU kernels too."""
    from clinpred.core.weights import blas
    from clinpred.core.weights.device import resolve_precision

    blas.activate()  # must run before mlx is first imported to have an effect
    resolved = resolve_precision(precision)
    path = _resolve_path(source)
    check_model_dir(path)
    import mlx_lm
    from mlx_lm.utils import load_adapters

    try:
        model, tokenizer, config = mlx_lm.load(str(path), return_config=True)
    except Exception as exc:  # noqa: BLE001 - mlx-lm raises many kinds; one line for the user
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: cannot load the model ({detail})") from None
    model = apply_precision(model, resolved)
    from clinpred.core.weights.mlx_compat import install_cpu_kernels

    install_cpu_kernels(gated_mlps)  # vectorized CPU kernels for this model's architecture (x86 CPUs)
    if adapter_path is not None:
        adapters = Path(adapter_path)
        if not (adapters / "adapter_config.json").is_file():
            raise ModelError(f"{adapters}: no adapter_config.json; give a directory of trained adapters")
        try:
            model = load_adapters(model, str(adapters))
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"{adapters}: cannot load the adapters ({exc})") from None
        model.eval()
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        source=str(source),
        path=path,
        precision=resolved,
        dtype=_float_dtype(model),
        bits=_quantized_bits(model),
        config=config,
    )


def load_base_model(model_id: str, catalog: Any = None, *, precision: str = "auto",
                    adapter_path: str | Path | None = None, gated_mlps: Iterable[GatedMLP] = ()) -> LoadedModel:
    """The base LLM of a model entry: its catalog entry (pulled once into the cache, then offline),
    a local MLX directory or a hub id, loaded with the precision policy (and ``adapter_path``)."""
    source = resolve_source(model_id, [catalog] if catalog is not None else [])
    return load_model(source, precision=precision, adapter_path=adapter_path, gated_mlps=gated_mlps)


__all__ = [
    "LoadedModel",
    "apply_precision",
    "load_base_model",
    "check_model_dir",
    "check_source",
    "import_gguf",
    "load_model",
    "local_path",
    "pull_catalog_entry",
    "resolve_source",
]


def check_source(source: str | Path) -> None:
    """Before a run: a local model directory must be loadable and anything else must look like a
    hub id, or one :class:`ModelError` line (a hub id's reachability is checked at load time)."""
    path = Path(str(source)).expanduser()
    if path.exists() or not _HUB_ID.match(str(source)):
        _resolve_path(source)


def load_tokenizer(source: str | Path) -> Any:
    """Only the tokenizer (mlx-lm's wrapper) of a local model directory or hub id: no weights."""
    from clinpred.core.weights import blas

    blas.activate()
    path = _resolve_path(source)
    from mlx_lm.utils import load_tokenizer as _load

    try:
        return _load(path)
    except Exception as exc:  # noqa: BLE001 - a broken tokenizer is one line
        raise ModelError(f"{path}: cannot load the tokenizer ({type(exc).__name__}: {exc})") from None
