"""Few-shot prompts: the seeded class-balanced draw, the placement a family declares, the checks
every few-shot rendering passes (every built-in family on its tiny tokenizer), and the context limit."""

from __future__ import annotations

import numpy as np
import pytest

import tiny_tokenizers as tt
from tiny_models import load_tiny

from clinpred.core.data.dataset import load_from_schema
from clinpred.core.data.schema import default_schema
from clinpred.core.errors import ConfigError, RenderError
from clinpred.core.llm.few_shot import draw_shots, few_shot_prompts, with_shots
from clinpred.core.llm.llm_unit import PromptBook
from clinpred.core.llm.rendering import render_with_template
from clinpred.core.llm.scoring import score_p_yes
from clinpred.core.values import FamilySpec, Prompt, Shot
from clinpred.registry.registry import load_registry

#: tiny tokenizer -> the built-in family that renders it
FAMILY_OF = {
    "llama31": "llama", "llama32": "llama", "mistral_v01": "mistral", "mistral_v03": "mistral",
    "phi3": "phi", "phi3_legacy": "phi", "qwen25": "qwen", "qwen3": "qwen", "gemma2": "gemma",
    "gemma3": "gemma", "deepseek_r1": "deepseek-r1",
}


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.fixture(scope="module")
def dataset():
    return load_from_schema(default_schema(), n=120, seed=3)


def test_draw_is_class_balanced_seeded_and_from_the_training_part_only():
    labels = np.array([1] * 30 + [0] * 70)
    train = np.arange(0, 80)
    for k in (4, 8, 16, 32):
        chosen = draw_shots(labels, train, k, seed=1)
        assert len(set(chosen.tolist())) == k and set(chosen.tolist()) <= set(train.tolist())
        assert labels[chosen].sum() == k // 2
        assert np.array_equal(chosen, draw_shots(labels, train, k, seed=1))
    assert not np.array_equal(draw_shots(labels, train, 8, seed=1), draw_shots(labels, train, 8, seed=2))
    odd = [labels[draw_shots(labels, train, 5, seed=s)].sum() for s in range(20)]
    assert set(odd) == {2, 3}
    few_positive = np.array([1] * 3 + [0] * 77)
    with pytest.raises(ConfigError, match="shots = 8 needs 4 training patients with the positive outcome"):
        draw_shots(few_positive, train, 8, seed=0)
    with pytest.raises(ConfigError, match="integer >= 1"):
        draw_shots(labels, train, 0, seed=0)


SHOTS = (Shot("Age: 20 years\nWill it happen?", "Yes"), Shot("Age: 40 years\nWill it happen?", "No"))
QUERY = Prompt(user="Age: 31 years\nWill it happen?", system="Answer Yes or No.")


@pytest.mark.parametrize("tok_name", ["llama31", "qwen25", "phi3", "gemma3"])
def test_turns_are_the_chat_templates_own_multi_turn_rendering(tok_name):
    tok = getattr(tt, tok_name)()
    fold = tok_name == "gemma3"
    rendered = render_with_template(tok, with_shots(QUERY, SHOTS), "Yes", fold_system=fold)
    history = [{"role": "user", "content": "Age: 20 years\nWill it happen?"}, {"role": "assistant", "content": "Yes"},
               {"role": "user", "content": "Age: 40 years\nWill it happen?"}, {"role": "assistant", "content": "No"},
               {"role": "user", "content": QUERY.user}]
    if fold:
        history[0] = {"role": "user", "content": f"{QUERY.system}\n\n{history[0]['content']}"}
    else:
        history.insert(0, {"role": "system", "content": QUERY.system})
    assert rendered.prompt == tok.apply_chat_template(history, add_generation_prompt=True, tokenize=False)


