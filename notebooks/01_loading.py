# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Loading Bllossom · 블로썸 불러오기
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bllossom-tutorials/bllossom-notebooks/blob/main/notebooks/01_loading.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/bllossom-tutorials/bllossom-notebooks/blob/main/notebooks/01_loading.ipynb)
#
# **What you will learn**
# - what the Bllossom family is: its models, languages and licenses;
# - how the hardware decides the model and the number format (bf16, fp16, 4-bit), and how to change it;
# - how to load a tokenizer and a model with `AutoTokenizer` and `AutoModelForCausalLM`;
# - how to read a model's config, count its parameters and predict its memory;
# - what the Llama-3 chat template turns a conversation into, and how to get a first answer.
#
# **배울 내용**
# - 블로썸(Bllossom) 모델 가족: 어떤 모델이 있고, 어떤 언어를 다루며, 라이선스는 무엇인지
# - 하드웨어에 따라 모델과 숫자 형식(bf16, fp16, 4비트)을 고르는 방법과 그 선택을 바꾸는 방법
# - `AutoTokenizer`와 `AutoModelForCausalLM`으로 토크나이저와 모델을 불러오는 방법
# - 모델 설정(config)을 읽고, 파라미터 수를 세고, 메모리 사용량을 예측하는 방법
# - Llama-3 채팅 템플릿이 대화를 어떤 문자열로 바꾸는지, 그리고 첫 답변을 받는 방법
#
# **Hardware · 하드웨어**: any machine. On a CPU (or offline) the notebook uses *Bllossom-tiny*,
# a small stand-in trained on this machine; on a GPU it loads the real Bllossom (free Colab T4: the
# 3B, or the 8B in 4-bit; 24 GB or more: the 8B in bf16). Measured: the whole notebook ran in about 90 s on a 2-core CPU shared with other jobs (this
# project's CI machine, `python -m helpers.run_notebooks 01`), with Bllossom-tiny already built.
# Apple Silicon Macs run the real model on their GPU through MPS in fp16 (16 GB: the 3B; 32 GB or more: the 8B),
# and Kaggle's two free T4s hold the 8B in fp16 together.
# 어떤 컴퓨터에서도 실행됩니다. CPU(또는 오프라인)에서는 이 컴퓨터에서 직접 학습한 작은 대체 모델
# *Bllossom-tiny*를, GPU에서는 실제 블로썸을 불러옵니다 (무료 Colab T4: 3B 또는 4비트 8B, 24 GB 이상: bf16 8B).
# 측정값: 다른 작업과 함께 쓰는 2코어 CPU(이 프로젝트의 CI 컴퓨터, `python -m helpers.run_notebooks 01`)에서 Bllossom-tiny를 이미
# 만들어 둔 상태로 노트북 전체가 약 90초 걸렸습니다.
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
# ## 1. The Bllossom family · 블로썸 모델 가족
#
# Bllossom is a Korean-English bilingual family built on Meta's Llama-3 by Seoultech's MLP lab
# (서울과학기술대학교 MLP연구실). It strengthens Korean by linking Korean and English knowledge.
# The catalog below is what the lessons use instead of typing ids by hand; `tiny` is this
# tutorial's offline stand-in, not a Bllossom release.
#
# 블로썸은 서울과학기술대학교 MLP연구실이 Meta의 Llama-3를 바탕으로 만든 한국어-영어 이중 언어 모델
# 가족입니다. 한국어와 영어 지식을 연결해 한국어 능력을 높였습니다. 아래 카탈로그는 레슨에서 모델 id를
# 직접 입력하는 대신 사용하는 목록입니다. `tiny`는 블로썸 공개 모델이 아니라 이 튜토리얼의 오프라인
# 대체 모델입니다.

# %%
helpers.show_table(helpers.catalog_table())

