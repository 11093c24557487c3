# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Sampling, measured and seen · 샘플링 설정, 측정하고 눈으로 보기
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bllossom-tutorials/bllossom-notebooks/blob/main/notebooks/03_sampling.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/bllossom-tutorials/bllossom-notebooks/blob/main/notebooks/03_sampling.ipynb)
#
# The Bllossom card generates with `do_sample=True, temperature=0.6, top_p=0.9, repetition_penalty=1.1`.
# This notebook opens up the one thing those settings change: the probability distribution the next
# token is drawn from.
#
# **What you will learn**
# - which processors `generate` puts between the model's logits and the dice, and in what order;
# - what temperature does to the next-token distribution, seen as bar charts with Hangul labels;
# - where top-k and top-p cut, on the sorted cumulative probability curve, and how many tokens survive;
# - which logits the repetition penalty changes, and by how much;
# - greedy decoding, beam search and sampling side by side, and how `set_seed` makes sampling repeatable;
# - diversity, log-probability and entropy measured over many samples, and what they say about the card's
#   0.6 / 0.9 / 1.1; then sliders to feel it yourself.
#
# **배울 내용**
# - `generate`가 모델의 로짓과 주사위 사이에 어떤 처리기(processor)를 어떤 순서로 넣는지
# - 온도(temperature)가 다음 토큰 분포를 어떻게 바꾸는지, 한글 라벨이 달린 막대 그래프로 보기
# - 정렬한 누적 확률 곡선에서 top-k와 top-p가 어디를 자르는지, 그리고 몇 개의 토큰이 남는지
# - 반복 페널티(repetition penalty)가 어떤 로짓을 얼마나 바꾸는지
# - 탐욕적(greedy) 디코딩, 빔 서치, 샘플링 비교와 `set_seed`로 샘플링 결과를 재현하는 방법
# - 여러 샘플로 측정한 다양성, 로그 확률, 엔트로피와 카드의 0.6 / 0.9 / 1.1 설정이 뜻하는 것, 그리고 슬라이더로 직접 느껴 보기
#
# **Hardware · 하드웨어**: any machine. On a CPU (or offline) the notebook uses *Bllossom-tiny*, a small
# stand-in trained on this machine; on a GPU it loads the real Bllossom. The many-samples measurement
# takes about a minute on one CPU core. Measured: the whole notebook ran in about 260 s on a 2-core CPU shared with other jobs (this
# project's CI machine, `python -m helpers.run_notebooks 03`), with Bllossom-tiny already built.
# Apple Silicon Macs run the real model on their GPU through MPS in fp16 (16 GB: the 3B; 32 GB or more: the 8B),
# and Kaggle's two free T4s hold the 8B in fp16 together.
# 어떤 컴퓨터에서도 실행됩니다. CPU(또는 오프라인)에서는 이 컴퓨터에서 학습한 작은 대체 모델 *Bllossom-tiny*를,
# GPU에서는 실제 블로썸을 씁니다. 여러 샘플을 뽑는 측정은 CPU 코어 하나로 1분 정도 걸립니다. 측정값: 다른 작업과 함께 쓰는 2코어 CPU(이 프로젝트의 CI 컴퓨터, `python -m helpers.run_notebooks 03`)에서 Bllossom-tiny를 이미
# 만들어 둔 상태로 노트북 전체가 약 260초 걸렸습니다.
# Apple Silicon Mac은 MPS로 GPU에서 fp16 실제 모델을 실행하고(16 GB: 3B, 32 GB 이상: 8B), Kaggle의 무료 T4 두 개는
# 함께 fp16 8B를 담습니다.

# %% [markdown]
# **Setup.** On Colab or Kaggle this installs the tutorial's small `helpers` package (with `koreanize-matplotlib`,
# which brings a Hangul font for the plots); locally it comes from `pip install -e .`.
#
# **준비.** Colab과 Kaggle에서는 튜토리얼의 `helpers` 패키지를 설치합니다(그래프에 한글 글꼴을 넣어 주는
# `koreanize-matplotlib`도 함께 설치됩니다). 로컬에서는 `pip install -e .`로 설치된 것을 씁니다.

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
# ## 1. Model and prompt · 모델과 프롬프트
#
# We load the model notebook 01 chose for this machine, and a Korean question with the card's system
# prompt. Bllossom-tiny was trained only on chats that start with that system prompt, so leaving it
# out would show you a confused model rather than the effect of a setting.
#
# 노트북 01처럼 이 컴퓨터에 맞는 모델을 불러오고, 모델 카드의 시스템 프롬프트와 한국어 질문을 준비합니다.
# Bllossom-tiny는 이 시스템 프롬프트로 시작하는 대화로만 학습했으므로, 빼면 설정의 효과가 아니라 헷갈린 모델을
# 보게 됩니다.

# %%
from helpers.lessons import sampling

choice = helpers.pick_model()
model, tokenizer = helpers.load_model(choice)
helpers.use_hangul_font()  # Hangul labels in every plot below (한글 라벨)

messages = [
    {"role": "system", "content": helpers.BLLOSSOM_SYSTEM_PROMPT},
    {"role": "user", "content": "한국에서 가 볼 만한 곳은?"},  # "Which places in Korea are worth a visit?"
]
inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,
                                       return_tensors="pt").to(model.device)
terminators = [tokenizer.convert_tokens_to_ids(t) for t in ("<|end_of_text|>", "<|eot_id|>")]
print(inputs["input_ids"].shape[-1], "prompt tokens")

