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


# -- issue 17: reliability cases (items 5-9), plus others of the same classes -----------------------

@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cohort") / "cohort.csv"
    assert clinpred("data", "synth", "--n", "120", "--seed", "5", "-o", str(path)).code == 0
    return path


@pytest.mark.parametrize("nesting", ["array", "inline-table"])
def test_deeply_nested_toml_is_one_line(nesting: str, tmp_path: Path) -> None:
    """Item 5: 100,000 levels of nesting used to end in a RecursionError traceback."""
    depth = 100_000
    value = "[" * depth + "]" * depth if nesting == "array" else "{a=" * depth + "1" + "}" * depth
    config = tmp_path / "deep.toml"
    config.write_text(f"[evaluation]\nseed = {value}\n")
    result = clinpred("run", "--config", str(config), "--out", str(tmp_path / "run"))
    _one_clean_line(result)
    assert "nested too deeply" in result.err and not (tmp_path / "run").exists()


def test_deeply_nested_json_outputs_are_one_line(tmp_path: Path) -> None:
    raw = tmp_path / "outputs.jsonl"
    raw.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    result = clinpred("diagnose", str(raw))
    _one_clean_line(result)
    assert "nested too deeply" in result.err


def test_deeply_nested_run_json_is_one_line(tmp_path: Path, cohort: Path) -> None:
    out = tmp_path / "run"
    assert clinpred("run", "--baselines-only", "--data", str(cohort), "--out", str(out)).code == 0
    (out / "run.json").write_text("[" * 100_000 + "]" * 100_000)
    result = clinpred("predict", str(out), "--model", "m", "--data", str(cohort), "-o", str(tmp_path / "p.csv"))
    _one_clean_line(result)


@pytest.mark.parametrize("args", [
    ("run", "--baselines-only", "--seed", str(2**32)),
    ("baselines", "--seed", str(2**32)),
    ("run", "--iters", "100000000000000000"),
    ("run", "--baselines-only", "--cv", "1000"),
    ("run", "--baselines-only", "--cv", "5", "--repeats", "100000"),
    ("data", "synth", "--seed", str(2**32), "-o", "never.csv"),
    ("data", "synth", "--n", str(10**12), "-o", "never.csv"),
], ids=["run-seed", "baselines-seed", "iters", "cv", "repeats", "synth-seed", "synth-n"])
def test_out_of_range_options_are_refused_up_front(args: tuple[str, ...], tmp_path: Path) -> None:
    """Item 6: --seed above 2**32-1 used to make every baseline fail at run time (exit 0)."""
    result = clinpred(*args, "--out", str(tmp_path / "run")) if args[0] != "data" else clinpred(*args)
    assert result.code == 2, result.err
    assert "is out of range; it must be between" in result.err and "Traceback" not in result.err
    assert not (tmp_path / "run").exists() and not Path("never.csv").exists()


def test_the_largest_seed_runs(tmp_path: Path, cohort: Path) -> None:
    """The bound is inclusive, and per-split seeds (seed + k) stay inside numpy's range."""
    result = clinpred("run", "--baselines-only", "--data", str(cohort), "--cv", "3", "--seed", str(2**32 - 1),
                      "--out", str(tmp_path / "run"))
    assert result.code == 0, result.err


@pytest.mark.parametrize("where", [0.5, 0.99])
def test_a_nul_byte_anywhere_in_a_text_file_is_refused(where: float, tmp_path: Path, cohort: Path) -> None:
    """Item 6: a NUL beyond the first 8 KiB used to become part of a category level."""
    big = tmp_path / "big.csv"
    assert clinpred("data", "synth", "--n", "1000", "-o", str(big)).code == 0
    text = big.read_text()
    cut = text.index("\n", int(len(text) * where)) + 3  # inside a data row
    assert cut > 8192  # past the start that the binary-file check looks at
    bad = tmp_path / "nul.csv"
    bad.write_text(text[:cut] + "\x00" + text[cut:])
    for args in (("data", "check", str(bad)), ("run", "--baselines-only", "--data", str(bad), "--out", str(tmp_path / "r"))):
        result = clinpred(*args)
        _one_clean_line(result)
        assert "NUL byte" in result.err and "line " in result.err
    assert not (tmp_path / "r").exists()