# %% [markdown]
# ## 2. Hardware decides the model · 하드웨어가 모델을 정합니다
#
# Weights take two bytes per parameter in bf16 or fp16, so the 8B needs about 16 GB before it has
# generated a single token. bf16 keeps float32's range and is the safer format, but only GPUs of
# compute capability 8 or more (A100, L4, H100) compute it natively; a T4 (7.5) gets fp16. A CPU
# gets float32: it holds the bf16 weights without rounding them, and on the project's test CPU it
# generated with Bllossom-tiny no slower than bf16 or fp16 (`benchmarks/cpu_dtype.py` measures
# yours). `pick_model` reads this machine and says what it chose and why.
# An Apple GPU (MPS) gets fp16: every Apple GPU computes it natively, bf16 there needs macOS 14 or
# later, and bitsandbytes' 4-bit does not run on MPS.
#
# bf16과 fp16에서는 파라미터 하나가 2바이트이므로 8B 모델은 가중치만으로 약 16 GB가 필요합니다. bf16은
# float32와 같은 범위를 가져 더 안전하지만, 연산 능력(compute capability) 8 이상인 GPU(A100, L4, H100)만
# 직접 계산합니다. T4(7.5)에서는 fp16을, CPU에서는 float32를 씁니다. float32는 bf16 가중치를 반올림 없이 그대로
# 담고, 이 프로젝트의 테스트용 CPU에서 Bllossom-tiny로 생성할 때 bf16이나 fp16보다 느리지 않았습니다
# (`benchmarks/cpu_dtype.py`로 여러분의 컴퓨터에서 재 볼 수 있습니다). `pick_model`은 이 컴퓨터를 살펴보고 무엇을
# 왜 골랐는지 알려 줍니다.
# Apple GPU(MPS)는 fp16을 씁니다. 모든 Apple GPU가 fp16을 직접 계산하고, MPS의 bf16은 macOS 14 이상이 필요하며,
# bitsandbytes의 4비트는 MPS에서 돌지 않습니다.

# %%
choice = helpers.pick_model()

# %% [markdown]
# The decision is a plain function of the hardware facts, so we can ask what it *would* choose on
# machines we do not have: a free Colab T4, Kaggle's two T4s, an L4, A100s and an H100, MacBooks
# with Apple Silicon, a laptop CPU. Several GPUs add up (accelerate spreads the layers over them),
# and a Mac's GPU shares the unified memory, of which Metal lets it use about two thirds to three
# quarters. The largest model that fits with room to generate wins.
#
# 이 결정은 하드웨어 정보만으로 정해지는 함수이므로, 지금 없는 컴퓨터에서 무엇을 고를지도 물어볼 수
# 있습니다. 무료 Colab T4, Kaggle의 T4 두 개, L4, A100, H100, Apple Silicon MacBook, 노트북 컴퓨터의 CPU를 비교해
# 봅시다. GPU가 여러 개면 메모리를 합쳐 쓰고(accelerate가 층을 나눠 올립니다), Mac의 GPU는 통합 메모리를
# 나눠 쓰는데 Metal은 그중 약 3분의 2에서 4분의 3을 GPU에 허용합니다. 생성할 여유를 남기고 들어가는 가장
# 큰 모델이 선택됩니다.

# %%
machines = helpers.REFERENCE_MACHINES
what_if = {name: helpers.choose_model(machine) for name, machine in machines.items()}
what_if_vision = {name: helpers.choose_model(machine, kind="vision") for name, machine in machines.items()}
helpers.show_table([{"machine": name, "text lessons": f"{c.name}, {c.precision}, {c.where}",
                     "vision lessons": f"{what_if_vision[name].name}, {what_if_vision[name].precision}, "
                                       f"{what_if_vision[name].where}", "why (text)": c.reason}
                    for name, c in what_if.items()])

# %% [markdown]
# **Check yourself.** The T4 must not get bf16; two T4s hold the 8B in fp16 that one T4 cannot;
# two 80 GB GPUs hold the 70B in bf16 and one holds it only in 4-bit; a Mac gets fp16 on MPS and
# never 4-bit (bitsandbytes needs CUDA); a machine without a GPU gets the stand-in.
#
# **확인해 보기.** T4는 bf16을 받으면 안 되고, T4 하나로는 안 되는 fp16 8B를 T4 두 개는 담아야 합니다. 80 GB GPU
# 두 개는 bf16 70B를, 하나는 4비트 70B만 담습니다. Mac은 MPS에서 fp16을 쓰고 4비트는 쓰지 않으며(bitsandbytes는
# CUDA 전용), GPU가 없는 컴퓨터는 대체 모델을 받습니다.

