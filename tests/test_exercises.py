"""Every exercise check accepts the solution, rejects the student stub (`...`) and rejects a plausible
wrong answer with a hint, never a traceback from a library."""

from __future__ import annotations

import pytest
import torch
from test_vocab_expansion import train_korean_bpe  # the Korean BPE as notebook 04 trains it

from helpers import CATALOG, RuntimeFacts, choose_model, load_model
from helpers.lessons import exercises
from helpers.lessons.exercises import NotYet
from helpers.lessons.sampling import next_token_distribution
from helpers.lessons.vocab_expansion import append_korean_tokens
from helpers.offline.llama3_tokenizer import load_llama3_tokenizer


@pytest.fixture(scope="module")
def tiny():
    model, tokenizer = load_model(choose_model(RuntimeFacts()))
    return model, tokenizer


@pytest.fixture(scope="module")
def inputs(tiny):
    _, tokenizer = tiny
    messages = [{"role": "system", "content": CATALOG["tiny"].system_prompt},
                {"role": "user", "content": "한국에서 가 볼 만한 곳은?"}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,
                                         return_tensors="pt")


def rejected(check, *args, **kwargs) -> str:
    with pytest.raises(NotYet) as caught:
        check(*args, **kwargs)
    text = str(caught.value)
    assert " · " in text, "every hint is given in English and Korean"
    return text


def test_a_hint_is_one_line_in_jupyter():
    rendered = exercises._hint("look again", "다시 보세요")._render_traceback_()
    assert rendered == ["\N{ELECTRIC LIGHT BULB} Not yet · 아직이에요: look again · 다시 보세요"]


def test_bf16_memory(capsys):
    assert exercises.check_bf16_memory(CATALOG["8b"].params_billion * 2)
    assert "Correct" in capsys.readouterr().out
    assert "`...`" in rejected(exercises.check_bf16_memory, ...)
    assert "one byte" in rejected(exercises.check_bf16_memory, CATALOG["8b"].params_billion)
    assert "float32" in rejected(exercises.check_bf16_memory, 32.12)
    assert "number" in rejected(exercises.check_bf16_memory, "sixteen")


def test_gpu_dtype():
    assert exercises.check_gpu_dtype("float16", (7, 5))
    assert exercises.check_gpu_dtype("torch.bfloat16", (8, 0))
    rejected(exercises.check_gpu_dtype, ..., (7, 5))
    assert "compute capability" in rejected(exercises.check_gpu_dtype, "bfloat16", (7, 5))
    assert "CPU" in rejected(exercises.check_gpu_dtype, "float32", (8, 9))


def test_generation_prompt(tiny):
    _, tokenizer = tiny
    messages = [{"role": "user", "content": "안녕?"}]
    solution = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert exercises.check_generation_prompt(solution, tokenizer, "안녕?")
    rejected(exercises.check_generation_prompt, ..., tokenizer, "안녕?")
    without = tokenizer.apply_chat_template(messages, tokenize=False)
    assert "add_generation_prompt" in rejected(exercises.check_generation_prompt, without, tokenizer, "안녕?")
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
    assert "tokenize=False" in rejected(exercises.check_generation_prompt, ids, tokenizer, "안녕?")


def test_model_inputs(tiny):
    _, tokenizer = tiny
    messages = [{"role": "user", "content": "안녕?"}]
    solution = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,
                                             return_tensors="pt")
    assert exercises.check_model_inputs(solution, tokenizer)
    rejected(exercises.check_model_inputs, ..., tokenizer)
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert "two <|begin_of_text|>" in rejected(exercises.check_model_inputs, tokenizer(text, return_tensors="pt"),
                                              tokenizer)
    tensor_only = solution["input_ids"]
    assert "return_dict" in rejected(exercises.check_model_inputs, tensor_only, tokenizer)


def test_reply_only(tiny, inputs):
    model, tokenizer = tiny
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    length = inputs["input_ids"].shape[-1]
    solution = tokenizer.decode(output[0, length:], skip_special_tokens=True)
    assert exercises.check_reply_only(solution, output, length, tokenizer)
    rejected(exercises.check_reply_only, ..., output, length, tokenizer)
    whole = tokenizer.decode(output[0], skip_special_tokens=True)
    assert "prompt" in rejected(exercises.check_reply_only, whole, output, length, tokenizer)


