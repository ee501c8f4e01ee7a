"""``--executor ray``: units as Ray tasks on a cluster (``--address``) or a local Ray instance.

Each unit is one ``ray.remote`` task with the resources it asks for (LLM: ``llm_cpus``,
``llm_gpus``, ``memory_gb``, custom resources; baseline: ``baseline_cpus``) and
``max_retries`` re-runs when its worker or node dies. The dataset goes once into the object
store; workers never touch the driver's file system: LLM adapters come back as bytes in the
result and the driver writes them. A training unit uploads its checkpoints to a store actor on
the head node and the driver copies them into the run directory (:mod:`.ray_checkpoints`): Ray's
retry of a unit whose node died, and a driver's ``--resume``, continue from the last acknowledged
checkpoint. Progress comes back through a ``ray.util.queue.Queue`` pinned to the driver's node.
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
from clinpred.core.run.executors.ray_checkpoints import CheckpointKeeper, CheckpointStore
from clinpred.core.run.rundir import RunDirectory
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


def check_reachable(address: str | None, *, timeout: float = 10.0) -> None:
    """Fail in one line, within seconds, when a ``HOST:PORT`` (or ``ray://HOST:PORT``) address is not
    a reachable Ray cluster (:mod:`.ray_probe`: nothing listens, something that is not Ray answers,
    or its nodes cannot be reached); ``ray.init`` itself retries for minutes. ``auto`` and no address
    are Ray's to resolve (they fail fast when no cluster runs here)."""
    if not address or address == "auto" or address.startswith("local"):
        return
    from clinpred.core.run.executors.ray_probe import probe

    probe(address, timeout=timeout)


def node_name(ray: Any) -> str:
    """``host/nodeid`` (two Ray nodes may share a host)."""
    try:
        node = ray.get_runtime_context().get_node_id()[:8]
    except Exception:  # noqa: BLE001 - not in a Ray worker
        node = "?"
    return f"{socket.gethostname()}/{node}"


def ray_unit(ref: WorkerRef, dataset: Any, spec: UnitSpec, events: Any, store: Any = None,
             upload_every: float = 10.0) -> UnitResult:
    """The body of one Ray task (runs on a worker); ``store``: the run's CheckpointStore."""
    import tempfile

    import ray

    key = repr(ref)
    if key not in _BUILT:
        ref.apply_env()
        from clinpred.core.weights.blas import activate

        activate()
        _BUILT[key] = ref.build()
    registry = _BUILT[key]
    node = node_name(ray)

    def send(event: Event) -> None:
        # fire and forget: a task blocked in ray.get gives its CPU back and Ray would start
        # another unit on this node meanwhile (calls from one task stay in order)
        try:
            events.actor.put_nowait.remote(event)
        except Exception:  # noqa: BLE001 - progress is best effort; the unit goes on
            pass

    with tempfile.TemporaryDirectory(prefix="clinpred-unit-") as tmp:
        root = Path(tmp)
        ctx = WorkContext(dataset, registry, adapter_root=root, node=node, ship=True,
                          records=_RECORDS.get(getattr(dataset, "sha256", "")))
        emit: Any = ThrottledEmit(send, node)
        uploader = None
        if spec.trial is None and store is not None and _resumable(registry, spec):
            from clinpred.core.run.executors.ray_checkpoints import CheckpointKeeper, Uploader, fetch_saved, restore
            from clinpred.core.run.unit_work import save_dir

            folder, ship_key = save_dir(spec, root), CheckpointKeeper.key(spec)
            try:  # once per task: did an earlier attempt (or the driver, for --resume) store a checkpoint?
                saved = fetch_saved(ray, store, ship_key)
            except Exception as exc:  # noqa: BLE001 - then it trains from the start, and says so
                saved = None
                send(Event("warning", spec.unit, f"{spec.unit}: its stored checkpoint could not be read "
                                                 f"({type(exc).__name__}); training from the start"))
            if saved:
                restore(folder, saved[1])
                spec = evolve(spec, resume=True)  # continue the checkpoint, as `local --resume` does
            uploader = Uploader(ray, store, ship_key, folder, upload_every, acked=saved[0] if saved else None)
            throttled = emit
            emit = lambda e: throttled(uploader.on_progress(e) if e.kind == "train-progress" else e)  # noqa: E731
        result = execute_unit(spec, ctx, emit)  # the driver drops the unit's stored checkpoint when its result is in
    if ctx._records is not None:
        _RECORDS[getattr(dataset, "sha256", "")] = ctx._records
    return result


def _resumable(registry: Any, spec: UnitSpec) -> bool:
    try:
        return bool(registry.model_adapter(spec.plan.adapter).resumable)
    except Exception:  # noqa: BLE001 - an adapter this worker lacks fails in execute_unit, with its message
        return False


def _anchor_node(ray: Any) -> str:
    """Where the driver's helper actors (progress queue, checkpoint store) live, pinned with a hard
    node affinity: the head node, which the cluster cannot lose without failing as a whole (a
    driver on a host with several Ray nodes may be attached to a worker node); else the driver's
    own node. (A soft affinity is only a hint: Ray placed the store on a worker node in 3 of 4
    tries, where it died with that node and took the checkpoints of a retry with it.)"""
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
        self._keeper: Any = None
        self._connected = False

    # -- set-up ------------------------------------------------------------------------------
    def _connect(self) -> None:
        ray, address = self.ray, self.settings.address
        check_reachable(address)
        kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": "ERROR", "configure_logging": True}
        from clinpred.core.signals import keep_handlers

        try:
            with keep_handlers():  # ray.init makes SIGTERM a bare sys.exit: keep ours (stop like Ctrl-C)
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
                                               NodeAffinitySchedulingStrategy(here, soft=False)})
            self._dataset = ray.put(dataset)
            # on the head node (hard affinity), threaded (max_concurrency): a call never waits in
            # line behind an upload whose bytes are still coming from a node that is dying
            self._store = ray.remote(CheckpointStore).options(
                num_cpus=0, max_concurrency=4, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote()
            # wait until it runs: uploads sent to an actor still starting wait in the sender, and
            # die with it when its node dies before the actor is up
            ray.get(self._store.get.remote(""), timeout=300)
            rundir = RunDirectory(run_dir)
            self._keeper = CheckpointKeeper(ray, self._store, lambda spec: rundir.adapter_dir(spec.name, spec.adapter_split))
            self._remote = ray.remote(ray_unit)
            window = self.settings.max_concurrent or len(work)
            emit(Event("message", "", f"Ray cluster: {len(ray.nodes())} node(s), "
                                      f"{ray.cluster_resources().get('CPU', 0):g} CPU, "
                                      f"{ray.cluster_resources().get('GPU', 0):g} GPU"))
            # Ray's driver prints cluster events ("(raylet) ...") to sys.stdout from a background
            # thread; stdout is the comparison table's (scripts read it), so they go to stderr
            keeper = self._keeper

            def delivered(spec: UnitSpec, result: UnitResult) -> None:
                keeper.finished(spec.unit)  # no checkpoint copy may land on its final files
                deliver(spec, result)

            with contextlib.redirect_stdout(sys.stderr):
                self.drive(work, window, delivered, emit)
        finally:
            ray.shutdown()
            self._connected = False

    def submit(self, spec: UnitSpec) -> Any:
        self._keeper.seed(spec)  # a resumed unit's checkpoint (in the run directory) goes into the store first
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
            batch = self._queue.get_nowait_batch(n) if n else []
        except Exception:  # noqa: BLE001 - the progress queue is best effort
            batch = []
        self._keeper.on_events(batch)  # acknowledged checkpoints into the run directory
        return batch

    def cancel(self, handle: Any) -> bool:
        try:
            self.ray.cancel(handle)
        except Exception:  # noqa: BLE001
            return False
        return True
