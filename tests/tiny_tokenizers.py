"""Small real tokenizers with the families' special tokens and chat templates, for fast tests.

``make_tokenizer`` trains a byte-level BPE (vocabulary ~800, a few hundred milliseconds, once per
session) on a small built-in English + clinical corpus, adds the family's special tokens and sets
a chat template. The pre-tokenizer is the Llama 3 / Qwen2 regex (newlines are grouped, so
``"\\n\\nYes"`` splits as ``"\\n\\n" + "Yes"`` as in the real tokenizers).

The per-family constructors below carry chat templates that follow the structure of the published
ones (tool-calling branches left out), so the traps the family plugins must handle are real:
Llama 3.2's clock date, Mistral v0.3's system text on the last user turn only, Mistral v0.1 and
Gemma 2 raising on a system role, Qwen2.5's default system message, Qwen3's ``enable_thinking``,
Gemma 3 folding the system text, DeepSeek-R1 forcing ``<think>\\n`` after the generation prompt,
and the first Phi-3-mini template silently dropping the system message.
"""

from __future__ import annotations

import functools
from typing import Sequence

import chat_templates as T
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

# The Llama 3 / Qwen2 pre-tokenization regex (digits split one by one as in Qwen2).
_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

_CORPUS_LINES = [
    "Yes", "No", "yes", "no", "YES", "NO", " Yes", " No", "Yes.", "No.", "Answer: Yes", "Answer: No",
    "The answer is Yes.", "The answer is No.", "**Answer:** No.", "Yes or No? It depends.",
    "I cannot answer that. Please consult a doctor.", "I'm sorry, I am unable to predict this.",
    "<think> Let me think about the patient first. </think>", "think thinking thought",
    "You are a clinical prediction assistant. Read the patient record and answer the question "
    "with one word.",
    "Patient record:", "Age: 31 years", "Country: United Kingdom", "Country: Uganda", "Country: Pakistan",
    "Treatment arm: oxytocin", "Treatment arm: placebo", "Systolic blood pressure: 118 mmHg",
    "Diastolic blood pressure: 72 mmHg", "Pulse: 88 beats per minute", "Hemoglobin: 11.4 g/dL",
    "Gestational age: 39 weeks", "Birth weight: 3.3 kg", "Blood loss: 550 mL",
    "Time from delivery to treatment: 48 minutes", "not recorded",
    "Will this patient need manual removal of the placenta? Answer Yes or No.",
    "The patient's age is 27 years. The patient's hemoglobin is 12.1 g/dL.",
    "retained placenta manual removal oxytocin umbilical vein injection trial",
    "Cutting Knowledge Date: December 2023", "Today Date: 26 Jul 2024", "Today Date: 01 Jan 2025",
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
    "user assistant system model tool", "Hello! How are you? I am fine, thank you.",
    "The quick brown fox jumps over the lazy dog.", "0 1 2 3 4 5 6 7 8 9 10 100 2024 2025",
    "mmHg g/dL mL kg bpm cm", "1.5 2.5 3.0 12.0 118.0 0.62",
]


def _corpus() -> list[str]:
    lines = list(_CORPUS_LINES)
    for n in range(0, 200, 7):
        lines.append(f"Age: {n % 50 + 18} years. Pulse: {n + 60} bpm. Hb {n / 10:.1f} g/dL.")
    return lines * 3


@functools.lru_cache(maxsize=None)
def _base_tokenizer_json(vocab_size: int = 800) -> str:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    return tok.to_str()


@functools.lru_cache(maxsize=None)
def make_tokenizer(
    special_tokens: Sequence[str],
    *,
    bos: str | None,
    eos: str,
    pad: str | None = None,
    chat_template: str | None = None,
    add_bos: bool = False,
    extra_tokens: Sequence[str] = (),
):
    """A small real byte-level BPE ``PreTrainedTokenizerFast`` (cached: treat it as read-only).

    ``special_tokens`` (plus ``bos``/``eos``/``pad``) are added as special tokens;
    ``extra_tokens`` as ordinary added tokens (e.g. Qwen3's ``<think>``, which is not special).
    With ``add_bos`` the tokenizer prepends ``bos`` when encoding with special tokens.
    """
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer.from_str(_base_tokenizer_json())
    specials = [t for t in (bos, eos, pad) if t] + [t for t in special_tokens if t not in (bos, eos, pad)]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in dict.fromkeys(specials)])
    if extra_tokens:
        tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in extra_tokens])
    if add_bos:
        if not bos:
            raise ValueError("add_bos needs a bos token")
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))]
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad)
    hf.chat_template = chat_template
    return hf


