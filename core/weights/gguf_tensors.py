"""Reading and dequantizing a GGUF file's tensors with the ``gguf`` package (llama.cpp's reader).

Used for files MLX cannot read itself (K-quants, Q5_0/Q5_1, BF16, ...): every quantized tensor is
dequantized by ``gguf.quants.dequantize`` and stored as float16 (F32 tensors stay float32, BF16
ones bfloat16). No kernel is written here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clinpred.core.errors import ModelError


def _import_gguf(path: Path) -> Any:
    try:
        import gguf
    except ImportError:
        raise ModelError(
            f"{path}: reading this GGUF file needs the 'gguf' package (pip install 'gguf>=0.19'); "
            "it is a dependency of clinpred, so the installation is incomplete"
        ) from None
    return gguf


def dequantized_tensors(path: str | Path) -> dict[str, Any]:
    """Tensor name -> MLX array, every quantized tensor dequantized (one clear error otherwise)."""
    import mlx.core as mx
    import numpy as np

    path = Path(path)
    gguf = _import_gguf(path)
    try:
        reader = gguf.GGUFReader(str(path), "r")
    except (ValueError, OSError, IndexError) as exc:
        raise ModelError(f"{path}: corrupt or truncated GGUF file ({exc}); download it again") from None
    out: dict[str, Any] = {}
    kind_f32, kind_f16, kind_bf16 = (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16,
                                     gguf.GGMLQuantizationType.BF16)
    for tensor in reader.tensors:
        kind = tensor.tensor_type
        shape = tuple(int(n) for n in reversed(tensor.shape.tolist()))
        try:
            if kind == kind_f32:
                out[tensor.name] = mx.array(np.asarray(tensor.data, dtype=np.float32).reshape(shape))
            elif kind == kind_f16:
                out[tensor.name] = mx.array(np.asarray(tensor.data, dtype=np.float16).reshape(shape))
            else:
                values = gguf.quants.dequantize(tensor.data, kind).reshape(shape)
                dtype = mx.bfloat16 if kind == kind_bf16 else mx.float16
                out[tensor.name] = mx.array(values.astype(np.float32)).astype(dtype)
        except NotImplementedError:
            raise ModelError(
                f"{path}: tensor {tensor.name!r} has type {kind.name}, which the gguf package cannot dequantize"
            ) from None
        except ValueError as exc:
            raise ModelError(f"{path}: tensor {tensor.name!r} is corrupt or truncated ({exc}); download it again") from None
    return out


__all__ = ["dequantized_tensors"]
