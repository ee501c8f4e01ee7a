"""Built-in families: their FamilySpecs, and inferring a family from a model id."""

from __future__ import annotations

import pytest

from clinpred.registry.registry import load_registry

BUILTIN = {"llama", "mistral", "phi", "qwen", "gemma", "deepseek-r1"}
HYPERPARAMETER_KEYS = {"lora_rank", "lora_alpha", "learning_rate", "num_iters", "batch_size", "lora_layers"}


@pytest.fixture
def registry():
    return load_registry()


@pytest.mark.parametrize(
    ("model_id", "family"),
    [
        ("mlx-community/Qwen3-4B-4bit", "qwen"),
        ("mlx-community/Qwen2.5-7B-Instruct-4bit", "qwen"),
        ("mlx-community/Llama-3.2-3B-Instruct-4bit", "llama"),
        ("mlx-community/Meta-Llama-3.1-8B-Instruct-4bit", "llama"),
        ("mlx-community/Mistral-7B-Instruct-v0.3-4bit", "mistral"),
        ("mistralai/Mistral-7B-Instruct-v0.1", "mistral"),
        ("mlx-community/Phi-3-mini-4k-instruct-4bit", "phi"),
        ("microsoft/Phi-3.5-mini-instruct", "phi"),
        ("mlx-community/gemma-3-4b-it-4bit", "gemma"),
        ("google/gemma-2-2b-it", "gemma"),
        ("mlx-community/DeepSeek-R1-Distill-Qwen-1.5B-4bit", "deepseek-r1"),
        ("mlx-community/DeepSeek-R1-Distill-Llama-8B-4bit", "deepseek-r1"),
        ("/home/me/models/deepseek_r1-distill-qwen-7b", "deepseek-r1"),
    ],
)
def test_infer_family_from_model_id(registry, model_id, family):
    spec = registry.infer_family(model_id)
    assert spec is not None and spec.name == family


@pytest.mark.parametrize("model_id", ["meta-llama/Llama-2-7b-chat-hf", "microsoft/phi-4", "gpt2", "bert-base-uncased"])
def test_no_family_for_other_formats(registry, model_id):
    spec = registry.infer_family(model_id)
    assert spec is None or spec.name not in BUILTIN


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_spec(registry, name):
    spec = registry.family(name)
    assert spec.default_model and spec.default_model.startswith("mlx-community/")
    assert spec.default_model.endswith("-4bit")
    assert registry.infer_family(spec.default_model).name == name
    assert set(spec.hyperparameters) == HYPERPARAMETER_KEYS
    hp = spec.hyperparameters
    assert hp["lora_rank"] > 0 and hp["lora_alpha"] > 0 and 0 < hp["learning_rate"] < 1e-3
    assert hp["num_iters"] > 0 and hp["batch_size"] > 0 and hp["lora_layers"] > 0
    for entry in spec.catalog:
        assert registry.infer_family(entry.hub_id or entry.name).name == name
    assert registry.plugin_of(name) == name.replace("-", "_")


@pytest.mark.parametrize(
    ("alias", "name"),
    [("llama3", "llama"), ("qwen3", "qwen"), ("qwen2.5", "qwen"), ("gemma3", "gemma"), ("phi3", "phi"),
     ("r1", "deepseek-r1"), ("deepseek_r1", "deepseek-r1"), ("mixtral", "mistral")],
)
def test_aliases(registry, alias, name):
    assert registry.family(alias).name == name


def test_disabling_a_builtin_removes_its_family(monkeypatch):
    monkeypatch.setenv("CLINPRED_DISABLE_PLUGINS", "qwen")
    names = {spec.name for spec in load_registry().families()}
    assert "qwen" not in names and {"llama", "deepseek-r1"} <= names
    # with qwen gone, the distill id still resolves to its own family, not to nothing
    assert load_registry().infer_family("mlx-community/DeepSeek-R1-Distill-Qwen-1.5B-4bit").name == "deepseek-r1"
