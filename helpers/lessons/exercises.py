"""Every notebook's closing "Exercises · 연습 문제": checks that run the learner's answer and reply.

A check prints a bilingual "correct" when the answer is right. When it is not, it raises `NotYet`,
which Jupyter shows as one line with a hint that points at the idea (never the answer), so a
learner's notebook stays readable and CI, which runs the solutions, fails if a solution is wrong.
An answer left as `...` (the stub in the student copy) gets a reminder to write one.
Each check recomputes the truth from the model and tokenizer in front of it, so the same
exercise works on Bllossom-tiny, the 3B and the 8B.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..catalog import CATALOG
from ..errors import TutorialError
from ..models.choice import pick_dtype
from ..models.runtime import RuntimeFacts

CORRECT = "\N{WHITE HEAVY CHECK MARK} Correct · 정답입니다!"


class NotYet(TutorialError):
    """An answer that is not right yet, shown as a hint in both languages."""

    def _render_traceback_(self):
        return [f"\N{ELECTRIC LIGHT BULB} Not yet · 아직이에요: {self}"]


def _hint(english: str, korean: str) -> NotYet:
    return NotYet(f"{english} · {korean}")


def _answered(answer) -> None:
    if answer is ... or answer is None:
        raise _hint("write your answer in the cell above, in place of `...`",
                    "위 셀의 `...` 자리에 답을 쓰세요")


def _correct(detail: str = "") -> bool:
    print(CORRECT + (f" {detail}" if detail else ""))
    return True


def _number(answer, what: str) -> float:
    _answered(answer)
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise _hint(f"{what} should be a number, not {type(answer).__name__}",
                    f"{what}은(는) 숫자여야 합니다") from None
    if not math.isfinite(value):
        raise _hint(f"{what} should be a finite number", f"{what}은(는) 유한한 숫자여야 합니다")
    return value


# ----------------------------------------------------------------------------------------------
# 01 · Loading


def check_bf16_memory(answer_gb, name: str = "8b") -> bool:
    """01.1: the weights of catalog model `name` in bf16, in GB (1e9 bytes)."""
    value = _number(answer_gb, "The memory")
    params = CATALOG[name].params_billion
    truth = params * 2
    if abs(value - truth) <= 0.05 * truth:
        return _correct(f"{params} B parameters x 2 bytes = {truth:.2f} GB")
    if abs(value - params) <= 0.05 * params:
        raise _hint("that is one byte per parameter; how many bits does bf16 use?",
                    "파라미터당 1바이트로 계산했네요. bf16은 몇 비트일까요?")
    if abs(value - params * 4) <= 0.05 * params * 4:
        raise _hint("that is float32's size; bf16 is half as wide", "float32 크기입니다. bf16은 그 절반입니다")
    raise _hint("multiply the parameter count (in billions) by the bytes one parameter takes",
                "파라미터 수(십억 단위)에 파라미터 하나의 바이트 수를 곱하세요")


def check_gpu_dtype(answer, compute_capability: tuple[int, int]) -> bool:
    """01.2: the dtype `pick_dtype` gives a GPU of this compute capability."""
    _answered(answer)
    facts = RuntimeFacts(gpu_name="GPU", compute_capability=tuple(compute_capability), gpu_total_gb=16)
    truth = pick_dtype(facts)
    if str(answer).replace("torch.", "") == truth:
        return _correct(f"compute capability {compute_capability[0]}.{compute_capability[1]} -> {truth}")
    if str(answer).replace("torch.", "") == "float32":
        raise _hint("float32 is the CPU's choice; a GPU has a fast 16-bit format",
                    "float32는 CPU의 선택입니다. GPU에는 빠른 16비트 형식이 있습니다")
    raise _hint("which GPUs compute bf16 natively? look at the compute capability (8 or more)",
                "bf16을 직접 계산하는 GPU는 연산 능력(compute capability)이 얼마 이상일까요? (8)")


def check_generation_prompt(prompt: str, tokenizer, user_text: str) -> bool:
    """01.3: the chat template's text for one user message, ready for the model to answer."""
    _answered(prompt)
    if not isinstance(prompt, str):
        raise _hint("pass tokenize=False to get the text, not token ids",
                    "토큰 id가 아니라 글자를 받으려면 tokenize=False를 주세요")
    bos = tokenizer.bos_token
    if prompt.count(bos) != 1 or not prompt.startswith(bos):
        raise _hint(f"the text should start with exactly one {bos}", f"글은 {bos} 하나로 시작해야 합니다")
    if user_text.strip() not in prompt:
        raise _hint("the user's message is missing from the text", "사용자 메시지가 글에 없습니다")
    if not prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n"):
        raise _hint("the model needs the assistant's header at the end: add_generation_prompt=True",
                    "끝에 assistant 머리말이 있어야 모델이 답합니다: add_generation_prompt=True")
    return _correct()