def test_terminators(tiny):
    _, tokenizer = tiny
    solution = [tokenizer.convert_tokens_to_ids(t) for t in ("<|end_of_text|>", "<|eot_id|>")]
    assert exercises.check_terminators(solution, tokenizer)
    rejected(exercises.check_terminators, ..., tokenizer)
    assert "<|eot_id|>" in rejected(exercises.check_terminators, [128001], tokenizer)
    assert "end of the text" in rejected(exercises.check_terminators, [128009], tokenizer)


def test_confident_temperature(tiny, inputs):
    model, _ = tiny
    assert exercises.check_confident_temperature(0.05, model, inputs)
    rejected(exercises.check_confident_temperature, ..., model, inputs)
    assert "lower" in rejected(exercises.check_confident_temperature, 5.0, model, inputs)
    assert "above 0" in rejected(exercises.check_confident_temperature, 0, model, inputs)


def test_top_k_one(tiny, inputs):
    model, _ = tiny
    favourite = int(next_token_distribution(model, inputs, top_k=1).probs.argmax())
    assert exercises.check_top_k_one(favourite, model, inputs)
    rejected(exercises.check_top_k_one, ..., model, inputs)
    rejected(exercises.check_top_k_one, favourite + 1, model, inputs)


def test_varied_but_likely(tiny, inputs):
    model, tokenizer = tiny
    stops = [tokenizer.convert_tokens_to_ids(t) for t in ("<|end_of_text|>", "<|eot_id|>")]
    assert exercises.check_varied_but_likely(dict(temperature=0.6, top_p=0.9), model, inputs, stops)
    rejected(exercises.check_varied_but_likely, ..., model, inputs, stops)
    assert "repetitive" in rejected(exercises.check_varied_but_likely, dict(top_k=1), model, inputs, stops)
    assert "unlikely" in rejected(exercises.check_varied_but_likely, dict(temperature=3.0, top_k=None), model,
                                  inputs, stops)


def test_tokens_per_character():
    tokenizer = load_llama3_tokenizer()
    text = "블로썸은 한국어를 잘합니다"
    tokens = len(tokenizer.encode(text, add_special_tokens=False))
    characters = len(text.replace(" ", ""))
    assert exercises.check_tokens_per_character(tokens / characters, tokenizer, text)
    rejected(exercises.check_tokens_per_character, ..., tokenizer, text)
    assert "add_special_tokens" in rejected(exercises.check_tokens_per_character, (tokens + 1) / characters,
                                            tokenizer, text)
    assert "spaces" in rejected(exercises.check_tokens_per_character, tokens / len(text), tokenizer, text)


def _small_korean_bpe(base):
    return train_korean_bpe(base, 400, ["블로썸 블로썸 블로썸 냉면집 냉면집 냉면집 서울과학기술대학교"] * 20)


def test_word_kept_whole():
    base = load_llama3_tokenizer()
    expanded = append_korean_tokens(base, _small_korean_bpe(base), len(base) + 64)
    kept = [w for w in ("블로썸", "냉면집") if len(expanded.encode(w, add_special_tokens=False)) == 1
            and exercises.check_word_kept_whole(w, base, expanded)]
    assert kept, "at least one corpus word is a byte-split word kept whole after expansion"
    rejected(exercises.check_word_kept_whole, ..., base, expanded)
    assert "rarer" in rejected(exercises.check_word_kept_whole, "한국", base, expanded)
    assert "one Korean word" in rejected(exercises.check_word_kept_whole, "두 단어", base, expanded)


def test_image_tokens():
    ids = torch.tensor([[128000, 128256, 128256, 128256, 42]])
    assert exercises.check_image_tokens(3, {"input_ids": ids}, 128256)
    rejected(exercises.check_image_tokens, ..., {"input_ids": ids}, 128256)
    rejected(exercises.check_image_tokens, 5, {"input_ids": ids}, 128256)


def test_names_the_colour():
    assert exercises.check_names_the_colour("빨간색", "red", "빨간")
    assert exercises.check_names_the_colour("It is red.", "red", "빨간")
    rejected(exercises.check_names_the_colour, ..., "red", "빨간")
    assert "does not name" in rejected(exercises.check_names_the_colour, "파란색", "red", "빨간")


