"""README "Your own data", run as written: its commands (init -> edit -> check -> run -> report) and
its config, on a small cohort CSV of another study; `run` as baselines only, to stay fast."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from clirun import clinpred

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(marker: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(re.escape(f"<!-- {marker} -->") + r"\n```\w*\n(.*?)\n```", text, re.S)
    assert match, f"README has no code block after <!-- {marker} -->"
    return match.group(1)


def _commands() -> list[list[str]]:
    lines = [shlex.split(line, comments=True) for line in _block("own-data-commands").splitlines()]
    return [words for words in lines if words]


def _cohort(path: Path, n: int = 160) -> None:
    """Heart-failure-like rows with a real signal (age and ejection fraction), ids that are not row numbers."""
    rng = np.random.default_rng(5)
    age = rng.normal(63, 10, n).round()
    ef = rng.normal(38, 9, n).round(1)
    risk = 1 / (1 + np.exp(-(0.06 * (age - 63) - 0.08 * (ef - 38) - 0.8)))
    died = (rng.random(n) < risk).astype(int)
    rows = ["record_id,age,sex,ejection_fraction,smoking,nyha_class,death_event"]
    for i in range(n):
        rows.append(f"HF{4000 + 7 * i},{age[i]:.0f},{rng.choice(['F', 'M'])},{ef[i]:.1f},"
                    f"{rng.choice(['yes', 'no', ''])},{rng.choice(['I', 'II', 'III', 'IV'])},{died[i]}")
    path.write_text("\n".join(rows) + "\n")


def test_the_commands_are_the_documented_walk_through() -> None:
    names = [" ".join(words[:3]) for words in _commands()]
    assert names[:3] == ["clinpred data init", "clinpred data check", "clinpred run --config"]
    assert any(w[:2] == ["clinpred", "run"] and "--config" in w for w in _commands())
    assert 'schema = "schema.toml"' in _block("own-data-config")


def test_the_walk_through_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _cohort(tmp_path / "cohort.csv")
    (tmp_path / "my_config.toml").write_text(_block("own-data-config"))
    for words in _commands():
        assert words[0] == "clinpred"
        args = words[1:]
        if args[0] == "run":
            args.append("--baselines-only")  # the LLM takes minutes; the walk-through is the point here
        result = clinpred(*args)
        assert result.code == 0, f"{' '.join(words)}: {result.err}"
        if args[:2] == ["data", "init"]:
            schema = tmp_path / "schema.toml"
            text = schema.read_text()
            assert 'id_column = "record_id"' in text and 'target_column = "death_event"' in text
            assert "HF4000" not in result.out + text  # never a patient id
            # the edit: the question and one unit
            text = re.sub(r'^question = .*$', 'question = "Will this patient die during follow-up?"', text, flags=re.M)
            text = text.replace('name = "age"\ndisplay = "Age"\nkind = "numeric"\ndecimals = 0\n# unit = ""',
                                'name = "age"\ndisplay = "Age"\nkind = "numeric"\ndecimals = 0\nunit = "years"\n#')
            assert 'unit = "years"' in text
            schema.write_text(text)
        if args[:2] == ["data", "check"]:
            assert "160 rows" in result.out and "OK: the data matches the schema." in result.out
    run = tmp_path / "runs" / "first"
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["models"]) == {"majority", "lasso", "random_forest", "gradient_boosting"}
    info = json.loads((run / "run.json").read_text())
    assert info["evaluation"]["protocol"] == "cv" and info["evaluation"]["cv_repeats"] == 2
    assert info["dataset"]["task"]["question"] == "Will this patient die during follow-up?"
    assert (run / "report.md").is_file()
