"""The GGUF architectures the built-in families' llama.cpp files use, and how they convert.

Each family plugin lists the ones its models use (``FamilySpec.gguf_architectures``) with the
llama.cpp pre-tokenizer names of its vocabularies (``FamilySpec.gguf_pre_tokenizers``, mapped
onto the engine's split rules from llama.cpp's ``llama-vocab.cpp`` table), so
``clinpred models import`` converts them and refuses anything else in one line.
"""

from __future__ import annotations

from clinpred.api import GGUFArchitecture

#: Llama 2/3, Mistral 7B, SmolLM2, DeepSeek-R1-Distill-Llama: the plain decoder; llama.cpp
#: permutes the q/k projections of this architecture for interleaved rotary embeddings.
LLAMA = GGUFArchitecture(name="llama", model_type="llama", permuted_qk=True)

#: Qwen2 / Qwen2.5 and DeepSeek-R1-Distill-Qwen: the plain decoder with q/k/v biases.
QWEN2 = GGUFArchitecture(name="qwen2", model_type="qwen2")

#: Qwen3: per-head RMSNorm on queries and keys.
QWEN3 = GGUFArchitecture(
    name="qwen3", model_type="qwen3",
    tensor_names={"attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm"},
)

#: Phi-3 / Phi-3.5: fused qkv and gate/up projections, SentencePiece prefix from a normalizer.
PHI3 = GGUFArchitecture(
    name="phi3", model_type="phi3",
    tensor_names={
        "attn_qkv": "self_attn.qkv_proj", "ffn_up": "mlp.gate_up_proj",
        "attn_q": "", "attn_k": "", "attn_v": "", "ffn_gate": "",
    },
    sentencepiece="prefix-normalizer",
)

_GEMMA_NORMS = {
    "post_attention_norm": "post_attention_layernorm",
    "ffn_norm": "pre_feedforward_layernorm",
    "post_ffw_norm": "post_feedforward_layernorm",
}

#: Gemma 2: four norms per layer (llama.cpp stores them as 1 + w), logit soft-capping.
GEMMA2 = GGUFArchitecture(
    name="gemma2", model_type="gemma2",
    tensor_names=_GEMMA_NORMS,
    config_keys={
        "attention.sliding_window": "sliding_window",
        "attention.key_length": "query_pre_attn_scalar",
        "attn_logit_softcapping": "attn_logit_softcapping",
        "final_logit_softcapping": "final_logit_softcapping",
    },
    norm_offset=-1.0,
    sentencepiece="by-position",
)

#: Gemma 3 (text): Gemma 2's layout plus q/k norms; local/global attention every 6th layer.
GEMMA3 = GGUFArchitecture(
    name="gemma3", model_type="gemma3_text",
    tensor_names={**_GEMMA_NORMS, "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm"},
    config_keys={"attention.sliding_window": "sliding_window", "attention.key_length": "query_pre_attn_scalar"},
    norm_offset=-1.0,
    sentencepiece="by-position",
)

#: llama.cpp pre-tokenizer names of the Llama 3 vocabulary (tiktoken cl100k split).
LLAMA3_PRE = {"llama-bpe": "cl100k", "llama3": "cl100k", "llama-v3": "cl100k", "smaug-bpe": "cl100k"}
#: ... of the Qwen2 vocabulary (cl100k with single digits), also used by Qwen2.5 and Qwen3.
QWEN2_PRE = {"qwen2": "cl100k-digit"}

__all__ = ["GEMMA2", "GEMMA3", "LLAMA", "LLAMA3_PRE", "PHI3", "QWEN2", "QWEN2_PRE", "QWEN3"]
