# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Vocabulary expansion · 어휘 확장
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bllossom-tutorials/bllossom-notebooks/blob/main/notebooks/04_vocab_expansion.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/bllossom-tutorials/bllossom-notebooks/blob/main/notebooks/04_vocab_expansion.ipynb)
#
# Bllossom's model card said that adding over 30,000 Korean tokens gave "about 25% longer Korean
# context than Llama-3". In this lesson you measure that kind of claim yourself, and you carry out
# a vocabulary expansion end to end.
#
# **What you will learn**
# - why Llama-3's byte-level BPE spends more tokens on Korean than on English, seen token by token;
# - how to measure *fertility* (tokens per character, per Hangul syllable, per word; bytes per token);
# - how to train a Korean BPE with the `tokenizers` library and append its tokens to Llama-3's
#   tokenizer without moving a single old id or special token;
# - how much more Korean fits in an 8,192-token window afterwards, set against the card's 25%;
# - how to resize a model's embeddings and start each new row from the mean of its old pieces,
#   and why that beats the default start; then save, reload and generate.
#
# **배울 내용**
# - Llama-3의 바이트 수준 BPE가 왜 영어보다 한국어에 더 많은 토큰을 쓰는지, 토큰 하나하나로 확인하기
# - *토큰 비율(fertility)* 측정: 글자당·한글 음절당·어절당 토큰 수와 토큰당 바이트 수
# - `tokenizers` 라이브러리로 한국어 BPE를 학습하고, 기존 id와 특수 토큰을 하나도 옮기지 않은 채 Llama-3
#   토크나이저에 새 토큰을 덧붙이는 방법
# - 확장 뒤 8,192 토큰 창에 한국어가 얼마나 더 들어가는지, 모델 카드의 25%와 비교하기
# - 모델의 임베딩을 늘리고 새 행을 기존 조각들의 평균으로 시작하는 방법, 그것이 기본 초기화보다 나은 이유,
#   그리고 저장·다시 불러오기·생성까지
#
# **Hardware · 하드웨어**: any machine; the tokenizer work runs on a CPU in seconds. The model part
# uses *Bllossom-tiny* on a CPU (or offline) and the real Bllossom on a GPU. The last part compares
# the real Bllossom tokenizers when the model hub is reachable and says so when it is not.
# Measured: the whole notebook ran in about 170 s on a 2-core CPU shared with other jobs (this
# project's CI machine, `python -m helpers.run_notebooks 04`), with Bllossom-tiny already built.
# Apple Silicon Macs run the real model on their GPU through MPS in fp16 (16 GB: the 3B; 32 GB or more: the 8B),
# and Kaggle's two free T4s hold the 8B in fp16 together.
# 어떤 컴퓨터에서도 실행됩니다. 토크나이저 작업은 CPU에서 몇 초면 끝납니다. 모델 부분은 CPU(또는
# 오프라인)에서는 *Bllossom-tiny*를, GPU에서는 실제 블로썸을 씁니다. 마지막 부분은 모델 허브에 연결될 때
# 실제 블로썸 토크나이저를 비교하고, 연결되지 않으면 그렇다고 알려 줍니다.
# 측정값: 다른 작업과 함께 쓰는 2코어 CPU(이 프로젝트의 CI 컴퓨터, `python -m helpers.run_notebooks 04`)에서 Bllossom-tiny를 이미
# 만들어 둔 상태로 노트북 전체가 약 170초 걸렸습니다.
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
# ## 1. How Llama-3 cuts Korean · Llama-3는 한국어를 어떻게 자르나
#
# Llama-3's tokenizer is a *byte-level* BPE: text is first turned into UTF-8 bytes, then frequent
# byte sequences are merged into tokens. An English letter is one byte; a Hangul syllable is three.
# Its 128,000 regular tokens (plus 256 special ones such as `<|eot_id|>`) are built by about 280,000
# merge rules, counted below from the tokenizer's own file. Both were learned mostly from English, so
# common English words are single tokens while many Korean syllables are not even whole: they are cut
# into byte pieces. We load the real Llama-3 tokenizer (the same vocabulary and ids as Bllossom-8B).
#
# Llama-3의 토크나이저는 *바이트 수준* BPE입니다. 글을 먼저 UTF-8 바이트로 바꾼 뒤, 자주 나오는 바이트
# 묶음을 토큰으로 합칩니다. 영어 알파벳은 1바이트, 한글 음절은 3바이트입니다. 일반 토큰 12만 8천 개
# (`<|eot_id|>` 같은 특수 토큰 256개는 별도)는 약 28만 개의 병합 규칙으로 만들어지며, 아래에서 토크나이저
# 파일을 직접 세어 확인합니다. 토큰과 규칙 모두 대부분 영어에서 배운 것이라, 흔한 영어 단어는 토큰 하나가
# 되지만 많은 한글 음절은 온전한 글자로도 남지 못하고 바이트 조각으로 잘립니다. Bllossom-8B와 어휘·id가
# 같은 실제 Llama-3 토크나이저를 불러옵니다.

# %%
import json

from IPython.display import display

from helpers.lessons import fertility, vocab_expansion
from helpers.offline import llama3_tokenizer

llama3 = llama3_tokenizer.load_llama3_tokenizer()
bpe_file = json.loads(llama3.backend_tokenizer.to_str())  # what tokenizer.json holds
regular_tokens, merge_rules = len(bpe_file["model"]["vocab"]), len(bpe_file["model"]["merges"])
print(f"Llama-3 tokenizer: {len(llama3):,} tokens = {regular_tokens:,} regular + "
      f"{len(bpe_file['added_tokens'])} special; {merge_rules:,} merge rules")
print(f"'한' is {len('한'.encode())} bytes, 'a' is {len(b'a')}")
assert regular_tokens == 128_000 and round(merge_rules, -4) == 280_000

