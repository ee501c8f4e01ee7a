"""``clinpred data``: check a dataset against its schema, draft a schema from a file, write the synthetic cohort."""

from __future__ import annotations

import os
import shlex
import tempfile
from pathlib import Path

import click

from clinpred.cli.bounded import BoundedInt
from clinpred.cli.context import app
from clinpred.core import bounds as B
from clinpred.core.errors import DataError, UserError


@click.group()
def data() -> None:
    """Validate datasets, draft their schemas and write the synthetic retained-placenta cohort."""


@data.command("check")
@click.argument("path", required=False)
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    help="A run config (its [dataset], which may say schema = \"schema.toml\") or a dataset schema file "
    "(clinpred data init writes one). Default: the bundled schema of the synthetic cohort.",
)
@click.option("--min-per-class", default=10, show_default=True, type=click.IntRange(min=1),
              help="Fewest patients of each class needed to split the data.")
@click.pass_context
def check(ctx: click.Context, path: str | None, config: str | None, min_per_class: int) -> None:
    """Validate PATH (CSV, TSV, Parquet, Excel, SPSS, Stata, SAS) against the schema and summarise it.

    Without PATH, checks the schema's own data (its file, or the synthetic cohort). Prints counts
    and per-column summaries only, never a patient row.
    """
    from clinpred.core.run.config_dataset import load_config_dataset, load_config_file

    dataset = load_config_dataset(load_config_file(config), path, min_per_class=min_per_class)
    quiet = app(ctx).verbosity < 0
    _print_summary(dataset.summary(), quiet=quiet)


@data.command("init")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Schema file (TOML) to write.")
@click.option("--id", "id_column", metavar="COLUMN", help="The patient id column (default: guessed by the rules above).")
@click.option("--target", "target_column", metavar="COLUMN", help="The outcome column (default: guessed by the rules above).")
@click.option("--force", is_flag=True, help="Replace an existing output file.")
def init(path: str, output: str, id_column: str | None, target_column: str | None, force: bool) -> None:
    """Draft a dataset schema from the data file PATH (CSV, TSV, Parquet, Excel, SPSS, Stata, SAS).

    \b
    The guesses follow fixed rules (no questions asked); the file says which rule chose:
    - id: the first column whose name says id (patient_id, ID, SubjID) with a value in every
      row, all different and none a decimal number; else the first column with such values.
    - target: among the columns with exactly two values and none missing, the first whose name
      says outcome (outcome, target, label, class, event, status, death, died, dead, mortality,
      diagnosis, y); else the last one. Positive: the value (or value label) reading 1, yes, y,
      true, positive, present, case, dead, died or death; else the rarer value.
    - kind: two values -> binary; numbers -> numeric (categorical when SPSS/Stata value labels
      name every value seen); text with 3-50 values -> categorical. Columns with one value,
      or text with more values (ids, dates, free text), are left out, listed in a comment.
    - decimals: the most decimals written in the column (at most 4); display and value labels
      from SPSS/Stata variable and value labels; units are left as TODO comments.
    - missing: empty cells and NA, N/A, #N/A, NaN, NULL, None, ".", "?", "-", "missing".

    \b
    The schema holds counts and levels seen in 5 or more rows, never a patient row. Then edit
    the TODOs and run: clinpred data check --config OUTPUT
    """
    from clinpred.core.data.schema_draft import draft_from_file
    from clinpred.core.data.schema_toml import draft_toml, path_in_schema

    out = Path(output)
    if out.exists() and not force:
        raise UserError(f"{out} already exists; choose another -o file or add --force to replace it")
    draft = draft_from_file(path, id_column=id_column, target_column=target_column)
    text = draft_toml(draft, source=Path(path).name, path_in_file=path_in_schema(path, output))
    _write_atomic(out, text.encode("utf-8"))
    kinds = ", ".join(f"{sum(f.kind == k for f in draft.features)} {k}" for k in ("numeric", "binary", "categorical"))
    click.echo(f"Wrote {out}: a draft schema for {path} ({draft.rows} rows)")
    click.echo(f"  id:       {draft.id_column!r} ({draft.id_reason})")
    click.echo(f"  target:   {draft.target_column!r}, positive value {draft.positive!r} in {draft.events} rows "
               f"({draft.target_reason}; positive: {draft.positive_reason})")
    click.echo(f"  features: {len(draft.features)} ({kinds})")
    if draft.left_out:
        click.echo(f"  left out: {', '.join(f'{c!r} ({why})' for c, why in draft.left_out)}")
    click.echo(f"Next: check the guesses, fill in the TODOs (question, units), then: "
               f"clinpred data check --config {shlex.quote(str(out))}")


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
            desc = f"{_sig(col['mean'])} ({_sig(col['min'])} to {_sig(col['max'])})"
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
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror})") from None
    finally:  # also on Ctrl-C / SIGTERM: no temporary file left behind
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


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


def _sig(x: float) -> str:
    """Four significant digits, never in scientific notation (13862.4 -> 13860, 0.001234 -> 0.001234)."""
    import numpy as np

    return np.format_float_positional(float(x), precision=4, unique=False, fractional=False, trim="-")
