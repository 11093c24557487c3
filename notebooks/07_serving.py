# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Serving Bllossom to a whole class · 블로썸을 한 반 전체에 서비스하기
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bllossom-tutorials/bllossom-notebooks/blob/main/notebooks/07_serving.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/bllossom-tutorials/bllossom-notebooks/blob/main/notebooks/07_serving.ipynb)
#
# **What you will learn**
# - starting `transformers serve`, transformers' own OpenAI-compatible server, from a notebook:
#   on 127.0.0.1 and a free port, waiting for its health check, and always stopping it;
# - talking to it with the `openai` client: the card's system prompt, a streamed reply, a
#   multi-turn chat and the model list; and whether the server's greedy reply is `generate`'s;
# - what the server and the client do with mistakes: a wrong model name, an empty chat, a prompt
#   longer than the context, a taken port, a server that never starts or dies mid-answer;
# - a class at once: latency and throughput for 1, 4 and 16 students, with and without
#   continuous batching, and a check that nobody got somebody else's answer;
# - when one machine is not enough: `vllm serve` with tensor and pipeline parallelism, and a
#   memory plan for the 8B and the 70B on 1 to 8 GPUs.
#
# **배울 내용**
# - transformers에 들어 있는 OpenAI 호환 서버 `transformers serve`를 노트북에서 띄우기: 127.0.0.1의 빈 포트,
#   상태 확인(health) 기다리기, 그리고 어떤 경우에도 서버 끄기
# - `openai` 클라이언트로 대화하기: 카드의 시스템 프롬프트, 스트리밍 답변, 여러 차례 대화, 모델 목록,
#   그리고 서버의 탐욕적 답이 `generate`의 답과 같은지
# - 잘못된 모델 이름, 빈 대화, 문맥보다 긴 프롬프트, 이미 쓰는 포트, 뜨지 않는 서버, 답하다 죽는 서버를
#   서버와 클라이언트가 어떻게 다루는지
# - 한 반 전체가 동시에: 학생 1, 4, 16명일 때 연속 배칭(continuous batching)을 켜고 끈 지연 시간과 처리량,
#   그리고 아무도 남의 답을 받지 않았는지 확인
# - 컴퓨터 한 대로 모자랄 때: 텐서·파이프라인 병렬화를 쓰는 `vllm serve`와 8B·70B의 GPU 1~8개 메모리 계획
#
# **Hardware · 하드웨어**: any machine. On a CPU (or offline) the server serves *Bllossom-tiny*, the
# stand-in trained on this machine; on a GPU it serves the model `pick_model` chooses, as in
# notebook 01. With a CUDA GPU and `vllm` installed, section 6 really starts vLLM; elsewhere it says
# so and uses the local server. Replies are capped at a few dozen tokens so the lesson stays quick.
# On an Apple Silicon Mac or Kaggle's two free T4s the server serves what `pick_model` chose there
# (vLLM needs CUDA on Linux, so a Mac uses `transformers serve`).
# 어떤 컴퓨터에서도 실행됩니다. CPU(또는 오프라인)에서는 이 컴퓨터에서 학습한 대체 모델 *Bllossom-tiny*를,
# GPU에서는 01번처럼 `pick_model`이 고른 모델을 서비스합니다. CUDA GPU와 `vllm`이 있으면 6절에서 vLLM을
# 실제로 띄우고, 없으면 그렇다고 알린 뒤 로컬 서버를 씁니다. 빨리 끝나도록 답은 수십 토큰으로 제한합니다.
# Apple Silicon Mac이나 Kaggle의 무료 T4 두 개에서는 그곳에서 `pick_model`이 고른 모델을 서비스합니다(vLLM은
# 리눅스의 CUDA가 필요하므로 Mac에서는 `transformers serve`를 씁니다).

# %% [markdown]
# **Setup.** On Colab this installs the tutorial's small `helpers` package; locally it comes from
# `pip install -e .` (see the README), which also brings `transformers[serving]` and `openai`.
# Then a short report says what machine we are on.
#
# **준비.** Colab에서는 이 튜토리얼의 `helpers` 패키지를 설치하고, 로컬에서는 `pip install -e .`로 설치된 것을
# 씁니다(`transformers[serving]`과 `openai`도 함께 설치됩니다). 이어서 지금 어떤 컴퓨터인지 짧게 보여 줍니다.

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
# ## 1. Start a server · 서버 띄우기
#
# We load the chosen model in the notebook too, because section 3 compares the server's replies
# with local `generate`. `helpers.lessons.serving` holds the plumbing (free port, health wait,
# log, stopping); the commands and the client calls stay in this notebook.
#
# 3절에서 서버의 답을 로컬 `generate`와 비교하므로 노트북에도 같은 모델을 불러옵니다.
# `helpers.lessons.serving`은 빈 포트 찾기, 상태 확인 기다리기, 로그, 서버 끄기 같은 배관 작업을 맡고,
# 서버 명령과 클라이언트 호출은 이 노트북에 그대로 보입니다.

# %%
from helpers.lessons import chat, serving

choice = helpers.pick_model()
source = helpers.source_of(choice)
model, tokenizer = helpers.load_model(choice)
context_length = model.config.max_position_embeddings
print("serving:", source, "| context:", context_length, "tokens")

# %% [markdown]
# The command is data: which program, which model, which options. `--host 127.0.0.1` keeps the
# server private to this machine, and `--dtype` loads the weights exactly as the notebook did
# (section 3 shows why that matters). The model is named on the command line, so the server is
# *pinned* to it: the model id in every request is this same folder path or hub id.
#
# 명령도 데이터입니다. 어떤 프로그램, 어떤 모델, 어떤 옵션인지 적습니다. `--host 127.0.0.1`은 서버를 이
# 컴퓨터 안에서만 보이게 하고, `--dtype`은 노트북과 똑같은 정밀도로 가중치를 불러옵니다(3절에서 이유를
# 봅니다). 명령줄에 모델을 적었으므로 서버는 그 모델에 *고정*되고, 요청의 모델 id는 이 폴더 경로(또는 허브
# id) 그대로입니다.

