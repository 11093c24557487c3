# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Make Bllossom your own: LoRA instruction tuning and DPO · LoRA 인스트럭션 튜닝과 DPO
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bllossom-tutorials/bllossom-notebooks/blob/main/notebooks/06_finetuning.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/bllossom-tutorials/bllossom-notebooks/blob/main/notebooks/06_finetuning.ipynb)
#
# Bllossom's model card names the steps that turned Llama-3 into a Korean assistant; two of them are
# instruction tuning and preference tuning with human feedback (DPO). Here you do both, on data the
# base model cannot know: the questions and answers of *Café Solbaram* (카페 솔바람), a made-up café
# in Jeonju, written for this project in Korean and English.
#
# **What you will learn**
# - how a LoRA adapter trains tens of millions of numbers instead of billions: `peft`'s `LoraConfig`,
#   which layers it targets and why, how many parameters train, the adapter's size on disk;
# - instruction tuning (SFT) with `trl`'s `SFTTrainer` and the chat template, measured on
#   *held-out, paraphrased* questions: loss and the share of answers that carry the right fact;
# - preference tuning with `trl`'s `DPOTrainer`: polite 존댓말 chosen over 반말, measured as held-out
#   preference accuracy, reward margins and the share of sampled replies in 존댓말;
# - merging the adapter (`merge_and_unload`) into 16-bit or float32 weights, never 4-bit ones, saving,
#   reloading and checking that nothing changed;
# - on a GPU, the same cells as QLoRA (a 4-bit base), with a training-memory estimate first.
#
# **배울 내용**
# - LoRA 어댑터가 수십억 개가 아니라 수천만 개의 숫자만 학습하는 방법: `peft`의 `LoraConfig`, 어떤 층을 왜
#   고르는지, 학습되는 파라미터 수, 디스크에 저장된 어댑터 크기
# - `trl`의 `SFTTrainer`와 채팅 템플릿으로 하는 인스트럭션 튜닝(SFT), 그리고 *학습에 쓰지 않은, 다르게 바꿔
#   쓴* 질문으로 잰 손실과 올바른 사실을 담은 답의 비율
# - `trl`의 `DPOTrainer`로 하는 선호 학습: 반말보다 존댓말을 고르도록 학습하고, 평가용 선호 정확도·보상
#   차이·존댓말로 답한 비율로 측정하기
# - 어댑터를 4비트가 아닌 16비트나 float32 가중치에 병합하기(`merge_and_unload`), 저장, 다시 불러오기, 결과가 그대로인지 확인하기
# - GPU에서는 같은 셀이 QLoRA(4비트 기반 모델)로 실행되고, 학습 전에 학습 메모리를 먼저 추정합니다
#
# **Hardware · 하드웨어**: any machine. On a CPU (or offline) the cells fine-tune *Bllossom-tiny*
# (a few minutes on one core); on a free Colab T4 they QLoRA-tune the 3B, and on 24 GB or more the 8B.
# Kaggle's two T4s train like a T4; on an Apple Silicon Mac the cells train in 16 bit on the GPU
# (MPS), since bitsandbytes' 4-bit, and so QLoRA, needs CUDA.
# 어떤 컴퓨터에서도 실행됩니다. CPU(또는 오프라인)에서는 *Bllossom-tiny*를 학습하고(코어 하나로 몇 분),
# 무료 Colab T4에서는 3B를, 24 GB 이상 GPU에서는 8B를 QLoRA로 학습합니다.
# Kaggle의 T4 두 개는 T4처럼 학습하고, Apple Silicon Mac에서는 GPU(MPS)에서 16비트로 학습합니다.
# bitsandbytes의 4비트, 곧 QLoRA는 CUDA가 필요하기 때문입니다.

# %% [markdown]
# **Setup.** On Colab this installs the tutorial's small `helpers` package (with `peft` and `trl`);
# locally it comes from `pip install -e .` (see the README). Then a short report says what machine we are on.
#
# **준비.** Colab에서는 이 튜토리얼의 `helpers` 패키지(`peft`, `trl` 포함)를 설치하고, 로컬에서는
# `pip install -e .`로 설치된 것을 씁니다. 이어서 지금 어떤 컴퓨터에서 실행 중인지 짧게 보여 줍니다.

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
# ## 1. A plan for this machine · 이 컴퓨터에 맞는 학습 계획
#
# `pick_model` chooses the model as in every lesson. Training needs more memory than chatting: besides
# the weights it keeps the adapters, their gradients, the optimizer's two numbers per trained parameter,
# and the activations of a batch. The plan estimates each part *before* anything is loaded, and picks
# QLoRA (a frozen 4-bit base) when 16-bit weights would leave too little room. It also sets the
# epochs and batch size for this hardware.
#
# 모델은 다른 수업처럼 `pick_model`이 고릅니다. 학습은 대화보다 메모리가 더 듭니다. 가중치 말고도 어댑터와
# 그 기울기, 학습되는 파라미터마다 옵티마이저가 쥐는 숫자 두 개, 배치의 활성값이 필요합니다. 학습 계획은
# 모델을 불러오기 *전에* 각 부분을 추정하고, 16비트 가중치로는 여유가 부족하면 QLoRA(고정된 4비트 기반
# 모델)를 고릅니다. 에폭 수와 배치 크기도 이 하드웨어에 맞게 정합니다.

