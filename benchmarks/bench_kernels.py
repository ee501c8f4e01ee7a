"""kernels: clinpred's vectorized CPU kernels against MLX's own ops, on the default model's shapes.

Per kernel: nanoseconds per element of MLX's op and of the kernel (and numpy's ``exp`` as the
vectorized reference), interleaved in one process, median over repeats; ratio = MLX / kernel.
Shapes: SmolLM2-135M-Instruct's MLP activations (batch x tokens, intermediate) and attention
scores (batch, heads, tokens, tokens). Then one transformer block of the real model (float32):
forward, and forward + backward (the gradient with respect to the block's input, which runs every
op's vjp), with the kernels switched off and on in turns. ``--threads`` sets the kernels' worker
threads; the "threads" line compares the gate kernel on N threads with 1.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Callable

import common


def _median_seconds(fn: Callable[[], Any], tries: int) -> float:
    fn()
    seconds = []
    for _ in range(tries):
        tic = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - tic)
    return common.median(seconds)


def _pairs(named: dict[str, Callable[[], Any]], repeats: int, tries: int) -> dict[str, list[float]]:
    """Seconds of each function, measured in turns (one round = each once), ``repeats`` rounds."""
    out: dict[str, list[float]] = {name: [] for name in named}
    for _ in range(repeats):
        for name, fn in named.items():
            out[name].append(_median_seconds(fn, tries))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=148)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tries", type=int, default=5, help="timings per measurement (median)")
    ap.add_argument("--threads", type=int, default=None, help="the kernels' worker threads (default: as clinpred)")
    args = ap.parse_args()
    info = common.start()
    import mlx.core as mx
    import mlx.nn as nn
    import numpy as np
    from mlx_lm.models.activations import swiglu as mlx_swiglu

    from clinpred.core.weights import cpu_kernels, mlx_kernels
    from clinpred.core.weights.loading import load_model

    status = cpu_kernels.status()
    if not status.in_use:
        raise SystemExit(f"the kernels are not in use: {status.reason}")
    k = cpu_kernels.active()
    if args.threads:
        k.set_threads(args.threads)
    model_dir = common.default_model_dir()
    config = json.loads((model_dir / "config.json").read_text())
    rows = args.batch * args.tokens
    hidden, inter = config["hidden_size"], config["intermediate_size"]
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    head_dim = config.get("head_dim") or hidden // heads
    key = iter(mx.random.split(mx.random.key(0), 10))
    a = mx.random.normal((rows, inter), key=next(key))
    b = mx.random.normal((rows, inter), key=next(key))
    g = mx.random.normal((rows, inter), key=next(key))
    scores = 3 * mx.random.normal((args.batch, heads, args.tokens, args.tokens), key=next(key))
    gs = mx.random.normal(scores.shape, key=next(key))
    q = mx.random.normal((args.batch, heads, args.tokens, head_dim), key=next(key))
    kk = mx.random.normal((args.batch, kv_heads, args.tokens, head_dim), key=next(key))
    vv = mx.random.normal((args.batch, kv_heads, args.tokens, head_dim), key=next(key))
    mx.eval(a, b, g, scores, gs, q, kk, vv)
    a_np = np.array(a)
    causal = mx.arange(args.tokens)[:, None] >= mx.arange(args.tokens)[None]
    lowest = mx.array(mx.finfo(mx.float32).min, mx.float32)
    scale = head_dim ** -0.5

    def mlx_causal(s: Any) -> Any:  # what mx.fast.scaled_dot_product_attention runs on the CPU
        return mx.softmax(mx.where(causal, s, lowest), axis=-1, precise=True)

    kernels: dict[str, tuple[int, Callable[[], Any], Callable[[], Any]]] = {
        "exp (MLP activations)": (a.size, lambda: mx.eval(mx.exp(a)), lambda: mx.eval(k.exp(a))),
        "silu gate silu(a) * b": (a.size, lambda: mx.eval(mlx_swiglu(a, b)),
                                  lambda: mx.eval(k.gated_activation(a, b, k.SILU))),
        "silu gate vjp": (a.size, lambda: mx.eval(mx.vjp(mlx_swiglu, [a, b], [g])[1]),
                          lambda: mx.eval(mx.vjp(lambda x, y: k.gated_activation(x, y, k.SILU), [a, b], [g])[1])),
        "gelu gate gelu_approx(a) * b": (a.size, lambda: mx.eval(nn.gelu_approx(a) * b),
                                         lambda: mx.eval(k.gated_activation(a, b, k.GELU_TANH))),
        "causal softmax (attention scores)": (scores.size, lambda: mx.eval(mlx_causal(scores)),
                                              lambda: mx.eval(k.row_softmax(scores, True))),
        "causal softmax vjp": (scores.size, lambda: mx.eval(mx.vjp(mlx_causal, [scores], [gs])[1]),
                               lambda: mx.eval(mx.vjp(lambda s: k.row_softmax(s, True), [scores], [gs])[1])),
        "attention (sdpa, causal)": (scores.size,
                                     lambda: mx.eval(mx.fast.scaled_dot_product_attention(q, kk, vv, scale=scale,
                                                                                           mask="causal")),
                                     lambda: mx.eval(mlx_kernels.attention(k, q, kk, vv, scale, "causal"))),
    }
    results = []
    for name, (n, ref, ours) in kernels.items():
        with mx.stream(mx.cpu):
            t = _pairs({"mlx": ref, "kernel": ours}, args.repeats, args.tries)
        ratios = [m / o for m, o in zip(t["mlx"], t["kernel"])]
        details = {"elements": n, "mlx_ns_per_element": round(common.median(t["mlx"]) / n * 1e9, 3),
                   "kernel_ns_per_element": round(common.median(t["kernel"]) / n * 1e9, 3),
                   "ratios": [round(r, 2) for r in ratios]}
        if name.startswith("exp"):
            t_np = _pairs({"numpy": lambda: np.exp(a_np)}, args.repeats, args.tries)["numpy"]
            details["numpy_exp_ns_per_element"] = round(common.median(t_np) / n * 1e9, 3)
        results.append({"name": f"kernels: {name}, MLX / kernel", "ratio": round(common.median(ratios), 2),
                        "goal": 5.0, "details": details})

    threads = k.threads()
    single: list[float] = []
    multi: list[float] = []
    for _ in range(args.repeats):
        k.set_threads(1)
        single.append(_median_seconds(lambda: mx.eval(k.gated_activation(a, b, k.SILU)), args.tries))
        k.set_threads(threads)
        multi.append(_median_seconds(lambda: mx.eval(k.gated_activation(a, b, k.SILU)), args.tries))
    results.append({"name": f"kernels: silu gate, 1 thread / {threads} threads",
                    "ratio": round(common.median([s / m for s, m in zip(single, multi)]), 2), "goal": None,
                    "details": {"threads": threads}})

    loaded = load_model(model_dir, precision="float32")
    block = loaded.model.layers[0]
    h = mx.random.normal((args.batch, args.tokens, hidden), key=next(key))
    gh = mx.random.normal(h.shape, key=next(key))
    mx.eval(h, gh)

    def forward() -> None:
        mx.eval(block(h, "causal", None))

    def backward() -> None:
        mx.eval(mx.vjp(lambda x: block(x, "causal", None), [h], [gh])[1])

    for label, fn in (("forward", forward), ("forward + backward", backward)):
        off: list[float] = []
        on: list[float] = []
        for _ in range(args.repeats):
            with cpu_kernels.switched(False):
                off.append(_median_seconds(fn, args.tries))
            on.append(_median_seconds(fn, args.tries))
        results.append({
            "name": f"kernels: one SmolLM2 block {label}, MLX ops / with kernels",
            "ratio": round(common.median([x / y for x, y in zip(off, on)]), 2), "goal": 1.5,
            "details": {"mlx_ms": round(common.median(off) * 1e3, 1), "kernels_ms": round(common.median(on) * 1e3, 1),
                        "batch": args.batch, "tokens": args.tokens, "hidden": hidden},
        })
    for r in results:
        r["details"].update(info, isa=status.isa, kernel_threads=threads, repeats=args.repeats, tries=args.tries)
    common.emit(results)


if __name__ == "__main__":
    main()
