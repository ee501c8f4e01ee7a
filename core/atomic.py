"""Atomic file writes: a temporary file in the same folder, fsync, then ``os.replace``.

A reader (or a run interrupted by ``kill -9``) sees the old file or the new one, never half.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from clinpred.core.errors import RunError


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null; numpy scalars and arrays become Python."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "tolist"):  # numpy
        return _clean(value.tolist())
    if hasattr(value, "item"):
        return _clean(value.item())
    if isinstance(value, Path):
        return str(value)
    return value


def write_bytes(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically; a failure is a :class:`RunError` and the old file stays."""
    path = Path(path)
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except OSError as exc:
        _discard(tmp_name)
        raise RunError(f"cannot write {path}: {exc.strerror or exc}; earlier results are kept") from None
    except BaseException:  # Ctrl-C or SIGTERM mid-write: no temporary file left behind
        _discard(tmp_name)
        raise


def _discard(tmp_name: str | None) -> None:
    try:
        if tmp_name and os.path.exists(tmp_name):
            os.unlink(tmp_name)
    except OSError:
        pass


def is_temporary(name: str) -> bool:
    """Whether a file name is one of clinpred's temporary files (a hidden ``.NAME.XXXX.tmp`` or
    ``.STEM.XXXX.tmp.safetensors``) that a killed writer may have left behind."""
    return name.startswith(".") and (name.endswith(".tmp") or name.endswith(".tmp.safetensors"))


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(_clean(data), indent=2, allow_nan=False) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    write_text(path, "".join(json.dumps(_clean(r), allow_nan=False) + "\n" for r in rows))
