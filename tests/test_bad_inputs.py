"""Every bad input a learner tried (issue 10) gets one TutorialError that names the fix, or a
correct result where the input is valid; none ends in a raw library traceback."""

from __future__ import annotations

import dataclasses
import math
import re
from types import SimpleNamespace

import pytest
import torch
from test_vocab_expansion import train_korean_bpe  # the Korean BPE as notebook 04 trains it

import helpers
from helpers import RuntimeFacts, TutorialError, choose_model
from helpers.lessons import chat, fertility, sampling, vision, vocab_expansion
from helpers.offline.llama3_tokenizer import load_llama3_tokenizer
from helpers.offline.tiny_chat_model import tiny_chat_model_folder

QUESTION = [{"role": "user", "content": "블로썸은 어떤 모델이야?"}]


@pytest.fixture(scope="module")
def tiny():
    model, tokenizer = helpers.load_model(choose_model(RuntimeFacts()))
    return model, tokenizer


@pytest.fixture(scope="module")
def llama3():
    return load_llama3_tokenizer()


# ---------------------------------------------------------------------------- the wrong kind of model


def _vision_config_folder(folder, design):
    from transformers import LlavaNextConfig, MllamaConfig

    (LlavaNextConfig() if design == "llava-next" else MllamaConfig()).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("design", ["llava-next", "mllama"])
def test_load_model_with_a_vision_folder_names_load_vision_model(tmp_path, monkeypatch, design):
    folder = _vision_config_folder(tmp_path, design)
    # Named in BLLOSSOM_MODEL, a text lesson sets it aside and says so (a correct result) ...
    monkeypatch.setenv("BLLOSSOM_MODEL", str(folder))
    assert "names a vision model" in helpers.pick_model(facts=RuntimeFacts(), verbose=False).reason
    # ... and handed to load_model, as a vision hub id (counted as text) would be, it is refused
    # before AutoModelForCausalLM loads Mllama's text half alone or lists a hundred class names.
    choice = dataclasses.replace(choose_model(RuntimeFacts()), name=folder.name, source=str(folder), entry=None)
    with pytest.raises(TutorialError, match=r"is a vision model; load it with helpers.load_vision_model"):
        helpers.load_model(choice)


