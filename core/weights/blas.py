"""An optimized BLAS for MLX on a Linux CPU.

MLX's Linux CPU wheel links a bundled *reference* BLAS (about 3 GFLOP/s for an fp32 1024x1024
matmul on two cores). Loading an optimized library that exports the CBLAS symbols with
``RTLD_GLOBAL`` *before* ``mlx`` is imported makes MLX's ``cblas_sgemm`` resolve to it (global
symbols win over the wheel's own dependency), so no re-execution with ``LD_PRELOAD`` is needed.
Loading it after ``mlx`` was imported has no effect.

Candidates, best first: the ``mkl`` wheel from PyPI (``libmkl_rt``), then OpenBLAS from the
system (Debian: ``apt-get install libopenblas0-pthread``).

Environment: ``CLINPRED_NO_BLAS=1`` keeps MLX's own BLAS; ``CLINPRED_BLAS`` picks one:
``auto`` (default), ``mkl``, ``openblas``, ``none``, or the path of a shared library.
"""

from __future__ import annotations

import ctypes
import glob
import os
import platform
import sys
from pathlib import Path
from typing import Any

from attrs import define

from clinpred.core.errors import UserError

NO_BLAS_ENV = "CLINPRED_NO_BLAS"
CHOICE_ENV = "CLINPRED_BLAS"

INSTALL_HINT = (
    "pip install mkl (fastest on x86_64), or on Debian/Ubuntu: apt-get install libopenblas0-pthread"
)


@define(frozen=True)
class BlasLibrary:
    """An optimized BLAS shared library that exports the CBLAS interface."""

    name: str  # mkl | openblas | custom
    path: str


_active: BlasLibrary | None = None
_activated = False


def _mkl_paths() -> list[str]:
    """``libmkl_rt`` of the ``mkl`` wheel (installed under the environment's ``lib/``)."""
    found: list[str] = []
    try:
        import importlib.metadata as md

        dist = md.distribution("mkl")
        for f in dist.files or []:
            if Path(f.name).name.startswith("libmkl_rt.so"):
                found.append(str(Path(dist.locate_file(f)).resolve()))
    except Exception:  # noqa: BLE001 - not installed, or a broken RECORD
        pass
    prefixes = {sys.prefix, sys.base_prefix, os.environ.get("CONDA_PREFIX", "")}
    try:
        import site

        prefixes.add(site.getuserbase())
    except Exception:  # noqa: BLE001
        pass
    for prefix in sorted(p for p in prefixes if p):
        found += sorted(glob.glob(os.path.join(prefix, "lib", "libmkl_rt.so*")))
    return [p for p in dict.fromkeys(found) if os.path.isfile(p)]


def _openblas_paths() -> list[str]:
    """A system OpenBLAS with plain CBLAS symbols (not numpy's or scipy's renamed copies)."""
    arch = platform.machine()
    multiarch = f"{arch}-linux-gnu"
    patterns = [
        f"/usr/lib/{multiarch}/openblas-pthread/libopenblas.so.0",
        f"/usr/lib/{multiarch}/openblas-openmp/libopenblas.so.0",
        f"/usr/lib/{multiarch}/libopenblas.so.0",
        "/usr/lib64/libopenblasp.so.0",
        "/usr/lib64/libopenblas.so.0",
        "/usr/lib/libopenblas.so.0",
        "/usr/local/lib/libopenblas.so.0",
    ]
    return list(dict.fromkeys(os.path.realpath(p) for p in patterns if os.path.isfile(p)))


def find_libraries() -> list[BlasLibrary]:
    """The optimized BLAS libraries installed on this machine, preferred first."""
    return [BlasLibrary("mkl", p) for p in _mkl_paths()] + [
        BlasLibrary("openblas", p) for p in _openblas_paths()
    ]