# %%
assert what_if["Colab T4"].dtype == "float16" and what_if["Colab T4"].name == "3b"
assert what_if["Colab T4 + bitsandbytes"].load_in_4bit and what_if["Colab T4 + bitsandbytes"].name == "8b"
kaggle = what_if["Kaggle 2×T4"]
assert (kaggle.name, kaggle.dtype, kaggle.load_in_4bit, kaggle.gpu_count) == ("8b", "float16", False, 2)
assert (what_if["A100 40GB"].name, what_if["A100 40GB"].dtype) == ("8b", "bfloat16")
assert (what_if["2×A100 80GB"].name, what_if["2×A100 80GB"].dtype) == ("70b", "bfloat16")
assert what_if["H100 80GB + bitsandbytes"].name == "70b" and what_if["H100 80GB + bitsandbytes"].load_in_4bit
macs = [c for c in list(what_if.values()) + list(what_if_vision.values()) if c.device == "mps"]
assert macs and all(c.dtype == "float16" and not c.load_in_4bit for c in macs)
assert what_if["laptop CPU"].name == "tiny" and what_if["laptop CPU"].device == "cpu"
print(f"{len(what_if)} machines, text and vision: every choice matches the rules above.")

# %% [markdown]
# **Changing the choice.** Two environment variables, one per kind of lesson: `BLLOSSOM_MODEL`
# chooses the text model (`8b`, `3b`, `70b`, `8b:4bit`, a hub id or a folder) and
# `BLLOSSOM_VISION_MODEL` the vision model (`vision-8b`, `aica-5b`, `tiny-mllama`, ...). The words
# `tiny` and `offline` mean the stand-ins in *every* lesson, so `BLLOSSOM_MODEL=tiny` alone runs the
# whole course offline. A lesson ignores a `BLLOSSOM_MODEL` of the other kind, chooses from the
# hardware, and its one line says so; a choice this machine cannot run stops with a message that
# names what would. Here is what a T4 does with each.
#
# **선택 바꾸기.** 레슨 종류마다 환경 변수가 하나씩 있습니다. `BLLOSSOM_MODEL`은 텍스트 모델(`8b`, `3b`, `70b`,
# `8b:4bit`, 허브 id나 폴더)을, `BLLOSSOM_VISION_MODEL`은 비전 모델(`vision-8b`, `aica-5b`, `tiny-mllama` 등)을
# 고릅니다. `tiny`와 `offline`은 *모든* 레슨에서 대체 모델을 뜻하므로 `BLLOSSOM_MODEL=tiny` 하나로 전체 과정을
# 오프라인으로 실행할 수 있습니다. 다른 종류의 `BLLOSSOM_MODEL`은 무시하고 하드웨어로 고른 뒤 한 줄로 이유를
# 알려 주며, 이 컴퓨터에서 돌릴 수 없는 선택은 무엇이 돌아가는지 알려 주는 메시지와 함께 멈춥니다. T4에서 각각
# 어떻게 되는지 봅시다.

# %%
t4 = machines["Colab T4 + bitsandbytes"]
settings = [(None, None), ("3b", None), ("tiny", None), ("8b:4bit", None), ("aica-5b", None),
            ("3b", "tiny-mllama"), ("70b", None)]
override_rows = []
for model_var, vision_var in settings:
    row = {"BLLOSSOM_MODEL": model_var or "-", "BLLOSSOM_VISION_MODEL": vision_var or "-"}
    for kind in ("text", "vision"):
        try:
            row[f"{kind} lessons"] = helpers.choose_model(t4, model_var, kind, vision_var).name
        except helpers.TutorialError as error:
            row[f"{kind} lessons"] = f"stops: {error}"
    override_rows.append(row)
helpers.show_table(override_rows)

