"""Bounds, surprises and hangs (issue 25, items 7 and 8): --trials and max_retries have upper bounds
(core/bounds.py); an empty --address is an error, not a silent local Ray; a command-line option that
replaces the config's protocol says so on stderr; a data, config or outputs file that is a FIFO is
refused at once; a plugin whose import never returns is a broken plugin after a time limit; an
--address where something that is not Ray answers fails in seconds."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from clirun import clinpred


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bounds") / "cohort.csv"
    assert clinpred("data", "synth", "--n", "120", "--seed", "5", "-o", str(path)).code == 0
    return path


def _one_line(result, code: int = 2) -> str:
    assert result.code == code, (result.code, result.err)
    assert result.err.startswith("Error: ") and result.err.count("\n") == 1 and "Traceback" not in result.err, result.err
    return result.err


@pytest.mark.parametrize("args", [("--search", "--trials", "10000000000"), ("--search", "--trials", "0"),
                                  ("--executor", "process", "--jobs", "100000")], ids=["trials-huge", "trials-0", "jobs"])
def test_out_of_range_options(cohort: Path, tmp_path: Path, args: tuple[str, ...]) -> None:
    result = clinpred("run", "--data", str(cohort), "--out", str(tmp_path / "run"), *args)
    assert result.code == 2 and "is out of range; it must be between" in result.err, result.err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("table", ["[execution]\nmax_retries = 1000000000000", "[execution]\nmax_retries = -1",
                                   "[execution]\nmax_concurrent = 100000000", "[execution]\ncheckpoint_upload_seconds = 1e12",
                                   "[search]\nn_trials = 10000000000", "[search]\nparallel_trials = 100000",
                                   '[execution]\nexecutor = "ray"\naddress = ""'])
def test_out_of_range_config_values_are_one_line(cohort: Path, tmp_path: Path, table: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f"[run]\nbaselines = [\"majority\"]\n{table}\n")
    key = table.split("\n")[-1].split(" =")[0]
    line = _one_line(clinpred("run", "--baselines-only", "--config", str(config), "--data", str(cohort),
                              "--out", str(tmp_path / "run")))
    assert key in line or "address is empty" in line, line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("address", ["", "   "])
def test_an_empty_address_is_an_error_not_a_local_ray(cohort: Path, tmp_path: Path, address: str) -> None:
    """Item 7: `--address "$UNSET"` silently started a local Ray instead of reaching the cluster."""
    line = _one_line(clinpred("run", "--baselines-only", "--data", str(cohort), "--executor", "ray",
                              "--address", address, "--out", str(tmp_path / "run")))
    assert "the Ray address is empty" in line and "leave --address out" in line
    assert not (tmp_path / "run").exists()


def test_an_empty_address_for_doctor_is_an_error() -> None:
    result = clinpred("doctor", "--address", "")
    assert result.code == 2 and "--address is empty" in result.err and "Traceback" not in result.err


def test_cv_over_an_internal_external_config_says_so(cohort: Path, tmp_path: Path) -> None:
    """Item 7: `--cv 5` over protocol = "internal-external" switched protocol without a word."""
    config = tmp_path / "c.toml"
    config.write_text('[run]\nbaselines = ["majority", "lasso"]\n[evaluation]\nprotocol = "internal-external"\n'
                      'bootstrap = 200\n[dataset]\nsite_column = "country"\n')
    out = tmp_path / "run"
    result = clinpred("run", "--baselines-only", "--config", str(config), "--data", str(cohort), "--cv", "3",
                      "--out", str(out))
    assert result.code == 0, result.err
    said = " ".join(result.err.split())
    assert "--cv 3 replaces the protocol 'internal-external'" in said and "drop --cv to keep" in said
    held = clinpred("run", "--baselines-only", "--config", str(config), "--data", str(cohort), "--out", str(tmp_path / "r2"))
    assert held.code == 0 and "replaces the protocol" not in held.err  # no option, no line


def _fifo(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    os.mkfifo(path)
    return path


def _cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The CLI in its own process, so a hang fails the test instead of blocking the suite."""
    return subprocess.run([sys.executable, "-m", "clinpred.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    """Item 8: `data check` of a FIFO with no writer waited forever."""
    for args in (("data", "check", "{}"), ("run", "--baselines-only", "--data", "{}", "--out", str(tmp_path / "r")),
                 ("data", "init", "{}", "-o", str(tmp_path / "s.toml")), ("run", "--config", "{}", "--out", str(tmp_path / "r")),
                 ("diagnose", "{}")):
        fifo = _fifo(tmp_path, f"in-{len(list(tmp_path.iterdir()))}.csv" if args[0] != "diagnose" else "out.jsonl")
        started = time.monotonic()
        proc = _cli(*(a.replace("{}", str(fifo)) for a in args), timeout=120)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "is a pipe (FIFO)" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert time.monotonic() - started < 100
        fifo.unlink()
    assert not (tmp_path / "r").exists()


def test_a_device_is_refused(tmp_path: Path) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    result = clinpred("data", "check", "/dev/zero")
    assert result.code == 2 and "is a device" in result.err


@pytest.mark.parametrize("body", ["import time\ntime.sleep(600)\n", "while True:\n    pass\n"], ids=["sleep", "spin"])
def test_a_plugin_whose_import_hangs_is_a_broken_plugin(tmp_path: Path, body: str) -> None:
    plugin = tmp_path / "hangs.py"
    plugin.write_text(body)
    started = time.monotonic()
    proc = _cli("--plugin", str(plugin), "families", env={"CLINPRED_PLUGIN_TIMEOUT": "3"})
    assert proc.returncode == 0 and "smollm" in proc.stdout, proc.stderr
    assert "plugin 'hangs' failed: error importing plugin: PluginImportTimeout: did not finish importing within 3 s" \
        in " ".join(proc.stderr.split())
    strict = _cli("--strict-plugins", "--plugin", str(plugin), "families", env={"CLINPRED_PLUGIN_TIMEOUT": "3"})
    assert strict.returncode == 1 and "did not finish importing" in strict.stderr
    assert time.monotonic() - started < 110


def test_a_bad_plugin_timeout_is_one_line() -> None:
    proc = _cli("families", env={"CLINPRED_PLUGIN_TIMEOUT": "soon"})
    assert proc.returncode == 2 and "CLINPRED_PLUGIN_TIMEOUT='soon' is not a number" in proc.stderr


class _Server:
    """A TCP server on loopback that is not Ray: ``http`` answers every request with an HTTP
    response; ``silent`` accepts and never says a word."""

    def __init__(self, kind: str) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.kind, self.conns, self.stop = kind, [], False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.5)
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)
            if self.kind == "http":
                try:
                    conn.recv(1024)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self.stop = True
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.mark.parametrize("kind", ["http", "silent"])
def test_an_address_that_answers_but_is_not_ray_fails_in_seconds(cohort: Path, tmp_path: Path, kind: str) -> None:
    """Item 8: still running after 600 s (Ray dialing on and on)."""
    pytest.importorskip("ray")
    server = _Server(kind)
    try:
        started = time.monotonic()
        proc = _cli("run", "--baselines-only", "--data", str(cohort), "--executor", "ray",
                    "--address", f"127.0.0.1:{server.port}", "--out", str(tmp_path / "run"), timeout=180)
        took = time.monotonic() - started
    finally:
        server.close()
    assert proc.returncode == 1, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: something answers at") and "it is not a Ray cluster's head" in last, proc.stderr
    assert ("no reply within" in last) == (kind == "silent")
    assert took < 120 and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()


def test_the_http2_probe_recognises_grpc() -> None:
    """The check itself against a server that does answer the HTTP/2 preface with SETTINGS."""
    from clinpred.core.run.executors.ray_probe import speaks_grpc

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)

    def serve() -> None:
        conn, _ = sock.accept()
        conn.recv(64)
        conn.sendall(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")  # an empty SETTINGS frame
        time.sleep(1)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        assert speaks_grpc("127.0.0.1", sock.getsockname()[1], 5) is None
    finally:
        sock.close()
