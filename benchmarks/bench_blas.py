"""blas: MLX float32 matmul throughput as clinpred runs it (``blas.activate()`` before mlx is
imported) divided by numpy's on the same matrices; interleaved, median over repeats.

Also usable alone to compare libraries: ``CLINPRED_BLAS=openblas python benchmarks/bench_blas.py``
(or ``CLINPRED_NO_BLAS=1`` for the reference BLAS of the MLX wheel).
"""

from __future__ import annotations

import argparse
import time

import common


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, nargs="+", default=[576, 1024, 2048])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    info = common.start()
    import mlx.core as mx
    import numpy as np

    def best(fn, n: int, tries: int = 3) -> float:
        fn()
        seconds = []
        for _ in range(tries):
            tic = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - tic)
        return 2 * n**3 / min(seconds) / 1e9

    sizes = {}
    for n in args.n:
        rng = np.random.default_rng(n)
        a_np, b_np = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
        a, b = mx.array(a_np), mx.array(b_np)
        mlx_g, np_g = [], []
        with mx.stream(mx.cpu):
            for _ in range(args.repeats):
                mlx_g.append(best(lambda: mx.eval(a @ b), n))
                np_g.append(best(lambda: a_np @ b_np, n))
            err = float(mx.abs(a @ b - mx.array(a_np @ b_np)).max().item())
        sizes[n] = {"mlx_gflops": round(common.median(mlx_g), 1), "numpy_gflops": round(common.median(np_g), 1),
                    "ratio": round(common.median([m / p for m, p in zip(mlx_g, np_g)]), 3),
                    "max_abs_diff": err}
    common.emit([{
        "name": "blas: MLX float32 matmul throughput as clinpred runs it / numpy's",
        "ratio": round(common.median([s["ratio"] for s in sizes.values()]), 3),
        "goal": 0.7,
        "details": {**info, "repeats": args.repeats, "sizes": sizes,
                    "ratio_is": "median over the matrix sizes of the per-size median of interleaved MLX/numpy GFLOP/s"},
    }])


if __name__ == "__main__":
    main()
