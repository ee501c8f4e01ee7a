"""``clinpred data check`` and ``clinpred data synth`` through the real entry point."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from clinpred.cli.main import main
from clinpred.core.data.synthetic import bayes_auroc

BAD = Path(__file__).parents[2] / "data" / "bad"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Invoke ``clinpred`` as the console script does; returns (exit status, stdout, stderr)."""
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_synth_twice_gives_identical_files_and_a_realistic_auroc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    code, out, _ = run(["data", "synth", "--n", "577", "--seed", "7", "-o", str(a)], capsys)
    assert code == 0
    assert run(["data", "synth", "--n", "577", "--seed", "7", "-o", str(b)], capsys)[0] == 0
    assert a.read_bytes() == b.read_bytes()
    match = re.search(r"Bayes-optimal AUROC: (0\.\d{3})", out)
    assert match and 0.60 <= float(match.group(1)) <= 0.75
    assert "577 rows" in out
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed


def test_synth_truth_file_matches_the_printed_auroc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    data, truth = tmp_path / "c.csv", tmp_path / "truth.csv"
    code, out, _ = run(["data", "synth", "--n", "300", "--seed", "3", "-o", str(data), "--truth", str(truth)], capsys)
    assert code == 0
    cohort, p = pd.read_csv(data), pd.read_csv(truth)
    assert "true_probability" not in cohort.columns
    assert list(p.columns) == ["patient_id", "true_probability"]
    assert (p["patient_id"] == cohort["patient_id"]).all()
    printed = float(re.search(r"AUROC: (0\.\d{3})", out).group(1))
    assert printed == pytest.approx(bayes_auroc(cohort["manual_removal"], p["true_probability"]), abs=0.0006)


def test_synth_refuses_truth_in_the_data_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.csv"
    code, _, err = run(["data", "synth", "-o", str(path), "--truth", str(path)], capsys)
    assert code == 2 and "--truth must be a different file" in err and not path.exists()


def test_synth_into_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["data", "synth", "-o", str(tmp_path / "no" / "c.csv")], capsys)
    assert code == 2 and "does not exist" in err and "Traceback" not in err


def test_check_accepts_the_synthetic_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a.csv"
    run(["data", "synth", "--seed", "7", "-o", str(path)], capsys)
    code, out, err = run(["data", "check", str(path)], capsys)
    assert code == 0, err
    assert "577 rows" in out and "prevalence" in out and "hemoglobin" in out
    assert "OK: the data matches the schema." in out
    code, out, _ = run(["-q", "data", "check", str(path)], capsys)
    assert code == 0 and out.startswith("OK 577 rows")


def test_check_without_path_checks_the_schema_data(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["data", "check"], capsys)
    assert code == 0 and "synthetic retained-placenta cohort (n=577, seed=42)" in out


def test_check_with_a_config_and_warnings_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d.csv"
    rows = [f"p{i},{'' if i % 2 else '5'},{'yes' if i < 12 else 'no'}" for i in range(30)]
    data.write_text("pid,score,out\n" + "\n".join(rows) + "\n")
    config = tmp_path / "c.toml"
    config.write_text(
        '[dataset]\npath = "d.csv"\nid_column = "pid"\ntarget_column = "out"\npositive_values = ["yes"]\n'
        '[dataset.task]\nquestion = "Q?"\n[[dataset.features]]\nname = "score"\n'
    )
    code, out, err = run(["data", "check", "--config", str(config)], capsys)
    assert code == 0
    assert err.count("Warning: column 'score': 50% of values are missing") == 1
    assert "30 rows" in out and "12 events" in out


def test_check_rejects_a_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[dataset]\npath = "d.csv"\ntarget_colum = "x"\n')
    code, _, err = run(["data", "check", "--config", str(config)], capsys)
    assert code == 2 and "unknown key 'target_colum' (did you mean 'target_column'?)" in err


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", "the file is empty"),
        ("missing_target.csv", "missing column 'manual_removal'"),
        ("non_numeric.csv", "column 'age', line 7: 'thirty' is not a number"),
        ("binary.csv", "is a binary file"),
        ("non_binary_target.csv", "target column 'manual_removal' has value '2'"),
        ("duplicate_ids.csv", "appears twice in id column 'patient_id'"),
        ("all_missing_feature.csv", "feature column 'hemoglobin' has no values"),
        ("too_few_events.csv", "has only 3 positive rows"),
        ("ragged.tsv", "line 6 has 13 fields"),
    ],
)
def test_check_rejects_bad_files_with_one_line(name: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["data", "check", str(BAD / name)], capsys)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]
    assert "Traceback" not in err


def test_check_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["data", "check", str(tmp_path / "nope.csv")], capsys)
    assert code == 2
    assert err.strip() == f"Error: {tmp_path / 'nope.csv'}: data file not found; check the path (or use \"synthetic\")"


def test_data_help_lists_both_commands() -> None:
    from clinpred.cli.main import cli

    result = CliRunner().invoke(cli, ["data", "--help"])
    assert result.exit_code == 0 and "check" in result.output and "synth" in result.output


def test_synth_numeric_design(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from clinpred.core.data.synthetic import DESIGNS

    data = tmp_path / "n.csv"
    code, out, _ = run(["data", "synth", "--n", "3000", "--seed", "3", "--design", "numeric", "-o", str(data)], capsys)
    assert code == 0 and "design numeric" in out
    assert 0.76 <= float(re.search(r"AUROC: (0\.\d{3})", out).group(1)) <= 0.84
    code, _, err = run(["data", "synth", "--design", "bogus", "-o", str(data)], capsys)
    assert code == 2 and "bogus" in err
    help_text = run(["data", "synth", "--help"], capsys)[1]
    assert all(name in help_text for name in DESIGNS)
