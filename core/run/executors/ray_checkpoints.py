"""Training checkpoints of Ray units: uploaded while a unit trains, kept by the driver.

A Ray worker has no share of the driver's file system, so a training unit sends its model's folder
(adapter + checkpoint, a few MB for a LoRA) to a :class:`CheckpointStore` actor on the head node
after each new checkpoint (at most every ``checkpoint_upload_seconds``); an upload counts once the
store has acknowledged it, and ``status.json`` shows that step as ``checkpoint_uploaded``.

- A retried unit (its worker or node died) restores the store's latest checkpoint and continues.
  The store is pinned to the head node with a hard affinity: with the soft one it had, Ray placed
  it on a worker node in 3 of 4 tries, so killing that node killed the store too and the retry
  trained from step 0 (``ActorDiedError``): the 2 of 5 node-kill runs that did not resume. It is a
  threaded actor (a call never waits behind an upload whose bytes come from a dying node), an
  upload never replaces a later checkpoint, and only the driver drops a unit's entry, when the
  unit's result is in (an attempt whose node was killed runs on for a moment).
- The driver copies every acknowledged checkpoint into the run directory (``adapters/NAME/SPLIT``,
  as ``local`` and ``process`` write it), until the unit's result is in. After the driver itself
  was killed, ``--resume`` (with any executor) continues from there: with Ray, the driver puts the
  folder into the new run's store before it submits the unit.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from clinpred.core.atomic import is_temporary, write_bytes
from clinpred.core.events import Event

#: the progress field that says which step a unit's checkpoint on disk holds (core/llm/training.py)
CHECKPOINT_STEP = "checkpoint_step"


class CheckpointStore:
    """A Ray actor (threaded: see the module docstring) on the head node: the latest checkpoint
    folder of each running unit, by ``unit@fingerprint``, until the unit finishes."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[int, dict[str, bytes]]] = {}

    def put(self, key: str, step: int, files: dict[str, bytes]) -> int:
        """Keep ``files`` unless a later step is already kept; the step kept now."""
        kept = self._files.get(key)
        if kept is None or step >= kept[0]:
            self._files[key] = (step, files)
        return self._files[key][0]

    def get(self, key: str) -> tuple[int, dict[str, bytes]] | None:
        return self._files.get(key)

    def drop(self, key: str) -> None:
        self._files.pop(key, None)


def folder_files(folder: Path) -> dict[str, bytes]:
    """Every file of a model's folder (relative path -> bytes), temporary files left out."""
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not is_temporary(p.name)}


def restore(folder: Path, files: dict[str, bytes]) -> None:
    """Write a checkpoint folder; the checkpoint itself last (it is the commit point: a copy cut
    short leaves the previous checkpoint, and files written ahead of it are written again, the same,
    when training replays the steps after it)."""
    for name in sorted(files, key=lambda n: (n.startswith("checkpoint"), n)):
        write_bytes(folder / name, files[name])


class Uploader:
    """In a Ray task: upload the unit's folder after each new checkpoint (at most every ``every``
    seconds, one upload in flight) and remember the step of the last one the store acknowledged."""

    def __init__(self, ray: Any, store: Any, key: str, folder: Path, every: float, acked: int | None = None) -> None:
        self.ray, self.store, self.key, self.folder, self.every = ray, store, key, folder, every
        self.acked = acked  # a restored checkpoint is in the store already
        self._inflight: tuple[Any, int] | None = None
        self._sent_step = acked
        self._sent_at = float("-inf")

    def on_progress(self, event: Event) -> Event:
        """Called on every training step (between steps: the folder is complete); returns the
        event with ``checkpoint_uploaded`` (the acknowledged step) for status.json."""
        self._collect()
        step = event.data.get(CHECKPOINT_STEP)
        due = time.monotonic() - self._sent_at >= self.every
        if self._inflight is None and isinstance(step, int) and step != self._sent_step and due:
            try:
                ref = self.store.put.remote(self.key, step, folder_files(self.folder))
                self._inflight, self._sent_step, self._sent_at = (ref, step), step, time.monotonic()
            except Exception:  # noqa: BLE001 - a lost upload costs only recomputation
                pass
        if self.acked is None:
            return event
        return Event(event.kind, event.unit, event.message, {**event.data, "checkpoint_uploaded": self.acked})

    def _collect(self) -> None:
        if self._inflight is None:
            return
        ref, step = self._inflight
        if not self.ray.wait([ref], timeout=0)[0]:
            return
        self._inflight = None
        try:
            self.ray.get(ref)
        except Exception:  # noqa: BLE001 - the upload failed: nothing more is acknowledged
            return
        self.acked = max(step, self.acked or 0)