# ----------------------------------------------------------------------------------------------
# 02 · Pipeline versus AutoModel


def check_model_inputs(inputs, tokenizer) -> bool:
    """02.1: `generate`-ready inputs from the chat template, transformers 5 style."""
    _answered(inputs)
    if not isinstance(inputs, Mapping) or "input_ids" not in inputs:
        raise _hint("ask apply_chat_template for a dictionary (return_dict=True) so you can call "
                    "generate(**inputs)",
                    "generate(**inputs)를 쓰려면 return_dict=True로 딕셔너리를 받으세요")
    ids = inputs["input_ids"]
    if not hasattr(ids, "dim") or ids.dim() != 2:
        raise _hint("input_ids should be a 2-D tensor (batch, tokens): return_tensors='pt'",
                    "input_ids는 (배치, 토큰) 2차원 텐서여야 합니다: return_tensors='pt'")
    row = ids[0].tolist()
    if row.count(tokenizer.bos_token_id) != 1:
        raise _hint("there are two <|begin_of_text|> tokens: the templated text was tokenized again "
                    "with special tokens",
                    "<|begin_of_text|>가 두 개입니다. 템플릿 글을 특수 토큰과 함께 다시 토큰화했습니다")
    if row[-2:] != tokenizer.encode("<|end_header_id|>\n\n", add_special_tokens=False)[-2:]:
        raise _hint("the prompt should end with the assistant's header: add_generation_prompt=True",
                    "프롬프트는 assistant 머리말로 끝나야 합니다: add_generation_prompt=True")
    return _correct(f"{ids.shape[-1]} tokens, one <|begin_of_text|>")


def check_reply_only(reply: str, output_ids, prompt_length: int, tokenizer) -> bool:
    """02.2: the decoded reply without the prompt and without special tokens."""
    _answered(reply)
    truth = tokenizer.decode(output_ids[0, prompt_length:], skip_special_tokens=True)
    if isinstance(reply, str) and reply.strip() == truth.strip():
        return _correct()
    if isinstance(reply, str) and "<|" in reply:
        raise _hint("special tokens are still in the text: skip_special_tokens=True",
                    "특수 토큰이 남아 있습니다: skip_special_tokens=True")
    if isinstance(reply, str) and len(reply) > len(truth):
        raise _hint("the prompt is still in the reply: decode only the tokens after the prompt",
                    "답에 프롬프트가 섞여 있습니다. 프롬프트 뒤의 토큰만 디코딩하세요")
    raise _hint("slice the output at the prompt's length, then decode", "출력을 프롬프트 길이에서 잘라 디코딩하세요")


def check_terminators(ids, tokenizer) -> bool:
    """02.3: the token ids that end a Bllossom reply (the card passes two)."""
    _answered(ids)
    try:
        chosen = {int(i) for i in ids}
    except (TypeError, ValueError):
        raise _hint("give a list of token ids", "토큰 id 목록을 주세요") from None
    eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
    if chosen == {tokenizer.convert_tokens_to_ids("<|end_of_text|>"), eot}:
        return _correct()
    if eot not in chosen:
        raise _hint("a chat turn ends with <|eot_id|>, which is not the tokenizer's eos_token in every "
                    "version", "대화 차례는 <|eot_id|>로 끝납니다")
    raise _hint("the card stops at the end of the text too", "카드는 글의 끝에서도 멈춥니다")


