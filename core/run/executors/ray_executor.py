"""``--executor ray``: units as Ray tasks on a cluster (``--address``) or a local Ray instance.

Each unit is one ``ray.remote`` task with the resources it asks for (LLM: ``llm_cpus``,
``llm_gpus``, ``memory_gb``, custom resources; baseline: ``baseline_cpus``) and
``max_retries`` re-runs when its worker or node dies. The dataset goes once into the object
store; workers never touch the driver's file system: LLM adapters come back as bytes in the
result and the driver writes them. A training unit uploads its adapter folder (checkpoint
included) every ``checkpoint_upload_seconds`` to a :class:`CheckpointStore` actor on the driver's
node, so Ray's retry of a unit whose node died continues from the last upload. Progress comes back through a ``ray.util.queue.Queue``
pinned to the driver's node.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from pathlib import Path
from typing import Any

from attrs import evolve

from clinpred.core.errors import RunError, UserError
from clinpred.core.events import Event, EventSink
from clinpred.core.run.execution_config import ExecutionSettings
from clinpred.core.run.executors.base import Deliver, ThrottledEmit, WindowedDriver
from clinpred.core.run.unit_work import WorkContext, execute_unit
from clinpred.core.run.units import UnitResult, UnitSpec, WorkerRef

INSTALL_HINT = "pip install 'clinpred[ray]'"

#: per worker process: (hooks, loader) by WorkerRef, records by dataset sha256
_BUILT: dict[str, Any] = {}
_RECORDS: dict[str, Any] = {}


def import_ray() -> Any:
    """``ray``, or one clear error naming the extra."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing about the run leaves the cluster
    try:
        import ray
    except ImportError:
        raise UserError(f"--executor ray needs Ray, which is not installed; install it with {INSTALL_HINT}") from None
    return ray


def check_reachable(address: str | None, *, timeout: float = 5.0) -> None:
    """Fail in one line, within ``timeout`` seconds, when nothing listens at a ``HOST:PORT`` (or
    ``ray://HOST:PORT``) address; Ray itself retries an unreachable GCS for minutes. ``auto`` and
    no address are Ray's to resolve (they fail fast when no cluster runs here)."""
    if not address or address == "auto" or address.startswith("local"):
        return
    bare = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = bare.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--address {address!r} is not auto, HOST:PORT or ray://HOST:PORT "
                        "(e.g. 10.0.0.5:6379, the head node's `ray start --head --port`)")
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__).lower()
        raise RunError(f"cannot reach the Ray cluster at {address!r} ({reason}); start its head node "
                       f"(`ray start --head --port={port}`) or check --address and the firewall") from None


def node_name(ray: Any) -> str:
    """``host/nodeid`` (two Ray nodes may share a host)."""
    try:
        node = ray.get_runtime_context().get_node_id()[:8]
    except Exception:  # noqa: BLE001 - not in a Ray worker
        node = "?"
    return f"{socket.gethostname()}/{node}"


class CheckpointStore:
    """A Ray actor on the driver's node holding the latest training state of each running LLM
    unit (its adapter folder's files), so a unit whose worker or node died continues from there
    when Ray retries it elsewhere, as ``local`` and ``process`` continue from the checkpoint
    file. An entry lives until its unit finishes."""

    def __init__(self) -> None:
        self._files: dict[str, dict[str, bytes]] = {}

    def put(self, key: str, files: dict[str, bytes]) -> None:
        self._files[key] = files

    def get(self, key: str) -> dict[str, bytes] | None:
        return self._files.get(key)

    def drop(self, key: str) -> None:
        self._files.pop(key, None)


def _folder_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _restore(folder: Path, files: dict[str, bytes]) -> None:
    from clinpred.core.atomic import write_bytes

    for name, data in files.items():
        write_bytes(folder / name, data)


