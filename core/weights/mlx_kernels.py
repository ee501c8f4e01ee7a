"""Plugging clinpred's CPU kernels (:mod:`.cpu_kernels`) into mlx-lm's models.

Called only through :func:`clinpred.core.weights.mlx_compat.install_cpu_kernels`. What mlx-lm
0.32's model files do, and what is replaced:

- the MLP gate: ``activations.swiglu(gate, up)`` (``nn.silu(gate) * up``, imported by name into
  llama/mistral, qwen2, qwen3, phi3 and most other architectures) -> :func:`swiglu`; gemma3_text's
  ``MLP.__call__`` computes ``nn.gelu_approx(gate) * up`` inline -> :func:`gelu_mlp_call`;
- attention: ``base.scaled_dot_product_attention(q, k, v, cache, scale, mask, sinks)`` (imported by
  name) -> :func:`scaled_dot_product_attention`. On the CPU, MLX's
  ``mx.fast.scaled_dot_product_attention`` is not fused: it runs its fallback (scale q, matmul,
  mask, a precise softmax, matmul, with grouped-query heads unflattened); this does the same with
  the causal mask and the softmax in one kernel.

Each replacement calls the kernel only when it applies (kernels in use and switched on, float32,
MLX's default device is the CPU, no attention sinks, no quantized KV cache) and mlx-lm's own
function otherwise, so installing is safe on any device. :func:`install` patches the shared
helpers at their source (models imported later pick them up) and every model module already
imported; it is idempotent and cheap, so it runs after every model load.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

from clinpred.core.weights import cpu_kernels

_ORIGINAL: dict[str, Callable[..., Any]] = {}  # "swiglu", "sdpa", "gemma3_text.MLP"


def _cpu(*arrays: Any) -> bool:
    import mlx.core as mx

    return all(a.dtype == mx.float32 for a in arrays) and mx.default_device() == mx.cpu


def swiglu(gate: Any, x: Any) -> Any:
    """``silu(gate) * x`` (mlx-lm's ``activations.swiglu``) with the fused kernel on the CPU."""
    k = cpu_kernels.active()
    if k is None or gate.shape != x.shape or not _cpu(gate, x):
        return _ORIGINAL["swiglu"](gate, x)
    return k.gated_activation(gate, x, k.SILU)


def gelu_gate(gate: Any, x: Any) -> Any:
    """``nn.gelu_approx(gate) * x`` with the fused kernel on the CPU."""
    k = cpu_kernels.active()
    if k is None or gate.shape != x.shape or not _cpu(gate, x):
        import mlx.nn as nn

        return nn.gelu_approx(gate) * x
    return k.gated_activation(gate, x, k.GELU_TANH)


def gelu_mlp_call(self: Any, x: Any) -> Any:
    """gemma3_text's ``MLP.__call__`` with :func:`gelu_gate`."""
    return self.down_proj(gelu_gate(self.gate_proj(x), self.up_proj(x)))


def attention(k: Any, queries: Any, keys: Any, values: Any, scale: float, mask: Any) -> Any:
    """MLX's CPU fallback of ``mx.fast.scaled_dot_product_attention`` with the kernel softmax.

    Grouped-query heads are folded into the rows of one matmul per KV head ((B, n_kv, repeats * L,
    D) @ (B, n_kv, D, S)) instead of MLX's broadcast (B, n_kv, repeats, L, D) @ (B, n_kv, 1, D, S):
    the same dot products, about half the time on this CPU.
    """
    import mlx.core as mx

    batch, n_q, length, dim = queries.shape
    n_kv, n_keys = keys.shape[-3], keys.shape[-2]
    repeats = n_q // n_kv
    q = (mx.array(scale, queries.dtype) * queries).reshape(batch, n_kv, repeats * length, dim)
    scores = (q @ mx.swapaxes(keys, -1, -2)).reshape(batch, n_kv, repeats, length, n_keys)
    if isinstance(mask, str):  # "causal": keys >= queries, the queries are the last positions
        probs = k.row_softmax(scores, True)
    else:
        if mask is not None:
            if mask.ndim >= 3 and mask.shape[-3] != 1:  # per query head: (..., n_q, L, S)
                mask = mx.broadcast_to(mask, (batch, n_q, length, n_keys)).reshape(scores.shape)
            elif mask.ndim >= 3:
                mask = mx.expand_dims(mask, -3)
            if mask.dtype == mx.bool_:
                scores = mx.where(mask, scores, mx.array(mx.finfo(scores.dtype).min, scores.dtype))
            else:
                scores = scores + mask.astype(scores.dtype)
        probs = k.row_softmax(scores, False)
    out = probs.reshape(batch, n_kv, repeats * length, n_keys) @ values
    return out.reshape(batch, n_q, length, values.shape[-1])


def scaled_dot_product_attention(queries: Any, keys: Any, values: Any, cache: Any, scale: float,
                                 mask: Any, sinks: Any = None) -> Any:
    """mlx-lm's ``base.scaled_dot_product_attention`` with the kernel softmax on the CPU."""
    k = cpu_kernels.active()
    if (k is None or sinks is not None or hasattr(cache, "bits") or not _cpu(queries, keys, values)
            or (isinstance(mask, str) and (mask != "causal" or keys.shape[-2] < queries.shape[-2]))):
        return _ORIGINAL["sdpa"](queries, keys, values, cache=cache, scale=scale, mask=mask, sinks=sinks)
    return attention(k, queries, keys, values, scale, mask)


def install() -> bool:
    """Route mlx-lm's gate and attention helpers through :mod:`.cpu_kernels` (when they are in
    use in this process); True when installed."""
    if not cpu_kernels.status().in_use:
        return False
    from mlx_lm.models import activations, base

    _ORIGINAL.setdefault("swiglu", activations.swiglu)
    _ORIGINAL.setdefault("sdpa", base.scaled_dot_product_attention)
    replacements = {"swiglu": (_ORIGINAL["swiglu"], swiglu),
                    "scaled_dot_product_attention": (_ORIGINAL["sdpa"], scaled_dot_product_attention)}
    activations.swiglu = swiglu
    base.scaled_dot_product_attention = scaled_dot_product_attention
    for name, module in list(sys.modules.items()):
        if not name.startswith("mlx_lm.models.") or module is None:
            continue
        for attr, (original, ours) in replacements.items():
            if getattr(module, attr, None) is original:
                setattr(module, attr, ours)
    gemma = sys.modules.get("mlx_lm.models.gemma3_text")
    if gemma is not None and getattr(gemma.MLP, "__call__", None) is not gelu_mlp_call:
        _ORIGINAL.setdefault("gemma3_text.MLP", gemma.MLP.__call__)
        gemma.MLP.__call__ = gelu_mlp_call
    return True


__all__ = ["attention", "gelu_gate", "gelu_mlp_call", "install", "scaled_dot_product_attention", "swiglu"]
