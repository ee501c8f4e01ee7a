"""One rule for damaged run files (issue 25, items 5 and 6): a corrupt or wrong-shape run.json,
metrics.json, unit file, status.json or predictions file is exit 2 and one line, in every command
that reads it, with advice that works: `--resume` recomputes a corrupt unit file (and rewrites
metrics.json), a corrupt run.json says to restore it or start a new run. Long paths are one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clirun import clinpred

READERS = ("report", "diagnose", "status", "compare")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(cohort, a finished baselines-only run)."""
    root = tmp_path_factory.mktemp("runfiles")
    cohort = root / "cohort.csv"
    assert clinpred("data", "synth", "--n", "120", "--seed", "5", "-o", str(cohort)).code == 0
    run = root / "run"
    result = clinpred("run", "--baselines-only", "--baseline", "majority", "--baseline", "lasso", "--data", str(cohort),
                      "--out", str(run))
    assert result.code == 0, result.err
    return cohort, run


def _copy(finished, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(finished[1], out)
    return out


def _one_line(result, code: int = 2) -> str:
    assert result.code == code, (result.code, result.err)
    assert "Traceback" not in result.err + result.out
    errors = [line for line in result.err.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.err
    return errors[0]


def _read(command: str, run: Path, cohort: Path, tmp_path: Path):
    if command == "predict":
        return clinpred("predict", str(run), "--model", "lasso", "--data", str(cohort), "-o", str(tmp_path / "p.csv"))
    return clinpred(command, str(run))


@pytest.mark.parametrize("content", ['{"models": 5}', "[]", '{"models": {"lasso": 5}}', '{"models": {}, "warnings": 3}',
                                     "not json {", "\xff\xfe"],
                         ids=["models-a-number", "a-list", "model-a-number", "warnings-a-number", "not-json", "not-utf8"])
@pytest.mark.parametrize("command", ["report", "diagnose", "compare"])
def test_a_damaged_metrics_json_is_one_line_and_resume_rewrites_it(finished, tmp_path: Path, content: str,
                                                                   command: str) -> None:
    run = _copy(finished, tmp_path)
    (run / "metrics.json").write_bytes(content.encode("latin-1"))
    line = _one_line(clinpred(command, str(run)))
    assert "metrics.json is corrupt" in line and "--resume` writes it again" in line
    if command == "report":  # the advice works
        cohort = finished[0]
        resumed = clinpred("run", "--baselines-only", "--baseline", "majority", "--baseline", "lasso",
                           "--data", str(cohort), "--out", str(run), "--resume")
        assert resumed.code == 0, resumed.err
        assert (run / "metrics.json").read_bytes() == (finished[1] / "metrics.json").read_bytes()
        assert clinpred("report", str(run)).code == 0


@pytest.mark.parametrize("content", ["garbage{", "[]", '{"models": 3}', '{"splits": []}'])
@pytest.mark.parametrize("command", [*READERS, "predict", "resume"])
def test_a_damaged_run_json_is_exit_2_with_advice_that_works(finished, tmp_path: Path, content: str, command: str) -> None:
    """Item 6: `run --resume` and `predict` used to exit 1 while status/diagnose/report exited 2, and
    the advice "delete it to recompute" left a directory `--resume` refused."""
    run = _copy(finished, tmp_path)
    (run / "run.json").write_text(content)
    cohort = finished[0]
    if command == "resume":
        result = clinpred("run", "--baselines-only", "--baseline", "majority", "--baseline", "lasso", "--data",
                          str(cohort), "--out", str(run), "--resume")
    else:
        result = _read(command, run, cohort, tmp_path)
    line = _one_line(result)
    assert "run.json is corrupt" in line
    assert "restore it from a backup, or start a new run with another --out" in line
    assert "delete it" not in line
    assert (run / "run.json").read_text() == content  # nothing rewritten


@pytest.mark.parametrize("content", ["garbage{", "[]", '{"status": "done"}', '{"status": "done", "test": 1, "val": 2}'])
def test_a_damaged_unit_file_is_recomputed_by_resume(finished, tmp_path: Path, content: str) -> None:
    run = _copy(finished, tmp_path)
    unit = run / "units" / "lasso" / "holdout.json"
    unit.write_text(content)
    cohort = finished[0]
    line = _one_line(_read("predict", run, cohort, tmp_path))
    assert "units/lasso/holdout.json is corrupt" in line and "--resume` recomputes that unit" in line
    if content.startswith("{"):  # report reads the units too
        assert "--resume` recomputes that unit" in _one_line(clinpred("report", str(run)))
    shown = clinpred("status", str(run))
    assert shown.code == 0 and "corrupt unit file: --resume recomputes it" in shown.out
    resumed = clinpred("run", "--baselines-only", "--baseline", "majority", "--baseline", "lasso",
                       "--data", str(cohort), "--out", str(run), "--resume")
    assert resumed.code == 0, resumed.err
    if not content.startswith('{"status"'):  # JSON of a unit with no fingerprint is simply not done: no word
        assert "holdout.jsoniscorrupt;recomputingthatunit" in "".join(resumed.err.split())  # (wrapped, even the path)
    assert "majority/holdout already done (resumed)" in resumed.err  # only the damaged unit ran again
    assert (run / "metrics.json").read_bytes() == (finished[1] / "metrics.json").read_bytes()
    assert json.loads(unit.read_text())["status"] == "done"


@pytest.mark.parametrize("content", ["{", "[]", '{"units": []}', '{"units": {"lasso/holdout": 3}}'])
def test_a_damaged_status_json_is_one_line(finished, tmp_path: Path, content: str) -> None:
    run = _copy(finished, tmp_path)
    (run / "status.json").write_text(content)
    line = _one_line(clinpred("status", str(run)))
    assert "status.json is corrupt" in line and "it only records progress" in line


def test_a_damaged_predictions_file_is_one_line(finished, tmp_path: Path) -> None:
    run = _copy(finished, tmp_path)
    (run / "predictions" / "lasso.jsonl").write_text('{"id": "1"}\nnot json\n')
    for command in ("report", "diagnose"):
        line = _one_line(clinpred(command, str(run)))
        assert "lasso.jsonl" in line and "--resume` writes it again" in line


_json = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False), st.text(max_size=4)),
                     lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                     max_leaves=8)
