"""``clinpred data``: check a dataset against its schema, write the synthetic cohort."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from clinpred.cli.bounded import BoundedInt
from clinpred.cli.context import app
from clinpred.core import bounds as B
from clinpred.core.errors import DataError, UserError


@click.group()
def data() -> None:
    """Validate datasets and write the synthetic retained-placenta cohort."""


@data.command("check")
@click.argument("path", required=False)
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    help="TOML with the dataset schema (a [dataset] table or a schema file). Default: the bundled "
    "schema of the synthetic cohort.",
)
@click.option("--min-per-class", default=10, show_default=True, type=click.IntRange(min=1),
              help="Fewest patients of each class needed to split the data.")
@click.pass_context
def check(ctx: click.Context, path: str | None, config: str | None, min_per_class: int) -> None:
    """Validate PATH (CSV, TSV, Parquet, Excel) against the schema and summarise it.

    Without PATH, checks the schema's own data (its file, or the synthetic cohort).
    """
    from clinpred.core.data.dataset import load_dataset, load_from_schema
    from clinpred.core.data.schema import default_schema, schema_from_file

    schema = schema_from_file(config) if config else default_schema()
    if path is not None:
        try:
            dataset = load_dataset(path, schema, min_per_class=min_per_class)
        except DataError as exc:
            if config or not Path(path).is_file():  # a missing file is not a schema problem
                raise
            raise DataError(f"{exc} (checked against the bundled schema of the synthetic cohort: pass --config "
                            "with your schema, a TOML file with a [dataset] table)") from None
    else:
        dataset = load_from_schema(schema, min_per_class=min_per_class)
    quiet = app(ctx).verbosity < 0
    _print_summary(dataset.summary(), quiet=quiet)


def _print_summary(summary: dict, *, quiet: bool) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    for warning in summary["warnings"]:
        click.echo(f"Warning: {warning}", err=True)
    if quiet:
        click.echo(f"OK {summary['rows']} rows, {summary['events']} events")
        return
    click.echo(f"Data: {summary['source']}")
    click.echo(f"sha256: {summary['sha256']}")
    click.echo(
        f"{summary['rows']} rows; target {summary['target_column']!r}: {summary['events']} events, "
        f"{summary['non_events']} non-events (prevalence {summary['prevalence']:.1%})"
    )
    table = Table(title="Features")
    for name, justify in (("column", "left"), ("type", "left"), ("missing", "right"),
                          ("mean (range) / levels", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for col in summary["columns"]:
        if col["kind"] == "numeric":
            desc = f"{col['mean']:.4g} ({col['min']:.4g} to {col['max']:.4g})"
        else:
            desc = f"{col['levels']} levels"
        table.add_row(Text(col["name"]), col["kind"], f"{col['missing']} ({col['missing_fraction']:.1%})", desc)
    Console().print(table)
    if summary["ignored_columns"]:
        click.echo(f"Not in the schema (ignored): {', '.join(summary['ignored_columns'])}")
    click.echo("OK: the data matches the schema.")


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"{path}: folder {str(folder)!r} does not exist")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"{path}: cannot write ({exc.strerror})") from None


@data.command("synth")
@click.option("--n", "n", default=577, show_default=True, type=BoundedInt(B.SYNTH_PATIENTS), help="Patients.")
@click.option("--seed", default=42, show_default=True, type=BoundedInt(B.SEED), help="Random seed.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="CSV file to write.")
@click.option("--truth", type=click.Path(dir_okay=False),
              help="Also write each patient's true probability (id, true_probability) to this CSV.")
@click.option("--design", default="release", show_default=True, type=click.Choice(["release", "numeric"]),
              help="How the outcome depends on the features: release (mostly the country, Bayes AUROC "
              "about 0.67, like the trial) or numeric (mostly the continuous features, about 0.80).")
@click.pass_context
def synth(ctx: click.Context, n: int, seed: int, output: str, truth: str | None, design: str) -> None:
    """Write the synthetic retained-placenta cohort (same seed, same bytes).

    Prints the Bayes-optimal AUROC: the AUROC of the true probabilities, a ceiling no model can
    beat on this file. Both designs have the same columns and, for a seed, the same features.
    """
    from clinpred.core.data.synthetic import ID_COLUMN, TARGET_COLUMN, bayes_auroc, cohort_csv, generate_cohort, truth_csv

    if seed < 0:
        raise UserError(f"--seed must be 0 or more, got {seed}")
    out_path = Path(output)
    if truth is not None and Path(truth).resolve() == out_path.resolve():
        raise DataError("--truth must be a different file from -o: true probabilities never go into the data")
    frame, p = generate_cohort(n=n, seed=seed, design_name=design)
    labels = frame[TARGET_COLUMN].to_numpy()
    _write_atomic(out_path, cohort_csv(frame))
    if truth is not None:
        _write_atomic(Path(truth), truth_csv(frame[ID_COLUMN].tolist(), p))
    events = int(labels.sum())
    try:
        auroc = f"{bayes_auroc(labels, p):.3f}"
    except ValueError:
        auroc = "n/a (one class only)"
    click.echo(f"Wrote {out_path}: {n} rows, {events} events (prevalence {events / n:.1%}), seed {seed}, "
               f"design {design}")
    click.echo(f"Bayes-optimal AUROC: {auroc} (the best any model can reach on this file)")
    if truth is not None:
        click.echo(f"True probabilities: {truth}")
