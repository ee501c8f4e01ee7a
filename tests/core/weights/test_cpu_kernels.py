"""clinpred's vectorized CPU kernels: each equals MLX's own op (forward and gradient) on random
inputs, on both instruction-set paths; they are plugged into mlx-lm's models; the fallback when
they cannot be built or are switched off.

Tolerances (float32, eps = 6e-8):
- exp and the SiLU gate (forward and vjp) follow MLX's algorithm operation by operation (the same
  polynomial, the same order of multiplications, no fused multiply-add that MLX does not do):
  they are bit-identical, and asserted so.
- softmax: the normaliser is summed 8 or 16 lanes at a time, MLX sums one float at a time; a
  float32 sum of ~150 terms differs by about 1e-7..1e-6 relative in each probability -> rtol 2e-6.
- the softmax vjp ``y g - y sum(y g)`` cancels where ``g`` is near the row's weighted mean, so
  elementwise relative error is meaningless there: the error of a difference is relative to its
  terms -> atol 2e-6 of the largest ``|y g|`` (the same for the jvp with the tangent).
- RoPE: the cos/sin table is MLX's own rope applied to unit pairs, the rotation is MLX's formula
  (products, then one add or subtract): bit-identical, forward and vjp.
- RMS norm: the sum of squares is taken in another order -> rtol 2e-6 forward; its vjp is a
  difference (``g w n - x t n^3``) -> atol 2e-6 of the largest ``|g w n|``.
- the GELU gate: MLX computes ``0.5 a (1 + tanh z)`` with libm's tanh, which cancels for negative
  ``a`` (1 + tanh z -> 0); the kernel computes the same function as ``a sigmoid(2 z)``. They agree
  to 1e-6 of the largest magnitude (measured: 5e-8 forward, 5e-7 gradient), not elementwise.
"""

from __future__ import annotations

import platform
import sys
import warnings

import numpy as np
import pytest

from tiny_models import ARCHITECTURES, load_tiny

from clinpred.core.errors import KernelError, KernelWarning
from clinpred.core.weights import cpu_kernels, kernel_build, mlx_compat, mlx_kernels

X86_LINUX = sys.platform == "linux" and platform.machine().lower() in ("x86_64", "amd64")
pytestmark = pytest.mark.skipif(not X86_LINUX, reason="the kernels are for x86_64 Linux CPUs only")


@pytest.fixture(scope="module")
def k():
    """The kernel module; on an x86_64 Linux machine the kernels must be in use (built if needed),
    unless the suite runs with them switched off (``CLINPRED_NO_KERNELS=1``)."""
    if cpu_kernels.switched_off():
        pytest.skip("the kernels are switched off (CLINPRED_NO_KERNELS=1)")
    status = cpu_kernels.status()
    assert status.in_use, f"the kernels are not in use on this x86_64 Linux machine: {status.reason}"
    return cpu_kernels.active()


@pytest.fixture(params=["avx2", "avx512"])
def isa(request, k):
    """Run the test on one instruction-set path (skipped when this CPU lacks it)."""
    chosen = k.isa()
    if k.select_isa(request.param) != request.param:
        pytest.skip(f"this CPU has no {request.param}")
    yield request.param
    k.select_isa(chosen)


def _random(shape, seed, scale=1.0):
    import mlx.core as mx

    return scale * mx.random.normal(shape, key=mx.random.key(seed))


def _np(x):
    return np.array(x, dtype=np.float64)


def _close_to_max(ours, ref, frac, scale=None):
    """|ours - ref| <= frac * scale, scale = the largest |ref| unless given."""
    ours, ref = _np(ours), _np(ref)
    scale = np.max(np.abs(ref)) if scale is None else scale
    np.testing.assert_allclose(ours, ref, rtol=0, atol=frac * scale)


# shapes: odd lengths exercise the partial last vector of both ISAs (16 and 8 lanes)
GATE_SHAPES = [(3, 37), (2, 5, 1536), (1, 1), (129,)]


