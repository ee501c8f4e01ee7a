"""[search] / [models.search] tables: parsing, merging, and one clear error per bad value; the
`clinpred run --search --trials N` options; a searched run end to end on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinpred.core.errors import ConfigError
from clinpred.core.run.config import load_config, parse_config
from clinpred.core.tomlfile import tomllib

MODEL = """
[[models]]
name = "m"
model_id = "some/model"
family = "qwen"
"""


def _parse(text: str):
    return parse_config(tomllib.loads(text), source="cfg.toml")


def test_bundled_defaults_search_learning_rate_and_rank_and_are_off() -> None:
    cfg = load_config().search.default
    assert not cfg.enabled and cfg.n_trials == 8 and cfg.sampler == "tpe" and cfg.objective == "val_auroc"
    params = {p.name: p for p in cfg.params}
    assert params["learning_rate"].log and params["learning_rate"].low < params["learning_rate"].high
    assert params["lora_rank"].choices == (4, 8, 16)


def test_model_table_merges_settings_and_replaces_parameters() -> None:
    cfg = _parse("""
[search]
n_trials = 5
sampler = "random"
learning_rate = { low = 1e-5, high = 1e-3 }
lora_rank = [4, 8]
""" + MODEL + """
[models.search]
enabled = true
num_iters = { low = 20, high = 60 }
objective = "val_loss"
""").search
    default, model = cfg.default, cfg.for_model("m")
    assert [p.name for p in default.params] == ["learning_rate", "lora_rank"]
    assert model.enabled and model.n_trials == 5 and model.sampler == "random" and model.objective == "val_loss"
    assert [(p.name, p.low, p.high, p.log) for p in model.params] == [("num_iters", 20, 60, False)]
    assert cfg.for_model("other") == default
    on = cfg.with_command_line(enable=True, trials=3)
    assert on.default.enabled and on.default.n_trials == 3 and on.for_model("m").n_trials == 3


@pytest.mark.parametrize(("table", "message"), [
    ("n_trials = 0", "n_trials = 0 is impossible; it must be a whole number between 1 and 10000"),
    ("learning_rate = { low = -1e-4, high = 1e-3 }", "learning_rate.low: learning_rate = -0.0001 is impossible"),
    ("learning_rate = { low = 1e-3, high = 1e-4 }", "low = 0.001 is above high = 0.0001"),
    ("learning_rate = { low = 1e-4 }", "learning_rate needs high"),
    ("lora_rank = []", "lora_rank: the choice list is empty"),
    ("lora_rank = [8, 0]", "lora_rank = 0 is impossible"),
    ("lora_rank = [8, 16.5]", "lora_rank"),
    ("lora_rank = 8", "must be a choice list like [4, 8, 16] or a range"),
    ("sampler = \"bayes\"", "sampler = 'bayes' is unknown; choose tpe, random, grid"),
    ("objective = \"auc\"", "objective = 'auc' is unknown"),
    ("sampler = \"grid\"", "the grid sampler needs a choice list, not a range"),
    ("batch = 4", "batch"),
    ("inner_val_fraction = 0.7", "inner_val_fraction = 0.7 is impossible"),
    ("num_iters = [10]\nepochs = [1]", "search num_iters or epochs, not both"),
])
def test_bad_search_values_are_one_clear_config_error(table: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _parse("[search]\n" + table + "\n")
    text = str(info.value)
    assert message in text and "\n" not in text and text.startswith("cfg.toml [search]")


def test_bad_model_search_names_the_model() -> None:
    with pytest.raises(ConfigError, match=r"model 'm' \[models.search\]: n_trials = 0 is impossible"):
        _parse(MODEL + "[models.search]\nn_trials = 0\n")


def test_trials_without_search_is_a_usage_error(tmp_path: Path) -> None:
    from clirun import clinpred

    result = clinpred("run", "--baselines-only", "--trials", "3", "--out", str(tmp_path / "r"))
    assert result.code == 2 and "--trials sets the number of search trials; add --search" in result.err
    assert "Traceback" not in result.err and not (tmp_path / "r").exists()


def test_bad_search_config_exits_2_without_traceback(tmp_path: Path) -> None:
    from clirun import clinpred

    config = tmp_path / "c.toml"
    config.write_text("[search]\nlearning_rate = { low = -1.0, high = 1e-3 }\n")
    result = clinpred("run", "--config", str(config), "--search", "--out", str(tmp_path / "r"))
    assert result.code == 2 and "learning_rate" in result.err and "Traceback" not in result.err
    assert not (tmp_path / "r").exists()


def test_searched_run_records_the_choice_in_unit_metrics_and_report(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    from clirun import clinpred
    from tiny_models import tiny_model_dir

    data = tmp_path / "cohort.csv"
    assert clinpred("data", "synth", "--n", "80", "--seed", "2", "-o", str(data)).code == 0
    config = tmp_path / "c.toml"
    config.write_text(f"""
[run]
models = ["tiny"]
baselines = ["lasso"]
[evaluation]
bootstrap = 200
generate = false
[search]
learning_rate = {{ low = 1e-4, high = 1e-2 }}
lora_rank = [2, 4]
[[models]]
name = "tiny"
family = "qwen"
model_id = "{tiny_model_dir('qwen2')}"
lora_layers = 2
eval_every = 2
""")
    out = tmp_path / "run"
    result = clinpred("run", "--config", str(config), "--data", str(data), "--iters", "4",
                      "--search", "--trials", "2", "--out", str(out))
    assert result.code == 0, result.err
    unit = json.loads((out / "units" / "tiny" / "holdout.json").read_text())
    search = unit["search"]
    assert search["n_trials"] == 2 and len(search["trials"]) == 2
    assert set(search["chosen"]) == {"learning_rate", "lora_rank"}
    assert unit["training"]["lora_layers"] == 2
    metrics = json.loads((out / "metrics.json").read_text())
    entry = metrics["models"]["tiny"]["search"]["holdout"]
    assert entry["chosen"] == search["chosen"] and entry["complete"] + entry["pruned"] + entry["failed"] == 2
    run = json.loads((out / "run.json").read_text())
    assert run["models"][0]["search"]["n_trials"] == 2
    assert sorted(p.name for p in (out / "search" / "tiny" / "holdout").iterdir()) == ["trial-000.json", "trial-001.json"]
    # the same command with --resume skips the unit; the report shows the search
    again = clinpred("run", "--config", str(config), "--data", str(data), "--iters", "4",
                     "--search", "--trials", "2", "--out", str(out), "--resume")
    assert again.code == 0, again.err
    assert clinpred("report", str(out)).code == 0
    report = (out / "report.md").read_text()
    assert "## Hyperparameter search" in report and "search_curves.png" in report
    assert (out / "report_files" / "search_curves.png").is_file()
    lr = search["chosen"]["learning_rate"]
    assert f"learning_rate = {lr:.3g}" in report