# %% [markdown]
# ## 2. What `generate` does before it rolls the dice · `generate`가 주사위를 굴리기 전에 하는 일
#
# The model returns one score (logit) per vocabulary token. With `do_sample=True`, `generate` passes
# them through a chain of *logits processors*, takes the softmax and draws one token. The helper
# below asks `generate`'s own builder for that chain, so what we look at is exactly what
# `generate` samples from. Note the `TopKLogitsWarper(50)`: the card never asked for top-k, but
# `generate` applies `top_k=50` whenever you sample without setting it.
#
# 모델은 어휘의 토큰마다 점수(로짓) 하나를 냅니다. `do_sample=True`이면 `generate`는 이 점수를 *로짓 처리기*
# 사슬에 통과시킨 뒤 소프트맥스를 취해 토큰 하나를 뽑습니다. 아래 헬퍼는 `generate`가 쓰는 바로 그 사슬을
# `generate`의 코드로 만들기 때문에, 우리가 보는 분포가 곧 `generate`가 뽑는 분포입니다. `TopKLogitsWarper(50)`에
# 주목하세요. 카드는 top-k를 요청하지 않았지만, `generate`는 값을 주지 않으면 샘플링할 때 `top_k=50`을 적용합니다.

# %%
card = sampling.CARD_SETTINGS
print("card settings:", card, "\ngenerate kwargs:", card.generate_kwargs())
dist = sampling.next_token_distribution(model, inputs, card)
helpers.show_table([{"stage": name, "tokens left": int(scores.isfinite().sum()),
                     "top-1 probability": float(scores.softmax(-1).max())} for name, scores in dist.stages])

# %% [markdown]
# **Check yourself.** We ask `generate` itself. With `max_new_tokens=1, output_scores=True,
# return_dict_in_generate=True` it returns the processed scores it sampled the first token from.
# Called with the card's three sampling settings as the card writes them (no `top_k`), those scores
# must keep the same tokens as the helper's distribution, with the same probabilities. And
# `generate` sampling at temperature 1 and top-p 1 with no `top_k` at all must keep exactly the
# tokens of an explicit `top_k=50`, and fewer than `top_k=0` (off): that is the default top-k
# nobody asked for. The chain is the card's three settings (repetition penalty, temperature,
# top-p) plus that top-k, in `generate`'s order (penalty, temperature, top-k, top-p).
#
# **확인해 보기.** `generate`에게 직접 물어봅니다. `max_new_tokens=1, output_scores=True,
# return_dict_in_generate=True`로 부르면 첫 토큰을 뽑은 처리된 점수를 돌려줍니다. 카드가 쓴 그대로의 세 가지
# 설정으로(`top_k` 없이) 부르면, 이 점수는 헬퍼의 분포와 같은 토큰을 같은 확률로 남겨야 합니다. 그리고 온도 1,
# top-p 1에서 `top_k`를 전혀 주지 않고 샘플링한 `generate`는 `top_k=50`을 직접 준 것과 정확히 같은 토큰을,
# `top_k=0`(끔)보다는 적은 토큰을 남겨야 합니다. 아무도 요청하지 않은 기본 top-k입니다. 사슬은 카드의 세 가지
# 설정(반복 페널티, 온도, top-p)에 이 top-k를 더한 것이고, `generate`의 순서(페널티, 온도, top-k, top-p)를 따릅니다.

# %%
import torch


def first_token_scores(**settings):
    """The processed scores `generate` itself drew the first answer token from."""
    out = model.generate(**inputs, max_new_tokens=1, output_scores=True, return_dict_in_generate=True,
                         eos_token_id=terminators, **settings)
    return out.scores[0][0].float()


by_generate = first_token_scores(do_sample=True, temperature=0.6, top_p=0.9, repetition_penalty=1.1)  # the card's
assert torch.equal(by_generate.isfinite(), dist.scores.isfinite()), "generate keeps other tokens than the helper"
torch.testing.assert_close(dist.probs, by_generate.softmax(-1), rtol=0, atol=1e-5)
assert abs(float(dist.probs.double().sum()) - 1) < 1e-3
assert [name for name, _ in dist.stages] == ["logits", "RepetitionPenaltyLogitsProcessor", "TemperatureLogitsWarper",
                                              "TopKLogitsWarper", "TopPLogitsWarper"]
kept_by = {label: first_token_scores(do_sample=True, temperature=1.0, top_p=1.0, **knobs).isfinite()
           for label, knobs in {"no top_k": {}, "top_k=50": dict(top_k=50), "top_k=0": dict(top_k=0)}.items()}
print("tokens generate keeps at temperature 1:", {label: int(kept.sum()) for label, kept in kept_by.items()})
assert torch.equal(kept_by["no top_k"], kept_by["top_k=50"]) and kept_by["no top_k"].sum() < kept_by["top_k=0"].sum()
print(f"{dist.kept} of {len(dist.probs):,} tokens can be drawn under the card's settings")

# %% [markdown]
# ## 3. Temperature · 온도
#
# Temperature divides every logit before the softmax: below 1 the favourite gets even more likely,
# above 1 the distribution flattens. To see temperature alone we switch top-k and top-p off.
#
# 온도는 소프트맥스 전에 모든 로짓을 나눕니다. 1보다 작으면 가장 유력한 토큰이 더 유력해지고, 1보다 크면 분포가
# 평평해집니다. 온도만의 효과를 보려고 top-k와 top-p는 끕니다.
#
# In the labels a `·` stands for a space, and `<eb b9>` is a token that holds only some of the
# bytes of a Hangul syllable (each syllable is three bytes in UTF-8). Llama-3's byte-level vocabulary
# has no token for many syllables, so it spells them with two or three byte pieces; notebook 04
# looks at this closely.
#
# 라벨에서 `·`는 공백을 나타내고, `<eb b9>`처럼 표시된 토큰은 한글 음절 바이트의 일부만 담은 토큰입니다(한글
# 음절 하나는 UTF-8로 3바이트입니다). Llama-3의 바이트 수준 어휘에는 토큰이 없는 음절이 많아서, 그런 음절은 바이트
# 조각 두세 개로 씁니다. 04번 노트북에서 자세히 봅니다.

