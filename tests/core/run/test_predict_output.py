"""`clinpred predict -o` never destroys an input (issue 25, item 3): not the --data file (also
through a link), not a file inside the run directory; refused in one line (exit 2) before any model
is loaded, the input untouched. And an adapter damaged in place (4 KiB zeroed, same size) is refused
by its recorded sha256 (item 2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clirun import clinpred


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("predict-out")
    cohort = root / "cohort.csv"
    assert clinpred("data", "synth", "--n", "120", "--seed", "5", "-o", str(cohort)).code == 0
    run = root / "run"
    result = clinpred("run", "--baselines-only", "--baseline", "lasso", "--data", str(cohort), "--out", str(run))
    assert result.code == 0, result.err
    return cohort, run


def _refused(result) -> str:
    assert result.code == 2, (result.code, result.err)
    assert result.err.startswith("Error: ") and result.err.count("\n") == 1 and "Traceback" not in result.err
    return result.err


def test_predict_refuses_to_overwrite_its_own_data(finished, tmp_path: Path) -> None:
    cohort, run = finished
    data = tmp_path / "patients.csv"
    data.write_bytes(cohort.read_bytes())
    before = data.read_bytes()
    line = _refused(clinpred("predict", str(run), "--model", "lasso", "--data", str(data), "-o", str(data)))
    assert "is the --data file itself" in line
    assert data.read_bytes() == before


@pytest.mark.parametrize("link", ["symlink", "hardlink", "relative"])
def test_predict_refuses_the_data_file_by_another_name(finished, tmp_path: Path, link: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cohort, run = finished
    data = tmp_path / "patients.csv"
    data.write_bytes(cohort.read_bytes())
    other = tmp_path / "other.csv"
    if link == "symlink":
        other.symlink_to(data)
    elif link == "hardlink":
        os.link(data, other)
    else:
        monkeypatch.chdir(tmp_path)
        other = Path("sub/../patients.csv")
        (tmp_path / "sub").mkdir()
    before = data.read_bytes()
    line = _refused(clinpred("predict", str(run), "--model", "lasso", "--data", str(data), "-o", str(other)))
    assert "is the --data file itself" in line and data.read_bytes() == before


@pytest.mark.parametrize("target", ["run.json", "metrics.json", "units/lasso/holdout.json", "predictions/lasso.jsonl",
                                    "adapters/lasso/model.skops", "new.csv"])
def test_predict_refuses_an_output_inside_the_run_directory(finished, tmp_path: Path, target: str) -> None:
    cohort, run = finished
    path = run / target
    before = path.read_bytes() if path.exists() else None
    line = _refused(clinpred("predict", str(run), "--model", "lasso", "--data", str(cohort), "-o", str(path)))
    assert "is inside the run directory" in line
    assert (path.read_bytes() if path.exists() else None) == before


def test_predict_writes_beside_the_data(finished, tmp_path: Path) -> None:
    cohort, run = finished
    out = tmp_path / "predictions.csv"
    result = clinpred("predict", str(run), "--model", "lasso", "--data", str(cohort), "-o", str(out))
    assert result.code == 0, result.err
    assert out.read_text().splitlines()[0].startswith("patient_id,p_yes,predicted")


def test_an_adapter_zeroed_in_place_is_refused(tmp_path: Path) -> None:
    """4 KiB zeroed in the middle of a LoRA adapter (same size): `predict` used to load it and score
    P(yes) off by 4.6e-4 without a word; the sha256 the run recorded catches it."""
    from tiny_models import tiny_model_dir

    data = tmp_path / "cohort.csv"
    assert clinpred("data", "synth", "--n", "80", "--seed", "2", "-o", str(data)).code == 0
    config = tmp_path / "c.toml"
    config.write_text("[run]\nbaselines = []\n[evaluation]\nbootstrap = 200\ngenerate = false\n"
                      f"[[models]]\nname = \"tiny\"\nfamily = \"qwen\"\nmodel_id = \"{tiny_model_dir('qwen2')}\"\n"
                      "lora_layers = 2\nlora_rank = 4\nnum_iters = 2\n")
    run = tmp_path / "run"
    assert clinpred("run", "--config", str(config), "--data", str(data), "--model", "tiny", "--out", str(run)).code == 0
    adapter = run / "adapters" / "tiny" / "adapters.safetensors"
    original = adapter.read_bytes()
    raw = bytearray(original)
    middle = len(raw) // 2
    raw[middle:middle + 4096] = bytes(len(raw[middle:middle + 4096]))
    assert bytes(raw) != original and len(raw) == len(original)  # trained weights there, now zeros
    adapter.write_bytes(bytes(raw))
    out = tmp_path / "p.csv"
    line = _refused(clinpred("predict", str(run), "--model", "tiny", "--data", str(data), "-o", str(out),
                             "--config", str(config)))
    assert "adapters.safetensors: its sha256 differs from the one the run recorded" in line
    assert not out.exists()
