"""``clinpred diagnose``: what did the models output? Parse failures, collapse, agreement."""

from __future__ import annotations

from typing import Any

import click

from clinpred.cli.context import app
from clinpred.cli.output import echo_json, print_table


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def summary_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, d in report["models"].items():
        parse = d.get("parse")
        think = (parse or {}).get("think_tags")
        prob, text = d.get("predicted_from_probability"), d.get("predicted_from_text")
        spread = d.get("p_yes")
        rows.append([
            name, d.get("kind") or "-", str(d["n"]), _pct(d.get("prevalence")),
            "-" if not parse else f"{parse['counts'].get('ok', 0)}/{parse['n']}",
            "-" if not think else _pct(think["rate"]),
            _pct(prob["positive_rate"]) if prob else "-", _pct(text["positive_rate"]) if text else "-",
            "-" if not spread else f"{spread['iqr']:.3f} / {spread['std']:.3f}",
            _pct(d["agreement"]["rate"]) if d.get("agreement") else "-",
            "; ".join(d["flags"]) or "ok",
        ])
    return rows


SUMMARY_COLUMNS = ["model", "kind", "n", "prevalence", "parsed ok", "think", "pred+ (prob)", "pred+ (text)",
                   "P(yes) IQR / SD", "agreement", "flags"]
METRIC_KEYS = ("accuracy", "recall", "specificity", "f1", "balanced_accuracy", "mcc")


def metric_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, d in report["models"].items():
        for source, m in (d.get("metrics") or {}).items():
            if m:
                rows.append([name, "P(yes) >= threshold" if source == "probability" else f"parsed text ({d['parse']['source']})",
                             f"{m['n']} ({_pct(m['coverage'])})", *(_num(m[k]) for k in METRIC_KEYS)])
    return rows


def _print(report: dict[str, Any]) -> None:
    print_table(f"Model outputs: {report['source']}", SUMMARY_COLUMNS, summary_rows(report))
    for name, d in report["models"].items():
        parse = d.get("parse")
        if not parse:
            continue
        counts = ", ".join(f"{s} {c}" for s, c in parse["counts"].items() if c)
        click.echo(f"\n{name}: parse statuses ({parse['source']}): {counts or 'none'}")
        for status, examples in parse["examples"].items():
            for text in examples:
                click.echo(f'  [{status}] "{text}"')
    rows = metric_rows(report)
    if rows:
        click.echo("")
        print_table("Metrics from probability labels and from parsed labels (n = rows with a label)",
                    ["model", "labels from", "n (coverage)", *METRIC_KEYS], rows)


@click.command()
@click.argument("path", type=click.Path())
@click.option("--family", metavar="F", help="Family whose plugin parses the outputs (required for files clinpred did not write).")
@click.option("--text-column", metavar="C", help="Column of the raw outputs (default: raw_output, output, text or response).")
@click.option("--label-column", metavar="C", default="label", show_default=True, help="Column of the true labels (0/1, yes/no).")
@click.option("--reparse", is_flag=True, help="Re-parse every output with the current plugins and recompute the metrics.")
@click.option("--examples", "per_kind", type=click.IntRange(min=0), default=3, show_default=True, help="Examples per failure kind.")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@click.pass_context
def diagnose(ctx: click.Context, path: str, family: str | None, text_column: str | None, label_column: str,
             reparse: bool, per_kind: int, as_json: bool) -> None:
    """Diagnose model outputs: PATH is a run directory, a predictions file, or a CSV/JSONL of raw outputs.

    Per model: parse statuses, think tags, predicted-positive rate vs prevalence (one-class
    collapse), the spread of P(yes), agreement of probability and parsed labels, and examples of
    each failure kind.
    """
    from clinpred.core.report.diagnose import diagnose as run_diagnosis
    from clinpred.core.report.outputs_io import read_outputs

    registry = app(ctx).registry
    if family:
        family = registry.family(family).name  # unknown names fail here, with the available ones
    source = read_outputs(path, text_column=text_column, label_column=label_column)
    report = run_diagnosis(source, parse=registry.parse_output, family=family, reparse=reparse, per_kind=per_kind)
    if as_json:
        echo_json(report)
    else:
        _print(report)
