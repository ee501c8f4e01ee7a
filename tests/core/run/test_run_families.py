"""End to end on tiny models of every built-in family's architecture: `clinpred run` trains,
scores and generates through the family plugin, and `clinpred prompt` shows the rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clirun import clinpred

#: tiny architecture (tests/tiny_models.py) -> the family plugin that must handle it
CASES = [("llama", "llama"), ("mistral", "mistral"), ("phi3", "phi"), ("qwen2", "qwen"),
         ("qwen3", "qwen"), ("gemma3_text", "gemma")]

CONFIG = """
[run]
baselines = ["majority", "lasso"]
[evaluation]
bootstrap = 200
max_new_tokens = 4
"""

#: the tiny models have 2 blocks; the families' defaults ask for LoRA on 16
MODEL = """
[[models]]
name = "{name}"
family = "{family}"
model_id = "{path}"
lora_layers = 2
lora_rank = 4
learning_rate = 1e-3
"""


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("families")
    data = root / "cohort.csv"
    assert clinpred("data", "synth", "--n", "100", "--seed", "11", "-o", str(data)).code == 0
    from tiny_models import tiny_model_dir

    config = root / "configs.toml"
    config.write_text(CONFIG + "".join(
        MODEL.format(name=f"tiny-{arch}", family=family, path=tiny_model_dir(arch)) for arch, family in CASES
    ))
    return data, config


@pytest.mark.parametrize(("arch", "family"), CASES)
def test_run_trains_and_scores_through_the_family_plugin(arch: str, family: str, cohort, tmp_path: Path) -> None:
    data, config = cohort
    out = tmp_path / "run"
    name = f"tiny-{arch}"
    result = clinpred("run", "--config", str(config), "--data", str(data), "--model", name,
                      "--iters", "3", "--out", str(out))
    assert result.code == 0, result.err
    metrics = json.loads((out / "metrics.json").read_text())
    entry = metrics["models"][name]
    assert entry["kind"] == "llm" and entry["family"] == family and entry["status"] == "done"
    assert entry["metrics"]["auroc"]["value"] is not None
    assert "delong_vs_best_baseline" in entry
    assert sum(entry["parse"]["status_counts"].values()) == entry["n"]
    rows = [json.loads(line) for line in (out / "predictions" / f"{name}.jsonl").read_text().splitlines()]
    assert len(rows) == entry["n"] > 0
    assert all(0.0 < r["p_yes"] < 1.0 for r in rows)
    assert len({round(r["p_yes"], 6) for r in rows}) > 1  # real, patient-specific probabilities
    assert {"raw_output", "parsed", "parse_status", "prompt"} <= set(rows[0])
    adapters = out / "adapters" / name
    assert (adapters / "adapters.safetensors").is_file() and (adapters / "adapter_config.json").is_file()
    run = json.loads((out / "run.json").read_text())
    assert run["models"][0]["family"] == family
    assert run["models"][0]["hyperparameters"]["num_iters"] == 3
    # what it relied on: the same permutation importance as the baselines, through the prompts
    assert {e["feature"] for e in entry["importance"]} == set(run["dataset"]["features"])
    assert entry["importance_method"]["repeats"] == 1 and "seconds" not in entry["importance_method"]  # time: unit files


def test_no_store_prompts_keeps_prompts_and_outputs_out(cohort, tmp_path: Path) -> None:

    data, config = cohort
    out = tmp_path / "run"
    result = clinpred("run", "--config", str(config), "--data", str(data), "--no-baselines",
                      "--model", "tiny-qwen2", "--iters", "2", "--no-store-prompts", "--out", str(out))
    assert result.code == 0, result.err
    rows = [json.loads(line) for line in next((out / "predictions").glob("*.jsonl")).read_text().splitlines()]
    assert all("prompt" not in r and r["raw_output"] is None for r in rows)
    units = "".join(p.read_text() for p in (out / "units").rglob("*.json"))
    assert "Patient record" not in units


def test_a_broken_model_directory_is_bad_input(cohort, tmp_path: Path) -> None:
    data, config = cohort
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    (broken / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    out = tmp_path / "run"
    result = clinpred("run", "--config", str(config), "--data", str(data), "--family", "qwen",
                      "--model", str(broken), "--model", "tiny-qwen2", "--iters", "2", "--out", str(out))
    assert result.code == 2
    assert result.err.count("\n") == 1 and "broken-model" in result.err and "Traceback" not in result.err
    assert not out.exists()


def test_a_model_whose_plugin_hook_raises_fails_alone(cohort, tmp_path: Path) -> None:
    data, config = cohort
    plugin = tmp_path / "shaky.py"
    plugin.write_text(
        "from clinpred.api import FamilySpec, hookimpl\n"
        "@hookimpl\n"
        "def clinpred_register_families(register):\n"
        "    register(FamilySpec(name='shaky', model_patterns=['shaky']))\n"
        "@hookimpl\n"
        "def clinpred_format_prompt(family, record, task):\n"
        "    raise RuntimeError('template file missing')\n"
    )
    shaky = config.parent / "shaky.toml"
    shaky.write_text(config.read_text() + MODEL.format(name="tiny-shaky", family="shaky", path=_tiny("qwen2")))
    out = tmp_path / "run"
    result = clinpred("--plugin", str(plugin), "run", "--config", str(shaky), "--data", str(data),
                      "--model", "tiny-shaky", "--model", "tiny-qwen2", "--iters", "2", "--out", str(out))
    assert result.code == 1, result.err  # a failed model is exit 1, after the run directory is written
    models = json.loads((out / "metrics.json").read_text())["models"]
    assert models["tiny-shaky"]["status"] == "failed"
    assert "plugin 'shaky', family 'shaky': clinpred_format_prompt raised RuntimeError" in models["tiny-shaky"]["error"]
    assert models["tiny-qwen2"]["status"] == "done"
    assert models["lasso"]["status"] == "done"
    assert "1 model(s) failed" in result.err


def _tiny(arch: str) -> Path:
    from tiny_models import tiny_model_dir

    return tiny_model_dir(arch)


@pytest.mark.parametrize(("arch", "family"), [("qwen3", "qwen"), ("mistral", "mistral")])
def test_prompt_shows_the_trained_span_and_label_ids(arch: str, family: str) -> None:
    from tiny_models import tiny_model_dir

    result = clinpred("prompt", "--family", family, "--model", str(tiny_model_dir(arch)), "--json")
    assert result.code == 0, result.err
    view = json.loads(result.out)
    assert view["family"] == family
    assert view["training_text"].startswith(view["scoring_prompt"])
    assert view["trained_span"]["text"].strip() == "Yes"
    stop = {"qwen3": "<|im_end|>", "mistral": "</s>"}[arch]
    assert view["end_of_turn_span"]["text"] == stop  # the end of turn is trained too
    assert view["end_of_turn_span"]["start"] == view["trained_span"]["end"]
    shown = clinpred("prompt", "--family", family, "--model", str(tiny_model_dir(arch)))
    assert shown.code == 0 and "end-of-turn tokens" in shown.out
    assert view["label_token_ids"]["Yes"] and view["label_token_ids"]["No"]
    if arch == "qwen3":
        assert view["scoring_prompt"].endswith("<think>\n\n</think>\n\n")
    else:
        assert "Patient record" in view["user"]


def test_prompt_needs_a_family_or_model() -> None:
    result = clinpred("prompt")
    assert result.code == 2 and "give --family F or --model" in result.err


def test_family_and_model_path_from_the_command_line(cohort, tmp_path: Path) -> None:
    """`clinpred run --family qwen --model PATH_TO_A_QWEN3_MODEL` trains and scores through the
    qwen plugin; the family's default of 16 LoRA layers becomes all 2 layers of the tiny model."""
    data, config = cohort
    model = _tiny("qwen3")
    out = tmp_path / "run"
    result = clinpred("-v", "run", "--config", str(config), "--data", str(data), "--family", "qwen",
                      "--model", str(model), "--iters", "2", "--no-baselines", "--out", str(out))
    assert result.code == 0, result.err
    assert "LoRA on all of them" in result.err
    name = model.name.lower()
    entry = json.loads((out / "metrics.json").read_text())["models"][name]
    assert entry["family"] == "qwen" and entry["status"] == "done"
    unit = json.loads((out / "units" / name / "holdout.json").read_text())
    assert unit["training"]["lora_layers"] == 2
    prompt = json.loads(next((out / "predictions").glob("*.jsonl")).read_text().splitlines()[0])["prompt"]
    assert prompt.endswith("<think>\n\n</think>\n\n")  # thinking off, through the qwen plugin


def test_an_explicit_lora_layers_beyond_the_model_fails_that_model(cohort, tmp_path: Path) -> None:
    data, config = cohort
    too_many = config.parent / "too_many.toml"
    too_many.write_text(config.read_text() + MODEL.format(name="tiny-wide", family="qwen", path=_tiny("qwen2"))
                        .replace("lora_layers = 2", "lora_layers = 5"))
    out = tmp_path / "run"
    result = clinpred("run", "--config", str(too_many), "--data", str(data), "--model", "tiny-wide",
                      "--iters", "2", "--out", str(out))
    assert result.code == 1  # the model failed: exit 1 (issue 17, item 2)
    error = json.loads((out / "metrics.json").read_text())["models"]["tiny-wide"]["error"]
    assert "lora_layers = 5 but the model has only 2 layers" in error
