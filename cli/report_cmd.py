"""``clinpred report``: report.md and a self-contained report.html for a run directory."""

from __future__ import annotations

import click

from clinpred.cli.context import app
from clinpred.cli.output import TABLE_FORMATS, echo_table


@click.command()
@click.argument("run_dir", type=click.Path())
@click.option("--html/--no-html", default=True, show_default=True, help="Also write report.html (figures embedded).")
@click.option("--format", "fmt", type=click.Choice(TABLE_FORMATS), default=None,
              help="Also print the model comparison table on stdout: table, csv (every estimate as value, "
              "ci_low, ci_high), json or markdown; the 'Wrote ...' line then goes to stderr.")
@click.pass_context
def report(ctx: click.Context, run_dir: str, html: bool, fmt: str | None) -> None:
    """Write RUN_DIR/report.md and RUN_DIR/report.html: the comparison with CIs and DeLong tests,
    ROC, calibration and decision curves, confusion matrices, output diagnostics and the
    TRIPOD+AI / TRIPOD-LLM reporting items."""
    from clinpred.core.report.report import write_report

    files = write_report(run_dir, html=html, parse=app(ctx).registry.parse_output)
    click.echo(f"Wrote {files.markdown}" + (f" and {files.html}" if files.html else "")
               + f" ({len(files.figures)} figures in {files.markdown.parent / 'report_files'})", err=fmt is not None)
    if fmt is not None:
        from clinpred.core.report.model_table import run_model_table

        echo_table(run_model_table(run_dir), fmt)
