"""``clinpred models adapters``: the registered model adapters and their declared hyperparameters."""

from __future__ import annotations

import click

from clinpred.cli.context import app
from clinpred.cli.output import echo_json, print_table


@click.command("adapters")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def adapters(ctx: click.Context, names: tuple[str, ...], as_json: bool) -> None:
    """The model adapters of the loaded plugins: the baselines a run can name ([run] baselines,
    --baseline) and the methods of [[models]] entries, with each one's hyperparameters (the keys
    of [baselines.NAME] or of a [[models]] entry), their bounds and defaults."""
    registry = app(ctx).registry
    chosen = [registry.model_adapter(n) for n in names] if names else registry.model_adapters()
    rows = [{**a.describe(), "plugin": registry.model_plugin(a.name)} for a in chosen]
    if as_json:
        echo_json(rows)
        return
    print_table("Model adapters", ["name", "kind", "plugin", "uses an LLM", "default", "description"],
                [[r["name"], r["kind"], r["plugin"], "yes" if r["uses_llm"] else "", _default(r), r["description"]]
                 for r in rows])
    for r in rows if names else ():
        print_table(f"{r['name']}: hyperparameters", ["key", "type", "default", "allowed", "help"],
                    [[h["name"], h["type"], h["default"], h["allowed"], h["help"]] for h in r["hyperparameters"]])


def _default(row: dict) -> str:
    return "baseline" if row["default_baseline"] else "method" if row.get("default_method") else ""
