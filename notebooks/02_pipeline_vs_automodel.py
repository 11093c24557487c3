# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Pipeline versus AutoModel · 파이프라인과 AutoModel 비교
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bllossom-tutorials/bllossom-notebooks/blob/main/notebooks/02_pipeline_vs_automodel.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/bllossom-tutorials/bllossom-notebooks/blob/main/notebooks/02_pipeline_vs_automodel.ipynb)
#
# **What you will learn**
# - the model card's two ways to chat with Bllossom, `pipeline("text-generation")` and
#   `AutoModelForCausalLM` + `generate`, rewritten so they work on transformers 5;
# - why the card's AutoModel lines fail today, and the double `<|begin_of_text|>` trap;
# - what the pipeline does for you, by doing it by hand: template, tokenize, generate, slice, decode;
# - streaming tokens as they arrive, batching several prompts, and a chat that keeps its history;
# - how much the pipeline's convenience costs, measured.
#
# **배울 내용**
# - 모델 카드가 보여 주는 두 가지 대화 방법, `pipeline("text-generation")`과
#   `AutoModelForCausalLM` + `generate`를 transformers 5에서 동작하도록 고쳐 쓰는 법
# - 카드의 AutoModel 코드가 지금 실패하는 이유와 `<|begin_of_text|>`가 두 번 들어가는 함정
# - 파이프라인이 대신 해 주는 일(템플릿, 토큰화, 생성, 자르기, 디코딩)을 직접 해 보기
# - 토큰이 생기는 대로 보여 주는 스트리밍, 여러 프롬프트를 한 번에 처리하는 배치, 기록을 이어 가는 대화
# - 파이프라인의 편리함이 시간으로 얼마인지 직접 재 보기
#
# **Hardware · 하드웨어**: any machine. On a CPU (or offline) the notebook uses *Bllossom-tiny*,
# a small stand-in trained on this machine; on a GPU it loads the real Bllossom, exactly as in
# notebook 01. Replies are capped at 256 new tokens so the lesson stays quick everywhere. Measured: the whole notebook ran in about 210 s on a 2-core CPU shared with other jobs (this
# project's CI machine, `python -m helpers.run_notebooks 02`), with Bllossom-tiny already built.
# Apple Silicon Macs run the real model on their GPU through MPS in fp16 (16 GB: the 3B; 32 GB or more: the 8B),
# and Kaggle's two free T4s hold the 8B in fp16 together.
# 어떤 컴퓨터에서도 실행됩니다. CPU(또는 오프라인)에서는 이 컴퓨터에서 학습한 작은 대체 모델
# *Bllossom-tiny*를, GPU에서는 01번 노트북처럼 실제 블로썸을 씁니다. 답변은 최대 256개 토큰으로 제한해
# 어디서나 빨리 끝나게 했습니다. 측정값: 다른 작업과 함께 쓰는 2코어 CPU(이 프로젝트의 CI 컴퓨터, `python -m helpers.run_notebooks 02`)에서 Bllossom-tiny를 이미
# 만들어 둔 상태로 노트북 전체가 약 210초 걸렸습니다.
# Apple Silicon Mac은 MPS로 GPU에서 fp16 실제 모델을 실행하고(16 GB: 3B, 32 GB 이상: 8B), Kaggle의 무료 T4 두 개는
# 함께 fp16 8B를 담습니다.

# %% [markdown]
# **Setup.** On Colab or Kaggle this installs the tutorial's small `helpers` package; locally it comes from
# `pip install -e .` (see the README). Then a short report says what machine we are on.
#
# **준비.** Colab과 Kaggle에서는 이 튜토리얼의 `helpers` 패키지를 설치하고, 로컬에서는 `pip install -e .`로
# 설치된 것을 씁니다. 이어서 지금 어떤 컴퓨터에서 실행 중인지 짧게 보여 줍니다.

# %%
import os
import sys

if "google.colab" in sys.modules or "KAGGLE_KERNEL_RUN_TYPE" in os.environ:  # Colab or Kaggle: install the helpers
    import subprocess
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "bllossom-tutorial[gpu] @ git+https://github.com/bllossom-tutorials/bllossom-notebooks"],
                   check=True)
import helpers

facts = helpers.environment_report()

# %% [markdown]
# ## 1. One model for both ways · 두 방법에 쓸 모델 하나
#
# We load the tokenizer and the model once, as in notebook 01, and hand the *same* objects to the
# pipeline. The card's pipeline snippet calls `pipeline(model=model_id, ...)`, which loads the model
# by itself: run it next to the card's AutoModel snippet and a GPU holds two copies.
# The cell is the plain transformers code. On a GPU with 24 GB or more it amounts to
# `AutoModelForCausalLM.from_pretrained("MLP-KTLim/llama-3-Korean-Bllossom-8B", dtype=torch.bfloat16, device_map="auto")`;
# on a CPU the same lines read Bllossom-tiny's local folder in float32. `helpers.chat` and
# `helpers.timing` are this lesson's small helpers.
#
# 01번처럼 토크나이저와 모델을 한 번만 불러오고, *같은* 객체를 파이프라인에 넘깁니다. 카드의 파이프라인 코드는
# `pipeline(model=model_id, ...)`로 모델을 따로 불러오므로, 카드의 AutoModel 코드와 함께 실행하면 GPU에 모델이 두
# 벌 올라갑니다. 셀은 transformers 코드 그대로입니다. 24 GB 이상인 GPU에서는
# `AutoModelForCausalLM.from_pretrained("MLP-KTLim/llama-3-Korean-Bllossom-8B", dtype=torch.bfloat16, device_map="auto")`와
# 같고, CPU에서는 같은 코드가 Bllossom-tiny의 로컬 폴더를 float32로 읽습니다. `helpers.chat`과
# `helpers.timing`은 이 레슨에서 쓰는 작은 도우미입니다.