# %%
plan = serving.ServerPlan("transformers", source, serving.precision_options(choice))
port = serving.free_port()
print(serving.show_command(plan.command(port)))

# %% [markdown]
# `serving.start` runs that command, sends its output to a log file and polls `GET /health` until
# it answers (or gives up after a timeout and shows the end of the log). The server stays up for
# the next cells; it is stopped at the end, and if the notebook dies first an `atexit` hook (and,
# on Linux, a signal from the kernel) stops it.
#
# `serving.start`는 이 명령을 실행해 출력을 로그 파일로 보내고, `GET /health`가 답할 때까지 묻습니다(시간을
# 넘기면 포기하고 로그 끝부분을 보여 줍니다). 서버는 다음 셀들을 위해 계속 켜 두고 마지막에 끕니다. 노트북이
# 먼저 죽으면 `atexit` 훅(리눅스에서는 커널이 보내는 신호도)이 서버를 끕니다.

# %%
import json
import urllib.request

server = serving.start(plan, port=port)
with urllib.request.urlopen(server.url + "/health", timeout=5) as answer:
    health = json.load(answer)
print(server, f"| healthy after {server.ready_after_s:.1f} s | /health says {health}")

# %% [markdown]
# **Check yourself.** The server process runs, listens on 127.0.0.1 only, and its health check
# says `ok`.
#
# **확인해 보기.** 서버 프로세스가 실행 중이고, 127.0.0.1에서만 듣고 있으며, 상태 확인이 `ok`라고 답합니다.

# %%
assert server.is_running and server.url.startswith("http://127.0.0.1:")
assert health == {"status": "ok"}, health
print("running on", server.url)

# %% [markdown]
# ## 2. Talk to it with the `openai` client · `openai` 클라이언트로 대화하기
#
# Any OpenAI-compatible app can now use Bllossom: it only needs the `base_url`. The key is not
# checked by this server, but the client wants one. Set a **timeout** and no retries: a client
# that waits forever on a dead server hangs a whole class. First, which models does it serve?
#
# 이제 OpenAI 호환 앱이라면 무엇이든 `base_url`만 바꿔 블로썸을 쓸 수 있습니다. 이 서버는 키를 검사하지
# 않지만 클라이언트에는 키가 필요합니다. **타임아웃**을 두고 재시도는 끕니다. 죽은 서버를 끝없이 기다리는
# 클라이언트는 반 전체를 멈춰 세웁니다. 먼저 어떤 모델을 서비스하는지 물어봅니다.

# %%
import openai
from openai import OpenAI

client = OpenAI(base_url=server.base_url, api_key="not-needed", timeout=60, max_retries=0)
model_ids = [m.id for m in client.models.list().data]
model_id = plan.model
print(model_ids)

# %% [markdown]
# A chat completion with the card's system prompt. `temperature=0` asks for greedy decoding
# (section 3 checks what the server really does with it); `max_tokens` caps the reply.
#
# 카드의 시스템 프롬프트로 채팅 완성(chat completion)을 요청합니다. `temperature=0`은 탐욕적 디코딩을
# 뜻합니다(서버가 실제로 어떻게 처리하는지는 3절에서 확인합니다). `max_tokens`는 답의 길이를 제한합니다.

# %%
messages = chat.card_messages(choice, "블로썸은 어떤 모델이야?")
response = client.chat.completions.create(model=model_id, messages=messages, temperature=0, max_tokens=48)
reply = response.choices[0].message.content
print(reply)
print(response.usage)

# %% [markdown]
# With `stream=True` the reply arrives piece by piece, as server-sent events; we print each piece
# as soon as it comes.
#
# `stream=True`로 요청하면 답이 서버 전송 이벤트(SSE)로 조각조각 도착합니다. 조각이 오는 대로 출력합니다.

# %%
pieces = []
stream = client.chat.completions.create(model=model_id, messages=messages, temperature=0, max_tokens=48,
                                        stream=True)
for chunk in stream:
    piece = chunk.choices[0].delta.content if chunk.choices else None
    if piece:
        pieces.append(piece)
        print(piece, end="", flush=True)
print(f"\n({len(pieces)} pieces)")

# %% [markdown]
# The server remembers nothing between requests: a multi-turn chat sends the whole history every
# time, the assistant's earlier reply included.
#
# 서버는 요청 사이에 아무것도 기억하지 않습니다. 여러 차례 대화에서는 앞선 assistant의 답을 포함한 기록
# 전체를 매번 보냅니다.

# %%
history = messages + [{"role": "assistant", "content": reply},
                      {"role": "user", "content": "누가 만들었어?"}]
second = client.chat.completions.create(model=model_id, messages=history, temperature=0, max_tokens=48)
print(second.choices[0].message.content)
print("prompt tokens: first turn", response.usage.prompt_tokens, "| second turn", second.usage.prompt_tokens)

# %% [markdown]
# **Check yourself.** The model list names the model we serve; the streamed reply is the same
# text as the one-piece reply; the second turn's prompt is longer because it carries the history.
#
# **확인해 보기.** 모델 목록에 서비스 중인 모델이 있고, 스트리밍한 답은 한 번에 받은 답과 같은 글이며, 둘째
# 차례의 프롬프트는 기록을 싣고 가므로 더 깁니다.

