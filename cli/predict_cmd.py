"""``clinpred predict``: apply a fine-tuned model of a run to new patients."""

from __future__ import annotations

import click

from clinpred.cli.bounded import BoundedInt
from clinpred.cli.context import app
from clinpred.core import bounds as B


@click.command()
@click.argument("run_dir", type=click.Path())
@click.option("--model", "model", required=True, metavar="NAME",
              help="A model of the run: a fine-tuned LLM or a baseline (its name in the comparison table).")
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="New patients: a data file (CSV/TSV, Parquet, Excel, SPSS/Stata/SAS) with the run's columns (the outcome column is optional).")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Output CSV: id, p_yes, predicted, answer, threshold (+ label).")
@click.option("--split", metavar="SPLIT", help="Which split's fitted model and threshold (required for cross-validated runs).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="The run's model_configs.toml, if it is not found where the run recorded it.")
@click.option("--batch-size", type=BoundedInt(B.BATCH_SIZE), help="Patients scored at once (default: the run's score_batch_size).")
@click.pass_context
def predict(ctx: click.Context, run_dir: str, model: str, data: str, out: str, split: str | None,
            config_path: str | None, batch_size: int | None) -> None:
    """Apply MODEL of RUN_DIR to new patients: P(yes) and the predicted label per patient, at the
    threshold the run chose on validation data. A fine-tuned LLM is its base model + LoRA adapter;
    a baseline is its saved pipeline (skops); every saved file is checked against its sha256."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from clinpred.core.data.dataset import load_new_patients
    from clinpred.core.run.predict import (check_output, load_fitted, plan_prediction, predict_patients,
                                           write_predictions)

    state = app(ctx)
    check_output(out, data=data, run_dir=run_dir)  # never the patients' file or the run's own files
    setup = plan_prediction(run_dir, model, split=split, config_path=config_path, batch_size=batch_size)
    dataset, labels = load_new_patients(data, setup.schema)
    console = Console(stderr=True)
    quiet = state.verbosity < 0
    if not quiet:
        console.print(f"{model}/{setup.split}: {len(dataset.ids)} patients, threshold {setup.threshold:.4f}; "
                      f"loading {setup.adapter_dir}")
    with Progress(TextColumn("  scoring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True, disable=quiet) as bar:
        task = bar.add_task("score", total=len(dataset.ids))
        fitted = load_fitted(setup, state.registry,
                             on_progress=lambda done, total: bar.update(task, completed=done, total=total))
        pred = predict_patients(setup, dataset, labels, fitted)
    path = write_predictions(out, pred, setup)
    positive = int(pred.predicted.sum())
    click.echo(f"Wrote {path}: {len(pred.ids)} patients, {positive} predicted {setup.schema.task.positive!r} "
               f"(P(yes) >= {setup.threshold:.4f})")
