"""The Python API for notebooks: ``clinpred.run(...)`` and ``clinpred.load_run(RUN_DIR)``.

``run`` takes the options of ``clinpred run`` as keyword arguments, builds the same
:class:`~clinpred.core.run.runner.RunRequest` through the same engine function
(:func:`~clinpred.core.run.assemble.build_request`) and returns a :class:`RunResults`::

    import clinpred

    results = clinpred.run(baselines_only=True, cv=5, out="runs/notebook")
    results.table()          # the comparison as a pandas DataFrame, best AUROC first
    results.metrics          # metrics.json, parsed
    results.report()         # writes report.md / report.html, returns the HTML path

Errors are :class:`clinpred.core.errors.ClinpredError` subclasses with the CLI's one-line messages.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

from attrs import define

#: metrics of the comparison table, in its column order
TABLE_METRICS = ("auroc", "auprc", "brier", "calibration_intercept", "calibration_slope", "accuracy", "f1",
                 "recall", "specificity", "balanced_accuracy", "mcc", "balance_gap")


def _names(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _progress(event: Any) -> None:
    """A notebook's progress: one line per finished or failed unit, and the warnings."""
    if event.kind == "unit-done":
        seconds = event.data.get("seconds")
        print(f"  {event.unit} done" + (f" in {seconds:.1f} s" if seconds else ""), file=sys.stderr)
    elif event.kind in ("unit-failed", "warning"):
        print(f"  {event.unit + ': ' if event.unit else ''}{event.message}", file=sys.stderr)


def run(*, config: str | Path | None = None, data: str | Path | None = None, out: str | Path | None = None,
        family: str | Sequence[str] | None = None, model: str | Sequence[str] | None = None,
        method: str | Sequence[str] | None = None,
        baseline: str | Sequence[str] | None = None, baselines_only: bool = False, no_baselines: bool = False,
        cv: int | None = None, repeats: int | None = None, seed: int | None = None, iters: int | None = None,
        generate: bool | None = None, store_prompts: bool | None = None, resume: bool = False,
        search: bool = False, trials: int | None = None, executor: str | None = None, jobs: int | None = None,
        address: str | None = None, plugins: Iterable[str] = (), strict_plugins: bool = False,
        progress: bool = True, mlflow: str | None = None) -> "RunResults":
    """Run a comparison, as ``clinpred run`` does with the same options (``family``, ``model``,
    ``method`` and ``baseline`` take one name or a list; ``plugins``: local plugin files, as ``--plugin``). With
    no arguments: the synthetic cohort, the embedded default model and the default baselines.
    ``progress`` prints a line per finished unit to stderr; ``mlflow`` logs the finished run to that
    MLflow tracking URI (as ``--mlflow``)."""
    from clinpred.core.bounds import CV_FOLDS, CV_REPEATS, JOBS, NUM_ITERS, SEARCH_TRIALS, SEED
    from clinpred.core.events import ignore
    from clinpred.core.run.assemble import RunChoices, build_executor, build_request, worker_ref
    from clinpred.core.run.config_dataset import load_config_file
    from clinpred.core.run.runner import Runner
    from clinpred.registry.registry import load_registry

    for key, value, bound in (("cv", cv, CV_FOLDS), ("repeats", repeats, CV_REPEATS), ("seed", seed, SEED),
                              ("iters", iters, NUM_ITERS), ("trials", trials, SEARCH_TRIALS), ("jobs", jobs, JOBS)):
        if value is not None:
            bound.check(value, "clinpred.run()", key)
    plugin_paths = tuple(str(p) for p in plugins)
    registry = load_registry(plugin_paths, strict=strict_plugins)
    choices = RunChoices(config=config, data=data, out=out, families=_names(family), models=_names(model),
                         methods=_names(method),
                         baselines=_names(baseline) or None, baselines_only=baselines_only, no_baselines=no_baselines,
                         cv=cv, repeats=repeats, seed=seed, iters=iters, generate=generate, store_prompts=store_prompts,
                         resume=resume, search=search, trials=trials, executor=executor, jobs=jobs, address=address,
                         mlflow=mlflow, command=("clinpred.run", *(f"{k}={v!r}" for k, v in _given(locals()).items())))
    loaded = load_config_file(config, models=registry)
    request = build_request(choices, registry, loaded)
    executor_obj = build_executor(loaded, choices, worker_ref(plugin_paths, strict_plugins))
    from clinpred.core.report.report import shareable_report_writer

    summary = Runner(request, registry, _progress if progress else ignore, executor=executor_obj,
                     report=shareable_report_writer(registry.parse_output)).run()
    from clinpred.core.run.rundir import read_json_file

    return RunResults(summary.out, read_json_file(summary.out / "metrics.json"))  # as written, parsed


