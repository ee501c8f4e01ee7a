"""``--executor process --jobs N``: a pool of N worker processes on this machine.

Workers are started with the ``spawn`` method (MLX and ``fork`` do not mix), get the dataset
once (pickled at start), rebuild the family hooks from the :class:`WorkerRef`, and send their
progress events back through a multiprocessing queue. They share the run directory's file
system, so LLM adapters and training checkpoints are written in place (``--resume`` continues
a unit's training from its checkpoint, as with ``local``).
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import socket
from concurrent import futures
from pathlib import Path
from typing import Any, Callable

from clinpred.core.errors import RunError
from clinpred.core.events import Event, EventSink
from clinpred.core.run.executors.base import Deliver, ThrottledEmit, WindowedDriver
from clinpred.core.run.unit_work import WorkContext, execute_unit
from clinpred.core.run.units import UnitResult, UnitSpec, WorkerRef

_WORKER: dict[str, Any] = {}


def _init_worker(ref: WorkerRef, dataset: Any, events: Any, run_dir: str) -> None:
    ref.apply_env()
    from clinpred.core.models.blas import activate

    activate()  # the same BLAS as the driver, before mlx is imported (same numbers)
    hooks, load_model = ref.build()
    node = f"{socket.gethostname()}:{os.getpid()}"
    _WORKER["ctx"] = WorkContext(dataset, hooks, load_model, adapter_root=Path(run_dir), node=node)
    _WORKER["emit"] = ThrottledEmit(events.put, node)


def _work(spec: UnitSpec) -> UnitResult:
    return execute_unit(spec, _WORKER["ctx"], _WORKER["emit"])


class ProcessExecutor(WindowedDriver):
    name = "process"

    def __init__(self, worker: WorkerRef, jobs: int | None = None, max_concurrent: int | None = None) -> None:
        self.worker = worker
        self.jobs = jobs or os.cpu_count() or 1
        self.window = min(self.jobs, max_concurrent or self.jobs)
        self._pool: futures.ProcessPoolExecutor | None = None
        self._events: Any = None

    def run(self, specs: list[UnitSpec], *, dataset: Any, run_dir: Path, deliver: Deliver, emit: EventSink,
            should_run: Callable[[UnitSpec], bool]) -> None:
        if not specs:
            return
        ctx = multiprocessing.get_context("spawn")
        self._events = ctx.Queue()
        workers = min(self.jobs, len(specs))
        self._pool = futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                                 initargs=(self.worker, dataset, self._events, str(run_dir)))
        try:
            self.drive(specs, self.window, deliver, emit, should_run)
        except futures.process.BrokenProcessPool as exc:
            raise RunError(f"a worker process of --executor process died ({exc}); "
                           "completed units are saved: rerun with --resume") from None
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def submit(self, spec: UnitSpec) -> Any:
        return self._pool.submit(_work, spec)

    def wait(self, handles: list[Any], timeout: float) -> list[tuple[Any, UnitResult]]:
        done, _ = futures.wait(handles, timeout=timeout, return_when=futures.FIRST_COMPLETED)
        return [(f, f.result()) for f in handles if f in done]

    def events(self) -> list[Event]:
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue_module.Empty:
                return out

    def cancel(self, handle: Any) -> bool:
        return handle.cancel()
