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

import errno
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from clinpred.core.atomic import write_json, write_jsonl
from clinpred.core.errors import CorruptRunFileError, DataError, RunDirectoryError

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe(name: str) -> str:
    """A file-system-safe form of a model or split name."""
    return _UNSAFE.sub("-", name).strip("-") or "unnamed"


def recovery(path: Path) -> str:
    """What recovers a damaged file of a run directory (the advice of a corrupt-file error)."""
    path = Path(path)
    name, parent = path.name, path.parent
    if name == "run.json":
        return ("it records the run's settings and cannot be recomputed: restore it from a backup, "
                "or start a new run with another --out")
    if parent.parent.name == "units":
        return "`clinpred run ... --out RUN_DIR --resume` recomputes that unit"
    if parent.parent.parent.name == "search" and name.startswith("trial-"):
        return "`clinpred run ... --out RUN_DIR --resume` runs that trial again"
    if name in ("metrics.json", "splits.json") or parent.name == "predictions":
        return "`clinpred run ... --out RUN_DIR --resume` writes it again from the completed units"
    if name == "status.json":
        return "it only records progress: delete it, or `clinpred run ... --out RUN_DIR --resume` writes it again"
    return "restore it, or start a new run with another --out"


def read_json_file(path: Path, expect: type | tuple[type, ...] = dict) -> Any:
    """A JSON file of a run directory (an object unless ``expect`` says otherwise), or None if absent.

    A file that cannot be read, is not JSON or has another shape is one
    :class:`CorruptRunFileError` (exit 2) saying what recovers it (:func:`recovery`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise CorruptRunFileError(f"{path}: a name in the path is too long for the file system; "
                                      "give a shorter run directory path") from None
        raise CorruptRunFileError(f"{path} cannot be read ({exc.strerror or type(exc).__name__}); "
                                  f"{recovery(path)}") from None
    except UnicodeDecodeError:
        raise CorruptRunFileError(f"{path} is corrupt (not UTF-8 text); {recovery(path)}") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise CorruptRunFileError(f"{path} is corrupt (JSON nested too deeply); {recovery(path)}") from None
    except ValueError as exc:
        why = f"not valid JSON: {exc.msg} at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else "not valid JSON"
        raise CorruptRunFileError(f"{path} is corrupt ({why}); {recovery(path)}") from None
    if not isinstance(data, expect):
        raise CorruptRunFileError(f"{path} is corrupt (JSON {_json_kind(data)}, not an object); {recovery(path)}")
    return data


def _json_kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "true/false", type(None): "null"}.get(
        type(value), "number")


def check_metrics(metrics: Any, path: Path) -> dict[str, Any]:
    """``metrics.json`` with the shape its readers rely on (models: objects, warnings: a list of
    objects, ...), else one :class:`CorruptRunFileError` naming the part that is wrong."""

    def bad(part: str, what: str) -> CorruptRunFileError:
        return CorruptRunFileError(f"{path} is corrupt ({part} is not {what}); {recovery(path)}")

    if not isinstance(metrics, dict):
        raise bad("the file", "a JSON object")
    models = metrics.get("models", {})
    if not isinstance(models, dict):
        raise bad('"models"', "an object of models")
    for name, entry in models.items():
        if not isinstance(entry, dict):
            raise bad(f'"models"."{name}"', "an object")
        for key in ("metrics", "thresholds", "search", "subgroups", "per_site", "per_repeat", "smooth_calibration"):
            if entry.get(key) is not None and not isinstance(entry[key], (dict, list) if key == "per_repeat" else dict):
                raise bad(f'"models"."{name}"."{key}"', "an object")
        for metric, value in (entry.get("metrics") or {}).items():
            if not isinstance(value, (dict, int, float, type(None))) or isinstance(value, bool):
                raise bad(f'"models"."{name}"."metrics"."{metric}"', "an object or a number")
    for key, kind, what in (("warnings", list, "a list"), ("cohort", dict, "an object"),
                            ("best_baseline", (str, type(None)), "a model name")):
        if key in metrics and not isinstance(metrics[key], kind):
            raise bad(f'"{key}"', what)
    if any(not isinstance(w, dict) for w in metrics.get("warnings") or []):
        raise bad('an item of "warnings"', "an object")
    return metrics


def _check_parts(data: dict[str, Any], path: Path, parts: dict[str, tuple[type | tuple[type, ...], str]],
                 items: dict[str, tuple[type, str]] = {}) -> dict[str, Any]:  # noqa: B006 - read only
    for key, (kind, what) in parts.items():
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise CorruptRunFileError(f'{path} is corrupt ("{key}" is not {what}); {recovery(path)}')
    for key, (kind, what) in items.items():
        values = data.get(key) or ()
        if any(not isinstance(v, kind) for v in (values.values() if isinstance(values, dict) else values)):
            raise CorruptRunFileError(f'{path} is corrupt (an item of "{key}" is not {what}); {recovery(path)}')
    return data


def existing_run_dir(run_dir: str | Path, hint: str) -> Path:
    """``run_dir`` as a path when it is a directory, else one line saying what it is and ``hint``."""
    path = Path(run_dir)
    if path.is_dir():
        return path
    what = "is a file, not a run directory" if path.exists() else "no such run directory"
    raise DataError(f"{path}: {what}; {hint}")


def read_run_info(run_dir: Path) -> dict[str, Any] | None:
    """``RUN_DIR/run.json`` with the shape its readers rely on (None when absent)."""
    path = Path(run_dir) / "run.json"
    info = read_json_file(path)
    if info is None:
        return None
    return _check_parts(info, path, {"models": (list, "a list"), "baselines": (list, "a list"),
                                     "splits": (dict, "an object"), "dataset": (dict, "an object"),
                                     "adapters": (dict, "an object"), "failed": (dict, "an object"),
                                     "command": (list, "a list"), "evaluation": (dict, "an object")},
                        {"models": (dict, "an object"), "baselines": (str, "a name"), "adapters": (dict, "an object")})


def read_status(run_dir: Path) -> dict[str, Any] | None:
    """``RUN_DIR/status.json`` with the shape ``clinpred status`` relies on (None when absent)."""
    path = Path(run_dir) / "status.json"
    status = read_json_file(path)
    if status is None:
        return None
    return _check_parts(status, path, {"units": (dict, "an object"), "running": (dict, "an object"),
                                       "current": (dict, "an object")}, {"units": (dict, "an object")})


def read_metrics(run_dir: Path) -> dict[str, Any] | None:
    """``RUN_DIR/metrics.json`` checked by :func:`check_metrics` (None when absent)."""
    path = Path(run_dir) / "metrics.json"
    metrics = read_json_file(path)
    return None if metrics is None else check_metrics(metrics, path)


def remove_temporary_files(root: Path) -> list[Path]:
    """Delete the temporary files (``.NAME.XXXX.tmp``) a killed writer left under ``root``; call it
    only while holding the run directory's lock (no other writer of it is alive)."""
    from clinpred.core.atomic import is_temporary

    removed = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if is_temporary(name):
                try:
                    (Path(folder) / name).unlink()
                    removed.append(Path(folder) / name)
                except OSError:
                    pass
    return removed


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
        try:
            self._create(resume)
        except OSError as exc:  # e.g. a name longer than the file system allows
            raise RunDirectoryError(f"cannot create run directory {_shown(self.path)}: {_reason(exc)}; "
                                    "choose another --out") from None

    def _create(self, resume: bool) -> None:
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
            raise RunDirectoryError(f"cannot create run directory {_shown(self.path)}: {_reason(exc)}; "
                                    "choose a writable --out") from None
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise RunDirectoryError(f"run directory {self.path} is not writable; choose a writable --out")

    def read_json(self, path: Path) -> Any:
        return read_json_file(path)

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


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENAMETOOLONG:
        return "a name in the path is longer than the file system allows (255 bytes)"
    return exc.strerror or str(exc)


def _shown(path: Path, limit: int = 120) -> str:
    """A path for a one-line message: a very long one is shortened in the middle."""
    text = str(path)
    return text if len(text) <= limit else f"{text[:60]}...{text[-50:]}"