def _given(args: dict[str, Any]) -> dict[str, Any]:
    """The options a call set (for run.json's ``command``)."""
    defaults = {"progress": True, "strict_plugins": False, "plugins": (), "resume": False, "search": False,
                "baselines_only": False, "no_baselines": False}
    return {k: v for k, v in args.items() if k in run.__kwdefaults__ and v is not None
            and v != defaults.get(k, None) and k != "progress"}


def synthetic_cohort(n: int = 577, seed: int = 42) -> Any:
    """The synthetic retained-placenta cohort as ``clinpred data synth`` writes it (a DataFrame:
    patient_id, the features, manual_removal)."""
    import pandas as pd

    from clinpred.core.bounds import SEED, SYNTH_PATIENTS
    from clinpred.core.data.synthetic import cohort_csv, generate_cohort

    SYNTH_PATIENTS.check(n, "clinpred.synthetic_cohort()", "n")
    SEED.check(seed, "clinpred.synthetic_cohort()", "seed")
    import io

    return pd.read_csv(io.BytesIO(cohort_csv(generate_cohort(n=n, seed=seed)[0])))


def load_run(run_dir: str | Path) -> "RunResults":
    """The results of a finished run directory (one clear error for an unfinished or missing one)."""
    from clinpred.core.errors import DataError
    from clinpred.core.report.unfinished import refuse_unfinished
    from clinpred.core.run.rundir import read_json_file

    path = Path(run_dir)
    if not path.is_dir():
        raise DataError(f"{path}: no such run directory; give RUN_DIR of `clinpred run`")
    refuse_unfinished(path, "load_run")
    metrics = read_json_file(path / "metrics.json")
    if not isinstance(metrics, dict) or not isinstance(metrics.get("models"), dict):
        raise DataError(f"{path}: no readable metrics.json; give RUN_DIR of a finished `clinpred run`")
    return RunResults(path, metrics)


@define
class RunResults:
    """A finished run: its directory and its parsed ``metrics.json``."""

    run_dir: Path
    metrics: dict[str, Any]

    @property
    def warnings(self) -> list[str]:
        return [w["message"] for w in self.metrics.get("warnings", [])]

    def table(self) -> Any:
        """The comparison table as a pandas DataFrame, one row per model (best AUROC first; failed
        models last): kind, family, status, n, events, each metric with its 95% CI
        (``auroc``, ``auroc_ci_low``, ``auroc_ci_high``, ...), the threshold, and the paired
        comparison with the reference (``vs``, ``auroc_difference``, ``p_value``)."""
        import pandas as pd

        rows = []
        for name, m in self.metrics["models"].items():
            row: dict[str, Any] = {"model": name, "kind": m.get("kind"), "family": m.get("family"),
                                   "status": m.get("status"), "n": m.get("n"), "events": m.get("events")}
            for key in TABLE_METRICS:
                metric = (m.get("metrics") or {}).get(key) or {}
                ci = metric.get("ci") or [None, None]
                row.update({key: metric.get("value"), f"{key}_ci_low": ci[0], f"{key}_ci_high": ci[1]})
            delong = m.get("delong_vs_best_baseline") or {}
            row.update(threshold=m.get("threshold"), vs=delong.get("baseline"),
                       auroc_difference=delong.get("auroc_difference"), p_value=delong.get("p_value"),
                       error=m.get("error"))
            rows.append(row)
        frame = pd.DataFrame(rows)
        frame["_failed"] = frame["status"] != "done"
        frame = frame.sort_values(["_failed", "auroc"], ascending=[True, False], na_position="last", kind="stable")
        return frame.drop(columns="_failed").set_index("model")

    def predictions(self, model: str) -> Any:
        """The test predictions of ``model`` (predictions/NAME.jsonl) as a DataFrame."""
        import pandas as pd

        from clinpred.core.errors import DataError
        from clinpred.core.run.rundir import RunDirectory

        path = RunDirectory(self.run_dir).predictions(model)
        if not path.is_file():
            raise DataError(f"{path}: no predictions of {model!r}; its models: {', '.join(self.metrics['models'])}")
        return pd.read_json(path, lines=True)

    def report(self, *, html: bool = True) -> Path:
        """Write report.md (and report.html) into the run directory; the HTML path (else the markdown's)."""
        from clinpred.core.report.report import write_report
        from clinpred.registry.registry import load_registry

        files = write_report(self.run_dir, html=html, parse=load_registry().parse_output)
        return files.html or files.markdown

    def _repr_html_(self) -> str:  # a notebook shows the table
        return self.table()._repr_html_()
