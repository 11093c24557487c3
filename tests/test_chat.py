"""helpers.chat and helpers.timing: the card's settings, the reply helper and every bad input."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import torch

from helpers import BLLOSSOM_SYSTEM_PROMPT, CATALOG, RuntimeFacts, TutorialError, choose_model
from helpers.lessons import chat, timing
from helpers.offline.llama3_tokenizer import load_llama3_tokenizer
from helpers.offline.tiny_chat_model import load_corpus

BOS, EOT, END = 128000, 128009, 128001


@pytest.fixture(scope="module")
def tokenizer():
    return load_llama3_tokenizer()


@pytest.fixture(scope="module")
def tiny():
    """Bllossom-tiny as the lessons load it on a CPU: (choice, model, tokenizer)."""
    from helpers import load_model

    choice = choose_model(RuntimeFacts())
    model, tokenizer = load_model(choice)
    return choice, model, tokenizer


class ScriptedModel:
    """Stands in for a causal LM: `generate` returns the prompt followed by a scripted reply,
    the way transformers does, and remembers what it was given."""

    def __init__(self, reply_ids, context=8192):
        self.reply_ids = list(reply_ids)
        self.device = torch.device("cpu")
        self.config = SimpleNamespace(max_position_embeddings=context)
        self.generation_config = SimpleNamespace(max_new_tokens=32)
        self.calls = []

    def generate(self, input_ids, attention_mask=None, **kwargs):
        self.calls.append(dict(input_ids=input_ids, attention_mask=attention_mask, **kwargs))
        return torch.cat([input_ids, torch.tensor([self.reply_ids])], dim=1)


def question(text="블로썸은 어떤 모델이야?"):
    return [{"role": "system", "content": BLLOSSOM_SYSTEM_PROMPT}, {"role": "user", "content": text}]


# --- the card's settings, looked up from the catalog -------------------------------------------

def test_card_messages_use_the_card_system_prompt():
    tiny_choice = choose_model(RuntimeFacts())
    assert chat.card_system_prompt(tiny_choice) == BLLOSSOM_SYSTEM_PROMPT
    assert chat.card_messages(tiny_choice, "안녕?") == question("안녕?")
    # the 3B card uses no system prompt, so none is added
    assert chat.card_messages(CATALOG["3b"], "안녕?") == [{"role": "user", "content": "안녕?"}]


def test_a_model_outside_the_catalog_gets_the_8b_card():
    other = choose_model(RuntimeFacts(), override="someone/llama-3-finetune")
    assert other.entry is None
    assert chat.card_system_prompt(other) == CATALOG["8b"].system_prompt
    assert chat.card_generation_settings(other) == CATALOG["8b"].generation


def test_terminators_are_eos_then_the_card_tokens_without_repeats(tokenizer):
    ids = chat.terminator_ids(tokenizer, CATALOG["8b"])
    assert ids[0] == tokenizer.eos_token_id
    assert set(ids) == {tokenizer.eos_token_id, EOT, END} and len(ids) == len(set(ids))


def test_unknown_terminator_token_is_explained(tokenizer):
    broken = SimpleNamespace(entry=SimpleNamespace(terminators=("<|not_a_token|>",)))
    with pytest.raises(TutorialError, match=re.escape("no token '<|not_a_token|>'")):
        chat.terminator_ids(tokenizer, broken)


def test_generation_settings_are_a_capped_copy():
    settings = chat.card_generation_settings(CATALOG["8b"], cap_new_tokens=256)
    assert settings["max_new_tokens"] == 256 and settings["temperature"] == 0.6
    settings["temperature"] = 2.0
    assert CATALOG["8b"].generation["temperature"] == 0.6  # the catalog is untouched
    assert chat.card_generation_settings(CATALOG["tiny"], cap_new_tokens=256)["max_new_tokens"] == 64


# --- bad input: each one the issue lists, and its neighbours ------------------------------------

def test_empty_message_list():
    with pytest.raises(TutorialError, match="empty"):
        chat.check_messages([])


def test_unknown_role():
    with pytest.raises(TutorialError, match="unknown role 'robot'"):
        chat.check_messages([{"role": "robot", "content": "hi"}])


@pytest.mark.parametrize("messages, pattern", [
    ("안녕?", "not as a string"),
    ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>", "second <|begin_of_text|>"),
    ([{"role": "user"}], "needs a 'role' and a 'content'"),
    ([{"role": "user", "content": ["hi"]}], "take a string"),
    ([{"role": "user", "content": "a"}, {"role": "system", "content": "b"}], "must be the first"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "no question to answer"),
    (42, "not int"),
])
def test_other_malformed_conversations(messages, pattern):
    with pytest.raises(TutorialError, match=re.escape(pattern)):
        chat.check_messages(messages)


@pytest.mark.parametrize("value", [0, -1, -512])
def test_max_new_tokens_zero_or_negative(value):
    with pytest.raises(TutorialError, match=f"max_new_tokens is {value}"):
        chat.check_max_new_tokens(value)
    with pytest.raises(TutorialError):
        chat.card_generation_settings(CATALOG["tiny"], cap_new_tokens=value)


@pytest.mark.parametrize("value", [1.5, "64", True, None])
def test_max_new_tokens_not_a_whole_number(value):
    with pytest.raises(TutorialError, match="whole number"):
        chat.check_max_new_tokens(value)


@pytest.mark.parametrize("value", [0, -3])
def test_reply_text_refuses_bad_max_new_tokens_before_generating(tokenizer, value):
    model = ScriptedModel([EOT])
    with pytest.raises(TutorialError, match="max_new_tokens"):
        chat.reply_text(model, tokenizer, question(), max_new_tokens=value)
    assert model.calls == []


def test_reply_text_refuses_bad_messages_before_generating(tokenizer):
    model = ScriptedModel([EOT])
    for bad in ([], [{"role": "robot", "content": "hi"}]):
        with pytest.raises(TutorialError):
            chat.reply_text(model, tokenizer, bad)
    assert model.calls == []


def test_over_long_prompt_is_refused_with_the_numbers(tokenizer):
    messages = question("안녕 " * 100)
    used = chat.prompt_length(tokenizer, messages)
    with pytest.raises(TutorialError) as caught:
        chat.fit_to_context(tokenizer, messages, max_new_tokens=16, context_length=used + 15)
    assert f"{used:,} tokens" in str(caught.value) and "on_overflow='truncate'" in str(caught.value)
    # exactly fitting is fine
    assert chat.fit_to_context(tokenizer, messages, 16, used + 16) == messages


def test_reply_text_refuses_a_prompt_longer_than_the_model_context(tokenizer):
    model = ScriptedModel([EOT], context=64)
    with pytest.raises(TutorialError, match="reads at most 64"):
        chat.reply_text(model, tokenizer, question("안녕 " * 100), max_new_tokens=8)
    assert model.calls == []


def test_truncation_drops_the_oldest_turns_and_keeps_the_system_prompt_and_last_question(tokenizer):
    old = [{"role": "user", "content": "옛날 이야기 " * 50}, {"role": "assistant", "content": "네 " * 50}]
    recent = [{"role": "user", "content": "What is kimchi?"}, {"role": "assistant", "content": "A dish."}]
    messages = question()[:1] + old + recent + [{"role": "user", "content": "블로썸은 어떤 모델이야?"}]
    budget = chat.prompt_length(tokenizer, messages[:1] + recent + messages[-1:]) + 8
    kept = chat.fit_to_context(tokenizer, messages, 8, budget, on_overflow="truncate")
    assert kept == messages[:1] + recent + messages[-1:]
    assert chat.prompt_length(tokenizer, kept) + 8 <= budget


def test_truncation_cannot_save_a_last_message_that_is_too_long(tokenizer):
    with pytest.raises(TutorialError, match="last message alone"):
        chat.fit_to_context(tokenizer, question("안녕 " * 200), 8, 100, on_overflow="truncate")


def test_context_budget_mistakes(tokenizer):
    with pytest.raises(TutorialError, match="leaves no room"):
        chat.fit_to_context(tokenizer, question(), 100, 100)
    with pytest.raises(TutorialError, match="'refuse' or 'truncate'"):
        chat.fit_to_context(tokenizer, question(), 8, 100, on_overflow="cut")


def test_empty_user_text_for_card_messages():
    with pytest.raises(TutorialError, match="empty"):
        chat.card_messages(CATALOG["tiny"], "  ")


# --- the reply helper returns only the reply ---------------------------------------------------

def test_reply_is_only_the_new_text_without_special_tokens_or_a_second_bos(tokenizer):
    reply_ids = [BOS] + tokenizer.encode(" 안녕하세요, 반갑습니다.", add_special_tokens=False) + [EOT, END]
    model = ScriptedModel(reply_ids)
    messages = question("만나서 반가워")
    reply = chat.reply_text(model, tokenizer, messages, max_new_tokens=20, do_sample=False)
    assert reply == "안녕하세요, 반갑습니다."
    sent = model.calls[0]
    prompt_ids = sent["input_ids"][0].tolist()
    assert prompt_ids.count(BOS) == 1 and prompt_ids[0] == BOS  # the template's BOS, no second one
    assert prompt_ids == tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                       return_dict=True)["input_ids"]
    assert sent["attention_mask"] is not None and sent["max_new_tokens"] == 20 and sent["do_sample"] is False


def test_max_new_tokens_defaults_to_the_model_generation_config(tokenizer):
    model = ScriptedModel([EOT])
    assert chat.reply_text(model, tokenizer, question()) == ""
    assert model.calls[0]["max_new_tokens"] == 32


def test_tiny_reply_is_the_answer_alone(tiny):
    choice, model, tokenizer = tiny
    greedy = dict(do_sample=False, max_new_tokens=96, eos_token_id=chat.terminator_ids(tokenizer, choice))
    pairs = [pair for pair in load_corpus() if pair["question"] not in pair["answer"]]
    for pair in pairs[:3] + pairs[-2:]:  # Korean and English questions
        reply = chat.reply_text(model, tokenizer, chat.card_messages(choice, pair["question"]), **greedy)
        assert reply == pair["answer"]
        assert pair["question"] not in reply and "assistant" not in reply
        assert BLLOSSOM_SYSTEM_PROMPT[:20] not in reply and "<|" not in reply


def test_tiny_hot_sampling_still_returns_no_prompt_or_special_tokens(tiny):
    from transformers import set_seed

    choice, model, tokenizer = tiny
    messages = chat.card_messages(choice, "블로썸은 어떤 모델이야?")
    for seed in range(3):
        set_seed(seed)
        reply = chat.reply_text(model, tokenizer, messages, max_new_tokens=24, do_sample=True,
                                temperature=3.0, top_p=1.0)
        assert "<|" not in reply and "begin_of_text" not in reply
        assert not reply.startswith(("system", "user", BLLOSSOM_SYSTEM_PROMPT[:10]))


# --- timing ------------------------------------------------------------------------------------

def test_token_clock_keeps_the_prompt_and_times_each_new_token():
    clock = timing.TokenClock()
    clock.put(torch.tensor([[BOS, 1, 2]]))
    for token in (5, 6, 7):
        clock.put(torch.tensor([token]))
    clock.end()
    assert clock.prompt_ids == [BOS, 1, 2] and len(clock.arrivals) == 3
    assert 0 <= clock.first_token_s and clock.arrivals == sorted(clock.arrivals)


def test_compare_speed_interleaves_pairs_and_reports_medians():
    order = []

    def fake(name, tokens):
        def run(messages, streamer):
            order.append(name)
            streamer.put(torch.tensor([[BOS]]))
            for token in range(tokens):
                streamer.put(torch.tensor([token]))
            return f"{name}:{messages}"
        return run

    rows, samples = timing.compare_speed({"a": fake("a", 3), "b": fake("b", 5)}, ["p", "q"], repeats=2)
    assert order[:2] == ["a", "b"]  # warm-up
    assert order[2:] == ["a", "b", "a", "b", "b", "a", "b", "a"]  # the second repeat starts with b
    assert [s["text"] for s in samples["a"]] == ["a:p", "a:q", "a:p", "a:q"]
    assert {row["way"]: row["new tokens (all calls)"] for row in rows} == {"a": 12, "b": 20}


def test_median_overhead_pairs_calls():
    samples = {"slow": [{"total_s": t} for t in (1.0, 1.2, 5.0)],
               "fast": [{"total_s": t} for t in (0.9, 1.0, 1.0)]}
    assert timing.median_overhead_ms(samples, "slow", "fast") == pytest.approx(200.0)
