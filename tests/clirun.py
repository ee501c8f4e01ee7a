"""Running the clinpred CLI in-process, as a user would (exit status, stdout, stderr)."""

from __future__ import annotations

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