# ----------------------------------------------------------------------------------------------
# 03 · Sampling


def check_confident_temperature(temperature, model, inputs, target: float = 0.9) -> bool:
    """03.1: a temperature at which the favourite next token gets more than `target` of the probability."""
    from .sampling import next_token_distribution

    value = _number(temperature, "The temperature")
    if value <= 0:
        raise _hint("temperature must be above 0; 0 would be greedy decoding, not sampling",
                    "temperature는 0보다 커야 합니다")
    top = float(next_token_distribution(model, inputs, temperature=value, top_k=None).probs.max())
    if top > target:
        return _correct(f"the favourite token now has p = {top:.3f}")
    raise _hint(f"at temperature {value:g} the favourite has p = {top:.3f}; lower temperatures sharpen",
                f"temperature {value:g}에서 가장 유력한 토큰의 확률은 {top:.3f}입니다. 낮출수록 뾰족해집니다")


def check_top_k_one(token_id, model, inputs) -> bool:
    """03.2: the one token that top_k=1 always samples, as an id."""
    from .sampling import next_token_distribution

    value = _number(token_id, "The token id")
    favourite = int(next_token_distribution(model, inputs, temperature=1.0, top_k=None).logits.argmax())
    if int(value) == favourite:
        return _correct("top_k=1 is greedy decoding in disguise")
    raise _hint("top_k=1 keeps only one token: which one has the largest logit?",
                "top_k=1은 토큰 하나만 남깁니다. 로짓이 가장 큰 토큰은?")


def check_varied_but_likely(settings, model, inputs, eos_token_id, samples: int = 8,
                            new_tokens: int = 12) -> bool:
    """03.3: sampling settings more varied than greedy decoding (higher distinct-2) whose text the
    model still finds more likely (higher mean log-probability) than sampling at temperature 1.5."""
    from .sampling import SamplingSettings, sample_statistics

    _answered(settings)
    if not isinstance(settings, Mapping):
        raise _hint("give the settings as a dict, e.g. dict(temperature=..., top_p=...)",
                    "설정을 딕셔너리로 주세요. 예: dict(temperature=..., top_p=...)")
    chosen = SamplingSettings(**settings)

    def measure(s):
        return sample_statistics(model, inputs, s, samples, new_tokens, seed=0, eos_token_id=eos_token_id)

    mine = measure(chosen)
    greedy = measure(SamplingSettings(top_k=1))
    wild = measure(SamplingSettings(temperature=1.5, top_k=None))
    print(f"distinct-2: yours {mine['distinct-2']:.2f}, greedy {greedy['distinct-2']:.2f}; "
          f"mean log-prob: yours {mine['mean log-prob']:.2f}, temperature 1.5 {wild['mean log-prob']:.2f}")
    if mine["distinct-2"] <= greedy["distinct-2"]:
        raise _hint("your samples are as repetitive as greedy decoding: let more tokens through",
                    "표본이 탐욕 디코딩만큼 반복적입니다. 더 많은 토큰을 허용하세요")
    if mine["mean log-prob"] <= wild["mean log-prob"]:
        raise _hint("the model finds your text unlikely: cut the long tail (top_p) or cool down",
                    "모델이 보기에 글이 너무 낯섭니다. 긴 꼬리를 자르거나(top_p) 온도를 낮추세요")
    return _correct()


# ----------------------------------------------------------------------------------------------
# 04 · Vocabulary expansion