def _with_levels(cohort: Path, dest: Path, n_levels: int, rows: int, numeric: bool = False) -> Path:
    import pandas as pd

    from clinpred.core.data.synthetic import cohort_csv, generate_cohort

    frame, _ = generate_cohort(n=rows, seed=9)
    frame["country"] = [(f"{k % n_levels}" if numeric else f"site-{k % n_levels}") for k in range(rows)]
    dest.write_bytes(cohort_csv(pd.DataFrame(frame)))
    return dest


@pytest.mark.parametrize("numeric", [False, True], ids=["text", "numbers"])
def test_a_categorical_with_thousands_of_levels_is_refused_with_the_count(numeric: bool, tmp_path: Path,
                                                                          cohort: Path) -> None:
    """Item 6: it used to run for many minutes without a word."""
    bad = _with_levels(cohort, tmp_path / "levels.csv", 3000, 3000, numeric)
    result = clinpred("run", "--baselines-only", "--data", str(bad), "--out", str(tmp_path / "r"))
    _one_clean_line(result)
    assert "'country' has 3000 distinct values" in result.err
    assert ('kind = "numeric"' in result.err) == numeric
    assert not (tmp_path / "r").exists()


def test_a_categorical_with_many_levels_is_a_warning_in_run(tmp_path: Path, cohort: Path) -> None:
    data = _with_levels(cohort, tmp_path / "levels.csv", 80, 240)
    result = clinpred("run", "--baselines-only", "--data", str(data), "--out", str(tmp_path / "r"))
    assert result.code == 0, result.err
    assert "Warning: column 'country': categorical with 80 distinct values" in result.err


@pytest.mark.parametrize("statement", ["import sys\nsys.exit(3)\n", "raise SystemExit(0)\n", "raise KeyboardInterrupt\n"],
                         ids=["sys.exit(3)", "SystemExit(0)", "KeyboardInterrupt"])
def test_a_plugin_that_exits_at_import_is_a_broken_plugin(statement: str, tmp_path: Path) -> None:
    """Item 7: `clinpred --plugin p.py families` used to print nothing and exit with the plugin's code."""
    plugin = tmp_path / "exiting.py"
    plugin.write_text(statement)
    result = clinpred("--plugin", str(plugin), "families")
    assert result.code == 0 and "smollm" in result.out
    assert "plugin 'exiting' failed: error importing plugin:" in result.err
    strict = clinpred("--strict-plugins", "--plugin", str(plugin), "families")
    assert strict.code == 1 and "plugin 'exiting'" in strict.err.splitlines()[-1]


def test_too_many_folds_names_the_short_class(tmp_path: Path) -> None:
    """Item 8: 72 positives / 48 negatives with --cv 100 used to say "positive ... the data has 48"."""
    import pandas as pd

    from clinpred.core.data.synthetic import cohort_csv, generate_cohort

    frame, _ = generate_cohort(n=400, seed=3)
    frame = pd.concat([frame[frame.manual_removal == 1].head(72), frame[frame.manual_removal == 0].head(48)])
    data = tmp_path / "c.csv"
    data.write_bytes(cohort_csv(frame))
    result = clinpred("run", "--baselines-only", "--data", str(data), "--cv", "30", "--out", str(tmp_path / "r"))
    _one_clean_line(result)
    assert "needs at least 60 negative patients; the data has 48 (72 positive, 48 negative)" in result.err


def _run_ok(cohort: Path, out: Path) -> None:
    assert clinpred("run", "--baselines-only", "--data", str(cohort), "--out", str(out)).code == 0