# %%
assert model_id in model_ids, (model_id, model_ids)
assert "".join(pieces) == reply and reply.strip()
assert second.usage.prompt_tokens > response.usage.prompt_tokens + response.usage.completion_tokens
print("model listed; streamed == whole; the history travels with every turn")

# %% [markdown]
# ## 3. Is the server's greedy reply `generate`'s? · 서버의 탐욕적 답은 `generate`와 같을까?
#
# The server logged a warning for `temperature=0`. Here are the log lines: it says the flags are
# "not valid and may be ignored". So what did it decode with? In transformers' server code
# (`transformers/cli/serving/utils.py`, `_build_generation_config`) the request starts from a copy
# of the model's `generation_config` and `if float(body["temperature"]) == 0.0:
# generation_config.do_sample = False`: greedy. The warning only says that `temperature` and the
# config's `top_p` mean nothing without sampling.
#
# 서버가 `temperature=0`에 경고를 남겼습니다. 아래 로그 줄은 플래그가 "유효하지 않아 무시될 수 있다"고
# 말합니다. 그럼 실제로는 어떻게 디코딩했을까요? transformers 서버 코드(`transformers/cli/serving/utils.py`의
# `_build_generation_config`)는 모델의 `generation_config`를 복사한 뒤 `temperature`가 0이면
# `do_sample = False`로 바꿉니다. 즉 탐욕적 디코딩입니다. 경고는 샘플링이 없으면 `temperature`와 설정의
# `top_p`가 쓸모없다는 뜻일 뿐입니다.

# %%
for line in server.log_lines("generation flags")[:1]:
    print(line)

# %% [markdown]
# Claims like this are checked, not trusted: for the same messages, the server's greedy reply and
# local greedy `generate` (`do_sample=False`, same number of new tokens) should agree token for
# token. We compare the text and the number of new tokens for three questions.
#
# 이런 주장은 믿지 말고 확인합니다. 같은 메시지에 대해 서버의 탐욕적 답과 로컬 `generate`의 탐욕적 답
# (`do_sample=False`, 같은 새 토큰 수)은 토큰 하나까지 같아야 합니다. 세 질문으로 글과 새 토큰 수를 비교합니다.

# %%
from helpers.offline.tiny_chat_model import load_corpus

questions = [pair["question"] for pair in load_corpus()][:16]  # the class's questions, Korean and English
NEW_TOKENS = 24

def server_greedy(question):
    answer = client.chat.completions.create(model=model_id, messages=chat.card_messages(choice, question),
                                            temperature=0, max_tokens=NEW_TOKENS)
    return answer.choices[0].message.content, answer.usage.completion_tokens

def local_greedy(question):
    inputs = tokenizer.apply_chat_template(chat.card_messages(choice, question), add_generation_prompt=True,
                                           return_dict=True, return_tensors="pt").to(model.device)
    output = model.generate(**inputs, do_sample=False, max_new_tokens=NEW_TOKENS)
    new_ids = output[0, inputs["input_ids"].shape[-1]:]
    return tokenizer.decode(new_ids, skip_special_tokens=True), len(new_ids)

compared = [(question, server_greedy(question), local_greedy(question)) for question in questions[:3]]
helpers.show_table([{"question": q[:30], "server": s[0][:40], "server tokens": s[1], "local tokens": g[1],
                     "same": s == g} for q, s, g in compared])

# %% [markdown]
# Why `--dtype` is on the command line: without it the server loads the weights in the dtype
# saved in `config.json` ("auto"), while the notebook loaded them as `pick_model` chose. Two
# dtypes round differently, and a greedy reply follows the largest logit, so a near tie can go
# the other way and the replies part from there. Here are the two dtypes on this machine:
#
# 명령줄에 `--dtype`을 적은 이유: 적지 않으면 서버는 `config.json`에 저장된 dtype("auto")으로 가중치를
# 불러오는데, 노트북은 `pick_model`이 고른 dtype으로 불러왔습니다. dtype이 다르면 반올림이 달라지고, 탐욕적
# 디코딩은 가장 큰 로짓을 따르므로 거의 비긴 곳에서 다른 토큰이 나와 그때부터 답이 갈라질 수 있습니다. 이
# 컴퓨터의 두 dtype은 다음과 같습니다.

# %%
from transformers import AutoConfig

saved_dtype = str(AutoConfig.from_pretrained(source).dtype).removeprefix("torch.")
print("saved in config.json:", saved_dtype, "| notebook and server (--dtype):", choice.dtype)

# %% [markdown]
# **Check yourself.** For every question the server's greedy reply is the local greedy reply:
# same text, same number of new tokens. So `temperature=0` really is greedy on this server,
# warning or not.
#
# **확인해 보기.** 모든 질문에서 서버의 탐욕적 답이 로컬 탐욕적 답과 같습니다. 글도 새 토큰 수도 같습니다.
# 그러니 경고가 있든 없든 이 서버에서 `temperature=0`은 정말 탐욕적 디코딩입니다.

# %%
for question, by_server, by_generate in compared:
    assert by_server == by_generate, (question, by_server, by_generate)
print(f"{len(compared)} of {len(compared)} greedy replies equal token for token")

# %% [markdown]
# ## 4. Mistakes and faults · 실수와 고장
#
# A class makes every mistake at once. We try each one and keep what happened: the server's HTTP
# error where it gives a proper one, and a `TutorialError` from the client side where it does not.
# First a **wrong model name**: the server is pinned to one model and answers *400 Bad Request*
# with the reason.
#
# 한 반이 모이면 모든 실수가 한꺼번에 일어납니다. 하나씩 해 보고 결과를 모읍니다. 서버가 제대로 된 HTTP
# 오류를 주면 그것을, 그렇지 않으면 클라이언트 쪽에서 `TutorialError`를 냅니다. 먼저 **잘못된 모델 이름**:
# 서버는 한 모델에 고정되어 있으므로 이유와 함께 *400 Bad Request*로 답합니다.