def test_kv_bytes_per_token():
    entry = CATALOG["8b"]
    assert exercises.check_kv_bytes_per_token(2 * 32 * 8 * 128 * 2, "8b") and entry.layers == 32
    rejected(exercises.check_kv_bytes_per_token, ..., "8b")
    assert "keys and values" in rejected(exercises.check_kv_bytes_per_token, 32 * 8 * 128 * 2, "8b")
    assert "8 key-value heads" in rejected(exercises.check_kv_bytes_per_token, 2 * 32 * 32 * 128 * 2, "8b")


def test_users_that_fit():
    per_user = 2 * 32 * 8 * 128 * 2 * 8192  # 1.07 GB
    assert exercises.check_users_that_fit(int(56e9 // per_user), 56, "8b", 8192)
    rejected(exercises.check_users_that_fit, ..., 56, "8b", 8192)
    assert "round down" in rejected(exercises.check_users_that_fit, int(56e9 // per_user) + 1, 56, "8b", 8192)
    assert "divide" in rejected(exercises.check_users_that_fit, 7, 56, "8b", 8192)


def test_vllm_command():
    hub_id = CATALOG["70b"].hub_id
    assert exercises.check_vllm_command(f"vllm serve {hub_id} --tensor-parallel-size 4", hub_id, 4)
    assert exercises.check_vllm_command(f"vllm serve {hub_id} -tp=4 --host 127.0.0.1", hub_id, 4)
    rejected(exercises.check_vllm_command, ..., hub_id, 4)
    assert "start with" in rejected(exercises.check_vllm_command, "vllm serve 70b -tp 4", hub_id, 4)
    assert "across machines" in rejected(exercises.check_vllm_command,
                                         f"vllm serve {hub_id} --pipeline-parallel-size 4", hub_id, 4)
    assert "127.0.0.1" in rejected(exercises.check_vllm_command,
                                   f"vllm serve {hub_id} --tensor-parallel-size 4 --host 0.0.0.0", hub_id, 4)


def test_lora_parameters():
    assert exercises.check_lora_parameters(16 * 4096 * 2, 4096, 4096, 16)
    rejected(exercises.check_lora_parameters, ..., 4096, 4096, 16)
    assert "layer itself" in rejected(exercises.check_lora_parameters, 4096 * 4096, 4096, 4096, 16)
    assert "both matrices" in rejected(exercises.check_lora_parameters, 16 * 4096, 4096, 4096, 16)


def test_dpo_margin():
    assert exercises.check_dpo_margin(0.2, 0.1, -12.0, -15.0, -13.0, -14.0)
    rejected(exercises.check_dpo_margin, ..., 0.1, -12.0, -15.0, -13.0, -14.0)
    assert "reference" in rejected(exercises.check_dpo_margin, 0.3, 0.1, -12.0, -15.0, -13.0, -14.0)
    assert "beta" in rejected(exercises.check_dpo_margin, 2.0, 0.1, -12.0, -15.0, -13.0, -14.0)


def test_four_bit_weights():
    from helpers import estimate_memory_gb

    assert exercises.check_four_bit_weights(estimate_memory_gb(CATALOG["8b"], "4bit"), "8b")
    rejected(exercises.check_four_bit_weights, ..., "8b")
    assert "16 bit" in rejected(exercises.check_four_bit_weights, CATALOG["8b"].params_billion / 2, "8b")
    assert "estimate_memory_gb" in rejected(exercises.check_four_bit_weights, 16.06, "8b")


def test_old_ids_kept():
    base = load_llama3_tokenizer()
    bpe = _small_korean_bpe(base)
    expanded = append_korean_tokens(base, bpe, len(base) + 64)
    assert exercises.check_old_ids_kept(0, base, expanded)
    rejected(exercises.check_old_ids_kept, ..., base, expanded)
    assert "added" in rejected(exercises.check_old_ids_kept, len(expanded) - len(base), base, expanded)


def test_tile_grid(monkeypatch):
    import helpers.lessons.vision as vision

    monkeypatch.setattr(vision, "image_reading", lambda model, processor, inputs: {"tiles": "1 x 3"})
    assert exercises.check_tile_grid("1 x 3", None, None, None)
    assert exercises.check_tile_grid((1, 3), None, None, None)
    rejected(exercises.check_tile_grid, ..., None, None, None)
    assert "rows first" in rejected(exercises.check_tile_grid, "3 x 1", None, None, None)
    assert "grid" in rejected(exercises.check_tile_grid, "2 x 2", None, None, None)
