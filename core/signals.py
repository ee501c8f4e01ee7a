"""Termination signals handled like Ctrl-C.

``timeout``, Slurm's time limit and ``scancel``, ``docker stop`` and systemd end a program with
SIGTERM; closing its terminal sends SIGHUP. Python's default for both is to die on the spot: no
``finally`` runs, so a process pool's workers are orphaned, the run directory's lock stays and
temporary files are left behind. :func:`handle_termination` turns them into :class:`Terminated`,
a :class:`KeyboardInterrupt`, so every path that already stops cleanly on Ctrl-C (units in flight
stopped, workers reaped, the checkpoint kept, the lock released, the resume line printed) does the
same on SIGTERM, and the program exits with the shell's status for the signal (128 + its number:
143 for SIGTERM, 129 for SIGHUP; 130 for Ctrl-C).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator

#: the signals handled like Ctrl-C (SIGHUP does not exist on Windows)
SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal (SIGTERM, SIGHUP): stop like Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


#: the termination signal received in this process, if any: a library may catch our Terminated and
#: raise a plain KeyboardInterrupt in its place (Ray's blocking calls do), which still means SIGTERM
_received: list[int] = []


def _as_terminated(exc: BaseException | None) -> BaseException | None:
    if isinstance(exc, Terminated) or not isinstance(exc, KeyboardInterrupt) or not _received:
        return exc
    return Terminated(_received[-1])


def exit_status(exc: BaseException | None) -> int:
    """The exit status of an interruption: 128 + the signal (130 for Ctrl-C)."""
    exc = _as_terminated(exc)
    return exc.exit_code if isinstance(exc, Terminated) else 130


def describe(exc: BaseException | None) -> str:
    """``Interrupted`` (Ctrl-C) or ``Terminated (SIGTERM)``."""
    exc = _as_terminated(exc)
    return f"Terminated ({exc.name})" if isinstance(exc, Terminated) else "Interrupted"


def interruption(exc: BaseException) -> BaseException:
    """The :class:`Terminated` behind ``exc`` (click wraps a KeyboardInterrupt into ``Abort``), else ``exc``."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, Terminated):
            return seen
        if isinstance(seen, KeyboardInterrupt):
            return _as_terminated(seen)
        seen = seen.__cause__ or seen.__context__
    return exc


class _Handler:
    """Raises :class:`Terminated` once; a repeated signal while the program unwinds is ignored, so
    it cannot cut short the clean-up the first one started (a second Ctrl-C still can)."""

    def __init__(self) -> None:
        self.fired = False

    def __call__(self, signum: int, frame: Any) -> None:
        if self.fired:
            return
        self.fired = True
        _received.append(signum)
        raise Terminated(signum)


@contextlib.contextmanager
def handle_termination() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Terminated` in the main thread (elsewhere:
    no change). The previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = _Handler()
    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
        _received.clear()


@contextlib.contextmanager
def keep_handlers() -> Iterator[None]:
    """Restore the SIGTERM/SIGHUP handlers a library replaced inside the block (``ray.init`` makes
    SIGTERM a bare ``sys.exit``, which would skip the resume line and the exit status)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.getsignal(s) for s in SIGNALS}
    try:
        yield
    finally:
        for s, old in saved.items():
            if old is not None and signal.getsignal(s) is not old:
                signal.signal(s, old)


__all__ = ["SIGNALS", "Terminated", "describe", "exit_status", "handle_termination", "interruption", "keep_handlers"]