# %% [markdown]
# **Check yourself.** A text choice never breaks a vision lesson: every vision lesson above got a
# vision model, and the 70B on one T4 stopped with advice instead of running out of memory.
#
# **확인해 보기.** 텍스트 모델 선택은 비전 레슨을 망가뜨리지 않습니다. 위의 모든 비전 레슨은 비전 모델을 받았고,
# T4 하나에 70B를 고르면 메모리 부족 대신 조언과 함께 멈췄습니다.

# %%
vision_names = {name for name, entry in helpers.CATALOG.items() if entry.kind == "vision"}
assert all(row["vision lessons"] in vision_names for row in override_rows), override_rows
seventy = next(row for row in override_rows if row["BLLOSSOM_MODEL"] == "70b")
assert seventy["text lessons"].startswith("stops:") and "What runs here" in seventy["text lessons"]
print("Vision lessons always got a vision model; the 70B on a T4 says what runs instead.")

# %% [markdown]
# ## 3. Load the tokenizer and the model · 토크나이저와 모델 불러오기
#
# This is the code you would write in your own project: plain transformers, with the three values
# `pick_model` decided. `model_id` is a hub id such as `MLP-KTLim/llama-3-Korean-Bllossom-8B`, or,
# for Bllossom-tiny, a local folder that is trained on this machine the first time (about a minute).
# On a GPU with 24 GB or more the cell amounts to
# `AutoModelForCausalLM.from_pretrained("MLP-KTLim/llama-3-Korean-Bllossom-8B", dtype=torch.bfloat16, device_map="auto")`;
# on a T4 with `bitsandbytes` it adds a 4-bit `BitsAndBytesConfig`; on a CPU it reads the stand-in
# in float32. Weights load as safetensors only.
#
# 여러분의 프로젝트에서도 그대로 쓸 코드입니다. `pick_model`이 정한 세 값을 넣은 transformers 코드 그대로입니다.
# `model_id`는 `MLP-KTLim/llama-3-Korean-Bllossom-8B` 같은 허브 id이거나, Bllossom-tiny의 경우 처음 한 번 이
# 컴퓨터에서 학습해 만든 로컬 폴더입니다(약 1분). 24 GB 이상인 GPU에서는 이 셀이
# `AutoModelForCausalLM.from_pretrained("MLP-KTLim/llama-3-Korean-Bllossom-8B", dtype=torch.bfloat16, device_map="auto")`와
# 같고, `bitsandbytes`가 있는 T4에서는 4비트 `BitsAndBytesConfig`를 더하며, CPU에서는 대체 모델을 float32로
# 읽습니다. 가중치는 safetensors로만 읽습니다.

# %%
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

model_id = helpers.source_of(choice)  # a hub id such as "MLP-KTLim/llama-3-Korean-Bllossom-8B", or the stand-in's folder
dtype = getattr(torch, choice.dtype)  # bfloat16 (A100, L4, H100), float16 (T4) or float32 (CPU)
four_bit = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=dtype) if choice.load_in_4bit else None
with helpers.explained_load_errors(choice):  # turns hub, GPU and offline errors into advice
    tokenizer = AutoTokenizer.from_pretrained(model_id)
    model = AutoModelForCausalLM.from_pretrained(model_id, dtype=dtype, quantization_config=four_bit,
                                                 device_map="auto" if choice.device == "cuda" else None,
                                                 use_safetensors=True)
print(type(model).__name__, "on", model.device, "in", model.dtype)
print(helpers.about_model(choice))  # the real Bllossom writes new text; Bllossom-tiny only repeats its corpus

# %% [markdown]
# ## 4. Read the config · 설정 읽기
#
# The config says how big the model is: vocabulary, layers, attention heads (Llama-3 shares each
# key-value head among several query heads), the context length and RoPE's base frequency theta.
#
# 설정(config)은 모델의 크기를 알려 줍니다: 어휘 수, 층 수, 어텐션 헤드 수(Llama-3는 여러 쿼리 헤드가
# 키-값 헤드 하나를 나눠 씁니다), 문맥 길이, 그리고 RoPE의 기준 주파수 theta입니다.

