"""model_configs.toml -> validated :class:`RunConfig` (models to compare, evaluation, dataset).

Hyperparameter keys follow the original study (name, model_id, output_dir, lora_rank,
lora_alpha, learning_rate, num_iters, batch_size) plus clinpred's additions. ``lora_alpha`` is
PEFT-style: mlx-lm's LoRA ``scale`` multiplies the update directly, so clinpred passes
``scale = lora_alpha / lora_rank`` (rank 16, alpha 32 -> scale 2.0).

A model's hyperparameters are resolved in layers: the family plugin's defaults, then the catalog
entry's, then the keys written in the config, then command-line overrides (``--iters``).
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from attrs import define, field

from clinpred.core import bounds as B
from clinpred.core.errors import ConfigError
from clinpred.core.tomlfile import check_keys, did_you_mean, expect_type, read_toml, tomllib

#: The embedded default model (a catalog entry of a built-in plugin, shipped on PyPI).
DEFAULT_MODEL = "smollm2-135m-instruct"

#: hyperparameter key -> (type, check, what the check means)
HYPERPARAMETERS: dict[str, tuple[type | tuple[type, ...], Any, str]] = {
    "lora_rank": (int, B.LORA_RANK, B.LORA_RANK.meaning),
    "lora_alpha": ((int, float), B.LORA_ALPHA, B.LORA_ALPHA.meaning),
    "lora_dropout": ((int, float), lambda v: 0 <= v < 1, "in [0, 1)"),
    "lora_layers": (int, B.LORA_LAYERS, B.LORA_LAYERS.meaning),
    "learning_rate": ((int, float), lambda v: 0 < v < 1, "positive and below 1"),
    "num_iters": (int, B.NUM_ITERS, B.NUM_ITERS.meaning),
    "epochs": ((int, float), B.EPOCHS, B.EPOCHS.meaning),
    "batch_size": (int, B.BATCH_SIZE, B.BATCH_SIZE.meaning),
    "grad_accum": (int, B.GRAD_ACCUM, B.GRAD_ACCUM.meaning),
    "warmup": ((int, float), B.WARMUP, B.WARMUP.meaning + " (steps, or a fraction < 1)"),
    "weight_decay": ((int, float), B.WEIGHT_DECAY, B.WEIGHT_DECAY.meaning),
    "grad_checkpoint": (bool, lambda v: True, ""),
    "dora": (bool, lambda v: True, ""),
    "eval_every": (int, B.EVAL_EVERY, B.EVAL_EVERY.meaning),
    "early_stopping_patience": (int, B.PATIENCE, B.PATIENCE.meaning + " (0: off)"),
    "max_seq_len": (int, B.MAX_SEQ_LEN, B.MAX_SEQ_LEN.meaning),
    "precision": (str, lambda v: v in ("auto", "float32", "bfloat16", "float16", "quantized"),
                  "one of auto, float32, bfloat16, float16, quantized"),
    "score_batch_size": (int, B.BATCH_SIZE, B.BATCH_SIZE.meaning),
    "frozen_trunk_cache": (bool, lambda v: True, ""),
    "prefix_cache": (bool, lambda v: True, ""),
    "objective": (str, lambda v: v in ("answer-token", "label"), "answer-token or label"),
    "end_of_turn_weight": ((int, float), lambda v: 0 <= v <= 100, "between 0 (off) and 100"),
    "unlikelihood_weight": ((int, float), lambda v: 0 <= v <= 100, "between 0 (off) and 100"),
    "label_mass_weight": ((int, float), lambda v: 0 <= v <= 100, "between 0 and 100"),
    "select_metric": (str, lambda v: v in ("auroc", "loss", "log_loss", "last"), "auroc, loss, log_loss or last"),
}
MODEL_KEYS = ("name", "family", "model_id", "output_dir", "description", "search", *HYPERPARAMETERS)

BASELINE_NAMES = ("majority", "lasso", "random_forest", "gradient_boosting")


def check_hyperparameters(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate hyperparameter keys and values; one :class:`ConfigError` line per problem."""
    check_keys(values, HYPERPARAMETERS, where)
    out = {}
    for key, value in values.items():
        types, ok, meaning = HYPERPARAMETERS[key]
        expect_type(value, types, where, key)
        if isinstance(value, float) and not math.isfinite(value) or not ok(value):
            raise ConfigError(f"{where}: {key} = {value!r} is impossible; it must be {meaning}")
        out[key] = value
    return out


