"""Privacy: no network request during a run with local models, no patient rows in the output,
owner-only run directories."""

from __future__ import annotations

import csv
import socket
import stat
from pathlib import Path

import pytest

from clirun import clinpred

CONFIG = """
[run]
baselines = ["majority", "lasso"]
[evaluation]
bootstrap = 200
max_new_tokens = 3
[[models]]
name = "tiny"
family = "qwen"
model_id = "{path}"
lora_layers = 2
lora_rank = 4
num_iters = 3
"""


class NetworkUsed(AssertionError):
    pass


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise NetworkUsed(f"network access attempted: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_a_full_run_with_local_models_makes_no_network_request(no_network, tmp_path: Path) -> None:
    from tiny_models import tiny_model_dir

    data = tmp_path / "cohort.csv"
    assert clinpred("data", "synth", "--n", "80", "-o", str(data)).code == 0
    config = tmp_path / "c.toml"
    config.write_text(CONFIG.format(path=tiny_model_dir("qwen2")))
    out = tmp_path / "run"
    result = clinpred("-v", "run", "--config", str(config), "--data", str(data), "--model", "tiny", "--out", str(out))
    assert result.code == 0, result.err
    assert (out / "metrics.json").is_file()

    # nothing a patient row holds appears in what the run printed
    with data.open(newline="") as f:
        rows = list(csv.DictReader(f))
    printed = result.out + result.err
    for row in rows:
        assert row["patient_id"] not in printed
        assert ",".join(row.values()) not in printed
    assert "Patient record" not in printed and "Blood loss:" not in printed

    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for path in out.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