# %% [markdown]
# The same sentence in Korean and in English, one coloured box per token. Red dashed boxes are
# byte pieces of a syllable that was split; hover over a box to see its id.
#
# 같은 뜻의 한국어 문장과 영어 문장을 토큰마다 색칠한 상자로 보여 줍니다. 빨간 점선 상자는 잘린 음절의
# 바이트 조각입니다. 상자 위에 마우스를 올리면 토큰 id가 보입니다.

# %%
korean = "이 토크나이저는 한국어 문장을 바이트 조각으로 쪼갭니다."
english = "This tokenizer chops Korean sentences into byte pieces."
display(fertility.token_spans(llama3, korean, "Llama-3 · 한국어"))
display(fertility.token_spans(llama3, english, "Llama-3 · English"))

# %% [markdown]
# Which syllables were split, and into which bytes? Each row is one character and the token
# pieces that build it (a piece can end inside one syllable and start the next).
#
# 어떤 음절이 어떤 바이트로 잘렸을까요? 각 행은 글자 하나와 그것을 만드는 토큰 조각입니다(조각 하나가 한
# 음절의 끝과 다음 음절의 시작에 걸칠 수도 있습니다).

# %%
korean_pieces = fertility.token_pieces(llama3, korean)
split = fertility.split_characters(korean_pieces)
helpers.show_table([{"characters": characters, "UTF-8 bytes": characters.encode().hex(" "),
                     "Llama-3 pieces": " + ".join(piece.label for piece in pieces),
                     "ids": ", ".join(str(piece.id) for piece in pieces)}
                    for characters, pieces in split])

# %% [markdown]
# **Check yourself.** Some Korean syllables are split into byte pieces, the pieces put back
# together give exactly the sentence's bytes, and the English sentence has no split characters.
#
# **확인해 보기.** 일부 한글 음절이 바이트 조각으로 잘리고, 조각을 다시 이으면 문장의 바이트와 정확히 같으며,
# 영어 문장에는 잘린 글자가 없습니다.

# %%
assert split, "expected at least one Korean syllable cut into byte pieces"
assert b"".join(piece.raw for piece in korean_pieces) == korean.encode("utf-8")
assert not fertility.split_characters(fertility.token_pieces(llama3, english))
print(f"{len(split)} groups of split syllables in the Korean sentence, none in the English one.")

# %% [markdown]
# ## 2. Fertility, measured · 토큰 비율 측정
#
# One sentence is an anecdote. We measure on a held-out bilingual text shipped with the project:
# twelve short paragraphs, each in Korean and in English saying the same thing. *Fertility* is
# tokens per unit of text: per non-space character, per Hangul syllable and per word, plus its
# inverse view, bytes per token. Fewer tokens for the same text means more text in the same window.
#
# 문장 하나만 보고는 결론을 내릴 수 없습니다. 이 프로젝트에 들어 있는 평가용 이중 언어 글로 측정합니다. 같은 내용을
# 한국어와 영어로 쓴 짧은 문단 12개입니다. *토큰 비율(fertility)*은 글의 단위당 토큰 수입니다: 공백이 아닌
# 글자당, 한글 음절당, 어절(단어)당 토큰 수, 그리고 거꾸로 본 토큰당 바이트 수. 같은 글에 토큰이 적을수록
# 같은 창(window)에 더 많은 글이 들어갑니다.

# %%
eval_texts = fertility.load_eval_texts()
print({language: f"{len(text):,} characters" for language, text in eval_texts.items()})
before = fertility.fertility_table({"Llama-3": llama3}, eval_texts)
helpers.show_table(before)

# %% [markdown]
# A picture of the first column: tokens per character in each language.
#
# 첫 번째 값(글자당 토큰 수)을 그림으로 보면 다음과 같습니다.

# %%
fertility.plot_fertility(before);

# %% [markdown]
# Two ways to compare the languages give two different gaps, so we print both. *Per character*,
# Korean looks far more expensive; but the two versions do not have the same number of characters:
# a Hangul syllable packs two or three letters (jamo) into one block, so the Korean text is much
# shorter than its English twin. *Per content* (all tokens of the Korean text over all tokens of
# the English text saying the same thing) is the fair comparison, because what a reader wants to
# fit into a context window is content, not characters.
#
# **Check yourself.** Saying the same thing costs Llama-3 more tokens in Korean than in English,
# and the per-character ratio overstates that gap, because the Korean text has fewer characters.
#
# 두 언어를 비교하는 방법이 두 가지이고 결과가 다르므로 둘 다 출력합니다. *글자당*으로 보면 한국어가 훨씬
# 비싸 보입니다. 하지만 두 글의 글자 수는 같지 않습니다. 한글 음절 하나는 자모 두세 개를 한 덩어리로 묶기
# 때문에 한국어 글이 같은 뜻의 영어 글보다 훨씬 짧습니다. *같은 내용 기준*(한국어 글 전체의 토큰 수를 같은
# 내용의 영어 글 전체의 토큰 수로 나눈 값)이 공정한 비교입니다. 문맥 창에 담고 싶은 것은 글자가 아니라
# 내용이기 때문입니다.
#
# **확인해 보기.** 같은 내용을 말하는 데 Llama-3는 영어보다 한국어에 더 많은 토큰을 쓰고, 한국어 글의 글자
# 수가 더 적으므로 글자당 비율은 그 차이를 부풀려 보여 줍니다.

# %%
row = {(r["tokenizer"], r["language"]): r for r in before}
per_content = row["Llama-3", "ko"]["tokens"] / row["Llama-3", "en"]["tokens"]
per_character = row["Llama-3", "ko"]["tokens/char"] / row["Llama-3", "en"]["tokens/char"]
characters = {language: sum(not c.isspace() for c in text) for language, text in eval_texts.items()}
assert per_content > 1, "Korean should cost more tokens than English for the same content"
assert characters["ko"] < characters["en"] and per_character > per_content
print(f"same content: Korean needs {per_content:.2f}x the tokens of English (the fair number)")
print(f"per character: {per_character:.2f}x, because the Korean text has {characters['ko']:,} characters "
      f"and the English one {characters['en']:,}")

