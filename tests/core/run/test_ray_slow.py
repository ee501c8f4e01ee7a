"""`--executor ray` on a real two-node Ray cluster started by the test on loopback (a head and
one worker node, each a `ray start --block` process group with a private --temp-dir): the same
metrics.json as a local run byte for byte, units on both nodes in `clinpred status`, a worker
node killed mid-unit (the unit is retried from its last acknowledged checkpoint), the driver killed
(`--resume` completes, continuing LLM units from the checkpoints the driver copied), SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

from clirun import clinpred, spawn  # noqa: E402

pytestmark = pytest.mark.slow

CONFIG = """
[run]
baselines = ["majority", "lasso"]
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


@pytest.fixture(scope="module")
def cluster():
    from ray_cluster import start_cluster

    c = start_cluster(head_cpus=1)
    try:
        c.add_worker(cpus=1)
        c.wait_nodes(2)
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from tiny_models import tiny_model_dir

    root = tmp_path_factory.mktemp("ray")
    data = root / "cohort.csv"
    assert clinpred("data", "synth", "--n", "100", "--seed", "11", "-o", str(data)).code == 0
    config = root / "configs.toml"
    config.write_text(CONFIG.format(path=tiny_model_dir("qwen2")))
    return data, config


def _args(setup: tuple[Path, Path], out: Path, iters: int) -> list[str]:
    data, config = setup
    return ["run", "--config", str(config), "--data", str(data), "--model", "tiny", "--cv", "2",
            "--iters", str(iters), "--out", str(out)]


