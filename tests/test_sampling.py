"""The sampling helper shows exactly the distribution `generate` samples from, and refuses
settings that mean nothing, saying the valid range."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import set_seed

import helpers
from helpers.lessons import sampling
from helpers.lessons.sampling import SamplingSettings

SETTINGS = {
    "card": sampling.CARD_SETTINGS,
    "hot, no filters": SamplingSettings(temperature=1.5, top_k=None),
    "cold top-k 5, strong penalty": SamplingSettings(temperature=0.3, top_k=5, repetition_penalty=1.3),
    "top-p 0.5 alone": SamplingSettings(top_k=None, top_p=0.5),
    "top-p 0.95, penalty below 1": SamplingSettings(temperature=0.8, top_k=None, top_p=0.95,
                                                    repetition_penalty=0.8),
}
STEPS = 4


@pytest.fixture(scope="module")
def model_and_tokenizer():
    torch.set_num_threads(1)
    choice = helpers.choose_model(helpers.RuntimeFacts())  # no GPU: Bllossom-tiny
    return helpers.load_model(choice)


@pytest.fixture(scope="module")
def inputs(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    messages = [{"role": "system", "content": helpers.BLLOSSOM_SYSTEM_PROMPT},
                {"role": "user", "content": "한국에서 가 볼 만한 곳은?"}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,
                                         return_tensors="pt")


def _generate(model, inputs, settings, seed=0):
    set_seed(seed)
    return model.generate(**inputs, **settings.generate_kwargs(), max_new_tokens=STEPS,
                          output_scores=True, output_logits=True, return_dict_in_generate=True)


@pytest.mark.parametrize("name", SETTINGS)
def test_distribution_equals_what_generate_samples_from(model_and_tokenizer, inputs, name):
    """At every step, the helper's scores for the text so far are generate's processed scores."""
    model, _ = model_and_tokenizer
    settings = SETTINGS[name]
    out = _generate(model, inputs, settings)
    length = inputs["input_ids"].shape[-1]
    assert 1 <= len(out.scores) <= STEPS  # (min_new_tokens would add a processor of its own)
    for step, generated in enumerate(out.scores):
        prefix = out.sequences[:, : length + step]
        dist = sampling.next_token_distribution(model, {"input_ids": prefix}, settings)
        expected = generated[0]
        assert torch.equal(dist.scores.isfinite(), expected.isfinite()), f"{name}: kept sets differ at step {step}"
        # A fresh forward pass and generate's cached one round differently in the last bits.
        torch.testing.assert_close(dist.scores[expected.isfinite()], expected[expected.isfinite()],
                                   rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(dist.probs, torch.softmax(expected, -1), rtol=1e-5, atol=1e-6)
        assert dist.probs[out.sequences[0, length + step]] > 0, "generate drew a token the helper excludes"


@pytest.mark.parametrize("name", SETTINGS)
def test_chain_is_generates_own(model_and_tokenizer, inputs, name):
    """Fed generate's raw logits, the helper's processor chain gives generate's scores bit for bit."""
    model, _ = model_and_tokenizer
    settings = SETTINGS[name]
    out = _generate(model, inputs, settings, seed=1)
    length = inputs["input_ids"].shape[-1]
    for step, (raw, processed) in enumerate(zip(out.logits, out.scores)):
        prefix = out.sequences[:, : length + step]
        chain = sampling.sampling_processors(model, settings, prefix)
        stages = sampling.apply_processors(chain, prefix, raw)
        assert torch.equal(stages[-1][1], processed)


def test_chain_has_generates_order_and_default_top_k(model_and_tokenizer, inputs):
    model, _ = model_and_tokenizer
    dist = sampling.next_token_distribution(model, inputs, sampling.CARD_SETTINGS)
    assert [name for name, _ in dist.stages] == ["logits", "RepetitionPenaltyLogitsProcessor",
                                                  "TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper"]
    assert dist.processors[2].top_k == sampling.GENERATE_DEFAULT_TOP_K
    off = sampling.next_token_distribution(model, inputs, temperature=1.0, top_k=None)
    assert len(off.processors) == 0 and torch.equal(off.scores, off.logits)


def test_keywords_and_settings_give_the_same_distribution(model_and_tokenizer, inputs):
    model, _ = model_and_tokenizer
    by_object = sampling.next_token_distribution(model, inputs, SamplingSettings(0.7, 20, 0.8, 1.2))
    by_keywords = sampling.next_token_distribution(model, inputs, temperature=0.7, top_k=20, top_p=0.8,
                                                   repetition_penalty=1.2)
    assert torch.equal(by_object.scores, by_keywords.scores)