@pytest.mark.parametrize("shape", GATE_SHAPES)
def test_silu_gate_and_its_gradient_are_mlx_s_bit_for_bit(k, isa, shape):
    import mlx.core as mx
    import mlx.nn as nn

    a, b, g = _random(shape, 1, 4.0), _random(shape, 2), _random(shape, 3)
    ours = k.gated_activation(a, b, k.SILU)
    assert ours.dtype == mx.float32 and ours.shape == a.shape
    assert mx.array_equal(ours, nn.silu(a) * b).item()
    mine = mx.vjp(lambda x, y: k.gated_activation(x, y, k.SILU), [a, b], [g])[1]
    theirs = mx.vjp(lambda x, y: nn.silu(x) * y, [a, b], [g])[1]
    for o, r in zip(mine, theirs):
        assert mx.array_equal(o, r).item()


def test_exp_is_mlx_s_bit_for_bit_including_the_edges(k, isa):
    import mlx.core as mx

    x = mx.concatenate([_random((1000,), 4, 30.0),
                        mx.array([0.0, -0.0, 88.0, 88.5, -88.0, -88.5, -103.0, 1e-30, 0.4999999, 0.5, -0.5,
                                  float("inf"), -float("inf"), float("nan")])])
    ours, ref = k.exp(x), mx.exp(x)
    assert mx.array_equal(ours, ref, equal_nan=True).item()


@pytest.mark.parametrize("shape", GATE_SHAPES)
def test_gelu_gate_and_its_gradient_match_mlx(k, isa, shape):
    import mlx.core as mx
    import mlx.nn as nn

    a, b, g = _random(shape, 5, 4.0), _random(shape, 6), _random(shape, 7)
    _close_to_max(k.gated_activation(a, b, k.GELU_TANH), nn.gelu_approx(a) * b, 1e-6)
    mine = mx.vjp(lambda x, y: k.gated_activation(x, y, k.GELU_TANH), [a, b], [g])[1]
    theirs = mx.vjp(lambda x, y: nn.gelu_approx(x) * y, [a, b], [g])[1]
    for o, r in zip(mine, theirs):
        _close_to_max(o, r, 1e-6)


def _masked_softmax(s, offset):
    import mlx.core as mx

    queries, keys = s.shape[-2], s.shape[-1]
    mask = mx.arange(offset, offset + queries)[:, None] >= mx.arange(keys)[None]
    return mx.softmax(mx.where(mask, s, mx.finfo(mx.float32).min), axis=-1, precise=True)


@pytest.mark.parametrize("shape", [(2, 3, 17, 17), (2, 9, 5, 37), (1, 1, 1, 40), (4, 148, 148)])
def test_causal_softmax_and_its_gradient_match_mlx(k, isa, shape):
    import mlx.core as mx

    s, g = _random(shape, 8, 3.0), _random(shape, 9)
    offset = shape[-1] - shape[-2]  # the queries are the last positions (a KV cache before them)
    ours = k.row_softmax(s, True)
    ref = _masked_softmax(s, offset)
    np.testing.assert_allclose(_np(ours), _np(ref), rtol=2e-6, atol=0)
    assert (_np(ours)[_np(ref) == 0] == 0).all()  # masked keys get exactly 0
    mine = mx.vjp(lambda x: k.row_softmax(x, True), [s], [g])[1][0]
    theirs = mx.vjp(lambda x: _masked_softmax(x, offset), [s], [g])[1][0]
    _close_to_max(mine, theirs, 2e-6, scale=np.max(np.abs(_np(ref) * _np(g))))
    tangent = _random(shape, 10)
    _close_to_max(mx.jvp(lambda x: k.row_softmax(x, True), [s], [tangent])[1][0],
                  mx.jvp(lambda x: _masked_softmax(x, offset), [s], [tangent])[1][0], 2e-6,
                  scale=np.max(np.abs(_np(ref) * _np(tangent))))


@pytest.mark.parametrize("shape", [(5, 33), (2, 3, 8, 1), (7,)])
def test_plain_softmax_and_its_gradient_match_mlx(k, isa, shape):
    import mlx.core as mx

    s, g = _random(shape, 11, 5.0), _random(shape, 12)
    ref = mx.softmax(s, axis=-1, precise=True)
    np.testing.assert_allclose(_np(k.row_softmax(s)), _np(ref), rtol=2e-6)
    _close_to_max(mx.vjp(lambda x: k.row_softmax(x), [s], [g])[1][0],
                  mx.vjp(lambda x: mx.softmax(x, axis=-1, precise=True), [s], [g])[1][0], 2e-6,
                  scale=np.max(np.abs(_np(ref) * _np(g))))