# %%
from helpers.lessons import finetuning

choice = helpers.pick_model()
plan = finetuning.plan_for_this_machine(choice, facts)
print(plan.reason)
helpers.show_table(plan.rows())

# %% [markdown]
# The estimate, part by part, against this machine's memory (the GPU's, or the RAM on a CPU).
#
# 추정치를 부분별로 나누어 이 컴퓨터의 메모리(GPU 메모리, CPU라면 RAM)와 비교합니다.

# %%
finetuning.plot_training_memory(plan, plan.choice.name);

# %% [markdown]
# The same estimate for the real models on the GPUs learners bring: the 3B on a free T4 and the 8B on
# a 24 GB card, each with the plan this notebook would choose there.
#
# 학습자가 흔히 쓰는 GPU에서 실제 모델을 학습할 때의 추정치입니다. 무료 T4의 3B, 24 GB 카드의 8B를, 그곳에서
# 이 노트북이 고를 계획으로 계산했습니다.

# %%
reference_plans = finetuning.reference_plans()
helpers.show_table([{"model on GPU": label, "QLoRA": p.four_bit, **{k: v for k, v in p.memory.items()},
                     "GPU GB": p.device_memory_gb} for label, p in reference_plans.items()])

# %% [markdown]
# **Check yourself.** On both reference GPUs the plan fits, and it needs 4-bit weights to do so.
#
# **확인해 보기.** 두 기준 GPU 모두에서 계획이 메모리에 들어가고, 그러려면 4비트 가중치가 필요합니다.

# %%
for label, reference in reference_plans.items():
    assert reference.four_bit and reference.memory["total"] < reference.device_memory_gb, label
assert plan.memory["total"] < plan.device_memory_gb
print("Both reference plans are QLoRA and fit their GPU.")

# %% [markdown]
# Now load the model the plan names: on a small GPU that is the 4-bit version of `pick_model`'s choice.
#
# 이제 계획이 정한 모델을 불러옵니다. 작은 GPU라면 `pick_model`이 고른 모델의 4비트 버전입니다.

# %%
from transformers import set_seed

set_seed(0)
model, tokenizer = helpers.load_model(plan.choice)
print(helpers.about_model(plan.choice))

# %% [markdown]
# ## 2. The café's data · 카페 데이터
#
# 168 question-answer pairs about 28 facts of the café (hours, prices, rules), in Korean and English.
# Each fact has four training questions and two *held-out* ones (one per language) that are worded
# differently, so the measurement asks whether the model learned the fact, not the sentence.
# The loader checks every row and names the line and field when one is missing or empty.
#
# 카페의 사실 28가지(영업시간, 가격, 규칙)에 관한 질문-답변 168쌍이 한국어와 영어로 있습니다. 사실마다 학습용
# 질문 네 개와, 다르게 바꿔 쓴 *평가용* 질문 두 개(언어마다 하나)가 있어서, 모델이 문장이 아니라 사실을
# 배웠는지를 잽니다. 불러오는 함수는 모든 행을 검사하고, 빠지거나 빈 필드가 있으면 줄 번호와 필드 이름을
# 알려 줍니다.

# %%
instructions = finetuning.load_instructions()
print({split: len(rows) for split, rows in instructions.items()})
helpers.show_table([{k: row[k] for k in ("split", "lang", "question", "answer")}
                    for row in instructions["train"][:2] + instructions["held_out"][:1]])

# %% [markdown]
# `trl` reads *conversational prompt-completion* rows: the user turn is the prompt, the assistant
# turn the completion. The trainer applies the model's chat template and computes the loss on the
# completion only, so the model learns to answer, not to ask.
#
# `trl`은 *대화형 프롬프트-완성* 형식을 읽습니다. 사용자 발화가 프롬프트, 어시스턴트 발화가 완성입니다.
# 트레이너가 모델의 채팅 템플릿을 적용하고 손실은 완성 부분에만 계산하므로, 모델은 묻는 법이 아니라 답하는
# 법을 배웁니다.

# %%
from datasets import Dataset


def as_chat(row):
    return {"prompt": [{"role": "user", "content": row["question"]}],
            "completion": [{"role": "assistant", "content": row["answer"]}]}


sft_train = Dataset.from_list([as_chat(row) for row in instructions["train"]])
sft_held_out = Dataset.from_list([as_chat(row) for row in instructions["held_out"]])
print(tokenizer.apply_chat_template(sft_train[0]["prompt"] + sft_train[0]["completion"], tokenize=False))

# %% [markdown]
# **Before training**: the share of held-out questions whose greedy answer carries the right fact
# (its price, hour or name). The base model has never heard of Café Solbaram.
#
# **학습 전**: 평가용 질문에 대한 답(탐욕적 디코딩)이 올바른 사실(가격, 시간, 이름)을 담은 비율입니다.
# 기반 모델은 카페 솔바람을 들어 본 적이 없습니다.

