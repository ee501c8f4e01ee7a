"""The one module that touches mlx-lm internals (its ``tuner`` package and model classes).

Pinned to mlx-lm 0.32.x (pyproject: ``mlx-lm>=0.32.2,<0.33``). What is relied on:

- ``mlx_lm.load(path, adapter_path=...)`` -> (model, TokenizerWrapper); ``model.layers`` is the
  list of transformer blocks; ``model.model(tokens)`` returns the final hidden states (after the
  last norm) and the logits are ``model.lm_head(h)`` or, with tied embeddings,
  ``model.model.embed_tokens.as_linear(h)``. Architectures that do more (logit soft-capping,
  scaling) are detected numerically (:func:`head_split`) and use the full ``model(tokens)``.
- ``tuner.utils.linear_to_lora_layers(model, num_layers, {"rank", "scale", "dropout", "keys"},
  use_dora=...)`` converts the linear layers of the last ``num_layers`` blocks; new LoRA/DoRA
  modules are trainable (``lora_a``, ``lora_b``, DoRA's ``m``), the wrapped base layer keeps the
  frozen state it had (we freeze the whole model first, as mlx-lm's CLI does).
- ``tuner.utils.load_adapters(model, dir)`` reads ``adapter_config.json`` (keys
  ``fine_tune_type`` ("lora"|"dora"), ``num_layers``, ``lora_parameters``) and
  ``adapters.safetensors`` (the flattened trainable parameters, names as in
  ``tree_flatten(model.trainable_parameters())``).
- ``tuner.trainer.grad_checkpoint`` patches ``type(block).__call__`` for *every* instance of the
  block class, permanently; :func:`grad_checkpointing` does the same but restores it on exit.
- ``mx.save_safetensors`` appends ``.safetensors`` to a name that lacks it (temp names keep it).
- Fast paths: the inner forward loops over ``model.model["layers"]`` (see :func:`blocks_fed`);
  ``models.cache.make_prompt_cache`` gives plain ``KVCache`` objects (``state`` = keys, values,
  offset) for full-attention models, and a multi-token call with such a cache attends causally
  from its offset (:func:`prefix_cache`).
- CPU kernels: the MLP gate (``models.activations.swiglu``, and the MLP classes a family declares
  in ``FamilySpec.gated_mlps``) and
  attention (``models.base.scaled_dot_product_attention``) are routed through clinpred's
  vectorized kernels on x86 CPUs by :func:`install_cpu_kernels` (see :mod:`.mlx_kernels`).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from clinpred.core.errors import ModelError, TrainingError
from clinpred.core.values import GatedMLP

#: mlx-lm minor version this module is written against.
MLX_LM_SERIES = "0.32."
ADAPTER_WEIGHTS = "adapters.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


def check_mlx_lm_version() -> str:
    """The installed mlx-lm version; :class:`TrainingError` when it is not the pinned series."""
    import mlx_lm

    version = getattr(mlx_lm, "__version__", "?")
    if not version.startswith(MLX_LM_SERIES):
        raise TrainingError(
            f"mlx-lm {version} is installed but clinpred's adapter code is written for "
            f"{MLX_LM_SERIES}x; install it with: pip install 'mlx-lm>=0.32.2,<0.33'"
        )
    return version


# ---------------------------------------------------------------- loading


def install_cpu_kernels(gated_mlps: Iterable[GatedMLP] = ()) -> bool:
    """Use clinpred's vectorized CPU kernels in mlx-lm's models from now on, where they apply
    (x86_64 Linux CPU, float32; built on first use; ``CLINPRED_NO_KERNELS=1`` turns them off),
    and in the MLP classes a family declares (``FamilySpec.gated_mlps``). Idempotent; run after
    every model load. True when they are in use."""
    from clinpred.core.weights import mlx_kernels

    return mlx_kernels.install(gated_mlps)


def load_model(path: str | Path, adapter_path: str | Path | None = None) -> tuple[Any, Any]:
    """``mlx_lm.load`` with clinpred errors: (model, tokenizer wrapper), adapters applied."""
    import mlx_lm

    try:
        loaded = mlx_lm.load(str(path), adapter_path=str(adapter_path) if adapter_path else None)
        install_cpu_kernels()
        return loaded
    except FileNotFoundError as exc:
        raise ModelError(f"cannot load model {str(path)!r}: {exc}; pass a local MLX model directory") from None
    except ValueError as exc:
        raise ModelError(f"cannot load model {str(path)!r}: {exc}") from None


def load_adapters(model: Any, adapter_dir: str | Path) -> Any:
    """Apply the adapters saved in ``adapter_dir`` to an already loaded model (for predict)."""
    from mlx_lm.tuner.utils import load_adapters as _load

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / ADAPTER_CONFIG).is_file() or not (adapter_dir / ADAPTER_WEIGHTS).is_file():
        raise ModelError(
            f"{adapter_dir} has no {ADAPTER_CONFIG} + {ADAPTER_WEIGHTS}; point to a directory "
            "written by clinpred training"
        )
    try:
        model = _load(model, str(adapter_dir))
    except ValueError as exc:
        raise ModelError(f"adapters in {adapter_dir} do not fit this model: {exc}") from None
    model.eval()
    return model


# ---------------------------------------------------------------- LoRA layers and parameters


def adapter_config(*, num_layers: int, rank: int, scale: float, dropout: float,
                   dora: bool = False, keys: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """The ``adapter_config.json`` content mlx-lm's ``load_adapters`` reads (plus ``extra``)."""
    params: dict[str, Any] = {"rank": int(rank), "scale": float(scale), "dropout": float(dropout)}
    if keys is not None:
        params["keys"] = list(keys)
    return {
        "fine_tune_type": "dora" if dora else "lora",
        "num_layers": int(num_layers),
        "lora_parameters": params,
        **extra,
    }


