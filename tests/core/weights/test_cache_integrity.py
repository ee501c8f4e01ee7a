"""The model cache cannot be replaced silently (issue 25, items 2 and 10): `models import` refuses an
existing name without --force and a catalog model's name always; a cached model is checked against
the sha256 of each file recorded when it was converted (a size + mtime stamp first, the full hash
when the stamp differs) by `run` and `predict`; a read-only CLINPRED_HOME is one line."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

import gguf_writer as gw
from clirun import clinpred

DEFAULT = "smollm2-135m-instruct"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("CLINPRED_HOME", str(home))
    return home


@pytest.fixture(scope="module")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path, _ = gw.tiny_decoder(tmp_path_factory.mktemp("gguf") / "tiny.gguf", kind=gw.Q8_0)
    return path


def _one_line(result, code: int = 2) -> str:
    assert result.code == code, (result.code, result.err)
    assert result.err.startswith("Error: ") and result.err.count("\n") == 1 and "Traceback" not in result.err, result.err
    return result.err


def _default_entry():
    from clinpred.registry.registry import load_registry

    return next(e for _, e in load_registry().catalog() if e.name == DEFAULT)


def _fake_default(home: Path, gguf: Path) -> Path:
    """A tiny model in the cache as if it were the pulled default model (its provenance says so)."""
    from clinpred.core.weights.gguf import convert_gguf

    entry = _default_entry()
    return convert_gguf(gguf, home / "models" / DEFAULT, extra={"name": DEFAULT, "source": "pypi:test",
                                                                 "gguf_sha256": entry.gguf_sha256})


def _damage(path: Path) -> None:
    """Zero 4 KiB in the middle of a file, keeping its size."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4096] = bytes(min(4096, len(data) - middle))
    path.write_bytes(bytes(data))


def test_import_refuses_an_existing_name_without_force(home: Path, gguf: Path) -> None:
    assert clinpred("-q", "models", "import", str(gguf), "--name", "mine", "--family", "smollm").code == 0
    record = json.loads((home / "models" / "mine" / "clinpred-files.json").read_text())["files"]
    assert "model.safetensors" in record and len(record["model.safetensors"]["sha256"]) == 64
    before = (home / "models" / "mine" / "model.safetensors").stat().st_mtime_ns
    line = _one_line(clinpred("models", "import", str(gguf), "--name", "mine", "--family", "smollm"))
    assert "'mine' is already in the cache" in line and "--force" in line
    assert (home / "models" / "mine" / "model.safetensors").stat().st_mtime_ns == before
    assert clinpred("-q", "models", "import", str(gguf), "--name", "mine", "--family", "smollm", "--force").code == 0


@pytest.mark.parametrize("force", [False, True])
def test_import_never_takes_a_catalog_models_name(home: Path, gguf: Path, force: bool) -> None:
    """Item 2: `models import tiny.gguf --name smollm2-135m-instruct` replaced the default model."""
    args = ["models", "import", str(gguf), "--name", DEFAULT, "--family", "smollm", *(["--force"] if force else [])]
    line = _one_line(clinpred(*args))
    assert "name of a catalog model" in line and "choose another --name" in line
    assert not (home / "models" / DEFAULT).exists()


def test_a_changed_cached_model_is_refused_before_the_run(home: Path, gguf: Path, tmp_path: Path) -> None:
    cached = _fake_default(home, gguf)
    data = tmp_path / "cohort.csv"
    assert clinpred("data", "synth", "--n", "60", "-o", str(data)).code == 0
    _damage(cached / "model.safetensors")
    out = tmp_path / "run"
    line = _one_line(clinpred("run", "--data", str(data), "--iters", "1", "--out", str(out)))
    assert f"the cached model '{DEFAULT}'" in line and "model.safetensors differs from its recorded sha256" in line
    assert f"clinpred models pull {DEFAULT}" in line
    assert not out.exists()


def test_the_stamp_is_cheap_and_the_hash_decides(home: Path, gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clinpred.core.weights import cache_integrity as ci
    from clinpred.core.weights.model_source import verify_cached

    cached = _fake_default(home, gguf)
    hashed: list[str] = []
    real = ci.sha256_of
    monkeypatch.setattr(ci, "sha256_of", lambda p: hashed.append(p.name) or real(p))
    verify_cached(DEFAULT, cached)
    assert hashed == []  # stamps match: nothing hashed
    weights = cached / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))  # e.g. a copied cache
    verify_cached(DEFAULT, cached)
    assert hashed == ["model.safetensors"]  # hashed once, same bytes: the stamp is refreshed
    verify_cached(DEFAULT, cached)
    assert hashed == ["model.safetensors"]
    (cached / "config.json").write_text((cached / "config.json").read_text().replace('"rope_theta"', '"rope_theta" '))
    with pytest.raises(Exception, match="config.json differs from its recorded sha256"):
        verify_cached(DEFAULT, cached)


