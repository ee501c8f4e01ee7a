"""Optional experiment tracking of a finished run (``[tracking]`` of model_configs.toml, or
``clinpred run --mlflow URI``): nothing is sent anywhere unless the user names a store.

The runner knows trackers only through :class:`RunTracker`: after a run has written its run
directory (and released it), it hands each tracker a :class:`FinishedRun` — run.json and
metrics.json as read back, the warnings, and the files that may be shared. Those never include a
patient row: predictions/, units/ and splits.json (patient ids, labels, per-patient scores) are
never shared; a report given to a tracker is written without example prompts or raw outputs
(the report writer's ``shareable`` copy), by a function the caller
supplies, because the run stage does not import the report stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from attrs import define, field

from clinpred.core.errors import ConfigError
from clinpred.core.tomlfile import check_keys, expect_type

#: the files of a run directory a tracker may receive (aggregates only; no patient row)
SHAREABLE_RUN_FILES = ("run.json", "metrics.json")


@define(frozen=True)
class TrackingSettings:
    """``[tracking]``: ``mlflow`` is a tracking URI (``file:/path``, ``http(s)://host``, ...);
    ``experiment`` the MLflow experiment's name; ``run_name`` the tracked run's (default: the run
    directory's name)."""

    mlflow: str | None = None
    experiment: str = "clinpred"
    run_name: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.mlflow)


def parse_tracking(table: Mapping[str, Any], where: str) -> TrackingSettings:
    """``[tracking]`` -> :class:`TrackingSettings`; one :class:`ConfigError` line per problem."""
    check_keys(table, ("mlflow", "experiment", "run_name"), where)
    for key, value in table.items():
        expect_type(value, str, where, key)
        if not value.strip():
            raise ConfigError(f"{where}: {key} is empty; give a value or leave the key out")
    return TrackingSettings(**dict(table))


@define(frozen=True)
class FinishedRun:
    """What a tracker receives: the run's records and the files it may share."""

    run_dir: Path
    run_info: dict[str, Any]
    metrics: dict[str, Any]
    files: tuple[Path, ...] = field(converter=tuple)  # shareable files (run.json, metrics.json, a report)
    base: Path | None = None  # the folder ``files`` are named relative to (default: run_dir)


class RunTracker(Protocol):
    """Logs a finished run somewhere the user named; returns one line saying where."""

    def log_run(self, run: FinishedRun) -> str: ...


#: writes a shareable report of a run directory into a folder; returns the files written
ReportWriter = Callable[[Path, Path], Sequence[Path]]


def tracker_for(settings: TrackingSettings) -> RunTracker:
    """The tracker of ``settings`` (its library is checked when the run is assembled)."""
    from clinpred.core.run.tracking_mlflow import MlflowTracker

    return MlflowTracker(settings.mlflow or "", settings.experiment, settings.run_name)


def require_tracking(settings: TrackingSettings) -> None:
    """Before anything runs: the tracking library is installed (else one line naming the extra)."""
    if not settings.enabled:
        return
    from clinpred.core.run.tracking_mlflow import require_mlflow

    require_mlflow()


def track_run(settings: TrackingSettings, run_dir: Path, report: ReportWriter | None = None) -> str:
    """Log the finished run in ``run_dir`` to the store ``settings`` names; the line saying where."""
    import tempfile

    from clinpred.core.run.rundir import read_json_file

    run_dir = Path(run_dir)
    run_info = read_json_file(run_dir / "run.json") or {}
    metrics = read_json_file(run_dir / "metrics.json") or {}
    with tempfile.TemporaryDirectory(prefix="clinpred-tracking-") as tmp:
        base = Path(tmp)
        files = []
        for name in SHAREABLE_RUN_FILES:
            source = run_dir / name
            if source.is_file():
                (base / name).write_bytes(source.read_bytes())
                files.append(base / name)
        if report is not None:
            files += [Path(p) for p in report(run_dir, base / "report")]
        return tracker_for(settings).log_run(FinishedRun(run_dir, run_info, metrics, files, base))


__all__ = ["FinishedRun", "ReportWriter", "RunTracker", "TrackingSettings",
           "parse_tracking", "require_tracking", "track_run", "tracker_for"]
