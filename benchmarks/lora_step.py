"""Seconds per LoRA training step on the default model, under the BLAS this process loads.

    CLINPRED_NO_BLAS=1 python benchmarks/lora_step.py      # MLX's reference BLAS
    CLINPRED_BLAS=openblas python benchmarks/lora_step.py
    CLINPRED_BLAS=mkl python benchmarks/lora_step.py
    python benchmarks/lora_step.py --precision quantized   # 4-bit weights on the CPU

Needs the default model pulled (``clinpred models pull smollm2-135m-instruct``). Random tokens,
batch x length as given, LoRA on the last ``--layers`` blocks. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()

    from clinpred.core import blas

    blas.activate()
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    from mlx_lm.tuner.utils import linear_to_lora_layers

    from clinpred.core.model_source import resolve_source
    from clinpred.core.models import load_model
    from clinpred.plugins.smollm import SPEC

    loaded = load_model(resolve_source(args.model, SPEC.catalog), precision=args.precision)
    model = loaded.model
    model.freeze()
    linear_to_lora_layers(model, args.layers, {"rank": 8, "scale": 2.0, "dropout": 0.0})
    optimizer = optim.Adam(learning_rate=1e-4)
    mx.random.seed(0)
    tokens = mx.random.randint(0, loaded.config["vocab_size"], (args.batch, args.length + 1))

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y).mean()

    step = nn.value_and_grad(model, loss_fn)
    times = []
    for _ in range(args.steps + 1):
        start = time.perf_counter()
        loss, grads = step(model, tokens[:, :-1], tokens[:, 1:])
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        times.append(time.perf_counter() - start)
    print(json.dumps({
        "blas": blas.describe()["name"],
        "precision": loaded.precision,
        "batch": args.batch,
        "length": args.length,
        "lora_layers": args.layers,
        "seconds_per_step": round(min(times[1:]), 3),
        "first_step": round(times[0], 3),
    }))


if __name__ == "__main__":
    main()
