"""A classification head on the final-norm state at the answer position, for LP-FT.

Linear probing then fine-tuning (Kumar et al., ICLR 2022): fit the probe on the frozen model's
features first (:func:`~clinpred.core.llm.probe.fit_probe`), then fine-tune LoRA with the label
objective through a head that starts as that probe (:func:`head_from_probe`), so training starts
from the probe's solution instead of distorting the features to fit a head made of the LM's
answer-token rows. With a head, ``train_lora`` trains it with the adapter (the label objective's
margin is the head's logit; the answer-token share and the end of turn still go through the LM
head, so generation keeps answering) and saves it next to the adapter as
``label_head.safetensors`` (mlx-lm's adapter loader refuses unknown tensors). P(yes) of such a
model is the head's (:func:`head_p_yes`), not the label tokens'. :func:`probe_head` is the whole
first stage (``head = "probe"`` of a ``[[models]]`` entry): the frozen model's states of the
training patients, the probe fitted on them, the head made from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from clinpred.core.errors import ModelError

#: the model attribute the head is attached under while training, and the name prefix of its parameters
ATTRIBUTE = "clinpred_label_head"
HEAD_FILE = "label_head.safetensors"


def make_head(weight: np.ndarray, bias: float) -> Any:
    """An mlx module ``z = states @ weight + bias`` (``weight`` ``(D,)``)."""
    import mlx.core as mx
    import mlx.nn as nn

    class LabelHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = mx.array(np.asarray(weight, np.float32))
            self.bias = mx.array(np.asarray([bias], np.float32))

        def __call__(self, states: Any) -> Any:
            return states.astype(mx.float32) @ self.weight + self.bias[0]

    return LabelHead()


def head_from_probe(fit: Any) -> Any:
    """The head that computes exactly the probe's logit from raw (unstandardised) features."""
    weight = np.asarray(fit.coef) / np.asarray(fit.scale)
    return make_head(weight, float(fit.intercept - weight @ np.asarray(fit.mean)))


def probe_head(model: Any, tokenizer: Any, prompts: Sequence[str], labels: Sequence[int], *, seed: int,
               class_weight: str | None = None, **features: Any) -> tuple[Any, Any]:
    """LP-FT's first stage on the frozen ``model`` (call it before LoRA is added): the final-norm
    states at the last token of the training patients' scoring ``prompts``, the probe fitted on them
    (:func:`~clinpred.core.llm.probe.fit_probe`, ``C`` by inner CV) and the head that computes its
    logit. Returns ``(head, fit)``; ``features`` go to ``last_token_features`` (batch size, prefix
    cache, progress)."""
    from clinpred.core.llm.features import last_token_features
    from clinpred.core.llm.probe import fit_probe

    states = last_token_features(model, tokenizer, prompts, **features).states
    fit = fit_probe(states, labels, seed=seed, class_weight=class_weight)
    return head_from_probe(fit), fit


def head_arrays(head: Any) -> tuple[np.ndarray, float]:
    """(weight, bias) of a head as numpy."""
    return np.array(head.weight, dtype=np.float64), float(np.array(head.bias)[0])


def save_head(head: Any, folder: Path) -> None:
    from clinpred.core.weights.mlx_compat import atomic_save_safetensors

    atomic_save_safetensors(Path(folder) / HEAD_FILE, {"weight": head.weight, "bias": head.bias})


def load_head(folder: Path) -> Any:
    """The head saved in ``folder`` (an adapter directory)."""
    import mlx.core as mx

    path = Path(folder) / HEAD_FILE
    if not path.is_file():
        raise ModelError(f"{folder} has no {HEAD_FILE}; it was not trained with a label head")
    arrays = mx.load(str(path))
    return make_head(np.array(arrays["weight"]), float(np.array(arrays["bias"])[0]))


def head_p_yes(model: Any, tokenizer: Any, prompts: Sequence[str], head: Any, **kwargs: Any) -> np.ndarray:
    """P(yes) = sigmoid(head(final-norm state at the last prompt token)) per prompt, float64 ``(n,)``."""
    from clinpred.core.llm.features import last_token_features

    weight, bias = head_arrays(head)
    states = last_token_features(model, tokenizer, prompts, **kwargs).states
    return 1.0 / (1.0 + np.exp(-(states.astype(np.float64) @ weight + bias)))