def test_gate_jvp_and_vmap_match_mlx(k):
    import mlx.core as mx
    import mlx.nn as nn

    a, b, ta, tb = (_random((4, 21), s) for s in (13, 14, 15, 16))
    ours = mx.jvp(lambda x, y: k.gated_activation(x, y, k.SILU), [a, b], [ta, tb])[1][0]
    ref = mx.jvp(lambda x, y: nn.silu(x) * y, [a, b], [ta, tb])[1][0]
    _close_to_max(ours, ref, 1e-6)
    mapped = mx.vmap(lambda x, y: k.gated_activation(x, y, k.SILU), in_axes=(1, None))(a, b[:, 0])
    np.testing.assert_array_equal(_np(mapped), _np(mx.vmap(lambda x, y: nn.silu(x) * y, in_axes=(1, None))(a, b[:, 0])))
    s = _random((3, 4, 6), 17)
    np.testing.assert_allclose(_np(mx.vmap(lambda x: k.row_softmax(x), in_axes=2)(s)),
                               _np(mx.vmap(lambda x: mx.softmax(x, axis=-1, precise=True), in_axes=2)(s)), rtol=2e-6)


def test_non_contiguous_inputs(k):
    import mlx.core as mx
    import mlx.nn as nn

    x = _random((6, 10, 8), 18)
    gate, up = mx.split(x, 2, axis=-1)  # phi3 splits a fused projection: strided views
    assert mx.array_equal(k.gated_activation(gate, up, k.SILU), nn.silu(gate) * up).item()
    t = x.transpose(2, 0, 1)
    np.testing.assert_allclose(_np(k.row_softmax(t)), _np(mx.softmax(t, axis=-1, precise=True)), rtol=2e-6)


def test_bad_inputs_are_refused_in_one_line(k):
    import mlx.core as mx

    with pytest.raises(ValueError, match="float32"):
        k.gated_activation(mx.ones((2, 2), dtype=mx.float16), mx.ones((2, 2), dtype=mx.float16), k.SILU)
    with pytest.raises(ValueError, match="shapes differ"):
        k.gated_activation(mx.ones((2, 2)), mx.ones((2, 3)), k.SILU)
    with pytest.raises(ValueError, match="keys >= queries"):
        k.row_softmax(mx.ones((2, 5, 3)), True)


def test_large_arrays_use_the_threads_and_give_the_same_numbers(k):
    import mlx.core as mx

    a, b = _random((300, 1536), 19), _random((300, 1536), 20)
    s = _random((4, 9, 60, 60), 21)
    before = k.threads()
    try:
        k.set_threads(1)
        one = [k.gated_activation(a, b, k.SILU), k.row_softmax(s, True)]
        k.set_threads(3)
        many = [k.gated_activation(a, b, k.SILU), k.row_softmax(s, True)]
    finally:
        k.set_threads(before)
    for x, y in zip(one, many):
        assert mx.array_equal(x, y).item()  # rows are independent: the split changes nothing


def _mlx(name):
    """MLX's own ``mx.fast`` function (the kernels' wrappers replace them once installed)."""
    import mlx.core as mx

    return mlx_kernels._ORIGINAL.get(name) or getattr(mx.fast, name)  # noqa: SLF001