def apply_lora(model: Any, config: dict[str, Any]) -> None:
    """Freeze ``model`` and convert the last ``config['num_layers']`` blocks to LoRA/DoRA."""
    from mlx_lm.tuner.utils import linear_to_lora_layers

    check_mlx_lm_version()
    n_blocks = len(model.layers)
    if config["num_layers"] > n_blocks:
        raise TrainingError(
            f"lora_layers = {config['num_layers']} but the model has only {n_blocks} layers; "
            f"set lora_layers <= {n_blocks}"
        )
    model.freeze()
    try:
        linear_to_lora_layers(
            model, config["num_layers"], dict(config["lora_parameters"]),
            use_dora=config["fine_tune_type"] == "dora",
        )
    except ValueError as exc:
        raise TrainingError(f"cannot add adapters to this model: {exc}") from None
    if not trainable_parameters(model):
        raise TrainingError("no layer could be converted to LoRA; check lora keys / lora_layers")


def trainable_parameters(model: Any) -> dict[str, Any]:
    """The trainable (adapter) parameters, flattened: name -> mx.array."""
    from mlx.utils import tree_flatten

    return dict(tree_flatten(model.trainable_parameters()))


def set_parameters(model: Any, weights: dict[str, Any]) -> None:
    """Load flattened adapter weights (names from :func:`trainable_parameters`) into ``model``."""
    model.load_weights(list(weights.items()), strict=False)


