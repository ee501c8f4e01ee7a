"""Tiny random-weight models with the real mlx-lm architectures, saved as MLX model directories.

``build_tiny_model(dest, arch)`` writes ``config.json`` + ``model.safetensors`` + the family's
tiny tokenizer (from :mod:`tiny_tokenizers`) so that ``mlx_lm.load(dest)`` opens it. Weights are
seeded; embeddings and output head use std ``EMBED_STD``, so the
untrained next-token distribution is close to uniform and a few LoRA steps visibly move it.

``ARCHITECTURES`` maps a name to (mlx-lm model type, tokenizer constructor, render options for
:func:`clinpred.core.llm.rendering.render_with_template`, extra config).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import tiny_tokenizers as TT

#: std of the embeddings and output head: large enough that LoRA can move the logits of a
#: (tied) head through the final norm, small enough that the untrained distribution is flat
EMBED_STD = 0.25

ARCHITECTURES: dict[str, tuple[str, Any, dict[str, Any], dict[str, Any]]] = {
    "llama": ("llama", TT.llama31, {}, {"tie_word_embeddings": True}),
    "mistral": ("mistral", TT.mistral_v03, {"fold_system": True}, {"tie_word_embeddings": False}),
    "phi3": ("phi3", TT.phi3, {}, {"tie_word_embeddings": False}),
    "qwen2": ("qwen2", TT.qwen25, {}, {"tie_word_embeddings": True}),
    "qwen3": ("qwen3", TT.qwen3, {"enable_thinking": False}, {"tie_word_embeddings": True}),
    "gemma3_text": ("gemma3_text", TT.gemma3, {}, {}),
}


def model_config(model_type: str, vocab_size: int, *, hidden: int = 64, layers: int = 2,
                 eos_token_id: int | None = None, **extra: Any) -> dict[str, Any]:
    """A small config.json for ``model_type`` (4 heads of 16, 2 KV heads, MLP 128)."""
    cfg: dict[str, Any] = {
        "model_type": model_type,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "intermediate_size": 2 * hidden,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": hidden // 4,
        "rms_norm_eps": 1e-6,
        "vocab_size": vocab_size,
        "max_position_embeddings": 2048,
        "rope_theta": 10000.0,
    }
    if model_type == "gemma3_text":
        cfg.update(query_pre_attn_scalar=hidden // 4, sliding_window=64, sliding_window_pattern=2)
    if eos_token_id is not None:
        cfg["eos_token_id"] = eos_token_id
        cfg["pad_token_id"] = eos_token_id  # transformers' phi3 default (32000) is outside the vocab
    cfg.update(extra)
    return cfg


def build_tiny_model(dest: Path, arch: str, *, seed: int = 0, layers: int = 2, hidden: int = 64) -> Path:
    """Write a tiny ``arch`` model directory at ``dest`` (returned) that ``mlx_lm.load`` opens."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.utils import _get_classes

    model_type, make_tok, _, extra = ARCHITECTURES[arch]
    tokenizer = make_tok()
    cfg = model_config(model_type, len(tokenizer), hidden=hidden, layers=layers,
                       eos_token_id=tokenizer.eos_token_id, **extra)
    model_cls, args_cls = _get_classes(cfg)
    mx.random.seed(seed)
    model = model_cls(args_cls.from_dict(cfg))
    weights = dict(tree_flatten(model.parameters()))
    key = mx.random.key(seed)
    for name in sorted(weights):
        if name.endswith("embed_tokens.weight") or name.startswith("lm_head."):
            key, sub = mx.random.split(key)
            weights[name] = EMBED_STD * mx.random.normal(weights[name].shape, key=sub)
    if model_type == "gemma3_text":  # gemma ties the head when the file has no lm_head
        weights.pop("lm_head.weight", None)
    dest.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(dest / "model.safetensors"), {k: v.astype(mx.float32) for k, v in weights.items()})
    (dest / "config.json").write_text(json.dumps(cfg, indent=2))
    tokenizer.save_pretrained(str(dest))
    return dest


def render_options(arch: str) -> dict[str, Any]:
    """Keyword options for ``render_with_template`` with this architecture's tokenizer."""
    return dict(ARCHITECTURES[arch][2])


_BUILT: dict[tuple[str, int, int], Path] = {}
_ROOT: list[Path] = []


def tiny_model_dir(arch: str, *, seed: int = 0, layers: int = 2) -> Path:
    """A tiny model directory built once per test session (in a temporary folder)."""
    import atexit
    import shutil
    import tempfile

    key = (arch, seed, layers)
    if key not in _BUILT:
        if not _ROOT:
            _ROOT.append(Path(tempfile.mkdtemp(prefix="clinpred-tiny-models-")))
            atexit.register(shutil.rmtree, _ROOT[0], True)
        _BUILT[key] = build_tiny_model(_ROOT[0] / f"{arch}-{seed}-{layers}", arch, seed=seed, layers=layers)
    return _BUILT[key]


def builtin_gated_mlps() -> tuple[Any, ...]:
    """Every ``GatedMLP`` the built-in families declare (what clinpred's loader passes for them)."""
    from clinpred.registry import load_registry

    return tuple(m for family in load_registry().families() for m in family.gated_mlps)


def load_tiny(arch: str, **kwargs: Any) -> tuple[Any, Any]:
    """(model, tokenizer wrapper) of :func:`tiny_model_dir` through ``mlx_lm.load``, with the CPU
    kernels installed as clinpred's loader does for the built-in families (where they apply;
    ``CLINPRED_NO_KERNELS=1``: off)."""
    import mlx_lm

    from clinpred.core.weights.mlx_compat import install_cpu_kernels

    loaded = mlx_lm.load(str(tiny_model_dir(arch, **kwargs)))
    install_cpu_kernels(builtin_gated_mlps())
    return loaded


_COUNTRIES = ("Uganda", "Pakistan")


def patient_prompt(i: int, label: int):
    """A short patient prompt whose country gives the label away (a separable toy task)."""
    from clinpred.core.values import Prompt

    return Prompt(
        system="You are a clinical prediction assistant.",
        user=f"Age: {20 + (7 * i) % 23} years\nCountry: {_COUNTRIES[label]}\n"
             "Will this patient need manual removal of the placenta? Answer Yes or No.",
    )


def rendered(tokenizer: Any, arch: str, i: int, label: int, answer: str | None = None):
    """The RenderedChat of :func:`patient_prompt` with the tokenizer's template."""
    from clinpred.core.llm.rendering import render_with_template

    word = answer if answer is not None else ("Yes" if label else "No")
    return render_with_template(tokenizer, patient_prompt(i, label), word, **render_options(arch))


def separable_items(tokenizer: Any, arch: str, n: int, *, start: int = 0, flip: bool = False) -> list[Any]:
    """``n`` TrainItems alternating labels 0/1; ``flip`` gives every prompt the wrong answer."""
    from clinpred.core.llm.rendering import tokenize_checked
    from clinpred.core.llm.training import TrainItem

    out = []
    for i in range(start, start + n):
        label = i % 2
        answer = ("Yes" if label else "No") if not flip else ("No" if label else "Yes")
        ex = tokenize_checked(arch, tokenizer, rendered(tokenizer, arch, i, label, answer))
        out.append(TrainItem(ex, label if not flip else 1 - label, 1.0))
    return out