def check_tokens_per_character(answer, tokenizer, text: str) -> bool:
    """04.1: tokens per non-space character of `text`, without special tokens."""
    value = _number(answer, "Tokens per character")
    characters = sum(not c.isspace() for c in text)
    tokens = len(tokenizer.encode(text, add_special_tokens=False))
    truth = tokens / characters
    if abs(value - truth) < 1e-3:
        return _correct(f"{tokens} tokens / {characters} characters")
    if abs(value - (tokens + 1) / characters) < 1e-3:
        raise _hint("<|begin_of_text|> is not part of the text: add_special_tokens=False",
                    "<|begin_of_text|>는 글의 일부가 아닙니다: add_special_tokens=False")
    if abs(value - tokens / len(text)) < 1e-3:
        raise _hint("count characters without the spaces", "공백을 빼고 글자를 세세요")
    raise _hint("count the tokens of the encoded text and divide by the characters that are not spaces",
                "인코딩한 토큰 수를 공백이 아닌 글자 수로 나누세요")


def check_word_kept_whole(word, base_tokenizer, expanded_tokenizer) -> bool:
    """04.2: a Korean word that Llama-3 cuts into byte pieces and the expanded tokenizer keeps whole."""
    from .vocab_expansion import token_text

    _answered(word)
    if not isinstance(word, str) or not word.strip() or any(c.isspace() for c in word.strip()):
        raise _hint("give one Korean word, with no spaces", "공백 없는 한국어 단어 하나를 주세요")
    word = word.strip()
    base = base_tokenizer.convert_ids_to_tokens(base_tokenizer.encode(word, add_special_tokens=False))
    if not any("<0x" in token_text(t) for t in base):
        raise _hint(f"Llama-3 cuts '{word}' into whole characters: find a rarer word",
                    f"Llama-3는 '{word}'를 온전한 글자로 자릅니다. 더 드문 단어를 찾으세요")
    pieces = expanded_tokenizer.encode(word, add_special_tokens=False)
    if len(pieces) != 1:
        raise _hint(f"the expanded tokenizer still needs {len(pieces)} tokens: try a frequent word from the corpus",
                    f"확장된 토크나이저도 토큰 {len(pieces)}개가 필요합니다. 말뭉치에 자주 나오는 단어를 써 보세요")
    return _correct(f"{len(base)} pieces before, 1 token after")


def check_old_ids_kept(moved, base_tokenizer, expanded_tokenizer) -> bool:
    """04.3: how many of Llama-3's tokens (special ones included) have another id after the expansion."""
    value = _number(moved, "The count")
    old, new = base_tokenizer.get_vocab(), expanded_tokenizer.get_vocab()
    truth = sum(new.get(token) != index for token, index in old.items())
    if value == truth:
        return _correct("every old token keeps its id, so the old embedding rows still mean the same"
                        if truth == 0 else f"{truth} tokens moved")
    if value == len(new) - len(old):
        raise _hint("that is how many tokens were added; count old tokens whose id changed",
                    "그것은 더해진 토큰 수입니다. id가 바뀐 옛 토큰을 세세요")
    raise _hint("compare get_vocab() of both tokenizers, token by token",
                "두 토크나이저의 get_vocab()을 토큰마다 비교하세요")


# ----------------------------------------------------------------------------------------------
# 05 · Vision


def check_image_tokens(answer, inputs, image_token_id: int) -> bool:
    """05.1: how many image tokens the processor wrote into the text for this picture."""
    value = _number(answer, "The count")
    truth = int((inputs["input_ids"][0] == image_token_id).sum())
    if int(value) == truth:
        return _correct(f"{truth} image token(s) in the text")
    raise _hint("count the positions of input_ids that equal the image token's id",
                "input_ids에서 이미지 토큰 id와 같은 자리를 세세요")


def check_tile_grid(answer, model, processor, inputs) -> bool:
    """05.3: the grid of tiles (rows, columns) the processor cut the picture in `inputs` into."""
    import re

    from .vision import image_reading

    _answered(answer)
    numbers = [int(n) for n in re.findall(r"\d+", str(answer))] if not isinstance(answer, (tuple, list)) \
        else [int(n) for n in answer]
    truth = [int(n) for n in re.findall(r"\d+", image_reading(model, processor, inputs)["tiles"])]
    if numbers == truth:
        return _correct(f"{truth[0]} x {truth[1]}")
    if numbers == truth[::-1]:
        raise _hint("rows first, then columns", "행을 먼저, 열을 나중에 쓰세요")
    raise _hint("the processor picks the grid pinpoint closest to the picture's shape; read it with "
                "vision.image_reading",
                "프로세서는 그림 모양에 가장 가까운 격자를 고릅니다. vision.image_reading으로 읽어 보세요")


