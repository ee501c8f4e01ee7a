"""Termination signals (issue 25, item 1): SIGTERM (``timeout``, Slurm, ``docker stop``, systemd)
and SIGHUP stop a run like Ctrl-C in every executor: units in flight stopped, pool workers and the
resource tracker gone (so a pipe to ``tee`` closes), the lock released, the resume line printed,
exit 128 + the signal; a resumed run gives the same metrics byte for byte. Pool workers whose
driver was killed with ``kill -9`` end by themselves before writing anything more, and what a
killed writer left half-written is cleaned when the run resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from clirun import clinpred

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
num_iters = 240
eval_every = 1000
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(data, config, an uninterrupted reference run)."""
    from tiny_models import tiny_model_dir

    root = tmp_path_factory.mktemp("signals")
    data = root / "cohort.csv"
    assert clinpred("data", "synth", "--n", "100", "--seed", "5", "-o", str(data)).code == 0
    config = root / "configs.toml"
    config.write_text(CONFIG.format(path=tiny_model_dir("qwen2")))
    reference = root / "reference"
    result = clinpred("run", "--config", str(config), "--data", str(data), "--model", "tiny", "--out", str(reference))
    assert result.code == 0, result.err
    return data, config, reference


def _args(setup, out: Path) -> list[str]:
    data, config, _ = setup
    return ["run", "--config", str(config), "--data", str(data), "--model", "tiny", "--out", str(out)]