_shapes = st.fixed_dictionaries({}, optional={
    "models": st.one_of(_json, st.dictionaries(st.sampled_from(["lasso", "majority"]), st.one_of(_json, st.fixed_dictionaries(
        {}, optional={k: _json for k in ("kind", "status", "metrics", "thresholds", "n", "threshold", "subgroups",
                                          "search", "per_split", "smooth_calibration")})), max_size=2)),
    "warnings": _json, "cohort": _json, "best_baseline": _json, "protocol": _json,
})


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(_shapes)
def test_no_shape_of_metrics_json_gives_a_traceback(finished, tmp_path_factory, metrics: dict) -> None:
    """Wrong-shape JSON that is valid JSON: report, diagnose and compare either work or say it is
    corrupt in one line (exit 2)."""
    run = tmp_path_factory.mktemp("shape") / "run"
    shutil.copytree(finished[1], run)
    (run / "metrics.json").write_text(json.dumps(metrics))
    for command in ("report", "diagnose", "compare"):
        result = clinpred(command, str(run))
        assert "Traceback" not in result.err + result.out, (command, metrics, result.err[-2000:])
        assert result.code in (0, 2), (command, metrics, result.code, result.err[-2000:])
        if result.code == 2:
            assert result.err.count("\n") == 1 and result.err.startswith("Error: "), (command, result.err)


@pytest.mark.parametrize("where", ["name", "parent"])
def test_an_out_with_a_name_too_long_is_one_line(finished, tmp_path: Path, where: str) -> None:
    """Item 5: a path component over 255 bytes used to end in `OSError: File name too long`."""
    long = "x" * 300
    out = tmp_path / long if where == "name" else tmp_path / long / "run"
    result = clinpred("run", "--baselines-only", "--data", str(finished[0]), "--out", str(out))
    line = _one_line(result)
    assert "longer than the file system allows" in line and len(line) < 400


def test_long_paths_elsewhere_are_one_line(finished, tmp_path: Path) -> None:
    long = tmp_path / ("y" * 300)
    cohort, run = finished
    for args in (("data", "check", str(long)), ("run", "--baselines-only", "--data", str(long), "--out", str(tmp_path / "r")),
                 ("run", "--config", str(long), "--out", str(tmp_path / "r")),
                 ("predict", str(run), "--model", "lasso", "--data", str(cohort), "-o", str(long)),
                 ("data", "synth", "--n", "50", "-o", str(long)), ("report", str(long)), ("status", str(long))):
        result = clinpred(*args)
        assert result.code == 2, (args[0], result.code, result.err[-500:])
        assert "Traceback" not in result.err and result.err.count("\n") <= 3, (args[0], result.err)
    assert not (tmp_path / "r").exists()