def _wanted() -> list[BlasLibrary]:
    choice = os.environ.get(CHOICE_ENV, "auto").strip() or "auto"
    if choice.lower() in ("none", "off", "0"):
        return []
    libs = find_libraries()
    if choice.lower() == "auto":
        return libs
    if choice.lower() in ("mkl", "openblas"):
        picked = [lib for lib in libs if lib.name == choice.lower()]
        if not picked:
            raise UserError(f"{CHOICE_ENV}={choice}: that BLAS is not installed; {INSTALL_HINT}")
        return picked
    if not os.path.isfile(choice):
        raise UserError(
            f"{CHOICE_ENV}={choice}: no such file; give auto, mkl, openblas, none or a library path"
        )
    return [BlasLibrary("custom", choice)]


def _exports_cblas(handle: ctypes.CDLL) -> bool:
    return hasattr(handle, "cblas_sgemm")


def activate() -> BlasLibrary | None:
    """Load the best optimized BLAS globally, before ``mlx`` is imported (idempotent).

    Returns the library loaded, or None (opted out, not Linux, nothing installed, or ``mlx``
    already imported, when loading would have no effect).
    """
    global _active, _activated
    if _activated:
        return _active
    _activated = True
    if os.environ.get(NO_BLAS_ENV, "").strip() not in ("", "0") or sys.platform != "linux":
        return None
    if "mlx.core" in sys.modules:
        return None
    for lib in _wanted():
        try:
            handle = ctypes.CDLL(lib.path, mode=ctypes.RTLD_GLOBAL)
        except OSError:
            continue
        if _exports_cblas(handle):
            _active = lib
            return lib
    return None


class _DlInfo(ctypes.Structure):
    _fields_ = [
        ("dli_fname", ctypes.c_char_p),
        ("dli_fbase", ctypes.c_void_p),
        ("dli_sname", ctypes.c_char_p),
        ("dli_saddr", ctypes.c_void_p),
    ]


def _global_cblas_owner() -> str | None:
    """The file that defines ``cblas_sgemm`` in the process's global symbol scope, if any."""
    try:
        libc = ctypes.CDLL(None)
        addr = ctypes.cast(libc.cblas_sgemm, ctypes.c_void_p).value
        dladdr = libc.dladdr
    except (AttributeError, OSError):
        return None
    dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    info = _DlInfo()
    if not addr or not dladdr(addr, ctypes.byref(info)) or not info.dli_fname:
        return None
    return os.path.realpath(info.dli_fname.decode())


def _kind(path: str) -> str:
    base = os.path.basename(path).lower()
    if "mkl" in base:
        return "mkl"
    if "openblas" in base or "openblas" in path.lower():
        return "openblas"
    if "blis" in base:
        return "blis"
    return "other"


def describe() -> dict[str, Any]:
    """Which BLAS MLX's CPU matmuls use in this process, and what could be used instead.

    Keys: ``name`` (mkl | openblas | reference | accelerate | ...), ``path``, ``optimized``,
    ``available`` (optimized libraries found), ``opted_out``, ``hint`` (what to install, or None).
    """
    available = [{"name": lib.name, "path": lib.path} for lib in find_libraries()]
    opted_out = os.environ.get(NO_BLAS_ENV, "").strip() not in ("", "0")
    out: dict[str, Any] = {"available": available, "opted_out": opted_out, "hint": None}
    if sys.platform == "darwin":
        out.update(name="accelerate", path=None, optimized=True)
        return out
    owner = _global_cblas_owner()
    if owner is not None:
        out.update(name=_kind(owner), path=owner, optimized=True)
        return out
    out.update(name="reference", path=_bundled_reference(), optimized=False)
    if not available:
        out["hint"] = f"MLX uses its slow reference BLAS; for ~10x faster CPU training: {INSTALL_HINT}"
    elif not opted_out:
        out["hint"] = (
            "an optimized BLAS is installed but not loaded in this process "
            "(it must be loaded before mlx is imported: clinpred's CLI does this)"
        )
    return out


def _bundled_reference() -> str | None:
    """The reference BLAS shipped in the mlx CPU wheel (``mlx_cpu.libs/libblas-*.so``)."""
    import importlib.util

    spec = importlib.util.find_spec("mlx")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0]).parent
    hits = sorted(glob.glob(str(root / "mlx_cpu.libs" / "libblas*.so*")))
    return hits[0] if hits else None


__all__ = ["BlasLibrary", "activate", "describe", "find_libraries", "NO_BLAS_ENV", "CHOICE_ENV"]
