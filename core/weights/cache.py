"""clinpred's cache: converted models and downloads.

Location: ``$CLINPRED_HOME`` if set, else ``$XDG_CACHE_HOME/clinpred`` (``~/.cache/clinpred``).
Models live in ``models/NAME`` (an MLX model directory each); downloads in ``downloads/``.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "CLINPRED_HOME"


def home() -> Path:
    """clinpred's cache directory (not created)."""
    explicit = os.environ.get(HOME_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "clinpred"


def writable_home() -> Path:
    """:func:`home`, refusing one that exists but is not a directory (one line, not an OSError)."""
    from clinpred.core.errors import ModelError

    path = home()
    if path.exists() and not path.is_dir():
        where = f"{HOME_ENV}={path}" if os.environ.get(HOME_ENV, "").strip() else str(path)
        raise ModelError(f"the model cache {where} is a file, not a directory; point {HOME_ENV} at a folder")
    return path


def writable_dir(path: Path) -> Path:
    """``path`` (a folder of the cache), created if needed; a cache that cannot be written (a
    read-only ``CLINPRED_HOME``) is one :class:`ModelError` line saying what to do."""
    from clinpred.core.errors import ModelError

    writable_home()
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        where = f"{HOME_ENV}={home()}" if os.environ.get(HOME_ENV, "").strip() else str(home())
        raise ModelError(f"the model cache {where} cannot be written ({exc.strerror or type(exc).__name__}): "
                         f"a model must be fetched or converted into it; point {HOME_ENV} at a writable folder, "
                         "or fetch the model once where the cache is writable (`clinpred models pull NAME`)") from None
    return path


def models_dir() -> Path:
    return home() / "models"


def model_dir(name: str) -> Path:
    """Where the model ``name`` is (or would be) stored."""
    return models_dir() / name


def downloads_dir() -> Path:
    return home() / "downloads"


def dir_size(path: Path) -> int:
    """Bytes of the regular files under ``path`` (0 when it does not exist)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).lstat().st_size
            except OSError:
                pass
    return total


def human_size(n: int | None) -> str:
    """``123.4 MB`` style (decimal units)."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"  # pragma: no cover


def cached_models() -> dict[str, Path]:
    """Model directories in the cache (name -> path), skipping temporary ones."""
    root = models_dir()
    if not root.is_dir():
        return {}
    return {
        p.name: p
        for p in sorted(root.iterdir())
        if p.is_dir() and not p.name.startswith(".") and (p / "config.json").is_file()
    }