# %%
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig, pipeline, set_seed

from helpers.lessons import chat, timing

choice = helpers.pick_model()
model_id = helpers.source_of(choice)  # a hub id such as "MLP-KTLim/llama-3-Korean-Bllossom-8B", or the stand-in's folder
dtype = getattr(torch, choice.dtype)  # bfloat16 (A100, L4, H100), float16 (T4) or float32 (CPU)
four_bit = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=dtype) if choice.load_in_4bit else None
with helpers.explained_load_errors(choice):  # turns hub, GPU and offline errors into advice
    tokenizer = AutoTokenizer.from_pretrained(model_id)
    model = AutoModelForCausalLM.from_pretrained(model_id, dtype=dtype, quantization_config=four_bit,
                                                 device_map="auto" if choice.device == "cuda" else None,
                                                 use_safetensors=True)
generator = pipeline("text-generation", model=model, tokenizer=tokenizer)
print(type(model).__name__, "on", model.device, "in", model.dtype, "| pipeline:", type(generator).__name__)

# %% [markdown]
# ## 2. What the card asks for · 카드가 정한 설정
#
# The card fixes three things: a bilingual **system prompt**, the **terminators** (stop at the
# tokenizer's end-of-sequence token or at `<|eot_id|>`, which closes every chat turn), and the
# **generation settings** (sampling at temperature 0.6, top-p 0.9, repetition penalty 1.1).
# Bllossom-tiny was trained only with this system prompt, so every prompt here uses it.
#
# 카드는 세 가지를 정합니다. 한국어·영어 **시스템 프롬프트**, **종료 토큰**(토크나이저의 문장 끝 토큰
# 또는 대화 차례를 닫는 `<|eot_id|>`에서 멈춤), 그리고 **생성 설정**(온도 0.6, top-p 0.9 샘플링과
# 반복 페널티 1.1)입니다. Bllossom-tiny는 이 시스템 프롬프트로만 학습했으므로 모든 프롬프트에 넣습니다.

# %%
messages = chat.card_messages(choice, "서울과학기술대학교 MLP연구실에 대해 소개해줘")
terminators = chat.terminator_ids(tokenizer, choice)
settings = dict(chat.card_generation_settings(choice, cap_new_tokens=256), eos_token_id=terminators)
print("messages  :", messages)
print("terminators:", {i: tokenizer.convert_ids_to_tokens(i) for i in terminators})
print("settings  :", settings)

# %% [markdown]
# **Check yourself.** The card builds its terminators with one line; ours must contain both of
# its ids, and `<|eot_id|>` must be a single token. (Depending on the tokenizer's version its
# `eos_token` is `<|end_of_text|>` or already `<|eot_id|>`; the catalog lists both, so either way
# the reply stops.)
#
# **확인해 보기.** 카드는 종료 토큰을 한 줄로 만듭니다. 우리 목록에는 그 두 id가 모두 있어야 하고,
# `<|eot_id|>`는 토큰 하나여야 합니다. (토크나이저 버전에 따라 `eos_token`이 `<|end_of_text|>`이기도 하고
# 이미 `<|eot_id|>`이기도 합니다. 카탈로그에 둘 다 있으므로 어느 경우든 답이 멈춥니다.)

# %%
card_terminators = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|eot_id|>")]
assert set(card_terminators) <= set(terminators), (card_terminators, terminators)
assert tokenizer.encode("<|eot_id|>", add_special_tokens=False) == [tokenizer.convert_tokens_to_ids("<|eot_id|>")]
print("card terminators", card_terminators, "are all in", terminators)

# %% [markdown]
# ## 3. Way 1: the pipeline · 첫째 방법: 파이프라인
#
# Give the pipeline the **messages list itself**. It applies the chat template, generates, and
# returns the whole conversation with the assistant's reply appended as a new message. (The card
# templated a string first; section 5 shows why that is a trap.) `set_seed` makes sampling repeatable.
#
# 파이프라인에는 **메시지 목록을 그대로** 넘깁니다. 파이프라인이 채팅 템플릿을 적용하고 생성한 뒤,
# assistant의 답을 새 메시지로 덧붙인 대화 전체를 돌려줍니다. (카드는 먼저 문자열로 템플릿을
# 만들었는데, 왜 함정인지는 5절에서 봅니다.) `set_seed`로 샘플링 결과를 다시 똑같이 얻을 수 있습니다.

# %%
set_seed(0)
outputs = generator(messages, **settings)
conversation = outputs[0]["generated_text"]
print([message["role"] for message in conversation])
print(conversation[-1]["content"])

# %% [markdown]
# ## 4. Way 2: AutoModel and `generate` · 둘째 방법: AutoModel과 `generate`
#
# Here are the card's AutoModel lines, unchanged. In transformers 4.40
# `apply_chat_template(..., return_tensors="pt")` returned a tensor of ids; in transformers 5 it
# returns a `BatchEncoding` (a dict of `input_ids` and `attention_mask`), and `generate` fails when
# it asks that dict for its `.shape`. We run the old line in a guarded cell and keep the error.
#
# 카드의 AutoModel 코드를 그대로 실행해 봅니다. transformers 4.40에서는
# `apply_chat_template(..., return_tensors="pt")`가 id 텐서를 돌려줬지만, transformers 5에서는
# `BatchEncoding`(`input_ids`와 `attention_mask`를 담은 사전)을 돌려줍니다. 그래서 `generate`가 이 사전의
# `.shape`를 찾다가 실패합니다. 오류가 나도 멈추지 않도록 감싸서 실행하고 오류를 보관합니다.