def test_resume_on_other_data_is_exit_2(tmp_path: Path, cohort: Path) -> None:
    """Item 9: the user's own mistakes about a run directory are bad input (exit 2), not exit 1."""
    out = tmp_path / "run"
    _run_ok(cohort, out)
    other = tmp_path / "other.csv"
    assert clinpred("data", "synth", "--n", "120", "--seed", "6", "-o", str(other)).code == 0
    result = clinpred("run", "--baselines-only", "--data", str(other), "--out", str(out), "--resume")
    _one_clean_line(result)
    assert "data file (sha256) differ" in result.err


def test_resume_on_a_directory_with_no_run_is_exit_2(tmp_path: Path, cohort: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = clinpred("run", "--baselines-only", "--data", str(cohort), "--out", str(tmp_path / "empty"), "--resume")
    _one_clean_line(result)
    assert "holds no run to resume" in result.err


def test_out_that_already_holds_a_run_is_exit_2(tmp_path: Path, cohort: Path) -> None:
    out = tmp_path / "run"
    _run_ok(cohort, out)
    result = clinpred("run", "--baselines-only", "--data", str(cohort), "--out", str(out))
    _one_clean_line(result)
    assert "already holds a run" in result.err


@pytest.mark.parametrize("error", ["EROFS", "EACCES"])
def test_a_read_only_out_is_exit_2(error: str, tmp_path: Path, cohort: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import os

    real_mkdir = Path.mkdir

    def refuse(self: Path, *args, **kwargs):  # a read-only file system (tests may run as root)
        if tmp_path / "ro" in (self, *self.parents):
            raise OSError(getattr(errno, error), os.strerror(getattr(errno, error)), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    result = clinpred("run", "--baselines-only", "--data", str(cohort), "--out", str(tmp_path / "ro" / "run"))
    _one_clean_line(result)
    assert "cannot create run directory" in result.err and "writable --out" in result.err


@pytest.mark.parametrize("fail_at", [1, 3])
def test_report_on_a_full_disk_leaves_no_report_files(fail_at: int, tmp_path: Path, cohort: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 8: a report that fails on a full disk used to leave an empty report_files/ behind."""
    import errno

    import clinpred.core.atomic as atomic

    out = tmp_path / "run"
    _run_ok(cohort, out)
    before = sorted(p.name for p in out.iterdir())
    real_fsync, calls = atomic.os.fsync, []
    import os

    def full_disk(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}")
        if "/report_files/" in target or "/.report." in target:  # the report's figures and pages
            calls.append(fd)
            if len(calls) >= fail_at:
                raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", full_disk)
    result = clinpred("report", str(out))
    assert result.code == 1 and result.err.count("\n") == 1, result.err
    assert "No space left on device" in result.err and "Traceback" not in result.err
    assert sorted(p.name for p in out.iterdir()) == before  # no report_files/, report.md or lock left


def test_top_level_help_says_how_the_default_model_is_obtained_and_where_runs_go() -> None:
    """Item 10: the help said 'offline' while the README said 'fetched once from PyPI'."""
    result = clinpred("--help")
    assert result.code == 0
    assert "fetched once from PyPI" in result.out and "offline" in result.out
    assert "runs/run-YYYYmmdd-HHMMSS" in result.out


@pytest.mark.parametrize("command", [("report",), ("status",), ("diagnose",), ("predict", "--model", "lasso")])
@pytest.mark.parametrize("kind", ["file", "missing"])
def test_a_run_dir_that_is_a_file_or_missing_is_one_line(command: tuple[str, ...], kind: str, tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    if kind == "file":
        target.write_text("{}")
    extra = ("--data", str(target), "-o", str(tmp_path / "out.csv")) if command[0] == "predict" else ()
    result = clinpred(*command, str(target), *extra)
    _one_clean_line(result)
    if command[0] == "diagnose":  # PATH may be a run directory or a file of outputs
        assert ("no model outputs found" if kind == "file" else "no such file or directory") in result.err
    else:
        assert ("is a file, not a run directory" if kind == "file" else "no such run directory") in result.err
