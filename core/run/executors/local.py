"""``--executor local`` (the default): units one after another in the driver process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clinpred.core.events import EventSink
from clinpred.core.run.executors.base import Deliver
from clinpred.core.run.unit_work import WorkContext, execute_unit


class LocalExecutor:
    """In-process, in plan order; adapters and training checkpoints go straight into the run
    directory (so ``--resume`` continues a unit's training from its checkpoint)."""

    name = "local"

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def run(self, work: Any, *, dataset: Any, run_dir: Path, deliver: Deliver, emit: EventSink) -> None:
        ctx = WorkContext(dataset, self.registry, adapter_root=run_dir)
        while batch := work.take(1):
            for spec in batch:
                deliver(spec, execute_unit(spec, ctx, emit))
