"""Building clinpred's CPU kernels (the C++ in ``core/weights/kernels/``) into the cache, once.

The extension is compiled with the system C++ compiler (``$CXX``, else ``c++``, ``g++``,
``clang++``) against the installed MLX wheel (its ``include/`` and ``lib/libmlx``) and nanobind
(``pip install 'clinpred[fast]'``); no cmake. Eight objects are compiled, two at a time: the
AVX-512 and AVX2 kernels (each with its own ``-m`` flags, picked at run time), the MLX primitives
(three files), the bindings and nanobind's library; 20-50 s on two busy cores.

Where: ``<cache>/kernels/_clinpred_kernels-<key>/`` (``<cache>`` is :func:`.cache.home`, or
``$CLINPRED_KERNELS_DIR`` for the ``kernels`` folder itself). ``<key>`` hashes everything the binary
depends on: the sources, flags, MLX and nanobind versions, the compiler's identity and the Python
ABI, so a change of any of them builds anew. One process builds under a file lock while the others
wait. A failed build is remembered (``failed.txt``, with the compiler's message) so later
processes do not retry it: delete that folder to try again.

MLX's Python module and ours must share nanobind's type registry (domain ``mlx``): the binary's
nanobind ABI key must equal the one in ``mlx/core*.so``, or our functions could not accept an
``mx.array``. The key is checked after the build; a mismatch names both.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import hashlib
import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Iterator

from attrs import define

from clinpred.core.errors import KernelError
from clinpred.core.weights import cache

MODULE = "_clinpred_kernels"
KERNELS_DIR_ENV = "CLINPRED_KERNELS_DIR"
SOURCE_DIR = Path(__file__).resolve().parent / "kernels"
SOURCES = ("kernel_table.h", "kernels_isa.inc", "isa_avx512.cpp", "isa_avx2.cpp", "primitives.h", "runtime.h",
           "runtime.cpp", "gate_softmax.cpp", "rope_rms.cpp", "bindings.cpp")
#: the translation units that include MLX's headers (built with its C++20)
_MLX_UNITS = ("runtime", "gate_softmax", "rope_rms")
#: Bump when the build recipe below changes in a way the hashed inputs do not show.
RECIPE = "1"

_COMMON = ("-fPIC", "-fvisibility=hidden", "-DNDEBUG", "-O2")
_ISA_FLAGS = {"avx512": ("-mavx512f", "-mavx512dq", "-mfma"), "avx2": ("-mavx2", "-mfma")}
_NB_KEY = re.compile(rb"nanobind_[A-Za-z0-9_]*?_a\d+_v\d+(?:_stable)?(?:_ft)?")
_COMPILE_TIMEOUT = 900  # seconds per object; a compiler that hangs is a failed build


@define(frozen=True)
class BuildPlan:
    """Everything a build needs, resolved from this environment."""

    compiler: str
    compiler_id: str  # first line of `compiler --version`
    mlx_dir: Path
    nanobind_dir: Path
    python_include: Path
    ext_suffix: str
    limited_api: bool
    mlx_nb_key: str | None  # nanobind ABI key found in MLX's own module
    key: str
    directory: Path

    @property
    def library(self) -> Path:
        return self.directory / f"{MODULE}{self.ext_suffix}"


def kernels_root() -> Path:
    """The folder holding every build (``$CLINPRED_KERNELS_DIR`` or ``<cache>/kernels``)."""
    explicit = os.environ.get(KERNELS_DIR_ENV, "").strip()
    return Path(explicit).expanduser() if explicit else cache.home() / "kernels"


def _package_dir(dist: str, module: str, install: str) -> Path:
    try:
        version = md.version(dist)
    except md.PackageNotFoundError:
        raise KernelError(f"{dist} is not installed ({install})") from None
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise KernelError(f"{dist} {version} is installed but {module} cannot be found ({install})")
    return Path(list(spec.submodule_search_locations)[0])


def find_compiler() -> str:
    """The C++ compiler: ``$CXX``, else the first of c++, g++, clang++ on PATH."""
    explicit = os.environ.get("CXX", "").strip()
    if explicit:
        found = shutil.which(explicit.split()[0])
        if found is None:
            raise KernelError(f"CXX={explicit} is not an executable; unset CXX or point it at g++")
        return found
    for name in ("c++", "g++", "clang++"):
        found = shutil.which(name)
        if found:
            return found
    raise KernelError("no C++ compiler found (install g++: apt-get install g++)")


def _compiler_id(compiler: str) -> str:
    try:
        out = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KernelError(f"the C++ compiler {compiler} does not run ({exc})") from None
    first = (out.stdout or out.stderr).strip().splitlines()
    if out.returncode != 0 or not first:
        raise KernelError(f"the C++ compiler {compiler} does not run (`--version` failed)")
    return first[0]


def mlx_nanobind_key(mlx_dir: Path) -> str | None:
    """The nanobind ABI key compiled into MLX's Python module (None when it cannot be read)."""
    for lib in sorted(mlx_dir.glob("core*.so")):
        match = _NB_KEY.search(lib.read_bytes())
        if match:
            return match.group(0).decode()
    return None


