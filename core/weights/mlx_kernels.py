"""Plugging clinpred's CPU kernels (:mod:`.cpu_kernels`) into mlx-lm's models.

Called only through :func:`clinpred.core.weights.mlx_compat.install_cpu_kernels`. What mlx-lm
0.32's model files do, and what is replaced:

- the MLP gate: ``activations.swiglu(gate, up)`` (``nn.silu(gate) * up``, imported by name into
  llama/mistral, qwen2, qwen3, phi3 and most other architectures) -> :func:`swiglu`; an MLP class
  that computes its gate inline (gemma3_text's ``nn.gelu_approx(gate) * up``) is declared by its
  family plugin (``FamilySpec.gated_mlps``) and its ``__call__`` replaced (:data:`MLP_CALLS`);
- attention: ``base.scaled_dot_product_attention(q, k, v, cache, scale, mask, sinks)`` (imported by
  name) -> :func:`scaled_dot_product_attention`. On the CPU, MLX's
  ``mx.fast.scaled_dot_product_attention`` is not fused: it runs its fallback (scale q, matmul,
  mask, a precise softmax, matmul, with grouped-query heads unflattened); this does the same with
  the causal mask and the softmax in one kernel.
- rotary embeddings: every RoPE class (``nn.RoPE`` and mlx-lm's ``rope_utils``) calls
  ``mx.fast.rope``, whose CPU fallback is a dozen strided element-wise ops (and their vjps); it is
  replaced (:func:`rope`): the angles come from MLX's own ``rope`` applied to unit vectors (so
  they are MLX's to the bit), the rotation from one kernel;
- RMS norm: ``nn.RMSNorm`` and gemma's norms call ``mx.fast.rms_norm``, whose CPU fallback is five
  element-wise ops and a reduction (and their vjps) -> :func:`rms_norm`, one kernel each way.

``mx.fast.rope`` and ``mx.fast.rms_norm`` are MLX's own functions: they are replaced in MLX's
namespace (every caller in this process gets the wrapper, which hands anything but float32 on
the CPU back to MLX unchanged); mlx-lm's helpers are replaced where mlx-lm binds them.

Each replacement calls the kernel only when it applies (kernels in use and switched on, float32,
MLX's default device is the CPU, no attention sinks, no quantized KV cache) and mlx-lm's own
function otherwise, so installing is safe on any device. :func:`install` patches the shared
helpers at their source (models imported later pick them up), every model module already
imported and the declared MLP classes; it is idempotent and cheap, so it runs after every model
load.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterable

from clinpred.core.values import GatedMLP
from clinpred.core.weights import cpu_kernels

_ORIGINAL: dict[str, Callable[..., Any]] = {}  # "swiglu", "sdpa", "rope", "rms_norm", "<module>.<class>"


def _remember() -> None:
    """Keep MLX's and mlx-lm's own functions (before anything is replaced)."""
    if "rope" in _ORIGINAL:
        return
    import mlx.core as mx
    from mlx_lm.models import activations, base

    _ORIGINAL.update(swiglu=activations.swiglu, sdpa=base.scaled_dot_product_attention, rope=mx.fast.rope,
                     rms_norm=mx.fast.rms_norm)


def _original(name: str) -> Callable[..., Any]:
    _remember()
    return _ORIGINAL[name]


def _cpu(*arrays: Any) -> bool:
    import mlx.core as mx

    return all(a.dtype == mx.float32 for a in arrays) and mx.default_device() == mx.cpu


def swiglu(gate: Any, x: Any) -> Any:
    """``silu(gate) * x`` (mlx-lm's ``activations.swiglu``) with the fused kernel on the CPU."""
    k = cpu_kernels.active()
    if k is None or gate.shape != x.shape or not _cpu(gate, x):
        return _original("swiglu")(gate, x)
    return k.gated_activation(gate, x, k.SILU)


def gelu_gate(gate: Any, x: Any) -> Any:
    """``nn.gelu_approx(gate) * x`` with the fused kernel on the CPU."""
    k = cpu_kernels.active()
    if k is None or gate.shape != x.shape or not _cpu(gate, x):
        import mlx.nn as nn

        return nn.gelu_approx(gate) * x
    return k.gated_activation(gate, x, k.GELU_TANH)


def gelu_mlp_call(self: Any, x: Any) -> Any:
    """A gated MLP's ``__call__`` with :func:`gelu_gate` (``down_proj(gelu_approx(gate) * up)``)."""
    return self.down_proj(gelu_gate(self.gate_proj(x), self.up_proj(x)))


def silu_mlp_call(self: Any, x: Any) -> Any:
    """A gated MLP's ``__call__`` with :func:`swiglu` (``down_proj(silu(gate) * up)``)."""
    return self.down_proj(swiglu(self.gate_proj(x), self.up_proj(x)))


#: ``GatedMLP.activation`` -> the ``__call__`` that replaces the class's own
MLP_CALLS: dict[str, Callable[[Any, Any], Any]] = {"gelu_tanh": gelu_mlp_call, "silu": silu_mlp_call}


def patch_gated_mlps(mlps: Iterable[GatedMLP]) -> list[str]:
    """Replace the ``__call__`` of each declared MLP class whose module is loaded; the names
    ``module.cls`` patched (a module not yet imported is not this model's architecture)."""
    patched = []
    for mlp in mlps:
        module = sys.modules.get(mlp.module)
        cls = getattr(module, mlp.cls, None) if module is not None else None
        if not isinstance(cls, type):
            continue
        ours = MLP_CALLS[mlp.activation]
        key = f"{mlp.module}.{mlp.cls}"
        if cls.__dict__.get("__call__") is not ours:
            _ORIGINAL.setdefault(key, cls.__dict__.get("__call__"))
            cls.__call__ = ours
        patched.append(key)
    return patched


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
        return _original("sdpa")(queries, keys, values, cache=cache, scale=scale, mask=mask, sinks=sinks)
    return attention(k, queries, keys, values, scale, mask)


_TABLES: dict[tuple[Any, ...], tuple[Any, Any]] = {}  # key -> (freqs kept alive, cos/sin table)


def _rope_table(length: int, dims: int, traditional: bool, base: Any, scale: float, offset: int, freqs: Any) -> Any:
    """The (length, dims) cos/sin table the kernel reads, computed by MLX's own rope on unit
    pairs (1, 0): it returns (1 c - 0 s, 1 s + 0 c) = (c, s) exactly. Cached (evaluated)."""
    import mlx.core as mx

    key = (length, dims, traditional, base, scale, offset, None if freqs is None else id(freqs))
    hit = _TABLES.get(key)
    if hit is not None and hit[0] is freqs:
        return hit[1]
    half = dims // 2
    row = [1.0, 0.0] * half if traditional else [1.0] * half + [0.0] * half
    unit = mx.broadcast_to(mx.array(row, mx.float32), (1, 1, length, dims))
    table = _original("rope")(unit, dims, traditional=traditional, base=base, scale=scale, offset=offset,
                              freqs=freqs).reshape(length, dims)
    mx.eval(table)
    if len(_TABLES) > 256:
        _TABLES.clear()
    _TABLES[key] = (freqs, table)
    return table


def rope(a: Any, dims: int, *, traditional: bool, base: Any, scale: float, offset: Any, freqs: Any = None,
         stream: Any = None) -> Any:
    """``mx.fast.rope`` with the rotation in one kernel on the CPU (float32, an integer offset)."""
    import mlx.core as mx

    k = cpu_kernels.active()
    if (k is None or stream is not None or isinstance(offset, mx.array) or a.ndim < 3 or dims % 2
            or dims > a.shape[-1] or not _cpu(a)):
        return _original("rope")(a, dims, traditional=traditional, base=base, scale=scale, offset=offset,
                                 freqs=freqs, stream=stream)
    try:
        table = _rope_table(a.shape[-2], dims, traditional, base, scale, int(offset), freqs)
    except (RuntimeError, ValueError):  # inside mx.compile or vmap, where eval is not allowed
        return _original("rope")(a, dims, traditional=traditional, base=base, scale=scale, offset=offset,
                                 freqs=freqs, stream=stream)
    return k.rope(a, table, dims, traditional)


def rms_norm(x: Any, weight: Any, eps: float, *, stream: Any = None) -> Any:
    """``mx.fast.rms_norm`` in one kernel (and one for its vjp) on the CPU for float32."""
    import mlx.core as mx

    k = cpu_kernels.active()
    if (k is None or stream is not None or x.ndim < 1 or not _cpu(x)
            or (weight is not None and (weight.ndim != 1 or weight.shape[0] != x.shape[-1] or not _cpu(weight)))):
        return _original("rms_norm")(x, weight, eps, stream=stream)
    if weight is None:
        weight = mx.ones((x.shape[-1],), mx.float32)
    return k.rms_norm(x, weight, eps)


def install(gated_mlps: Iterable[GatedMLP] = ()) -> bool:
    """Route mlx-lm's gate and attention helpers, and the declared ``gated_mlps``, through
    :mod:`.cpu_kernels` (when they are in use in this process); True when installed."""
    if not cpu_kernels.status().in_use:
        return False
    from mlx_lm.models import activations, base

    import mlx.core as mx

    _remember()
    mx.fast.rope = rope
    mx.fast.rms_norm = rms_norm
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
    patch_gated_mlps(gated_mlps)
    return True


__all__ = ["MLP_CALLS", "attention", "gelu_gate", "gelu_mlp_call", "install", "patch_gated_mlps", "rms_norm", "rope",
           "scaled_dot_product_attention", "silu_mlp_call", "swiglu"]
