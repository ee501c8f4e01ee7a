"""clinpred's vectorized CPU kernels for MLX: whether they are in use, and the switch.

MLX's x86 CPU build computes ``exp`` and everything made of it (sigmoid, SiLU, softmax) one
float at a time (``mlx/backend/cpu/simd`` has NEON and Accelerate paths only), which made them
about 70% of a LoRA step here. The C++ extension in ``core/weights/kernels/`` adds MLX primitives
with AVX-512 / AVX2 kernels (picked at run time), each with its vjp and jvp:

- ``gated_activation(a, b, kind)``: ``silu(a) * b`` or ``gelu_approx(a) * b`` (the MLP gate);
- ``row_softmax(x, causal)``: softmax over the last axis, attention's causal mask built in;
- ``rope(x, table, dims, traditional)``: rotary position embeddings (cos/sin table from MLX);
- ``rms_norm(x, weight, eps)``: RMS normalisation over the last axis.

They are used on x86_64 Linux CPUs only, for float32 arrays on MLX's CPU device; Metal and CUDA
keep MLX's own kernels. The first use in an environment builds them (:mod:`.kernel_build`);
anything that goes wrong — no compiler, no nanobind, a failed build, a self-check that does not
match MLX's ops — is one :class:`~clinpred.core.errors.KernelWarning` and MLX's own ops are used.
``CLINPRED_NO_KERNELS=1`` turns them off; ``CLINPRED_KERNEL_THREADS=N`` sets their worker threads
(default: the CPUs this process may use, at most 8). :func:`switched` turns them off (or on) for a
block of code in this process, e.g. to compare both.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

from attrs import asdict, define

from clinpred.core.errors import KernelError, KernelWarning

NO_KERNELS_ENV = "CLINPRED_NO_KERNELS"
THREADS_ENV = "CLINPRED_KERNEL_THREADS"


@define(frozen=True)
class KernelStatus:
    """Whether the kernels are in use in this process, and why (not)."""

    in_use: bool
    reason: str
    isa: str | None = None  # avx512 | avx2
    path: str | None = None  # the built extension
    threads: int | None = None
    build_seconds: float | None = None  # this process built them (None: found in the cache)
    failed: bool = False  # off because something went wrong (not: switched off, another device)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_status: KernelStatus | None = None
_module: ModuleType | None = None
_switched_on = True
_imported: dict[Path, ModuleType] = {}  # an extension is imported once per process
_loading = False  # while status() decides: the wrappers use MLX's own ops (the self-check's references)


def switched_off() -> bool:
    """True when the environment turns the kernels off (``CLINPRED_NO_KERNELS`` set, not 0)."""
    return os.environ.get(NO_KERNELS_ENV, "").strip() not in ("", "0")


def _off_reason() -> str | None:
    """Why the kernels are not for this process, before trying to build (None: go ahead)."""
    if switched_off():
        return f"switched off ({NO_KERNELS_ENV}=1)"
    machine = platform.machine().lower()
    if sys.platform != "linux" or machine not in ("x86_64", "amd64"):
        return f"not an x86_64 Linux CPU ({sys.platform} {machine}): MLX's own kernels are used"
    from clinpred.core.weights.device import backend

    device = backend()
    if device != "cpu":
        return f"MLX runs on {device}: its own GPU kernels are used"
    return None


def _threads() -> int:
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if not 1 <= n <= 256:
            raise KernelError(f"{THREADS_ENV}={raw} is not a number of threads between 1 and 256")
        return n
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count() or 1
    return max(1, min(8, available))


def _import(path: Path) -> ModuleType:
    if path in _imported:
        return _imported[path]
    import mlx.core  # noqa: F401 - MLX's types must be registered before ours are used

    from clinpred.core.weights.kernel_build import MODULE

    spec = importlib.util.spec_from_file_location(MODULE, path)
    if spec is None or spec.loader is None:
        raise KernelError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as exc:
        raise KernelError(f"cannot load {path} ({exc})") from None
    _imported[path] = module
    return module


def self_check(module: ModuleType) -> None:
    """The kernels against MLX's ops on small random inputs, forward and gradient, on every ISA
    path this CPU has; :class:`KernelError` names the first that differs (never a silent wrong
    result). Tolerance: 1e-5 of the largest magnitude (float32 rounding of a reordered sum is ~1e-7).
    While it runs, :func:`active` is None, so ``mx.fast``'s functions are MLX's own even where
    :mod:`.mlx_kernels` has replaced them."""
    import mlx.core as mx
    import mlx.nn as nn

    key = mx.random.key(1234)
    ka, kb, kg, kx = mx.random.split(key, 4)
    a = 4 * mx.random.normal((3, 37), key=ka)
    b = mx.random.normal((3, 37), key=kb)
    g = mx.random.normal((3, 37), key=kg)
    x = 3 * mx.random.normal((2, 3, 5, 19), key=kx)
    mask = mx.arange(14, 19)[:, None] >= mx.arange(19)[None]

    def masked_softmax(s: Any) -> Any:
        return mx.softmax(mx.where(mask, s, mx.finfo(mx.float32).min), axis=-1, precise=True)

    def close(name: str, ours: Any, ref: Any) -> None:
        scale = max(1.0, float(mx.abs(ref).max().item()))
        err = float(mx.abs(ours - ref).max().item())
        if not err <= 1e-5 * scale:
            raise KernelError(f"the {name} kernel ({module.isa()}) differs from MLX's op by {err:.2g}")

    pairs = [
        ("silu gate", lambda a, b: module.gated_activation(a, b, module.SILU), lambda a, b: nn.silu(a) * b),
        ("gelu gate", lambda a, b: module.gated_activation(a, b, module.GELU_TANH), lambda a, b: nn.gelu_approx(a) * b),
    ]
    chosen = module.isa()
    try:
        for isa in ("avx2", "avx512"):
            if module.select_isa(isa) != isa:
                continue
            for name, ours, ref in pairs:
                close(name, ours(a, b), ref(a, b))
                grads = [mx.grad(lambda a, b, f=f: (f(a, b) * g).sum(), argnums=(0, 1))(a, b) for f in (ours, ref)]
                for o, r in zip(*grads):
                    close(f"{name} gradient", o, r)
            close("softmax", module.row_softmax(x, False), mx.softmax(x, axis=-1, precise=True))
            w = a[0, :19]
            close("rms_norm", module.rms_norm(x, w, 1e-5), mx.fast.rms_norm(x, w, 1e-5))
            close("rms_norm gradient", mx.grad(lambda s: (module.rms_norm(s, w, 1e-5) * x).sum())(x),
                  mx.grad(lambda s: (mx.fast.rms_norm(s, w, 1e-5) * x).sum())(x))
            for trad in (True, False):  # the table of rope(unit pairs) = (cos, sin)
                unit = mx.array(([1.0, 0.0] * 8 if trad else [1.0] * 8 + [0.0] * 8), mx.float32)
                table = mx.fast.rope(mx.broadcast_to(unit, (1, 1, 5, 16)), 16, traditional=trad, base=1e4,
                                     scale=1.0, offset=3).reshape(5, 16)
                close("rope", module.rope(x[..., :18], table, 16, trad),
                      mx.fast.rope(x[..., :18], 16, traditional=trad, base=1e4, scale=1.0, offset=3))
            close("causal softmax", module.row_softmax(x, True), masked_softmax(x))
            gx = mx.random.normal(x.shape, key=kg)
            close("softmax gradient", mx.grad(lambda s: (module.row_softmax(s, True) * gx).sum())(x),
                  mx.grad(lambda s: (masked_softmax(s) * gx).sum())(x))
    finally:
        module.select_isa(chosen)


def _load() -> tuple[KernelStatus, ModuleType | None]:
    reason = _off_reason()
    if reason is not None:
        return KernelStatus(False, reason), None
    from clinpred.core.weights import kernel_build

    try:
        threads = _threads()
        path, seconds = kernel_build.build()
        module = _import(path)
        if module.isa() == "none":
            return KernelStatus(False, "this CPU has neither AVX-512 nor AVX2 + FMA", path=str(path)), None
        self_check(module)
        module.set_threads(threads)
    except KernelError as exc:
        warnings.warn(f"clinpred's vectorized CPU kernels are off: {exc}; MLX's own (slower) CPU ops are used",
                      KernelWarning, stacklevel=3)
        return KernelStatus(False, str(exc), failed=True), None
    isa = module.isa()
    return KernelStatus(True, f"vectorized {isa.upper()} kernels: MLP gate, attention softmax, RoPE, RMS norm", isa=isa,
                        path=str(path), threads=threads, build_seconds=round(seconds, 1) if seconds else None), module


def status() -> KernelStatus:
    """The kernels' status in this process; the first call loads (and if needed builds) them."""
    global _status, _module, _loading
    if _status is None:
        _loading = True
        try:
            _status, _module = _load()
        finally:
            _loading = False
    return _status


def active() -> ModuleType | None:
    """The kernel module when the kernels are in use and switched on, else None (cheap)."""
    if _status is None:
        if _loading:
            return None
        status()
    return _module if _switched_on else None


@contextlib.contextmanager
def switched(on: bool) -> Iterator[None]:
    """Use (``on``) or do not use the kernels inside the block, in this process."""
    global _switched_on
    before = _switched_on
    _switched_on = on
    try:
        yield
    finally:
        _switched_on = before


def reset() -> None:
    """Forget the status so the next :func:`status` decides again (tests)."""
    global _status, _module
    _status, _module = None, None


__all__ = ["KernelStatus", "NO_KERNELS_ENV", "THREADS_ENV", "active", "reset", "self_check", "status", "switched", "switched_off"]
