"""Family-declared gated MLPs (``FamilySpec.gated_mlps``) get the CPU kernels' gate; nothing else."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from clinpred.api import FamilySpec, GatedMLP
from clinpred.core.weights import mlx_kernels


def test_gated_mlp_declarations_are_validated():
    with pytest.raises(ValueError):
        GatedMLP(module="mlx_lm.models.x", cls="MLP", activation="relu")
    with pytest.raises(ValueError):
        GatedMLP(module="somewhere.else", cls="MLP", activation="silu")
    with pytest.raises(TypeError):
        FamilySpec(name="f", gated_mlps=("mlx_lm.models.x.MLP",))


def test_a_declared_mlp_class_is_patched_and_computes_the_same_numbers(monkeypatch):
    import mlx.core as mx
    import mlx.nn as nn

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gate_proj, self.up_proj, self.down_proj = nn.Linear(8, 16), nn.Linear(8, 16), nn.Linear(16, 8)

        def __call__(self, x):
            return self.down_proj(nn.silu(self.gate_proj(x)) * self.up_proj(x))

    module = types.ModuleType("mlx_lm.models.fake_arch")
    module.MLP = MLP
    monkeypatch.setitem(sys.modules, "mlx_lm.models.fake_arch", module)
    mx.random.seed(0)
    mlp, x = MLP(), mx.random.normal((3, 8))
    before = np.array(mlp(x))
    declared = (GatedMLP(module="mlx_lm.models.fake_arch", cls="MLP", activation="silu"),
                GatedMLP(module="mlx_lm.models.not_loaded", cls="MLP", activation="gelu_tanh"))
    assert mlx_kernels.patch_gated_mlps(declared) == ["mlx_lm.models.fake_arch.MLP"]
    assert MLP.__call__ is mlx_kernels.silu_mlp_call
    assert mlx_kernels.patch_gated_mlps(declared) == ["mlx_lm.models.fake_arch.MLP"]  # idempotent
    np.testing.assert_allclose(np.array(mlp(x)), before, rtol=1e-5, atol=1e-6)


def test_the_gemma_plugin_declares_gemma3_text_inline_gate():
    from clinpred.registry import load_registry

    declared = {m for f in load_registry().families() for m in f.gated_mlps}
    assert GatedMLP(module="mlx_lm.models.gemma3_text", cls="MLP", activation="gelu_tanh") in declared