# %%
faults = {}
try:
    client.chat.completions.create(model="Bllossom-9000", messages=messages, max_tokens=8)
except openai.APIStatusError as error:
    faults["unknown model"] = error
    print(error.status_code, error.body)

# %% [markdown]
# An **empty message list** gets no helpful answer from `transformers serve`: it fails inside
# and returns a bare *500 Internal Server Error*. So check before sending: `serving.check_request`
# refuses an empty or malformed chat with a message that says what to send instead.
#
# **빈 메시지 목록**에는 `transformers serve`가 도움이 되는 답을 주지 않습니다. 안에서 실패하고 설명 없는
# *500 Internal Server Error*만 돌려줍니다. 그래서 보내기 전에 확인합니다. `serving.check_request`는 비었거나
# 잘못된 대화를 거절하고 무엇을 보내야 하는지 알려 줍니다.

# %%
try:
    client.chat.completions.create(model=model_id, messages=[], max_tokens=8)
except openai.APIStatusError as error:
    faults["empty list, server"] = error
    print("server:", error.status_code, error.body)
try:
    serving.check_request(tokenizer, [], max_tokens=8, context_length=context_length)
except helpers.TutorialError as error:
    faults["empty list, client check"] = error
    print("check :", error)

# %% [markdown]
# A **prompt longer than the context window** is not refused by `transformers serve` either: it
# logs a "friendly reminder" and generates past the length the model was trained on, where
# answers fall apart (vLLM answers *400* instead). Counting the prompt's tokens with the model's
# own tokenizer catches it before anything is sent.
#
# **문맥 창보다 긴 프롬프트**도 `transformers serve`는 거절하지 않습니다. "friendly reminder" 경고만 남기고
# 모델이 학습한 길이를 넘어 생성하므로 답이 무너집니다(vLLM은 *400*으로 답합니다). 모델의 토크나이저로
# 프롬프트 토큰을 세면 보내기 전에 잡을 수 있습니다.

# %%
too_long = chat.card_messages(choice, "안녕 " * context_length)
try:
    serving.check_request(tokenizer, too_long, max_tokens=NEW_TOKENS, context_length=context_length)
except helpers.TutorialError as error:
    faults["prompt too long"] = error
    print(error)

# %% [markdown]
# A **port that is already taken** (by a server from an earlier run, say) is found before the
# server starts, instead of a crash buried in its log. We hold a port open ourselves to try it.
#
# **이미 쓰고 있는 포트**(예: 예전 실행에서 남은 서버)는 서버를 띄우기 전에 알아챕니다. 로그 속에 묻힌
# 충돌 메시지를 찾을 필요가 없습니다. 직접 포트 하나를 붙잡고 시험해 봅니다.

# %%
import socket

with socket.socket() as squatter:
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    try:
        serving.start(plan, port=squatter.getsockname()[1])
    except helpers.TutorialError as error:
        faults["port taken"] = error
        print(error)

# %% [markdown]
# A **server that never becomes healthy** must not hang the notebook. This stand-in "server"
# prints a line and sleeps without ever listening; after the timeout it is stopped and the end
# of its log is shown, which is where a real server writes why it failed.
#
# **끝내 준비되지 않는 서버** 때문에 노트북이 멈춰서는 안 됩니다. 아래의 가짜 "서버"는 한 줄을 출력하고
# 듣지 않은 채 잠만 잡니다. 시간이 다 되면 서버를 끄고 로그 끝부분을 보여 줍니다. 진짜 서버라면 실패한 이유가
# 바로 거기에 적혀 있습니다.

# %%
never_ready = [sys.executable, "-c", "import time; print('loading a very large model...', flush=True); time.sleep(60)"]
try:
    serving.start_server(never_ready, port=serving.free_port(), health_timeout_s=3)
except helpers.TutorialError as error:
    faults["never healthy"] = error
    print(error)

# %% [markdown]
# **Check yourself.** The server gave a proper HTTP error where it can (400 for the model name);
# every other mistake got a `TutorialError` that names the fix; and the stand-in that never got
# ready was stopped, leaving only our real server running.
#
# **확인해 보기.** 서버가 할 수 있는 곳에서는 제대로 된 HTTP 오류(모델 이름에 400)를 주었고, 나머지 실수에는
# 모두 고치는 법을 알려 주는 `TutorialError`가 났으며, 준비되지 않은 가짜 서버는 꺼져서 진짜 서버 하나만
# 남았습니다.

# %%
assert faults["unknown model"].status_code == 400 and "pinned" in str(faults["unknown model"].body)
assert faults["empty list, server"].status_code == 500
for name in ("empty list, client check", "prompt too long", "port taken", "never healthy"):
    assert isinstance(faults[name], helpers.TutorialError), name
assert "loading a very large model" in str(faults["never healthy"])
assert serving.running_servers() == [server]
print(len(faults), "faults, each with an HTTP error or a clear message; one server running")

# %% [markdown]
# ## 5. A class at once · 한 반이 동시에
#
# Each student is a thread that asks the server questions; `serving.run_class` runs N of them
# together, at most 64 and within a time limit, and notes each reply, its token count and how
# long it took. The 16 questions are split among the students: with 1 student they come one after
# another (our **sequential run**), with 16 students all at once. `ask` is the only client code.
#
# 학생 한 명은 서버에 질문하는 스레드 하나입니다. `serving.run_class`는 N명을 함께(최대 64명, 제한 시간 안에서)
# 실행하고 답, 토큰 수, 걸린 시간을 적습니다. 16개의 질문을 학생들이 나눠 묻습니다. 학생이 1명이면 차례로
# 묻고(**순차 실행**), 16명이면 모두 한꺼번에 묻습니다. 클라이언트 코드는 `ask` 하나뿐입니다.