# %%
config = model.config
config_rows = [
    {"field": "vocab_size", "value": config.vocab_size},
    {"field": "num_hidden_layers", "value": config.num_hidden_layers},
    {"field": "hidden_size", "value": config.hidden_size},
    {"field": "num_attention_heads", "value": config.num_attention_heads},
    {"field": "num_key_value_heads", "value": config.num_key_value_heads},
    {"field": "max_position_embeddings", "value": config.max_position_embeddings},
    {"field": "rope_theta", "value": config.rope_parameters["rope_theta"]},
]
helpers.show_table(config_rows)

# %% [markdown]
# **Check yourself.** Bllossom-8B and the stand-in share Llama-3's vocabulary of 128,256 tokens, so
# the same text becomes the same token ids in both. The cell writes out Llama-3's ids for an English
# and a Korean phrase; a tokenizer that splits them differently fails here, on a GPU or a CPU alike.
#
# **확인해 보기.** Bllossom-8B와 대체 모델은 Llama-3의 어휘 128,256개를 똑같이 쓰므로, 같은 글은 두 모델에서
# 같은 토큰 id가 됩니다. 셀에는 영어 구절과 한국어 구절의 Llama-3 id가 적혀 있어서, 다르게 나누는 토크나이저는
# GPU에서든 CPU에서든 여기서 실패합니다.

# %%
assert config.vocab_size == len(tokenizer) == 128256
assert tokenizer.convert_tokens_to_ids("<|eot_id|>") == 128009
llama3_ids = {"Hello world": [128000, 9906, 1917], "서울과학기술대학교": [128000, 115978, 54780, 111069, 102835, 113603]}
for text, ids in llama3_ids.items():
    assert tokenizer(text)["input_ids"] == ids, (text, tokenizer(text)["input_ids"])
print("vocabulary:", len(tokenizer), "tokens; <|eot_id|> is id", tokenizer.convert_tokens_to_ids("<|eot_id|>"),
      "; Llama-3's ids for", list(llama3_ids))

# %% [markdown]
# ## 5. Parameters and memory · 파라미터와 메모리
#
# Count the parameters, then compare two numbers: the memory we *predicted* from the config alone
# (parameters times bytes per parameter) and what the loaded model *reports* with
# `get_memory_footprint()`.
#
# 파라미터 수를 센 다음, 설정만으로 *예측한* 메모리(파라미터 수 × 파라미터당 바이트)와 불러온 모델이
# `get_memory_footprint()`로 *알려 주는* 값을 비교합니다.

# %%
parameters = sum(p.numel() for p in model.parameters())
precision = "4bit" if choice.load_in_4bit else choice.dtype
predicted_gb = helpers.estimate_model_memory_gb(config, precision)
measured_gb = model.get_memory_footprint() / 1e9
print(f"parameters       : {parameters:,} (config formula: {helpers.llama_parameter_count(config):,})")
print(f"predicted weights: {predicted_gb:.4f} GB in {precision}")
print(f"measured footprint: {measured_gb:.4f} GB")

# %% [markdown]
# **Check yourself.** The prediction should agree with the footprint within 5%.
#
# **확인해 보기.** 예측값과 실제 값의 차이가 5% 안이어야 합니다.

# %%
assert abs(predicted_gb - measured_gb) / measured_gb < 0.05, (predicted_gb, measured_gb)
print(f"prediction off by {100 * abs(predicted_gb - measured_gb) / measured_gb:.2f}%")

# %% [markdown]
# The same arithmetic for the real models tells you what fits where. The lines are the memory of
# one GPU and of several together; above the bar leave room to generate (20% of the weights, at
# most 8 GB, since the KV cache grows with a model's width and not its whole size) and about 1 GB
# per GPU for its CUDA context. The scale is logarithmic so the 3B and the 70B fit one picture.
#
# 같은 계산으로 실제 모델이 어느 GPU에 들어가는지 알 수 있습니다. 가로선은 GPU 하나, 그리고 여러 개를 합친
# 메모리입니다. 막대 위로 생성할 여유(가중치의 20%, 최대 8 GB: KV 캐시는 모델 전체 크기가 아니라 폭에 따라
# 커집니다)와 GPU마다 CUDA 실행 환경(CUDA context)용 약 1 GB를 남겨야 합니다. 3B와 70B를 한 그림에 담으려고 로그 눈금을 씁니다.

