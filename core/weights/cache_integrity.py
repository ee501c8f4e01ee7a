"""The cached models are the ones that were converted: each file's sha256, checked on load.

When clinpred converts a model into its cache (a catalog model pulled, a GGUF imported) it records
every file of the model directory in ``clinpred-files.json``: its sha256, size and modification
time. Loading the model checks each file against that record cheaply, by size and modification
time (a ``stat``), and hashes a file only when its stamp differs: the same bytes (a copied cache)
refresh the stamp, other bytes are one :class:`ModelError` line saying how to fetch the model again.
A model directory converted by an older clinpred (no record yet) is recorded on its first use.
Writing the record is best effort: a read-only cache is checked by hashing, every time.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from clinpred.core.errors import ModelError

RECORD = "clinpred-files.json"
_CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _stamp(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _model_files(model_dir: Path) -> list[Path]:
    """The files of a model directory (recursively), except the record itself and hidden temporaries."""
    return sorted(p for p in model_dir.rglob("*") if p.is_file() and p.name != RECORD and not p.name.startswith("."))


def _write(model_dir: Path, files: dict[str, dict[str, Any]]) -> None:
    """Write the record atomically; a cache that cannot be written keeps no record (checked by hash)."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{RECORD}.", suffix=".tmp", dir=model_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"files": files}, handle, indent=2, sort_keys=True)
        os.replace(tmp, model_dir / RECORD)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def record_files(model_dir: Path) -> dict[str, dict[str, Any]]:
    """Record every file of ``model_dir`` (sha256 + stamp) in its ``clinpred-files.json``."""
    model_dir = Path(model_dir)
    files = {str(p.relative_to(model_dir)): {"sha256": sha256_of(p), **_stamp(p)} for p in _model_files(model_dir)}
    _write(model_dir, files)
    return files


def _read(model_dir: Path) -> dict[str, dict[str, Any]] | None:
    try:
        data = json.loads((model_dir / RECORD).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError):
        return {}  # a damaged record proves nothing: every file is "changed"
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
        return {}
    return files


def verify_model_dir(model_dir: Path, name: str, again: str) -> None:
    """Check ``model_dir`` (the cached model ``name``) against its record; ``again`` is the command
    that fetches it again (for the message). A directory with no record yet is recorded now."""
    model_dir = Path(model_dir)
    files = _read(model_dir)
    if files is None:
        record_files(model_dir)
        return
    changed = False

    def refuse(what: str) -> ModelError:
        return ModelError(f"the cached model {name!r} ({model_dir}) is not the one clinpred converted: {what}; "
                          f"fetch it again with `{again}`")

    if not files:
        raise refuse(f"its record {RECORD} is damaged")
    present = {str(p.relative_to(model_dir)) for p in _model_files(model_dir)}
    extra = sorted(f for f in present - set(files) if f.startswith("model") and f.endswith(".safetensors"))
    if extra:  # mlx-lm loads every model*.safetensors
        raise refuse(f"{extra[0]} was added")
    for rel, entry in sorted(files.items()):
        path = model_dir / rel
        try:
            stamp = _stamp(path)
        except FileNotFoundError:
            raise refuse(f"{rel} is missing") from None
        if stamp == {"size": entry.get("size"), "mtime_ns": entry.get("mtime_ns")}:
            continue
        if stamp["size"] != entry.get("size") or sha256_of(path) != entry.get("sha256"):
            raise refuse(f"{rel} differs from its recorded sha256")
        entry.update(stamp)  # the same bytes with another time stamp (e.g. a copied cache)
        changed = True
    if changed:
        _write(model_dir, files)


__all__ = ["RECORD", "record_files", "sha256_of", "verify_model_dir"]