def ray_unit(ref: WorkerRef, dataset: Any, spec: UnitSpec, events: Any, store: Any = None,
             upload_every: float = 10.0) -> UnitResult:
    """The body of one Ray task (runs on a worker); ``store``: the run's CheckpointStore."""
    import tempfile
    import time

    import ray

    key = repr(ref)
    if key not in _BUILT:
        ref.apply_env()
        from clinpred.core.weights.blas import activate

        activate()
        _BUILT[key] = ref.build()
    registry = _BUILT[key]
    node = node_name(ray)
    with tempfile.TemporaryDirectory(prefix="clinpred-unit-") as tmp:
        root = Path(tmp)
        ctx = WorkContext(dataset, registry, adapter_root=root, node=node, ship=True,
                          records=_RECORDS.get(getattr(dataset, "sha256", "")))
        ship_key = f"{spec.unit}@{spec.fingerprint}"
        folder = None
        if spec.trial is None and store is not None and _resumable(registry, spec):
            from clinpred.core.run.unit_work import save_dir

            folder = save_dir(spec, root)
            try:  # a short blocking get, once per task: did an earlier attempt get this far?
                saved = ray.get(store.get.remote(ship_key), timeout=120)
            except Exception:  # noqa: BLE001 - no saved state: train from the start
                saved = None
            if saved:
                _restore(folder, saved)
                spec = evolve(spec, resume=True)  # continue the checkpoint, as `local --resume` does
        shipped = [time.monotonic()]
        sent: list[Any] = [None, None]  # the upload in flight (its ref) and the step it holds
        stored: list[int | None] = [None]  # step of the last upload the store acknowledged

        def upload(step: int) -> None:
            if sent[0] is not None and ray.wait([sent[0]], timeout=0)[0]:
                stored[0], sent[0] = sent[1], None
            if sent[0] is not None or time.monotonic() - shipped[0] < upload_every:
                return  # one upload in flight at a time
            shipped[0] = time.monotonic()
            try:  # between steps, right after a checkpoint may have been written
                files = _folder_files(folder)
                if any(name.startswith("checkpoint") for name in files):
                    sent[:] = [store.put.remote(ship_key, files), step]
            except Exception:  # noqa: BLE001 - a lost upload costs only recomputation
                pass

        def send(event: Event) -> None:
            if folder is not None and event.kind == "train-progress":
                upload(int(event.data.get("step") or 0))
                if stored[0] is not None:  # status shows how far a retry would resume from
                    event = Event(event.kind, event.unit, event.message, {**event.data, "checkpoint_uploaded": stored[0]})
            # fire and forget: a task blocked in ray.get gives its CPU back and Ray would start
            # another unit on this node meanwhile (calls from one task stay in order)
            try:
                events.actor.put_nowait.remote(event)
            except Exception:  # noqa: BLE001 - progress is best effort; the unit goes on
                pass

        result = execute_unit(spec, ctx, ThrottledEmit(send, node))
        if folder is not None:
            store.drop.remote(ship_key)
    if ctx._records is not None:
        _RECORDS[getattr(dataset, "sha256", "")] = ctx._records
    return result


def _resumable(registry: Any, spec: UnitSpec) -> bool:
    try:
        return bool(registry.model_adapter(spec.plan.adapter).resumable)
    except Exception:  # noqa: BLE001 - an adapter this worker lacks fails in execute_unit, with its message
        return False


def _anchor_node(ray: Any) -> str:
    """Where the driver's helper actors (progress queue, checkpoint store) live: the head node,
    which the cluster cannot lose without failing as a whole (a driver on a host with several
    Ray nodes may be attached to a worker node); else the driver's own node."""
    for node in ray.nodes():
        if node.get("Alive") and "node:__internal_head__" in node.get("Resources", {}):
            return node["NodeID"]
    return ray.get_runtime_context().get_node_id()


