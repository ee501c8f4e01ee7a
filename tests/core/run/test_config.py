"""model_configs.toml loading: the bundled file, and one clear line per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from clinpred.core.run.config import DEFAULT_MODEL, load_config
from clinpred.core.run.config import parse_config as parse
from clinpred.core.errors import ConfigError
from clinpred.registry.registry import load_registry

GOOD_MODEL = {"name": "m", "model_id": "org/m", "family": "llama"}
REGISTRY = load_registry()


def parse_config(data: dict, **kwargs):
    """The config checked against the registered model adapters, as the CLI does."""
    return parse(data, models=REGISTRY, **kwargs)


def test_bundled_config_lists_the_study_models_and_the_default() -> None:
    config = load_config(models=REGISTRY)
    names = {m.name for m in config.models}
    assert DEFAULT_MODEL in names
    assert {"llama-3.2-3b-v1", "llama-3.2-3b-v2", "qwen3-4b", "gemma-3-4b"} <= names
    assert len(config.models) == 10
    v2 = config.model("llama-3.2-3b-v2")
    assert v2.hyperparameters["learning_rate"] == 1.5e-6
    assert v2.hyperparameters["num_iters"] == 1000
    assert config.default_models == (DEFAULT_MODEL,)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"models": [{**GOOD_MODEL, "lora_rnak": 8}]}, r"unknown key 'lora_rnak' \(did you mean 'lora_rank'\?\)"),
        ({"models": [{**GOOD_MODEL, "learning_rate": -1e-5}]}, r"learning_rate = -1e-05 is impossible; it must be in \(0, 1\)"),
        ({"models": [{**GOOD_MODEL, "lora_rank": 0}]}, r"lora_rank = 0 is impossible; it must be between 1 and 4096"),
        ({"models": [{**GOOD_MODEL, "lora_rank": "8"}]}, r"lora_rank must be int, got str '8'"),
        ({"models": [{**GOOD_MODEL, "lora_rank": True}]}, r"lora_rank must be int, got bool"),
        ({"models": [GOOD_MODEL, GOOD_MODEL]}, r"duplicate model name 'm'"),
        ({"models": [{"name": "m"}]}, r"missing required key 'model_id'"),
        ({"models": [{"name": "m", "model_id": " "}]}, r"model_id is empty; give a model id"),
        ({"evaluation": {"protocl": "cv"}}, r"unknown key 'protocl' \(did you mean 'protocol'\?\)"),
        ({"evaluation": {"bootstrap": 10}}, r"bootstrap = 10 is impossible; it must be between 200 and 1000000"),
        ({"run": {"baselines": ["lasso", "svm"]}}, r"unknown baseline 'svm'"),
        ({"models": [{**GOOD_MODEL, "method": "lasso"}]}, r"method 'lasso' is a model of its own"),
        ({"baselines": {"lasso": {"n_penalties": 1}}}, r"n_penalties = 1 is impossible; it must be between 2 and 1000"),
        ({"modles": []}, r"unknown key 'modles' \(did you mean 'models'\?\)"),
    ],
)
def test_bad_values_are_one_clear_line(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_config(data, source="cfg.toml")
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("cfg.toml")


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[[models]\nname = 'x'\n")
    with pytest.raises(ConfigError, match=r"bad.toml: TOML syntax error"):
        load_config(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_reference_defaults_to_lasso_and_accepts_best_on_validation():
    assert parse_config({}).evaluation.reference == "lasso"
    cfg = parse_config({"evaluation": {"reference": "best-on-validation"}})
    assert cfg.evaluation.reference == "best-on-validation"
    # the default lasso is not run: the reference is still fixed before the test data
    assert parse_config({"run": {"baselines": ["majority"]}}).evaluation.reference == "best-on-validation"


@pytest.mark.parametrize("table, message", [
    ({"evaluation": {"reference": "best"}}, "reference = 'best' is not among the [run] baselines"),
    ({"run": {"baselines": ["majority"]}, "evaluation": {"reference": "lasso"}}, "not among the [run] baselines"),
])
def test_bad_reference_is_one_clear_line(table, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(table)


def test_without_the_registry_only_the_structure_is_checked():
    """Commands that read only [dataset] parse a config without plugins: names stay unresolved."""
    config = parse({"run": {"baselines": ["anything"]}, "models": [{**GOOD_MODEL, "lora_rnak": 8}]})
    assert config.baselines == ("anything",) and config.models[0].method is None
    assert config.evaluation.reference is None
    with pytest.raises(ConfigError, match="duplicate model name"):
        parse({"models": [GOOD_MODEL, GOOD_MODEL]})


def test_methods_and_baseline_tables():
    config = parse_config({"models": [{**GOOD_MODEL, "method": "lora", "num_iters": 3}],
                           "baselines": {"random_forest": {"n_estimators": 50}}})
    assert config.models[0].method == "lora" and config.models[0].hyperparameters == {"num_iters": 3}
    assert config.baseline_hyperparameters == {"random_forest": {"n_estimators": 50}}
    assert config.baselines == ("majority", "lasso", "random_forest", "gradient_boosting")