# %%
card_error = None
input_ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                          return_tensors="pt").to(model.device)  # card, transformers 4.40
try:
    outputs = model.generate(input_ids, **settings)  # the card's call
except Exception as error:
    card_error = error
print("apply_chat_template returned:", type(input_ids).__name__)
print("generate raised            :", type(card_error).__name__)

# %% [markdown]
# **The fix.** The smallest fix is one argument: `return_dict=False` still gives the tensor of ids,
# and the card's lines run again (the check below confirms it), but `generate` then gets no attention
# mask. Better: ask for the dict on purpose with `return_dict=True`, unpack it into `generate` (so
# the attention mask goes along), and cut the prompt off using the length of `input_ids`, so only
# the new tokens are decoded.
#
# **고친 코드.** 가장 작은 수정은 인자 하나입니다. `return_dict=False`를 주면 여전히 id 텐서를 돌려주므로 카드의
# 코드가 다시 돌아갑니다(아래 확인에서 봅니다). 다만 `generate`가 어텐션 마스크를 받지 못합니다. 더 나은 방법은
# `return_dict=True`로 사전을 받아 `generate`에 풀어서 넘기고(어텐션 마스크도 함께 전달됩니다), `input_ids`의
# 길이만큼 프롬프트를 잘라 새로 만든 토큰만 디코딩하는 것입니다.

# %%
inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,
                                       return_tensors="pt").to(model.device)
set_seed(0)
output_ids = model.generate(**inputs, **settings)
automodel_reply = tokenizer.decode(output_ids[0, inputs["input_ids"].shape[-1]:], skip_special_tokens=True)
print(automodel_reply)

# %% [markdown]
# **Check yourself.** The old line really failed with the error described above; with
# `return_dict=False` the same call returns a tensor of exactly the fixed line's ids; and the fixed
# line, with the same seed and settings, gives the pipeline's reply exactly.
#
# **확인해 보기.** 옛 코드는 위에서 설명한 오류로 실패했고, `return_dict=False`를 준 같은 호출은 고친 코드와 정확히
# 같은 id의 텐서를 돌려주며, 고친 코드는 같은 시드와 설정에서 파이프라인과 정확히 같은 답을 냅니다.

# %%
one_word_fix = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False,
                                             return_tensors="pt")
assert type(input_ids).__name__ == "BatchEncoding" and isinstance(card_error, AttributeError)
assert isinstance(one_word_fix, torch.Tensor) and torch.equal(one_word_fix, inputs["input_ids"].cpu())
assert automodel_reply == conversation[-1]["content"], (automodel_reply, conversation[-1]["content"])
print("old line: AttributeError; return_dict=False: a tensor again; fixed line: same reply as the pipeline")

# %% [markdown]
# ## 5. The double `<|begin_of_text|>` trap · `<|begin_of_text|>`가 두 번 들어가는 함정
#
# The card first turns the messages into a string with the chat template, which already starts
# with `<|begin_of_text|>` (id 128000), and then gives that *string* to the pipeline. The pipeline
# tokenizes it and, like any tokenizer call, adds `<|begin_of_text|>` again. To see the ids the
# model really gets we pass a `TokenClock` streamer: `generate` hands it the prompt before anything else.
#
# 카드는 먼저 채팅 템플릿으로 메시지를 문자열로 바꾸는데, 이 문자열은 이미 `<|begin_of_text|>`(id 128000)로
# 시작합니다. 그 *문자열*을 파이프라인에 넘기면 파이프라인이 다시 토큰화하면서 `<|begin_of_text|>`를 또
# 붙입니다. 모델이 실제로 받는 id를 보려고 `TokenClock` 스트리머를 넘깁니다. `generate`는 가장 먼저
# 프롬프트를 스트리머에 건네줍니다.

# %%
def prompt_ids_seen_by_model(prompt, **options):
    """The first ids `generate` receives when the pipeline is called on `prompt`."""
    clock = timing.TokenClock()
    generator(prompt, streamer=clock, max_new_tokens=1, **options)
    return clock.prompt_ids

card_prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
seen = {
    "card: templated string": prompt_ids_seen_by_model(card_prompt),
    "fix 1: messages list": prompt_ids_seen_by_model(messages),
    "fix 2: string, add_special_tokens=False": prompt_ids_seen_by_model(card_prompt, add_special_tokens=False),
}
helpers.show_table([{"what the pipeline got": name, "first ids": ids[:4], "length": len(ids),
                     "count of 128000": ids.count(128000)} for name, ids in seen.items()])

# %% [markdown]
# **Check yourself.** The card's way starts with 128000 twice; both fixes start with it once and
# give the model the same ids.
#
# **확인해 보기.** 카드의 방법은 128000으로 두 번 시작하고, 두 가지 고친 방법은 한 번만 시작하며 모델에
# 똑같은 id를 줍니다.

# %%
bos = tokenizer.convert_tokens_to_ids("<|begin_of_text|>")
assert seen["card: templated string"][:2] == [bos, bos]
assert seen["fix 1: messages list"] == seen["fix 2: string, add_special_tokens=False"]
assert seen["fix 1: messages list"].count(bos) == 1
print("double BOS in the card's way; one BOS in both fixes")