@define(frozen=True)
class ModelConfig:
    """One model to fine-tune and evaluate. ``family`` None means: infer it from ``model_id``."""

    name: str
    model_id: str
    family: str | None = None
    description: str = ""
    output_dir: str | None = None
    hyperparameters: dict[str, Any] = field(factory=dict, hash=False)


@define(frozen=True)
class EvaluationConfig:
    """How models are evaluated; nothing here is ever tuned on the test part."""

    seed: int = 42
    protocol: str = "holdout"  # holdout (stratified 80/10/10) | cv (repeated stratified k-fold) | internal-external
    cv_folds: int = 5
    cv_repeats: int = 1
    val_fraction: float = 0.125
    threshold: str = "youden"  # youden | f1 | fixed
    fixed_threshold: float = 0.5
    bootstrap: int = 1000
    balance: str = "oversample"  # oversample | class-weight | none
    generate: bool = True
    max_new_tokens: int = 12
    store_prompts: bool = True
    reference: str = "lasso"  # the baseline every model is compared with, or "best-on-validation"


_EVALUATION_RULES: dict[str, tuple[type | tuple[type, ...], Any, str]] = {
    "seed": (int, B.SEED, B.SEED.meaning),
    "protocol": (str, lambda v: v in ("holdout", "cv", "internal-external"),
                 "holdout, cv or internal-external (leave one site out; needs [dataset] site_column)"),
    "cv_folds": (int, B.CV_FOLDS, B.CV_FOLDS.meaning),
    "cv_repeats": (int, B.CV_REPEATS, B.CV_REPEATS.meaning),
    "val_fraction": ((int, float), lambda v: 0 < v < 0.5, "in (0, 0.5)"),
    "threshold": (str, lambda v: v in ("youden", "f1", "fixed"), "youden, f1 or fixed"),
    "fixed_threshold": ((int, float), lambda v: 0 < v < 1, "in (0, 1)"),
    "bootstrap": (int, B.BOOTSTRAP, B.BOOTSTRAP.meaning),
    "balance": (str, lambda v: v in ("oversample", "class-weight", "none"),
                "oversample, class-weight or none"),
    "generate": (bool, lambda v: True, ""),
    "max_new_tokens": (int, lambda v: 1 <= v <= 512, "between 1 and 512"),
    "store_prompts": (bool, lambda v: True, ""),
    "reference": (str, lambda v: v in (*BASELINE_NAMES, "best-on-validation"),
                  "a baseline name (" + ", ".join(BASELINE_NAMES) + ") or best-on-validation"),
}


@define(frozen=True)
class RunConfig:
    """A whole model_configs.toml."""

    models: tuple[ModelConfig, ...]
    evaluation: EvaluationConfig
    default_models: tuple[str, ...]
    baselines: tuple[str, ...]
    dataset: dict[str, Any] = field(factory=dict, hash=False)  # the raw [dataset] table
    execution: dict[str, Any] = field(factory=dict, hash=False)  # the raw [execution] table (execution_config.py)
    source: str = "<bundled>"
    search: Any = None  # SearchSettings ([search] + [models.search]; core/run/search_config.py)
    base_dir: Path = field(factory=Path.cwd)

    def model(self, name: str) -> ModelConfig | None:
        return next((m for m in self.models if m.name == name), None)


def _checked(table: Mapping[str, Any], rules: Mapping[str, Any], where: str) -> dict[str, Any]:
    check_keys(table, rules, where)
    for key, value in table.items():
        types, ok, meaning = rules[key]
        expect_type(value, types, where, key)
        if not ok(value):
            raise ConfigError(f"{where}: {key} = {value!r} is impossible; it must be {meaning}")
    return dict(table)


_SCHEMA_ONLY_KEYS = ("path", "id_column", "target_column", "positive_values", "features", "task")


def _is_bare_schema(data: Mapping[str, Any]) -> bool:
    """A schema file given as --config: dataset keys at the top, no config table."""
    return any(k in data for k in _SCHEMA_ONLY_KEYS) and not any(k in data for k in ("run", "evaluation", "models", "dataset", "execution", "search"))


