"""`clinpred diagnose`: parse statuses of outputs clinpred did not write, run directories, --reparse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clirun import clinpred
from llm_run import LLM, add_llm, make_baseline_run, synth_csv

#: (raw output, true label, expected status, expected parsed label)
EXTERNAL = [
    ("<think>UK patient, Yes or No... blood loss is high.</think>\n\nYes", 1, "ok", 1),
    ("<think>Let me weigh Yes against No given the hemoglobin", 0, "unterminated-think", None),
    ("**Answer:** No.", 0, "ok", 0),
    ("", 1, "empty", None),
    ("I'm sorry, but I cannot make a medical prediction. Please consult a doctor.", 1, "refusal", None),
    ("Yes or No? It depends.", 0, "ambiguous", None),
    ("<think>Yes? No?</think>", 1, "think-only", None),
    ("No", 0, "ok", 0),
    ("The placenta will probably deliver on its own", 0, "other", None),
]


def _json(result) -> dict:
    assert result.code == 0, result.err
    return json.loads(result.out)


@pytest.fixture()
def outputs_jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "outputs.jsonl"
    path.write_text("".join(json.dumps({"output": t, "label": y}) + "\n" for t, y, _, _ in EXTERNAL))
    return path


def test_external_jsonl_each_output_classified(outputs_jsonl: Path) -> None:
    report = _json(clinpred("diagnose", str(outputs_jsonl), "--family", "qwen", "--json"))
    model = report["models"]["outputs"]
    assert [r["status"] for r in model["rows"]] == [s for _, _, s, _ in EXTERNAL]
    assert [r["parsed"] for r in model["rows"]] == [p for _, _, _, p in EXTERNAL]
    parse = model["parse"]
    assert parse["source"] == "parsed"
    assert parse["counts"]["ok"] == 3 and parse["failures"] == 6
    assert parse["think_tags"]["count"] == 3
    assert parse["run_on"] == {"count": 0, "rate": 0.0, "examples": []}
    assert parse["examples"]["ambiguous"] == ["Yes or No? It depends."]
    assert parse["examples"]["empty"] == [""]
    text = model["metrics"]["text"]
    assert (text["n"], text["tp"], text["tn"], text["fp"], text["fn"]) == (3, 1, 2, 0, 0)
    assert text["coverage"] == pytest.approx(3 / 9)
    assert model["metrics"]["probability"] is None and model["p_yes"] is None


def test_external_file_needs_a_family(outputs_jsonl: Path) -> None:
    result = clinpred("diagnose", str(outputs_jsonl))
    assert result.code == 2
    assert "give --family F" in result.err
    unknown = clinpred("diagnose", str(outputs_jsonl), "--family", "nosuchfamily")
    assert unknown.code == 2 and "unknown family" in unknown.err


def test_csv_with_named_columns_and_long_examples(tmp_path: Path) -> None:
    path = tmp_path / "gen.csv"
    long = "I cannot answer that. " + "x" * 300
    path.write_text('answer,truth\nYes,yes\n"No, not needed",no\n"' + long + '",yes\n')
    report = _json(clinpred("diagnose", str(path), "--family", "llama", "--text-column", "answer",
                            "--label-column", "truth", "--json"))
    model = report["models"]["gen"]
    assert [r["status"] for r in model["rows"]] == ["ok", "ok", "refusal"]
    example = model["parse"]["examples"]["refusal"][0]
    assert len(example) == 120 and example.endswith("…")
    assert model["prevalence"] == pytest.approx(2 / 3)
    missing = clinpred("diagnose", str(path), "--family", "llama", "--text-column", "nope")
    assert missing.code == 2 and "no column 'nope'" in missing.err


def test_collapse_and_collapsed_score_flags(tmp_path: Path) -> None:
    path = tmp_path / "flat.jsonl"
    rows = [{"raw_output": "Yes", "label": k % 2, "p_yes": 0.7 + 0.001 * (k % 3), "predicted": 1} for k in range(40)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = _json(clinpred("diagnose", str(path), "--family", "phi", "--json"))["models"]["flat"]
    assert model["predicted_from_probability"]["collapsed"] and model["predicted_from_text"]["collapsed"]
    assert model["p_yes"]["collapsed"] and model["p_yes"]["iqr"] < 0.01
    assert model["agreement"] == {"n": 40, "rate": 1.0}
    assert any(f.startswith("one-class collapse (parsed labels): 100% predicted positive") for f in model["flags"])
    assert any(f.startswith("collapsed score") for f in model["flags"])


@pytest.fixture(scope="module")
def llm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("diag")
    data = synth_csv(root / "cohort.csv")
    run = make_baseline_run(root / "run", data)
    add_llm(run, data)
    return run


def test_run_directory_uses_stored_statuses(llm_run: Path) -> None:
    report = _json(clinpred("diagnose", str(llm_run), "--json"))
    assert report["kind"] == "run"
    assert set(report["models"]) == {"majority", "lasso", "random_forest", "gradient_boosting", LLM}
    llm = report["models"][LLM]
    assert llm["family"] == "qwen" and llm["parse"]["source"] == "stored"
    stored = [json.loads(line) for line in (llm_run / "predictions" / f"{LLM}.jsonl").read_text().splitlines()]
    assert [r["status"] for r in llm["rows"]] == [r["parse_status"] for r in stored]
    assert llm["parse"]["changed_by_current_parser"] == 0
    # parsed labels agree with the probability label wherever the text answered (the fixture's design)
    assert llm["agreement"]["rate"] == 1.0
    majority = report["models"]["majority"]
    assert majority["parse"] is None and majority["predicted_from_probability"]["collapsed"]
    assert majority["p_yes"]["collapsed"]
    assert not report["models"]["lasso"]["flags"]
    table = clinpred("diagnose", str(llm_run))
    assert table.code == 0 and LLM in table.out and "[unterminated-think]" in table.out


def test_reparse_fixes_stale_statuses(llm_run: Path, tmp_path: Path) -> None:
    """Outputs stored by an older, naive parser are re-read by the current plugins."""
    source = llm_run / "predictions" / f"{LLM}.jsonl"
    rows = [json.loads(line) for line in source.read_text().splitlines()]
    stale = [dict(r, parse_status="other", parsed=None) if r["raw_output"].startswith("<think>") and r["parse_status"] == "ok" else r
             for r in rows]
    n_stale = sum(a != b for a, b in zip(rows, stale))
    assert n_stale > 0
    path = tmp_path / "stale.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in stale))
    before = _json(clinpred("diagnose", str(path), "--family", "qwen", "--json"))["models"]["stale"]
    assert before["parse"]["changed_by_current_parser"] == n_stale
    after = _json(clinpred("diagnose", str(path), "--family", "qwen", "--reparse", "--json"))["models"]["stale"]
    assert after["parse"]["source"] == "reparsed"
    assert after["parse"]["counts"]["ok"] == before["parse"]["counts"]["ok"] + n_stale
    assert after["metrics"]["text"]["n"] == before["metrics"]["text"]["n"] + n_stale
    assert [r["status"] for r in after["rows"]] == [r["parse_status"] for r in rows]


def test_predictions_file_inside_a_run_knows_its_family(llm_run: Path) -> None:
    report = _json(clinpred("diagnose", str(llm_run / "predictions" / f"{LLM}.jsonl"), "--reparse", "--json"))
    assert report["kind"] == "predictions"
    assert report["models"][LLM]["family"] == "qwen"


def test_answers_that_run_on_past_the_answer_word_are_counted(tmp_path: Path) -> None:
    rows = [("Yes", 1), ("No.", 0), ("Yes. Yes, yes. Yes.", 1), ("No, because the blood loss is high", 0),
            ("**Answer:** Yes!", 1), ("NoYesYesYes", 0)]
    path = tmp_path / "outputs.jsonl"
    path.write_text("".join(json.dumps({"output": t, "label": y}) + "\n" for t, y in rows))
    model = _json(clinpred("diagnose", str(path), "--family", "smollm", "--json"))["models"]["outputs"]
    run_on = model["parse"]["run_on"]
    assert run_on["count"] == 2 and run_on["rate"] == pytest.approx(2 / 5)
    assert run_on["examples"] == ["Yes. Yes, yes. Yes.", "No, because the blood loss is high"]
    assert any("2 answer(s) run on past the answer word" in f for f in model["flags"])
    assert model["parse"]["counts"]["ok"] == 5  # "NoYesYesYes" does not parse at all