def fetch_saved(ray: Any, store: Any, key: str, timeout: float = 300.0) -> tuple[int, dict[str, bytes]] | None:
    """In a Ray task: the latest checkpoint an earlier attempt (or the driver) stored, if any."""
    return ray.get(store.get.remote(key), timeout=timeout)


class CheckpointKeeper:
    """In the driver: copy each unit's acknowledged checkpoints from the store into the run
    directory while it runs, and seed the store from the run directory for a resumed unit."""

    def __init__(self, ray: Any, store: Any, folder_of: Callable[[Any], Path]) -> None:
        self.ray, self.store, self.folder_of = ray, store, folder_of
        self._specs: dict[str, Any] = {}  # unit -> spec, while it runs
        self._copied: dict[str, int] = {}  # unit -> step copied into the run directory
        self._pending: dict[str, tuple[Any, int]] = {}  # unit -> (get ref, step)

    @staticmethod
    def key(spec: Any) -> str:
        return f"{spec.unit}@{spec.fingerprint}"

    def seed(self, spec: Any) -> None:
        """Before submitting ``spec``: a resumed unit's checkpoint in the run directory goes into the
        store (blocking, so the task finds it)."""
        self._specs[spec.unit] = spec
        if not spec.resume or spec.trial is not None:
            return
        files = folder_files(self.folder_of(spec))
        if not any(name.startswith("checkpoint") for name in files):
            return
        step = _checkpoint_step(files)
        self.ray.get(self.store.put.remote(self.key(spec), step, files), timeout=300)
        self._copied[spec.unit] = step

    def on_events(self, events: list[Event]) -> None:
        """Start copying a newly acknowledged checkpoint; write the copies that have arrived."""
        for event in events:
            step = event.data.get("checkpoint_uploaded")
            spec = self._specs.get(event.unit)
            if spec is None or not isinstance(step, int) or step <= self._copied.get(event.unit, -1):
                continue
            if event.unit in self._pending and self._pending[event.unit][1] >= step:
                continue
            self._pending[event.unit] = (self.store.get.remote(self.key(spec)), step)
        self._write_arrived()

    def _write_arrived(self) -> None:
        if not self._pending:
            return
        refs = [ref for ref, _ in self._pending.values()]
        ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
        for unit, (ref, step) in list(self._pending.items()):
            if ref not in ready:
                continue
            del self._pending[unit]
            try:
                saved = self.ray.get(ref)
            except Exception:  # noqa: BLE001 - the next acknowledged checkpoint is copied instead
                continue
            spec = self._specs.get(unit)
            if saved is None or spec is None or saved[0] <= self._copied.get(unit, -1):
                continue
            restore(self.folder_of(spec), saved[1])
            self._copied[unit] = saved[0]

    def finished(self, unit: str) -> None:
        """The unit's result is in (its final files are the result's): copy nothing more of it, and
        drop its stored checkpoint (here, not in the task: an attempt on a node that was killed may
        still run for a moment and must not drop what its retry is about to restore)."""
        spec = self._specs.pop(unit, None)
        self._pending.pop(unit, None)
        self._copied.pop(unit, None)
        if spec is not None and spec.trial is None:
            try:
                self.store.drop.remote(self.key(spec))
            except Exception:  # noqa: BLE001 - the store goes when the run ends anyway
                pass


def _checkpoint_step(files: dict[str, bytes]) -> int:
    """The step a checkpoint folder holds: the ``state`` metadata of its safetensors checkpoint
    (0 when it cannot be read: the trainer then checks the checkpoint itself)."""
    import json

    for name, data in files.items():
        if name.startswith("checkpoint") and name.endswith(".safetensors") and len(data) > 8:
            try:
                size = int.from_bytes(data[:8], "little")
                meta = json.loads(data[8:8 + size]).get("__metadata__") or {}
                return int(json.loads(meta.get("state", "{}")).get("step") or 0)
            except (ValueError, TypeError, AttributeError):
                return 0
    return 0


__all__ = ["CHECKPOINT_STEP", "CheckpointKeeper", "CheckpointStore", "Uploader", "fetch_saved", "folder_files",
           "restore"]