# %%
temperatures = [0.3, 0.6, 1.0, 1.5]
by_temperature = {f"temperature {t}": sampling.next_token_distribution(model, inputs, temperature=t, top_k=None)
                  for t in temperatures}
sampling.plot_top_tokens(by_temperature, tokenizer, n=10);

# %% [markdown]
# The bars show the head of the distribution; the table shows the tail. "Mass outside the top 50"
# is the chance of drawing a token the model ranks below 50th. On Bllossom-tiny that tail is about
# 125,000 tokens it never saw in training, each with a logit of exactly 0: harmless at 0.6, but at
# 1.5 the flat floor holds much of the probability. Real models have a long tail too, only less
# extreme; it is what top-k and top-p are for.
#
# 막대는 분포의 머리를, 표는 꼬리를 보여 줍니다. "상위 50개 밖의 확률"은 모델이 50위 아래로 매긴 토큰을 뽑을
# 확률입니다. Bllossom-tiny에서 이 꼬리는 학습 때 보지 못한 약 12만 5천 개의 토큰이며, 로짓이 모두 정확히 0입니다.
# 온도 0.6에서는 무해하지만 1.5에서는 이 평평한 바닥이 확률의 큰 부분을 차지합니다. 실제 모델에도 덜 극단적일 뿐
# 긴 꼬리가 있고, top-k와 top-p가 바로 그것을 자르려고 있습니다.

# %%
helpers.show_table([{"temperature": t, "entropy (nats)": d.entropy, "top-1 probability": float(d.probs.max()),
                     "mass outside the top 50": 1 - float(d.probs.topk(50).values.sum())}
                    for t, d in zip(temperatures, by_temperature.values())])

# %% [markdown]
# **Check yourself.** Each distribution sums to 1 (to float32 precision), a lower temperature gives a lower entropy, and
# temperature 1 with no filters is the plain softmax of the logits (the chain is empty).
#
# **확인해 보기.** 각 분포의 합은 1이고, 온도가 낮을수록 엔트로피가 낮으며, 필터 없는 온도 1은 로짓의 소프트맥스
# 그대로입니다(사슬이 비어 있습니다).

# %%
entropies = [d.entropy for d in by_temperature.values()]
assert all(abs(float(d.probs.double().sum()) - 1) < 1e-3 for d in by_temperature.values())
assert entropies == sorted(entropies) and entropies[0] < entropies[-1], entropies
plain = by_temperature["temperature 1.0"]
assert len(plain.processors) == 0 and torch.allclose(plain.probs, plain.logits.softmax(-1))
print("entropy rises with temperature:", [round(e, 2) for e in entropies])

# %% [markdown]
# ## 4. Top-k and top-p · top-k와 top-p
#
# Both filters keep the most likely tokens and drop the rest (their score becomes −∞), then the
# survivors are renormalised. Top-k keeps a fixed *number*; top-p keeps the smallest set whose
# probability reaches p, so it keeps few tokens when the model is sure and many when it is not.
# The curve is the sorted cumulative probability at temperature 1, where the cuts spread out (at
# the card's 0.6 a confident model's favourite can hold most of the probability alone: the cell
# prints how much it holds on the model you loaded); each line is where one filter, applied alone
# by `generate`'s chain, cuts.
#
# 두 필터 모두 가장 유력한 토큰만 남기고 나머지는 버린 뒤(점수가 −∞가 됩니다) 남은 토큰의 확률을 다시 정규화합니다.
# top-k는 정해진 *개수*를 남기고, top-p는 확률 합이 p에 닿는 가장 작은 집합을 남깁니다. 그래서 모델이 확신할 때는
# 적게, 망설일 때는 많이 남깁니다. 곡선은 자르는 위치가 잘 벌어지는 온도 1에서 정렬한 누적 확률입니다(카드의
# 0.6에서는 확신하는 모델의 1위 토큰 하나가 확률 대부분을 차지할 수 있습니다. 불러온 모델에서 얼마인지 셀이
# 출력합니다). 세로선은 각 필터를 따로 적용했을 때 `generate`의 사슬이 자르는 위치입니다.

# %%
filters = {"top-k 10": dict(top_k=10), "top-k 50 (generate's default)": dict(top_k=50),
           "top-p 0.9 (card)": dict(top_k=None, top_p=0.9), "top-p 0.95": dict(top_k=None, top_p=0.95)}
filtered = {label: sampling.next_token_distribution(model, inputs, temperature=1.0, **knobs)
            for label, knobs in filters.items()}
sampling.plot_cumulative_cut(filtered["top-p 0.9 (card)"], {label: d.kept for label, d in filtered.items()});
helpers.show_table([{"filter": label, "tokens kept": d.kept,
                     "their probability before the cut": float(d.unfiltered_probs[d.probs > 0].sum())}
                    for label, d in filtered.items()]
                   + [{"filter": "the card's settings (+ generate's top-k 50)", "tokens kept": dist.kept,
                       "their probability before the cut": float(dist.unfiltered_probs[dist.probs > 0].sum())}])
print(f"at the card's temperature 0.6 the favourite alone holds p = "
      f"{float(by_temperature['temperature 0.6'].probs.max()):.3f} on this model")