def _cli(args: list[str], cluster, *, check: bool = True) -> subprocess.CompletedProcess:
    """`clinpred ARGS` in its own process (a Ray driver must not share the test process)."""
    proc = subprocess.run([sys.executable, "-m", "clinpred.cli.main", *args], env=cluster.env(),
                          capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


_LOCAL: dict[int, Path] = {}


def _local(setup, tmp_path_factory, iters: int) -> Path:
    if iters not in _LOCAL:
        out = tmp_path_factory.mktemp("local") / "run"
        result = clinpred(*_args(setup, out, iters))
        assert result.code == 0, result.err
        _LOCAL[iters] = out
    return _LOCAL[iters]


def _status(out: Path) -> dict:
    try:
        return json.loads((out / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def test_ray_grid_equals_local_byte_for_byte_and_uses_both_nodes(cluster, setup, tmp_path, tmp_path_factory) -> None:
    local = _local(setup, tmp_path_factory, 3)
    out = tmp_path / "ray"
    proc = _cli([*_args(setup, out, 3), "--executor", "ray", "--address", cluster.address], cluster)
    assert (out / "metrics.json").read_bytes() == (local / "metrics.json").read_bytes()
    for path in sorted((local / "predictions").iterdir()):
        assert (out / "predictions" / path.name).read_bytes() == path.read_bytes(), path.name
    for split in ("r0f0", "r0f1"):  # the adapters came back by value and are the same bytes
        for name in ("adapters.safetensors", "adapter_config.json"):
            assert (out / "adapters" / "tiny" / split / name).read_bytes() == \
                (local / "adapters" / "tiny" / split / name).read_bytes()
    nodes = {u["node"].rsplit("/", 1)[1] for u in _status(out)["units"].values()}
    assert nodes == set(cluster.node_ids().values()), proc.stderr
    shown = clinpred("status", str(out))
    assert shown.code == 0 and all(node in shown.out for node in nodes)


def test_a_search_on_ray_saves_its_trials_in_the_run_directory_and_equals_local(cluster, setup, tmp_path) -> None:
    """Trials are Ray tasks like units: their records come back to the driver, which saves them."""
    pytest.importorskip("optuna")
    data, config = setup
    searched = config.parent / "searched.toml"
    searched.write_text(config.read_text().replace("[[models]]", """[search]
n_trials = 2
pruner = "none"
learning_rate = { low = 1e-4, high = 1e-2 }
lora_rank = [2, 4]
[[models]]""") + "eval_every = 2\n")
    args = lambda out: [a if a != str(config) else str(searched) for a in _args(setup, out, 4)] + ["--search"]  # noqa: E731
    local = tmp_path / "local"
    assert clinpred(*args(local)).code == 0
    out = tmp_path / "ray"
    proc = _cli([*args(out), "--executor", "ray", "--address", cluster.address], cluster)
    assert (out / "metrics.json").read_bytes() == (local / "metrics.json").read_bytes(), proc.stderr[-2000:]
    trials = sorted(p.relative_to(out) for p in (out / "search").rglob("trial-*.json"))
    assert [str(t) for t in trials] == [f"search/tiny/{s}/trial-00{n}.json" for s in ("r0f0", "r0f1") for n in (0, 1)]
    assert "tiny/r0f0/trial-000" in proc.stderr


def test_a_driver_killed_mid_run_resumes_with_another_executor(cluster, setup, tmp_path, tmp_path_factory) -> None:
    local = _local(setup, tmp_path_factory, 200)
    out = tmp_path / "killed"
    proc = spawn([*_args(setup, out, 200), "--executor", "ray",
                 "--address", cluster.address], env=cluster.env(),
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        running = _status(out).get("running") or {}
        if any(u.startswith("tiny/") and (r.get("step") or 0) >= 10 for u, r in running.items()):
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "metrics.json").exists()
    done_before = len(list((out / "units").rglob("*.json")))
    result = clinpred(*_args(setup, out, 200), "--resume")  # resumed with the local executor
    assert result.code == 0, result.err
    assert result.err.count("already done (resumed)") == done_before
    assert (out / "metrics.json").read_bytes() == (local / "metrics.json").read_bytes()


def _unit_tasks(cluster) -> list[int]:
    """Pids of this cluster's worker processes running a clinpred unit right now (Ray starts its
    workers in sessions of their own: they are found by their ancestry, not their group)."""
    groups = {p.pid for p in (cluster.head, *cluster.workers)}
    procs = {}
    for row in subprocess.run(["ps", "-eo", "pid=,ppid=,pgid=,args="], capture_output=True, text=True).stdout.splitlines():
        parts = row.split(None, 3)
        if len(parts) == 4:
            procs[int(parts[0])] = (int(parts[1]), int(parts[2]), parts[3])

    def ours(pid: int) -> bool:
        seen = set()
        while pid in procs and pid not in seen:
            seen.add(pid)
            ppid, pgid, _ = procs[pid]
            if pgid in groups:
                return True
            pid = ppid
        return False

    return [pid for pid, (_, _, args) in procs.items() if args.startswith("ray::ray_unit") and ours(pid)]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_of_a_ray_driver_stops_its_units_on_the_cluster(cluster, setup, tmp_path, signum) -> None:
    """SIGTERM (Slurm's time limit, scancel) stops the run like Ctrl-C, though ray.init installs
    a SIGTERM handler of its own (issue 25, item 1)."""
    out = tmp_path / "interrupted"
    proc = spawn([*_args(setup, out, 400), "--executor", "ray",
                 "--address", cluster.address], env=cluster.env(),
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        running = _status(out).get("running") or {}
        if any(u.startswith("tiny/") and (r.get("step") or 0) >= 5 for u, r in running.items()):
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    assert _unit_tasks(cluster), "no unit task was running on the cluster"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    word, code = ("Interrupted", 130) if signum == signal.SIGINT else ("Terminated (SIGTERM)", 143)
    assert proc.returncode == code and f"{word}. Completed units are saved" in err, err[-2000:]
    assert "Traceback" not in err
    deadline = time.monotonic() + 60  # the driver is gone: Ray cancels the tasks it owned
    while _unit_tasks(cluster) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _unit_tasks(cluster), "unit tasks kept running on the cluster after Ctrl-C"


def test_a_worker_node_killed_mid_unit_is_retried_from_its_last_acknowledged_checkpoint(cluster, setup, tmp_path,
                                                                                       tmp_path_factory) -> None:
    """LLM units may run only on worker nodes (a custom resource), and a second worker joins, so
    the unit always trains on a worker and its retry has somewhere to go after the kill. The node is
    killed once status.json shows an acknowledged checkpoint upload, and the retry continues from it
    or from a later one (issue 25, item 9: 3 of 5 retries did, before the store became a threaded
    actor: an upload in flight when its node died held up the retry's request behind it)."""
    local = _local(setup, tmp_path_factory, 200)
    first = cluster.worker_ids()
    cluster.add_worker(cpus=1)
    cluster.wait_nodes(3)
    procs = {next(iter(first)): cluster.workers[-2], next(iter(cluster.worker_ids() - first)): cluster.workers[-1]}
    data, config = setup
    pinned = config.parent / "pinned.toml"
    pinned.write_text(config.read_text() + "\n[execution]\ncheckpoint_upload_seconds = 0\n"
                      "[execution.resources]\nworker_node = 1\n")
    out = tmp_path / "node-killed"
    args = [a if a != str(config) else str(pinned) for a in _args(setup, out, 200)]
    proc = spawn([*args, "--executor", "ray",
                 "--address", cluster.address], env=cluster.env(),
                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    killed, acked = None, None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        running = _status(out).get("running") or {}
        hit = [(u, node, r["checkpoint_uploaded"]) for u, r in running.items() for node in procs
               if u.startswith("tiny/") and str(r.get("node", "")).endswith(node)
               and (r.get("checkpoint_uploaded") or 0) >= 10 and (r.get("step") or 0) < 190]
        if hit:
            killed, node, acked = hit[0]
            cluster.kill(procs[node])
            break
        time.sleep(0.2)
    _, err = proc.communicate(timeout=600)
    assert killed is not None, f"no LLM unit trained on a worker node with an acknowledged upload: {err[-2000:]}"
    assert proc.returncode == 0, err[-3000:]
    assert (out / "metrics.json").read_bytes() == (local / "metrics.json").read_bytes()
    assert json.loads((out / "run.json").read_text())["failed"] == {}
    assert _status(out)["units"][killed]["state"] == "done"
    unit = json.loads((out / "units" / "tiny" / f"{killed.split('/')[1]}.json").read_text())
    assert unit["training"]["resumed_from"] >= acked, (unit["training"]["resumed_from"], acked)


def test_a_driver_killed_on_ray_resumes_its_llm_units_from_their_checkpoints(cluster, setup, tmp_path,
                                                                             tmp_path_factory) -> None:
    """The driver copies each acknowledged checkpoint into the run directory, so `--resume` with Ray
    continues an unfinished LLM unit from it, as local and process do (issue 25, item 9)."""
    local = _local(setup, tmp_path_factory, 200)
    data, config = setup
    often = config.parent / "often.toml"
    often.write_text(config.read_text() + "\n[execution]\ncheckpoint_upload_seconds = 0\n")
    out = tmp_path / "driver-killed"
    args = [a if a != str(config) else str(often) for a in _args(setup, out, 200)]
    proc = spawn([*args, "--executor", "ray",
                 "--address", cluster.address], env=cluster.env(),
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    copied: dict[str, int] = {}
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        for split in ("r0f0", "r0f1"):
            ckpt = out / "adapters" / "tiny" / split / "checkpoint" / "checkpoint.safetensors"
            if ckpt.is_file() and not (out / "units" / "tiny" / f"{split}.json").exists():
                copied[split] = 1
        running = _status(out).get("running") or {}
        if copied and any((r.get("checkpoint_uploaded") or 0) >= 20 and (r.get("step") or 0) < 180
                          for u, r in running.items() if u.startswith("tiny/")):
            break
        time.sleep(0.2)
    assert proc.poll() is None and copied, "no checkpoint was copied into the run directory before the run ended"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    unfinished = [s for s in ("r0f0", "r0f1") if not (out / "units" / "tiny" / f"{s}.json").exists()]
    steps = {}
    for split in unfinished:
        ckpt = out / "adapters" / "tiny" / split / "checkpoint" / "checkpoint.safetensors"
        if ckpt.is_file():
            header = ckpt.read_bytes()
            size = int.from_bytes(header[:8], "little")
            steps[split] = json.loads(json.loads(header[8:8 + size])["__metadata__"]["state"])["step"]
    assert steps and all(step > 0 for step in steps.values()), steps
    resumed = _cli([*args, "--executor", "ray", "--address", cluster.address, "--resume"], cluster)
    assert (out / "metrics.json").read_bytes() == (local / "metrics.json").read_bytes(), resumed.stderr[-2000:]
    for split, step in steps.items():
        unit = json.loads((out / "units" / "tiny" / f"{split}.json").read_text())
        assert unit["training"]["resumed_from"] == step, (split, unit["training"]["resumed_from"], step)


def test_doctor_reports_the_device_of_every_worker_node(cluster) -> None:
    if not any(w.poll() is None for w in cluster.workers):  # no worker node left alive
        cluster.add_worker(cpus=1)
        cluster.wait_nodes(2)
    for _ in range(10):  # a node that just joined (or just died) takes a moment to be listed as such
        proc = _cli(["doctor", "--json", "--address", cluster.address], cluster)
        workers = json.loads(proc.stdout)["workers"]
        if len(workers) == 2 and all("device" in w for w in workers):
            break
        time.sleep(3)
    assert {w["node"].rsplit("/", 1)[1] for w in workers} == set(cluster.node_ids().values())
    assert all(w["device"] == "cpu" and w["mlx"] for w in workers)
    assert any(w["resources"].get("worker_node") == 1 for w in workers)


def test_a_resource_no_node_offers_is_one_error_before_any_unit(cluster, setup, tmp_path) -> None:
    data, config = setup
    custom = tmp_path / "custom.toml"
    custom.write_text(config.read_text() + "\n[execution]\nllm_gpus = 0\n[execution.resources]\nh100 = 1\n")
    out = tmp_path / "never"
    proc = _cli(["run", "--config", str(custom), "--data", str(data), "--model", "tiny", "--no-baselines",
                 "--cv", "2", "--out", str(out), "--executor", "ray", "--address", cluster.address], cluster, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        "Error: no node of the Ray cluster offers 1 'h100' (the cluster has 0); "
        "lower [execution] resources or add such a node")
    assert not out.exists()  # checked before the run directory is created