def atomic_save_safetensors(path: Path, arrays: dict[str, Any], metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file through a temporary file in the same directory + ``os.replace``."""
    import mlx.core as mx

    path.parent.mkdir(parents=True, exist_ok=True)
    # hidden and named *.tmp.safetensors: a run directory's clean-up knows it for a leftover
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp.safetensors")
    os.close(fd)
    try:
        mx.save_safetensors(tmp, arrays, metadata=metadata or {})
        os.replace(tmp, path)
    finally:  # also on Ctrl-C / SIGTERM mid-write
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write JSON through a temporary file + ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_adapters(model: Any, out_dir: Path, config: dict[str, Any],
                  weights: dict[str, Any] | None = None) -> None:
    """Save ``adapters.safetensors`` (``weights`` or the model's trainable parameters) and
    ``adapter_config.json`` in the layout ``mlx_lm.load(..., adapter_path=out_dir)`` reads."""
    atomic_save_safetensors(out_dir / ADAPTER_WEIGHTS, weights if weights is not None else trainable_parameters(model))
    atomic_write_json(out_dir / ADAPTER_CONFIG, config)


@contextlib.contextmanager
def grad_checkpointing(model: Any, enabled: bool = True) -> Iterator[None]:
    """Recompute each block's activations in the backward pass (less memory, ~30% more time).

    Like mlx-lm's ``grad_checkpoint`` this patches the block class, so it is undone on exit.
    """
    if not enabled:
        yield
        return
    from mlx_lm.tuner.trainer import grad_checkpoint

    cls = type(model.layers[0])
    original = cls.__call__
    grad_checkpoint(model.layers[0])
    try:
        yield
    finally:
        cls.__call__ = original


# ---------------------------------------------------------------- forward helpers

_SPLIT_ATTR = "_clinpred_head_split"  # cached result of head_split on the model object


def _head(model: Any) -> Callable[[Any], Any]:
    if "lm_head" in model:
        return model.lm_head
    return model.model.embed_tokens.as_linear


def head_split(model: Any) -> bool:
    """True when ``head(model.model(x))`` reproduces ``model(x)`` (checked once per model).

    Then logits can be computed only at the positions that need them; otherwise callers use
    the full ``model(x)``.
    """
    cached = getattr(model, _SPLIT_ATTR, None)
    if cached is not None:
        return cached
    import mlx.core as mx

    ok = False
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        x = mx.array([[1, 2, 3, 4, 5]], dtype=mx.int32)
        full = model(x)
        split = _head(model)(model.model(x))
        ok = full.shape == split.shape and bool(mx.allclose(full, split, rtol=1e-4, atol=1e-4).item())
    except Exception:  # an architecture whose inner model has another signature
        ok = False
    finally:
        model.train(was_training)
    object.__setattr__(model, _SPLIT_ATTR, ok)
    return ok


def logits_at(model: Any, tokens: Any, flat_positions: Any, *, hidden: Any = None, start: int = 0,
              cache: list[Any] | None = None) -> Any:
    """Logits ``(T, V)`` at the flattened positions ``b * L + p`` of ``tokens`` ``(B, L)``.

    Only those positions go through the output head when the architecture allows it. With
    ``hidden`` ``(B, L, D)`` (the states entering block ``start``, see :func:`hidden_entering`)
    the blocks below ``start`` are not run (:func:`blocks_fed`). With ``cache`` (a list of
    per-block caches holding a shared prefix, :func:`broadcast_prefix`) the tokens continue it.
    """
    import mlx.core as mx

    batch, length = tokens.shape
    kwargs = {} if cache is None else {"cache": cache}
    with blocks_fed(model, start, hidden) if hidden is not None else contextlib.nullcontext():
        if head_split(model):
            states = model.model(tokens, **kwargs)
            picked = mx.take(states.reshape(batch * length, -1), flat_positions, axis=0)
            return _head(model)(picked)
        logits = model(tokens, **kwargs)
    return mx.take(logits.reshape(batch * length, -1), flat_positions, axis=0)


def logits_and_states_at(model: Any, tokens: Any, flat_positions: Any, *, hidden: Any = None,
                         start: int = 0) -> tuple[Any, Any]:
    """(logits ``(T, V)``, final-norm states ``(T, D)``) at the flattened positions, as
    :func:`logits_at`; only for architectures where :func:`head_split` holds."""
    import mlx.core as mx

    if not head_split(model):
        raise TrainingError("this architecture's output head cannot be split from its final states, "
                            "so a separate label head cannot read them")
    batch, length = tokens.shape
    with blocks_fed(model, start, hidden) if hidden is not None else contextlib.nullcontext():
        states = model.model(tokens)
    picked = mx.take(states.reshape(batch * length, -1), flat_positions, axis=0)
    return _head(model)(picked), picked


# ---------------------------------------------------------------- frozen trunk (lower blocks)
#
# Relied on: the outer model's ``layers`` are the blocks of the list ``model.model["layers"]``
# that the inner forward loops over (directly or through a full slice of it), calling ``block(h, mask, cache)`` and reading block attributes
# (e.g. a sliding-window flag); embedding scaling, masks and rope positions are made by the
# model's own forward, so replacing lower blocks by stand-ins keeps them exactly as they are.


class _StopForward(Exception):
    pass


class _Stand:
    """Stands in for a block: returns ``hidden`` (or captures its input and stops the
    forward); attribute reads go to the real block."""

    def __init__(self, block: Any, hidden: Any = None, capture: list[Any] | None = None) -> None:
        self._block, self._hidden, self._capture = block, hidden, capture

    def __call__(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        if self._capture is not None:
            self._capture.append(x)
            raise _StopForward
        return self._hidden

    def __getattr__(self, name: str) -> Any:
        return getattr(self._block, name)


def blocks_owner(model: Any) -> Any | None:
    """The module whose ``layers`` list is the model's block list (None when not found)."""
    inner = getattr(model, "model", None)
    try:
        blocks, listed = list(model.layers), inner["layers"]
    except (AttributeError, TypeError, KeyError):
        return None
    if isinstance(listed, list) and len(listed) == len(blocks) and all(a is b for a, b in zip(listed, blocks)):
        return inner
    return None


@contextlib.contextmanager
def _blocks_replaced(model: Any, stands: dict[int, Any]) -> Iterator[None]:
    owner = blocks_owner(model)
    if owner is None:
        raise TrainingError("this architecture keeps its blocks elsewhere than model.model.layers")
    original = owner["layers"]
    owner["layers"] = [stands.get(i, block) for i, block in enumerate(original)]
    try:
        yield
    finally:
        owner["layers"] = original


def blocks_fed(model: Any, start: int, hidden: Any) -> Any:
    """Context in which the blocks below ``start`` output ``hidden`` instead of running."""
    return _blocks_replaced(model, {i: _Stand(b, hidden=hidden) for i, b in enumerate(model.layers[:start])})


def hidden_entering(model: Any, tokens: Any, start: int, *, cache: list[Any] | None = None) -> Any:
    """The hidden states ``(B, L, D)`` that enter block ``start`` in ``model.model(tokens)``
    (continuing the per-block KV ``cache`` of a shared prefix when given)."""
    captured: list[Any] = []
    with _blocks_replaced(model, {start: _Stand(model.layers[start], capture=captured)}):
        try:
            model.model(tokens, **({} if cache is None else {"cache": cache}))
        except _StopForward:
            pass
    if not captured:
        raise TrainingError(f"block {start} was not called by the model's forward")
    return captured[0]


def final_states(model: Any, tokens: Any, *, cache: list[Any] | None = None) -> Any:
    """The hidden states ``(B, L, D)`` after the final norm (``model.model(tokens)``): what the
    output head reads."""
    return model.model(tokens, **({} if cache is None else {"cache": cache}))


def head_logits(model: Any, states: Any) -> Any:
    """Logits of final-norm ``states`` through the output head; only exact when
    :func:`head_split` holds for ``model``."""
    return _head(model)(states)


def context_length(model: Any) -> int | None:
    """The longest input the model was built for (``max_position_embeddings`` and the like in
    its config), or None when the config does not say."""
    args = getattr(model, "args", None)
    for key in ("max_position_embeddings", "max_seq_len", "n_positions", "context_length"):
        value = getattr(args, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


# ---------------------------------------------------------------- shared-prefix KV cache


def prefix_cache(model: Any, prefix_ids: list[int]) -> list[Any] | None:
    """Per-block KV caches holding ``prefix_ids`` (batch 1), or None when the model's caches
    are not plain ``KVCache`` objects (sliding windows, recurrent state): those cannot be
    shared by a batch safely."""
    import mlx.core as mx
    from mlx_lm.models.cache import KVCache, make_prompt_cache

    cache = make_prompt_cache(model)
    if not cache or any(type(c) is not KVCache for c in cache):
        return None
    model(mx.array([prefix_ids], dtype=mx.int32), cache=cache)
    mx.eval([c.state for c in cache])
    return cache


def broadcast_prefix(cache: list[Any], batch: int) -> list[Any]:
    """Fresh caches for ``batch`` rows, each starting from the batch-1 prefix ``cache``."""
    import mlx.core as mx
    from mlx_lm.models.cache import KVCache

    out = []
    for c in cache:
        keys, values = c.keys[..., : c.offset, :], c.values[..., : c.offset, :]
        new = KVCache()
        new.state = (mx.broadcast_to(keys, (batch, *keys.shape[1:])),
                     mx.broadcast_to(values, (batch, *values.shape[1:])), c.offset)
        out.append(new)
    return out