# %% [markdown]
# Two things to notice. Top-k can keep more than k: a token *tied* with the k-th survives too
# (logits computed in bf16, as on a GPU, have few distinct values, so ties are common there). And
# top-p follows the shape of the tail: where the tail is long and flat (on Bllossom-tiny, its
# ~125,000 never-seen tokens at logit 0), a slightly larger p can let in thousands of tokens at once.
#
# 두 가지를 눈여겨보세요. top-k는 k개보다 더 남길 수 있습니다. k번째 토큰과 점수가 *같은* 토큰도 살아남기
# 때문입니다(GPU에서처럼 bf16으로 계산한 로짓은 서로 다른 값의 수가 적어서 동점이 흔합니다). 그리고 top-p는
# 꼬리의 모양을 따라갑니다. 꼬리가 길고 평평하면(Bllossom-tiny에서는 로짓이 0인, 한 번도 보지 못한 약 12만 5천
# 개의 토큰) p를 조금만 키워도 수천 개의 토큰이 한꺼번에 들어옵니다.
#
# **Check yourself.** Top-k keeps at least k tokens and every kept token scores higher than every
# dropped one. Top-p keeps the *smallest* set reaching p: the kept tokens together reach p, and
# without the least likely of them they would not.
#
# **확인해 보기.** top-k는 최소 k개를 남기고, 남은 토큰의 점수는 버린 토큰의 점수보다 모두 높습니다. top-p는 p에
# 닿는 *가장 작은* 집합을 남깁니다. 남은 토큰의 확률 합은 p 이상이고, 그중 가장 확률이 낮은 토큰을 빼면 p에 못
# 미칩니다.

# %%
for k in (10, 50):
    d = next(d for label, d in filtered.items() if label.startswith(f"top-k {k}"))
    kept = d.probs > 0
    assert d.kept >= k and d.logits[kept].min() > d.logits[~kept].max()
for label, p in (("top-p 0.9 (card)", 0.9), ("top-p 0.95", 0.95)):
    d = filtered[label]
    kept = d.unfiltered_probs[d.probs > 0].double()
    assert kept.sum() >= p - 1e-4, (p, float(kept.sum()))
    assert kept.sum() - kept.min() < p + 1e-4, (p, float(kept.sum() - kept.min()))
print({label: d.kept for label, d in filtered.items()})

# %% [markdown]
# ## 5. Repetition penalty · 반복 페널티
#
# A model that has started to repeat itself tends to go on. To see what the penalty does about it,
# we put a repeating start into the assistant's turn (`continue_final_message=True` lets the model
# continue it), measure how likely the model is to start the same sentence once more (its next
# token ` 서울`), and greedily decode with three penalties. The penalty applies to every token already
# in the text. What the continuations look like depends on the model: Bllossom-tiny never saw this
# start in training and may wander off at once; the probability column is the lesson.
#
# 한번 같은 말을 되풀이하기 시작한 모델은 계속 되풀이하는 경향이 있습니다. 페널티가 여기에 무엇을 하는지 보려고
# assistant 차례에 반복되는 시작 부분을 넣고(`continue_final_message=True`로 모델이 이어 쓰게 합니다), 모델이 같은
# 문장을 한 번 더 시작할 확률(다음 토큰 ` 서울`)을 재고, 세 가지 페널티로 탐욕적 디코딩을 합니다. 페널티는 이미 글에
# 나온 모든 토큰에 적용됩니다. 이어 쓴 글의 모습은 모델에 따라 다릅니다. Bllossom-tiny는 이런 시작을 학습 때 본 적이
# 없어서 바로 엉뚱한 데로 갈 수 있습니다. 중요한 것은 확률 열입니다.

# %%
repeating = tokenizer.apply_chat_template(
    [messages[0], {"role": "user", "content": "한국의 수도는 어디야?"},
     {"role": "assistant", "content": "서울입니다. 서울입니다. 서울입니다."}],
    continue_final_message=True, return_dict=True, return_tensors="pt").to(model.device)


def repeated_trigrams(ids):
    """How many 3-token sequences occur again later in the same text."""
    trigrams = [tuple(ids[i:i + 3]) for i in range(len(ids) - 2)]
    return len(trigrams) - len(set(trigrams))


[once_more] = tokenizer.encode(" 서울", add_special_tokens=False)  # the first token of one more "서울입니다."
continuations, p_once_more = {}, {}
for penalty in (1.0, 1.1, 1.3):
    output = model.generate(**repeating, do_sample=False, repetition_penalty=penalty, max_new_tokens=32,
                            eos_token_id=terminators)
    continuations[penalty] = output[0, repeating["input_ids"].shape[-1]:].tolist()
    p_once_more[penalty] = float(sampling.next_token_distribution(
        model, repeating, temperature=1.0, top_k=None, repetition_penalty=penalty).probs[once_more])
helpers.show_table([{"repetition_penalty": penalty, "p(next token is ' 서울')": p_once_more[penalty],
                     "repeated 3-grams": repeated_trigrams(ids),
                     "greedy continuation": tokenizer.decode(ids, skip_special_tokens=True)}
                    for penalty, ids in continuations.items()])