# %% [markdown]
# ## 3. Train a Korean BPE · 한국어 BPE 학습하기
#
# The fix is to give the tokenizer Korean tokens. We learn them from a Korean corpus shipped with
# the project: 139 paragraphs of everyday prose written for this tutorial (MIT or CC0, see
# `helpers/offline/data/README.md`). The held-out text above is not part of it.
#
# 해결책은 토크나이저에 한국어 토큰을 넣어 주는 것입니다. 이 튜토리얼을 위해 직접 쓴 일상적인 글 139개
# 문단으로 된 한국어 말뭉치(MIT 또는 CC0, `helpers/offline/data/README.md` 참고)에서 토큰을 배웁니다. 앞의 평가용
# 글은 여기에 들어 있지 않습니다.

# %%
korean_corpus = vocab_expansion.load_korean_corpus()
print(f"{len(korean_corpus)} paragraphs, {sum(map(len, korean_corpus)):,} characters; "
      f"{vocab_expansion.hangul_share(korean_corpus):.0%} of the letters are Hangul.")
print(korean_corpus[0][:120], "...")

# %% [markdown]
# The `tokenizers` library trains the BPE, in four lines: an empty BPE model, a pre-tokenizer, a
# trainer, and `train_from_iterator`. We give it exactly Llama-3's pre-tokenizer (how text is split
# into words and bytes before merging), so every token it learns is a string Llama-3's vocabulary
# could hold. The trainer starts from the 256 byte symbols (`ByteLevel.alphabet()`), so any text can
# be cut, and merges the most frequent neighbouring pair until it has 8,000 tokens (or no pair
# occurs at least twice). Tokens come out in the order they were learned: the most useful
# first. We keep those made of whole characters (a byte-level BPE also learns byte fragments of
# syllables, which are unreadable and help little) and that Llama-3 does not have yet.
#
# BPE 학습은 `tokenizers` 라이브러리가 네 줄로 합니다: 빈 BPE 모델, 사전 토큰화, 트레이너, 그리고
# `train_from_iterator`. Llama-3와 똑같은 사전 토큰화(병합 전에 글을 단어와 바이트로 나누는 방식)를 주기
# 때문에, 배운 토큰은 모두 Llama-3 어휘에 들어갈 수 있는 문자열입니다. 트레이너는 256개의 바이트 기호
# (`ByteLevel.alphabet()`)에서 시작하므로 어떤 글이든 자를 수 있고, 토큰이 8,000개가 될 때까지 가장 자주
# 붙어 나오는 쌍을 합칩니다(두 번 이상 나온 쌍이 더 없으면 거기서 멈춥니다). 토큰은 배운 순서대로, 즉 가장 쓸모 있는 것부터
# 나옵니다. 그중 온전한 글자로 된 토큰(바이트 수준 BPE는 음절의 바이트 조각도 배우는데, 읽을 수 없고
# 쓸모도 적습니다)이면서 Llama-3에 아직 없는 것만 고릅니다.

# %%
import time

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