# %% [markdown]
# ## 6. The pipeline taken apart · 파이프라인 분해하기
#
# A text-generation pipeline does five things. Steps 1 and 2: the chat template writes the prompt
# string, and the tokenizer turns it into ids, *without* adding special tokens again.
#
# 텍스트 생성 파이프라인은 다섯 가지 일을 합니다. 1, 2단계: 채팅 템플릿이 프롬프트 문자열을 쓰고,
# 토크나이저가 이를 id로 바꿉니다. 이때 특수 토큰을 다시 *붙이지 않습니다*.

# %%
prompt_text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)  # 1 template
prompt = tokenizer(prompt_text, add_special_tokens=False, return_tensors="pt").to(model.device)  # 2 tokenize
print(f"{len(prompt_text)} characters -> {prompt['input_ids'].shape[-1]} tokens")
print("last tokens:", tokenizer.convert_ids_to_tokens(prompt["input_ids"][0, -4:].tolist()))

# %% [markdown]
# Steps 3 to 5: `generate` returns the prompt *and* the reply in one row of ids, so we slice off
# the prompt's length and decode the rest, skipping special tokens such as `<|eot_id|>`.
#
# 3~5단계: `generate`는 프롬프트와 답을 한 행의 id로 함께 돌려주므로, 프롬프트 길이만큼 잘라 내고
# 나머지를 `<|eot_id|>` 같은 특수 토큰은 빼고 디코딩합니다.

# %%
set_seed(0)
generated = model.generate(**prompt, **settings)  # 3 generate
new_ids = generated[0, prompt["input_ids"].shape[-1]:]  # 4 slice off the prompt
by_hand_reply = tokenizer.decode(new_ids, skip_special_tokens=True)  # 5 decode
print("new tokens:", len(new_ids), "| last one:", tokenizer.convert_ids_to_tokens(new_ids[-1].item()))
print(by_hand_reply)

# %% [markdown]
# The same five steps as one function. We compare it with the pipeline twice: with greedy decoding
# (always the most likely token: no sampling, no repetition penalty) and with the card's seeded
# sampling. The rest of the lesson uses greedy decoding so that every run gives the same text.
#
# 같은 다섯 단계를 함수 하나로 묶습니다. 이 함수를 파이프라인과 두 번 비교합니다. 한 번은 탐욕적
# 디코딩(항상 가장 가능성 높은 토큰: 샘플링도 반복 페널티도 없음)으로, 한 번은 카드의 시드 고정 샘플링으로
# 합니다. 이후로는 매번 같은 글이 나오도록 탐욕적 디코딩을 씁니다.

# %%
def pipeline_by_hand(messages, **generate_kwargs):
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").to(model.device)
    output = model.generate(**ids, **generate_kwargs)
    return tokenizer.decode(output[0, ids["input_ids"].shape[-1]:], skip_special_tokens=True)

def pipeline_reply(messages, **generate_kwargs):
    return generator(messages, **generate_kwargs)[0]["generated_text"][-1]["content"]

greedy = dict(do_sample=False, max_new_tokens=settings["max_new_tokens"], eos_token_id=terminators)
replies = {}
for name, options in {"greedy": greedy, "seeded sampling": settings}.items():
    set_seed(0)
    replies[name, "by hand"] = pipeline_by_hand(messages, **options)
    set_seed(0)
    replies[name, "pipeline"] = pipeline_reply(messages, **options)
helpers.show_table([{"decoding": d, "way": w, "reply": r[:80]} for (d, w), r in replies.items()])

# %% [markdown]
# **Check yourself.** The hand-made answer equals the pipeline's, character for character, for
# greedy decoding and for seeded sampling: the pipeline adds nothing but convenience.
#
# **확인해 보기.** 직접 만든 답은 탐욕적 디코딩에서도, 시드 고정 샘플링에서도 파이프라인의 답과 글자
# 하나까지 같습니다. 파이프라인은 편리함만 더할 뿐입니다.

# %%
for decoding in ("greedy", "seeded sampling"):
    assert replies[decoding, "by hand"] == replies[decoding, "pipeline"], decoding
    assert replies[decoding, "by hand"].strip() and "<|" not in replies[decoding, "by hand"]
assert by_hand_reply == replies["seeded sampling", "by hand"]
print("by hand == pipeline for greedy and for seeded sampling")

# %% [markdown]
# ## 7. Streaming · 스트리밍
#
# Nobody likes to stare at an empty cell for a long answer. `TextStreamer` prints each piece of
# text as soon as `generate` produces it; `skip_prompt=True` leaves out the prompt.
#
# 긴 답을 빈 셀 앞에서 기다리는 것은 지루합니다. `TextStreamer`는 `generate`가 만드는 대로 글을 바로
# 출력합니다. `skip_prompt=True`로 프롬프트는 빼고 보여 줍니다.

# %%
from transformers import TextStreamer

streamer = TextStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
_ = model.generate(**inputs, streamer=streamer, **greedy)

# %% [markdown]
# For your own display (a chat window, a web page) use `TextIteratorStreamer`: `generate` runs in
# a background thread and you loop over the text pieces. Here they grow an ipywidgets text box;
# the same loop runs headless in CI, where nobody watches.
#
# 직접 만든 화면(채팅 창, 웹 페이지)에는 `TextIteratorStreamer`를 씁니다. `generate`를 백그라운드
# 스레드에서 돌리고, 글 조각을 반복문으로 받습니다. 여기서는 ipywidgets 글 상자를 키워 나갑니다.
# 아무도 보지 않는 CI에서도 같은 반복문이 그대로 돕니다.

# %%
from threading import Thread

