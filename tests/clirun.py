"""Running the clinpred CLI in-process, as a user would (exit status, stdout, stderr)."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

from attrs import define
from click.testing import CliRunner

from clinpred.cli.main import main


@define
class Result:
    code: int
    out: str
    err: str


def clinpred(*args: str, env: dict[str, str] | None = None) -> Result:
    """Invoke ``clinpred ARGS`` through the console-script entry point (error handling included)."""
    runner = CliRunner()

    def entry() -> None:
        main(list(args))

    import click

    command = click.Command("clinpred", callback=entry)
    result = runner.invoke(command, [], env=env, catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(args: list[str], **kwargs: Any) -> subprocess.Popen:
    """``python -m clinpred.cli.main ARGS`` as a child process that takes SIGINT as a terminal's
    Ctrl-C: its disposition is reset to the default, because a suite started in the background of a
    non-interactive shell (``pytest ... &``) passes SIGINT on ignored, and a Python started with
    SIGINT ignored never raises KeyboardInterrupt (the run would train on to the end)."""
    return subprocess.Popen([sys.executable, "-m", "clinpred.cli.main", *args], preexec_fn=_default_sigint, **kwargs)
