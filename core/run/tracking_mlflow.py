"""A finished run logged to an MLflow tracking store (the :class:`~clinpred.core.run.tracking.RunTracker`
of ``[tracking] mlflow = "URI"``).

One MLflow run per clinpred run, in the experiment named by the settings: parameters (the
evaluation settings, the dataset's size and sha256, each model's kind and hyperparameters as
``MODEL.KEY``), metrics (each model's metrics with their CI limits as ``MODEL.METRIC``,
``MODEL.METRIC.ci_low``, ``MODEL.METRIC.ci_high``, and the Bayes-optimal AUROC of a synthetic
cohort), tags (clinpred's version, the run directory, the warnings' codes, failed models) and the
shareable files as artifacts (run.json, metrics.json, warnings.json, a report without patient
rows). MLflow is imported here only, with its usage telemetry off (``MLFLOW_DISABLE_TELEMETRY``,
``DO_NOT_TRACK``) unless the user set those variables; a file store the user names is allowed
although MLflow 3 keeps file stores in maintenance mode (``MLFLOW_ALLOW_FILE_STORE``).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from clinpred.core.errors import RunError, UserError

#: the extra that installs the MLflow client
MLFLOW_EXTRA = "clinpred[mlflow]"

#: MLflow's limits: a parameter value's length; key characters (others become "_")
MAX_PARAM = 6000
_KEY = re.compile(r"[^\w\-. /]")


def _quiet_environment(uri: str) -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    if uri.startswith("file:") or "://" not in uri:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # the user named this file store


def shown(uri: str) -> str:
    """``uri`` without a password (``https://user:secret@host`` -> ``https://user:***@host``)."""
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", uri)


def require_mlflow() -> None:
    """MLflow's client is installed, else one :class:`UserError` line naming the extra."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise UserError(f"[tracking] mlflow (--mlflow) needs MLflow's client: pip install '{MLFLOW_EXTRA}'") from None


def key(*parts: str) -> str:
    """An MLflow key from ``parts`` joined by dots (characters MLflow refuses become ``_``)."""
    return _KEY.sub("_", ".".join(parts))


def run_params(run_info: dict[str, Any]) -> dict[str, str]:
    """The tracked parameters of a run (from run.json)."""
    out: dict[str, Any] = {}
    for name, value in (run_info.get("evaluation") or {}).items():
        out[key("evaluation", name)] = value
    dataset = run_info.get("dataset") or {}
    for name in ("sha256", "n", "events"):
        if name in dataset:
            out[key("dataset", name)] = dataset[name]
    out["dataset.features"] = len(dataset.get("features") or [])
    for name, adapter in (run_info.get("adapters") or {}).items():
        out[key(name, "adapter")] = adapter.get("adapter")
        out[key(name, "kind")] = adapter.get("kind")
        for hyper, value in (adapter.get("hyperparameters") or {}).items():
            out[key(name, hyper)] = value
    for model in run_info.get("models") or []:
        for field in ("model_id", "family"):
            if model.get(field):
                out[key(model["name"], field)] = model[field]
    return {k: (json.dumps(v) if isinstance(v, (dict, list)) else str(v))[:MAX_PARAM] for k, v in out.items()}


def run_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The tracked metrics: every model's estimates with their CI limits."""
    out: dict[str, float] = {}
    for name, entry in (metrics.get("models") or {}).items():
        for metric, value in (entry.get("metrics") or {}).items():
            if not isinstance(value, dict) or not isinstance(value.get("value"), (int, float)):
                continue
            out[key(name, metric)] = float(value["value"])
            ci = value.get("ci") or []
            for bound, limit in zip(("ci_low", "ci_high"), ci):
                if isinstance(limit, (int, float)):
                    out[key(name, metric, bound)] = float(limit)
        if isinstance(entry.get("threshold"), (int, float)):
            out[key(name, "threshold")] = float(entry["threshold"])
    if isinstance(metrics.get("bayes_optimal_auroc"), (int, float)):
        out["bayes_optimal_auroc"] = float(metrics["bayes_optimal_auroc"])
    return {k: v for k, v in out.items() if v == v}  # NaN is not a metric


class MlflowTracker:
    """Logs a :class:`~clinpred.core.run.tracking.FinishedRun` as one MLflow run (see the module docstring)."""

    def __init__(self, uri: str, experiment: str = "clinpred", run_name: str | None = None) -> None:
        self.uri, self.experiment, self.run_name = uri, experiment, run_name

    def log_run(self, run: Any) -> str:
        _quiet_environment(self.uri)
        require_mlflow()
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient

        try:
            client = MlflowClient(tracking_uri=self.uri)
            found = client.get_experiment_by_name(self.experiment)
            experiment = found.experiment_id if found else client.create_experiment(self.experiment)
            warnings = run.metrics.get("warnings") or []
            failed = sorted(n for n, m in (run.metrics.get("models") or {}).items() if m.get("status") != "done")
            tags = {"clinpred.version": str((run.run_info.get("versions") or {}).get("clinpred")),
                    "clinpred.run_dir": str(run.run_dir.resolve()),
                    "clinpred.protocol": str(run.metrics.get("protocol", "")),
                    "clinpred.reference": str(run.metrics.get("best_baseline") or ""),
                    "clinpred.warnings": ", ".join(sorted({w.get("code", "") for w in warnings})) or "none",
                    "clinpred.failed_models": ", ".join(failed) or "none"}
            tracked = client.create_run(experiment, run_name=self.run_name or run.run_dir.name, tags=tags)
            run_id = tracked.info.run_id
            stamp = int(time.time() * 1000)
            params = [Param(k, v) for k, v in run_params(run.run_info).items()]
            metrics = [Metric(k, v, stamp, 0) for k, v in run_metrics(run.metrics).items()]
            for start in range(0, max(len(params), len(metrics), 1), 100):  # MLflow's batch limits
                client.log_batch(run_id, metrics=metrics[start:start + 100], params=params[start:start + 100],
                                 tags=[RunTag("clinpred.tracked", "true")] if start == 0 else [])
            base = run.base or run.run_dir
            (base / "warnings.json").write_text(json.dumps(warnings, indent=2))
            for path in [*run.files, base / "warnings.json"]:
                folder = path.parent.relative_to(base).as_posix() if path.parent != base else None
                client.log_artifact(run_id, str(path), artifact_path=folder)
            client.set_terminated(run_id)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - any store failure is one line; the run is saved
            raise RunError(f"MLflow tracking at {shown(self.uri)} failed ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:200] if str(exc) else 'no message'}); the run itself is "
                           "complete in its run directory") from None
        return f"MLflow run {run_id} in experiment {self.experiment!r} at {shown(self.uri)}"


__all__ = ["MLFLOW_EXTRA", "MlflowTracker", "key", "require_mlflow", "run_metrics", "run_params", "shown"]