def check_names_the_colour(reply: str, colour_en: str, colour_ko: str) -> bool:
    """05.2: the model's reply about a picture you drew names its colour."""
    _answered(reply)
    if not isinstance(reply, str):
        raise _hint("store the model's reply text", "모델의 답 글을 저장하세요")
    if colour_en.lower() in reply.lower() or colour_ko in reply:
        return _correct()
    raise _hint(f"the reply '{reply.strip()}' does not name {colour_en}: did you draw and ask about the same picture?",
                f"답 '{reply.strip()}'에 {colour_ko}이(가) 없습니다. 그린 그림에 대해 물었나요?")


# ----------------------------------------------------------------------------------------------
# 06 · Fine-tuning


def check_lora_parameters(answer, in_features: int, out_features: int, rank: int) -> bool:
    """06.1: parameters a rank-`rank` LoRA adapter adds to one in x out linear layer."""
    value = _number(answer, "The parameter count")
    truth = rank * (in_features + out_features)
    if value == truth:
        return _correct(f"{truth:,} against {in_features * out_features:,} in the layer itself "
                        f"({truth / (in_features * out_features):.2%})")
    if value == in_features * out_features:
        raise _hint("that is the layer itself; the adapter is two thin matrices",
                    "그것은 층 자체입니다. 어댑터는 얇은 행렬 두 개입니다")
    if value == rank * in_features or value == rank * out_features:
        raise _hint("count both matrices, A and B", "A와 B 두 행렬을 모두 세세요")
    raise _hint("add the sizes of A (rank x in) and B (out x rank)",
                "A(랭크 x 입력)와 B(출력 x 랭크)의 크기를 더하세요")


def check_dpo_margin(answer, beta: float, policy_chosen: float, policy_rejected: float,
                     reference_chosen: float, reference_rejected: float) -> bool:
    """06.2: DPO's reward margin, beta x (chosen's log-ratio minus rejected's) against the reference."""
    value = _number(answer, "The margin")
    truth = beta * ((policy_chosen - reference_chosen) - (policy_rejected - reference_rejected))
    if abs(value - truth) < 1e-6:
        return _correct("positive: the trained model moved towards the chosen reply")
    if abs(value - beta * (policy_chosen - policy_rejected)) < 1e-6:
        raise _hint("compare with the reference model: rewards are log-ratios, not raw log-probabilities",
                    "참조 모델과 비교하세요. 보상은 로그 확률 자체가 아니라 로그 비율입니다")
    if abs(value - truth / beta) < 1e-6:
        raise _hint("multiply by beta", "beta를 곱하세요")
    raise _hint("reward = beta x (policy log-prob - reference log-prob); then chosen minus rejected",
                "보상 = beta x (정책 로그 확률 - 참조 로그 확률), 그다음 선택 빼기 거절")


def check_four_bit_weights(answer_gb, name: str = "8b") -> bool:
    """06.3: the weights of catalog model `name` loaded in 4-bit (nf4), in GB."""
    from ..models.memory import estimate_memory_gb

    value = _number(answer_gb, "The memory")
    truth = estimate_memory_gb(CATALOG[name], "4bit")
    if abs(value - truth) <= 0.05 * truth:
        return _correct(f"{truth:.2f} GB, against {CATALOG[name].bf16_gb} GB in bf16")
    if abs(value - CATALOG[name].params_billion / 2) <= 0.05 * truth:
        raise _hint("the embeddings and the output layer stay in 16 bit under 4-bit loading",
                    "4비트로 불러와도 임베딩과 출력 층은 16비트로 남습니다")
    raise _hint("ask helpers.estimate_memory_gb(entry, '4bit')", "helpers.estimate_memory_gb(entry, '4bit')를 쓰세요")


