"""Showing run events on the terminal (rich progress bar for training, one line per unit)."""

from __future__ import annotations

from typing import Any

from clinpred.core.events import Event


class RunConsole:
    """An event sink for ``clinpred run``: quiet (-q), normal, or verbose (-v)."""

    def __init__(self, verbosity: int) -> None:
        from rich.console import Console

        self.verbosity = verbosity
        self.console = Console(stderr=True)
        self._progress: Any = None
        self._task: Any = None
        self._task_kind: str | None = None  # "training" or the phase the bar shows

    def __call__(self, event: Event) -> None:
        if event.kind == "train-progress":
            self._train(event)
            return
        if event.kind == "phase-progress":
            self._phase(event)
            return
        self._stop_bar()
        if self.verbosity < 0 and event.kind != "unit-failed":
            return
        if event.kind == "run-start":
            d = event.data
            self.console.print(f"[bold]clinpred run[/]: {d['n']} patients, {d['splits']} split(s), "
                               f"{len(d['models'])} model(s): {', '.join(d['models'])}")
        elif event.kind == "warning":
            self.console.print(f"[yellow]Warning[/]: {event.message}", highlight=False)
        elif event.kind == "unit-start":
            self.console.print(f"  {event.unit} ...")
        elif event.kind == "unit-skip":
            self.console.print(f"  {event.unit} [dim]already done (resumed)[/]")
        elif event.kind == "unit-done":
            seconds = event.data.get("seconds") or 0.0
            self.console.print(f"  {event.unit} [green]done[/] in {seconds:.1f} s")
        elif event.kind == "unit-failed":
            self.console.print(f"  {event.unit} [red]failed[/]: {event.message}", markup=True, highlight=False)
        elif event.kind in ("message", "model-load") and self.verbosity >= 1:
            self.console.print(f"    {event.message}")
        elif event.kind == "run-done":
            self.console.print(f"finished in {event.data['seconds']:.0f} s")

    def _train(self, event: Event) -> None:
        if self.verbosity < 0:
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        d = event.data
        if self._progress is not None and self._task_kind != "training":
            self._stop_bar()  # the frozen-trunk cache is built; training starts
        if self._progress is None:
            self._task_kind = "training"
            self._progress = Progress(
                TextColumn("    training"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=self.console, transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("train", total=d.get("total") or 1, info="")
        info = f"loss {d.get('loss', float('nan')):.3f}"
        if d.get("tokens_per_second"):
            info += f"  {d['tokens_per_second']:.0f} tok/s"
        if d.get("peak_memory_gb"):
            info += f"  {d['peak_memory_gb']:.2f} GB"
        if d.get("val_auroc") is not None:
            info += f"  val AUROC {d['val_auroc']:.3f}"
        self._progress.update(self._task, completed=d.get("step", 0), total=d.get("total") or 1, info=info)

    def _phase(self, event: Event) -> None:
        """A preparation phase (building the frozen-trunk cache) with its own bar and ETA."""
        if self.verbosity < 0:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        d = event.data
        if self._progress is None or self._task_kind != d.get("phase"):
            self._stop_bar()
            self._progress = Progress(
                TextColumn(f"    {d.get('phase', 'preparing')}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("examples"), TimeRemainingColumn(), console=self.console, transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("phase", total=d.get("total") or 1)
            self._task_kind = d.get("phase")
        self._progress.update(self._task, completed=d.get("done", 0), total=d.get("total") or 1)

    def _stop_bar(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._task_kind = None

    def close(self) -> None:
        self._stop_bar()


def fmt_ci(metric: dict[str, Any] | None, digits: int = 3) -> str:
    """'0.712 [0.650, 0.770]' (or '-' when undefined)."""
    if not metric or metric.get("value") is None:
        return "-"
    lo, hi = metric.get("ci") or (None, None)
    if lo is None or hi is None:
        return f"{metric['value']:.{digits}f}"
    return f"{metric['value']:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def comparison_rows(metrics: dict[str, Any]) -> list[list[str]]:
    """The comparison table of a run's metrics.json, best AUROC first; failed models last."""
    def value(m: dict[str, Any], key: str) -> str:
        v = m.get("metrics", {}).get(key, {}).get("value")
        return "-" if v is None else f"{v:.3f}"

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
        note = f"p={delong['p_value']:.3f} vs {delong['baseline']}" if delong and delong.get("p_value") is not None else ""
        rows.append([
            name, m["kind"], fmt_ci(m["metrics"].get("auroc")), value(m, "f1"), value(m, "recall"),
            value(m, "specificity"), value(m, "balance_gap"), value(m, "brier"),
            (f"{parse['failures']} parse failures; " if parse else "") + note,
        ])
    return rows


COMPARISON_COLUMNS = ["model", "kind", "AUROC [95% CI]", "F1", "recall", "specificity", "balance gap", "Brier", "notes"]
