"""``--executor process --jobs N``: a pool of N worker processes on this machine.

Workers are started with the ``spawn`` method (MLX and ``fork`` do not mix), get the dataset
once (pickled at start), rebuild the family hooks from the :class:`WorkerRef`, and send their
progress events back through a multiprocessing queue. They share the run directory's file
system, so LLM adapters and training checkpoints are written in place (``--resume`` continues
a unit's training from its checkpoint, as with ``local``).

A worker that dies (killed, out of memory) breaks the whole pool: every unit in flight comes
back as lost, a new pool is started and those units are submitted again, an LLM unit continuing
from its last checkpoint, up to ``max_retries`` times each. Ctrl-C, SIGTERM or SIGHUP of the driver
stops the workers at once rather than waiting for their units to finish, and reaps them before the
driver exits; workers ignore a terminal's Ctrl-C (the driver stops them) and end by themselves when
the driver is gone (:mod:`.parent_watch`), so none outlives it.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import signal
import socket
import time
from concurrent import futures
from pathlib import Path
from typing import Any, Callable

from clinpred.core.errors import RunError
from clinpred.core.events import Event, EventSink
from clinpred.core.run.executors.base import Deliver, ThrottledEmit, WindowedDriver
from clinpred.core.run.executors.parent_watch import die_with_parent
from clinpred.core.run.unit_work import WorkContext, execute_unit
from clinpred.core.run.units import UnitResult, UnitSpec, WorkerRef

_WORKER: dict[str, Any] = {}


#: seconds a stopped worker gets to end after SIGTERM before it is killed
STOP_GRACE_SECONDS = 3.0


def _terminate(pool: futures.ProcessPoolExecutor, grace: float = STOP_GRACE_SECONDS) -> None:
    """Stop a pool's workers now and reap them (``shutdown`` alone waits for the running units to
    finish; Python 3.11's pool has no public way to stop them): SIGTERM, then SIGKILL after
    ``grace`` seconds, then wait for each, so no worker outlives the driver."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        try:
            process.terminate()
        except (OSError, ValueError):
            pass
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(5.0)
        except (OSError, ValueError, AssertionError):
            pass


def _init_worker(ref: WorkerRef, dataset: Any, events: Any, run_dir: str, driver: int | None = None) -> None:
    if driver is not None:
        die_with_parent(driver)  # never train on (and write checkpoints) after the driver is gone
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C reaches the whole group: the driver stops us
    ref.apply_env()
    from clinpred.core.weights.blas import activate

    activate()  # the same BLAS as the driver, before mlx is imported (same numbers)
    registry = ref.build()
    node = f"{socket.gethostname()}:{os.getpid()}"
    _WORKER["ctx"] = WorkContext(dataset, registry, adapter_root=Path(run_dir), node=node)
    _WORKER["emit"] = ThrottledEmit(events.put, node)


def _work(spec: UnitSpec) -> UnitResult:
    return execute_unit(spec, _WORKER["ctx"], _WORKER["emit"])


class ProcessExecutor(WindowedDriver):
    name = "process"

    def __init__(self, worker: WorkerRef, jobs: int | None = None, max_concurrent: int | None = None,
                 max_retries: int = 3) -> None:
        self.worker = worker
        self.jobs = jobs or os.cpu_count() or 1
        self.window = min(self.jobs, max_concurrent or self.jobs)
        self.driver_retries = max_retries
        self._pool: futures.ProcessPoolExecutor | None = None
        self._broken = False
        self._owner: dict[Any, futures.ProcessPoolExecutor] = {}  # future -> the pool running it
        self._events: Any = None
        self._start: Callable[[], futures.ProcessPoolExecutor] | None = None

    def run(self, work: Any, *, dataset: Any, run_dir: Path, deliver: Deliver, emit: EventSink) -> None:
        if not len(work):
            return
        ctx = multiprocessing.get_context("spawn")
        self._events = ctx.Queue()
        workers = min(self.jobs, len(work))
        self._start = lambda: futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_init_worker,
            initargs=(self.worker, dataset, self._events, str(run_dir), os.getpid()))
        self._pool, self._broken = self._start(), False
        finished = False
        try:
            self.drive(work, self.window, deliver, emit)
            finished = True
        finally:
            if not finished:  # Ctrl-C, SIGTERM or an error in the driver: do not wait for the units in flight
                _terminate(self._pool)
            self._pool.shutdown(wait=finished, cancel_futures=True)
            self._pool = None
            self._events.close()

    def submit(self, spec: UnitSpec) -> Any:
        for _ in range(2):
            if self._broken:  # a worker died: its pool takes no more work; start a fresh one
                _terminate(self._pool)  # its other workers too (reaped, not left running)
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool, self._broken = self._start(), False
            try:
                handle = self._pool.submit(_work, spec)
            except futures.process.BrokenProcessPool:
                self._broken = True
                continue
            self._owner[handle] = self._pool
            return handle
        raise RunError("the worker processes of --executor process keep dying as they start; "
                       "run `clinpred doctor` and try --executor local")

    def wait(self, handles: list[Any], timeout: float) -> list[tuple[Any, UnitResult | None]]:
        done, _ = futures.wait(handles, timeout=timeout, return_when=futures.FIRST_COMPLETED)
        out: list[tuple[Any, UnitResult | None]] = []
        for f in handles:
            if f not in done or f.cancelled():
                continue
            owner = self._owner.pop(f, None)
            error = f.exception(timeout=0)  # done: no wait (a signal to the driver is never taken for the worker's)
            if error is None:
                out.append((f, f.result(timeout=0)))
            elif isinstance(error, futures.process.BrokenProcessPool):
                self._broken = self._broken or owner is self._pool  # not a pool already replaced
                out.append((f, None))
            elif not isinstance(error, Exception):  # the worker was interrupted (its KeyboardInterrupt): as if it died
                out.append((f, None))
            else:  # e.g. a result that cannot be sent back: that unit fails
                out.append((f, UnitResult("", "", error=f"{type(error).__name__}: {error}")))
        return out

    def events(self) -> list[Event]:
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue_module.Empty:
                return out

    def cancel(self, handle: Any) -> bool:
        return handle.cancel()
