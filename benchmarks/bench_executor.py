"""executor: the same grid (4 baselines + a tiny random-weight LLM, ``--cv 5``) run by
``clinpred run`` under ``local``, ``process --jobs 2`` and ``ray`` on a two-node local Ray
cluster (1 CPU each), as wall-time ratios in one run, plus the executor overhead per unit.

Overhead per unit = (wall time of the unit phase x worker slots - the units' own compute
seconds) / units: what the executor adds to each unit (start-up of workers, shipping specs,
the dataset and results, progress, idle slots at the end). Ray cluster start-up is excluded
(a cluster is started once, not per run); the driver's connection is included. Each run also
checks that metrics.json is byte-identical to the local run's.

The tiny model comes from tests/tiny_models.py (a 2-block Qwen2 with random weights).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

TESTS = common.HERE.parent / "tests"

CONFIG = """
[run]
baselines = ["majority", "lasso", "random_forest", "gradient_boosting"]
[evaluation]
bootstrap = 200
generate = false
[[models]]
name = "tiny"
family = "qwen"
model_id = "{path}"
lora_layers = 2
lora_rank = 4
learning_rate = 1e-3
"""


def _run(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "clinpred.cli.main", "-q", *args], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"clinpred {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def _overhead(out: Path, slots: int) -> dict[str, float]:
    status = json.loads((out / "status.json").read_text())
    units = status["units"]
    first = min(u["started"] for u in units.values())
    last = max(u["finished"] for u in units.values())
    compute = 0.0
    for path in (out / "units").rglob("*.json"):
        compute += json.loads(path.read_text())["seconds"]
    return {"unit_phase_seconds": round(last - first, 2), "unit_compute_seconds": round(compute, 2),
            "start_seconds": round(first - status["started"], 2),
            "overhead_per_unit_seconds": round(((last - first) * slots - compute) / len(units), 3),
            "units": len(units)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=200)
    ap.add_argument("--cv", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--skip-ray", action="store_true")
    args = ap.parse_args()
    info = common.start()
    sys.path.insert(0, str(TESTS))
    from tiny_models import build_tiny_model

    root = Path(tempfile.mkdtemp(prefix="clinpred-bench-exec-"))
    model = build_tiny_model(root / "tiny-qwen2", "qwen2")
    config = root / "configs.toml"
    config.write_text(CONFIG.format(path=model))
    data = root / "cohort.csv"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run([sys.executable, "-m", "clinpred.cli.main", "data", "synth", "--n", str(args.patients),
                    "--seed", "3", "-o", str(data)], env=env, check=True, capture_output=True)
    grid = ["run", "--config", str(config), "--data", str(data), "--model", "tiny", "--cv", str(args.cv), "--iters", str(args.iters)]

    results: dict[str, dict] = {}
    local = root / "local"
    results["local"] = {"seconds": round(_run([*grid, "--out", str(local)], env), 2), **_overhead(local, 1)}
    proc = root / "process"
    results["process --jobs 2"] = {"seconds": round(_run([*grid, "--out", str(proc), "--executor", "process",
                                                         "--jobs", "2"], env), 2), **_overhead(proc, 2)}
    outs = {"process --jobs 2": proc}
    if not args.skip_ray:
        from ray_cluster import start_cluster

        cluster = start_cluster(head_cpus=1)
        try:
            cluster.add_worker(cpus=1)
            cluster.wait_nodes(2)
            ray_out = root / "ray"
            seconds = _run([*grid, "--out", str(ray_out), "--executor", "ray", "--address", cluster.address], env)
            results["ray (2 nodes x 1 CPU)"] = {"seconds": round(seconds, 2), **_overhead(ray_out, 2)}
            outs["ray (2 nodes x 1 CPU)"] = ray_out
        finally:
            cluster.stop()
    same = (local / "metrics.json").read_bytes()
    rows = []
    for name, r in results.items():
        identical = name == "local" or (outs[name] / "metrics.json").read_bytes() == same
        speed = results["local"]["seconds"] / r["seconds"]
        rows.append({"benchmark": "executor", "executor": name, **r, "speedup_vs_local": round(speed, 3),
                     "metrics_identical_to_local": identical, **info})
        print(f"{name:24s} {r['seconds']:7.1f} s  x{speed:.2f} vs local  start {r['start_seconds']:.1f} s  overhead/unit "
              f"{r['overhead_per_unit_seconds']:.2f} s  identical={identical}", file=sys.stderr)
    common.emit(rows)


if __name__ == "__main__":
    main()