import ipywidgets as widgets
from IPython.display import display
from transformers import TextIteratorStreamer

box = widgets.Textarea(value="", description="Bllossom", layout=widgets.Layout(width="95%", height="7em"))
display(box)
stream = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
worker = Thread(target=model.generate, kwargs=dict(**inputs, streamer=stream, **greedy))
worker.start()
pieces = []
for piece in stream:  # each piece arrives while generate is still running
    pieces.append(piece)
    box.value += piece
worker.join()
print(f"{len(pieces)} pieces streamed")

# %% [markdown]
# **Check yourself.** The streamed pieces put together are the greedy reply, and the widget holds
# all of it.
#
# **확인해 보기.** 스트리밍된 조각을 이어 붙이면 탐욕적 디코딩의 답과 같고, 위젯에도 전부 들어 있습니다.

# %%
assert "".join(pieces) == box.value == replies["greedy", "pipeline"]
assert len(pieces) > 1, "the reply should arrive in several pieces, not at once"
print("stream == greedy reply")

# %% [markdown]
# ## 8. Several prompts at once · 여러 프롬프트를 한 번에
#
# A batch must be a rectangle of ids, so shorter prompts get padding. A decoder writes after the
# *last* position, so the padding must go on the **left**; Llama-3 has no pad token, so we borrow
# the end-of-sequence token (the attention mask hides it anyway).
#
# 배치는 id의 직사각형이어야 하므로 짧은 프롬프트에는 패딩을 붙입니다. 디코더는 *마지막* 위치 다음에
# 글을 쓰므로 패딩은 **왼쪽**에 붙여야 합니다. Llama-3에는 패딩 토큰이 없어서 문장 끝 토큰을 빌려
# 씁니다(어텐션 마스크가 어차피 가립니다).

# %%
questions = ["블로썸은 어떤 모델이야?", "What is Bllossom?", "서울과학기술대학교 MLP연구실에 대해 소개해줘"]
chats = [chat.card_messages(choice, question) for question in questions]
if tokenizer.pad_token is None:
    tokenizer.pad_token = tokenizer.eos_token
tokenizer.padding_side = "left"
batch = tokenizer.apply_chat_template(chats, add_generation_prompt=True, padding=True, return_dict=True,
                                      return_tensors="pt").to(model.device)
print("ids:", tuple(batch["input_ids"].shape), "| real tokens per row:", batch["attention_mask"].sum(1).tolist())
batch_output = model.generate(**batch, **greedy)
batch_replies = tokenizer.batch_decode(batch_output[:, batch["input_ids"].shape[-1]:], skip_special_tokens=True)
helpers.show_table([{"question": q, "reply": r[:90]} for q, r in zip(questions, batch_replies)])

# %% [markdown]
# The pipeline batches too: give it a list of chats and a `batch_size`; it pads the same way,
# with the tokenizer's pad token and padding side.
#
# 파이프라인도 배치를 합니다. 대화 목록과 `batch_size`를 주면 토크나이저의 패딩 토큰과 패딩 방향으로
# 똑같이 패딩합니다.

# %%
pipeline_batch = [out[0]["generated_text"][-1]["content"] for out in generator(chats, batch_size=len(chats), **greedy)]
print(pipeline_batch[1])

# %% [markdown]
# **Check yourself.** Padding sits on the left of the shorter rows, every row ends with the
# assistant header, and the pipeline's batch gives the same replies as ours.
#
# **확인해 보기.** 짧은 행의 왼쪽에 패딩이 있고, 모든 행이 assistant 머리말로 끝나며, 파이프라인의 배치도
# 우리와 같은 답을 냅니다.

# %%
mask = batch["attention_mask"]
assert (mask[:, -1] == 1).all() and (mask.sum(1) < mask.shape[1]).any()
assert (mask.cummax(dim=1).values == mask).all(), "zeros must come before the ones: left padding"
assert len(set(batch["input_ids"][:, -1].tolist())) == 1  # the same last token: end of the assistant header
assert pipeline_batch == batch_replies
assert all(reply.strip() and "<|" not in reply for reply in batch_replies)
print("left padding, same replies from generate and from the pipeline")

# %% [markdown]
# What if the padding were on the right? The short rows would have to continue *after* their pad
# tokens, and their replies break. transformers warns about it; here is what it looks like.
#
# 패딩이 오른쪽에 있으면 어떻게 될까요? 짧은 행은 패딩 토큰 *뒤에서* 이어 써야 해서 답이 망가집니다.
# transformers도 경고를 냅니다. 어떤 모습인지 봅시다.

# %%
tokenizer.padding_side = "right"
right = tokenizer.apply_chat_template(chats, add_generation_prompt=True, padding=True, return_dict=True,
                                      return_tensors="pt").to(model.device)
tokenizer.padding_side = "left"
right_output = model.generate(**right, **greedy)
right_replies = tokenizer.batch_decode(right_output[:, right["input_ids"].shape[-1]:], skip_special_tokens=True)
helpers.show_table([{"padding": side, "question": q, "reply": r[:70]} for side, replies_ in
                    (("left", batch_replies), ("right", right_replies)) for q, r in zip(questions, replies_)])

# %% [markdown]
# ## 9. A chat that keeps its history · 기록을 이어 가는 대화
#
# The model remembers nothing between calls: the history *is* the prompt. With messages in, the
# pipeline returns the conversation with the reply appended, so we append the next question to
# what it returned and call it again. (Bllossom-tiny learned only a few two-turn chats, such as
# this one; the real model follows any.)
#
# 모델은 호출과 호출 사이에 아무것도 기억하지 않습니다. 대화 기록이 곧 프롬프트입니다. 메시지를 넣으면
# 파이프라인은 답을 덧붙인 대화를 돌려주므로, 거기에 다음 질문을 붙여 다시 부르면 됩니다.
# (Bllossom-tiny는 이런 두 차례 대화를 몇 개만 배웠고, 실제 모델은 어떤 대화든 이어 갑니다.)