class RayExecutor(WindowedDriver):
    name = "ray"

    def __init__(self, worker: WorkerRef, settings: ExecutionSettings) -> None:
        self.worker, self.settings = worker, settings
        self.ray = import_ray()
        self._remote: Any = None
        self._queue: Any = None
        self._dataset: Any = None
        self._store: Any = None
        self._connected = False

    # -- set-up ------------------------------------------------------------------------------
    def _connect(self) -> None:
        ray, address = self.ray, self.settings.address
        check_reachable(address)
        kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": "ERROR", "configure_logging": True}
        try:
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(include_dashboard=False, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
            raise RunError(f"cannot connect to {where}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; "
                           "check `ray status` on the head node and --address") from None

    def prepare(self, uses_llm: set[bool]) -> None:
        """Connect and check the cluster can run the units to come (``uses_llm``: whether any
        unit uses an LLM, any does not) before the run directory is touched, so a bad address or
        request leaves nothing behind."""
        self._connect()
        self._connected = True
        total = self.ray.cluster_resources()
        for llm in sorted(uses_llm):
            opts = self._options(llm)
            what = "LLM units" if llm else "units without an LLM"
            for name, amount in opts.get("resources", {}).items():
                if total.get(name, 0.0) < amount:
                    raise UserError(f"no node of the Ray cluster offers {amount:g} {name!r} (the cluster has "
                                    f"{total.get(name, 0.0):g}); lower [execution] resources or add such a node")
            for key, name in (("num_cpus", "CPU"), ("num_gpus", "GPU")):
                if opts.get(key, 0) > total.get(name, 0.0):
                    raise UserError(f"{what} ask for {opts[key]:g} {name} but the Ray cluster has "
                                    f"{total.get(name, 0.0):g}; lower [execution] llm_gpus/llm_cpus or add nodes")

    def _options(self, uses_llm: bool) -> dict[str, Any]:
        """Ray task options: the LLM resources ([execution] llm_*) for units that use an LLM, the
        ``baseline_cpus`` for the others."""
        s = self.settings
        opts: dict[str, Any] = {"max_retries": s.max_retries, "retry_exceptions": False}
        if not uses_llm:
            opts["num_cpus"] = s.baseline_cpus
            return opts
        opts.update(num_cpus=s.llm_cpus, num_gpus=s.llm_gpus)
        if s.memory_gb:
            opts["memory"] = int(s.memory_gb * 2**30)
        if s.resources:
            opts["resources"] = dict(s.resources)
        return opts

    # -- the run -----------------------------------------------------------------------------
    def run(self, work: Any, *, dataset: Any, run_dir: Path, deliver: Deliver, emit: EventSink) -> None:
        if not len(work):
            if self._connected:
                self.ray.shutdown()
                self._connected = False
            return
        ray = self.ray
        from ray.util.queue import Queue
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        try:
            if not self._connected:
                self.prepare(set())  # connect (the runner has already checked the resources its units need)
            here = _anchor_node(ray)
            self._queue = Queue(actor_options={"num_cpus": 0, "scheduling_strategy":
                                               NodeAffinitySchedulingStrategy(here, soft=True)})
            self._dataset = ray.put(dataset)
            self._store = ray.remote(CheckpointStore).options(
                num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=True)).remote()
            # wait until it runs: uploads sent to an actor still starting wait in the sender, and
            # die with it when its node dies before the actor is up
            ray.get(self._store.get.remote(""), timeout=300)
            self._remote = ray.remote(ray_unit)
            window = self.settings.max_concurrent or len(work)
            emit(Event("message", "", f"Ray cluster: {len(ray.nodes())} node(s), "
                                      f"{ray.cluster_resources().get('CPU', 0):g} CPU, "
                                      f"{ray.cluster_resources().get('GPU', 0):g} GPU"))
            # Ray's driver prints cluster events ("(raylet) ...") to sys.stdout from a background
            # thread; stdout is the comparison table's (scripts read it), so they go to stderr
            with contextlib.redirect_stdout(sys.stderr):
                self.drive(work, window, deliver, emit)
        finally:
            ray.shutdown()
            self._connected = False

    def submit(self, spec: UnitSpec) -> Any:
        return self._remote.options(**self._options(spec.plan.uses_llm)).remote(self.worker, self._dataset, spec, self._queue,
                                                                       self._store, self.settings.checkpoint_upload_seconds)

    def wait(self, handles: list[Any], timeout: float) -> list[tuple[Any, UnitResult]]:
        ray = self.ray
        ready, _ = ray.wait(handles, num_returns=1, timeout=timeout)
        if ready:
            more, _ = ray.wait([h for h in handles if h not in ready], num_returns=len(handles) - len(ready), timeout=0)
            ready = ready + more
        out = []
        for handle in ready:
            try:
                out.append((handle, ray.get(handle)))
            except ray.exceptions.RayError as exc:
                out.append((handle, self._lost(handle, exc)))
        return out

    def _lost(self, handle: Any, exc: Exception) -> UnitResult:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        reason = (f"the Ray worker running this unit was lost {self.settings.max_retries + 1} time(s) "
                  f"({type(exc).__name__}{': ' + first[:160] if first else ''})")
        return UnitResult(unit="", fingerprint="", error=reason)

    def events(self) -> list[Event]:
        try:
            n = self._queue.qsize()
            return self._queue.get_nowait_batch(n) if n else []
        except Exception:  # noqa: BLE001 - the progress queue is best effort
            return []

    def cancel(self, handle: Any) -> bool:
        try:
            self.ray.cancel(handle)
        except Exception:  # noqa: BLE001
            return False
        return True