def test_notebook_05_load_cell_with_a_text_folder_says_what_load_vision_model_says(monkeypatch):
    """The cell calls transformers itself inside `explained_load_errors`; the wrong-kind error
    (transformers' 'Unrecognized configuration class' and a hundred names) becomes the helpers' message."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    folder = str(tiny_chat_model_folder())
    monkeypatch.setenv("BLLOSSOM_VISION_MODEL", folder)
    choice = helpers.pick_model(kind="vision", facts=RuntimeFacts(), verbose=False)
    with pytest.raises(TutorialError) as by_helper:
        helpers.load_vision_model(choice)
    with pytest.raises(TutorialError) as in_cell:
        with helpers.explained_load_errors(choice):  # notebook 05's load cell, line for line
            source = helpers.source_of(choice)
            AutoProcessor.from_pretrained(source)
            AutoModelForImageTextToText.from_pretrained(source, **helpers.load_options(choice))
    assert str(in_cell.value) == str(by_helper.value)
    assert "LlamaConfig) is a text-only model" in str(in_cell.value) and "Unrecognized" not in str(in_cell.value)


# ---------------------------------------------------------------------------- generation settings

BAD_GENERATE = [
    (dict(temperature=0), "do_sample=False"),
    (dict(temperature=-1), "greater than 0"),
    (dict(temperature=float("nan")), "greater than 0"),
    (dict(top_k=-1), "at least 1"),
    (dict(repetition_penalty=0), "greater than 0"),
    (dict(do_sample=True, top_p=0.0), "(0, 1]"),
    (dict(do_sample=True, top_p=1.5), "(0, 1]"),
]


@pytest.mark.parametrize("settings,says", BAD_GENERATE, ids=[str(s) for s, _ in BAD_GENERATE])
def test_reply_text_refuses_what_the_sampling_lesson_refuses(tiny, settings, says):
    model, tokenizer = tiny
    with pytest.raises(TutorialError, match=re.escape(says)) as caught:
        chat.reply_text(model, tokenizer, QUESTION, max_new_tokens=4, **settings)
    knobs = {k: v for k, v in settings.items() if k != "do_sample"}
    with pytest.raises(TutorialError) as same:  # one set of rules: the same words as SamplingSettings
        sampling.SamplingSettings(**knobs)
    assert str(caught.value) == str(same.value)


def test_reply_text_takes_valid_settings_and_greedy_with_generates_off_values(tiny):
    model, tokenizer = tiny
    greedy = chat.reply_text(model, tokenizer, QUESTION, max_new_tokens=4, do_sample=False)
    assert greedy == chat.reply_text(model, tokenizer, QUESTION, max_new_tokens=4, do_sample=False,
                                     top_k=0, repetition_penalty=1.0)
    assert isinstance(chat.reply_text(model, tokenizer, QUESTION, max_new_tokens=4, temperature=0.6,
                                      top_p=0.9, top_k=0), str)


@pytest.mark.parametrize("content", ["", "   \n"])
def test_empty_user_message_is_refused(tiny, content):
    model, tokenizer = tiny
    with pytest.raises(TutorialError, match="empty user message"):
        chat.reply_text(model, tokenizer, [{"role": "user", "content": content}], max_new_tokens=4)


# ---------------------------------------------------------------------------- sampling lesson


def test_next_token_distribution_past_the_context_window(tiny):
    model, _ = tiny
    context = model.config.max_position_embeddings
    too_long = torch.full((1, context + 1), 9906)
    with pytest.raises(TutorialError, match=f"reads at most {context:,}"):
        sampling.next_token_distribution(model, too_long)
    assert sampling.next_token_distribution(model, too_long[:, :16]).kept > 0  # a short prompt works


def test_next_token_distribution_with_no_tokens(tiny):
    with pytest.raises(TutorialError, match="no tokens"):
        sampling.next_token_distribution(tiny[0], torch.empty((1, 0), dtype=torch.long))


@pytest.mark.parametrize("samples", [0, -2, 1.5])
def test_sample_statistics_needs_at_least_one_sample(tiny, samples):
    with pytest.raises(TutorialError, match="at least one sample"):
        sampling.sample_statistics(tiny[0], torch.tensor([[9906, 1917]]), sampling.CARD_SETTINGS, samples, 4)


def test_sample_statistics_past_the_context_window(tiny):
    model, _ = tiny
    prompt = torch.full((1, model.config.max_position_embeddings - 2), 9906)
    with pytest.raises(TutorialError, match="fewer new tokens"):
        sampling.sample_statistics(model, prompt, sampling.CARD_SETTINGS, 2, 4)


# ---------------------------------------------------------------------------- fertility and vocabulary


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_fertility_of_whitespace_only_text(llama3, text):
    with pytest.raises(TutorialError, match="pass some text"):
        fertility.fertility(llama3, text)
    with pytest.raises(TutorialError, match="pass some text"):
        fertility.characters_in_window(llama3, text)


def test_fertility_counts_only_non_space_characters(llama3):
    row = fertility.fertility(llama3, " 안녕 \n")
    assert row["tokens/char"] == row["tokens"] / 2


@pytest.fixture(scope="module")
def small_expansion(llama3):
    """A Korean BPE with few merges, so an expansion asked for 4,096 tokens falls far short."""
    return train_korean_bpe(llama3, 800)


def test_vocabulary_expansion_that_falls_short_says_so(llama3, small_expansion, capsys):
    expanded = vocab_expansion.append_korean_tokens(llama3, small_expansion, len(llama3) + 4096)
    added = len(expanded) - len(llama3)
    assert 0 < added < 2048
    said = capsys.readouterr().out
    assert f"Asked for 4,096 new tokens but the Korean BPE offered only {added:,}" in said
    assert "larger vocab_size" in said


def test_a_full_expansion_says_nothing(llama3, capsys):
    bpe = train_korean_bpe(llama3, 4000)
    expanded = vocab_expansion.append_korean_tokens(llama3, bpe, len(llama3) + 64)
    assert len(expanded) == len(llama3) + 64 and capsys.readouterr().out == ""


def test_vocab_size_given_as_a_string(llama3, small_expansion):
    with pytest.raises(TutorialError, match=r"whole number of tokens .* not '129280' \(str\)"):
        vocab_expansion.append_korean_tokens(llama3, small_expansion, "129280")


def test_loss_per_character_with_a_model_that_was_not_resized(tiny, llama3, small_expansion):
    model, _ = tiny
    expanded = vocab_expansion.append_korean_tokens(llama3, small_expansion, len(llama3) + 64)
    korean = vocab_expansion.load_korean_corpus()[:2]
    with pytest.raises(TutorialError, match=r"not resized .*resize_token_embeddings\(len\(expanded_tokenizer\)\)"):
        vocab_expansion.loss_per_character(model, expanded, korean)
    assert math.isfinite(vocab_expansion.loss_per_character(model, llama3, korean))  # the old tokenizer fits


# ---------------------------------------------------------------------------- vision lesson


def test_image_reading_on_text_only_input():
    model = SimpleNamespace(config=SimpleNamespace(vision_config=SimpleNamespace(patch_size=14)))
    text_only = {"input_ids": torch.tensor([[128000, 9906]]), "attention_mask": torch.ones(1, 2)}
    with pytest.raises(TutorialError, match="no picture"):
        vision.image_reading(model, None, text_only)
    with pytest.raises(TutorialError, match="text-only model"):
        vision.image_reading(SimpleNamespace(config=SimpleNamespace()), None, text_only)


# ---------------------------------------------------------------------------- model choice


@pytest.mark.parametrize("value", ["   ", "", "\t"])
def test_blank_bllossom_model_is_unset(monkeypatch, value):
    monkeypatch.setenv("BLLOSSOM_MODEL", value)
    choice = helpers.pick_model(facts=RuntimeFacts(), verbose=False)
    assert choice == helpers.models.choice.hardware_choice(RuntimeFacts(), "text")

