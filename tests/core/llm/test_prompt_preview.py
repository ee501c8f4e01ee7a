"""`clinpred prompt --family F` without the model on the machine: the family's format as text
(exit 0, with a note); a --family that disagrees with --model's family is exit 2 naming both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clirun import clinpred

FAMILIES = ["llama", "mistral", "phi", "qwen", "gemma", "deepseek-r1"]
#: a marker of each family's documented turn format that the preview must show
MARKERS = {
    "llama": "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "mistral": "[/INST]",
    "phi": "<|assistant|>\n",
    "qwen": "<|im_start|>assistant\n",
    "gemma": "<start_of_turn>model\n",
    "deepseek-r1": "<｜Assistant｜>",
}


@pytest.fixture
def empty_cache(tmp_path: Path) -> dict[str, str]:
    return {"CLINPRED_HOME": str(tmp_path / "home"), "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}


@pytest.mark.parametrize("family", FAMILIES)
def test_text_only_preview_without_the_model(family: str, empty_cache: dict[str, str]) -> None:
    result = clinpred("prompt", "--family", family, "--json", env=empty_cache)
    assert result.code == 0, result.err
    view = json.loads(result.out)
    assert view["text_only"] is True and view["family"] == family
    assert "need the tokenizer" in view["note"]
    assert MARKERS[family] in view["scoring_prompt"]
    assert view["training_text"] == view["scoring_prompt"] + view["completion"]
    assert view["completion"].startswith(view["answer"]) and view["answer"].strip() == "Yes"
    assert "Patient record" in view["user"]
    assert "label_token_ids" not in view  # nothing token-level is claimed


def test_text_only_preview_human_output(empty_cache: dict[str, str]) -> None:
    result = clinpred("prompt", "--family", "gemma", "--answer", "no", env=empty_cache)
    assert result.code == 0, result.err
    assert "text only" in result.out and "<start_of_turn>model" in result.out and "need the tokenizer" in result.out


def test_family_that_disagrees_with_the_model_is_exit_2() -> None:
    from tiny_models import tiny_model_dir

    # a catalog model carries its family: smollm2-135m-instruct is smollm, not llama
    result = clinpred("prompt", "--family", "llama", "--model", "smollm2-135m-instruct")
    assert result.code == 2
    assert "--family llama" in result.err and "smollm2-135m-instruct" in result.err and "'smollm'" in result.err
    assert "Traceback" not in result.err
    # a path has no family of its own: --family names it
    ok = clinpred("prompt", "--family", "qwen", "--model", str(tiny_model_dir("qwen3")), "--json")
    assert ok.code == 0, ok.err