def _source_hash() -> str:
    h = hashlib.sha256()
    for name in SOURCES:
        path = SOURCE_DIR / name
        if not path.is_file():
            raise KernelError(f"the kernel source {path} is missing (reinstall clinpred)")
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def plan_build() -> BuildPlan:
    """Resolve compiler, MLX, nanobind and Python headers; :class:`KernelError` says what is missing."""
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        raise KernelError("free-threaded Python is not supported by the kernels")
    nanobind_dir = _package_dir("nanobind", "nanobind", "pip install 'clinpred[fast]'")
    mlx_dir = _package_dir("mlx", "mlx", "pip install mlx")
    for sub in ("include/mlx/primitives.h", "lib/libmlx.so"):
        if not (mlx_dir / sub).is_file():
            raise KernelError(f"the MLX wheel has no {sub} (MLX {md.version('mlx')}): cannot build against it")
    include = Path(sysconfig.get_paths()["include"])
    if not (include / "Python.h").is_file():
        raise KernelError(f"the Python headers are missing ({include}/Python.h; apt-get install python3-dev)")
    compiler = find_compiler()
    compiler_id = _compiler_id(compiler)
    mlx_key = mlx_nanobind_key(mlx_dir)
    limited = bool(mlx_key and mlx_key.endswith("_stable"))
    suffix = ".abi3.so" if limited else (sysconfig.get_config_var("EXT_SUFFIX") or ".so")
    identity = {
        "recipe": RECIPE, "sources": _source_hash(), "mlx": md.version("mlx"), "nanobind": md.version("nanobind"),
        "compiler": [os.path.realpath(compiler), compiler_id], "python": sys.version, "suffix": suffix,
        "limited_api": limited, "mlx_nb_key": mlx_key, "flags": [_COMMON, _ISA_FLAGS],
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return BuildPlan(compiler=compiler, compiler_id=compiler_id, mlx_dir=mlx_dir, nanobind_dir=nanobind_dir,
                     python_include=include, ext_suffix=suffix, limited_api=limited, mlx_nb_key=mlx_key,
                     key=key, directory=kernels_root() / f"{MODULE}-{key}")


def _commands(plan: BuildPlan, out: Path) -> tuple[list[list[str]], list[str]]:
    """(compile commands, link command) building the module into ``out``."""
    nb, mlx = plan.nanobind_dir, plan.mlx_dir
    py = [f"-I{plan.python_include}"] + (["-DPy_LIMITED_API=0x030C0000"] if plan.limited_api else [])
    nb_inc = [f"-I{nb / 'include'}", f"-I{nb / 'ext' / 'robin_map' / 'include'}"]
    mlx_inc = [f"-I{mlx / 'include'}"]
    src = SOURCE_DIR
    cxx = [plan.compiler, *_COMMON]
    compiles = [
        [*cxx, "-std=c++17", "-DNB_COMPACT_ASSERTIONS", "-fno-strict-aliasing", "-ffunction-sections",
         "-fdata-sections", *py, *nb_inc, "-c", str(nb / "src" / "nb_combined.cpp"), "-o", str(out / "nanobind.o")],
        *[[*cxx, "-std=c++17", "-ffp-contract=off", *flags, "-c", str(src / f"isa_{isa}.cpp"),
           "-o", str(out / f"isa_{isa}.o")] for isa, flags in _ISA_FLAGS.items()],
        *[[*cxx, "-std=c++20", "-ffp-contract=off", *mlx_inc, "-c", str(src / f"{unit}.cpp"),
           "-o", str(out / f"{unit}.o")] for unit in _MLX_UNITS],
        [*cxx, "-std=c++20", "-DNB_DOMAIN=mlx", "-DNB_COMPACT_ASSERTIONS", *py, *nb_inc, *mlx_inc,
         "-c", str(src / "bindings.cpp"), "-o", str(out / "bindings.o")],
    ]
    objects = [str(out / f"{u}.o") for u in ("bindings", *_MLX_UNITS, "isa_avx512", "isa_avx2", "nanobind")]
    link = [plan.compiler, "-shared", "-Wl,--gc-sections", "-o", str(out / plan.library.name), *objects,
            f"-L{mlx / 'lib'}", "-lmlx", f"-Wl,-rpath,{mlx / 'lib'}"]
    return compiles, link


def _run(command: list[str]) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=_COMPILE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise KernelError(f"compiling took over {_COMPILE_TIMEOUT} s: {' '.join(command[:3])} ...") from None
    except OSError as exc:
        raise KernelError(f"cannot run the compiler: {exc}") from None
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr or done.stdout).splitlines() if "error" in ln.lower()]
        first = (lines or (done.stderr or done.stdout).strip().splitlines() or ["(no message)"])[0]
        raise KernelError(f"the C++ build failed: {first.strip()[:300]}")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _compile(plan: BuildPlan, work: Path) -> None:
    compiles, link = _commands(plan, work)
    workers = max(1, min(len(compiles), os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(_run, c) for c in compiles]:
            future.result()
    _run(link)
    built = work / plan.library.name
    found = _NB_KEY.search(built.read_bytes())
    ours = found.group(0).decode() if found else None
    if plan.mlx_nb_key and ours != plan.mlx_nb_key:
        raise KernelError(
            f"nanobind {md.version('nanobind')} gives the ABI key {ours} but MLX {md.version('mlx')} was "
            f"built with {plan.mlx_nb_key}: install the nanobind release MLX was built with"
        )


def build(plan: BuildPlan | None = None) -> tuple[Path, float]:
    """The built module's path and the build's seconds (0 when it was already built).

    :class:`KernelError` when it cannot be built, now or in an earlier attempt (``failed.txt``).
    """
    plan = plan or plan_build()
    final = plan.directory
    failed = final / "failed.txt"
    try:
        with _locked(final.parent / f".{final.name}.lock"):
            if plan.library.is_file():
                return plan.library, 0.0
            if failed.is_file():
                raise KernelError(f"{failed.read_text().strip()} (an earlier build; delete {final} to retry)")
            started = time.perf_counter()
            work = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
            try:
                _compile(plan, work)
                (work / "build.json").write_text(json.dumps({
                    "mlx": md.version("mlx"), "nanobind": md.version("nanobind"), "compiler": plan.compiler_id,
                    "nanobind_key": plan.mlx_nb_key, "seconds": round(time.perf_counter() - started, 1)}, indent=2))
                for obj in work.glob("*.o"):
                    obj.unlink()
                shutil.rmtree(final, ignore_errors=True)  # a leftover without the library
                os.replace(work, final)
            except KernelError as exc:
                final.mkdir(parents=True, exist_ok=True)
                failed.write_text(str(exc) + "\n")
                raise
            finally:
                shutil.rmtree(work, ignore_errors=True)
            return plan.library, time.perf_counter() - started
    except OSError as exc:
        raise KernelError(f"cannot write the kernel build in {final.parent} ({exc.strerror or exc})") from None
