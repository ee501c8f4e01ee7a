"""Finding plugin modules: built-ins, the ``clinpred`` entry-point group, and local files.

Built-ins load through the same path as third-party plugins: each candidate is a name, a source
and a zero-argument loader; :mod:`clinpred.registry.registry` imports and registers them.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from attrs import define

from clinpred.core.errors import UserError

ENTRY_POINT_GROUP = "clinpred"
LOAD_ENV = "CLINPRED_LOAD_PLUGINS"
DISABLE_ENV = "CLINPRED_DISABLE_PLUGINS"


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