# %% [markdown]
# Which logits does the penalty change, and by how much? `RepetitionPenaltyLogitsProcessor` divides
# a positive logit by the penalty and multiplies a negative one, for each token that occurs anywhere
# in the input, once or ten times alike. "Anywhere" includes the system prompt and the chat
# template: with the card's 1.1, Korean tokens of the system prompt such as the particle `은` and the
# ending `·입니다` (with its leading space) are penalised in every answer. The starred tokens below are
# in the context.
#
# 페널티는 어떤 로짓을 얼마나 바꿀까요? `RepetitionPenaltyLogitsProcessor`는 입력 어딘가에 나온 토큰이면 (한 번이든
# 열 번이든 똑같이) 양수 로짓은 페널티로 나누고 음수 로짓은 곱합니다. "어딘가"에는 시스템 프롬프트와 채팅 템플릿도
# 들어갑니다. 카드의 1.1에서는 시스템 프롬프트에 있는 조사 `은`과 어미 `·입니다`(앞의 공백까지 한 토큰) 같은 한국어
# 토큰도 모든 답변에서 불리해집니다. 아래에서 별표(*)가 붙은 토큰이 문맥에 있는 토큰입니다.
#
# A cut of 9% in a logit is not a cut of 9% in probability: the softmax turns the logit gap into
# a ratio, so a token with a large logit can lose much of its probability, while tokens outside the
# context gain. The last lines show both on the travel question: the most likely first token among
# the prompt's own tokens, and the favourite first token overall.
#
# 로짓이 9% 줄어도 확률이 9% 줄어드는 것은 아닙니다. 소프트맥스는 로짓 차이를 비율로 바꾸므로, 로짓이 큰 토큰은
# 확률을 크게 잃을 수 있고, 문맥 밖의 토큰은 오히려 확률을 얻습니다. 마지막 줄들은 여행 질문에서 둘 다 보여 줍니다.
# 프롬프트에 있는 토큰 중 첫 토큰으로 가장 유력한 것과, 전체에서 가장 유력한 첫 토큰입니다.

# %%
penalised = sampling.next_token_distribution(model, repeating, temperature=1.0, top_k=None, repetition_penalty=1.1)
before, after = penalised.logits, penalised.stage("RepetitionPenalty")
context = set(repeating["input_ids"][0].tolist())
changed = (before != after).nonzero()[:, 0].tolist()
sampling.plot_penalty(before, after, repeating["input_ids"][0], tokenizer);
helpers.show_table([{"token": sampling.token_label(tokenizer, i), "logit before": float(before[i]),
                     "after": float(after[i]), "change": float(after[i] - before[i])}
                    for i in before.topk(12).indices.tolist() if i in changed])
print(f"{len(changed)} logits changed; the context holds {len(context)} distinct tokens")

# The same happens on the travel question: is the favourite first token one of the question's tokens?
plain_first = sampling.next_token_distribution(model, inputs, temperature=1.0, top_k=None)
penalised_first = sampling.next_token_distribution(model, inputs, temperature=1.0, top_k=None, repetition_penalty=1.1)
prompt_tokens = inputs["input_ids"][0].unique()
for name, token in (("most likely prompt token", int(prompt_tokens[plain_first.probs[prompt_tokens].argmax()])),
                    ("favourite overall", int(plain_first.probs.argmax()))):
    print(f"{name} {sampling.token_label(tokenizer, token)!r}: in the prompt = "
          f"{token in prompt_tokens.tolist()}, logit {float(plain_first.logits[token]):.2f}, "
          f"p = {float(plain_first.probs[token]):.3f} without the penalty, "
          f"{float(penalised_first.probs[token]):.3f} with 1.1")

# %% [markdown]
# **Check yourself.** Only tokens of the context change. A positive logit is divided by 1.1 and a
# negative one multiplied by 1.1, so both go down: a negative logit moves further below zero. Tokens
# outside the context keep their logit; `은` and `·입니다` are among the penalised tokens. On the
# repeating start, the stronger the penalty, the less likely one more ` 서울` is.
#
# **확인해 보기.** 문맥에 있는 토큰만 바뀝니다. 양수 로짓은 1.1로 나누고 음수 로짓은 1.1을 곱하므로 둘 다
# 작아집니다. 음수 로짓은 0에서 더 멀어집니다. 문맥 밖의 토큰은 로짓이 그대로이고, `은`과 `·입니다`도 페널티를 받는
# 토큰에 들어 있습니다. 반복되는 시작 부분에서 페널티가 강할수록 ` 서울`을 한 번 더 쓸 확률이 낮아집니다.

# %%
assert set(changed) <= context and changed
for i in changed:
    expected = before[i] / 1.1 if before[i] > 0 else before[i] * 1.1
    assert torch.isclose(after[i], expected), (i, float(before[i]), float(after[i]))
assert (after[changed] < before[changed]).all(), "every penalised logit must go down, negative ones too"
outside = torch.ones_like(before, dtype=torch.bool)
outside[list(context)] = False
assert torch.equal(before[outside], after[outside])
for piece in ("은", " 입니다"):  # one token each, from the system prompt
    [piece_id] = tokenizer.encode(piece, add_special_tokens=False)
    assert piece_id in context, piece
    assert piece_id in changed or before[piece_id] == 0, piece  # (a logit of exactly 0 stays 0)
assert p_once_more[1.0] > p_once_more[1.1] > p_once_more[1.3], p_once_more
print("the penalty lowered only context tokens, by exactly 1.1x;",
      f"{int((before[changed] < 0).sum())} of them were negative and went further down")

# %% [markdown]
# ## 6. Greedy, beam search and sampling · 탐욕적 디코딩, 빔 서치, 샘플링
#
# Greedy decoding always takes the most likely token; beam search keeps the 4 best partial answers
# and returns the most likely whole answer; sampling draws from the card's distribution. Sampling
# uses the random number generator, so `transformers.set_seed` (which seeds Python, NumPy and torch)
# makes a draw repeatable.
#
# 탐욕적 디코딩은 언제나 가장 유력한 토큰을 고르고, 빔 서치는 가장 좋은 부분 답 4개를 유지하다가 전체 확률이 가장
# 높은 답을 돌려주며, 샘플링은 카드의 분포에서 뽑습니다. 샘플링은 난수를 쓰므로 `transformers.set_seed`(파이썬,
# NumPy, torch의 시드를 모두 정합니다)로 같은 결과를 다시 얻을 수 있습니다.

