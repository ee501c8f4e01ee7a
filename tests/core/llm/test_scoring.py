"""Label-probability scoring and greedy generation on tiny models of every architecture."""

from __future__ import annotations

import numpy as np
import pytest

import tiny_tokenizers as TT
from tiny_models import ARCHITECTURES, load_tiny, rendered

from clinpred.core.errors import RenderError
from clinpred.core.llm.rendering import tokenize_checked
from clinpred.core.llm.scoring import (
    cut_at_stop,
    generate_texts,
    label_id_sets,
    label_token_ids,
    label_variants,
    p_yes_from_logprobs,
    score_p_yes,
)
from clinpred.core.llm.tokens import decode, encode

ARCHS = list(ARCHITECTURES)


@pytest.fixture(scope="module", params=ARCHS)
def tiny(request):
    arch = request.param
    model, tok = load_tiny(arch)
    return arch, model, tok


def test_label_variants():
    assert label_variants("Yes") == ["Yes", "yes", "YES", " Yes", " yes", " YES"]
    assert label_variants("no")[:3] == ["no", "NO", "No"]


@pytest.mark.parametrize("arch", ARCHS)
def test_label_ids_contain_the_trained_answer_token(arch):
    _, tok = load_tiny(arch)
    for label, word in ((1, "Yes"), (0, "No")):
        r = rendered(tok, arch, 3, label)
        ex = tokenize_checked(arch, tok, r)
        ids = label_token_ids(tok, r.prompt, [word])
        assert ex.ids[ex.answer_start] in ids  # the token training teaches is scored
        for t in ids:
            assert decode(tok, [t]).strip().lower() == word.lower()
    pos, neg = label_id_sets(tok, rendered(tok, arch, 3, 1).prompt, "Yes", "No")
    assert not set(pos) & set(neg)
    assert len(pos) >= 2  # the tiny vocabulary has "Yes", " Yes", "yes", ... as single tokens


def test_label_ids_skip_variants_that_merge_with_the_prompt():
    tok = TT.qwen25()
    prompt = "Answer: "  # "Answer: " + "No" tokenizes as "Answer" ":" " No": the space merges
    n = len(encode(tok, prompt))
    assert encode(tok, prompt + "No")[:n] != encode(tok, prompt)
    ids = label_token_ids(tok, prompt, ["No"])
    assert ids and all(decode(tok, [t]).strip().lower() == "no" for t in ids)
    with pytest.raises(RenderError, match="merges"):
        label_token_ids(tok, "The answer is Y", ["es"])  # every variant merges or starts with " "


def test_overlapping_or_missing_labels_are_errors():
    tok = TT.qwen25()
    with pytest.raises(RenderError, match="same token"):
        label_id_sets(tok, "Answer:", "Yes", "yes")
    with pytest.raises(RenderError, match="no token starts"):
        label_token_ids(tok, "Answer:", ["   "])


def test_p_yes_from_logprobs_by_hand():
    logprobs = np.log(np.array([[0.5, 0.2, 0.1, 0.2], [0.1, 0.1, 0.6, 0.2]]))
    p = p_yes_from_logprobs(logprobs, [0, 1], [2])
    np.testing.assert_allclose(p, [0.7 / 0.8, 0.2 / 0.8])


def test_padded_and_unpadded_batches_agree(tiny):
    import mlx.core as mx

    arch, model, tok = tiny
    prompts = [rendered(tok, arch, i, i % 2).prompt for i in range(7)]
    prompts[2] = prompts[2].replace("Age:", "Age in completed years at delivery:")  # vary the lengths
    prompts[5] = prompts[5].replace("Age:", "Age at delivery:")
    assert len({len(encode(tok, p)) for p in prompts}) > 2
    one = score_p_yes(model, tok, prompts, "Yes", "No", batch_size=1)
    padded = score_p_yes(model, tok, prompts, "Yes", "No", batch_size=4)
    np.testing.assert_allclose(padded, one, rtol=1e-5, atol=1e-6)
    assert np.all((one > 0) & (one < 1))
    # against the plain full forward pass of one prompt
    ids = encode(tok, prompts[2])
    logits = np.array(model(mx.array([ids]))[0, -1], dtype=np.float64)
    logprobs = logits - np.logaddexp.reduce(logits)
    pos, neg = label_id_sets(tok, prompts[2], "Yes", "No")
    assert one[2] == pytest.approx(p_yes_from_logprobs(logprobs[None], pos, neg)[0], rel=1e-5)


def test_scores_follow_the_prompt_order(tiny):
    arch, model, tok = tiny
    prompts = [rendered(tok, arch, i, i % 2).prompt for i in range(5)]
    order = [3, 0, 4, 1, 2]
    p = score_p_yes(model, tok, prompts, "Yes", "No", batch_size=2)
    q = score_p_yes(model, tok, [prompts[i] for i in order], "Yes", "No", batch_size=2)
    np.testing.assert_allclose(q, p[order], rtol=1e-5)
    assert score_p_yes(model, tok, [], "Yes", "No").shape == (0,)


def test_progress_is_reported():
    model, tok = load_tiny("qwen2")
    prompts = [rendered(tok, "qwen2", i, 1).prompt for i in range(5)]
    seen: list[tuple[int, int]] = []
    score_p_yes(model, tok, prompts, "Yes", "No", batch_size=2, on_progress=lambda d, t: seen.append((d, t)))
    assert seen == [(2, 5), (4, 5), (5, 5)]


def test_generation_is_greedy_batched_and_deterministic(tiny):
    arch, model, tok = tiny
    prompts = [rendered(tok, arch, i, i % 2).prompt for i in range(4)]
    batched = generate_texts(model, tok, prompts, max_tokens=6, batch_size=4)
    single = generate_texts(model, tok, prompts, max_tokens=6, batch_size=1)
    assert batched == single == generate_texts(model, tok, prompts, max_tokens=6, batch_size=3)
    short = generate_texts(model, tok, prompts, max_tokens=2, batch_size=4)
    assert all(long.startswith(s) for s, long in zip(short, batched))


def test_generation_stops_at_stop_strings():
    model, tok = load_tiny("mistral")
    prompts = [rendered(tok, "mistral", i, 1).prompt for i in range(3)]
    texts = generate_texts(model, tok, prompts, max_tokens=8)
    assert all(texts)
    word = texts[0].split()[0]
    cut = generate_texts(model, tok, prompts, max_tokens=8, stop=(word,))
    assert cut[0] == texts[0][: texts[0].find(word)]
    assert cut_at_stop("Yes<|im_end|>\nmore", ("<|im_end|>", "\n")) == "Yes"
    assert cut_at_stop("No", ()) == "No"