def test_lower_temperature_lower_entropy(model_and_tokenizer, inputs):
    model, _ = model_and_tokenizer
    entropies = [sampling.next_token_distribution(model, inputs, temperature=t, top_k=None).entropy
                 for t in (0.3, 0.6, 1.0, 1.5)]
    assert all(a < b for a, b in zip(entropies, entropies[1:])), entropies


@pytest.mark.parametrize("top_p", [0.5, 0.9, 0.95])
def test_top_p_keeps_the_smallest_set_reaching_p(model_and_tokenizer, inputs, top_p):
    model, _ = model_and_tokenizer
    dist = sampling.next_token_distribution(model, inputs, temperature=1.0, top_k=None, top_p=top_p)
    kept = dist.unfiltered_probs[dist.probs > 0].double()
    assert abs(float(dist.probs.double().sum()) - 1) < 1e-3
    assert kept.sum() >= top_p - 1e-4
    assert kept.sum() - kept.min() < top_p + 1e-4


def test_top_k_keeps_k_and_ties(model_and_tokenizer, inputs):
    model, _ = model_and_tokenizer
    for k in (1, 10, 50):
        dist = sampling.next_token_distribution(model, inputs, top_k=k)
        threshold = dist.logits.topk(k).values[-1]
        assert dist.kept == int((dist.logits >= threshold).sum()) >= k


def test_repetition_penalty_changes_only_context_tokens(model_and_tokenizer, inputs):
    model, _ = model_and_tokenizer
    dist = sampling.next_token_distribution(model, inputs, top_k=None, repetition_penalty=1.3)
    before, after = dist.logits, dist.stage("RepetitionPenalty")
    context = set(inputs["input_ids"][0].tolist())
    changed = set((before != after).nonzero()[:, 0].tolist())
    assert changed and changed <= context
    for i in changed:
        expected = before[i] / 1.3 if before[i] > 0 else before[i] * 1.3
        assert torch.isclose(after[i], expected)


# ---------------------------------------------------------------------------- bad input

BAD = [
    (dict(temperature=0), ["do_sample=False", "greater than 0"]),
    (dict(temperature=0.0), ["do_sample=False", "greater than 0"]),
    (dict(temperature=-0.5), ["greater than 0"]),
    (dict(temperature=float("nan")), ["greater than 0"]),
    (dict(temperature="hot"), ["greater than 0"]),
    (dict(top_p=0), ["(0, 1]"]),
    (dict(top_p=1.5), ["(0, 1]"]),
    (dict(top_p=-0.1), ["(0, 1]"]),
    (dict(top_k=-3), ["at least 1", "0 or None to switch top-k off"]),
    (dict(top_k=2.5), ["at least 1"]),
    (dict(repetition_penalty=0), ["greater than 0", "1.0 switches it off"]),
    (dict(repetition_penalty=-1.1), ["greater than 0"]),
    (dict(repetition_penalty=math.inf), ["greater than 0"]),
]


@pytest.mark.parametrize("knobs,says", BAD, ids=[str(knobs) for knobs, _ in BAD])
def test_bad_settings_say_the_valid_range(knobs, says):
    with pytest.raises(helpers.TutorialError) as caught:
        SamplingSettings(**knobs)
    for words in says:
        assert words in str(caught.value), str(caught.value)


@pytest.mark.parametrize("knobs,says", BAD[:1] + BAD[5:6] + BAD[8:9] + BAD[10:11],
                         ids=["temperature 0", "top_p 0", "top_k -3", "penalty 0"])
def test_bad_knobs_are_caught_before_the_model_runs(model_and_tokenizer, inputs, knobs, says):
    model, _ = model_and_tokenizer
    with pytest.raises(helpers.TutorialError, match="out of range|not a sampling setting"):
        sampling.next_token_distribution(model, inputs, **knobs)


def test_unknown_knob_and_batches_are_explained(model_and_tokenizer, inputs):
    model, _ = model_and_tokenizer
    with pytest.raises(helpers.TutorialError, match="Unknown sampling knob"):
        sampling.next_token_distribution(model, inputs, temprature=0.6)
    with pytest.raises(helpers.TutorialError, match="either"):
        sampling.next_token_distribution(model, inputs, sampling.CARD_SETTINGS, top_p=0.5)
    with pytest.raises(helpers.TutorialError, match="one prompt at a time"):
        sampling.next_token_distribution(model, inputs["input_ids"].repeat(2, 1))


