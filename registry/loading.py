"""Finding plugin modules: built-ins, the ``clinpred`` entry-point group, and local files.

Built-ins load through the same path as third-party plugins: each candidate is a name, a source
and a zero-argument loader; :mod:`clinpred.registry.registry` imports and registers them.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata as md
import importlib.util
import math
import os
import signal
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

from attrs import define

from clinpred.core.errors import UserError

ENTRY_POINT_GROUP = "clinpred"
LOAD_ENV = "CLINPRED_LOAD_PLUGINS"
DISABLE_ENV = "CLINPRED_DISABLE_PLUGINS"
TIMEOUT_ENV = "CLINPRED_PLUGIN_TIMEOUT"
#: seconds a plugin may take to import before it counts as broken (CLINPRED_PLUGIN_TIMEOUT; 0: no limit)
IMPORT_SECONDS = 60.0


class PluginImportTimeout(Exception):
    """A plugin's import did not finish in time (it hangs, e.g. on the network or a lock)."""


def import_seconds() -> float:
    """The import time limit: ``CLINPRED_PLUGIN_TIMEOUT`` seconds (0 or less: none), else 60."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return IMPORT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        raise UserError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds; give e.g. 120, or 0 for no limit") from None
    return value if math.isfinite(value) and value > 0 else 0.0


def import_time_limit() -> contextlib.AbstractContextManager[None]:
    """A context in which an import that takes longer than :func:`import_seconds` raises
    :class:`PluginImportTimeout` (SIGALRM: main thread of a Unix process only; a call that blocks
    inside C code without returning to Python is not interrupted: ``CLINPRED_LOAD_PLUGINS`` then
    leaves such a plugin out). A bad ``CLINPRED_PLUGIN_TIMEOUT`` raises here, not in the block."""
    return _time_limit(import_seconds())


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    usable = (seconds > 0 and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
              and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0))
    if not usable:
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise PluginImportTimeout(f"did not finish importing within {seconds:g} s; if it hangs, leave it out "
                                  f"({DISABLE_ENV} or {LOAD_ENV} for an installed plugin, no --plugin for a file) "
                                  f"or give it more time ({TIMEOUT_ENV}=SECONDS)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@define(frozen=True)
class Candidate:
    """A plugin that may be loaded: where it comes from and how to import it."""

    name: str
    source: str  # builtin | entrypoint | local
    origin: str  # module name, distribution name or file path
    version: str | None
    load: Callable[[], Any]


def builtin_candidates() -> list[Candidate]:
    from clinpred import __version__
    from clinpred.plugins import BUILTIN_PLUGINS

    return [
        Candidate(name, "builtin", module, __version__, lambda m=module: importlib.import_module(m))
        for name, module in BUILTIN_PLUGINS.items()
    ]


def entry_point_candidates() -> list[Candidate]:
    out = []
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        origin = f"{dist.name} ({ep.value})" if dist is not None else ep.value
        version = dist.version if dist is not None else None
        out.append(Candidate(ep.name, "entrypoint", origin, version, ep.load))
    return out


def local_candidates(paths: tuple[str, ...]) -> list[Candidate]:
    out = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.is_file():
            raise UserError(f"--plugin {raw}: no such file; give the path of a Python plugin file")
        out.append(Candidate(path.stem, "local", str(path.resolve()), None, lambda p=path: _import_file(p)))
    return out


def _import_file(path: Path) -> ModuleType:
    module_name = f"clinpred_local_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def env_list(name: str) -> set[str] | None:
    """A comma list from the environment; None when the variable is unset (empty -> empty set)."""
    value = os.environ.get(name)
    if value is None:
        return None
    return {item.strip() for item in value.split(",") if item.strip()}


def blocked_reason(candidate: Candidate) -> str | None:
    """Why a candidate is not loaded (allow/deny lists), or None. Local files are explicit."""
    if candidate.source == "local":
        return None
    disabled = env_list(DISABLE_ENV) or set()
    if candidate.name in disabled:
        return f"disabled by {DISABLE_ENV}"
    allowed = env_list(LOAD_ENV)
    if allowed is not None and candidate.name not in allowed:
        return f"not in {LOAD_ENV}"
    return None