def without_template(tokenizer):
    """A copy of ``tokenizer`` with no chat template (base models, GGUF conversions)."""
    import copy

    clone = copy.deepcopy(tokenizer)
    clone.chat_template = None
    return clone


# -- one constructor per family format ---------------------------------------------------------

_LLAMA3_SPECIALS = ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>")


def llama31():
    """Llama 3.1 Instruct: header tokens, fixed default date, BOS added by the tokenizer."""
    return make_tokenizer(_LLAMA3_SPECIALS, bos="<|begin_of_text|>", eos="<|eot_id|>",
                          chat_template=T.LLAMA31, add_bos=True)


def llama32():
    """Llama 3.2 Instruct: as 3.1, but the template stamps today's date (strftime_now)."""
    return make_tokenizer(_LLAMA3_SPECIALS, bos="<|begin_of_text|>", eos="<|eot_id|>",
                          chat_template=T.LLAMA32, add_bos=True)


def mistral_v01():
    """Mistral 7B Instruct v0.1: [INST] is plain text; a system role raises."""
    return make_tokenizer((), bos="<s>", eos="</s>", pad=None, chat_template=T.MISTRAL_V01, add_bos=True)


def mistral_v03():
    """Mistral 7B Instruct v0.3: [INST]/[/INST] are control tokens; system text on the last turn."""
    return make_tokenizer(("[INST]", "[/INST]"), bos="<s>", eos="</s>", chat_template=T.MISTRAL_V03, add_bos=True)


_PHI3_SPECIALS = ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>")


def phi3():
    """Phi-3-mini-4k-instruct (July 2024 template, system role supported)."""
    return make_tokenizer(_PHI3_SPECIALS, bos="<s>", eos="<|endoftext|>", chat_template=T.PHI3)


def phi3_legacy():
    """Phi-3-mini-4k-instruct (first template: the system message is silently dropped)."""
    return make_tokenizer(_PHI3_SPECIALS, bos="<s>", eos="<|endoftext|>", chat_template=T.PHI3_LEGACY,
                          add_bos=True)


_CHATML = ("<|im_start|>", "<|im_end|>")


def qwen25():
    """Qwen2.5 Instruct: ChatML, no BOS, default system message."""
    return make_tokenizer(_CHATML, bos=None, eos="<|im_end|>", pad="<|endoftext|>", chat_template=T.QWEN25)


def chatml():
    """Alias of :func:`qwen25` (the ChatML format)."""
    return qwen25()


def qwen3():
    """Qwen3: ChatML with think blocks; ``<think>``/``</think>`` are added (non-special) tokens."""
    return make_tokenizer(_CHATML, bos=None, eos="<|im_end|>", pad="<|endoftext|>", chat_template=T.QWEN3,
                          extra_tokens=("<think>", "</think>"))


_GEMMA_SPECIALS = ("<start_of_turn>", "<end_of_turn>")


def gemma2():
    """Gemma 2 it: a system role raises."""
    return make_tokenizer(_GEMMA_SPECIALS, bos="<bos>", eos="<eos>", pad="<pad>", chat_template=T.GEMMA2,
                          add_bos=True)


def gemma3():
    """Gemma 3 it: the system text is folded into the first user turn."""
    return make_tokenizer(_GEMMA_SPECIALS, bos="<bos>", eos="<eos>", pad="<pad>", chat_template=T.GEMMA3,
                          add_bos=True)


def deepseek_r1():
    """DeepSeek-R1 distill (Qwen based): the generation prompt ends with ``<think>\\n``."""
    return make_tokenizer(("<｜User｜>", "<｜Assistant｜>"), bos="<｜begin▁of▁sentence｜>",
                          eos="<｜end▁of▁sentence｜>", chat_template=T.DEEPSEEK_R1, add_bos=True,
                          extra_tokens=("<think>", "</think>"))


#: name -> constructor, for parametrized tests.
FAMILY_TOKENIZERS = {
    "llama31": llama31, "llama32": llama32, "mistral_v01": mistral_v01, "mistral_v03": mistral_v03,
    "phi3": phi3, "phi3_legacy": phi3_legacy, "qwen25": qwen25, "qwen3": qwen3, "gemma2": gemma2,
    "gemma3": gemma3, "deepseek_r1": deepseek_r1,
}