# %%
from transformers import set_seed


def answer(**settings):
    output = model.generate(**inputs, max_new_tokens=32, eos_token_id=terminators, **settings)
    return tokenizer.decode(output[0, inputs["input_ids"].shape[-1]:], skip_special_tokens=True)


def sampled(seed):
    set_seed(seed)
    return answer(**card.generate_kwargs())


side_by_side = {"greedy": answer(do_sample=False), "beam search (4 beams)": answer(do_sample=False, num_beams=4),
                "sampling, seed 0": sampled(0), "sampling, seed 1": sampled(1), "sampling, seed 2": sampled(2),
                "sampling, seed 0 again": sampled(0)}
helpers.show_table([{"method": method, "answer": text} for method, text in side_by_side.items()])

# %% [markdown]
# **Check yourself.** Greedy decoding and beam search have no randomness, and the same seed gives
# the same sample.
#
# **확인해 보기.** 탐욕적 디코딩과 빔 서치에는 무작위성이 없고, 같은 시드는 같은 샘플을 줍니다.

# %%
assert answer(do_sample=False) == side_by_side["greedy"]
assert answer(do_sample=False, num_beams=4) == side_by_side["beam search (4 beams)"]
assert side_by_side["sampling, seed 0 again"] == side_by_side["sampling, seed 0"]
print("distinct samples from 3 seeds:", len({side_by_side[f"sampling, seed {s}"] for s in range(3)}))

# %% [markdown]
# ## 7. Measured over many samples · 여러 샘플로 측정하기
#
# One sample proves little, so we draw `SAMPLES` answers per setting and measure three things:
# - **distinct-1 / distinct-2**: unique tokens (token pairs) divided by all of them, over all samples
#   together: how varied the answers are;
# - **mean log-probability** of the drawn tokens under the model's *raw* distribution: how likely
#   the model itself finds the text (closer to 0 = safer, more typical text);
# - **entropy** of the distribution each token was drawn from: how much choice sampling had.
#
# We sweep temperature alone (no top-k, no top-p) and top-p alone (temperature 1), and mark the
# card's combination. The counts are kept small so the notebook runs in CI on one CPU core; raise
# `SAMPLES` for smoother curves. Distinct-n falls as the samples grow (more text, more chances to
# repeat), so compare settings only at the same count; on Bllossom-tiny, 12 samples gave nearly the
# values of 24 while 6 did not (`benchmarks/sampling_sweep_cost.py`).
#
# 샘플 하나로는 알 수 있는 것이 적으므로, 설정마다 `SAMPLES`개의 답을 뽑아 세 가지를 측정합니다.
# - **distinct-1 / distinct-2**: 모든 샘플을 합쳐 서로 다른 토큰(토큰 쌍)의 수를 전체 수로 나눈 값, 즉 답이 얼마나 다양한지
# - **평균 로그 확률**: 뽑힌 토큰의 모델 *원래* 분포에서의 로그 확률, 즉 모델 스스로 그 글을 얼마나 그럴듯하게 보는지
#   (0에 가까울수록 무난하고 전형적인 글)
# - **엔트로피**: 각 토큰을 뽑은 분포의 엔트로피, 즉 샘플링에 선택지가 얼마나 있었는지
#
# 온도만(top-k, top-p 없이), 그리고 top-p만(온도 1) 바꿔 보고 카드의 조합을 표시합니다. CI에서 CPU 코어 하나로
# 돌도록 개수를 작게 잡았습니다. 더 매끄러운 곡선을 보려면 `SAMPLES`를 늘리세요. distinct-n은 샘플이 많을수록
# 줄어들므로(글이 길수록 겹칠 기회가 많습니다) 같은 개수끼리만 비교하세요. Bllossom-tiny에서는 12개가 24개와 거의
# 같은 값을 주었고 6개는 그렇지 않았습니다(`benchmarks/sampling_sweep_cost.py`).

# %%
import time

SAMPLES, NEW_TOKENS = 12, 16


def measure(settings, **row):
    stats = sampling.sample_statistics(model, inputs, settings, SAMPLES, NEW_TOKENS, seed=0, eos_token_id=terminators)
    return {**row, **{k: v for k, v in stats.items() if k != "samples"}}


started = time.perf_counter()
sweeps = {
    "temperature": [measure(sampling.SamplingSettings(temperature=t, top_k=None), temperature=t)
                    for t in (0.3, 0.6, 1.0, 1.5)],
    "top_p": [measure(sampling.SamplingSettings(top_k=None, top_p=p), top_p=p) for p in (0.5, 0.7, 0.9, 1.0)],
}
card_row = measure(card, setting="card 0.6 / 0.9 / 1.1")
print(f"{SAMPLES} samples x {NEW_TOKENS} tokens per setting, 9 settings: {time.perf_counter() - started:.0f} s")
sampling.plot_sweeps(sweeps, card_row);
helpers.show_table([{"setting": f"{knob}={row[knob]}", **{k: row[k] for k in
                    ("distinct-1", "distinct-2", "mean log-prob", "entropy")}}
                    for knob, rows in sweeps.items() for row in rows]
                   + [{k: card_row[k] for k in ("setting", "distinct-1", "distinct-2", "mean log-prob", "entropy")}])