started = time.perf_counter()
korean_bpe = Tokenizer(models.BPE())
korean_bpe.pre_tokenizer = llama3.backend_tokenizer.pre_tokenizer  # cut words exactly like Llama-3
trainer = trainers.BpeTrainer(vocab_size=8000, min_frequency=2, show_progress=False,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
korean_bpe.train_from_iterator(korean_corpus, trainer)
training_seconds = time.perf_counter() - started
old_vocab = llama3.get_vocab()
candidates = vocab_expansion.korean_candidates(korean_bpe, old_vocab)
print(f"learned {korean_bpe.get_vocab_size():,} tokens in {training_seconds:.1f} s; {len(candidates):,} of them are "
      "whole Korean tokens that Llama-3 lacks.")
print("the first ones:", [vocab_expansion.token_text(token) for token in candidates[:12]])

# %% [markdown]
# ## 4. Append the new tokens · 새 토큰 덧붙이기
#
# Now the careful part. A BPE tokenizer is a vocabulary (token → id) plus an ordered list of merge
# rules. We keep both as they are and *append*: each new Korean token gets the next free id after
# 128,255 and one new merge rule that builds it from the pieces Llama-3 already cuts it into. Old
# merges keep their priority, so every old token keeps its id and English is cut exactly as before.
# One trap: `tokenizers` renumbers "added" (special) tokens it cannot find in the vocabulary when it
# loads a file, which would move `<|eot_id|>`; the helper writes them into the vocabulary at their ids.
# We ask for 1,024 new tokens (129,280 in all, a multiple of 128 that GPUs like). Where Llama-3
# cuts inside a syllable, the steps on the way to a word become tokens too, so a few new tokens
# are byte pieces.
#
# 이제 조심해야 할 부분입니다. BPE 토크나이저는 어휘(토큰 → id)와 순서가 있는 병합 규칙 목록으로 이루어집니다.
# 둘 다 그대로 두고 뒤에 *덧붙입니다*. 새 한국어 토큰마다 128,255 다음의 빈 id와, Llama-3가 이미 자르는
# 조각들로 그 토큰을 만드는 병합 규칙 하나를 줍니다. 기존 병합 규칙이 우선권을 유지하므로 기존 토큰의 id는
# 모두 그대로이고 영어는 전과 똑같이 잘립니다. 함정 하나: `tokenizers`는 파일을 불러올 때 어휘에 없는
# "추가된"(특수) 토큰의 번호를 다시 매겨서 `<|eot_id|>`가 옮겨질 수 있습니다. 그래서 도우미 함수는 특수
# 토큰을 원래 id 그대로 어휘에 적어 둡니다. 새 토큰 1,024개(모두 129,280개, GPU가 좋아하는 128의 배수)를 요청합니다.
# Llama-3가 음절 안쪽을 자르는 경우에는 단어로 가는 중간 단계도 토큰이 되므로, 새 토큰 몇 개는 바이트 조각입니다.

# %%
started = time.perf_counter()
expanded = vocab_expansion.append_korean_tokens(llama3, korean_bpe, vocab_size=len(llama3) + 1024)
append_seconds = time.perf_counter() - started
print(f"{len(llama3):,} -> {len(expanded):,} tokens; training {training_seconds:.1f} s + appending "
      f"{append_seconds:.1f} s = {training_seconds + append_seconds:.1f} s on this machine.")
new_ids = list(range(len(llama3), len(expanded)))
helpers.show_table([{"id": token_id, "new token": vocab_expansion.token_text(token),
                     "Llama-3's pieces": " + ".join(vocab_expansion.token_text(piece.value)
                                                    for piece in llama3.backend_tokenizer.model.tokenize(token))}
                    for token_id, token in zip(new_ids[:12], expanded.convert_ids_to_tokens(new_ids[:12]))])

# %% [markdown]
# The sentence from part 1, cut by the expanded tokenizer:
#
# 1부의 문장을 확장된 토크나이저로 잘라 보면:

# %%
display(fertility.token_spans(expanded, korean, "expanded · 한국어"))

# %% [markdown]
# **Check yourself.** Every old token string still has its old id, the special tokens too; the
# new ids follow the old ones without gaps; the held-out text and a chat prompt decode back to
# exactly what went in; and English gets identical ids.
#
# **확인해 보기.** 기존 토큰 문자열은 모두 원래 id를 그대로 가지고, 특수 토큰도 마찬가지입니다. 새 id는 빈틈
# 없이 기존 id 뒤에 이어지고, 평가용 글과 채팅 프롬프트를 인코딩했다가 디코딩하면 원래 글과 정확히 같으며,
# 영어는 똑같은 id를 받습니다.

# %%
new_vocab = expanded.get_vocab()
assert all(new_vocab[token] == token_id for token, token_id in old_vocab.items())
assert {t: expanded.convert_tokens_to_ids(t) for t in llama3.all_special_tokens} == \
       {t: llama3.convert_tokens_to_ids(t) for t in llama3.all_special_tokens}
assert sorted(new_vocab.values()) == list(range(len(expanded)))
chat = expanded.apply_chat_template([{"role": "user", "content": eval_texts["ko"][:200]}], tokenize=False)
for text in (eval_texts["ko"], eval_texts["en"], chat):
    assert expanded.decode(expanded(text, add_special_tokens=False)["input_ids"]) == text
assert expanded(eval_texts["en"])["input_ids"] == llama3(eval_texts["en"])["input_ids"]
print("old ids, special ids, round trips and English: all unchanged.")

# %% [markdown]
# The trap shows up only after saving and loading again, so check that too: the reloaded
# tokenizer must still put `<|eot_id|>` at 128009 and every new token at its id.
#
# 함정은 저장했다가 다시 불러온 뒤에야 드러나므로 그것도 확인합니다. 다시 불러온 토크나이저에서도
# `<|eot_id|>`는 128009이고 새 토큰도 모두 제 id에 있어야 합니다.

# %%
import tempfile

from transformers import AutoTokenizer

with tempfile.TemporaryDirectory() as folder:
    expanded.save_pretrained(folder)
    reloaded = AutoTokenizer.from_pretrained(folder)
assert reloaded.convert_tokens_to_ids("<|eot_id|>") == 128009 and reloaded.eos_token_id == expanded.eos_token_id
assert reloaded.get_vocab() == new_vocab
print("after save and reload: <|eot_id|> =", reloaded.convert_tokens_to_ids("<|eot_id|>"),
      "| vocabulary identical:", reloaded.get_vocab() == new_vocab)

# %% [markdown]
# ## 5. Before and after · 확장 전과 후
#
# The same measurements on the same held-out text, now for both tokenizers.
#
# 같은 평가용 글에서 두 토크나이저를 같은 방법으로 측정합니다.

# %%
after = fertility.fertility_table({"Llama-3": llama3, "Llama-3 + 1,024 Korean": expanded}, eval_texts)
helpers.show_table(after)
fertility.plot_fertility(after);

# %% [markdown]
# What does that mean for the context window? Bllossom-8B reads 8,192 tokens at a time. Dividing
# by tokens per character gives how many characters of text like ours fit, before and after; the
# gain is the card's kind of number.
#
# 문맥 창에는 어떤 의미일까요? Bllossom-8B는 한 번에 8,192 토큰을 읽습니다. 이를 글자당 토큰 수로 나누면
# 우리 글 같은 텍스트가 확장 전후에 몇 글자 들어가는지 알 수 있고, 늘어난 비율이 모델 카드가 말한 종류의 숫자입니다.

# %%
CARD_CLAIM = 0.25
window = {(name, language): fertility.characters_in_window(tokenizer, eval_texts[language])
          for name, tokenizer in {"Llama-3": llama3, "expanded": expanded}.items() for language in ("ko", "en")}
korean_gain = window["expanded", "ko"] / window["Llama-3", "ko"] - 1
helpers.show_table([{"language": language, "Llama-3": window["Llama-3", language],
                     "expanded": window["expanded", language],
                     "gain": f"{window['expanded', language] / window['Llama-3', language] - 1:+.1%}"}
                    for language in ("ko", "en")])
print(f"Korean context gain: {korean_gain:+.1%} with 1,024 new tokens; the card claims about "
      f"{CARD_CLAIM:.0%} with over 30,000.")

# %% [markdown]
# Read this gain with care. Our corpus and the held-out text were written by the same hand on the
# same everyday topics, so 1,024 tokens cover them unusually well; on Korean at large (news, law,
# code comments, names) a small vocabulary helps far less, which is why Bllossom added tens of
# thousands of tokens learned from a large corpus.
#
# **Check yourself.** Korean got cheaper and English did not change at all.
#
# 이 숫자는 조심해서 읽어야 합니다. 우리 말뭉치와 평가용 글은 같은 사람이 같은 일상 주제로 썼기 때문에
# 1,024개의 토큰이 유난히 잘 맞습니다. 뉴스, 법률, 이름 같은 폭넓은 한국어에서는 작은 어휘의 효과가 훨씬
# 작아서, 블로썸은 큰 말뭉치에서 배운 수만 개의 토큰을 추가했습니다.
#
# **확인해 보기.** 한국어는 토큰이 줄었고 영어는 전혀 바뀌지 않았습니다.

# %%
row = {(r["tokenizer"], r["language"]): r for r in after}
assert row["Llama-3 + 1,024 Korean", "ko"]["tokens"] < row["Llama-3", "ko"]["tokens"]
assert row["Llama-3 + 1,024 Korean", "en"]["tokens"] == row["Llama-3", "en"]["tokens"]
assert korean_gain > 0 and window["expanded", "en"] == window["Llama-3", "en"]
print(f"Korean tokens/char {row['Llama-3', 'ko']['tokens/char']:.3f} -> "
      f"{row['Llama-3 + 1,024 Korean', 'ko']['tokens/char']:.3f}; English unchanged.")

# %% [markdown]
# ## 6. The model side · 모델 쪽
#
# A tokenizer with new ids needs a model with rows for them. We load the model for this machine,
# exactly as in notebook 01, and check that its tokenizer cuts text like the Llama-3 tokenizer we
# expanded, so the old ids mean the same thing to it.
#
# 새 id가 생긴 토크나이저에는 그 id를 위한 행이 있는 모델이 필요합니다. 01 노트북과 똑같이 이 컴퓨터에 맞는
# 모델을 불러오고, 그 토크나이저가 우리가 확장한 Llama-3 토크나이저와 똑같이 글을 자르는지 확인합니다.

# %%
choice = helpers.pick_model()
model, tokenizer = helpers.load_model(choice)
assert len(tokenizer) == len(llama3) and \
    tokenizer(eval_texts["ko"])["input_ids"] == llama3(eval_texts["ko"])["input_ids"]
print(f"{type(model).__name__}: {model.get_input_embeddings().weight.shape[0]:,} embedding rows")

# %% [markdown]
# To compare starting points we need one number that does not depend on how the text is cut:
# the model's loss in nats per *character* (the total surprise of the text divided by its length).
# The text is Korean sentences from the project's chat corpus. First, the model as it is, reading
# through the old tokenizer.
#
# 시작점을 비교하려면 글을 어떻게 자르든 상관없는 숫자가 하나 필요합니다. 바로 *글자당* 손실(nats)입니다
# (글 전체의 놀라움을 글 길이로 나눈 값). 글은 이 프로젝트 채팅 말뭉치의 한국어 문장입니다. 먼저 지금 모델을
# 기존 토크나이저로 읽힙니다.

# %%
from helpers.offline.tiny_chat_model import load_corpus

korean_pairs = [pair for pair in load_corpus() if pair["lang"] == "ko"]
loss_texts = [pair["answer"] for pair in korean_pairs[:12]]
losses = {"Llama-3 tokenizer, before resizing": vocab_expansion.loss_per_character(model, llama3, loss_texts)}
print(losses)

# %% [markdown]
# `resize_token_embeddings` adds the rows. By default transformers fills them from a normal
# distribution with the mean and covariance of the old rows: plausible vectors, but none of them
# knows which word it stands for.
#
# `resize_token_embeddings`가 행을 추가합니다. transformers는 기본으로 기존 행들의 평균과 공분산을 가진
# 정규분포에서 새 행을 뽑습니다. 그럴듯한 벡터이지만 어느 것도 자기가 어떤 단어인지 모릅니다.

# %%
import torch

old_row_sums = {name: layer.weight.detach().cpu().float().sum(1)  # to check later that no old row moves
                for name, layer in (("input embeddings", model.get_input_embeddings()),
                                    ("LM head", model.get_output_embeddings()))}
torch.manual_seed(0)
model.resize_token_embeddings(len(expanded))
losses["expanded, default rows"] = vocab_expansion.loss_per_character(model, expanded, loss_texts)
print(f"embedding rows now: {model.get_input_embeddings().weight.shape[0]:,}")

# %% [markdown]
# Mean initialisation: each new token is a merge of old pieces, so start its row at the mean of
# those pieces' rows. First the pieces: the *old* tokenizer's BPE model cuts each new token string
# into the old ids it is made of.
#
# 평균 초기화: 새 토큰은 기존 조각들을 합친 것이므로, 새 행을 그 조각들의 행의 평균에서 시작합니다. 먼저
# 조각을 구합니다. *기존* 토크나이저의 BPE 모델이 새 토큰 문자열을 그것을 이루는 기존 id들로 자릅니다.

# %%
old_bpe = llama3.backend_tokenizer.model
pieces = {new_id: [piece.id for piece in old_bpe.tokenize(token)]
          for new_id, token in zip(new_ids, expanded.convert_ids_to_tokens(new_ids))}
some_id = new_ids[0]
print(f"new id {some_id} ({vocab_expansion.token_text(expanded.convert_ids_to_tokens(some_id))!r}) "
      f"is old ids {pieces[some_id]}")

# %% [markdown]
# Then the rows, in the input embeddings and in the LM head (the output layer that scores every
# token). Where the two share one matrix (tied embeddings, as in the stand-in), it is set once.
# The mean is taken in float32 and stored in the model's dtype. The model then reads the new
# token roughly as it read the pieces. Setting 1,024 rows takes a fraction of a second.
#
# 이어서 행을 채웁니다. 입력 임베딩과 LM head(모든 토큰의 점수를 매기는 출력 층) 모두입니다. 둘이 행렬 하나를
# 같이 쓰면(대체 모델처럼 임베딩을 묶은 경우) 한 번만 채웁니다. 평균은 float32로 계산해 모델의 dtype으로
# 저장합니다. 그러면 모델은 새 토큰을 조각들을 읽을 때와 비슷하게 읽습니다. 1,024개의 행을 채우는 데 1초도
# 걸리지 않습니다.

# %%
vocab_expansion.check_rows_exist(model, pieces)  # a clear message if resize_token_embeddings was skipped
layers = {"input embeddings": model.get_input_embeddings(), "LM head": model.get_output_embeddings()}
matrices = {id(layer.weight): layer.weight for layer in layers.values()}  # one entry when the two are tied
started = time.perf_counter()
with torch.no_grad():
    for weight in matrices.values():
        for new_id, old_ids in pieces.items():
            weight[new_id] = weight[old_ids].float().mean(0).to(weight.dtype)
print(f"initialised {len(pieces):,} rows in {len(matrices)} matrix(es) in {time.perf_counter() - started:.2f} s")
losses["expanded, mean of pieces"] = vocab_expansion.loss_per_character(model, expanded, loss_texts)
helpers.show_table([{"model and tokenizer": name, "loss (nats/char)": round(value, 3)}
                    for name, value in losses.items()])

# %% [markdown]
# The mean start is much better than the default start, but it is still worse than the model was
# before resizing, reading the same text through the old tokenizer: the model has never seen a new
# id in training, and the mean of a word's piece vectors is only a rough stand-in for the word. The
# new rows start close; continued training on Korean text is what makes the expanded model pay off.
#
# **Check yourself.** Before any training, the mean start gives a lower loss than the default
# start but a higher one than before resizing; every new row, in the input embeddings and in the
# LM head, is exactly the mean of its pieces' rows; the pieces spell the new token; and no old row
# moved.
#
# 평균 초기화는 기본 초기화보다 훨씬 낫지만, 확장하기 전의 모델이 기존 토크나이저로 같은 글을 읽을 때보다는
# 여전히 나쁩니다. 모델은 학습 중에 새 id를 본 적이 없고, 조각 벡터의 평균은 단어를 대략 흉내 낼 뿐입니다.
# 새 행은 가까운 곳에서 출발할 뿐이고, 확장한 모델이 제 값을 하려면 한국어 글로 추가 학습을 해야 합니다.
#
# **확인해 보기.** 학습하기 전에 평균 초기화는 기본 초기화보다 손실이 낮지만 확장 전보다는 높습니다. 새 행은
# 입력 임베딩과 LM head 모두에서 정확히 조각들 행의 평균이고, 조각을 이으면 새 토큰이 되며, 기존 행은 하나도
# 바뀌지 않았습니다.

# %%
before_resizing = losses["Llama-3 tokenizer, before resizing"]
assert losses["expanded, default rows"] > losses["expanded, mean of pieces"] > before_resizing, losses
for name, layer in layers.items():
    weight = layer.weight
    assert torch.equal(weight[: len(llama3)].detach().cpu().float().sum(1), old_row_sums[name]), f"old {name} row moved"
    for new_id, old_ids in pieces.items():
        assert torch.equal(weight[new_id], weight[old_ids].float().mean(0).to(weight.dtype)), new_id
        assert "".join(llama3.convert_ids_to_tokens(old_ids)) == expanded.convert_ids_to_tokens(new_id)
print(f"loss: before resizing {before_resizing:.3f}, mean start {losses['expanded, mean of pieces']:.3f}, "
      f"default start {losses['expanded, default rows']:.3f} nats/char; all {len(pieces):,} new rows "
      f"in {len(layers)} layers are exact means, old rows unchanged.")

# %% [markdown]
# ## 7. Save, reload, generate · 저장하고 다시 불러와 생성하기
#
# The expanded model and tokenizer are saved together like any other model. We ask a Korean
# question with the card's system prompt and greedy decoding, save, free the memory, load the folder
# back with the `Auto` classes and ask again: the answer must be the same. The model has not been
# trained on the new tokens yet, so it reads them but rarely writes them; continued pre-training on
# Korean text (what Bllossom did) is the next step.
#
# 확장한 모델과 토크나이저는 다른 모델처럼 함께 저장합니다. 모델 카드의 시스템 프롬프트와 탐욕적 디코딩(greedy
# decoding)으로 한국어 질문을 하고, 저장하고, 메모리를 비운 뒤, `Auto` 클래스로 폴더를 다시 불러와 같은 질문을
# 합니다. 답은 같아야 합니다. 모델은 아직 새 토큰으로 학습하지 않았으므로 새 토큰을 읽기는 하지만 거의 쓰지는
# 않습니다. 다음 단계는 블로썸처럼 한국어 글로 추가 사전 학습을 하는 것입니다.

# %%
def ask(model, tokenizer, question: str) -> tuple[str, int]:
    """Greedy answer to one question, and how many of its tokens are new ids."""
    messages = [{"role": "system", "content": helpers.BLLOSSOM_SYSTEM_PROMPT},
                {"role": "user", "content": question}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,
                                           return_tensors="pt").to(model.device)
    terminators = [tokenizer.convert_tokens_to_ids(t) for t in ("<|end_of_text|>", "<|eot_id|>")]
    output = model.generate(**inputs, do_sample=False, max_new_tokens=80, eos_token_id=terminators)
    answer_ids = output[0, inputs["input_ids"].shape[-1]:]
    return tokenizer.decode(answer_ids, skip_special_tokens=True), int((answer_ids >= len(llama3)).sum())


question = korean_pairs[0]["question"]
answer_before_saving, new_tokens_written = ask(model, expanded, question)
print(question, "->", answer_before_saving, f"\n({new_tokens_written} new tokens in the answer)")

# %% [markdown]
# Save to `runs/04-expanded` beside this notebook (the next run overwrites it, so no copies pile up),
# free the memory, reload.
#
# 노트북 옆의 `runs/04-expanded`에 저장하고(다음 실행이 덮어쓰므로 사본이 쌓이지 않습니다), 메모리를 비우고,
# 다시 불러옵니다.

# %%
import gc

from transformers import AutoModelForCausalLM

options = helpers.load_options(choice)
saved = "runs/04-expanded"
model.save_pretrained(saved)
expanded.save_pretrained(saved)
del model
gc.collect()
if torch.cuda.is_available():
    torch.cuda.empty_cache()
model = AutoModelForCausalLM.from_pretrained(saved, **options)
tokenizer = AutoTokenizer.from_pretrained(saved)
answer_after_reload, _ = ask(model, tokenizer, question)
print(f"reloaded from {saved}: vocab_size {model.config.vocab_size:,}, tokenizer {len(tokenizer):,}")
print(question, "->", answer_after_reload)

# %% [markdown]
# **Check yourself.** The saved config knows the new size, the reloaded tokenizer matches it, and
# the reloaded model gives the same greedy answer, in Korean.
#
# **확인해 보기.** 저장된 설정은 새 크기를 알고, 다시 불러온 토크나이저도 그 크기와 같으며, 다시 불러온
# 모델은 같은 한국어 답을 냅니다.

# %%
import re

assert model.config.vocab_size == len(tokenizer) == len(expanded)
assert tokenizer.convert_tokens_to_ids("<|eot_id|>") == 128009
assert answer_after_reload == answer_before_saving and re.search("[가-힣]", answer_after_reload)
print("same answer after save and reload.")

# %% [markdown]
# ## 8. The real Bllossom tokenizers · 실제 블로썸 토크나이저
#
# The current `MLP-KTLim/llama-3-Korean-Bllossom-8B` no longer expands the vocabulary (128,256
# tokens, Llama-3's). The May 2024 checkpoint did; a public fine-tune of it,
# `kfkas/Hansung-Bllossom-8B`, keeps that expanded tokenizer. With the model hub we measure both on
# our held-out text, plus ours for comparison; without the hub (as in CI) this part says so and
# moves on.
#
# Its published `config.json` already tells a lot, and it does not match the card's "over 30,000"
# Korean tokens: `vocab_size` 145,088 and `bos_token_id` 144,782 (Llama-3: 128,256 and 128,000).
# So the regular vocabulary grew from 128,000 to 144,782 tokens, about 16.8K new ones, and the 256
# special tokens were *moved* up behind them (`<|begin_of_text|>` 128000 → 144782; its
# `generation_config.json` stops on 144783 and 144791, which are `<|end_of_text|>` and `<|eot_id|>`);
# the matrix has room for them and a few spare rows. The card's figure may count something else (for example
# every token of a Korean BPE, including those Llama-3 already had); the config cannot tell us, so
# we print what the config says and, with the hub, what the tokenizer itself holds. Moved special
# ids are the trap of part 4 taken on purpose: code that hard-codes 128009 for `<|eot_id|>` never
# stops with that model.
#
# 현재의 `MLP-KTLim/llama-3-Korean-Bllossom-8B`는 어휘를 늘리지 않습니다(Llama-3의 128,256개). 2024년 5월
# 체크포인트는 어휘를 늘렸고, 그 공개 미세 조정 모델 `kfkas/Hansung-Bllossom-8B`가 확장된 토크나이저를 그대로
# 가지고 있습니다. 모델 허브에 연결되면 두 토크나이저와 우리 토크나이저를 평가용 글로 측정하고, 연결되지
# 않으면(CI처럼) 그렇다고 알려 주고 넘어갑니다.
#
# 공개된 `config.json`만 보아도 많은 것을 알 수 있고, 모델 카드의 "3만 개가 넘는" 한국어 토큰과는 맞지
# 않습니다. `vocab_size`는 145,088, `bos_token_id`는 144,782입니다(Llama-3는 128,256과 128,000). 즉 일반
# 어휘가 128,000개에서 144,782개로, 약 1만 6,800개 늘었고, 특수 토큰 256개는 그 뒤로 *옮겨졌습니다*
# (`<|begin_of_text|>` 128000 → 144782. `generation_config.json`은 144783과 144791, 곧 `<|end_of_text|>`와
# `<|eot_id|>`에서 멈춥니다). 행렬에는 그것들과 남는 행 몇 개가 들어갈 자리가 있습니다. 카드의 숫자는 다른 것을 센 것일 수
# 있습니다(예를 들어 Llama-3에 이미 있던 것까지 포함한 한국어 BPE의 모든 토큰). 설정 파일로는 알 수 없으므로,
# 설정이 말하는 숫자를 출력하고 허브에 연결되면 토크나이저가 실제로 가진 것도 출력합니다. 특수 토큰 id가
# 옮겨진 것은 4부의 함정을 일부러 택한 것입니다. `<|eot_id|>`를 128009로 고정해 둔 코드는 그 모델에서 멈추지
# 않습니다.

# %%
# From the published config.json and generation_config.json of kfkas/Hansung-Bllossom-8B
HANSUNG_CONFIG = {"vocab_size": 145_088, "bos_token_id": 144_782, "eos_token_id": [144_783, 144_791]}
new_regular = HANSUNG_CONFIG["bos_token_id"] - regular_tokens  # special tokens start right after the regular ones
spare_rows = HANSUNG_CONFIG["vocab_size"] - HANSUNG_CONFIG["bos_token_id"] - len(bpe_file["added_tokens"])
eot_offset = llama3.convert_tokens_to_ids("<|eot_id|>") - llama3.bos_token_id
print(f"Hansung-Bllossom-8B config: {regular_tokens:,} + {new_regular:,} = {HANSUNG_CONFIG['bos_token_id']:,} "
      f"regular tokens, then room for Llama-3's {len(bpe_file['added_tokens'])} special ones and {spare_rows} "
      "spare rows; "
      f"<|eot_id|> moved from {llama3.convert_tokens_to_ids('<|eot_id|>'):,} to "
      f"{HANSUNG_CONFIG['bos_token_id'] + eot_offset:,} (card: over 30,000 new tokens).")
assert HANSUNG_CONFIG["bos_token_id"] + eot_offset in HANSUNG_CONFIG["eos_token_id"]

HUB_TOKENIZERS = {"Bllossom-8B (now)": "MLP-KTLim/llama-3-Korean-Bllossom-8B",
                  "Bllossom-8B, expanded (2024-05)": "kfkas/Hansung-Bllossom-8B"}
hub = {}
for name, repo_id in HUB_TOKENIZERS.items():
    try:
        hub[name] = fertility.load_hub_tokenizer(repo_id)
    except helpers.TutorialError as error:  # offline: explain and move on
        print(error)
for name, hub_tokenizer in hub.items():
    hub_vocab = hub_tokenizer.get_vocab()
    kept = sum(hub_vocab.get(token) == token_id for token, token_id in old_vocab.items())
    characters = fertility.characters_in_window(hub_tokenizer, eval_texts["ko"])
    print(f"{name}: {len(hub_tokenizer):,} tokens; {kept:,} of Llama-3's {len(old_vocab):,} keep their id; "
          f"<|eot_id|> is {hub_tokenizer.convert_tokens_to_ids('<|eot_id|>'):,}; "
          f"Korean fits {characters:,} characters in 8,192 tokens, {characters / window['Llama-3', 'ko'] - 1:+.1%} "
          f"over Llama-3 (card: about {CARD_CLAIM:+.0%}; ours: {korean_gain:+.1%}).")
if hub:
    helpers.show_table(fertility.fertility_table({**hub, "ours": expanded}, eval_texts))

# %% [markdown]
# ## 9. Mistakes get a clear message · 실수하면 분명한 메시지가 나옵니다
#
# | Mistake · 실수 | Message · 메시지 |
# |---|---|
# | an empty corpus · 빈 말뭉치 | asks for Korean paragraphs · 한국어 문단을 달라고 합니다 |
# | a corpus that is not Korean · 한국어가 아닌 말뭉치 | says how much of it is Hangul · 한글 비율을 알려 줍니다 |
# | `vocab_size` not above 128,256 · 128,256 이하의 `vocab_size` | suggests a size that adds tokens · 토큰이 늘어나는 크기를 제안합니다 |
# | a hub id offline · 오프라인에서 허브 id | says the hub is unreachable and what to do · 허브에 연결할 수 없다고 알려 주고 방법을 안내합니다 |
#
# Try one: asking for fewer tokens than Llama-3 already has.
#
# 하나 시험해 봅시다: Llama-3가 이미 가진 것보다 적은 토큰을 요청합니다.

# %%
try:
    vocab_expansion.append_korean_tokens(llama3, korean_bpe, vocab_size=32000)
except helpers.TutorialError as error:
    message = str(error)
print(message)
assert "128,256" in message

# %% [markdown]
# **Where next · 다음 단계**: the expanded model now needs continued pre-training on Korean text so
# that it learns to *write* its new tokens; only then does the longer context pay off in answers.
#
# 확장된 모델은 이제 한국어 글로 추가 사전 학습을 해서 새 토큰을 *쓰는* 법을 배워야 합니다. 그래야 늘어난
# 문맥이 답변에서도 효과를 냅니다.

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
# **1.** How many Llama-3 tokens does `"블로썸은 한국어를 잘합니다"` spend per character? Count the
# characters that are not spaces, and no special tokens.
#
# **1.** `"블로썸은 한국어를 잘합니다"`는 Llama-3에서 글자 하나에 토큰을 몇 개 쓸까요? 공백이 아닌 글자만
# 세고, 특수 토큰은 빼세요.

# %% tags=["solution"]
# Exercise 1 · 문제 1
sentence = "블로썸은 한국어를 잘합니다"
per_character = len(llama3.encode(sentence, add_special_tokens=False)) / len(sentence.replace(" ", ""))

# %%
# Check · 확인
exercises.check_tokens_per_character(per_character, llama3, "블로썸은 한국어를 잘합니다")

# %% [markdown]
# **2.** Find a Korean word that Llama-3 cuts into byte pieces (some piece is not a whole character)
# and that the expanded tokenizer keeps as one token. Look among the new tokens.
#
# **2.** Llama-3는 바이트 조각으로 자르고(온전한 글자가 아닌 조각이 있음) 확장된 토크나이저는 토큰 하나로
# 두는 한국어 단어를 찾으세요. 새 토큰들 가운데서 찾아보세요.

# %% tags=["solution"]
# Exercise 2 · 문제 2
kept_whole = next(
    word for word in (expanded.decode([i]).strip() for i in new_ids)
    if word and " " not in word and len(expanded.encode(word, add_special_tokens=False)) == 1
    and any("<0x" in vocab_expansion.token_text(t)
            for t in llama3.convert_ids_to_tokens(llama3.encode(word, add_special_tokens=False))))

# %%
# Check · 확인
exercises.check_word_kept_whole(kept_whole, llama3, expanded)

# %% [markdown]
# **3.** How many of Llama-3's tokens, special ones included, have a different id in the expanded
# tokenizer? Compare the two vocabularies.
#
# **3.** Llama-3의 토큰 가운데(특수 토큰 포함) 확장된 토크나이저에서 id가 달라진 것은 몇 개일까요? 두 어휘를
# 비교하세요.

# %% tags=["solution"]
# Exercise 3 · 문제 3
expanded_vocab = expanded.get_vocab()
moved_tokens = sum(expanded_vocab.get(token) != index for token, index in llama3.get_vocab().items())

# %%
# Check · 확인
exercises.check_old_ids_kept(moved_tokens, llama3, expanded)
