"""State shared by the commands of one invocation (global options, the lazily built registry)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from attrs import define, field

if TYPE_CHECKING:
    from clinpred.registry.registry import Registry


@define
class AppContext:
    plugin_paths: tuple[str, ...] = ()
    strict_plugins: bool = False
    verbosity: int = 0
    argv: tuple[str, ...] = ()  # the command line as given, for run.json and resume hints
    _registry: "Registry | None" = field(default=None, alias="_registry")

    @property
    def registry(self) -> "Registry":
        """The plugin registry, loaded on first use (``--strict-plugins`` applied here)."""
        if self._registry is None:
            from clinpred.registry.registry import load_registry

            self._registry = load_registry(plugin_paths=self.plugin_paths, strict=self.strict_plugins)
            for info in self._registry.failed_plugins():
                if self.verbosity >= 0:
                    click.echo(f"Warning: plugin {info.name!r} failed: {info.error}", err=True)
        return self._registry


def app(ctx: click.Context) -> AppContext:
    """The :class:`AppContext` of the root command."""
    obj = ctx.find_root().obj
    assert isinstance(obj, AppContext)
    return obj