# %%
from functools import partial


def ask(client, model_id, question_number):
    """One student's request; returns (reply, new tokens, why it stopped)."""
    answer = client.chat.completions.create(
        model=model_id, messages=chat.card_messages(choice, questions[question_number]),
        temperature=0, max_tokens=NEW_TOKENS)
    return answer.choices[0].message.content, answer.usage.completion_tokens, answer.choices[0].finish_reason

CLASS_SIZES = (1, 4, 16)

def measure_class(name, client, model_id):
    """Rows for the table, and every level's replies (level 1 is the sequential run)."""
    ask(client, model_id, 0)  # warm-up: the batching server sets itself up on its first request
    rows, replies = [], {}
    for students in CLASS_SIZES:
        replies[students], wall = serving.run_class(partial(ask, client, model_id), len(questions), students,
                                                    time_limit_s=240)
        rows.append(serving.class_row(name, students, replies[students], wall))
    return rows, replies

rows, replies = measure_class(plan.name, client, model_id)
helpers.show_table(rows)

# %% [markdown]
# What if the server dies in the middle of an answer? We ask for a long reply (a request may
# carry its own `generation_config`, here with no stop token and 2,000 new tokens), read the
# first piece, and kill the server as a crash would. The client raises an error at once: it
# neither hangs nor returns half an answer as if it were whole.
#
# 서버가 답하는 도중에 죽으면 어떻게 될까요? 긴 답을 요청하고(요청에 `generation_config`를 직접 실을 수
# 있습니다. 여기서는 종료 토큰 없이 새 토큰 2,000개), 첫 조각을 읽은 뒤 고장처럼 서버를 죽입니다.
# 클라이언트는 곧바로 오류를 냅니다. 멈춰 기다리지도, 반쪽 답을 완성된 답처럼 돌려주지도 않습니다.

# %%
import time

long_reply = client.chat.completions.create(
    model=model_id, messages=messages, stream=True,
    extra_body={"generation_config": json.dumps({"max_new_tokens": 2000, "do_sample": False})})
chunks = iter(long_reply)
next(chunks)
server.kill()
killed_at = time.perf_counter()
try:
    for _ in chunks:
        pass
except (openai.APIError, *serving.CONNECTION_ERRORS) as error:
    faults["killed mid-stream"] = error
    print(f"after {time.perf_counter() - killed_at:.2f} s:", type(error).__name__, error)
server.stop()

# %% [markdown]
# Now the same class against `transformers serve --continuous-batching`. Without it the server
# answers one request at a time and the others wait in line. With it, the server keeps one batch
# running and lets new requests join (and finished ones leave) after every step, with a paged KV
# cache instead of one cache per request. Two things to know (transformers 5.24's server code):
# the cache is sized from free memory, which on a CPU means 90% of the machine's RAM, so
# `batching_options` gives it a fixed size there (`--cb-num-blocks`); and the batch shares one
# sampling setup, taken from the first request (each request keeps its own `max_tokens`).
#
# 이제 같은 반을 `transformers serve --continuous-batching`에 보냅니다. 이 옵션이 없으면 서버는 요청을 하나씩
# 처리하고 나머지는 줄을 서서 기다립니다. 옵션을 켜면 서버는 배치 하나를 계속 돌리면서 매 단계마다 새 요청을
# 끼워 넣고 끝난 요청을 내보내며, 요청마다 캐시를 따로 두는 대신 페이지 단위 KV 캐시를 씁니다. 알아 둘 점
# 두 가지(transformers 5.24 서버 코드): 캐시 크기는 남은 메모리로 정하는데 CPU에서는 컴퓨터 RAM의 90%가 되므로
# `batching_options`가 CPU에서는 크기를 고정합니다(`--cb-num-blocks`). 그리고 배치 전체가 첫 요청의 샘플링
# 설정 하나를 함께 씁니다(`max_tokens`는 요청마다 따로 지킵니다).

# %%
batching_plan = serving.ServerPlan("transformers", source,
                                   (*serving.precision_options(choice), *serving.batching_options(choice)))
batching_server = serving.start(batching_plan)
print(serving.show_command(batching_server.command))
batching_client = OpenAI(base_url=batching_server.base_url, api_key="not-needed", timeout=60, max_retries=0)
batching_rows, batching_replies = measure_class(batching_plan.name, batching_client, model_id)
helpers.show_table(rows + batching_rows)

# %% [markdown]
# The same numbers as a picture: throughput (new tokens a second, all students together) and
# how long one reply takes, median and 95th percentile.
#
# 같은 숫자를 그림으로 봅니다. 처리량(모든 학생을 합친 초당 새 토큰 수)과 답 하나에 걸린 시간의 중앙값과
# 95번째 백분위수입니다.

# %%
serving.plot_class(rows + batching_rows);

# %% [markdown]
# **Check yourself.** Every student got a complete reply, and each reply is exactly the one the
# sequential run got for the same question, on both servers: none lost, none mixed up. The dead
# server made the client raise an error. (Speed is printed, not asserted: it depends on the
# machine and its load; `benchmarks/serving_throughput.py` measures it with more runs.)
#
# **확인해 보기.** 두 서버 모두에서 모든 학생이 완성된 답을 받았고, 각 답은 순차 실행에서 같은 질문에 나온 답과
# 정확히 같습니다. 잃어버린 답도, 뒤섞인 답도 없습니다. 죽은 서버에 대해서는 클라이언트가 오류를 냈습니다.
# (속도는 컴퓨터와 부하에 따라 바뀌므로 검사하지 않고 출력만 합니다. `benchmarks/serving_throughput.py`가 더
# 여러 번 잽니다.)

