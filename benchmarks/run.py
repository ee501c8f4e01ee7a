"""Run every benchmark and print / write the results.

    python benchmarks/run.py [--quick] [--json] [--only NAME ...]

Each benchmark is a script in this folder, run in its own process (clinpred's BLAS is loaded
before mlx, and peak memory is per process); each prints a JSON list of
``{"name", "ratio", "goal", "details"}``. The results are printed (a table, or JSON with
``--json``) and written to ``benchmarks/results/results-<time>.json`` (kept out of git).
``--quick`` sizes everything to finish in about 20 minutes on two CPU cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name -> (script, full-size arguments, --quick arguments)
BENCHMARKS = {
    "blas": ("bench_blas.py", ["--repeats", "15"], ["--repeats", "9"]),
    "kernels": ("bench_kernels.py", ["--repeats", "9"], ["--repeats", "5"]),
    "scoring": ("bench_scoring.py", ["--patients", "32", "--repeats", "3"], ["--patients", "8", "--repeats", "2"]),
    "training": ("bench_training.py", ["--patients", "96", "--iters", "20", "--repeats", "3"],
                 ["--patients", "16", "--iters", "5", "--repeats", "3"]),
    "trunk": ("bench_trunk.py", ["--patients", "460", "--epochs", "8.7", "--repeats", "1", "--check-steps", "8"],
              ["--patients", "32", "--epochs", "8.7", "--repeats", "1", "--check-steps", "3"]),  # the study's epochs, fewer patients
    "memory": ("bench_memory.py", [], ["--patients", "16", "--iters", "4", "--run-iters", "10"]),
    "executor": ("bench_executor.py", [], ["--cv", "3", "--iters", "5"]),
}
NEEDS_MODEL = ("training", "trunk")  # the float32 copy; scoring loads the model as distributed


def _fp32_model(dest: Path) -> Path:
    code = ("import sys; sys.path.insert(0, %r); import common; common.start(); "
            "common.write_fp32_copy(__import__('pathlib').Path(%r))") % (str(HERE), str(dest))
    subprocess.run([sys.executable, "-c", code], check=True)
    return dest


def run_one(name: str, quick: bool, model_dir: Path | None) -> list[dict]:
    script, full, small = BENCHMARKS[name]
    cmd = [sys.executable, str(HERE / script), *(small if quick else full)]
    if name in NEEDS_MODEL and model_dir is not None:
        cmd += ["--model-dir", str(model_dir)]
    tic = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE)
    seconds = round(time.perf_counter() - tic, 1)
    if proc.returncode != 0:
        return [{"name": f"{name}: failed", "ratio": None, "goal": None,
                 "details": {"error": proc.stderr[-2000:], "seconds": seconds}}]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for r in results:
        r["details"]["benchmark_seconds"] = seconds
        r["details"]["reproduce"] = f"python benchmarks/{script} " + " ".join(small if quick else full)
    return results


def _table(results: list[dict]) -> str:
    lines = ["| benchmark | ratio | goal | met |", "| --- | --- | --- | --- |"]
    for r in results:
        met = "" if r["goal"] is None or r["ratio"] is None else ("yes" if r["ratio"] >= r["goal"] else "no")
        lines.append(f"| {r['name']} | {r['ratio']} | {r['goal']} | {met} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: about 20 minutes on two cores")
    ap.add_argument("--json", action="store_true", help="print the JSON list instead of a table")
    ap.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these benchmarks")
    args = ap.parse_args()
    names = args.only or list(BENCHMARKS)
    model_dir = None
    if any(n in NEEDS_MODEL for n in names):
        model_dir = _fp32_model(Path(tempfile.mkdtemp(prefix="clinpred-bench-")) / "smollm2-fp32")
    started = time.perf_counter()
    results: list[dict] = []
    for name in names:
        results += run_one(name, args.quick, model_dir)
        print(f"[{time.perf_counter() - started:6.0f} s] {name} done", file=sys.stderr)
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"results-{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2) if args.json else _table(results))
    print(f"written: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