@pytest.mark.parametrize("change", ["missing", "added", "record"])
def test_other_changes_are_refused(home: Path, gguf: Path, change: str) -> None:
    from clinpred.core.errors import ModelError
    from clinpred.core.weights.model_source import verify_cached

    cached = _fake_default(home, gguf)
    if change == "missing":
        (cached / "tokenizer.json").unlink()
    elif change == "added":
        shutil.copy(cached / "model.safetensors", cached / "model-00002.safetensors")
    else:
        (cached / "clinpred-files.json").write_text("{")
    with pytest.raises(ModelError, match="is not the one clinpred converted"):
        verify_cached(DEFAULT, cached)


def test_a_model_converted_before_the_record_is_recorded_on_first_use(home: Path, gguf: Path) -> None:
    from clinpred.core.errors import ModelError
    from clinpred.core.weights.model_source import verify_cached

    cached = _fake_default(home, gguf)
    (cached / "clinpred-files.json").unlink()  # as an older clinpred left it
    verify_cached(DEFAULT, cached)
    assert (cached / "clinpred-files.json").is_file()
    _damage(cached / "model.safetensors")
    with pytest.raises(ModelError, match="model.safetensors differs"):
        verify_cached(DEFAULT, cached)


def test_an_imported_model_is_checked_when_run_by_name(home: Path, gguf: Path) -> None:
    from clinpred.core.errors import ModelError
    from clinpred.core.weights.model_source import resolve_source

    assert clinpred("-q", "models", "import", str(gguf), "--name", "mine", "--family", "smollm").code == 0
    assert resolve_source("mine") == home / "models" / "mine"
    _damage(home / "models" / "mine" / "model.safetensors")
    with pytest.raises(ModelError, match="--name mine --family F --force"):
        resolve_source("mine")


def _read_only(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every write under ``home`` fails as on a read-only file system (tests may run as root)."""
    real_mkdir, real_mkstemp = Path.mkdir, __import__("tempfile").mkstemp

    def mkdir(self: Path, *args, **kwargs):
        if home in (self, *self.parents) and not self.is_dir():
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_mkdir(self, *args, **kwargs)

    def mkstemp(*args, dir=None, **kwargs):  # noqa: A002
        if dir is not None and home in (Path(dir), *Path(dir).parents):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    monkeypatch.setattr("tempfile.mkstemp", mkstemp)


def test_a_read_only_home_is_one_line(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 10: the LLM unit failed with a raw `OSError: [Errno 30] Read-only file system: .../downloads`."""
    data = tmp_path / "cohort.csv"
    assert clinpred("data", "synth", "--n", "60", "-o", str(data)).code == 0
    home.mkdir()
    _read_only(home, monkeypatch)
    line = _one_line(clinpred("models", "pull", DEFAULT))
    assert "cannot be written (Read-only file system)" in line and "point CLINPRED_HOME at a writable folder" in line
    out = tmp_path / "run"
    result = clinpred("run", "--data", str(data), "--iters", "1", "--baseline", "majority", "--out", str(out))
    assert result.code == 1 and "Traceback" not in result.err
    error = json.loads((out / "metrics.json").read_text())["models"][DEFAULT]["error"]
    assert "cannot be written (Read-only file system)" in error and "OSError" not in error


def test_a_read_only_cache_still_checks_by_hash(home: Path, gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clinpred.core.errors import ModelError
    from clinpred.core.weights.model_source import verify_cached

    cached = _fake_default(home, gguf)
    record = (cached / "clinpred-files.json").read_text()
    weights = cached / "model.safetensors"
    _read_only(home, monkeypatch)
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    verify_cached(DEFAULT, cached)  # same bytes, a new stamp that cannot be recorded: no error
    assert (cached / "clinpred-files.json").read_text() == record
    _damage(weights)
    with pytest.raises(ModelError, match="differs from its recorded sha256"):
        verify_cached(DEFAULT, cached)
