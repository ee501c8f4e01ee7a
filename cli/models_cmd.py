"""``clinpred models``: list, pull and import models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from clinpred.cli.context import app
from clinpred.cli.output import echo_json, print_table


def _source(entry: Any) -> str:
    from clinpred.core.weights.model_source import catalog_source

    return catalog_source(entry)


def model_rows(registry: Any) -> list[dict[str, Any]]:
    """Catalog entries of every family, then models imported into the cache."""
    from clinpred.core.weights import cache
    from clinpred.core.weights.model_source import local_path, model_info

    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for spec, entry in registry.catalog():
        path = local_path(entry)
        packed = entry.gguf_wheel or entry.gguf_chunks
        size = cache.dir_size(path) if path else (packed.size if packed else None)
        rows.append({
            "name": entry.name,
            "family": spec.name,
            "source": _source(entry),
            "local_path": str(path) if path else None,
            "size_bytes": size,
            "size": cache.human_size(size),
            "default": spec.default_model == entry.name,
            "license": entry.license,
            "description": entry.description,
        })
        seen.add(entry.name)
    for name, path in cache.cached_models().items():
        if name in seen:
            continue
        info = model_info(path)
        size = cache.dir_size(path)
        rows.append({
            "name": name,
            "family": info.get("family"),
            "source": info.get("source", "local"),
            "local_path": str(path),
            "size_bytes": size,
            "size": cache.human_size(size),
            "default": False,
            "license": info.get("license") or "",
            "description": info.get("gguf_name") or "",
        })
    return rows


@click.group()
def models() -> None:
    """List, pull and import models (cached under $CLINPRED_HOME or ~/.cache/clinpred)."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_models(ctx: click.Context, as_json: bool) -> None:
    """Catalog models of every family and imported models, with their local path if present."""
    rows = model_rows(app(ctx).registry)
    if as_json:
        echo_json(rows)
        return
    print_table(
        "Models",
        ["name", "family", "source", "size", "license", "local path"],
        [[r["name"] + (" *" if r["default"] else ""), r["family"], r["source"], r["size"], r["license"] or "-",
          r["local_path"] or "(not pulled)"] for r in rows],
    )
    click.echo("* the family's default model; `clinpred models pull NAME` fetches one.")


class _RichProgress:
    """Adapter from the core's progress(stage, done, total) callback to rich bars."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total)
        self.progress.update(self.tasks[stage], completed=done, total=total)


def _run_with_progress(quiet: bool, fn: Any) -> Path:
    if quiet:
        return fn(None)
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, transient=False) as progress:
        return fn(_RichProgress(progress))


@models.command()
@click.argument("name")
@click.pass_context
def pull(ctx: click.Context, name: str) -> None:
    """Download and convert the catalog model NAME (or a family's default model)."""
    from clinpred.core.errors import ModelError
    from clinpred.core.weights.model_source import pull_catalog_entry

    registry = app(ctx).registry
    catalog = {entry.name: entry for _spec, entry in registry.catalog()}
    entry = catalog.get(name)
    if entry is None:
        try:
            spec = registry.family(name)
        except Exception:  # noqa: BLE001 - not a family either: say what exists
            spec = None
        entry = catalog.get(spec.default_model) if spec and spec.default_model else None
    if entry is None:
        from clinpred.core.tomlfile import did_you_mean

        raise ModelError(
            f"no catalog model named {name!r}{did_you_mean(name, sorted(catalog))}; "
            "see `clinpred models list`"
        )
    # a cached copy whose files changed since they were converted is fetched and converted again
    path = _run_with_progress(app(ctx).verbosity < 0, lambda cb: pull_catalog_entry(entry, cb, refetch_changed=True))
    click.echo(f"{entry.name}: {path}")


@models.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--name", required=True, help="Name to store the model under (lowercase).")
@click.option("--family", required=True, help="The model's family (see `clinpred families`).")
@click.option("--force", is_flag=True, help="Replace an imported model of the same name (never a catalog model).")
@click.pass_context
def import_(ctx: click.Context, file: str, name: str, family: str, force: bool = False) -> None:
    """Convert a local llama.cpp GGUF file of a supported family into the cache.

    Tensors F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the K-quants Q2_K-Q6_K are read;
    architectures and pre-tokenizers are those the family plugins declare. A name already in the
    cache is refused unless --force; a catalog model's name is always refused.
    """
    from clinpred.core.weights.model_source import import_gguf

    from clinpred.core.weights.gguf_formats import from_families

    registry = app(ctx).registry
    spec = registry.family(family)
    formats = from_families([spec], scope=f"family {spec.name!r}")  # only what the family declares
    reserved = [entry.name for _spec, entry in registry.catalog()]
    path = _run_with_progress(app(ctx).verbosity < 0,
                              lambda cb: import_gguf(file, name, spec.name, cb, formats=formats, force=force,
                                                     reserved=reserved))
    click.echo(f"{name} ({spec.name}): {path}")


def _add_adapters() -> None:
    from clinpred.cli.adapters_cmd import adapters

    models.add_command(adapters)


_add_adapters()