def parse_config(data: Mapping[str, Any], *, source: str = "<config>", base_dir: Path | None = None) -> RunConfig:
    """Validate a parsed model_configs.toml (a bare dataset schema file is read as its [dataset])."""
    from clinpred.core.run.search_config import parse_search

    if _is_bare_schema(data):
        data = {"dataset": dict(data)}
    check_keys(data, ("run", "evaluation", "dataset", "models", "execution", "search"), source)
    run = data.get("run", {})
    expect_type(run, dict, source, "[run]")
    check_keys(run, ("models", "baselines"), f"{source} [run]")
    evaluation = data.get("evaluation", {})
    expect_type(evaluation, dict, source, "[evaluation]")
    ev = EvaluationConfig(**_checked(evaluation, _EVALUATION_RULES, f"{source} [evaluation]"))

    raw_models = data.get("models", [])
    expect_type(raw_models, list, source, "models (use [[models]] tables)")
    models: list[ModelConfig] = []
    for i, item in enumerate(raw_models, 1):
        where = f"{source} [[models]] #{i}"
        expect_type(item, dict, where, "entry")
        if "name" in item:
            where = f"{source} model {item['name']!r}"
        check_keys(item, MODEL_KEYS, where)
        for key in ("name", "model_id"):
            if key not in item:
                raise ConfigError(f"{where}: missing required key {key!r}")
            expect_type(item[key], str, where, key)
            if not item[key].strip():
                raise ConfigError(f"{where}: {key} is empty; give a {key.replace('_', ' ')}")
        for key in ("family", "description", "output_dir"):
            if key in item:
                expect_type(item[key], str, where, key)
        if any(m.name == item["name"] for m in models):
            raise ConfigError(f"{source}: duplicate model name {item['name']!r}; model names must be unique")
        hyper = {k: v for k, v in item.items() if k in HYPERPARAMETERS}
        models.append(
            ModelConfig(
                name=item["name"],
                model_id=item["model_id"],
                family=item.get("family"),
                description=item.get("description", ""),
                output_dir=item.get("output_dir"),
                hyperparameters=check_hyperparameters(hyper, where),
            )
        )

    defaults = run.get("models", [DEFAULT_MODEL])
    expect_type(defaults, list, f"{source} [run]", "models")
    baselines = run.get("baselines", list(BASELINE_NAMES))
    expect_type(baselines, list, f"{source} [run]", "baselines")
    for name in baselines:
        if name not in BASELINE_NAMES:
            raise ConfigError(
                f"{source} [run]: unknown baseline {name!r}{did_you_mean(str(name), BASELINE_NAMES)}; "
                f"choose from {', '.join(BASELINE_NAMES)}"
            )
    if "reference" not in evaluation and ev.reference not in baselines:  # default lasso not run
        import attrs

        ev = attrs.evolve(ev, reference="best-on-validation")
    if ev.reference != "best-on-validation" and ev.reference not in baselines:
        raise ConfigError(
            f"{source} [evaluation]: reference = {ev.reference!r} is not among the [run] baselines "
            f"({', '.join(baselines) or 'none'}); add it there or set reference = \"best-on-validation\""
        )
    dataset = data.get("dataset", {})
    expect_type(dataset, dict, source, "[dataset]")
    execution = data.get("execution", {})
    expect_type(execution, dict, source, "[execution]")
    return RunConfig(
        models=tuple(models),
        evaluation=ev,
        default_models=tuple(defaults),
        baselines=tuple(baselines),
        dataset=dict(dataset),
        execution=dict(execution),
        source=source,
        base_dir=base_dir or Path.cwd(),
        search=parse_search(data, source, check_hyperparameters),
    )


def bundled_config_text() -> str:
    """The model_configs.toml shipped with clinpred."""
    return resources.files("clinpred").joinpath("model_configs.toml").read_text(encoding="utf-8")


def load_config(path: str | Path | None = None) -> RunConfig:
    """Load ``path`` (or the bundled model_configs.toml) into a validated :class:`RunConfig`."""
    if path is None:
        return parse_config(tomllib.loads(bundled_config_text()), source="model_configs.toml (bundled)")
    path = Path(path)
    return parse_config(read_toml(path), source=str(path), base_dir=path.resolve().parent)