# %% [markdown]
# **Check yourself.** Hotter sampling gives more varied, less likely text drawn from flatter
# distributions, and a smaller top-p gives less choice. The card's text is nearer the cold end in
# mean log-probability than plain sampling at temperature 1, and its samples from three seeds
# (section 6) are not all the same.
#
# **확인해 보기.** 온도가 높을수록 더 다양하지만 덜 그럴듯한 글이 더 평평한 분포에서 뽑히고, top-p가 작을수록
# 선택지가 줄어듭니다. 카드 설정의 글은 평균 로그 확률이 온도 1의 그냥 샘플링보다 낮은 온도 쪽에 가깝고, 세 시드로
# 뽑은 샘플(6절)은 모두 같지는 않습니다.

# %%
cold, hot = sweeps["temperature"][0], sweeps["temperature"][-1]
assert cold["entropy"] < hot["entropy"] and cold["distinct-2"] < hot["distinct-2"]
assert cold["mean log-prob"] > hot["mean log-prob"]
assert sweeps["top_p"][0]["entropy"] < sweeps["top_p"][-1]["entropy"]
assert card_row["entropy"] < sweeps["temperature"][2]["entropy"]  # the card is cooler than plain sampling
plain_row = sweeps["temperature"][2]  # temperature 1, no filters
assert abs(card_row["mean log-prob"] - cold["mean log-prob"]) < abs(card_row["mean log-prob"] - plain_row["mean log-prob"])
assert len({side_by_side[f"sampling, seed {seed}"] for seed in range(3)}) > 1
print("hot vs cold entropy:", round(cold["entropy"], 2), "->", round(hot["entropy"], 2))

# %% [markdown]
# **What this says about the card's 0.6 / 0.9 / 1.1.** Temperature 0.6 already removes most of the
# tail; top-p 0.9 then drops what is left of it at each step, so the card's text stays almost as
# likely to the model as greedy text (mean log-probability near the cold end) while the samples
# still differ from one another. Plain temperature 1 or 1.5 buys more variety with text the model
# itself finds unlikely, which on a small model is visible nonsense. The penalty of 1.1 divides
# every positive logit of a token already in the text by 1.1, about 9% less on the logit scale; in
# probability that can be a large cut for a token with a large logit, and it moves probability to
# tokens not yet in the text (the last lines of section 5 printed both on this model). A rule of
# thumb for your own task:
#
# | Task · 작업 | Settings · 설정 |
# |---|---|
# | Facts, extraction, code · 사실, 추출, 코드 | `do_sample=False` (greedy), or temperature 0.2–0.4 |
# | Chat, explanations · 대화, 설명 | the card: temperature 0.6, top_p 0.9, repetition_penalty 1.1 |
# | Brainstorming, stories · 브레인스토밍, 이야기 | temperature 0.8–1.0, top_p 0.9–0.95, several samples |
# | Loops in long answers · 긴 답의 반복 | repetition_penalty 1.1–1.2; higher also punishes common Korean particles |
#
# **카드의 0.6 / 0.9 / 1.1 설정이 뜻하는 것.** 온도 0.6만으로도 꼬리 대부분이 사라지고, top-p 0.9가 매 단계 남은
# 꼬리를 잘라 냅니다. 그래서 카드 설정의 글은 모델이 보기에 탐욕적 디코딩의 글만큼이나 그럴듯하면서도(평균 로그
# 확률이 낮은 온도 쪽에 가깝습니다) 샘플마다 다릅니다. 온도 1이나 1.5는 다양성을 더 얻는 대신 모델 스스로도
# 그럴듯하지 않다고 보는 글을 만들고, 작은 모델에서는 눈에 띄게 엉뚱한 글이 됩니다. 페널티 1.1은 이미 글에 나온
# 토큰의 양수 로짓을 1.1로 나눕니다. 로짓으로는 약 9% 줄어드는 것이지만, 로짓이 큰 토큰에게는 확률이 크게 줄어들 수
# 있고, 그만큼의 확률이 아직 글에 없는 토큰으로 옮겨 갑니다(5절의 마지막 줄들이 이 모델에서 둘 다 출력했습니다). 위
# 표는 여러분의 작업에 맞는 설정을 고르는 출발점입니다.

# %% [markdown]
# ## 8. Explore with sliders · 슬라이더로 탐험하기
#
# Move a slider and the bar chart shows the new distribution `generate` would sample from (for the
# first answer token), with a sample drawn under those settings (seed 0). Top-k at 0 means off.
# The widget needs a live kernel; below, the same update runs once with the card's settings, which
# is also what CI checks.
#
# 슬라이더를 움직이면 막대 그래프가 `generate`가 (답의 첫 토큰을) 뽑을 새 분포를 보여 주고, 그 설정으로 뽑은
# 샘플(시드 0)도 함께 보여 줍니다. top-k를 0으로 두면 꺼집니다. 위젯은 실행 중인 커널이 있어야 움직이며, 아래에서는
# 같은 갱신 함수를 카드 설정으로 한 번 실행합니다. CI도 이것을 확인합니다.

# %%
from IPython.display import display

explorer = sampling.SamplingExplorer(model, tokenizer, inputs)
display(explorer.widget)
explored, sample_text = explorer.update(temperature=0.6, top_k=50, top_p=0.9, repetition_penalty=1.1)

# %% [markdown]
# **Check yourself.** The explorer's chart is the distribution `generate` itself returned in
# section 2 for the card's settings, and its sample is the text `generate` writes with the card's
# settings and seed 0, called directly.
#
# **확인해 보기.** 탐험기의 그래프는 2절에서 `generate`가 카드 설정으로 직접 돌려준 분포이고, 탐험기의 샘플은
# `generate`를 카드 설정과 시드 0으로 직접 불러 얻은 글과 같습니다.

