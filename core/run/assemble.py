"""From a config plus a user's choices to a :class:`~clinpred.core.run.runner.RunRequest` and its
executor: the one place that decides what a run holds. ``clinpred run`` (the CLI) and
``clinpred.run(...)`` (the Python API) both parse their options into :class:`RunChoices` and call
:func:`build_request`; neither decides anything itself.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import attrs
from attrs import define, field

from clinpred.core.errors import UserError
from clinpred.core.run.config import RunConfig, default_method, resolve_reference
from clinpred.core.run.config_dataset import config_schema, load_config_file
from clinpred.core.run.plan import ModelPlan, baseline_plans, select_models, validate_config_families
from clinpred.core.run.runner import RunRequest

#: what a worker calls to rebuild the plugins (model adapters and family hooks)
REGISTRY_FACTORY = "clinpred.registry.registry:load_registry"


@define(frozen=True)
class RunChoices:
    """What a user chooses on top of a config: the options of ``clinpred run`` (None: the config's)."""

    config: str | Path | None = None
    data: str | Path | None = None
    out: str | Path | None = None
    families: tuple[str, ...] = field(default=(), converter=tuple)
    models: tuple[str, ...] = field(default=(), converter=tuple)
    #: ``--method``: every selected model once per method (rows NAME or NAME-METHOD)
    methods: tuple[str, ...] = field(default=(), converter=tuple)
    baselines: tuple[str, ...] | None = field(default=None, converter=lambda v: None if v is None else tuple(v))
    baselines_only: bool = False
    no_baselines: bool = False
    cv: int | None = None
    repeats: int | None = None
    seed: int | None = None
    iters: int | None = None
    generate: bool | None = None
    store_prompts: bool | None = None
    resume: bool = False
    search: bool = False
    trials: int | None = None
    executor: str | None = None
    jobs: int | None = None
    address: str | None = None
    mlflow: str | None = None  # a tracking URI: log the finished run there ([tracking] mlflow)
    command: tuple[str, ...] = field(default=(), converter=tuple)


def default_out() -> Path:
    """``runs/run-YYYYmmdd-HHMMSS`` in the current folder."""
    return Path("runs") / time.strftime("run-%Y%m%d-%H%M%S")


def protocol_notice(config: RunConfig, choices: RunChoices) -> str | None:
    """The line that says ``--cv`` / ``--repeats`` replace the config's protocol, when it is one
    they do not name themselves (anything but the hold-out they are for, e.g. internal-external)."""
    given = [f"--{k} {v}" for k, v in (("cv", choices.cv), ("repeats", choices.repeats)) if v is not None]
    protocol = config.evaluation.protocol
    if not given or protocol in ("holdout", "cv"):
        return None
    return (f"{' '.join(given)} replaces the protocol {protocol!r} of {config.source} with repeated stratified "
            f"cross-validation; drop {' and '.join(o.split()[0] for o in given)} to keep {protocol!r}")


def _evaluation(config: RunConfig, choices: RunChoices) -> Any:
    changes: dict[str, Any] = {}
    if choices.cv is not None:
        changes.update(protocol="cv", cv_folds=choices.cv)
    if choices.repeats is not None:
        changes.update(cv_repeats=choices.repeats, protocol="cv")
    if choices.seed is not None:
        changes["seed"] = choices.seed
    if choices.generate is not None:
        changes["generate"] = choices.generate
    if choices.store_prompts is not None:
        changes["store_prompts"] = choices.store_prompts
    return attrs.evolve(config.evaluation, **changes)


def _preflight(plans: list[ModelPlan]) -> None:
    """Bad model paths, and cached catalog models whose files changed since they were converted,
    are bad input (exit 2) before anything is written."""
    from clinpred.core.weights.loading import check_source
    from clinpred.core.weights.model_source import local_path, verify_cached

    for plan in plans:
        if not plan.uses_llm or plan.unavailable:
            continue
        if plan.catalog is None:
            check_source(plan.model_id)
        elif plan.catalog.gguf_sha256 is not None and (found := local_path(plan.catalog)) is not None:
            verify_cached(plan.catalog.name, found)


def _searched(config: RunConfig, plans: list[ModelPlan], registry: Any, choices: RunChoices) -> dict[str, Any]:
    """model name -> SearchConfig for the models whose hyperparameters are searched."""
    settings = config.search
    if settings is None:
        return {}
    settings = settings.with_command_line(enable=choices.search, trials=choices.trials)
    out = {p.name: settings.for_model(p.name) for p in plans
           if not p.unavailable and registry.model_adapter(p.adapter).searchable and settings.for_model(p.name).enabled}
    if choices.trials is not None and not out:
        raise UserError("--trials sets the number of search trials; add --search (and select an LLM)")
    if out:
        from clinpred.core.llm.search import require_optuna

        require_optuna()
    return out


def _tracking(config: RunConfig, choices: RunChoices) -> Any:
    """[tracking] with ``--mlflow`` over it; None when nothing is tracked (the library is checked now,
    not after the run)."""
    from clinpred.core.run.tracking import TrackingSettings, require_tracking

    settings = config.tracking or TrackingSettings()
    if choices.mlflow is not None:
        if not choices.mlflow.strip():
            raise UserError("--mlflow needs a tracking URI (e.g. file:./mlruns or https://mlflow.example.org)")
        settings = attrs.evolve(settings, mlflow=choices.mlflow)
    if not settings.enabled:
        return None
    require_tracking(settings)
    return settings


def build_request(choices: RunChoices, registry: Any, config: RunConfig | None = None) -> RunRequest:
    """The :class:`RunRequest` of ``choices`` (``config``: already loaded, else read from
    ``choices.config`` or the bundled one). Every bad choice is one :class:`UserError` line."""
    if choices.baselines_only and choices.no_baselines:
        raise UserError("--baselines-only and --no-baselines exclude each other; give one")
    if choices.resume and not choices.out:
        raise UserError("--resume needs --out RUN_DIR (the run to continue)")
    config = config or load_config_file(choices.config, models=registry)
    validate_config_families(config, registry)
    ev = _evaluation(config, choices)
    llm_plans = [] if choices.baselines_only else select_models(
        config, registry, models=choices.models, family_names=choices.families,
        overrides={"num_iters": choices.iters} if choices.iters else {}, methods=choices.methods)
    _preflight(llm_plans)
    names = config.baselines if choices.baselines is None else choices.baselines
    base = [] if choices.no_baselines else baseline_plans(config, registry, names)
    if choices.baselines is not None:  # the reference is fixed against the baselines that run
        ev = resolve_reference(attrs.evolve(ev, reference=config.reference_given), tuple(names), registry,
                               config.source, config.reference_given is not None)
    plans = [*base, *llm_plans]
    if not plans:
        raise UserError("nothing to run: no model selected and baselines are off")
    config_source = str(Path(choices.config).resolve()) if choices.config else config.source
    tracking = _tracking(config, choices)
    return RunRequest(out=Path(choices.out) if choices.out else default_out(), plans=plans, evaluation=ev,
                      schema=config_schema(config, str(choices.data) if choices.data else None), config_source=config_source, resume=choices.resume,
                      command=list(choices.command), search=_searched(config, llm_plans, registry, choices),
                      default_method=default_method(registry), tracking=tracking,
                      notices=[n for n in (protocol_notice(config, choices),) if n])


def worker_ref(plugin_paths: tuple[str, ...] = (), strict: bool = False) -> Any:
    """How workers rebuild the driver's plugins (paths, --strict-plugins, allow/deny env)."""
    from clinpred.core.run.units import WorkerRef

    paths = [str(Path(p).expanduser().resolve()) for p in plugin_paths]
    return WorkerRef.capture(REGISTRY_FACTORY, plugin_paths=paths, strict=strict)


def build_executor(config: RunConfig, choices: RunChoices, worker: Any) -> Any:
    """The executor of ``choices`` / ``[execution]``, or None for the default in-process one."""
    from clinpred.core.run.execution_config import parse_execution

    settings = parse_execution(config.execution, where=f"{config.source} [execution]",
                               overrides={"executor": choices.executor, "jobs": choices.jobs, "address": choices.address})
    if settings.executor == "process":
        from clinpred.core.run.executors.process import ProcessExecutor

        return ProcessExecutor(worker, settings.jobs, settings.max_concurrent, settings.max_retries)
    if settings.executor == "ray":
        from clinpred.core.run.executors.ray_executor import RayExecutor

        return RayExecutor(worker, settings)
    return None


__all__ = ["RunChoices", "build_executor", "build_request", "default_out", "protocol_notice", "worker_ref"]