def test_one_message_puts_the_examples_in_the_user_text():
    prompt = with_shots(QUERY, SHOTS, "one-message")
    assert prompt.shots == () and prompt.system == QUERY.system
    assert prompt.user.startswith("Here are 2 example patients with their answers.")
    assert "Example 1:\nAge: 20 years\nWill it happen?\nAnswer: Yes" in prompt.user
    assert prompt.user.endswith("Now the patient to predict:\n\n" + QUERY.user)
    with pytest.raises(ConfigError):
        with_shots(QUERY, SHOTS, "sideways")
    with pytest.raises(ValueError):
        FamilySpec(name="x", few_shot="sideways")


@pytest.mark.parametrize("tok_name", sorted(FAMILY_OF))
@pytest.mark.parametrize("placement", ["turns", "one-message"])
def test_every_built_in_family_renders_checked_few_shot_prompts(registry, dataset, tok_name, placement):
    import attrs

    tok = getattr(tt, tok_name)()
    family = attrs.evolve(registry.family(FAMILY_OF[tok_name]), few_shot=placement)
    book = PromptBook(registry, family, tok, dataset.schema.task, dataset.records())
    chosen = draw_shots(dataset.labels, np.arange(100), 4, seed=0)
    prompts = few_shot_prompts(book, chosen, [100, 101], dataset.labels)
    for i, text in zip((100, 101), prompts):
        for j in chosen:  # every example, in the drawn order, then the patient
            assert book.prompt(int(j)).user.strip() in text
        positions = [text.index(book.prompt(int(j)).user.strip()) for j in chosen]
        assert positions == sorted(positions) and text.rindex(book.prompt(i).user.strip()) > positions[-1]
    assert prompts[0] != prompts[1]


class _DropsShots:
    """A family plugin whose render_chat ignores Prompt.shots."""

    def __init__(self, registry):
        self.registry = registry

    def format_prompt(self, family, record, task):
        return self.registry.format_prompt(family, record, task)

    def render_chat(self, family, tokenizer, prompt, answer):
        return self.registry.render_chat(family, tokenizer, Prompt(user=prompt.user, system=prompt.system), answer)


def test_a_rendering_that_drops_the_examples_is_refused_naming_the_family(registry, dataset):
    import attrs

    tok = tt.qwen25()
    family = registry.family("qwen")
    book = PromptBook(_DropsShots(registry), family, tok, dataset.schema.task, dataset.records())
    with pytest.raises(RenderError, match="family 'qwen'.*few_shot = 'one-message'"):
        few_shot_prompts(book, [0, 1], [100], dataset.labels)
    inline = PromptBook(_DropsShots(registry), attrs.evolve(family, few_shot="one-message"), tok,
                        dataset.schema.task, dataset.records())
    assert few_shot_prompts(inline, [0, 1], [100], dataset.labels)


def test_a_prompt_longer_than_the_context_is_a_clear_error(registry, dataset):
    model, tok = load_tiny("qwen2")  # max_position_embeddings 2048
    book = PromptBook(registry, registry.family("qwen"), tok, dataset.schema.task, dataset.records())
    chosen = draw_shots(dataset.labels, np.arange(100), 4, seed=0)
    assert few_shot_prompts(book, chosen, [100], dataset.labels, model=model)
    many = draw_shots(dataset.labels, np.arange(100), 40, seed=0)
    with pytest.raises(ConfigError, match=r"40 examples make a prompt of \d+ tokens but the model reads at most "
                                          r"2048 .*use at most \d+ shots"):
        few_shot_prompts(book, many, [100], dataset.labels, model=model)


def test_few_shot_prompts_share_their_examples_as_a_cached_prefix(registry, dataset):
    model, tok = load_tiny("qwen2")
    book = PromptBook(registry, registry.family("qwen"), tok, dataset.schema.task, dataset.records())
    chosen = draw_shots(dataset.labels, np.arange(100), 4, seed=0)
    prompts = few_shot_prompts(book, chosen, list(range(100, 106)), dataset.labels)
    cached = score_p_yes(model, tok, prompts, "Yes", "No", batch_size=4)
    plain = score_p_yes(model, tok, prompts, "Yes", "No", batch_size=4, prefix_cache=False)
    np.testing.assert_allclose(cached, plain, atol=1e-5)
