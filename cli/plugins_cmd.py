"""``clinpred families`` and ``clinpred plugins``: what is installed and where it came from."""

from __future__ import annotations

import click

from clinpred.cli.context import app
from clinpred.cli.output import echo_json, print_table


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def families(ctx: click.Context, as_json: bool) -> None:
    """List the model families the loaded plugins provide."""
    registry = app(ctx).registry
    rows = [
        {
            "name": spec.name,
            "aliases": list(spec.aliases),
            "plugin": registry.plugin_of(spec),
            "default_model": spec.default_model,
            "model_patterns": list(spec.model_patterns),
            "catalog": [entry.name for entry in spec.catalog],
            "description": spec.description,
        }
        for spec in registry.families()
    ]
    if as_json:
        echo_json(rows)
        return
    print_table(
        "Model families",
        ["family", "aliases", "plugin", "default model"],
        [[r["name"], ", ".join(r["aliases"]), r["plugin"], r["default_model"]] for r in rows],
    )


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List plugins: version, source (core, builtin, entrypoint, local), status, hooks, and the
    families and models each registered."""
    infos = app(ctx).registry.plugins()
    if as_json:
        echo_json([info.as_dict() for info in infos])
        return
    print_table(
        "Plugins",
        ["plugin", "version", "source", "status", "families", "models", "hooks / error"],
        [
            [
                i.name,
                i.version or "",
                i.source,
                i.status,
                ", ".join(i.families),
                ", ".join(i.models),
                i.error if i.error else ", ".join(h.removeprefix("clinpred_") for h in i.hooks),
            ]
            for i in infos
        ],
    )