# ----------------------------------------------------------------------------------------------
# 07 · Serving


def check_kv_bytes_per_token(answer, name: str = "8b", bytes_per_value: int = 2) -> bool:
    """07.1: bytes of KV cache one token costs for catalog model `name` in 16 bit."""
    value = _number(answer, "The byte count")
    entry = CATALOG[name]
    one_side = entry.layers * entry.kv_heads * entry.head_dim * bytes_per_value
    if value == 2 * one_side:
        return _correct(f"2 x {entry.layers} layers x {entry.kv_heads} heads x {entry.head_dim} x "
                        f"{bytes_per_value} bytes = {2 * one_side:,} bytes")
    if value == one_side:
        raise _hint("the cache keeps two tensors per layer: keys and values", "캐시는 층마다 키와 값 두 텐서를 둡니다")
    if value == 2 * one_side * 4:
        raise _hint("the 8B has 8 key-value heads (grouped-query attention), not 32",
                    "8B의 키-값 헤드는 32개가 아니라 8개입니다(그룹 쿼리 어텐션)")
    raise _hint("multiply: 2 (keys, values) x layers x key-value heads x head size x bytes per value",
                "2(키, 값) x 층 수 x 키-값 헤드 수 x 헤드 크기 x 값 하나의 바이트 수를 곱하세요")


def check_users_that_fit(answer, free_gb: float, name: str = "8b", tokens: int = 8192) -> bool:
    """07.2: how many users with a full `tokens` context fit into `free_gb` GB of KV cache."""
    value = _number(answer, "The number of users")
    entry = CATALOG[name]
    per_user = 2 * entry.layers * entry.kv_heads * entry.head_dim * 2 * tokens
    truth = int(free_gb * 1e9 // per_user)
    if value == truth:
        return _correct(f"{per_user / 1e9:.2f} GB per user at {tokens:,} tokens")
    if value == math.ceil(free_gb * 1e9 / per_user):
        raise _hint("a user who does not fit entirely does not fit: round down",
                    "다 들어가지 못하는 사용자는 들어가지 못합니다. 내림하세요")
    raise _hint("divide the free memory by one user's cache: bytes per token x tokens",
                "남은 메모리를 사용자 한 명의 캐시(토큰당 바이트 x 토큰 수)로 나누세요")


def check_vllm_command(command: str, hub_id: str, gpus: int) -> bool:
    """07.3: a `vllm serve` command for `hub_id` split across `gpus` GPUs of one machine."""
    import shlex

    _answered(command)
    if not isinstance(command, str):
        raise _hint("write the command as one string", "명령을 문자열 하나로 쓰세요")
    words = shlex.split(command)
    if words[:2] != ["vllm", "serve"] or len(words) < 3 or words[2] != hub_id:
        raise _hint(f"start with: vllm serve {hub_id}", f"vllm serve {hub_id}로 시작하세요")

    def option(flag):
        for i, word in enumerate(words):
            if word == flag and i + 1 < len(words):
                return words[i + 1]
            if word.startswith(flag + "="):
                return word.split("=", 1)[1]
        return None

    tensor = option("--tensor-parallel-size") or option("-tp")
    if tensor != str(gpus):
        if option("--pipeline-parallel-size") or option("-pp"):
            raise _hint("pipeline parallelism is for splitting across machines; within one machine split "
                        "each layer across its GPUs",
                        "파이프라인 병렬은 여러 컴퓨터용입니다. 한 컴퓨터 안에서는 층을 GPU에 나누세요")
        raise _hint(f"tell vLLM to split each layer across all {gpus} GPUs of this machine",
                    f"각 층을 이 컴퓨터의 GPU {gpus}개에 나누라고 vLLM에 알려 주세요")
    host = option("--host")
    if host not in (None, "127.0.0.1", "localhost"):
        raise _hint("a notebook's server listens on 127.0.0.1 only", "노트북의 서버는 127.0.0.1에서만 듣습니다")
    return _correct()