# %%
for name, levels in {plan.name: replies, batching_plan.name: batching_replies}.items():
    sequential = [reply.text for reply in levels[1]]
    for students, answers in levels.items():
        assert all(reply.complete for reply in answers), (name, students, [r.error for r in answers])
        assert len(answers) == len(questions) and serving.mixed_up(answers, sequential) == [], (name, students)
assert "killed mid-stream" in faults and not server.is_running
speedup = batching_rows[-1]["tokens/s"] / rows[-1]["tokens/s"]
print(f"all {len(questions)} replies complete and unmixed at {CLASS_SIZES} students on both servers; "
      f"continuous batching at 16 students: {speedup:.1f}x the throughput")

# %% [markdown]
# ## 6. When one machine is not enough: vLLM · 컴퓨터 한 대로 모자랄 때: vLLM
#
# `transformers serve` is the easy start. For a real class on a real GPU the field's answer is
# [vLLM](https://docs.vllm.ai): continuous batching with a paged KV cache built for speed, and the
# same OpenAI API, so `ask` above works unchanged. When the model does not fit one GPU, vLLM splits
# it: **tensor parallelism** (`--tensor-parallel-size`) cuts every layer's matrices across the GPUs
# of one machine; **pipeline parallelism** (`--pipeline-parallel-size`) gives each machine a slice
# of the layers, with Ray joining the machines (`ray start --head` on the first,
# `ray start --address=FIRST_MACHINE:6379` on the others, then `vllm serve` on the first). These
# are the commands for the 8B on one GPU, the 70B on four GPUs, and the 70B on two machines of four:
#
# `transformers serve`는 시작하기 쉬운 서버입니다. 실제 GPU로 실제 수업을 하려면 보통 [vLLM](https://docs.vllm.ai)을
# 씁니다. 속도에 맞춰 만든 연속 배칭과 페이지 KV 캐시를 갖췄고 API도 OpenAI와 같아서 위의 `ask`를 그대로 쓸 수
# 있습니다. 모델이 GPU 하나에 들어가지 않으면 vLLM이 나눠 싣습니다. **텐서 병렬화**(`--tensor-parallel-size`)는
# 한 컴퓨터의 여러 GPU에 각 층의 행렬을 쪼개 싣고, **파이프라인 병렬화**(`--pipeline-parallel-size`)는 컴퓨터마다
# 층을 몇 개씩 맡깁니다. 컴퓨터들은 Ray로 묶습니다(첫 컴퓨터에서 `ray start --head`, 나머지에서
# `ray start --address=첫컴퓨터:6379`, 그다음 첫 컴퓨터에서 `vllm serve`). 아래는 8B를 GPU 하나에, 70B를 GPU 네 개에,
# 70B를 GPU 네 개짜리 컴퓨터 두 대에 싣는 명령입니다.

# %%
vllm_examples = {
    "8B, one GPU": serving.vllm_plan("8b"),
    "70B, one machine with 4 GPUs": serving.vllm_plan("70b", tensor_parallel=4),
    "70B, 2 machines x 4 GPUs (Ray)": serving.vllm_plan("70b", tensor_parallel=4, pipeline_parallel=2),
}
for label, example in vllm_examples.items():
    print(f"# {label}\n{serving.show_command(example.command(8000))}\n")

# %% [markdown]
# How many GPUs? Two things fill their memory. The **weights**: 2 bytes a parameter in bf16, split
# evenly under tensor parallelism. The **KV cache**: every token a user has in the conversation
# keeps a key and a value vector in every layer for every KV head,
# 2 × layers × KV heads × head size × 2 bytes per token. Llama-3 shares 8 KV heads among its query
# heads (grouped-query attention), which keeps this small. We check that formula on the model in
# this notebook first: one forward pass, then the bytes its cache really holds.
#
# GPU가 몇 개 필요할까요? 메모리를 채우는 것은 두 가지입니다. **가중치**는 bf16에서 파라미터당 2바이트이고
# 텐서 병렬화로 고르게 나뉩니다. **KV 캐시**는 대화 속 토큰마다 모든 층, 모든 KV 헤드에 키 벡터와 값 벡터를 하나씩
# 저장하므로 토큰당 2 × 층 수 × KV 헤드 수 × 헤드 크기 × 2바이트입니다. Llama-3는 쿼리 헤드들이 KV 헤드 8개를
# 나눠 쓰므로(grouped-query attention) 이 값이 작습니다. 먼저 이 노트북의 모델로 공식을 확인합니다. 한 번 계산한
# 뒤 캐시에 실제로 들어 있는 바이트를 셉니다.

# %%
import torch

config = model.config
inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,
                                       return_tensors="pt").to(model.device)
with torch.no_grad():
    cache = model(**inputs, use_cache=True).past_key_values