# %%
share_before, answers_before = finetuning.fact_share(model, tokenizer, instructions["held_out"])
print(f"right fact before SFT: {share_before:.0%} of {len(answers_before)} held-out questions")
helpers.show_table(answers_before[:3])

# %% [markdown]
# ## 3. Instruction tuning with LoRA · LoRA로 인스트럭션 튜닝
#
# LoRA freezes every weight matrix W and learns a low-rank change beside it: W + (alpha/r)·B·A, with
# A of shape r × in and B of shape out × r. We put adapters on all seven linear layers of each decoder
# block (attention q, k, v, o and the MLP's gate, up, down), which the QLoRA paper found works better
# than attention alone. Rank r sets the adapter's width; `lora_alpha` = 2r is a common scale.
#
# One more question matters: has the model ever *read and written* the café's words? An adapter
# changes what the layers compute, not the two word tables at either end: the input embeddings
# (one row a token, read first) and the output layer (one row a token, scored last). A token whose
# output row is zero always gets logit 0, and a token the model never read still has the random row
# it started with. A real Bllossom learned rows for the words of its whole vocabulary; Bllossom-tiny
# learned rows only for its own corpus. So when answer tokens have no output row, we also train both tables
# (`modules_to_save`); notebook 04 gave its new tokens rows in both tables for the same reason.
#
# LoRA는 모든 가중치 행렬 W를 고정하고, 그 옆에 낮은 랭크의 변화 W + (alpha/r)·B·A를 배웁니다. A는 r × 입력,
# B는 출력 × r 크기입니다. 디코더 블록마다 일곱 개 선형층(어텐션의 q, k, v, o와 MLP의 gate, up, down)
# 모두에 어댑터를 답니다. QLoRA 논문은 어텐션에만 다는 것보다 이 편이 낫다고 보고했습니다. 랭크 r은 어댑터의
# 폭이고, `lora_alpha` = 2r은 흔히 쓰는 배율입니다.
#
# 하나 더 따져 볼 것이 있습니다. 모델이 카페의 단어를 *읽고 써 본* 적이 있을까요? 어댑터는 층이 계산하는
# 내용을 바꿀 뿐, 양 끝의 두 단어 표, 즉 입력 임베딩(토큰마다 한 행, 맨 처음 읽음)과 출력층(토큰마다 한 행,
# 맨 마지막에 점수를 매김)은 바꾸지 않습니다. 출력 행이 0인 토큰의 로짓은 언제나 0이고, 모델이 한 번도
# 읽지 않은 토큰은 처음의 무작위 행을 그대로 가지고 있습니다. 실제 블로썸은 어휘 전체의 단어 행을 학습했지만,
# Bllossom-tiny는 자기 말뭉치의 토큰 행만 배웠습니다. 그래서 출력 행이 없는 답변 토큰이 있으면 두 표도 함께
# 학습합니다(`modules_to_save`). 노트북 04에서 새 토큰에 두 표의 행을 마련해 준 것도 같은 이유입니다.

# %%
from peft import LoraConfig

unwritable = finetuning.tokens_without_output_rows(model, tokenizer, [row["answer"] for row in instructions["train"]])
print(f"{len(unwritable)} answer tokens have no output row, e.g. {unwritable[:8]}")
lora_config = LoraConfig(
    r=plan.rank, lora_alpha=2 * plan.rank, lora_dropout=0.0, task_type="CAUSAL_LM",
    target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    modules_to_save=["embed_tokens", "lm_head"] if unwritable else None,
)

# %% [markdown]
# The training settings come from the plan; the rest are the choices of a small, quick run: no
# checkpoints, a log line every step, a cosine schedule. `check_setup` catches the mistakes that
# would otherwise surface as a traceback deep inside `peft` or `torch` (rank 0, a layer the model
# lacks, a negative learning rate, a 4-bit model on the CPU).
#
# 학습 설정은 계획에서 가져오고, 나머지는 작고 빠른 실행을 위한 선택입니다. 체크포인트 없이, 매 스텝 기록하고,
# 코사인 스케줄을 씁니다. `check_setup`은 그대로 두면 `peft`나 `torch` 깊은 곳에서 트레이스백으로 드러날
# 실수(랭크 0, 모델에 없는 층, 음수 학습률, CPU에서의 4비트 모델)를 미리 잡습니다.

# %%
from trl import SFTConfig, SFTTrainer

sft_args = SFTConfig(
    output_dir="runs/06-sft", num_train_epochs=plan.sft_epochs, per_device_train_batch_size=plan.batch_size,
    per_device_eval_batch_size=plan.batch_size, learning_rate=plan.sft_learning_rate, lr_scheduler_type="cosine",
    max_length=plan.max_length, activation_checkpointing=plan.activation_checkpointing,
    bf16=plan.bf16, fp16=plan.fp16, use_cpu=plan.use_cpu, logging_steps=1, save_strategy="no",
    report_to=[], disable_tqdm=True, seed=0,
)
finetuning.check_setup(model, lora_config, sft_args)
sft_trainer = SFTTrainer(model=model, args=sft_args, train_dataset=sft_train, eval_dataset=sft_held_out,
                         processing_class=tokenizer, peft_config=lora_config)

