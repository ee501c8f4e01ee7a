"""One writer per run directory: the lock file, stale-lock take-over, and every writer using it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clinpred.core.errors import RunDirectoryError
from clinpred.core.run.lock import LOCK_NAME, RunLock, read_lock

from clirun import clinpred


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid  # reaped: no such process any more (pids are not reused this quickly)


def _write_lock(run_dir: Path, **owner) -> None:
    (run_dir / LOCK_NAME).write_text(json.dumps(owner))


def test_lock_records_its_owner_and_is_released(tmp_path: Path) -> None:
    with RunLock(tmp_path, "clinpred run"):
        owner = read_lock(tmp_path)
        assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
        assert owner["command"] == "clinpred run" and abs(owner["started"] - time.time()) < 60
    assert not (tmp_path / LOCK_NAME).exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary file left behind


def test_a_second_writer_is_refused_in_one_line(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_lock(tmp_path, pid=sleeper.pid, host=socket.gethostname(), started=time.time(), command="clinpred run")
        with pytest.raises(RunDirectoryError) as info:
            RunLock(tmp_path, "clinpred run").acquire()
        message = str(info.value)
        assert f"pid {sleeper.pid}" in message and "is being written by" in message and "\n" not in message
        assert RunDirectoryError.exit_code == 2
        assert read_lock(tmp_path)["pid"] == sleeper.pid  # the owner's lock is untouched
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    _write_lock(tmp_path, pid=_dead_pid(), host=socket.gethostname(), started=0, command="clinpred run")
    with RunLock(tmp_path, "clinpred run"):
        assert read_lock(tmp_path)["pid"] == os.getpid()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process start times come from Linux /proc")
def test_a_lock_whose_pid_now_belongs_to_another_process_is_stale(tmp_path: Path) -> None:
    """The pid of a killed run may be given to a new process: the recorded start time tells."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        start = int(Path(f"/proc/{sleeper.pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        _write_lock(tmp_path, pid=sleeper.pid, host=socket.gethostname(), started=0, command="clinpred run",
                    pid_start=start - 1)  # the lock's owner started earlier than the process now holding the pid
        with RunLock(tmp_path, "clinpred run"):
            assert read_lock(tmp_path)["pid"] == os.getpid()
        _write_lock(tmp_path, pid=sleeper.pid, host=socket.gethostname(), started=0, command="clinpred run",
                    pid_start=start)  # the very process: alive, refused
        with pytest.raises(RunDirectoryError, match=f"pid {sleeper.pid}"):
            RunLock(tmp_path, "clinpred run").acquire()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_lock_of_another_host_is_not_guessed_stale(tmp_path: Path) -> None:
    _write_lock(tmp_path, pid=_dead_pid(), host="some-other-host", started=0, command="clinpred run")
    with pytest.raises(RunDirectoryError, match="on some-other-host"):
        RunLock(tmp_path, "clinpred run").acquire()


def test_release_never_removes_another_owners_lock(tmp_path: Path) -> None:
    lock = RunLock(tmp_path, "clinpred run")
    lock.acquire()
    _write_lock(tmp_path, pid=1, host="elsewhere", started=0, command="x")  # someone replaced it
    lock.release()
    assert read_lock(tmp_path)["host"] == "elsewhere"


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "small.csv"
    assert clinpred("data", "synth", "--n", "120", "--seed", "3", "-o", str(path)).code == 0
    return path


def test_two_resumes_at_once_the_second_is_refused(tmp_path: Path, small_csv: Path) -> None:
    """Issue 17, item 4: a second writer of one run directory gets one line and exit 2."""
    out = tmp_path / "R"
    args = ("run", "--baselines-only", "--data", str(small_csv), "--out", str(out))
    assert clinpred(*args).code == 0
    before = {p.name: p.read_bytes() for p in out.glob("*.json") if p.name != "status.json"}
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_lock(out, pid=sleeper.pid, host=socket.gethostname(), started=time.time(), command="clinpred run")
        second = clinpred(*args, "--resume")
    finally:
        sleeper.kill()
        sleeper.wait()
    assert second.code == 2 and second.err.count("\n") == 1, second.err
    assert "is being written by" in second.err and "Traceback" not in second.err
    assert {p.name: p.read_bytes() for p in out.glob("*.json") if p.name != "status.json"} == before
    (out / LOCK_NAME).unlink()
    assert clinpred(*args, "--resume").code == 0  # a finished run leaves no lock behind
    assert not (out / LOCK_NAME).exists()


def test_report_takes_the_lock_too(tmp_path: Path, small_csv: Path) -> None:
    out = tmp_path / "R"
    assert clinpred("run", "--baselines-only", "--data", str(small_csv), "--out", str(out)).code == 0
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_lock(out, pid=sleeper.pid, host=socket.gethostname(), started=time.time(), command="clinpred run")
        result = clinpred("report", str(out), "--no-html")
    finally:
        sleeper.kill()
        sleeper.wait()
    assert result.code == 2 and "is being written by" in result.err
    assert not (out / "report.md").exists()


def test_a_writer_killed_with_kill_9_leaves_a_lock_the_next_writer_takes_over(tmp_path: Path, small_csv: Path) -> None:
    """A real second process holds the lock; after kill -9 its lock is stale and --resume proceeds."""
    import signal

    out = tmp_path / "R"
    args = ("run", "--baselines-only", "--data", str(small_csv), "--out", str(out))
    assert clinpred(*args).code == 0
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom clinpred.core.run.lock import RunLock\n"
         "RunLock(sys.argv[1], 'clinpred run').acquire()\nprint('locked', flush=True)\ntime.sleep(120)\n", str(out)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        refused = clinpred(*args, "--resume")
        assert refused.code == 2 and f"pid {holder.pid}" in refused.err, refused.err
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert read_lock(out)["pid"] == holder.pid  # left behind by kill -9
    resumed = clinpred(*args, "--resume")
    assert resumed.code == 0, resumed.err
    assert not (out / LOCK_NAME).exists()
