"""``clinpred compare``: the models of several finished runs in one table."""

from __future__ import annotations

import click

from clinpred.cli.output import echo_table, format_option


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, metavar="RUN_DIR...")
@format_option()
def compare(run_dirs: tuple[str, ...], fmt: str) -> None:
    """One table of every completed model of the runs RUN_DIR... (model x run): AUROC, calibration
    slope and intercept and Brier score with 95% CIs, n, events, protocol, seed and the data's
    sha256, and one line saying whether all runs used the same data. Reads the run directories
    only (run.json, metrics.json); writes nothing.

    \b
    clinpred compare runs/seed-1 runs/seed-2
    clinpred compare runs/* --format csv > runs.csv
    """
    from clinpred.core.report.compare import compare_runs

    echo_table(compare_runs(run_dirs), fmt)