def test_valid_edges_are_accepted():
    settings = SamplingSettings(top_p=1.0, top_k=1, temperature=1e-3, repetition_penalty=0.5)
    assert settings.generate_kwargs()["top_k"] == 1
    assert SamplingSettings(top_k=None).generate_kwargs()["top_k"] == 0  # generate's "off"
    assert SamplingSettings(top_k=0) == SamplingSettings(top_k=None)  # 0 is generate's "off" too


# ---------------------------------------------------------------------------- measurement, labels, explorer


def test_distinct_n():
    assert sampling.distinct_n([[1, 2, 3], [1, 2, 4]], 1) == 4 / 6
    assert sampling.distinct_n([[1, 2, 3], [1, 2, 4]], 2) == 3 / 4
    assert sampling.distinct_n([[5, 5, 5, 5]], 2) == 1 / 3
    assert sampling.distinct_n([[1]], 2) == 0.0


def test_sample_statistics_follow_temperature(model_and_tokenizer, inputs):
    model, tokenizer = model_and_tokenizer
    eos = [tokenizer.convert_tokens_to_ids("<|eot_id|>")]
    cold = sampling.sample_statistics(model, inputs, SamplingSettings(0.3, None), 4, 6, eos_token_id=eos)
    hot = sampling.sample_statistics(model, inputs, SamplingSettings(1.5, None), 4, 6, eos_token_id=eos)
    assert len(cold["samples"]) == 4 and 0 < cold["tokens"] <= 24
    assert cold["entropy"] < hot["entropy"] and cold["mean log-prob"] > hot["mean log-prob"]
    assert 0 < cold["distinct-1"] <= 1 and 0 <= cold["distinct-2"] <= 1
    again = sampling.sample_statistics(model, inputs, SamplingSettings(0.3, None), 4, 6, eos_token_id=eos)
    assert again["samples"] == cold["samples"]  # seeded


def test_token_labels_show_spaces_and_byte_pieces(model_and_tokenizer):
    _, tokenizer = model_and_tokenizer
    space_seoul = tokenizer.encode(" 서울", add_special_tokens=False)
    assert sampling.token_label(tokenizer, space_seoul[0]).startswith("·")
    piece = next(i for i in range(100000, 128000) if "\ufffd" in tokenizer.decode([i]))
    label = sampling.token_label(tokenizer, piece)
    assert label.startswith("<") and label.endswith(">") and len(label) > 2


def test_explorer_runs_headless(model_and_tokenizer, inputs):
    model, tokenizer = model_and_tokenizer
    explorer = sampling.SamplingExplorer(model, tokenizer, inputs, new_tokens=4)
    dist, text = explorer.update(temperature=0.6, top_k=50, top_p=0.9, repetition_penalty=1.1)
    card = sampling.next_token_distribution(model, inputs, sampling.CARD_SETTINGS)
    assert torch.equal(dist.probs, card.probs) and text.strip()
    assert explorer.last == (dist, text)
    explorer.sliders["top_k"].value = 0  # a slider move redraws; the slider's 0 means top-k off
    moved, _ = explorer.last
    assert moved is not dist and moved.settings.top_k is None
    assert "TopKLogitsWarper" not in [name for name, _ in moved.stages]


def test_a_moved_private_generate_method_names_the_tested_range(model_and_tokenizer, inputs, monkeypatch):
    """The chain relies on private GenerationMixin methods. A release that removes one, or changes its
    parameters, gets the tested transformers range and the upgrade command, not an AttributeError."""
    from transformers.generation.utils import GenerationMixin

    from helpers.errors import TutorialError
    from helpers.models.versions import tested_ranges

    model, _ = model_and_tokenizer
    wanted = tested_ranges()["transformers"]
    monkeypatch.delattr(GenerationMixin, "_get_logits_processor")
    with pytest.raises(TutorialError, match="_get_logits_processor") as removed:
        sampling.next_token_distribution(model, inputs, sampling.CARD_SETTINGS)
    assert f'pip install -U "transformers{wanted}"' in str(removed.value)
    assert "AttributeError" in str(removed.value)

    def new_signature(self, generation_config, input_ids_seq_length):  # a release that dropped parameters
        raise AssertionError("never reached: the call passes parameters this signature lacks")

    monkeypatch.setattr(GenerationMixin, "_get_logits_processor", new_signature, raising=False)
    with pytest.raises(TutorialError, match="TypeError") as changed:
        sampling.next_token_distribution(model, inputs, sampling.CARD_SETTINGS)
    assert f"transformers{wanted}" in str(changed.value)