# %%
estimates = [{"model": name, "precision": precision_name,
              "GB": round(helpers.estimate_memory_gb(helpers.CATALOG[name], precision_name), 1)}
             for name in ("3b", "8b", "70b") for precision_name in ("bfloat16", "float16", "4bit")]
gpu_sets = {"T4": [15.8], "Kaggle 2×T4": [15.8, 15.8], "A100 40GB": [42.4], "H100 80GB": [85.0],
            "2×A100 80GB": [85.1, 85.1], "4×A100 80GB": [85.1] * 4}
helpers.show_table(estimates)
helpers.show_table([{"GPUs": name, "together GB": round(sum(sizes), 1),
                     **{f"{row['model']} {row['precision']}": "fits" if helpers.fits_across(row["GB"], sizes) else "-"
                        for row in estimates if row["precision"] != "float16"}}
                    for name, sizes in gpu_sets.items()])
helpers.plot_memory_estimates(estimates, {name: sum(sizes) for name, sizes in gpu_sets.items()}, log_scale=True);

# %% [markdown]
# **Check yourself.** The 8B in 16 bit does not fit a 15 GB T4 with room to generate, while the
# 8B in 4-bit and the 3B in fp16 do, and two T4s hold the 8B in fp16. The 70B in bf16 needs two
# 80 GB GPUs; in 4-bit one is enough.
#
# **확인해 보기.** 16비트 8B는 15 GB T4에 여유 있게 들어가지 않지만, 4비트 8B와 fp16 3B는 들어가고, T4 두 개는
# fp16 8B를 담습니다. bf16 70B는 80 GB GPU 두 개가 필요하고, 4비트라면 하나로 충분합니다.

# %%
gb = {(row["model"], row["precision"]): row["GB"] for row in estimates}
assert not helpers.fits_in(gb["8b", "float16"], 15.0)
assert helpers.fits_in(gb["8b", "4bit"], 15.0) and helpers.fits_in(gb["3b", "float16"], 15.0)
assert helpers.fits_across(gb["8b", "float16"], gpu_sets["Kaggle 2×T4"])
assert helpers.fits_across(gb["70b", "bfloat16"], gpu_sets["2×A100 80GB"])
assert not helpers.fits_across(gb["70b", "bfloat16"], gpu_sets["H100 80GB"])
assert helpers.fits_across(gb["70b", "4bit"], gpu_sets["H100 80GB"])
print(f"T4: 8B fp16 no, 8B 4-bit yes, 3B fp16 yes; two T4s: 8B fp16 yes; 70B bf16 ({gb['70b', 'bfloat16']} GB): "
      f"two 80 GB GPUs yes, one no; 70B 4-bit ({gb['70b', '4bit']} GB): one 80 GB GPU yes")

# %% [markdown]
# ## 6. The chat template · 채팅 템플릿
#
# A chat model reads one long string with special tokens that mark who speaks. The tokenizer's
# chat template builds it from a list of messages. Here are the model card's system prompt and
# its example question. `helpers.BLLOSSOM_SYSTEM_PROMPT` is the current 8B card's prompt, English
# then Korean: `You are a helpful AI assistant. Please answer the user's questions kindly. 당신은 유능한
# AI 어시스턴트 입니다. 사용자의 질문에 대해 친절하게 답변해주세요.` The card's older code, which the seed of
# this tutorial copied, used a different one, Korean first: `당신은 유용한 AI 어시스턴트입니다. 사용자의 질의에
# 대해 친절하고 정확하게 답변해야 합니다.` then `You are a helpful AI assistant, you'll need to answer users'
# queries in a friendly and accurate manner.` Bllossom-tiny was trained with the current one only.
#
# 채팅 모델은 누가 말하는지 특수 토큰으로 표시한 긴 문자열 하나를 읽습니다. 토크나이저의 채팅 템플릿이
# 메시지 목록으로 이 문자열을 만듭니다. 모델 카드의 시스템 프롬프트와 예시 질문을 넣어 봅시다.
# `helpers.BLLOSSOM_SYSTEM_PROMPT`는 지금의 8B 카드에 있는 프롬프트로, 영어 다음에 한국어가 옵니다. 이 튜토리얼의
# 처음 버전이 옮겨 온 카드의 옛 코드는 한국어가 먼저인 다른 프롬프트(`당신은 유용한 AI 어시스턴트입니다. 사용자의
# 질의에 대해 친절하고 정확하게 답변해야 합니다.`와 그 영어 문장)를 썼습니다. Bllossom-tiny는 지금의 프롬프트로만
# 학습했습니다.

