"""The run directory: the contract other tools read (see DESIGN.md).

```
RUN_DIR/run.json                 resolved config, versions, seeds, data sha256, split sizes, timings
RUN_DIR/metrics.json             per model: kind, family, n, metrics with CIs, threshold
RUN_DIR/predictions/NAME.jsonl   one line per evaluated patient
RUN_DIR/adapters/NAME[/SPLIT]/   adapters.safetensors + adapter_config.json
RUN_DIR/splits.json              the split manifest (ids per part)
RUN_DIR/units/NAME/SPLIT.json    one completed (model, split) unit; --resume skips these
RUN_DIR/search/NAME/SPLIT/trial-NNN.json  one completed search trial; --resume skips these
RUN_DIR/status.json              what is running now (for `clinpred status`)
RUN_DIR/.lock                    the one writer's pid, host, start time (core/run/lock.py)
```

Every file is written atomically; the directory is readable by its owner only.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from clinpred.core.atomic import write_json, write_jsonl
from clinpred.core.errors import DataError, RunDirectoryError, RunError

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe(name: str) -> str:
    """A file-system-safe form of a model or split name."""
    return _UNSAFE.sub("-", name).strip("-") or "unnamed"


def read_json_file(path: Path) -> Any:
    """A JSON file's content, or None if absent; corrupt files are one clear error."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as exc:
        raise DataError(f"{path}: unreadable or corrupt JSON ({type(exc).__name__}); rerun or restore it") from None


class RunDirectory:
    """Paths and atomic reads/writes of one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # -- layout ------------------------------------------------------------------------------
    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    @property
    def metrics_json(self) -> Path:
        return self.path / "metrics.json"

    @property
    def splits_json(self) -> Path:
        return self.path / "splits.json"

    @property
    def status_json(self) -> Path:
        return self.path / "status.json"

    def predictions(self, model: str) -> Path:
        return self.path / "predictions" / f"{safe(model)}.jsonl"

    def adapter_dir(self, model: str, split: str | None) -> Path:
        base = self.path / "adapters" / safe(model)
        return base / safe(split) if split else base

    def search_dir(self, model: str, split: str) -> Path:
        return self.path / "search" / safe(model) / safe(split)

    def unit_file(self, model: str, split: str) -> Path:
        return self.path / "units" / safe(model) / f"{safe(split)}.json"

    # -- life cycle --------------------------------------------------------------------------
    def create(self, *, resume: bool) -> None:
        """Make the directory (owner-only). Refuse to overwrite a run unless resuming it."""
        if self.path.exists() and not self.path.is_dir():
            raise RunDirectoryError(f"{self.path} exists and is not a directory; choose another --out")
        if self.run_json.exists() and not resume:
            raise RunDirectoryError(
                f"{self.path} already holds a run; continue it with --resume or choose another --out"
            )
        if resume and not self.run_json.exists():
            raise RunDirectoryError(f"{self.path} holds no run to resume; drop --resume to start one")
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.path, 0o700)
        except OSError as exc:
            raise RunDirectoryError(f"cannot create run directory {self.path}: {exc.strerror or exc}; "
                                    "choose a writable --out") from None
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise RunDirectoryError(f"run directory {self.path} is not writable; choose a writable --out")

    def read_json(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as exc:
            raise RunError(f"{path} is unreadable or corrupt ({exc}); delete it to recompute") from None

    def write_json(self, path: Path, data: Any) -> None:
        write_json(path, data)

    def write_predictions(self, model: str, rows: list[dict[str, Any]]) -> None:
        write_jsonl(self.predictions(model), rows)

    def read_unit(self, model: str, split: str) -> dict[str, Any] | None:
        return self.read_json(self.unit_file(model, split))

    def write_unit(self, model: str, split: str, result: dict[str, Any]) -> None:
        write_json(self.unit_file(model, split), result)

    def write_status(self, status: dict[str, Any]) -> None:
        status = {**status, "updated": time.time(), "pid": os.getpid()}
        write_json(self.status_json, status)
