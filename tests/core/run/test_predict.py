"""`clinpred predict`: a run's fine-tuned tiny model reproduces its own test predictions."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from clirun import clinpred
from llm_run import add_llm, make_baseline_run, synth_csv

CONFIG = """
[run]
models = ["tiny-qwen"]
baselines = ["majority"]
[evaluation]
bootstrap = 200
generate = false
[[models]]
name = "tiny-qwen"
family = "qwen"
model_id = "{model}"
lora_layers = 2
lora_rank = 4
num_iters = 4
batch_size = 4
learning_rate = 1e-3
score_batch_size = 5
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    from tiny_models import tiny_model_dir

    root = tmp_path_factory.mktemp("predict")
    data = synth_csv(root / "cohort.csv", n=120)
    config = root / "configs.toml"
    config.write_text(CONFIG.format(model=tiny_model_dir("qwen2")))
    result = clinpred("run", "--config", str(config), "--data", str(data), "--out", str(root / "run"))
    assert result.code == 0, result.err
    return root / "run", data, config


def _read(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        return {row["patient_id"]: row for row in csv.DictReader(f)}


def test_reproduces_the_runs_test_predictions(tiny_run, tmp_path: Path) -> None:
    run, data, _ = tiny_run
    out = tmp_path / "out.csv"
    result = clinpred("predict", str(run), "--model", "tiny-qwen", "--data", str(data), "-o", str(out))
    assert result.code == 0, result.err
    predicted = _read(out)
    assert len(predicted) == 120
    stored = [json.loads(line) for line in (run / "predictions" / "tiny-qwen.jsonl").read_text().splitlines()]
    unit = json.loads((run / "units" / "tiny-qwen" / "holdout.json").read_text())
    assert stored
    for row in stored:
        mine = predicted[row["id"]]
        assert float(mine["p_yes"]) == pytest.approx(row["p_yes"], abs=1e-5)
        assert int(mine["predicted"]) == row["predicted"]
        assert int(mine["label"]) == row["label"]
        assert float(mine["threshold"]) == unit["threshold"]
        assert mine["answer"] == ("Yes" if row["predicted"] else "No")
    assert f"Wrote {out}: 120 patients" in result.out


def test_new_patients_without_outcome(tiny_run, tmp_path: Path) -> None:
    run, data, config = tiny_run
    rows = list(csv.DictReader(data.open(newline="")))[:10]
    new = tmp_path / "new.csv"
    with new.open("w", newline="") as f:
        fields = [c for c in rows[0] if c != "manual_removal"]
        writer = csv.DictWriter(f, fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "new_out.csv"
    # --config given explicitly (the schema is re-read from it and checked against run.json)
    result = clinpred("predict", str(run), "--model", "tiny-qwen", "--data", str(new), "-o", str(out),
                      "--config", str(config), "--batch-size", "3")
    assert result.code == 0, result.err
    got = _read(out)
    assert list(got) == [r["patient_id"] for r in rows]
    assert "label" not in next(iter(got.values()))
    everyone = tmp_path / "all.csv"
    assert clinpred("predict", str(run), "--model", "tiny-qwen", "--data", str(data), "-o", str(everyone)).code == 0
    full = _read(everyone)
    for pid, row in got.items():  # the same patient gets the same P(yes) in any batch
        assert float(row["p_yes"]) == pytest.approx(float(full[pid]["p_yes"]), abs=1e-5)


def test_schema_validation_and_errors(tiny_run, tmp_path: Path) -> None:
    run, data, _ = tiny_run
    lines = data.read_text().splitlines()
    header = lines[0].split(",")
    drop = header.index("hemoglobin")
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(",".join(c for j, c in enumerate(line.split(",")) if j != drop) for line in lines) + "\n")
    result = clinpred("predict", str(run), "--model", "tiny-qwen", "--data", str(bad), "-o", str(tmp_path / "x.csv"))
    assert result.code == 2 and "missing column 'hemoglobin'" in result.err
    unknown = clinpred("predict", str(run), "--model", "nope", "--data", str(data), "-o", str(tmp_path / "x.csv"))
    assert unknown.code == 2 and "its models: majority, tiny-qwen" in unknown.err
    other = tmp_path / "other.toml"
    other.write_text('[dataset]\n[dataset.task]\nquestion = "Another question?"\n')
    mismatch = clinpred("predict", str(run), "--model", "tiny-qwen", "--data", str(data), "-o", str(tmp_path / "x.csv"),
                        "--config", str(other))
    assert mismatch.code == 2 and "differs from the run's" in mismatch.err
    assert not (tmp_path / "x.csv").exists()


def test_a_baseline_of_the_run_is_applied_too(tiny_run, tmp_path: Path) -> None:
    """Issue 21: predict applies the saved majority model (the training prevalence for everyone)."""
    run, data, _ = tiny_run
    out = tmp_path / "majority.csv"
    result = clinpred("predict", str(run), "--model", "majority", "--data", str(data), "-o", str(out))
    assert result.code == 0, result.err
    rows = _read(out)
    unit = json.loads((run / "units" / "majority" / "holdout.json").read_text())
    assert len({r["p_yes"] for r in rows.values()}) == 1
    assert float(next(iter(rows.values()))["p_yes"]) == pytest.approx(unit["test"]["p"][0], abs=1e-15)


def test_cross_validated_run_needs_a_split(tmp_path: Path) -> None:
    data = synth_csv(tmp_path / "c.csv", n=90)
    light = tmp_path / "light.toml"
    light.write_text('[run]\nbaselines = ["lasso"]\n[evaluation]\nbootstrap = 200\n')
    run = make_baseline_run(tmp_path / "run", data, "--cv", "2", "--config", str(light))
    add_llm(run, data)
    args = ("predict", str(run), "--model", "tiny-qwen", "--data", str(data), "-o", str(tmp_path / "o.csv"))
    result = clinpred(*args)
    assert result.code == 2 and "choose one with --split (r0f0, r0f1)" in result.err
    missing = clinpred(*args, "--split", "r0f1")
    assert missing.code == 2 and "no trained adapter" in missing.err


def test_a_catalog_model_the_plugins_no_longer_provide_is_one_clear_error(tmp_path: Path) -> None:
    """Issue 17, item 1: predict resolves the run's catalog entry, never its provenance string."""
    from clinpred.core.errors import ModelError
    from clinpred.core.run.predict import PredictSetup, base_model

    setup = PredictSetup(model="m", family="smollm", split="holdout", adapter_dir=tmp_path, source="/gone/dir",
                         precision="auto", threshold=0.5, schema=None, batch_size=8,
                         catalog="smollm2-135m-instruct", model_id="smollm2-135m-instruct")
    with pytest.raises(ModelError, match="catalog model 'smollm2-135m-instruct', which no loaded plugin provides"):
        base_model(setup, [])
    plain = PredictSetup(model="m", family="qwen", split="holdout", adapter_dir=tmp_path, source="/gone/dir",
                         precision="auto", threshold=0.5, schema=None, batch_size=8, model_id="org/model")
    assert base_model(plain, []) == "org/model"
    here = PredictSetup(model="m", family="qwen", split="holdout", adapter_dir=tmp_path, source=str(tmp_path),
                        precision="auto", threshold=0.5, schema=None, batch_size=8, model_id="org/model")
    assert base_model(here, []) == tmp_path