def _table(dims, traditional, length, offset, base=1e4, freqs=None):
    import mlx.core as mx

    unit = mx.array([1.0, 0.0] * (dims // 2) if traditional else [1.0] * (dims // 2) + [0.0] * (dims // 2))
    return _mlx("rope")(mx.broadcast_to(unit, (1, 1, length, dims)), dims, traditional=traditional, base=base,
                        scale=1.0, offset=offset, freqs=freqs).reshape(length, dims)


@pytest.mark.parametrize("traditional", [True, False])
@pytest.mark.parametrize("shape,dims,offset", [((2, 9, 37, 64), 64, 0), ((2, 3, 5, 64), 64, 17),
                                               ((1, 2, 7, 48), 32, 3), ((3, 11, 10), 10, 0)])
def test_rope_and_its_gradient_are_mlx_s_bit_for_bit(k, isa, traditional, shape, dims, offset):
    import mlx.core as mx

    x, g = _random(shape, 40), _random(shape, 41)
    table = _table(dims, traditional, shape[-2], offset)
    ours = k.rope(x, table, dims, traditional)
    kw = dict(traditional=traditional, base=1e4, scale=1.0, offset=offset)
    assert mx.array_equal(ours, _mlx("rope")(x, dims, **kw)).item()
    mine = mx.vjp(lambda y: k.rope(y, table, dims, traditional), [x], [g])[1][0]
    theirs = mx.vjp(lambda y: _mlx("rope")(y, dims, **kw), [x], [g])[1][0]
    assert mx.array_equal(mine, theirs).item()
    assert mx.array_equal(mx.jvp(lambda y: k.rope(y, table, dims, traditional), [x], [g])[1][0],
                          mx.jvp(lambda y: _mlx("rope")(y, dims, **kw), [x], [g])[1][0]).item()


def test_the_rope_wrapper_equals_mx_fast_rope(k):
    """mlx_kernels.rope stands in for mx.fast.rope: transposed queries, custom frequencies, an
    offset, and what it hands back to MLX (an array offset, float16)."""
    import mlx.core as mx

    q = _random((2, 37, 9, 64), 42).transpose(0, 2, 1, 3)
    for kw in (dict(traditional=True, base=1e5, scale=1.0, offset=0),
               dict(traditional=False, base=1e4, scale=0.5, offset=12),
               dict(traditional=False, base=None, scale=1.0, offset=3, freqs=mx.linspace(1.0, 40.0, 32))):
        assert mx.array_equal(mlx_kernels.rope(q, 64, **kw), _mlx("rope")(q, 64, **kw)).item()
    calls = _count_kernel_calls(k)
    mlx_kernels.rope(q, 64, traditional=True, base=1e4, scale=1.0, offset=mx.array(2))
    mlx_kernels.rope(q.astype(mx.float16), 64, traditional=True, base=1e4, scale=1.0, offset=0)
    assert calls["rope"] == 0
    mlx_kernels.rope(q, 64, traditional=True, base=1e4, scale=1.0, offset=0)
    assert calls["rope"] == 1


@pytest.mark.parametrize("shape", [(8, 148, 576), (3, 5, 64), (7, 33), (129,)])
def test_rms_norm_and_its_gradient_match_mlx(k, isa, shape):
    import mlx.core as mx

    x, g, w = _random(shape, 43, 2.0), _random(shape, 44), _random(shape[-1:], 45)
    ref = _mlx("rms_norm")(x, w, 1e-5)
    np.testing.assert_allclose(_np(k.rms_norm(x, w, 1e-5)), _np(ref), rtol=2e-6, atol=0)
    mine = mx.vjp(lambda y, v: k.rms_norm(y, v, 1e-5), [x, w], [g])[1]
    theirs = mx.vjp(lambda y, v: _mlx("rms_norm")(y, v, 1e-5), [x, w], [g])[1]
    n = 1 / np.sqrt(np.mean(_np(x) ** 2, axis=-1, keepdims=True) + 1e-5)
    _close_to_max(mine[0], theirs[0], 2e-6, scale=np.max(np.abs(_np(g) * _np(w) * n)))
    _close_to_max(mine[1], theirs[1], 1e-6)  # the weight's gradient is computed with MLX's ops
    _close_to_max(mx.jvp(lambda y: k.rms_norm(y, w, 1e-5), [x], [g])[1][0],
                  mx.jvp(lambda y: _mlx("rms_norm")(y, w, 1e-5), [x], [g])[1][0], 2e-6,
                  scale=np.max(np.abs(_np(g) * _np(w) * n)))
    np.testing.assert_allclose(_np(mlx_kernels.rms_norm(x, None, 1e-5)), _np(_mlx("rms_norm")(x, None, 1e-5)),
                               rtol=2e-6)


# ---------------------------------------------------------------- attention and the mlx-lm glue


@pytest.mark.parametrize("heads", [(4, 4), (9, 3)])
@pytest.mark.parametrize("mask", ["causal", None, "bool", "additive", "bool-per-batch"])
def test_attention_matches_mlx_fast_sdpa(k, heads, mask):
    import mlx.core as mx

    n_q, n_kv = heads
    batch, length, keys_len, dim = 2, 6, 9, 16
    q = _random((batch, n_q, length, dim), 22)
    keys, values = _random((batch, n_kv, keys_len, dim), 23), _random((batch, n_kv, keys_len, dim), 24)
    m = {"causal": "causal", None: None,
         "bool": _random((length, keys_len), 25) > -0.5,
         "additive": _random((batch, n_q, length, keys_len), 26),
         "bool-per-batch": _random((batch, 1, length, keys_len), 27) > -0.5}[mask]
    ref = mx.fast.scaled_dot_product_attention(q, keys, values, scale=0.25, mask=m)
    ours = mlx_kernels.attention(k, q, keys, values, 0.25, m)
    _close_to_max(ours, ref, 2e-6)
    g = _random(ref.shape, 28)
    mine = mx.vjp(lambda *x: mlx_kernels.attention(k, *x, 0.25, m), [q, keys, values], [g])[1]
    theirs = mx.vjp(lambda *x: mx.fast.scaled_dot_product_attention(*x, scale=0.25, mask=m), [q, keys, values], [g])[1]
    for o, r in zip(mine, theirs):
        _close_to_max(o, r, 2e-6)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_every_architecture_is_plugged_in_and_gives_the_same_logits(k, arch):
    import mlx.core as mx
    import sys as _sys

    model, _ = load_tiny(arch)
    block_module = _sys.modules[type(model.layers[0]).__module__]
    assert getattr(block_module, "scaled_dot_product_attention") is mlx_kernels.scaled_dot_product_attention
    mlp = model.layers[0].mlp
    if arch == "gemma3_text":
        assert type(mlp).__call__ is mlx_kernels.gelu_mlp_call
    else:
        assert getattr(_sys.modules[type(mlp).__module__], "swiglu") is mlx_kernels.swiglu
    tokens = mx.array([[5, 6, 7, 8, 9, 10, 11], [12, 13, 14, 15, 16, 17, 18]])
    calls = _count_kernel_calls(k)
    with_kernels = model(tokens)
    mx.eval(with_kernels)
    assert min(calls.values()) >= 1, calls  # gate, softmax, rope, rms_norm
    assert mx.fast.rope is mlx_kernels.rope and mx.fast.rms_norm is mlx_kernels.rms_norm
    with cpu_kernels.switched(False):
        plain = model(tokens)
    _close_to_max(with_kernels, plain, 1e-5)


def _count_kernel_calls(k):
    calls = {"gate": 0, "softmax": 0, "rope": 0, "rms_norm": 0}
    gate, softmax, rope, rms = k.gated_activation, k.row_softmax, k.rope, k.rms_norm

    class Counting:
        def __getattr__(self, name):
            return getattr(k, name)

        def gated_activation(self, *a):
            calls["gate"] += 1
            return gate(*a)

        def row_softmax(self, *a):
            calls["softmax"] += 1
            return softmax(*a)

        def rope(self, *a):
            calls["rope"] += 1
            return rope(*a)

        def rms_norm(self, *a):
            calls["rms_norm"] += 1
            return rms(*a)

    cpu_kernels._module = Counting()  # noqa: SLF001 - count the calls the plugged-in model makes
    return calls


@pytest.fixture(autouse=True)
def _restore_status():
    """Tests below replace or reset the loaded kernels: put the real ones back afterwards."""
    cpu_kernels.status()
    saved = cpu_kernels._status, cpu_kernels._module  # noqa: SLF001
    yield
    cpu_kernels._status, cpu_kernels._module = saved  # noqa: SLF001


def test_the_wrappers_fall_back_to_mlx_lm_where_the_kernels_do_not_apply(k):
    import mlx.core as mx
    from mlx_lm.models.activations import swiglu as patched

    assert patched is mlx_kernels.swiglu
    calls = _count_kernel_calls(k)
    a16 = _random((3, 8), 29).astype(mx.float16)
    assert mlx_kernels.swiglu(a16, a16).dtype == mx.float16  # float16: mlx-lm's own function
    with mx.stream(mx.cpu):
        mlx_kernels.swiglu(_random((3, 8), 30), _random((1, 8), 31))  # broadcasting: mlx-lm's
    q = _random((1, 2, 3, 4), 32)
    mlx_kernels.scaled_dot_product_attention(q, q, q, None, 0.5, "causal", sinks=mx.zeros((2,)))
    assert calls["gate"] == 0 and calls["softmax"] == 0
    with cpu_kernels.switched(False):
        mlx_kernels.swiglu(_random((3, 8), 33), _random((3, 8), 34))
    assert calls["gate"] == 0
    mlx_kernels.swiglu(_random((3, 8), 35), _random((3, 8), 36))
    assert calls["gate"] == 1


# ---------------------------------------------------------------- status, switch, fallback


def test_status_says_what_is_in_use(k):
    status = cpu_kernels.status()
    assert status.in_use and status.isa in ("avx512", "avx2") and status.threads >= 1
    assert status.path and status.path.endswith(".so") and "kernels" in status.reason
    assert set(status.to_dict()) >= {"in_use", "reason", "isa", "path", "threads"}


def test_the_environment_switch_turns_them_off(monkeypatch):
    monkeypatch.setenv(cpu_kernels.NO_KERNELS_ENV, "1")
    cpu_kernels.reset()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # switching off is not worth a warning
            status = cpu_kernels.status()
        assert not status.in_use and status.reason == "switched off (CLINPRED_NO_KERNELS=1)"
        assert cpu_kernels.active() is None
        assert mlx_compat.install_cpu_kernels() is False
    finally:
        cpu_kernels.reset()


def test_no_compiler_is_one_warning_and_mlx_s_ops(monkeypatch, tmp_path):
    monkeypatch.delenv(cpu_kernels.NO_KERNELS_ENV, raising=False)  # the build path, even in a kernels-off run
    monkeypatch.setenv(kernel_build.KERNELS_DIR_ENV, str(tmp_path / "kernels"))
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    cpu_kernels.reset()
    try:
        with pytest.warns(KernelWarning) as record:
            status = cpu_kernels.status()
        assert len(record) == 1
        message = str(record[0].message)
        assert "\n" not in message and "CXX=" in message and "MLX's own (slower) CPU ops are used" in message
        assert not status.in_use and cpu_kernels.active() is None
        assert not (tmp_path / "kernels").exists() or not any((tmp_path / "kernels").rglob("*.so"))
    finally:
        cpu_kernels.reset()


def test_the_cli_shows_a_kernel_warning_as_one_line(capsys):
    from clinpred.cli.main import _one_line_warnings

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        _one_line_warnings()
        warnings.warn("clinpred's vectorized CPU kernels are off: no C++ compiler found", KernelWarning)
    assert capsys.readouterr().err == "Warning: clinpred's vectorized CPU kernels are off: no C++ compiler found\n"


def test_a_failed_build_is_remembered_and_not_retried(monkeypatch, tmp_path):
    fake = tmp_path / "broken-c++"
    fake.write_text("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'broken 1.0'; exit 0; fi\n"
                    "echo 'error: this compiler always fails' >&2; exit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv(kernel_build.KERNELS_DIR_ENV, str(tmp_path / "kernels"))
    monkeypatch.setenv("CXX", str(fake))
    plan = kernel_build.plan_build()
    with pytest.raises(KernelError, match="the C.. build failed: error: this compiler always fails"):
        kernel_build.build(plan)
    assert (plan.directory / "failed.txt").is_file() and not plan.library.exists()
    with pytest.raises(KernelError, match="an earlier build; delete .* to retry"):
        kernel_build.build(plan)


def test_the_build_key_changes_with_the_compiler_and_sources(monkeypatch, tmp_path):
    monkeypatch.setenv(kernel_build.KERNELS_DIR_ENV, str(tmp_path))
    first = kernel_build.plan_build()
    assert first.directory.parent == tmp_path and first.key in first.directory.name
    monkeypatch.setattr(kernel_build, "RECIPE", "changed")
    assert kernel_build.plan_build().key != first.key
    assert first.mlx_nb_key and "_a" in first.mlx_nb_key  # MLX's nanobind ABI key was found


def test_the_sources_are_package_data():
    """A non-editable install must ship the C++ sources: pyproject lists them."""
    from fnmatch import fnmatch
    from pathlib import Path

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    root = Path(__file__).resolve().parents[3]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = data["clinpred.core.weights"]
    for name in kernel_build.SOURCES:
        assert any(fnmatch(f"kernels/{name}", p) for p in patterns), name
