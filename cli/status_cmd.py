"""``clinpred status``: follow a running (or interrupted) run from another terminal."""

from __future__ import annotations

import time
from typing import Any

import click

from clinpred.cli.output import echo_json, print_table


def duration(seconds: float | None) -> str:
    """'1h 05m', '4m 10s', '12 s' (or '?')."""
    if seconds is None:
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s} s"


def _current_line(current: dict[str, Any]) -> str:
    parts = [current.get("unit", "?")]
    if current.get("phase"):  # building the frozen-trunk cache, scoring, generation
        label = current.get("label") or f"building the {current['phase']}"
        parts.append(f"{label}: {current.get('done', '?')}/{current.get('total', '?')} {current.get('what', 'examples')}")
    if current.get("step") is not None:
        step = f"step {current['step']}/{current.get('total', '?')}"
        if isinstance(current.get("epoch"), (int, float)) and isinstance(current.get("epochs"), (int, float)):
            step += f" (epoch {current['epoch']:.2f} of {current['epochs']:.2g})"
        parts.append(step)
    if isinstance(current.get("loss"), (int, float)):
        parts.append(f"loss {current['loss']:.4f}")
    if current.get("val_auroc") is not None:
        parts.append(f"val AUROC {current['val_auroc']:.3f}")
    if current.get("tokens_per_second"):
        parts.append(f"{current['tokens_per_second']:.0f} tok/s")
    if current.get("peak_memory_gb"):
        parts.append(f"peak {current['peak_memory_gb']:.2f} GB")
    return "  ".join(parts)


def _print(s: dict[str, Any]) -> None:
    proc = {True: "alive", False: "not running", None: "unknown"}[s["process_alive"]]
    head = f"Run {s['run_dir']}: {s.get('summary', s['state'])}"
    if s["pid"] is not None and s["state"] != "complete":
        head += f" (pid {s['pid']} {proc})"
    if s["state"] == "complete" and s["seconds"] is not None:
        head += f" in {duration(s['seconds'])}"
    click.echo(head)
    if s["started"]:
        click.echo(f"  started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(s['started']))}"
                   + (f", running for {duration(s['elapsed_seconds'])}" if s["elapsed_seconds"] is not None else ""))
    if s["seconds_since_update"] is not None:
        click.echo(f"  last update {duration(s['seconds_since_update'])} ago")
    c = s["counts"]
    line = f"  units: {c['done']} done, {c['running']} running, {c['failed']} failed, {c['pending']} pending"
    if c["interrupted"]:
        line += f", {c['interrupted']} interrupted"
    click.echo(line + f" (of {s['total_units']})")
    running = s.get("running") or {}
    if len(running) > 1 or any(r.get("node") for r in running.values()):
        for entry in running.values():
            line = _current_line(entry)
            if entry.get("node"):
                line += f"  on {entry['node']}"
            if entry.get("eta_left_seconds") is not None:
                line += f"  ETA {duration(entry['eta_left_seconds'])}"
            click.echo(f"  running: {line}")
    elif s["current"]:
        click.echo(f"  current: {_current_line(s['current'])}")
    eta = s["eta"]
    if s["state"] == "running" and (eta["current_unit_seconds"] is not None or eta["run_seconds"] is not None):
        what = f"the {s['current']['phase']}" if (s["current"] or {}).get("phase") else "current unit's training"
        text = f"  ETA: {what} {duration(eta['current_unit_seconds'])}"
        if eta["run_seconds"] is not None:
            text += f"; run at least {duration(eta['run_seconds'])}" if eta["units_without_estimate"] else \
                f"; run ~{duration(eta['run_seconds'])}"
            if eta["units_without_estimate"]:
                text += f" (+{eta['units_without_estimate']} unit(s) with no estimate yet)"
        click.echo(text)
    if s["state"] == "interrupted":
        click.echo(f"  continue with: clinpred run ... --out {s['run_dir']} --resume")
    rows = []
    for key, unit in s["units"].items():
        secs = unit.get("seconds")
        if secs is None and isinstance(unit.get("started"), (int, float)) and isinstance(unit.get("finished"), (int, float)):
            secs = unit["finished"] - unit["started"]
        if secs is None and unit.get("state") == "running" and isinstance(unit.get("started"), (int, float)):
            secs = time.time() - unit["started"]
        note = unit.get("reason", "") if unit.get("state") == "failed" else ("resumed" if unit.get("resumed") else
                                                                              unit.get("note", ""))
        rows.append([key, unit.get("state", "?"), duration(secs) if secs is not None else "", unit.get("node", ""), note])
    print_table(None, ["unit", "state", "time", "node", "reason / note"], rows)


@click.command()
@click.argument("run_dir", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
def status(run_dir: str, as_json: bool) -> None:
    """Show a running or interrupted run: units done / running / failed / pending, the current
    iteration and loss, an ETA, and whether the run's process is alive. Only reads RUN_DIR."""
    from clinpred.core.run.status_view import read_run_status

    state = read_run_status(run_dir)
    if as_json:
        echo_json(state)
    else:
        _print(state)