# %% [markdown]
# How many numbers will train, against the whole model? (`peft` counts them.)
#
# 전체 모델에 비해 몇 개의 숫자가 학습될까요? (`peft`가 셉니다.)

# %%
trainable, total = sft_trainer.model.get_nb_trainable_parameters()
print(f"trainable: {trainable:,} of {total:,} parameters ({trainable / total:.2%})")

# %% [markdown]
# Held-out loss before, the training itself, and held-out loss after. Every step scores all 128,256
# tokens of the vocabulary at every position, which is most of the work on a CPU; the trainer reports
# its own time.
#
# 학습 전 평가 손실, 학습, 학습 후 평가 손실입니다. 스텝마다 모든 위치에서 어휘 128,256개 전부에 점수를 매기며,
# CPU에서는 이것이 일의 대부분입니다. 걸린 시간은 트레이너가 알려 줍니다.

# %%
loss_before = sft_trainer.evaluate()["eval_loss"]
sft_result = sft_trainer.train()
loss_after = sft_trainer.evaluate()["eval_loss"]
print(f"held-out loss {loss_before:.2f} -> {loss_after:.2f}; {sft_result.global_step} steps in "
      f"{sft_result.metrics['train_runtime']:.0f} s ({sft_result.metrics['train_steps_per_second']:.2f} steps/s)")

# %% [markdown]
# The loss curve: the training loss per step, with the held-out loss before and after.
#
# 손실 곡선: 스텝마다의 학습 손실과, 학습 전후의 평가 손실입니다.

# %%
finetuning.plot_loss_curve(sft_trainer.state.log_history, loss_before, loss_after);

# %% [markdown]
# The same held-out questions again. They were never trained on; their wording differs from every
# training question.
#
# 같은 평가용 질문을 다시 묻습니다. 학습에 쓰지 않았고, 어느 학습 질문과도 표현이 다릅니다.

# %%
sft_model = sft_trainer.model
share_after, answers_after = finetuning.fact_share(sft_model, tokenizer, instructions["held_out"])
print(f"right fact: {share_before:.0%} before, {share_after:.0%} after SFT")
helpers.show_table(answers_after[:6])

# %% [markdown]
# Memorised or learned? Ask the questions it trained on too. A held-out question gets its fact only
# when the model links the new wording to a trained one. Bllossom-tiny has read a few hundred
# sentences, so it can link two wordings only through the words they share ("개점" and "문을 열어요"
# share none); a pretrained Bllossom has read many ways of saying the same thing. The gap between
# the two shares is what the model memorised as wording rather than learned as fact.
#
# 외운 걸까요, 배운 걸까요? 학습한 질문도 물어봅니다. 평가용 질문이 사실을 얻으려면 모델이 새 표현을 학습한
# 표현과 이어야 합니다. Bllossom-tiny는 문장 몇백 개만 읽었으므로 두 표현이 함께 가진 단어로만 이을 수
# 있습니다("개점"과 "문을 열어요"는 겹치는 단어가 없습니다). 사전 학습된 블로썸은 같은 뜻을 여러 방식으로
# 말하는 글을 많이 읽었습니다. 두 비율의 차이가 모델이 사실로 배우지 못하고 표현으로 외운 부분입니다.

# %%
share_trained, answers_trained = finetuning.fact_share(sft_model, tokenizer, instructions["train"])
print(f"right fact after SFT: {share_trained:.0%} of the {len(answers_trained)} training questions, "
      f"{share_after:.0%} of the {len(answers_after)} held-out ones")
finetuning.plot_fact_shares(share_before, share_trained, share_after);

# %% [markdown]
# **Check yourself.** SFT lowered the held-out loss: the model now finds the café's true answers
# more likely. Before training at most one answer in ten carried the right fact; now the answers to
# the questions it trained on carry it more often than that. The held-out share is printed, not
# promised: it measures how far the training carried to new wordings, which depends on what the
# model knew before.
#
# **확인해 보기.** SFT가 평가 손실을 낮췄습니다. 모델이 카페의 올바른 답을 더 그럴듯하게 여깁니다. 학습
# 전에는 열에 하나 이하만 올바른 사실을 담았고, 이제 학습한 질문에 대한 답은 그보다 자주 사실을 담습니다.
# 평가용 비율은 보여 줄 뿐 약속하지 않습니다. 학습이 새 표현까지 얼마나 이어졌는지를 재는 값이고, 그것은
# 모델이 전에 무엇을 알았는지에 달려 있습니다.

# %%
assert loss_after < loss_before, (loss_before, loss_after)
assert share_before <= 0.10, share_before
assert share_trained > share_before, (share_before, share_trained)
print(f"loss {loss_before:.2f} -> {loss_after:.2f}; right facts {share_before:.0%} -> "
      f"{share_trained:.0%} on training questions, {share_after:.0%} on held-out ones")

