"""fp32 matmul GFLOP/s of MLX on the CPU under the BLAS this process loaded (and of numpy).

Run it once per BLAS, e.g.::

    CLINPRED_NO_BLAS=1 python benchmarks/blas_matmul.py          # MLX as shipped
    CLINPRED_BLAS=openblas python benchmarks/blas_matmul.py      # Debian's OpenBLAS
    CLINPRED_BLAS=mkl python benchmarks/blas_matmul.py           # the mkl wheel

It prints one JSON line: the BLAS in use, MLX and numpy GFLOP/s for an n x n fp32 matmul.
"""

from __future__ import annotations

import argparse
import json
import time


def _gflops(fn, n: int, repeat: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from clinpred.core import blas

    chosen = blas.activate()  # before mlx is imported: preload the optimized BLAS, if any
    import mlx.core as mx
    import numpy as np

    n = args.n
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((n, n), dtype=np.float32)
    b_np = rng.standard_normal((n, n), dtype=np.float32)
    a, b = mx.array(a_np), mx.array(b_np)
    with mx.stream(mx.cpu):
        mlx_gflops = _gflops(lambda: mx.eval(a @ b), n, args.repeat)
        err = float(mx.abs(a @ b - mx.array(a_np @ b_np)).max())
    np_gflops = _gflops(lambda: a_np @ b_np, n, args.repeat)
    print(json.dumps({
        "blas": blas.describe()["name"],
        "blas_path": blas.describe()["path"],
        "n": n,
        "mlx_gflops": round(mlx_gflops, 1),
        "numpy_gflops": round(np_gflops, 1),
        "max_abs_diff_vs_numpy": round(err, 6),
    }))


if __name__ == "__main__":
    main()
