"""README "The CLI at a glance" and click agree: every command has a row, and every option of a
command appears in its row and every option in a row is one of the command's (the failure names
the command and the options that differ). The global options are checked against the line under
the table."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from clinpred.cli.main import cli

README = Path(__file__).resolve().parents[1] / "README.md"
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


def _section(text: str, heading: str) -> str:
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table row (``\\|`` is a literal bar)."""
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def _leaf_commands(group: click.Group, ctx: click.Context, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], click.Command]:
    out: dict[tuple[str, ...], click.Command] = {}
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        path = (*prefix, name)
        if isinstance(command, click.Group):
            out.update(_leaf_commands(command, ctx, path))
        else:
            out[path] = command
    return out


def _click_options(command: click.Command) -> list[tuple[str, ...]]:
    """Each option's names (``--generate/--no-generate`` is one option with both names), without --help."""
    return [tuple(p.opts) + tuple(p.secondary_opts) for p in command.params
            if isinstance(p, click.Option) and "--help" not in p.opts]


def _readme_rows(commands: dict[tuple[str, ...], click.Command]) -> dict[tuple[str, ...], set[str]]:
    """command path -> the options written in its README row (a cell may hold several commands)."""
    table = _section(README.read_text(encoding="utf-8"), "The CLI at a glance")
    rows: dict[tuple[str, ...], set[str]] = {}
    for line in table.splitlines():
        if not line.startswith("| `"):
            continue
        first = _cells(line)[0]
        for span in re.findall(r"`([^`]+)`", first):
            words = span.split()
            if words and words[0] == "clinpred":
                words = words[1:]
            path = tuple(words[:2]) if tuple(words[:2]) in commands else tuple(words[:1])
            assert path in commands, f"README row {span!r} names no clinpred command"
            rows.setdefault(path, set()).update(OPTION.findall(" ".join(words[len(path):])))
    return rows


@pytest.fixture(scope="module")
def commands() -> dict[tuple[str, ...], click.Command]:
    with click.Context(cli) as ctx:
        return _leaf_commands(cli, ctx)


def test_every_command_has_a_readme_row(commands: dict[tuple[str, ...], click.Command]) -> None:
    rows = _readme_rows(commands)
    missing = sorted(" ".join(p) for p in commands if p not in rows)
    assert not missing, f"README 'The CLI at a glance' has no row for: {', '.join(missing)}"


def _differences(rows: dict[tuple[str, ...], set[str]], commands: dict[tuple[str, ...], click.Command]) -> list[str]:
    problems = []
    for path, written in sorted(rows.items()):
        options = _click_options(commands[path])
        names = {n for names in options for n in names}
        undocumented = sorted(names_[0] for names_ in options if not set(names_) & written)
        unknown = sorted(written - names)
        if undocumented or unknown:
            problems.append(f"clinpred {' '.join(path)}: not in README: {undocumented or 'none'}; "
                            f"in README but not an option: {unknown or 'none'}")
    return problems


def test_readme_rows_list_exactly_each_commands_options(commands: dict[tuple[str, ...], click.Command]) -> None:
    problems = _differences(_readme_rows(commands), commands)
    assert not problems, "README and --help differ:\n" + "\n".join(problems)


def test_a_new_option_without_a_readme_entry_is_caught(commands: dict[tuple[str, ...], click.Command]) -> None:
    rows = _readme_rows(commands)
    run = commands[("run",)]
    grown = click.Command("run", params=[*run.params, click.Option(["--colour"], type=click.Choice(["red"]))])
    assert _differences(rows, {**commands, ("run",): grown}) == [
        "clinpred run: not in README: ['--colour']; in README but not an option: none"]


def test_global_options_line(commands: dict[tuple[str, ...], click.Command]) -> None:
    text = _section(README.read_text(encoding="utf-8"), "The CLI at a glance")
    line = next(p for p in text.split("\n\n") if p.startswith("Global options:"))
    line = line.split("Environment:")[0]
    written = set(OPTION.findall(line))
    options = _click_options(cli)
    undocumented = sorted(n[0] for n in options if not set(n) & written and "--version" not in n)
    unknown = sorted(written - {n for names in options for n in names})
    assert not undocumented and not unknown, f"global options: not in README {undocumented}; unknown {unknown}"


def test_the_parser_sees_what_it_should() -> None:
    """The checks above can fail: a row's options are read, flags pairs count once, cells split on bars."""
    assert OPTION.findall("[--html/--no-html] [--address auto\\|HOST:PORT] -o PATH [--n 577]") == [
        "--html", "--no-html", "--address", "-o", "--n"]
    assert _cells("| `a [--x \\| --y]` | b |") == ["`a [--x | --y]`", "b"]
    fake = click.Command("fake", params=[click.Option(["--one"]), click.Option(["--two/--no-two"])])
    assert _click_options(fake) == [("--one",), ("--two", "--no-two")]
