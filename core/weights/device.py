"""The compute device MLX uses, and the precision policy that follows from it.

On the CPU, quantized matmuls are about 10x slower than float32 with an optimized BLAS, so
quantized models are dequantized to float32. On Metal or CUDA the quantized weights are kept
(QLoRA). Any choice can be overridden.
"""

from __future__ import annotations

from clinpred.core.errors import ConfigError

PRECISIONS = ("auto", "float32", "bfloat16", "float16", "quantized")


def backend() -> str:
    """``metal``, ``cuda`` or ``cpu``: where MLX runs by default."""
    import mlx.core as mx

    if mx.default_device() == mx.cpu:
        return "cpu"
    try:
        if mx.metal.is_available():
            return "metal"
    except AttributeError:  # pragma: no cover - builds without the metal module
        pass
    cuda = getattr(mx, "cuda", None)
    if cuda is not None and cuda.is_available():
        return "cuda"
    return "gpu"  # pragma: no cover


def resolve_precision(precision: str = "auto", device: str | None = None) -> str:
    """The precision to use: ``auto`` is float32 on the CPU and quantized elsewhere."""
    value = (precision or "auto").strip().lower()
    if value not in PRECISIONS:
        raise ConfigError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if value != "auto":
        return value
    return "float32" if (device or backend()) == "cpu" else "quantized"


def policy_text(device: str | None = None) -> str:
    """One line describing the automatic policy on ``device``."""
    device = device or backend()
    if device == "cpu":
        return "cpu: quantized models are dequantized to float32 (precision = \"auto\")"
    return f"{device}: quantized weights are kept (QLoRA) (precision = \"auto\")"