# %% [markdown]
# An adapter is saved on its own, without the frozen base: compare its size with the base model's
# own weights (the wrapped model also holds the adapter, whose parameter names carry `lora_` or
# `modules_to_save`). A saved table is saved whole, so when the two word tables train, the adapter
# holds both; on Bllossom-tiny they are almost all of its weights. **Check yourself:** the file on disk
# is at least as large as the trained tables it must hold.
#
# 어댑터는 고정된 기반 모델 없이 따로 저장됩니다. 기반 모델 자체의 가중치 크기와 비교해 봅니다(감싼 모델에는
# 어댑터도 들어 있고, 그 파라미터 이름에는 `lora_`나 `modules_to_save`가 붙습니다). 저장하는 표는 통째로
# 저장되므로 두 단어 표를 학습하면 어댑터에 둘 다 들어가고, Bllossom-tiny에서는 그 두 표가 가중치의 거의
# 전부입니다. **확인해 보기:** 디스크의 파일은 적어도 그 안에 담아야 할 학습된 표만큼 큽니다.

# %%
sft_model.save_pretrained("runs/06-sft/adapter")
adapter_mb = finetuning.adapter_megabytes("runs/06-sft/adapter")
model_mb = sum(p.numel() * p.element_size() for name, p in sft_model.named_parameters()
               if "lora_" not in name and "modules_to_save" not in name) / 1e6
tables_mb = sum(p.numel() * p.element_size() for name, p in sft_model.named_parameters()
                if "modules_to_save" in name) / 1e6  # the trained copies of the word tables (none on a real Bllossom)
print(f"adapter on disk: {adapter_mb:.1f} MB ({tables_mb:.1f} MB of it trained word tables); "
      f"base model weights in memory: {model_mb:,.0f} MB")
assert adapter_mb >= tables_mb, (adapter_mb, tables_mb)

# %% [markdown]
# For scale: the same rank-r LoRA on the 8B, where no table trains, counted from the 8B's shape alone
# (a `LlamaConfig`, no weights downloaded). **Check yourself:** it is tens of millions of numbers,
# under 1% of the model.
#
# 규모를 비교해 봅니다. 표를 학습하지 않는 8B에 같은 랭크 r의 LoRA를 달면 몇 개인지, 8B의 모양(`LlamaConfig`,
# 가중치는 내려받지 않음)만으로 셉니다. **확인해 보기:** 수천만 개이고, 모델의 1% 미만입니다.

# %%
from transformers import LlamaConfig

from helpers.models.memory import REFERENCE_ARCHITECTURES, llama_parameter_count, lora_parameter_count

config_8b = LlamaConfig(**REFERENCE_ARCHITECTURES["8b"])  # the 8B's shape, without its weights
lora_8b = lora_parameter_count(config_8b, plan.rank, finetuning.LINEAR_LAYERS)
share_8b = lora_8b / llama_parameter_count(config_8b)
print(f"rank-{plan.rank} LoRA on the 8B: {lora_8b / 1e6:.0f} M parameters ({share_8b:.2%} of the model), "
      f"{lora_8b * 2 / 1e6:.0f} MB in bf16")
assert 1e7 <= lora_8b < 1e8 and share_8b < 0.01, (lora_8b, share_8b)

# %% [markdown]
# ## 4. Preference tuning with DPO · DPO로 선호 학습
#
# Look at the training answers again: whoever wrote them answered half the Korean questions in 반말
# ("…열어.", "…이야."). SFT copies both styles. A café should answer customers in 존댓말, so we write
# *preference pairs*: the same answer in 존댓말 (chosen) and in 반말 (rejected); in English, a polite
# reply over a curt one. DPO (Direct Preference Optimization) raises the chosen reply's probability
# relative to the rejected one, with no reward model and no sampling during training.
#
# 학습 답변을 다시 보면, 쓴 사람이 한국어 질문의 절반에 반말로 답했습니다("…열어.", "…이야."). SFT는 두 말투를
# 모두 따라 합니다. 카페는 손님에게 존댓말로 답해야 하므로 *선호 쌍*을 씁니다. 같은 답을 존댓말로(선택),
# 반말로(거절) 쓴 쌍이고, 영어는 공손한 답을 퉁명스러운 답보다 고릅니다. DPO(직접 선호 최적화)는 보상 모델도,
# 학습 중 샘플링도 없이 선택된 답의 확률을 거절된 답보다 높입니다.

# %%
preferences = finetuning.load_preferences()
print({split: len(rows) for split, rows in preferences.items()})
helpers.show_table([{k: row[k] for k in ("lang", "prompt", "chosen", "rejected")}
                    for row in preferences["held_out"][:2]])