measured_bytes = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))
head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
formula_bytes = serving.kv_cache_bytes(config.num_hidden_layers, config.num_key_value_heads, head_dim,
                                       tokens=inputs["input_ids"].shape[-1],
                                       bytes_per_value=torch.finfo(model.dtype).bits // 8)
print(f"{inputs['input_ids'].shape[-1]} tokens: cache holds {measured_bytes:,} bytes, formula says {formula_bytes:,.0f}")

# %% [markdown]
# The plan for the 8B and the 70B at the full 8,192-token context, on 80 GB GPUs (A100 80GB,
# H100), in bf16, with vLLM's default of 90% of each GPU's memory. The layer and head counts come
# from the catalog (from the models' `config.json`). It ignores activations and CUDA graphs, so it
# is an upper bound on the users.
#
# 8B와 70B를 전체 문맥 8,192 토큰으로, 80 GB GPU(A100 80GB, H100)에 bf16으로 올리고, vLLM 기본값대로 GPU
# 메모리의 90%를 쓰는 계획입니다. 층 수와 헤드 수는 카탈로그(모델의 `config.json`)에서 옵니다. 활성값과 CUDA
# 그래프는 빼고 계산하므로 사용자 수의 상한입니다.

# %%
plan_rows = serving.memory_plan(("8b", "70b"), gpu_counts=(1, 2, 4, 8), gpu_gb=80.0, tokens=8192)
helpers.show_table(plan_rows)

# %% [markdown]
# **Check yourself.** The formula gives exactly the bytes the cache holds. In the plan, the 8B
# fits one GPU and its KV cache per user at 8,192 tokens is about a gigabyte; the 70B does not fit
# one 80 GB GPU and fits two; and more GPUs always leave room for more users.
#
# **확인해 보기.** 공식은 캐시가 실제로 담은 바이트와 정확히 같습니다. 계획표에서 8B는 GPU 하나에 들어가고 8,192
# 토큰 사용자 한 명의 KV 캐시는 약 1기가바이트입니다. 70B는 80 GB GPU 하나에는 들어가지 않고 두 개에는
# 들어갑니다. GPU가 늘면 언제나 더 많은 사용자를 받을 수 있습니다.

# %%
assert measured_bytes == formula_bytes, (measured_bytes, formula_bytes)
fits = {(row["model"], row["GPUs"]): row for row in plan_rows}
assert fits["8b", 1]["fits"] and 1.0 < serving.kv_cache_gb_per_user("8b") < 1.1
assert not fits["70b", 1]["fits"] and fits["70b", 2]["fits"]
for name in ("8b", "70b"):
    users = [fits[name, gpus]["users at 8192 tokens"] for gpus in (1, 2, 4, 8)]
    assert users == sorted(users) and users[-1] > users[0], (name, users)
print("cache formula exact; 70B needs 2+ GPUs of 80 GB; users grow with GPUs")

# %% [markdown]
# Now the real thing, as far as this machine allows. `scale_out_plan` picks `vllm serve` when a
# CUDA GPU and vLLM are here, and otherwise the best local server (`transformers serve
# --continuous-batching`); it says which and why. The choice is data, and everything after it is
# the same code for both: the same `ask`, the same class, the same checks. First the notebook lets
# go of its own copy of the model: on a GPU, vLLM claims most of the memory for itself.
# (For students on other machines a server must listen on the network, `--host 0.0.0.0`, and then
# needs a key, `--api-key`; this notebook stays on 127.0.0.1.)
#
# 이제 이 컴퓨터가 허락하는 만큼 실제로 해 봅니다. `scale_out_plan`은 CUDA GPU와 vLLM이 있으면 `vllm serve`를,
# 없으면 가장 나은 로컬 서버(`transformers serve --continuous-batching`)를 고르고 무엇을 왜 골랐는지 말합니다.
# 선택은 데이터이고, 그다음은 둘 다 같은 코드입니다. 같은 `ask`, 같은 반, 같은 검사입니다. 먼저 노트북이
# 들고 있던 모델을 놓아 줍니다. GPU에서는 vLLM이 메모리 대부분을 차지하기 때문입니다. (다른 컴퓨터의 학생들이
# 쓰려면 서버가 네트워크에서 들어야 하고(`--host 0.0.0.0`) 그러면 키(`--api-key`)도 필요합니다. 이 노트북은
# 127.0.0.1에 머뭅니다.)

# %%
import gc

model = cache = None  # let go of the notebook's copy: the server needs the GPU's memory more
gc.collect()
torch.cuda.empty_cache()  # does nothing without CUDA
scale_plan = serving.scale_out_plan(choice, source, context_length)
print(scale_plan.reason)
big_server = serving.start(scale_plan, instead_of=batching_server)  # reuses it if it is the same plan
print(big_server, "|", serving.show_command(big_server.command))

# %% [markdown]
# The same client code, pointed at the new address: a sequential run, then the whole class at once.
#
# 같은 클라이언트 코드를 새 주소로 돌립니다. 먼저 순차 실행, 그다음 반 전체를 한꺼번에 보냅니다.

# %%
big_client = OpenAI(base_url=big_server.base_url, api_key="not-needed", timeout=60, max_retries=0)
big_sequential, _ = serving.run_class(partial(ask, big_client, scale_plan.model), len(questions), 1)
big_class, big_wall = serving.run_class(partial(ask, big_client, scale_plan.model), len(questions), 16)
helpers.show_table([serving.class_row(scale_plan.name, 16, big_class, big_wall)])

# %% [markdown]
# **Check yourself.** On whichever server the plan chose, all 16 students got complete replies,
# each the same as that server's sequential reply to their question.
#
# **확인해 보기.** 계획이 어느 서버를 골랐든 학생 16명 모두 완성된 답을 받았고, 각 답은 그 서버가 순차 실행에서
# 같은 질문에 준 답과 같습니다.

# %%
assert all(reply.complete for reply in big_class + big_sequential)
assert serving.mixed_up(big_class, [reply.text for reply in big_sequential]) == []
print(f"{scale_plan.name}: 16 of 16 complete, none mixed up")

# %% [markdown]
# ## 7. Stop everything · 모두 끄기
#
# A server left running holds the port and, on a GPU, all of its memory. `stop_all` stops every
# server this notebook started (the same hook runs by itself when the kernel exits).
#
# 켜 둔 채 잊은 서버는 포트를 붙잡고, GPU에서는 메모리를 모두 차지합니다. `stop_all`은 이 노트북이 띄운 서버를
# 모두 끕니다(커널이 끝날 때도 같은 훅이 저절로 실행됩니다).

# %%
started = [server, batching_server, big_server]
serving.stop_all()
print([repr(s) for s in started])

# %% [markdown]
# **Check yourself.** No server of ours is left, and every process we started has exited.
#
# **확인해 보기.** 우리가 띄운 서버는 하나도 남지 않았고, 시작한 프로세스는 모두 끝났습니다.

# %%
assert serving.running_servers() == []
assert all(s.process.poll() is not None for s in started)
print("no server left behind")

# %% [markdown]
# ## 8. Summary and troubleshooting · 정리와 문제 해결
#
# One command turns Bllossom into a server every OpenAI-compatible app can use; continuous
# batching lets a class share it; vLLM takes over when one GPU is not enough.
#
# 명령 하나로 블로썸이 OpenAI 호환 앱이라면 무엇이든 쓸 수 있는 서버가 됩니다. 연속 배칭으로 한 반이 함께 쓰고,
# GPU 하나로 모자라면 vLLM이 이어받습니다.
#
# | Symptom · 증상 | Cause and fix · 원인과 해결 |
# |---|---|
# | `400 ... Server is pinned to ...` | The request names another model: use the model id from `client.models.list()`. 요청의 모델 이름을 모델 목록의 id로 바꾸세요. |
# | `500 Internal Server Error` | `transformers serve` failed inside, e.g. on an empty message list: check requests before sending (`serving.check_request`). 빈 대화 등 잘못된 요청입니다. 보내기 전에 확인하세요. |
# | Garbage after a long chat · 긴 대화 뒤 엉뚱한 답 | The prompt ran past the context window and `transformers serve` did not refuse it: count tokens first, drop old turns. 문맥 창을 넘었습니다. 토큰을 세고 오래된 차례를 지우세요. |
# | `Port ... is already taken` | A server from an earlier run still holds it: restart that kernel, or let `free_port()` pick one. 예전 서버가 포트를 쓰고 있습니다. |
# | Server never healthy · 서버가 준비되지 않음 | Read the log tail in the error: missing model, out of memory, wrong flag. A big model may need a longer `health_timeout_s`. 오류 속 로그 끝부분을 읽으세요. |
# | Client hangs · 클라이언트가 멈춤 | Set `timeout=` (and `max_retries=0` in a class) on `OpenAI(...)`. 클라이언트에 타임아웃을 두세요. |
# | Server and `generate` disagree at temperature 0 · 서버와 `generate`의 답이 다름 | Different dtypes: start the server with `--dtype` as the notebook loads the model. dtype이 다릅니다. `--dtype`을 맞추세요. |

# %% [markdown]
# ## Exercises · 연습 문제
#
# Each task has a cell for your answer (in the student copy it holds `...`) and a check cell that
# runs your answer and replies: correct, or a hint that points at the idea. They need no running
# server. Easy first.
#
# 문제마다 답을 쓰는 셀(학생용 사본에는 `...`가 들어 있습니다)과, 답을 실행해 보고 정답인지 알려 주거나
# 생각할 방향을 힌트로 주는 확인 셀이 있습니다. 실행 중인 서버는 필요 없습니다. 쉬운 문제부터 시작합니다.

# %%
from helpers.lessons import exercises

# %% [markdown]
# **1.** How many bytes of KV cache does one token cost Bllossom-8B in bf16? The catalog has its
# `layers`, `kv_heads` and `head_dim`.
#
# **1.** 블로썸-8B가 bf16에서 토큰 하나에 쓰는 KV 캐시는 몇 바이트일까요? 카탈로그에 `layers`, `kv_heads`,
# `head_dim`이 있습니다.

# %% tags=["solution"]
# Exercise 1 · 문제 1
eight_b = helpers.CATALOG["8b"]
bytes_per_token = 2 * eight_b.layers * eight_b.kv_heads * eight_b.head_dim * 2  # keys and values, 2 bytes each

# %%
# Check · 확인
exercises.check_kv_bytes_per_token(bytes_per_token, "8b")

# %% [markdown]
# **2.** An 80 GB GPU holds the 8B's weights (about 16 GB) and leaves about 56 GB for the cache after
# activations and headroom. How many students, each with a full 8,192-token conversation, fit?
#
# **2.** 80 GB GPU에 8B 가중치(약 16 GB)를 올리고 활성값과 여유분을 빼면 캐시에 약 56 GB가 남습니다.
# 8,192토큰 대화를 꽉 채운 학생이 몇 명 들어갈까요?

# %% tags=["solution"]
# Exercise 2 · 문제 2
students_that_fit = int(56e9 // (bytes_per_token * 8192))

# %%
# Check · 확인
exercises.check_users_that_fit(students_that_fit, 56, "8b", 8192)

# %% [markdown]
# **3.** (Stretch) Write the `vllm serve` command that serves Bllossom-70B on one machine with four
# GPUs, listening on 127.0.0.1 only.
#
# **3.** (도전) GPU 네 개가 있는 컴퓨터 한 대에서 블로썸-70B를 127.0.0.1에서만 서비스하는 `vllm serve`
# 명령을 쓰세요.

# %% tags=["solution"]
# Exercise 3 · 문제 3
vllm_command = f"vllm serve {helpers.CATALOG['70b'].hub_id} --tensor-parallel-size 4 --host 127.0.0.1"

# %%
# Check · 확인
exercises.check_vllm_command(vllm_command, helpers.CATALOG["70b"].hub_id, 4)