# %%
history = chat.card_messages(choice, "블로썸은 영어도 잘하나요?")
history = generator(history, **greedy)[0]["generated_text"]  # first question, reply appended
history.append({"role": "user", "content": "Which model is Bllossom based on?"})
second_call = timing.TokenClock()  # a silent streamer: generate hands it the prompt ids it really got
history = generator(history, streamer=second_call, **greedy)[0]["generated_text"]  # sees the first turn
for message in history:
    print(f"{message['role']:>9}: {message['content'][:100]}")

# %% [markdown]
# **Check yourself.** The conversation alternates user and assistant, and the ids the model really
# received on the second call (caught by the streamer) hold the first question, the first reply and
# the second question, in that order.
#
# **확인해 보기.** 대화는 user와 assistant가 번갈아 나오고, 두 번째 호출에서 모델이 실제로 받은 id(스트리머가
# 붙잡은 것)에는 첫 질문, 첫 답, 두 번째 질문이 이 순서대로 들어 있습니다.

# %%
roles = [message["role"] for message in history]
assert roles[-4:] == ["user", "assistant", "user", "assistant"], roles
seen_text = tokenizer.decode(second_call.prompt_ids)
first_question, first_reply, second_question = (history[i]["content"].strip() for i in (-4, -3, -2))
assert first_reply and history[-1]["content"].strip()
positions = [seen_text.find(part) for part in (first_question, first_reply, second_question)]
assert -1 not in positions and positions == sorted(positions), positions
print(f"{len(history)} messages; the model read {len(second_call.prompt_ids)} prompt tokens on the second call")

# %% [markdown]
# ## 10. The helper for the next lessons · 다음 레슨에서 쓸 도우미
#
# Now that you have written the round trip by hand, later lessons call
# `helpers.chat.reply_text(model, tokenizer, messages, **settings)`. It does the same five steps
# and first checks the input: an empty list, an unknown role, `max_new_tokens` of 0 or less, or a
# prompt too long for the model's context get a clear message instead of a library traceback.
#
# 대화 한 번의 과정을 직접 써 보았으니, 다음 레슨부터는
# `helpers.chat.reply_text(model, tokenizer, messages, **settings)`를 씁니다. 같은 다섯 단계를 하되,
# 먼저 입력을 확인합니다. 빈 목록, 모르는 역할, 0 이하의 `max_new_tokens`, 모델 문맥보다 긴 프롬프트에는
# 라이브러리 트레이스백 대신 알기 쉬운 메시지를 줍니다.

# %%
helper_reply = chat.reply_text(model, tokenizer, messages, **greedy)
context = model.config.max_position_embeddings
mistakes = {
    "empty list": [],
    "unknown role": [{"role": "robot", "content": "안녕?"}],
    "max_new_tokens=0": dict(max_new_tokens=0),
    "max_new_tokens=-5": dict(max_new_tokens=-5),
    f"prompt over {context:,} tokens": [{"role": "user", "content": "안녕 " * context}],
    "templated string": card_prompt,
}
explained = {}
for name, mistake in mistakes.items():
    arguments = dict(greedy, **mistake) if isinstance(mistake, dict) else dict(greedy)
    asked = messages if isinstance(mistake, dict) else mistake
    try:
        chat.reply_text(model, tokenizer, asked, **arguments)
    except helpers.TutorialError as error:
        explained[name] = str(error)
helpers.show_table([{"mistake": name, "message": message} for name, message in explained.items()])

# %% [markdown]
# Left alone, transformers answers these very differently. An empty list is refused clearly by
# `apply_chat_template` itself (a `ValueError` that says to give at least one message), but the
# pipeline fails on it with a bare `IndexError` before it gets that far; the cell below shows both
# messages as your transformers writes them. An unknown role is written into the prompt and answered
# with nonsense, and a prompt longer than the context only logs a "friendly reminder" before
# generating past the length the model was trained on.
#
# transformers에 그대로 맡기면 반응이 제각각입니다. 빈 목록은 `apply_chat_template`이 직접 분명하게
# 거절하지만(메시지를 하나 이상 달라는 `ValueError`), 파이프라인은 거기까지 가기 전에 설명 없는 `IndexError`로
# 실패합니다. 아래 셀은 설치된 transformers가 내는 두 메시지를 그대로 보여 줍니다. 모르는 역할은 프롬프트에 그대로
# 쓰여 엉뚱한 답이 나오며, 문맥보다 긴 프롬프트는 "friendly reminder" 경고만 남기고 모델이 학습한 길이를 넘어
# 생성합니다.

# %%
raw_errors = {}
for name, call in {"pipeline([])": lambda: generator([], **greedy),
                   "tokenizer.apply_chat_template([])": lambda: tokenizer.apply_chat_template([])}.items():
    try:
        call()
    except Exception as error:
        raw_errors[name] = f"{type(error).__name__}: {error}"
helpers.show_table([{"call": name, "transformers says": message} for name, message in raw_errors.items()])

# %% [markdown]
# Too long a history can also be cut instead of refused: `on_overflow="truncate"` drops the oldest
# turns and keeps the system prompt and the last question.
#
# 너무 긴 기록은 거절하는 대신 잘라 낼 수도 있습니다. `on_overflow="truncate"`는 가장 오래된 차례부터 지우고
# 시스템 프롬프트와 마지막 질문은 남깁니다.