# %% [markdown]
# DPO starts from the instruction-tuned model, as Bllossom's own DPO followed its instruction tuning.
# We fold the SFT adapter into the weights (`merge_and_unload`, section 5 looks at it closely) so DPO
# can put a fresh adapter on top. The fold happens in the base's 16-bit (GPU) or float32 (CPU) weights,
# never in 4-bit ones: after QLoRA, adding the update to weights already rounded to 4 bits and rounding
# the sum again changes the model (peft warns of rounding errors; on a GPU, Bllossom-tiny's logits
# moved by as much as 10.7 against the adapter model's). So we load the base once more
# without 4-bit (`finetuning.merge_choice(plan)`), merge there, save, and load the merged model the way
# the plan trains it (in 4-bit again for QLoRA).
#
# DPO는 인스트럭션 튜닝을 마친 모델에서 시작합니다. 블로썸도 인스트럭션 튜닝 뒤에 DPO를 했습니다. SFT 어댑터를
# 가중치에 합쳐서(`merge_and_unload`, 5절에서 자세히 봅니다) DPO가 새 어댑터를 그 위에 얹을 수 있게 합니다.
# 합치기는 4비트가 아니라 기반 모델의 16비트(GPU) 또는 float32(CPU) 가중치에서 합니다. QLoRA 뒤에 이미
# 4비트로 반올림된 가중치에 업데이트를 더하고 그 합을 다시 반올림하면 모델이 바뀌기 때문입니다(peft도 반올림 오차를
# 경고하고, GPU에서 Bllossom-tiny의 로짓은 어댑터 모델과 10.7만큼까지 달라졌습니다).
# 그래서 기반 모델을 4비트 없이 한 번 더 불러와(`finetuning.merge_choice(plan)`) 거기서 합치고 저장한 뒤,
# 계획대로 학습할 형식으로(QLoRA라면 다시 4비트로) 불러옵니다.

# %%
import gc

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

unquantised = finetuning.merge_choice(plan)
print("merging into:", unquantised)
base, _ = helpers.load_model(unquantised)
PeftModel.from_pretrained(base, "runs/06-sft/adapter").merge_and_unload().save_pretrained("runs/06-sft/merged")
del base  # one extra copy of the model at a time
gc.collect()
torch.cuda.empty_cache()  # gives the freed GPU memory back; does nothing without a GPU
sft_merged = AutoModelForCausalLM.from_pretrained("runs/06-sft/merged", **helpers.load_options(plan.choice))

# %% [markdown]
# **Before DPO**, on held-out pairs: how often is the chosen reply more likely than the rejected one,
# and how many sampled Korean replies are in 존댓말?
#
# **DPO 전**, 평가용 쌍에서: 선택된 답이 거절된 답보다 확률이 높은 경우가 얼마나 되는지, 그리고 샘플링한
# 한국어 답 가운데 존댓말이 얼마나 되는지 봅니다.

# %%
korean_prompts = [row["prompt"] for row in preferences["held_out"] if row["lang"] == "ko"]
reference_table = finetuning.preference_table(sft_merged, tokenizer, preferences["held_out"])
accuracy_before = finetuning.preference_accuracy(reference_table)
polite_before = finetuning.polite_share(finetuning.sampled_replies(sft_merged, tokenizer, korean_prompts))
print(f"held-out preference accuracy {accuracy_before:.0%}; sampled Korean replies in 존댓말 {polite_before:.0%}")

# %% [markdown]
# Two ideas carry DPO. The **reference model** is the model as it was before DPO (here the SFT model,
# which `trl` gets by switching the new adapter off); DPO rewards the policy for how much *more* than
# the reference it prefers chosen over rejected. **beta** sets how far the policy may move away from
# the reference: a small beta lets it drift further for the same reward.
#
# DPO를 떠받치는 두 가지가 있습니다. **참조 모델**은 DPO 전의 모델(여기서는 SFT 모델이며, `trl`은 새 어댑터를
# 꺼서 얻습니다)이고, DPO는 정책 모델이 참조 모델보다 선택된 답을 거절된 답보다 *얼마나 더* 선호하는지에 보상을
# 줍니다. **beta**는 정책이 참조 모델에서 얼마나 멀어질 수 있는지를 정합니다. beta가 작을수록 같은 보상에도
# 더 멀리 움직일 수 있습니다.

# %%
from trl import DPOConfig, DPOTrainer


def as_preference(row):
    return {"prompt": [{"role": "user", "content": row["prompt"]}],
            "chosen": [{"role": "assistant", "content": row["chosen"]}],
            "rejected": [{"role": "assistant", "content": row["rejected"]}]}