def _start(args: list[str]) -> subprocess.Popen:
    """The CLI in a session of its own (so every process it starts can be found by its session id)."""
    return subprocess.Popen([sys.executable, "-m", "clinpred.cli.main", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _session(sid: int) -> list[str]:
    """The live processes of session ``sid`` (pid and command), zombies excluded."""
    rows = subprocess.run(["ps", "-eo", "pid=,sid=,stat=,args="], capture_output=True, text=True).stdout
    out = []
    for row in rows.splitlines():
        parts = row.split(None, 3)
        if len(parts) >= 3 and int(parts[1]) == sid and not parts[2].startswith("Z"):
            out.append(f"{parts[0]} {parts[3] if len(parts) > 3 else ''}")
    return out


def _training(out: Path, min_step: int = 5) -> dict:
    try:
        status = json.loads((out / "status.json").read_text())
    except (OSError, ValueError):
        return {}
    entry = (status.get("running") or {}).get("tiny/holdout") or {}
    return entry if (entry.get("step") or 0) >= min_step else {}


def _wait_training(proc: subprocess.Popen, out: Path, *, need_checkpoint: bool = False) -> dict:
    checkpoint = out / "adapters" / "tiny" / "checkpoint"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        entry = _training(out)
        if entry and (checkpoint.exists() or not need_checkpoint) and (entry.get("step") or 0) < 200:
            return entry
        time.sleep(0.05)
    raise AssertionError("the LLM unit never trained (or finished before it could be stopped)")


def _temporary_files(out: Path) -> list[Path]:
    return [p for p in out.rglob(".*") if p.is_file() and (p.name.endswith(".tmp") or p.name.endswith(".tmp.safetensors"))]


@pytest.mark.parametrize("executor", [[], ["--executor", "process", "--jobs", "2"]], ids=["local", "process"])
def test_sigterm_stops_the_run_cleanly_and_resume_is_byte_identical(setup, tmp_path: Path, executor: list[str]) -> None:
    out = tmp_path / "terminated"
    proc = _start([*_args(setup, out), *executor])
    entry = _wait_training(proc, out, need_checkpoint=True)
    proc.send_signal(signal.SIGTERM)  # the driver only, as `timeout` and `docker stop` do
    stopped = time.monotonic()
    _, err = proc.communicate(timeout=60)  # returns only when no process holds its stdout/stderr any more
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert "Terminated (SIGTERM). Completed units are saved in" in err and "--resume" in err
    deadline = stopped + 10
    while _session(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _session(proc.pid), f"processes of the run outlived it: {_session(proc.pid)}"
    if executor:
        worker = int(entry["node"].rsplit(":", 1)[1])
        with pytest.raises(ProcessLookupError):
            os.kill(worker, 0)
    assert not (out / ".lock").exists(), "the lock was not released"
    assert not _temporary_files(out)
    assert not (out / "metrics.json").exists()

    resumed = clinpred(*_args(setup, out), "--resume", *executor)
    assert resumed.code == 0, resumed.err
    reference = setup[2]
    assert (out / "metrics.json").read_bytes() == (reference / "metrics.json").read_bytes()
    assert (out / "predictions" / "tiny.jsonl").read_bytes() == (reference / "predictions" / "tiny.jsonl").read_bytes()


def test_sighup_is_exit_129_with_the_resume_line(setup, tmp_path: Path) -> None:
    out = tmp_path / "hung-up"
    proc = _start(_args(setup, out))
    _wait_training(proc, out)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 129, err
    assert "Terminated (SIGHUP). Completed units are saved" in err and "Traceback" not in err
    assert not (out / ".lock").exists()


def test_sigterm_outside_a_run_is_143_too(tmp_path: Path) -> None:
    """Any command: `clinpred data synth` of many patients, terminated while it works."""
    proc = _start(["data", "synth", "--n", "3000000", "-o", str(tmp_path / "big.csv")])
    time.sleep(3)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "Terminated (SIGTERM)." and "Traceback" not in err
    assert not list(tmp_path.glob(".big.csv.*"))  # no temporary file left behind


def test_pool_workers_of_a_killed_driver_stop_before_writing(setup, tmp_path: Path) -> None:
    """kill -9 of the driver: its pool worker ends by itself within seconds and never writes a
    checkpoint after the driver is gone; the resumed run cleans what was left half-written."""
    out = tmp_path / "killed"
    proc = _start([*_args(setup, out), "--executor", "process", "--jobs", "1"])
    entry = _wait_training(proc, out, need_checkpoint=True)
    worker = int(entry["node"].rsplit(":", 1)[1])
    checkpoint = out / "adapters" / "tiny" / "checkpoint" / "checkpoint.safetensors"
    proc.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    proc.wait()
    written = checkpoint.stat().st_mtime_ns
    while time.monotonic() - killed < 10:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the pool worker outlived its killed driver by 10 s")
    proc.communicate(timeout=30)  # its pipes close: no orphan holds them
    time.sleep(1.0)
    assert checkpoint.stat().st_mtime_ns == written, "a checkpoint was written after the driver was killed"
    assert not _session(proc.pid), _session(proc.pid)

    stray = [out / ".status.json.k3v9x1q2.tmp", out / "adapters" / "tiny" / ".adapters.8f2k1l.tmp.safetensors"]
    for path in stray:  # as a writer killed mid-write leaves them
        path.write_bytes(b"half")
    resumed = clinpred(*_args(setup, out), "--resume")
    assert resumed.code == 0, resumed.err
    assert not any(p.exists() for p in stray) and not _temporary_files(out)
    assert (out / "metrics.json").read_bytes() == (setup[2] / "metrics.json").read_bytes()


@pytest.mark.parametrize("kernel", [True, False], ids=["pdeathsig", "watcher-thread"])
def test_a_process_ends_when_its_parent_dies(tmp_path: Path, kernel: bool) -> None:
    """die_with_parent: by the kernel (Linux) or by the watcher thread (everywhere else)."""
    if kernel and not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux only")
    child = tmp_path / "child.py"
    child.write_text(textwrap.dedent(f"""
        import os, subprocess, sys, time
        grandchild = subprocess.Popen([sys.executable, "-c", '''
        import os, sys, time
        from clinpred.core.run.executors import parent_watch as pw
        if not {kernel}:
            pw._pdeathsig = lambda: False
        pw.die_with_parent({{ppid}})
        print(os.getpid(), flush=True)
        time.sleep(120)
        '''.replace("{{ppid}}", str(os.getpid()))], stdout=subprocess.PIPE, text=True)
        print(grandchild.stdout.readline().strip(), flush=True)
        time.sleep(120)
    """))
    parent = subprocess.Popen([sys.executable, str(child)], stdout=subprocess.PIPE, text=True)
    grandchild = int(parent.stdout.readline().strip())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(grandchild, signal.SIGKILL)
    pytest.fail("the process outlived its parent by 5 s")


def test_only_temporary_files_are_cleaned(tmp_path: Path) -> None:
    from clinpred.core.run.rundir import remove_temporary_files

    keep = [tmp_path / "run.json", tmp_path / ".lock", tmp_path / "units" / "m" / "holdout.json",
            tmp_path / "notes.tmp", tmp_path / "adapters" / "m" / "adapters.safetensors"]
    drop = [tmp_path / ".run.json.abc123.tmp", tmp_path / "units" / "m" / ".holdout.json.x.tmp",
            tmp_path / "adapters" / "m" / "checkpoint" / ".checkpoint.q1.tmp.safetensors"]
    for path in keep + drop:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    assert sorted(remove_temporary_files(tmp_path)) == sorted(drop)
    assert all(p.exists() for p in keep) and not any(p.exists() for p in drop)
