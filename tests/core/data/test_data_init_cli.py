"""`clinpred data init`, and `data check --config` / `prompt --config` with a run config or a schema
file, through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clinpred.core.run.config import bundled_config_text
from clirun import clinpred


def _cohort_csv(path: Path, n: int = 90) -> list[str]:
    """A small cohort of another study (not the synthetic one's columns); returns its ids."""
    rng = np.random.default_rng(11)
    ids = [f"S-{7000 + 3 * i}" for i in range(n)]
    rows = ["study_id,age,sex,nyha,ef,smoker,death_event"]
    for i, pid in enumerate(ids):
        rows.append(f"{pid},{rng.normal(62, 9):.0f},{rng.choice(['F', 'M'])},{rng.choice(['I', 'II', 'III'])},"
                    f"{rng.normal(38, 8):.1f},{rng.choice(['yes', 'no', 'NA'])},{int(i % 3 == 0)}")
    path.write_text("\n".join(rows) + "\n")
    return ids


@pytest.fixture
def cohort(tmp_path: Path) -> tuple[Path, list[str]]:
    path = tmp_path / "cohort.csv"
    return path, _cohort_csv(path)


def test_init_writes_a_schema_that_check_accepts(cohort: tuple[Path, list[str]], tmp_path: Path) -> None:
    data, ids = cohort
    schema = tmp_path / "schema.toml"
    made = clinpred("data", "init", str(data), "-o", str(schema))
    assert made.code == 0, made.err
    assert "'study_id'" in made.out and "'death_event'" in made.out and "5 (" in made.out
    assert not any(pid in made.out or pid in schema.read_text() for pid in ids)  # never a patient id
    checked = clinpred("data", "check", "--config", str(schema))
    assert checked.code == 0, checked.err
    assert "90 rows" in checked.out and "30 events" in checked.out


def test_init_refuses_to_overwrite_unless_forced(cohort: tuple[Path, list[str]], tmp_path: Path) -> None:
    data, _ = cohort
    schema = tmp_path / "schema.toml"
    schema.write_text("# mine\n")
    refused = clinpred("data", "init", str(data), "-o", str(schema))
    assert refused.code == 2 and "already exists" in refused.err and "--force" in refused.err
    assert schema.read_text() == "# mine\n"
    assert clinpred("data", "init", str(data), "-o", str(schema), "--force").code == 0
    assert "id_column" in schema.read_text()
    missing = clinpred("data", "init", str(data), "-o", str(tmp_path / "no" / "s.toml"))
    assert missing.code == 2 and "does not exist" in missing.err


def test_init_with_named_columns_and_a_bad_name(cohort: tuple[Path, list[str]], tmp_path: Path) -> None:
    data, _ = cohort
    schema = tmp_path / "s.toml"
    bad = clinpred("data", "init", str(data), "-o", str(schema), "--target", "ef")
    assert bad.code == 2 and "target column 'ef' has" in bad.err and not schema.exists()
    ok = clinpred("data", "init", str(data), "-o", str(schema), "--target", "sex")
    assert ok.code == 0 and 'target_column = "sex"' in schema.read_text()


def test_check_accepts_a_copy_of_the_bundled_config_and_its_schema_key(cohort: tuple[Path, list[str]],
                                                                      tmp_path: Path) -> None:
    data, _ = cohort
    copy = tmp_path / "my_configs.toml"
    copy.write_text(bundled_config_text())
    plain = clinpred("data", "check", "--config", str(copy))  # no [dataset]: the synthetic cohort
    assert plain.code == 0, plain.err
    assert "synthetic retained-placenta cohort" in plain.out
    refused = clinpred("data", "check", str(data), "--config", str(copy))
    assert refused.code == 2 and "has no [dataset] table" in refused.err and "clinpred data init" in refused.err
    assert clinpred("data", "init", str(data), "-o", str(tmp_path / "schema.toml")).code == 0
    copy.write_text(bundled_config_text() + '\n[dataset]\nschema = "schema.toml"\n')
    mine = clinpred("data", "check", "--config", str(copy))
    assert mine.code == 0, mine.err
    assert "90 rows" in mine.out and "cohort.csv" in mine.out


def test_a_file_that_is_neither_says_which_to_give(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text('datset = "d.csv"\n')
    result = clinpred("data", "check", "--config", str(path))
    assert result.code == 2
    assert "unknown key 'datset' (did you mean 'dataset'?)" in result.err
    assert "run config" in result.err and "dataset schema file" in result.err
    config = tmp_path / "c.toml"
    config.write_text('[dataset]\nschema = "other.toml"\n')
    (tmp_path / "other.toml").write_text(bundled_config_text())
    pointed = clinpred("data", "check", "--config", str(config))
    assert pointed.code == 2 and "is a run config with no [dataset] table, not a dataset schema" in pointed.err


def test_own_data_without_a_schema_says_how_to_give_one(cohort: tuple[Path, list[str]]) -> None:
    data, _ = cohort
    result = clinpred("data", "check", str(data))
    assert result.code == 2 and "missing columns" in result.err
    assert f"clinpred data init {data} -o schema.toml" in result.err


@pytest.fixture
def no_models(tmp_path: Path) -> dict[str, str]:
    """An empty model cache: `prompt --family` shows the format as text (no model download)."""
    return {"CLINPRED_HOME": str(tmp_path / "home"), "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}


def test_prompt_reads_the_schema_and_takes_a_patient_id(cohort: tuple[Path, list[str]], tmp_path: Path,
                                                        no_models: dict[str, str]) -> None:
    data, ids = cohort
    schema = tmp_path / "schema.toml"
    assert clinpred("data", "init", str(data), "-o", str(schema)).code == 0
    by_id = clinpred("prompt", "--family", "qwen", "--config", str(schema), "--row", ids[7], "--json", env=no_models)
    assert by_id.code == 0, by_id.err
    view = json.loads(by_id.out)
    assert (view["row"], view["patient_id"]) == (7, ids[7]) and "Ef: " in view["user"]
    by_row = json.loads(clinpred("prompt", "--family", "qwen", "--config", str(schema), "--row", "7", "--json",
                                 env=no_models).out)
    assert by_row["user"] == view["user"]
    prefixed = json.loads(clinpred("prompt", "--family", "qwen", "--config", str(schema), "--row", f"id:{ids[7]}",
                                   "--json", env=no_models).out)
    assert prefixed["user"] == view["user"]
    unknown = clinpred("prompt", "--family", "qwen", "--config", str(schema), "--row", "S-1", env=no_models)
    assert unknown.code == 2 and "no patient has id 'S-1' in id column 'study_id'" in unknown.err
    far = clinpred("prompt", "--family", "qwen", "--config", str(schema), "--row", "500", env=no_models)
    assert far.code == 2 and "out of range: the dataset has 90 rows" in far.err
    own = clinpred("prompt", "--family", "qwen", "--data", str(data), env=no_models)
    assert own.code == 2 and "pass --config with your dataset schema file" in own.err


def test_a_numeric_id_needs_the_prefix(tmp_path: Path, no_models: dict[str, str]) -> None:
    data = tmp_path / "d.csv"
    data.write_text("pid,x,y\n" + "".join(f"{900 + i},{i % 5},{i % 2}\n" for i in range(40)))
    schema = tmp_path / "s.toml"
    assert clinpred("data", "init", str(data), "-o", str(schema)).code == 0
    plain = clinpred("prompt", "--family", "qwen", "--config", str(schema), "--row", "905", env=no_models)
    assert plain.code == 2 and "use --row id:905" in plain.err
    view = json.loads(clinpred("prompt", "--family", "qwen", "--config", str(schema), "--row", "id:905", "--json",
                               env=no_models).out)
    assert (view["row"], view["patient_id"]) == (5, "905")


def test_prompt_with_a_tokenizer_shows_the_patient_by_id(cohort: tuple[Path, list[str]], tmp_path: Path) -> None:
    from tiny_models import tiny_model_dir

    data, ids = cohort
    schema = tmp_path / "schema.toml"
    assert clinpred("data", "init", str(data), "-o", str(schema)).code == 0
    model = str(tiny_model_dir("qwen3"))
    result = clinpred("prompt", "--family", "qwen", "--model", model, "--config", str(schema), "--row", ids[3], "--json")
    assert result.code == 0, result.err
    view = json.loads(result.out)
    assert (view["row"], view["patient_id"]) == (3, ids[3]) and "label_token_ids" in view
    shown = clinpred("prompt", "--family", "qwen", "--model", model, "--config", str(schema), "--row", ids[3])
    assert shown.code == 0 and f"row 3 (id {ids[3]})" in shown.out