# %%
long_history = chat.card_messages(choice, "안녕 " * context) + [
    {"role": "assistant", "content": "안녕하세요!"}, {"role": "user", "content": "블로썸은 어떤 모델이야?"}]
kept = chat.fit_to_context(tokenizer, long_history, max_new_tokens=64, context_length=context,
                           on_overflow="truncate")
print(f"{len(long_history)} messages -> {len(kept)} kept:", [m["role"] for m in kept])

# %% [markdown]
# **Check yourself.** The helper's reply is the greedy reply of the pipeline; every mistake got a
# `TutorialError`; left alone, the pipeline gave an `IndexError` and `apply_chat_template` a
# `ValueError` for the empty list; truncation kept the system prompt and the last question.
#
# **확인해 보기.** 도우미의 답은 파이프라인의 탐욕적 디코딩 답과 같고, 모든 실수에 `TutorialError`가 났으며,
# 그대로 두면 빈 목록에 파이프라인은 `IndexError`를, `apply_chat_template`은 `ValueError`를 냈고, 잘라 낸 뒤에도
# 시스템 프롬프트와 마지막 질문이 남았습니다.

# %%
assert raw_errors["pipeline([])"].startswith("IndexError"), raw_errors
assert raw_errors["tokenizer.apply_chat_template([])"].startswith("ValueError"), raw_errors
assert helper_reply == replies["greedy", "pipeline"].strip()
assert set(explained) == set(mistakes), set(mistakes) - set(explained)
assert kept[-1] == long_history[-1] and kept[0] == long_history[0] and len(kept) < len(long_history)
print("helper == pipeline; all", len(explained), "mistakes explained; truncation kept the ends")

# %% [markdown]
# ## 11. What does the pipeline cost? · 파이프라인의 비용은?
#
# Both ways apply the chat template, tokenize, run the same `generate` and decode the new tokens.
# What only the pipeline does is bookkeeping: sorting its arguments, wrapping the messages in a
# `Chat`, moving tensors and turning the output into Python lists, and building the returned
# conversation. We time both on the same three chats with greedy decoding, alternating which goes
# first, and take medians. Timing has noise of its own (other processes, caches), so the cell also
# prints how much two runs of the *same* `generate` call on the same chat differ.
# *Time to first token* is what a user waits before text appears; *tokens per second* is the pace after.
#
# 두 방법 모두 채팅 템플릿을 적용하고, 토큰화하고, 같은 `generate`를 돌리고, 새 토큰을 디코딩합니다.
# 파이프라인만 하는 일은 부가 작업입니다. 인자를 나누어 정리하고, 메시지를 `Chat`으로 감싸고, 텐서를 옮기고
# 출력을 파이썬 목록으로 바꾸고, 돌려줄 대화를 만듭니다. 같은 세 대화를 탐욕적 디코딩으로, 번갈아 먼저 실행하며
# 재고 중앙값을 씁니다. 시간 측정에는 그 자체의 잡음(다른 프로세스, 캐시)이 있으므로, *같은* 대화에 *같은*
# `generate` 호출을 두 번 했을 때 얼마나 다른지도 출력합니다.
# *첫 토큰까지의 시간*은 글이 보이기까지 기다리는 시간이고, *초당 토큰 수*는 그 뒤의 속도입니다.

# %%
import statistics


def with_pipeline(messages, streamer):
    return generator(messages, streamer=streamer, **greedy)[0]["generated_text"][-1]["content"]

def with_generate(messages, streamer):
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,
                                           return_tensors="pt").to(model.device)
    output = model.generate(**inputs, streamer=streamer, **greedy)
    return tokenizer.decode(output[0, inputs["input_ids"].shape[-1]:], skip_special_tokens=True)

speed_rows, speed_samples = timing.compare_speed({"pipeline": with_pipeline, "generate": with_generate},
                                                 chats, repeats=2)
helpers.show_table(speed_rows)
overhead_ms = timing.median_overhead_ms(speed_samples, "pipeline", "generate")
runs = speed_samples["generate"]  # in call order: every chat once, then every chat again
noise_ms = 1000 * statistics.median(abs(a["total_s"] - b["total_s"]) for a, b in zip(runs, runs[len(chats):]))
print(f"pipeline minus generate, median of {len(runs)} paired calls: {overhead_ms:+.1f} ms per reply")
print(f"generate minus generate on the same chat (noise), median: {noise_ms:.1f} ms")
print("the overhead is", "larger than" if overhead_ms > noise_ms else "within", "the timing noise")

# %% [markdown]
# A difference smaller than the noise, or below zero, means this measurement cannot tell the
# pipeline's bookkeeping from zero: next to generating a reply it is small. A model that writes its
# tokens faster (a GPU) makes the bookkeeping a larger share.
#
# 차이가 잡음보다 작거나 0보다 작으면, 이 측정으로는 파이프라인의 부가 작업을 0과 구별할 수 없다는 뜻입니다. 답을
# 생성하는 시간에 비하면 작습니다. 토큰을 더 빨리 쓰는 환경(GPU)에서는 부가 작업의 비중이 커집니다.
#
# **Check yourself.** Both ways wrote exactly the same replies with the same number of tokens, so
# the comparison is fair. (Timings are printed, not asserted: they change with the machine and its
# load; `benchmarks/pipeline_overhead.py` repeats this with more runs.)
#
# **확인해 보기.** 두 방법이 토큰 수까지 똑같은 답을 썼으므로 공정한 비교입니다. (시간은 컴퓨터와 그 부하에
# 따라 바뀌므로 검사하지 않고 출력만 합니다. 더 많이 반복하려면 `benchmarks/pipeline_overhead.py`를 실행하세요.)

