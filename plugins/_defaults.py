"""LoRA defaults shared by the built-in families of multi-billion-parameter instruct models.

Rank 16 and 1000 iterations as the original study's "v2" setting (REFERENCES §1); alpha 32
(scale alpha / rank = 2, the usual PEFT ratio); learning rate, batch size and the number of LoRA
layers are mlx-lm's LoRA defaults (1e-5, 4, 16). The study's v2 rate 1.5e-6 is one configured
setting in model_configs.toml, too low to move a 3B model in 1000 steps by itself.
"""

from __future__ import annotations

from typing import Any

_STUDY_LORA = {
    "lora_rank": 16,
    "lora_alpha": 32,
    "learning_rate": 1e-5,
    "num_iters": 1000,
    "batch_size": 4,
    "lora_layers": 16,
}


def study_lora(**changes: Any) -> dict[str, Any]:
    """A fresh copy of the shared defaults with ``changes`` applied (e.g. ``batch_size=2``)."""
    return {**_STUDY_LORA, **changes}