# %%
messages = [
    {"role": "system", "content": helpers.BLLOSSOM_SYSTEM_PROMPT},
    {"role": "user", "content": "서울과학기술대학교 MLP연구실에 대해 소개해줘"},
]
prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
print(prompt)

# %% [markdown]
# **Check yourself.** The string starts with exactly one `<|begin_of_text|>`, every turn ends
# with `<|eot_id|>`, and it ends with the assistant's header so the model writes the reply next.
#
# **확인해 보기.** 문자열은 `<|begin_of_text|>` 하나로 시작하고, 각 차례는 `<|eot_id|>`로 끝나며, 마지막은
# assistant 머리말이어서 모델이 바로 이어서 답을 씁니다.

# %%
assert prompt.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n")
assert prompt.count("<|begin_of_text|>") == 1 and prompt.count("<|eot_id|>") == 2
assert prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
print("The prompt has the Llama-3 shape.")

# %% [markdown]
# ## 7. A first answer · 첫 답변
#
# `apply_chat_template(..., return_dict=True)` gives the ids and attention mask together. In
# transformers 5 that dict is also what `return_tensors="pt"` returns by default, which breaks the
# card's `generate(input_ids, ...)`; `return_dict=False` still returns the tensor of ids alone, the
# one-word fix of the card's code, but without the attention mask (notebook 02 runs both). We
# generate with the card's settings, stop at `<|eot_id|>`, and decode only the new tokens.
# `set_seed` makes the sampled answer repeatable.
#
# `apply_chat_template(..., return_dict=True)`는 토큰 id와 어텐션 마스크를 함께 돌려줍니다. transformers 5에서는
# `return_tensors="pt"`만 주어도 기본으로 이 사전을 돌려주므로 카드의 `generate(input_ids, ...)`가 깨집니다.
# `return_dict=False`를 주면 여전히 id 텐서 하나만 돌려주므로 단어 하나로 카드 코드를 고칠 수 있지만, 어텐션
# 마스크는 빠집니다(02번 노트북에서 둘 다 실행합니다). 모델 카드의 설정으로 생성하고, `<|eot_id|>`에서 멈추며, 새로
# 만든 토큰만 디코딩합니다. `set_seed`로 샘플링한 답을 다시 똑같이 얻을 수 있습니다.

# %%
from transformers import set_seed

set_seed(0)
inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,
                                       return_tensors="pt").to(model.device)
terminators = [tokenizer.convert_tokens_to_ids(t) for t in ("<|end_of_text|>", "<|eot_id|>")]
output = model.generate(**inputs, eos_token_id=terminators, max_new_tokens=256, do_sample=True,
                        temperature=0.6, top_p=0.9, repetition_penalty=1.1)
answer = tokenizer.decode(output[0, inputs["input_ids"].shape[-1]:], skip_special_tokens=True)
print(answer)

# %% [markdown]
# On Bllossom-tiny the answer comes from the few hundred sentences it was trained on here; the
# real model writes its own. Either way the reply is Korean text without special tokens.
#
# Bllossom-tiny의 답은 이 컴퓨터에서 학습한 수백 개의 문장에서 나오고, 실제 모델은 스스로 답을 씁니다.
# 어느 쪽이든 답은 특수 토큰이 없는 한국어 문장이어야 합니다.

# %%
import re

assert answer.strip(), "the model produced an empty answer"
assert "<|" not in answer and re.search("[가-힣]", answer)
print(f"{len(answer)} characters of Korean, no special tokens.")

