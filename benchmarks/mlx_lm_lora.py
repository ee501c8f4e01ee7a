"""``python -m mlx_lm lora ARGS`` with two additions for a fair, measurable comparison:

1. clinpred's optimized BLAS is loaded before mlx is imported (as in every clinpred process), so
   both tools run on the same matmul library;
2. each training report (``--steps-per-report``) is appended as one JSON line to REPORTS: mlx-lm's
   own numbers (loss, iterations/s over the training steps only, tokens/s, peak memory).

Usage: ``python benchmarks/mlx_lm_lora.py REPORTS [mlx_lm lora arguments]``. The training itself
is mlx-lm's ``lora.main()``, the function ``python -m mlx_lm lora`` calls.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    from clinpred.core.weights import blas

    blas.activate()
    import mlx_lm.lora as lora
    from mlx_lm.tuner.callbacks import TrainingCallback

    reports = sys.argv[1]

    class Record(TrainingCallback):
        def on_train_loss_report(self, train_info: dict) -> None:
            with open(reports, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({k: float(v) for k, v in train_info.items()}) + "\n")

    lora.get_reporting_callbacks = lambda *args, **kwargs: Record()
    sys.argv = ["mlx_lm.lora", *sys.argv[2:]]
    lora.main()


if __name__ == "__main__":
    main()
