"""Showing run events on the terminal (rich progress bar for training, one line per unit)."""

from __future__ import annotations

from typing import Any

from clinpred.core.events import Event
from clinpred.core.report.tables import fixed, p_value_text


class RunConsole:
    """An event sink for ``clinpred run``: quiet (-q), normal, or verbose (-v)."""

    def __init__(self, verbosity: int, *, parallel: bool = False) -> None:
        from rich.console import Console

        self.verbosity = verbosity
        self._parallel = parallel  # a parallel executor: lines and bars say which unit and node
        self.console = Console(stderr=True)
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}  # unit -> progress bar (parallel executors train several)
        self._kinds: dict[str, str] = {}  # unit -> what its bar shows: "training" or a phase
        self._warned: set[tuple[str, str]] = set()  # (code, model): a model's per-unit warning is shown once

    def __call__(self, event: Event) -> None:
        if event.kind == "train-progress":
            self._train(event)
            return
        if event.kind == "phase-progress":
            self._phase(event)
            return
        if event.kind in ("unit-done", "unit-failed", "unit-skip", "trial-done", "run-done"):
            self._drop_bar(event.unit if event.kind != "run-done" else None)
        if self.verbosity < 0 and event.kind != "unit-failed":
            return
        node = event.data.get("node") if self._parallel else None
        where = f" [dim]on {node}[/]" if node else ""
        if event.kind == "run-start":
            d = event.data
            self.console.print(f"[bold]clinpred run[/]: {d['n']} patients, {d['splits']} split(s), "
                               f"{len(d['models'])} model(s): {', '.join(d['models'])}")
        elif event.kind == "warning":
            code = event.data.get("code")
            if code:  # e.g. every split of a model trains under one epoch: say it once
                key = (str(code), event.unit.split("/", 1)[0])
                if key in self._warned:
                    return
                self._warned.add(key)
            self.console.print(f"[yellow]Warning[/]: {event.message}", highlight=False)
        elif event.kind == "unit-start":
            self.console.print(f"  {event.unit} ...{where}")
        elif event.kind == "unit-skip":
            self.console.print(f"  {event.unit} [dim]already done (resumed)[/]")
        elif event.kind == "unit-done":
            seconds = event.data.get("seconds") or 0.0
            self.console.print(f"  {event.unit} [green]done[/] in {seconds:.1f} s{where}")
        elif event.kind == "trial-done":  # one trial of a nested search: its values and result
            self.console.print(f"  {event.unit} {event.message}{where}", highlight=False)
        elif event.kind == "unit-failed":
            self.console.print(f"  {event.unit} [red]failed[/]: {event.message}", markup=True, highlight=False)
        elif event.kind in ("message", "model-load") and self.verbosity >= 1:
            self.console.print(f"    {event.message}")
        elif event.kind == "run-done":
            self.console.print(f"finished in {event.data['seconds']:.0f} s")

    def _bar(self, unit: str, kind: str, label: str, total: int) -> Any:
        """The unit's bar for ``kind`` ("training" or a phase), replacing a bar of another kind."""
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        if self._progress is None:
            self._progress = Progress(
                TextColumn("    {task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=self.console, transient=True,
            )
            self._progress.start()
        current = self._tasks.get(unit)
        if current is not None and self._kinds.get(unit) != kind:
            self._progress.remove_task(self._tasks.pop(unit))  # e.g. the trunk cache is built; training starts
        if unit not in self._tasks:
            self._tasks[unit] = self._progress.add_task(f"{label} {unit}" if self._parallel else label,
                                                        total=total or 1, info="")
            self._kinds[unit] = kind
        return self._tasks[unit]

    def _phase(self, event: Event) -> None:
        """A phase other than training steps (building the frozen-trunk cache, scoring, generation)
        with its own bar, count and ETA."""
        if self.verbosity < 0:
            return
        d = event.data
        phase = d.get("phase", "preparing")
        task = self._bar(event.unit, phase, d.get("label", phase), d.get("total") or 1)
        self._progress.update(task, completed=d.get("done", 0), total=d.get("total") or 1,
                              info=d.get("what", "examples"))

    def _train(self, event: Event) -> None:
        if self.verbosity < 0:
            return
        d = event.data
        epochs = d.get("epochs")
        label = f"training ({epochs:.2g} epoch{'' if epochs == 1 else 's'})" if isinstance(epochs, (int, float)) \
            else "training"
        task = self._bar(event.unit, "training", label, d.get("total") or 1)
        info = f"loss {d.get('loss', float('nan')):.3f}"
        if d.get("tokens_per_second"):
            info += f"  {d['tokens_per_second']:.0f} tok/s"
        if d.get("peak_memory_gb"):
            info += f"  {d['peak_memory_gb']:.2f} GB"
        if d.get("val_auroc") is not None:
            info += f"  val AUROC {d['val_auroc']:.3f}"
        if self._parallel and d.get("node"):
            info += f"  on {d['node']}"
        self._progress.update(task, completed=d.get("step", 0), total=d.get("total") or 1, info=info)

    def _drop_bar(self, unit: str | None) -> None:
        if self._progress is None:
            return
        for key in [k for k in self._tasks if unit is None or k == unit]:
            self._progress.remove_task(self._tasks.pop(key))
            self._kinds.pop(key, None)
        if not self._tasks:
            self._stop_bar()

    def _stop_bar(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._tasks = {}
            self._kinds = {}

    def close(self) -> None:
        self._stop_bar()


def fmt_ci(metric: dict[str, Any] | None, digits: int = 3) -> str:
    """'0.712 [0.650, 0.770]', '2.31 [0.64, inf)' for an open-ended interval (or '-' when undefined)."""
    from clinpred.core.evaluation.intervals import format_interval

    return format_interval(metric, digits)


def comparison_rows(metrics: dict[str, Any]) -> list[list[str]]:
    """The comparison table of a run's metrics.json, best AUROC first; failed models last."""
    def value(m: dict[str, Any], key: str) -> str:
        v = m.get("metrics", {}).get(key, {}).get("value")
        return fixed(v, 3)

    def order(item: tuple[str, dict[str, Any]]) -> tuple[int, float]:
        name, m = item
        auroc = m.get("metrics", {}).get("auroc", {}).get("value")
        return (0 if m.get("status") == "done" else 1, -(auroc if auroc is not None else -1))

    rows = []
    for name, m in sorted(metrics["models"].items(), key=order):
        if m.get("status") != "done":
            rows.append([name, m["kind"], "failed", "", "", "", "", "", m.get("error", "")])
            continue
        parse = m.get("parse")
        delong = m.get("delong_vs_best_baseline")
        p_text = p_value_text(delong.get("p_value")) if delong else "-"
        note = (f"p{p_text.replace(' ', '') if p_text.startswith('<') else '=' + p_text} vs {delong['baseline']}"
                if delong and delong.get("p_value") is not None else "")
        rows.append([
            name, m["kind"], fmt_ci(m["metrics"].get("auroc")), value(m, "f1"), value(m, "recall"),
            value(m, "specificity"), value(m, "balance_gap"), value(m, "brier"),
            (f"{parse['failures']} parse failures; " if parse else "") + note,
        ])
    return rows


COMPARISON_COLUMNS = ["model", "kind", "AUROC [95% CI]", "F1", "recall", "specificity", "balance gap", "Brier", "notes"]
