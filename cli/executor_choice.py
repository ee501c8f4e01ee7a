"""Choosing the executor of ``clinpred run`` from ``--executor/--jobs/--address`` and ``[execution]``."""

from __future__ import annotations

from typing import Any

#: what a worker calls to rebuild the family hooks and load models (see core/run/units.py WorkerRef)
HOOKS_FACTORY = "clinpred.registry.registry:load_registry"
MODEL_LOADER = "clinpred.cli.run_cmd:load_plan_model"


def worker_ref(state: Any) -> Any:
    """The driver's plugin settings (paths, --strict-plugins, allow/deny env), by reference."""
    from pathlib import Path

    from clinpred.core.run.units import WorkerRef

    paths = [str(Path(p).expanduser().resolve()) for p in state.plugin_paths]
    return WorkerRef.capture(HOOKS_FACTORY, MODEL_LOADER, plugin_paths=paths, strict=state.strict_plugins)


def make_executor(config: Any, state: Any, *, executor: str | None, jobs: int | None, address: str | None) -> Any:
    """The executor object, or None for the default in-process one."""
    from clinpred.core.run.execution_config import parse_execution

    settings = parse_execution(config.execution, where=f"{config.source} [execution]",
                               overrides={"executor": executor, "jobs": jobs, "address": address})
    if settings.executor == "process":
        from clinpred.core.run.executors.process import ProcessExecutor

        return ProcessExecutor(worker_ref(state), settings.jobs, settings.max_concurrent, settings.max_retries)
    if settings.executor == "ray":
        from clinpred.core.run.executors.ray_executor import RayExecutor

        return RayExecutor(worker_ref(state), settings)
    return None