# %%
for by_pipeline, by_generate in zip(speed_samples["pipeline"], speed_samples["generate"]):
    assert by_pipeline["text"] == by_generate["text"]
    assert by_pipeline["new_tokens"] == by_generate["new_tokens"] > 0
print("same replies, same token counts: the time gap is the pipeline's bookkeeping plus timing noise")

# %% [markdown]
# ## 12. Summary and troubleshooting · 정리와 문제 해결
#
# The pipeline is the five steps you wrote by hand, plus a little bookkeeping. Use it for quick
# work; use `generate` when you need the ids, your own batching or streaming into your own display.
#
# 파이프라인은 여러분이 직접 쓴 다섯 단계에 약간의 부가 작업을 더한 것입니다. 빠르게 쓸 때는
# 파이프라인을, id가 필요하거나 배치와 스트리밍을 직접 다룰 때는 `generate`를 쓰세요.
#
# | Symptom · 증상 | Cause and fix · 원인과 해결 |
# |---|---|
# | `AttributeError` in `generate` | `apply_chat_template(..., return_tensors="pt")` returns a `BatchEncoding` in transformers 5: add `return_dict=True` and call `generate(**inputs)`. transformers 5에서는 사전이 돌아오므로 `generate(**inputs)`로 넘기세요. |
# | ids start `128000, 128000` | A templated string was tokenized with special tokens: pass the messages list, or `add_special_tokens=False`. 템플릿 문자열을 다시 토큰화하지 말고 메시지 목록을 넘기세요. |
# | Reply repeats the prompt · 답에 프롬프트가 섞임 | Slice `output[0, input_ids.shape[-1]:]` before decoding (the pipeline: messages in, `[-1]["content"]` out). 디코딩 전에 프롬프트 길이만큼 잘라 내세요. |
# | Reply never stops · 답이 끝나지 않음 | Pass both terminators as `eos_token_id`. 종료 토큰 두 개를 모두 `eos_token_id`로 넘기세요. |
# | Garbled batch replies · 배치 답이 망가짐 | `tokenizer.padding_side = "left"` and set a pad token. 왼쪽 패딩과 패딩 토큰을 설정하세요. |
# | Nonsense from Bllossom-tiny · tiny가 엉뚱한 답 | It knows only its training corpus, asked with the card's system prompt. tiny는 카드의 시스템 프롬프트로 물은 학습 문장만 압니다. |

# %% [markdown]
# ## Exercises · 연습 문제
#
# Each task has a cell for your answer (in the student copy it holds `...`) and a check cell that
# runs your answer and replies: correct, or a hint that points at the idea. Easy first.
#
# 문제마다 답을 쓰는 셀(학생용 사본에는 `...`가 들어 있습니다)과, 답을 실행해 보고 정답인지 알려 주거나
# 생각할 방향을 힌트로 주는 확인 셀이 있습니다. 쉬운 문제부터 시작합니다.

# %%
from helpers.lessons import exercises

# %% [markdown]
# **1.** The card's code stops at `model.generate(input_ids, ...)` on transformers 5. Build `generate`-ready
# inputs for `[{"role": "user", "content": "블로썸이 뭐예요?"}]` the transformers 5 way.
#
# **1.** 카드의 코드는 transformers 5에서 `model.generate(input_ids, ...)`에서 멈춥니다.
# `[{"role": "user", "content": "블로썸이 뭐예요?"}]`에 대해 transformers 5 방식으로 `generate`에 넣을 입력을 만드세요.

# %% tags=["solution"]
# Exercise 1 · 문제 1
exercise_inputs = tokenizer.apply_chat_template([{"role": "user", "content": "블로썸이 뭐예요?"}],
                                                add_generation_prompt=True, return_dict=True,
                                                return_tensors="pt").to(model.device)

# %%
# Check · 확인
exercises.check_model_inputs(exercise_inputs, tokenizer)

# %% [markdown]
# **2.** Which token ids end a Bllossom reply? Give the list the card passes as `eos_token_id`.
#
# **2.** 블로썸의 답을 끝내는 토큰 id는 무엇일까요? 카드가 `eos_token_id`로 넘기는 목록을 주세요.

# %% tags=["solution"]
# Exercise 2 · 문제 2
stop_ids = [tokenizer.convert_tokens_to_ids(t) for t in ("<|end_of_text|>", "<|eot_id|>")]

# %%
# Check · 확인
exercises.check_terminators(stop_ids, tokenizer)

# %% [markdown]
# **3.** Generate 16 new tokens greedily for the inputs of exercise 1, then decode only the reply:
# no prompt, no special tokens.
#
# **3.** 1번 문제의 입력으로 새 토큰 16개를 탐욕적 디코딩으로 만들고, 프롬프트와 특수 토큰 없이 답만
# 디코딩하세요.

# %% tags=["solution"]
# Exercise 3 · 문제 3
exercise_output = model.generate(**exercise_inputs, max_new_tokens=16, do_sample=False, eos_token_id=stop_ids)
prompt_length = exercise_inputs["input_ids"].shape[-1]
exercise_reply = tokenizer.decode(exercise_output[0, prompt_length:], skip_special_tokens=True)

# %%
# Check · 확인
exercises.check_reply_only(exercise_reply, exercise_output, prompt_length, tokenizer)