# %% [markdown]
# ## 8. Troubleshooting · 문제 해결
#
# | Symptom · 증상 | What to do · 해결 방법 |
# |---|---|
# | `CUDA out of memory` | Restart the kernel, then `BLLOSSOM_MODEL=8b:4bit` (needs `bitsandbytes`) or `BLLOSSOM_MODEL=3b`. 커널을 재시작하고 4비트 8B나 3B를 고르세요. |
# | bf16 on a T4 is slow or fails · T4에서 bf16이 느리거나 실패 | A T4 (compute capability 7.5) only emulates bf16; `pick_dtype` gives fp16 there. T4는 bf16을 흉내만 내므로 fp16을 씁니다. |
# | Offline · 오프라인 | Without the hub a model must be in the local cache; otherwise `BLLOSSOM_MODEL=tiny`. 허브 없이 쓰려면 캐시에 있어야 하고, 아니면 tiny를 쓰세요. |
# | Gated or renamed id · 접근 제한 또는 바뀐 id | Accept the license on the hub and log in. The seed's `MLP-KTLim/llama3-Bllossom` is now `MLP-KTLim/llama-3-Korean-Bllossom-8B`. 허브에서 라이선스에 동의하고 로그인하세요. 옛 id는 새 id로 바뀌었습니다. |
# | Double `<|begin_of_text|>` | Don't tokenize an already templated string with special tokens; see notebook 02. 템플릿을 적용한 문자열을 다시 토큰화할 때 특수 토큰을 또 넣지 마세요(02 참고). |
#
# Mistakes get a short message that names the fix instead of a long traceback. Try one:
#
# 실수하면 긴 트레이스백 대신 해결 방법을 알려 주는 짧은 메시지가 나옵니다. 하나 시험해 봅시다.

# %%
try:
    helpers.choose_model(facts, override="bllossom-9000")
except helpers.TutorialError as error:
    message = str(error)
print(message)
assert "Known names" in message
assert helpers.choose_model(machines["A100 40GB"], override="MLP-KTLim/llama3-Bllossom").name == "8b"  # the old id still works

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
# **1.** How many GB (10⁹ bytes) do the weights of Bllossom-8B take in bf16? Compute it from the
# catalog's parameter count, `helpers.CATALOG["8b"].params_billion`.
#
# **1.** 블로썸-8B의 가중치는 bf16에서 몇 GB(10⁹바이트)일까요? 카탈로그의 파라미터 수
# `helpers.CATALOG["8b"].params_billion`으로 계산하세요.

# %% tags=["solution"]
# Exercise 1 · 문제 1
memory_gb = helpers.CATALOG["8b"].params_billion * 2  # two bytes a parameter in bf16

# %%
# Check · 확인
exercises.check_bf16_memory(memory_gb, "8b")

# %% [markdown]
# **2.** Which dtype should a free Colab T4 (compute capability 7.5) use? Answer with its torch name.
#
# **2.** 무료 Colab T4(연산 능력 7.5)에서는 어떤 dtype을 써야 할까요? torch의 이름으로 답하세요.

# %% tags=["solution"]
# Exercise 2 · 문제 2
t4_dtype = "float16"  # no native bf16 below compute capability 8

# %%
# Check · 확인
exercises.check_gpu_dtype(t4_dtype, (7, 5))

# %% [markdown]
# **3.** Write the text the model reads for the single user message `"안녕하세요?"`, ready for it to
# answer: use the tokenizer's chat template.
#
# **3.** 사용자 메시지 `"안녕하세요?"` 하나를 모델이 답할 수 있는 형태의 글로 만드세요. 토크나이저의 채팅
# 템플릿을 쓰세요.

# %% tags=["solution"]
# Exercise 3 · 문제 3
greeting_prompt = tokenizer.apply_chat_template([{"role": "user", "content": "안녕하세요?"}],
                                                tokenize=False, add_generation_prompt=True)

# %%
# Check · 확인
exercises.check_generation_prompt(greeting_prompt, tokenizer, "안녕하세요?")
