"""A real two-node Ray cluster on loopback for tests: a head and one worker node, each a
``ray start --block`` subprocess in its own process group with a private ``--temp-dir``.

Stopped by killing those process groups only (never ``ray stop``, which would kill every Ray
process on the machine).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from attrs import define, field

#: environment of every Ray process of a test cluster (and of its driver)
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_bin() -> str:
    return str(Path(sys.executable).with_name("ray"))


@define
class LocalCluster:
    port: int
    temp_dir: Path
    head: subprocess.Popen
    workers: list[subprocess.Popen] = field(factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {**os.environ, **RAY_ENV}

    def add_worker(self, *, cpus: int = 1, resources: str = '{"worker_node": 1}') -> subprocess.Popen:
        proc = subprocess.Popen(
            [_ray_bin(), "start", f"--address={self.address}", "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}",
             f"--resources={resources}", "--block", "--disable-usage-stats"],
            env=self.env(), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.workers.append(proc)
        return proc

    def wait_nodes(self, n: int, timeout: float = 90.0) -> None:
        """Wait until ``n`` nodes are alive (asked from a throw-away driver process)."""
        code = ("import ray,sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
                "print(sum(1 for x in ray.nodes() if x['Alive']))")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = subprocess.run([sys.executable, "-c", code, self.address], env=self.env(),
                                 capture_output=True, text=True, timeout=60)
            if out.returncode == 0 and out.stdout.strip().isdigit() and int(out.stdout.strip()) >= n:
                return
            time.sleep(1.0)
        raise TimeoutError(f"the Ray test cluster did not reach {n} nodes in {timeout:.0f} s")

    def node_ids(self) -> dict[str, str]:
        """{"head": id8, "worker": id8} of the alive nodes (the 8 characters clinpred's node names show)."""
        code = ("import ray,sys,json; ray.init(address=sys.argv[1], logging_level='ERROR'); "
                "print(json.dumps([[x['NodeID'][:8], 'worker_node' in x['Resources']] for x in ray.nodes() if x['Alive']]))")
        out = subprocess.run([sys.executable, "-c", code, self.address], env=self.env(), capture_output=True,
                             text=True, timeout=60, check=True)
        import json

        return {("worker" if is_worker else "head"): node for node, is_worker in json.loads(out.stdout.strip().splitlines()[-1])}

    def worker_ids(self) -> set[str]:
        """The ids (8 characters) of the alive worker nodes."""
        code = ("import ray,sys,json; ray.init(address=sys.argv[1], logging_level='ERROR'); "
                "print(json.dumps([x['NodeID'][:8] for x in ray.nodes() if x['Alive'] and 'worker_node' in x['Resources']]))")
        out = subprocess.run([sys.executable, "-c", code, self.address], env=self.env(), capture_output=True,
                             text=True, timeout=60, check=True)
        import json

        return set(json.loads(out.stdout.strip().splitlines()[-1]))

    @staticmethod
    def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        """Kill one node: its ``ray start`` process group (raylet, workers, ...)."""
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass

    def stop(self) -> None:
        for proc in [*self.workers, self.head]:
            self.kill(proc, signal.SIGKILL)
        _kill_leftovers(self.temp_dir)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _kill_leftovers(temp_dir: Path) -> None:
    """Ray daemons that left their process group but were started for this cluster (their
    command line names our private temp dir)."""
    mark = str(temp_dir).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


def start_cluster(*, head_cpus: int = 1) -> LocalCluster:
    """Start the head node (workers: :meth:`LocalCluster.add_worker`)."""
    port = _free_port()
    temp_dir = Path(tempfile.mkdtemp(prefix="cpray-", dir="/tmp"))
    head = subprocess.Popen(
        [_ray_bin(), "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", f"--num-cpus={head_cpus}",
         f"--temp-dir={temp_dir}", "--include-dashboard=false", "--block", "--disable-usage-stats"],
        env={**os.environ, **RAY_ENV}, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return LocalCluster(port, temp_dir, head)
