"""blas: MLX float32 matmul throughput as clinpred runs it (``blas.activate()`` before mlx is
imported) divided by numpy's on the same matrices; interleaved, median over repeats.

Two thread pools share the two cores here: MKL's (Intel OpenMP, whose idle threads spin for
``KMP_BLOCKTIME`` = 200 ms after a call) and the OpenBLAS that numpy bundles (which also spins).
Measured back to back, whichever library runs second often got half its speed, at random. So each
measurement starts after a pause (``--settle``, longer than both spin times) that lets the other
library's threads go to sleep; clinpred itself never interleaves the two.

Also usable alone to compare libraries: ``CLINPRED_BLAS=openblas python benchmarks/bench_blas.py``
(or ``CLINPRED_NO_BLAS=1`` for the reference BLAS of the MLX wheel).
"""

from __future__ import annotations

import argparse
import time

import common

#: the default model's training matmuls (4 x 150 tokens: q/o, MLP up, MLP down) + square ones
SHAPES = ["600x576x576", "600x576x1536", "600x1536x576", "1024x1024x1024", "2048x2048x2048"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", nargs="+", default=SHAPES, help="MxKxN: (M, K) @ (K, N)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--settle", type=float, default=0.5, help="seconds of pause before each measurement")
    args = ap.parse_args()
    info = common.start()
    import mlx.core as mx
    import numpy as np

    def best(fn, flops: float, tries: int = 3) -> float:
        time.sleep(args.settle)
        fn()
        seconds = []
        for _ in range(tries):
            tic = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - tic)
        return flops / min(seconds) / 1e9

    sizes = {}
    for shape in args.shapes:
        m, k, n = (int(x) for x in shape.split("x"))
        flops = 2.0 * m * k * n
        rng = np.random.default_rng(m * k * n)
        a_np, b_np = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
        a, b = mx.array(a_np), mx.array(b_np)
        mlx_g, np_g = [], []
        with mx.stream(mx.cpu):
            for _ in range(args.repeats):
                mlx_g.append(best(lambda: mx.eval(a @ b), flops))
                np_g.append(best(lambda: a_np @ b_np, flops))
            err = float(mx.abs(a @ b - mx.array(a_np @ b_np)).max().item())
        sizes[shape] = {"mlx_gflops": round(common.median(mlx_g), 1), "numpy_gflops": round(common.median(np_g), 1),
                    "ratio": round(common.median([m / p for m, p in zip(mlx_g, np_g)]), 3),
                    "max_abs_diff": err}
    common.emit([{
        "name": "blas: MLX float32 matmul throughput as clinpred runs it / numpy's",
        "ratio": round(common.median([s["ratio"] for s in sizes.values()]), 3),
        "goal": 0.7,
        "details": {**info, "repeats": args.repeats, "sizes": sizes,
                    "settle_seconds": args.settle,
                    "ratio_is": "median over the shapes of the per-shape median of interleaved MLX/numpy GFLOP/s "
                                "(best of 3 calls each, after a pause that lets the other library's threads sleep)"},
    }])


if __name__ == "__main__":
    main()
