"""The bad-input corpus, through the CLI: one clear line, exit status 2, no traceback, and
nothing half-written. Config files say what they expect in their first line (# expect: ...)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clirun import clinpred

DATA = Path(__file__).parent / "data"
BAD_CONFIGS = sorted((DATA / "bad_config").glob("*.toml"))
BAD_DATA = sorted((DATA / "bad").glob("*.*"))


def _one_clean_line(result) -> None:
    assert result.code == 2, (result.code, result.err)
    assert result.err.startswith("Error: ") and result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err + result.out


@pytest.mark.parametrize("path", BAD_CONFIGS, ids=lambda p: p.stem)
def test_bad_config(path: Path, tmp_path: Path) -> None:
    expected = path.read_text().splitlines()[0].removeprefix("# expect: ")
    out = tmp_path / "run"
    result = clinpred("run", "--config", str(path), "--out", str(out))
    _one_clean_line(result)
    assert expected in result.err
    assert not out.exists()


@pytest.mark.parametrize("path", [p for p in BAD_DATA if p.suffix in (".csv", ".tsv")], ids=lambda p: p.name)
def test_bad_data_through_run(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = clinpred("run", "--baselines-only", "--data", str(path), "--out", str(out))
    _one_clean_line(result)
    assert path.name in result.err
    assert not out.exists()


def test_missing_data_path(tmp_path: Path) -> None:
    result = clinpred("run", "--baselines-only", "--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "run"))
    _one_clean_line(result)


def test_corrupt_excel_file(tmp_path: Path) -> None:
    bad = tmp_path / "cohort.xlsx"
    bad.write_bytes(b"PK\x03\x04 this is not really a workbook")
    result = clinpred("data", "check", str(bad))
    _one_clean_line(result)
    assert "cohort.xlsx" in result.err


def test_excel_without_the_target_column(tmp_path: Path) -> None:
    import pandas as pd

    csv = tmp_path / "cohort.csv"
    assert clinpred("data", "synth", "--n", "60", "-o", str(csv)).code == 0
    xlsx = tmp_path / "cohort.xlsx"
    pd.read_csv(csv).drop(columns=["manual_removal"]).to_excel(xlsx, index=False)
    result = clinpred("data", "check", str(xlsx))
    _one_clean_line(result)
    assert "missing column 'manual_removal'" in result.err


@pytest.fixture(scope="module")
def model_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_models import tiny_model_dir

    return tiny_model_dir("qwen2")


def _copy_model(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def test_model_path_without_a_tokenizer(model_copy: Path, tmp_path: Path) -> None:
    model = _copy_model(model_copy, tmp_path / "no-tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json"):
        (model / name).unlink(missing_ok=True)
    result = clinpred("run", "--model", str(model), "--family", "qwen", "--out", str(tmp_path / "run"))
    _one_clean_line(result)
    assert "no tokenizer" in result.err
    assert not (tmp_path / "run").exists()


def test_truncated_safetensors(model_copy: Path, tmp_path: Path) -> None:
    model = _copy_model(model_copy, tmp_path / "truncated")
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    result = clinpred("run", "--model", str(model), "--family", "qwen", "--out", str(tmp_path / "run"))
    _one_clean_line(result)
    assert "model.safetensors" in result.err


def test_corrupt_adapter_in_predict(model_copy: Path, tmp_path: Path) -> None:
    data = tmp_path / "cohort.csv"
    assert clinpred("data", "synth", "--n", "80", "--seed", "2", "-o", str(data)).code == 0
    config = tmp_path / "c.toml"
    config.write_text(
        "[run]\nbaselines = []\n[evaluation]\nbootstrap = 200\ngenerate = false\n"
        f"[[models]]\nname = \"tiny\"\nfamily = \"qwen\"\nmodel_id = \"{model_copy}\"\n"
        "lora_layers = 2\nlora_rank = 4\nnum_iters = 2\n"
    )
    run = tmp_path / "run"
    assert clinpred("run", "--config", str(config), "--data", str(data), "--model", "tiny", "--out", str(run)).code == 0
    adapter = run / "adapters" / "tiny" / "adapters.safetensors"
    adapter.write_bytes(adapter.read_bytes()[:40])
    out = tmp_path / "pred.csv"
    result = clinpred("predict", str(run), "--model", "tiny", "--data", str(data), "-o", str(out), "--config", str(config))
    assert result.code == 2 and "Traceback" not in result.err
    errors = [line for line in result.err.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and result.err.rstrip().endswith(errors[0][-40:])
    assert "adapters" in result.err
    assert not out.exists()


_values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5000), st.floats(allow_nan=True), st.text(max_size=8),
                    st.lists(st.integers(), max_size=3))
_model = st.dictionaries(st.sampled_from(["name", "model_id", "family", "lora_rank", "lora_alpha", "learning_rate",
                                          "num_iters", "batch_size", "lora_dropout", "precision", "typo"]), _values)
_config = st.fixed_dictionaries({}, optional={
    "models": st.one_of(st.lists(_model, max_size=3), _values),
    "evaluation": st.one_of(st.dictionaries(st.sampled_from(["seed", "protocol", "cv_folds", "threshold", "bootstrap",
                                                             "balance", "x"]), _values), _values),
    "run": st.one_of(st.dictionaries(st.sampled_from(["models", "baselines"]), _values), _values),
    "extra": _values,
})


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(_config)
def test_config_loader_never_crashes(data: dict) -> None:
    from clinpred.core.run.config import parse_config
    from clinpred.core.errors import ConfigError

    try:
        config = parse_config(data, source="fuzz.toml")
    except ConfigError as exc:
        assert "\n" not in str(exc)
    else:
        json.dumps([m.hyperparameters for m in config.models])
