"""The Ray checkpoint bookkeeping without a cluster (the slow tests in test_ray_slow.py run it on a
real one): the store never goes back to an older checkpoint, an upload counts once acknowledged,
the driver copies acknowledged checkpoints into the run directory (checkpoint last) until the unit's
result is in, and seeds the store from the run directory for a resumed unit."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from clinpred.core.events import Event
from clinpred.core.run.executors.ray_checkpoints import CheckpointKeeper, CheckpointStore, Uploader, folder_files


class Ref:
    def __init__(self, value=None, error: Exception | None = None, ready: bool = True) -> None:
        self.value, self.error, self.ready = value, error, ready


class FakeRay:
    """``ray.wait`` / ``ray.get`` over :class:`Ref` values (ready or not)."""

    def wait(self, refs, num_returns=1, timeout=None):
        ready = [r for r in refs if r.ready]
        return ready, [r for r in refs if not r.ready]

    def get(self, ref, timeout=None):
        if ref.error:
            raise ref.error
        return ref.value


class Remote:
    """A store whose calls return :class:`Ref` (``hold`` keeps the next put's reply pending)."""

    def __init__(self) -> None:
        self.store = CheckpointStore()
        self.hold = False
        self.fail = False
        outer = self

        class Method:
            def __init__(self, name: str) -> None:
                self.name = name

            def remote(self, *args):
                if self.name == "put" and outer.fail:
                    return Ref(error=RuntimeError("the node died"))
                value = getattr(outer.store, self.name)(*args)
                return Ref(value, ready=not (self.name == "put" and outer.hold))

        self.put, self.get, self.drop = Method("put"), Method("get"), Method("drop")


def _checkpoint(step: int) -> bytes:
    header = json.dumps({"__metadata__": {"state": json.dumps({"step": step})}}).encode()
    return len(header).to_bytes(8, "little") + header


def _progress(unit: str, step: int, checkpoint: int | None, **more) -> Event:
    return Event("train-progress", unit, data={"step": step, "checkpoint_step": checkpoint, **more})


def test_the_store_keeps_the_latest_checkpoint() -> None:
    store = CheckpointStore()
    assert store.put("u", 20, {"a": b"20"}) == 20
    assert store.put("u", 10, {"a": b"10"}) == 20  # an older upload arriving late changes nothing
    assert store.get("u") == (20, {"a": b"20"})
    store.drop("u")
    assert store.get("u") is None


def test_an_upload_counts_once_acknowledged(tmp_path: Path) -> None:
    remote = Remote()
    folder = tmp_path / "unit"
    (folder / "checkpoint").mkdir(parents=True)
    (folder / "checkpoint" / "checkpoint.safetensors").write_bytes(_checkpoint(10))
    (folder / ".adapters.x1.tmp.safetensors").write_bytes(b"half")  # never shipped
    up = Uploader(FakeRay(), remote, "u@f", folder, every=0)
    remote.hold = True
    event = up.on_progress(_progress("u", 11, 10))
    assert "checkpoint_uploaded" not in event.data  # sent, not acknowledged yet
    assert set(remote.store.get("u@f")[1]) == {"checkpoint/checkpoint.safetensors"}
    up._inflight[0].ready = True
    assert up.on_progress(_progress("u", 12, 10)).data["checkpoint_uploaded"] == 10
    remote.hold, remote.fail = False, True
    up.on_progress(_progress("u", 21, 20))  # its node died: the put fails
    assert up.on_progress(_progress("u", 22, 20)).data["checkpoint_uploaded"] == 10


def test_the_driver_copies_acknowledged_checkpoints_until_the_result(tmp_path: Path) -> None:
    remote = Remote()
    spec = SimpleNamespace(unit="tiny/r0f0", fingerprint="f1", resume=False, trial=None)
    folder = tmp_path / "adapters" / "tiny" / "r0f0"
    keeper = CheckpointKeeper(FakeRay(), remote, lambda s: folder)
    keeper.seed(spec)
    remote.store.put(keeper.key(spec), 10, {"adapters.safetensors": b"best@10",
                                           "checkpoint/checkpoint.safetensors": _checkpoint(10)})
    keeper.on_events([_progress("tiny/r0f0", 12, 10, checkpoint_uploaded=10)])
    assert (folder / "adapters.safetensors").read_bytes() == b"best@10"
    assert (folder / "checkpoint" / "checkpoint.safetensors").read_bytes() == _checkpoint(10)
    keeper.finished("tiny/r0f0")
    (folder / "adapters.safetensors").write_bytes(b"final")  # the result's file
    remote.store.put(keeper.key(spec), 20, {"adapters.safetensors": b"best@20"})
    keeper.on_events([_progress("tiny/r0f0", 22, 20, checkpoint_uploaded=20)])  # a late event
    assert (folder / "adapters.safetensors").read_bytes() == b"final"


def test_the_checkpoint_is_written_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clinpred.core.run.executors import ray_checkpoints

    order: list[str] = []
    monkeypatch.setattr(ray_checkpoints, "write_bytes", lambda path, data: order.append(path.name))
    ray_checkpoints.restore(tmp_path, {"checkpoint/checkpoint.safetensors": b"c", "adapters.safetensors": b"a",
                                       "adapter_config.json": b"{}"})
    assert order[-1] == "checkpoint.safetensors"


def test_a_resumed_unit_is_seeded_from_the_run_directory(tmp_path: Path) -> None:
    remote = Remote()
    folder = tmp_path / "adapters" / "tiny"
    (folder / "checkpoint").mkdir(parents=True)
    (folder / "checkpoint" / "checkpoint.safetensors").write_bytes(_checkpoint(30))
    (folder / "adapters.safetensors").write_bytes(b"best")
    keeper = CheckpointKeeper(FakeRay(), remote, lambda s: folder)
    spec = SimpleNamespace(unit="tiny/holdout", fingerprint="f", resume=True, trial=None)
    keeper.seed(spec)
    step, files = remote.store.get(keeper.key(spec))
    assert step == 30 and files == folder_files(folder)
    fresh = SimpleNamespace(unit="lasso/holdout", fingerprint="g", resume=True, trial=None)
    keeper2 = CheckpointKeeper(FakeRay(), remote, lambda s: tmp_path / "adapters" / "lasso")
    keeper2.seed(fresh)  # no checkpoint there: nothing stored
    assert remote.store.get(keeper2.key(fresh)) is None