dpo_train = Dataset.from_list([as_preference(row) for row in preferences["train"]])
dpo_lora = LoraConfig(r=plan.rank, lora_alpha=2 * plan.rank, lora_dropout=0.0, task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
dpo_args = DPOConfig(
    output_dir="runs/06-dpo", beta=0.1, max_steps=plan.dpo_steps, per_device_train_batch_size=plan.batch_size,
    learning_rate=plan.dpo_learning_rate, lr_scheduler_type="cosine", max_length=plan.max_length,
    activation_checkpointing=plan.activation_checkpointing, bf16=plan.bf16, fp16=plan.fp16, use_cpu=plan.use_cpu,
    logging_steps=1, save_strategy="no", report_to=[], disable_tqdm=True, seed=0,
)
finetuning.check_setup(sft_merged, dpo_lora, dpo_args)
dpo_trainer = DPOTrainer(model=sft_merged, args=dpo_args, train_dataset=dpo_train, processing_class=tokenizer,
                         peft_config=dpo_lora)
dpo_result = dpo_trainer.train()
print(f"{dpo_result.global_step} DPO steps in {dpo_result.metrics['train_runtime']:.0f} s "
      f"({dpo_result.metrics['train_steps_per_second']:.2f} steps/s)")

# %% [markdown]
# **After DPO**, on the same held-out pairs. The reward margin of a pair is beta times how much more
# the policy than the reference prefers chosen over rejected; `disable_adapter()` gives back the reference.
#
# **DPO 후**, 같은 평가용 쌍에서 잽니다. 한 쌍의 보상 차이는 정책이 참조 모델보다 선택된 답을 거절된 답보다
# 얼마나 더 선호하는지에 beta를 곱한 값입니다. `disable_adapter()`로 참조 모델을 되돌려 받습니다.

# %%
dpo_model = dpo_trainer.model
policy_table = finetuning.preference_table(dpo_model, tokenizer, preferences["held_out"])
accuracy_after = finetuning.preference_accuracy(policy_table)
margins = finetuning.reward_margins(policy_table, reference_table, beta=dpo_args.beta)
polite_after = finetuning.polite_share(finetuning.sampled_replies(dpo_model, tokenizer, korean_prompts))
print(f"held-out preference accuracy {accuracy_before:.0%} -> {accuracy_after:.0%}; "
      f"존댓말 in sampled replies {polite_before:.0%} -> {polite_after:.0%}")
finetuning.plot_reward_margins(dpo_trainer.state.log_history, margins);

# %% [markdown]
# **Check yourself.** DPO raised the held-out preference accuracy and most held-out margins are
# positive, while switching the adapter off gives back the reference model. The share of 존댓말 in
# sampled replies is printed, not checked: it rests on one seeded sample per prompt, a noisier
# measure than the log-probabilities above, which are what the check uses.
#
# **확인해 보기.** DPO가 평가용 선호 정확도를 높였고 평가용 보상 차이 대부분이 양수이며, 어댑터를 끄면 참조
# 모델로 돌아갑니다. 샘플링한 답 가운데 존댓말 비율은 확인하지 않고 보여 주기만 합니다. 질문마다 시드를 고정한
# 표본 하나에 기대므로 위의 로그 확률보다 흔들림이 큰 측정이고, 확인에는 로그 확률을 씁니다.

# %%
with dpo_model.disable_adapter():  # the reference model is the SFT model, as before DPO
    reference_again = finetuning.preference_table(dpo_model, tokenizer, preferences["held_out"][:1])
assert abs(reference_again[0]["chosen"] - reference_table[0]["chosen"]) < 1e-2
assert accuracy_after > accuracy_before, (accuracy_before, accuracy_after)
assert sum(m > 0 for m in margins) > len(margins) / 2
print(f"preference accuracy {accuracy_before:.0%} -> {accuracy_after:.0%}, 존댓말 {polite_before:.0%} -> {polite_after:.0%}")

# %% [markdown]
# ## 5. Use the result · 결과 쓰기
#
# For serving, fold the adapter into the weights: `merge_and_unload` adds (alpha/r)·B·A to each W and
# drops the adapter, so the model runs as fast as the base. As in section 4 the fold happens without
# 4-bit: we save the DPO adapter, put it on the SFT-merged weights in `unquantised` precision and
# record its logits on a few questions, then merge, save, free the memory, reload with plain
# `AutoModelForCausalLM` (no `peft` needed) and compare.
#
# 서비스할 때는 어댑터를 가중치에 합칩니다. `merge_and_unload`는 각 W에 (alpha/r)·B·A를 더하고 어댑터를
# 없애므로 모델이 기반 모델만큼 빠르게 돕니다. 4절처럼 4비트 없이 합칩니다. DPO 어댑터를 저장하고, SFT를 합친
# 가중치를 `unquantised` 정밀도로 불러와 어댑터를 얹고 몇 질문에 대한 로짓을 기록한 뒤, 병합하고 저장하고
# 메모리를 비운 다음 `peft` 없이 평범한 `AutoModelForCausalLM`으로 다시 불러와 비교합니다.

# %%
dpo_model.save_pretrained("runs/06-dpo/adapter")
base = AutoModelForCausalLM.from_pretrained("runs/06-sft/merged", **helpers.load_options(unquantised))
adapter_model = PeftModel.from_pretrained(base, "runs/06-dpo/adapter")

questions = [row["question"] for row in instructions["held_out"][:4]]
adapter_logits = finetuning.question_logits(adapter_model, tokenizer, questions)
merged = adapter_model.merge_and_unload()
merged.save_pretrained("runs/06-merged")
tokenizer.save_pretrained("runs/06-merged")
del base, adapter_model, merged  # one extra copy of the model at a time
gc.collect()
torch.cuda.empty_cache()
reloaded = AutoModelForCausalLM.from_pretrained("runs/06-merged", **helpers.load_options(unquantised))
reloaded_logits = finetuning.question_logits(reloaded, tokenizer, questions)
difference = max((a - b).abs().max().item() for a, b in zip(adapter_logits, reloaded_logits))
print(f"largest logit difference, adapter vs merged and reloaded: {difference:.2e}")

# %% [markdown]
# **Check yourself.** The reloaded merged model gives the adapter model's logits, up to rounding of
# the weights' precision, and the same greedy next tokens.
#
# **확인해 보기.** 병합해서 다시 불러온 모델은 가중치 정밀도의 반올림 범위 안에서 어댑터 모델과 같은 로짓을
# 내고, 탐욕적으로 고른 다음 토큰도 같습니다.

# %%
tolerance = finetuning.merge_tolerance(plan)
assert difference < tolerance, (difference, tolerance)
assert all(torch.equal(a.argmax(-1), b.argmax(-1)) for a, b in zip(adapter_logits, reloaded_logits))
print(f"merged == adapter within {tolerance:g}")

# %% [markdown]
# Chat with the café's own assistant: questions it saw in no training set, in both languages.
#
# 카페 전용 어시스턴트와 대화해 봅니다. 어느 학습 데이터에도 없던 질문을 두 언어로 묻습니다.

# %%
for question in ["솔바람 커피 한 잔 얼마예요?", "솔바람에 차 몇 대 세울 수 있나요?", "Is Solbaram open on Tuesdays?"]:
    print(f"Q: {question}\nA: {finetuning.answer(reloaded, tokenizer, question)}\n")

# %% [markdown]
# ## 6. What Bllossom did, and what differs here · 블로썸이 한 일과 이 규모의 차이
#
# Bllossom's card lists instruction tuning on data built for Korean language and culture, and human
# feedback with DPO, applied to the whole 8B model over large instruction and preference sets. Here
# the same two trainers run on about a hundred instructions and preference pairs, through rank-16 adapters
# (on the 8B, under 1% of its weights), in minutes on this scale. That teaches the model a small closed world (one café) and a style,
# not new general abilities; a tiny stand-in only repeats what it was shown. On a real Bllossom the
# same cells run as QLoRA with the plan's 2e-4 learning rate and three epochs; expect a different
# loss curve and check the held-out numbers above, not the training log.
#
# 블로썸의 모델 카드는 한국어와 한국 문화에 맞춰 만든 데이터로 한 인스트럭션 튜닝과 DPO를 이용한 사람 피드백
# 학습을 적고 있으며, 이는 큰 인스트럭션·선호 데이터로 8B 모델 전체에 적용되었습니다. 여기서는 같은 두
# 트레이너를 인스트럭션과 선호 쌍 백여 개로, 랭크 16 어댑터(8B에서는 가중치의 1% 미만)를 통해 이 규모에서는 몇 분 동안 돌립니다.
# 그래서 모델은 작은 닫힌 세계(카페 하나)와 말투를 배울 뿐, 새로운 일반 능력을 얻지는 않습니다. 작은 대체
# 모델은 본 것을 되풀이할 뿐입니다. 실제 블로썸에서는 같은 셀이 계획의 학습률 2e-4와 3 에폭으로 QLoRA 학습을
# 합니다. 손실 곡선은 다를 것이니, 학습 기록이 아니라 위의 평가 수치를 확인하세요.

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
# **1.** LoRA adds two small matrices, A (r × in) and B (out × r), beside a linear layer. How many
# parameters does a rank-16 adapter add to one 4,096 × 4,096 projection of the 8B?
#
# **1.** LoRA는 선형 층 옆에 작은 행렬 A(r × 입력)와 B(출력 × r)를 더합니다. 8B의 4,096 × 4,096 투영 하나에
# 랭크 16 어댑터는 파라미터를 몇 개 더할까요?

# %% tags=["solution"]
# Exercise 1 · 문제 1
lora_parameters = 16 * 4096 + 4096 * 16

# %%
# Check · 확인
exercises.check_lora_parameters(lora_parameters, 4096, 4096, 16)

# %% [markdown]
# **2.** DPO's implicit reward of a reply is beta times how much more likely the trained model finds it
# than the reference does (in log-probability). With beta = 0.1, the policy gives the chosen reply
# -12.0 and the rejected one -15.0, the reference gives them -13.0 and -14.0. What is the reward margin
# (chosen minus rejected)?
#
# **2.** DPO에서 답의 암묵적 보상은 beta에 "학습한 모델이 참조 모델보다 그 답을 얼마나 더 그럴듯하게 보는지"
# (로그 확률)를 곱한 값입니다. beta = 0.1이고, 정책은 선택된 답에 -12.0, 거절된 답에 -15.0을, 참조 모델은
# -13.0과 -14.0을 줍니다. 보상 차이(선택 빼기 거절)는 얼마일까요?

# %% tags=["solution"]
# Exercise 2 · 문제 2
margin = 0.1 * ((-12.0 - -13.0) - (-15.0 - -14.0))

# %%
# Check · 확인
exercises.check_dpo_margin(margin, 0.1, -12.0, -15.0, -13.0, -14.0)

# %% [markdown]
# **3.** (Stretch) QLoRA keeps the base in 4-bit. How many GB do the 8B's weights take that way? Use
# `helpers.estimate_memory_gb`, which knows that embeddings and the output layer stay in 16 bit.
#
# **3.** (도전) QLoRA는 바탕 모델을 4비트로 둡니다. 그러면 8B의 가중치는 몇 GB일까요? 임베딩과 출력 층은
# 16비트로 남는다는 것을 아는 `helpers.estimate_memory_gb`를 쓰세요.

# %% tags=["solution"]
# Exercise 3 · 문제 3
qlora_weights_gb = helpers.estimate_memory_gb(helpers.CATALOG["8b"], "4bit")

# %%
# Check · 확인
exercises.check_four_bit_weights(qlora_weights_gb, "8b")