# %%
torch.testing.assert_close(explored.probs, by_generate.softmax(-1), rtol=0, atol=1e-5)
set_seed(explorer.seed)
direct = model.generate(**inputs, do_sample=True, temperature=0.6, top_p=0.9, repetition_penalty=1.1,
                        max_new_tokens=explorer.new_tokens, eos_token_id=terminators)
direct_text = tokenizer.decode(direct[0, inputs["input_ids"].shape[-1]:], skip_special_tokens=True)
assert sample_text == direct_text and sample_text.strip(), (sample_text, direct_text)
print("explorer sample == generate's:", sample_text)

# %% [markdown]
# ## 9. Settings that make no sense · 말이 안 되는 설정
#
# Temperature 0 would divide by zero; top-p outside (0, 1], a negative top-k or a penalty of 0 mean
# nothing either. The helper says so, with the valid range and what you probably meant. Top-k of 0
# is not a mistake: `generate` reads it as "off" (it adds no `TopKLogitsWarper`), and so does the
# helper, like the slider above.
#
# 온도 0은 0으로 나누는 것이고, (0, 1] 밖의 top-p, 음수 top-k, 0인 페널티도 의미가 없습니다. 헬퍼는 올바른 범위와
# 아마 의도했을 방법을 알려 줍니다. top-k 0은 실수가 아닙니다. `generate`는 이것을 "끔"으로 읽고
# (`TopKLogitsWarper`를 넣지 않습니다), 위의 슬라이더처럼 헬퍼도 그렇게 읽습니다.

# %%
messages_for = {}
for bad in (dict(temperature=0), dict(top_p=1.5), dict(top_k=-1), dict(repetition_penalty=0)):
    try:
        sampling.SamplingSettings(**bad)
    except helpers.TutorialError as error:
        messages_for[str(bad)] = str(error)
helpers.show_table([{"settings": bad, "message": message} for bad, message in messages_for.items()])
assert len(messages_for) == 4 and "do_sample=False" in messages_for["{'temperature': 0}"]
top_k_off = sampling.next_token_distribution(model, inputs, temperature=1.0, top_k=0)
assert "TopKLogitsWarper" not in [name for name, _ in top_k_off.stages]
assert torch.equal(top_k_off.scores.isfinite(), kept_by["top_k=0"])  # what generate kept with top_k=0

# %% [markdown]
# ## Exercises · 연습 문제
#
# Each task has a cell for your answer (in the student copy it holds `...`) and a check cell that
# runs your answer and replies: correct, or a hint that points at the idea. They use the `inputs` of
# section 1. Easy first.
#
# 문제마다 답을 쓰는 셀(학생용 사본에는 `...`가 들어 있습니다)과, 답을 실행해 보고 정답인지 알려 주거나
# 생각할 방향을 힌트로 주는 확인 셀이 있습니다. 1절의 `inputs`를 씁니다. 쉬운 문제부터 시작합니다.

# %%
from helpers.lessons import exercises

# %% [markdown]
# **1.** `top_k=1` keeps a single token. Which one? Give its id for the `inputs` of section 1.
#
# **1.** `top_k=1`은 토큰 하나만 남깁니다. 어느 토큰일까요? 1절의 `inputs`에 대해 그 id를 주세요.

# %% tags=["solution"]
# Exercise 1 · 문제 1
only_token = int(sampling.next_token_distribution(model, inputs, top_k=None).logits.argmax())

# %%
# Check · 확인
exercises.check_top_k_one(only_token, model, inputs)

# %% [markdown]
# **2.** Find a temperature at which the favourite next token gets more than 90% of the probability.
# How low you must go depends on how far the favourite's logit is ahead of the runner-up, so it
# differs between models and number formats: measure, don't guess.
#
# **2.** 가장 유력한 다음 토큰이 확률의 90%를 넘게 가져가는 temperature를 찾으세요. 얼마나 낮춰야 하는지는
# 1등 토큰의 로짓이 2등보다 얼마나 앞서는지에 달려 있어서 모델과 숫자 형식마다 다릅니다. 짐작하지 말고 재어 보세요.

# %% tags=["solution"]
# Exercise 2 · 문제 2: halve the temperature until the favourite holds more than 90%
sharp_temperature = 1.0
while sampling.next_token_distribution(model, inputs, temperature=sharp_temperature, top_k=None).probs.max() <= 0.9:
    sharp_temperature /= 2
    assert sharp_temperature > 1e-4, "the two favourite tokens are tied: no temperature separates them"
print(f"temperature {sharp_temperature:g}")

# %%
# Check · 확인
exercises.check_confident_temperature(sharp_temperature, model, inputs)

# %% [markdown]
# **3.** (Stretch) Choose sampling settings whose samples are more varied than greedy decoding
# (higher distinct-2) while the model still finds them more likely (higher mean log-probability) than
# sampling at temperature 1.5 with no filter. The check measures all three.
#
# **3.** (도전) 탐욕적 디코딩보다 다양하면서(distinct-2가 더 높음), 필터 없이 temperature 1.5로 뽑은 글보다
# 모델이 더 그럴듯하게 여기는(평균 로그 확률이 더 높음) 샘플링 설정을 고르세요. 확인 셀이 셋을 모두 잽니다.

# %% tags=["solution"]
# Exercise 3 · 문제 3
balanced = dict(temperature=0.6, top_p=0.9)

# %%
# Check · 확인
exercises.check_varied_but_likely(balanced, model, inputs, terminators)
