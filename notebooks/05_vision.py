# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Asking about pictures · 그림에 대해 묻기
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bllossom-tutorials/bllossom-notebooks/blob/main/notebooks/05_vision.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/bllossom-tutorials/bllossom-notebooks/blob/main/notebooks/05_vision.ipynb)
#
# **What you will learn**
# - how Bllossom's two vision models differ: Vision-8B (LLaVA-NeXT) and AICA-5B (Mllama);
# - one code path for both: `AutoProcessor`, `AutoModelForImageTextToText` and the processor's chat
#   template with `{"type": "image"}` content, instead of the two model cards' different prompt code;
# - how a picture becomes something a language model can read: tiles, patches and image tokens;
# - why the card warns that answers change with the size of a picture;
# - asking in Korean and in English, with and without a picture, and what to do when a picture will not load.
#
# **배울 내용**
# - 블로썸의 두 비전 모델 Vision-8B(LLaVA-NeXT)와 AICA-5B(Mllama)의 구조 차이
# - 두 모델에 똑같이 쓰는 코드 한 가지: `AutoProcessor`, `AutoModelForImageTextToText`, 그리고
#   `{"type": "image"}` 내용을 받는 프로세서의 채팅 템플릿 (모델 카드마다 다른 프롬프트 코드 대신)
# - 그림이 언어 모델이 읽을 수 있는 형태가 되는 과정: 타일, 패치, 이미지 토큰
# - 그림 크기에 따라 답이 달라질 수 있다는 모델 카드의 경고가 무슨 뜻인지
# - 한국어와 영어로, 그림과 함께 또는 그림 없이 묻기, 그리고 그림을 읽지 못할 때 해결 방법
#
# **Hardware · 하드웨어**: any machine. On a CPU (or offline) the notebook uses a tiny LLaVA-NeXT
# trained on this machine on pictures of coloured shapes (`BLLOSSOM_VISION_MODEL=tiny-mllama` picks the tiny
# Mllama instead); on a free Colab T4 it loads AICA-5B in fp16, with 24 GB or more Vision-8B in bf16.
# Apple Silicon Macs with 32 GB or more run Vision-8B on their GPU through MPS in fp16, and Kaggle's two
# free T4s hold Vision-8B in fp16 together.
# Measured: the whole notebook ran in about 90 s on a 2-core CPU shared with other jobs (this
# project's CI machine, `python -m helpers.run_notebooks 05`), with tiny-llava-next already built
# (section 11 also asks tiny-mllama, built once, in two to five minutes, when it is missing).
# 어떤 컴퓨터에서도 실행됩니다. CPU(또는 오프라인)에서는 이 컴퓨터에서 색깔 도형 그림으로 직접 학습한
# 작은 LLaVA-NeXT를 씁니다(`BLLOSSOM_VISION_MODEL=tiny-mllama`로 작은 Mllama를 고를 수 있습니다). 무료 Colab
# T4에서는 fp16 AICA-5B를, 24 GB 이상 GPU에서는 bf16 Vision-8B를 불러옵니다.
# 32 GB 이상의 Apple Silicon Mac은 MPS로 GPU에서 fp16 Vision-8B를 실행하고, Kaggle의 무료 T4 두 개는 함께 fp16
# Vision-8B를 담습니다.
# 측정값: 다른 작업과 함께 쓰는 2코어 CPU(이 프로젝트의 CI 컴퓨터, `python -m helpers.run_notebooks 05`)에서 tiny-llava-next를
# 이미 만들어 둔 상태로 노트북 전체가 약 90초 걸렸습니다(11절은 tiny-mllama에게도 묻습니다. 없으면 한 번 만들며 2~3분
# 걸립니다).

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
# ## 1. Two designs · 두 가지 구조
#
# Both vision models put a vision tower (a ViT that turns a picture into vectors) in front of a
# Llama language model, but they join the two differently (Mllama's single image token is
# `<|image|>`):
#
# | | Vision-8B (LLaVA-NeXT) | AICA-5B (Mllama) |
# |---|---|---|
# | picture in the text | many image tokens, one per patch, inside the prompt | a single image token |
# | how the LM reads it | ordinary self-attention over those tokens | cross-attention layers look at the tiles |
# | large pictures | *any resolution*: a grid of tiles plus the whole picture, so more tokens | up to 4 tiles, the text stays short |
#
# 두 비전 모델 모두 그림을 벡터로 바꾸는 비전 타워(ViT) 뒤에 Llama 언어 모델을 두지만, 둘을 잇는 방법이
# 다릅니다. Vision-8B(LLaVA-NeXT)는 패치마다 이미지 토큰을 하나씩 프롬프트 안에 넣고 보통의 셀프 어텐션으로
# 읽습니다. 큰 그림은 여러 타일과 전체 그림으로 나누므로 토큰이 늘어납니다(any-resolution). AICA-5B(Mllama)는
# 프롬프트에 `<|image|>` 토큰 하나만 두고, 교차 어텐션(cross-attention) 층이 최대 4개의 타일을 봅니다.

# %%
helpers.show_table([row for row in helpers.catalog_table() if row["kind"] == "vision"])

# %% [markdown]
# ## 2. Choose and load · 고르고 불러오기
#
# As for the text models, the hardware decides (AICA-5B fits a free T4 in fp16) and
# `BLLOSSOM_VISION_MODEL` overrides it. One loading path serves both designs: `AutoProcessor` brings the
# tokenizer and the image processor together, `AutoModelForImageTextToText` picks the right class.
#
# 텍스트 모델처럼 하드웨어가 모델을 정하고(AICA-5B는 무료 T4에 fp16으로 들어갑니다) `BLLOSSOM_VISION_MODEL`로
# 바꿀 수 있습니다. 불러오는 코드는 하나입니다. `AutoProcessor`는 토크나이저와 이미지 프로세서를 함께
# 가져오고, `AutoModelForImageTextToText`는 구조에 맞는 클래스를 고릅니다.

# %%
from helpers.lessons import vision
from helpers.offline import vision_samples

choice = helpers.pick_model(kind="vision")

# %% [markdown]
# The loading cell is the two plain `from_pretrained` calls; the helpers only pick where to read
# (`source_of`: a hub id, or the stand-in's folder) and the options (`load_options`: dtype, and
# `device_map="auto"` on a GPU), and the cell prints the call with its options spelled out. For
# Vision-8B on a 24 GB GPU, that is what you would write yourself:
#
# ```python
# processor = AutoProcessor.from_pretrained("Bllossom/llama-3.1-Korean-Bllossom-Vision-8B")
# model = AutoModelForImageTextToText.from_pretrained("Bllossom/llama-3.1-Korean-Bllossom-Vision-8B",
#                                                     dtype=torch.bfloat16, device_map="auto")
# ```
#
# Vision-8B's card was written for transformers 4.44 and builds its prompt by hand
# (`"<image>\n" + question`). Where a processor comes without a chat template,
# `ensure_chat_template` gives it Llama-3's, with the picture where that card puts it; a processor
# that has one is left alone.
#
# 불러오는 셀은 평범한 `from_pretrained` 호출 두 개입니다. 도우미 함수는 어디서 읽을지(`source_of`: 허브 id
# 또는 대체 모델 폴더)와 옵션(`load_options`: dtype, GPU에서는 `device_map="auto"`)만 정하고, 셀은 옵션까지 모두
# 적은 호출을 출력합니다. 24 GB GPU에서 Vision-8B라면 위의 코드가 직접 쓸 코드입니다.
#
# Vision-8B 모델 카드는 transformers 4.44용으로 작성되어 프롬프트를 손으로 만듭니다(`"<image>\n" + 질문`).
# 프로세서에 채팅 템플릿이 없으면 `ensure_chat_template`이 카드와 같은 자리에 그림을 두는 Llama-3 템플릿을
# 붙여 줍니다. 템플릿이 이미 있으면 아무것도 바꾸지 않습니다.

# %%
from transformers import AutoModelForImageTextToText, AutoProcessor

with helpers.explained_load_errors(choice):  # hub, GPU and offline errors become advice
    source = helpers.source_of(choice)
    options = helpers.load_options(choice)
    processor = AutoProcessor.from_pretrained(source)
    model = AutoModelForImageTextToText.from_pretrained(source, **options)
helpers.ensure_chat_template(processor)
print("the call on this machine:")
print(f"  processor = AutoProcessor.from_pretrained({source!r})")
print(f"  model = AutoModelForImageTextToText.from_pretrained({source!r}, "
      + ", ".join(f"{name}={value!r}" for name, value in options.items()) + ")")
print(type(model).__name__, "+", type(processor).__name__, "on", model.device, "in", model.dtype)

# %% [markdown]
# **Check yourself.** Both real models and both stand-ins keep Llama-3's special tokens and put
# their image token right after Llama-3's 128,256 tokens, at id 128256.
#
# **확인해 보기.** 실제 모델과 대체 모델 모두 Llama-3의 특수 토큰을 그대로 쓰고, 이미지 토큰을 Llama-3의
# 128,256개 토큰 바로 다음인 id 128256에 둡니다.

# %%
tokenizer = processor.tokenizer
image_token_id = tokenizer.convert_tokens_to_ids(processor.image_token)
assert image_token_id == 128256, image_token_id
assert tokenizer.convert_tokens_to_ids("<|eot_id|>") == 128009
print(f"image token {processor.image_token!r} is id {image_token_id}")

# %% [markdown]
# ## 3. Sample pictures · 예제 그림
#
# The tutorial draws its own pictures, so nothing is downloaded: a shape scene, a Korean sign
# (Hangul drawn with the Nanum font that `koreanize-matplotlib` ships) and a small chart.
# `vision.load_image` reads a file (or a URL, or a PIL image) and checks it is a picture a
# model can read.
#
# 이 튜토리얼은 그림을 직접 그리므로 내려받을 것이 없습니다: 도형 그림, 한글 표지판(`koreanize-matplotlib`에
# 들어 있는 나눔 글꼴로 그림), 작은 차트입니다. `vision.load_image`는 파일(또는 URL, PIL 그림)을 읽고,
# 모델이 읽을 수 있는 그림인지 확인합니다.

# %%
samples = vision_samples.sample_images_folder()
pictures = {name: vision.load_image(samples / f"{name}.png") for name in ("shape_scene", "korean_sign", "chart")}
vision.show_pictures(pictures);

# %% [markdown]
# ## 4. The prompt · 프롬프트
#
# A message's content is a list: `{"type": "image"}` marks where the picture goes and
# `{"type": "text", ...}` holds the question. The processor's chat template turns it into the
# model's own prompt. Compare the two designs: LLaVA-NeXT writes `<image>` (later expanded into one
# token per patch), Mllama writes `<|image|>` once.
#
# Vision-8B's card also sets its own system prompt, a different one from the text models' cards.
# Its example code, quoted exactly:
#
# > You are a versatile AI assistant named Bllava, capable of both understanding and generating text
# > as well as interpreting and analyzing images. Your role is to kindly and effectively answer the
# > user’s questions, whether they are about text or images, and provide appropriate and helpful
# > responses to all types of queries.
# >
# > 당신은 텍스트를 이해하고 생성하는 것뿐만 아니라 이미지를 해석하고 분석할 수 있는 다재다능한 AI 어시스턴트
# > 블라바입니다. 사용자의 질문이 텍스트에 관한 것이든 이미지에 관한 것이든 친절하고 효과적으로 답변하며, 모든
# > 유형의 질의에 대해 적절하고 유용한 응답을 제공하는 것이 당신의 역할입니다.
#
# It goes in as a `system` message before the user's turn; the cell prints that prompt too.
#
# 메시지 내용은 목록입니다. `{"type": "image"}`는 그림이 들어갈 자리를, `{"type": "text", ...}`는 질문을
# 나타냅니다. 프로세서의 채팅 템플릿이 이것을 모델의 프롬프트로 바꿉니다. LLaVA-NeXT는 `<image>`를 쓰고
# (나중에 패치마다 토큰 하나로 늘어납니다), Mllama는 `<|image|>`를 한 번 씁니다.
#
# Vision-8B 모델 카드는 텍스트 모델 카드와 다른 자체 시스템 프롬프트도 씁니다(위 인용문). 사용자 차례 앞에
# `system` 메시지로 넣으며, 아래 셀이 그 프롬프트도 출력합니다.

# %%
VISION_8B_SYSTEM_PROMPT = (
    "You are a versatile AI assistant named Bllava, capable of both understanding and generating text as well "
    "as interpreting and analyzing images. Your role is to kindly and effectively answer the user’s questions, "
    "whether they are about text or images, and provide appropriate and helpful responses to all types of queries."
    "\n\n"
    "당신은 텍스트를 이해하고 생성하는 것뿐만 아니라 이미지를 해석하고 분석할 수 있는 다재다능한 AI 어시스턴트 "
    "블라바입니다. 사용자의 질문이 텍스트에 관한 것이든 이미지에 관한 것이든 친절하고 효과적으로 답변하며, 모든 "
    "유형의 질의에 대해 적절하고 유용한 응답을 제공하는 것이 당신의 역할입니다.")
messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "도형의 색깔은?"}]}]
prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
print(prompt)
with_system = processor.apply_chat_template([{"role": "system", "content": VISION_8B_SYSTEM_PROMPT}, *messages],
                                            add_generation_prompt=True, tokenize=False)
print("--- with Vision-8B's system prompt ---")
print(with_system)

# %% [markdown]
# **Check yourself.** One `<|begin_of_text|>`, the image token once, and the assistant's header at
# the end so the model answers next; with the system prompt, the same prompt follows a system turn
# that holds the card's text exactly.
#
# **확인해 보기.** `<|begin_of_text|>`는 하나, 이미지 토큰도 한 번이고, 끝은 assistant 머리말이어서
# 모델이 바로 답을 씁니다. 시스템 프롬프트를 넣으면 카드의 글을 그대로 담은 system 차례 뒤에 같은 프롬프트가
# 이어집니다.

# %%
assert prompt.count("<|begin_of_text|>") == 1 and prompt.count(processor.image_token) == 1
assert prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
user_turn = prompt[prompt.index("<|start_header_id|>user"):]
assert with_system.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n")
assert with_system.count(VISION_8B_SYSTEM_PROMPT) == 1 and with_system.endswith(user_turn), with_system
print("The prompt has one picture and ends where the answer begins; the system turn comes first.")

# %% [markdown]
# ## 5. Ask · 묻기
#
# `ask` is the whole recipe, the same for both designs: put the picture in the content,
# let `apply_chat_template(..., tokenize=True, return_dict=True)` run the tokenizer and the image
# processor together, move the tensors to the model (pictures in the model's dtype), generate, and
# decode only the new tokens. Greedy decoding (`do_sample=False`) makes the answers repeatable.
# `ask` sends no system prompt, so every model gets the question the same way, and the stand-ins,
# which were not trained with one, answer as they were trained; with Vision-8B you can put the
# card's system prompt in front, as in part 4.
#
# `ask` 함수가 전체 과정이며 두 구조에 똑같이 쓰입니다: 그림을 내용에 넣고, `apply_chat_template(...,
# tokenize=True, return_dict=True)`로 토크나이저와 이미지 프로세서를 함께 실행하고, 텐서를 모델로 옮긴 뒤
# (그림은 모델의 dtype으로), 생성하고, 새 토큰만 디코딩합니다. 탐욕적 디코딩(`do_sample=False`)이라 답이
# 매번 같습니다. `ask`는 시스템 프롬프트를 보내지 않습니다. 그래야 모든 모델이 같은 방식으로 질문을 받고,
# 시스템 프롬프트 없이 학습한 대체 모델도 학습한 대로 답합니다. Vision-8B에서는 4부처럼 카드의 시스템
# 프롬프트를 앞에 넣을 수 있습니다.

# %%
def ask(question, picture=None, max_new_tokens=64):
    """The model's answer to `question`, about `picture` when one is given."""
    content = [{"type": "text", "text": question}]
    if picture is not None:
        content.insert(0, {"type": "image", "image": picture})
    inputs = processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True,
                                           tokenize=True, return_dict=True, return_tensors="pt")
    inputs = inputs.to(model.device, dtype=model.dtype)  # dtype applies to the pixels only
    output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return processor.decode(output[0, inputs["input_ids"].shape[-1]:], skip_special_tokens=True).strip()


scene_questions = ["도형의 색깔은?", "What colour is the shape?", "이 도형은 무슨 모양이에요?",
                   "What shape is this?", "도형은 어디에 있어요?", "Describe the picture."]
scene_answers = {question: ask(question, pictures["shape_scene"]) for question in scene_questions}
helpers.show_table([{"question": q, "answer": a} for q, a in scene_answers.items()])

# %% [markdown]
# **Check yourself.** The scene is a red circle on the left. Whatever model runs, its colour answers
# must say so, in the language of the question, and its shape answers must name a shape. Whether it
# is the *right* shape is printed, not promised: the tiny stand-ins still misname shapes now and then
# (tiny Mllama calls this circle a triangle at 672 pixels and gets it right at 128; section 11
# measures how often).
#
# **확인해 보기.** 그림은 왼쪽에 있는 빨간 원입니다. 어떤 모델이든 색깔에 대한 답은 질문의 언어로 그렇게 말해야
# 하고, 모양에 대한 답은 모양 이름을 말해야 합니다. *맞는* 모양인지는 약속하지 않고 출력만 합니다. 작은 대체
# 모델은 아직 가끔 모양을 잘못 말합니다(작은 Mllama는 이 원을 672픽셀에서는 삼각형, 128픽셀에서는 원이라고
# 합니다. 얼마나 자주 틀리는지는 11절에서 잽니다).

# %%
assert "red" in scene_answers["What colour is the shape?"].lower()
assert any(word in scene_answers["도형의 색깔은?"] for word in ("빨간", "빨강"))
shape_answers = [scene_answers["What shape is this?"], scene_answers["이 도형은 무슨 모양이에요?"]]
assert all(vision.names_a_shape(answer) for answer in shape_answers), shape_answers
shape_right = all(vision.is_right(answer, "circle") for answer in shape_answers)
print("Red, in Korean and in English;", "a circle too." if shape_right else "but the shape is wrong this time.")

# %% [markdown]
# ## 6. How the model reads a picture · 모델이 그림을 읽는 방법
#
# The vision tower sees only square *tiles* of a fixed size and cuts each into *patches*, one vector
# each. Both sizes come from the loaded model: the processor reports its tile size and the vision
# config its patch size; the cell prints them (Vision-8B's config: 336-pixel tiles, 14-pixel
# patches). Let us give the processor the same scene at two sizes, one tile and twice that on each
# side, and draw what the vision tower receives.
#
# 비전 타워는 정해진 크기의 정사각형 *타일*만 보고, 타일을 다시 *패치*로 나눠 패치마다 벡터를 하나 만듭니다.
# 두 크기 모두 불러온 모델에서 읽습니다. 타일 크기는 프로세서가, 패치 크기는 비전 설정이 알려 주며 셀이 그
# 값을 출력합니다(Vision-8B 설정은 타일 336픽셀, 패치 14픽셀). 같은 그림을 타일 하나 크기와 가로세로 두 배
# 크기로 프로세서에 넣고, 비전 타워가 받는 것을 그려 봅시다.

# %%
tile = vision.tile_size(processor)
print(f"{type(processor.image_processor).__name__}: tiles of {tile} px a side; "
      f"{type(model.config.vision_config).__name__}: patches of {model.config.vision_config.patch_size} px")
sizes = {"small": (tile, tile), "large": (2 * tile, 2 * tile)}
readings = []
for label, (width, height) in sizes.items():
    picture = pictures["shape_scene"].resize((width, height))
    inputs = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image", "image": picture}, {"type": "text", "text": "?"}]}],
        add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")
    vision.plot_image_reading(model, processor, inputs, f"{label}: {width} x {height} px")
    readings.append({"picture": f"{label} {width} x {height}", **vision.image_reading(model, processor, inputs)})
helpers.show_table(readings)

# %% [markdown]
# LLaVA-NeXT's *any-resolution* step picks a tile grid that fits the picture best
# (`image_grid_pinpoints`), adds the whole picture shrunk to one tile, and puts one token per patch
# (plus a "new row" token per row) into the text: a bigger picture means a longer prompt. Mllama
# cuts the picture into up to four tiles too, but the text keeps a single `<|image|>`; its
# cross-attention layers read every patch of every tile.
#
# Why is a one-tile picture drawn as a "1 x 2" grid on LLaVA-NeXT? The grid must be one of
# `image_grid_pinpoints`, and Vision-8B's list, `[[336, 672], [672, 336], [672, 672], [1008, 672]]`
# (height, width; the stand-in's is the same scaled down), has no single-tile entry. A square
# picture fits 336 x 672 and 672 x 336 equally well (the same picture area kept, the same area
# wasted), and the first one wins; so the picture sits in the middle of a 1 x 2 canvas and the
# rest is padding. Before the image tokens are counted, the padded columns are cut away again
# ("unpadding"), so the second tile costs no tokens. The check below runs transformers' own
# LLaVA-NeXT processor with Vision-8B's config values (336-pixel tiles, 14-pixel patches, those
# pinpoints) on a 336 x 336 and a 672 x 672 picture and prints the real Vision-8B token counts.
#
# LLaVA-NeXT의 *any-resolution* 단계는 그림에 가장 잘 맞는 타일 격자(`image_grid_pinpoints`)를 고르고,
# 그림 전체를 타일 하나 크기로 줄인 것을 더한 뒤, 패치마다 토큰 하나(그리고 패치 한 행마다 "줄바꿈" 토큰
# 하나)를 텍스트에 넣습니다. 그림이 크면 프롬프트도 길어집니다. Mllama도 그림을 최대 4개의 타일로 나누지만,
# 텍스트에는 `<|image|>` 하나만 남고 교차 어텐션 층이 모든 타일의 모든 패치를 읽습니다.
#
# 타일 하나 크기의 그림이 LLaVA-NeXT에서 왜 "1 x 2" 격자로 그려질까요? 격자는 `image_grid_pinpoints` 중
# 하나여야 하는데, Vision-8B의 목록 `[[336, 672], [672, 336], [672, 672], [1008, 672]]`(높이, 너비. 대체
# 모델은 같은 목록을 줄인 것)에는 타일 하나짜리 항목이 없습니다. 정사각형 그림은 336 x 672와 672 x 336에
# 똑같이 잘 맞고(살아남는 그림 면적도, 버려지는 면적도 같음) 먼저 나온 것이 뽑힙니다. 그래서 그림은 1 x 2
# 캔버스 가운데에 놓이고 나머지는 여백(padding)입니다. 이미지 토큰 수를 세기 전에 여백 열을 다시 잘라내므로
# ("unpadding") 두 번째 타일은 토큰을 쓰지 않습니다. 아래 확인 셀은 transformers의 LLaVA-NeXT 프로세서에
# Vision-8B의 설정값(타일 336픽셀, 패치 14픽셀, 위 목록)을 넣고 336 x 336과 672 x 672 그림을 처리해 실제
# Vision-8B의 토큰 수를 출력합니다.
#
# **Check yourself.** The large picture is cut into more tiles, so the model reads more picture
# positions (in the prompt for LLaVA-NeXT, through cross-attention for Mllama). For Vision-8B, a
# one-tile picture gets the 1 x 2 grid, yet its tokens are the whole picture plus one tile's worth:
# the padding costs nothing.
#
# **확인해 보기.** 큰 그림은 더 많은 타일로 나뉘므로, 모델이 읽는 그림 위치도 많아집니다(LLaVA-NeXT는
# 프롬프트 안에서, Mllama는 교차 어텐션으로). Vision-8B에서 타일 하나 크기의 그림은 1 x 2 격자를 받지만,
# 토큰은 전체 그림과 타일 하나 몫뿐입니다. 여백은 토큰을 쓰지 않습니다.

# %%
from transformers import LlavaNextImageProcessor, LlavaNextProcessor
from transformers.image_processing_utils import select_best_resolution

from helpers.offline import llama3_tokenizer

small, large = readings
assert large["picture positions read"] > small["picture positions read"], readings
print(f"{small['picture positions read']} -> {large['picture positions read']} picture positions; "
      f"image tokens in the text: {small['image tokens in the text']} -> {large['image tokens in the text']}")

# Vision-8B's config values: CLIP ViT-L/14 at 336 px, and its any-resolution grids (height, width)
VISION_8B_TILE, VISION_8B_PATCH = 336, 14
VISION_8B_PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 672]]
vision_8b_tokenizer = llama3_tokenizer.load_llama3_tokenizer()
vision_8b_tokenizer.add_tokens(["<image>"], special_tokens=True)  # Vision-8B's image token, id 128256
vision_8b_processor = LlavaNextProcessor(
    image_processor=LlavaNextImageProcessor(size={"shortest_edge": VISION_8B_TILE},
                                            crop_size={"height": VISION_8B_TILE, "width": VISION_8B_TILE},
                                            image_grid_pinpoints=VISION_8B_PINPOINTS),
    tokenizer=vision_8b_tokenizer, patch_size=VISION_8B_PATCH,
    vision_feature_select_strategy="default", num_additional_image_tokens=1)  # CLIP's CLS token, dropped again
vision_8b_tokens = {}
for side in (336, 672):
    encoded = vision_8b_processor(images=pictures["shape_scene"].resize((side, side)), text="<image>\n?")
    vision_8b_tokens[side] = encoded["input_ids"][0].count(vision_8b_processor.image_token_id)
per_side = VISION_8B_TILE // VISION_8B_PATCH  # patches along one side of a tile
assert [VISION_8B_TILE, VISION_8B_TILE] not in VISION_8B_PINPOINTS
assert select_best_resolution((336, 336), VISION_8B_PINPOINTS) == (336, 672)  # the 1 x 2 grid
# whole picture + one tile's patches + a newline per patch row: the padded second tile adds nothing
assert vision_8b_tokens[336] == per_side ** 2 + per_side ** 2 + per_side, vision_8b_tokens
assert vision_8b_tokens[672] == per_side ** 2 + (2 * per_side) ** 2 + 2 * per_side, vision_8b_tokens
print(f"Vision-8B: a 336 x 336 picture -> {vision_8b_tokens[336]:,} image tokens (1 x 2 grid, padding removed); "
      f"672 x 672 -> {vision_8b_tokens[672]:,} (2 x 2 grid)")

# %% [markdown]
# ## 7. Size changes answers · 크기가 답을 바꿉니다
#
# The Vision-8B card warns: "이미지 크기에 따라 추론 편차가 심합니다" (answers vary a lot with the size of
# the picture). Now we know why: a different size is a different grid of tiles, so the model reads
# different vectors, and for LLaVA-NeXT a different number of them. Ask the same questions about the
# two sizes and compare; the cell counts how many answers changed.
#
# On the stand-in they usually do not change: it learned only a colour, a shape and a position,
# and those survive a resize, so it reads the same answer out of either grid. A real model reads
# fine detail (small objects, letters, the exact place of an edge), which a different grid cuts and
# shrinks differently; with greedy decoding one token that flips changes everything after it, so
# its answers can change with the size, as the card warns.
#
# Vision-8B 모델 카드는 "이미지 크기에 따라 추론 편차가 심합니다"라고 경고합니다. 이제 이유를 압니다. 크기가
# 다르면 타일 격자가 달라져 모델이 다른 벡터를 읽고, LLaVA-NeXT는 그 개수도 달라집니다. 두 크기에 같은 질문을
# 하고 비교해 봅시다. 셀이 바뀐 답의 수를 셉니다.
#
# 대체 모델의 답은 대개 바뀌지 않습니다. 색깔, 모양, 위치만 배웠고 이것들은 크기를 바꿔도 남아 있으므로 어느
# 격자에서든 같은 답을 읽어 냅니다. 실제 모델은 작은 물체, 글자, 경계의 정확한 위치 같은 세부를 읽는데, 격자가
# 다르면 이것이 다르게 잘리고 줄어듭니다. 탐욕적 디코딩에서는 토큰 하나만 바뀌어도 그 뒤가 모두 바뀌므로, 카드의
# 경고처럼 크기에 따라 답이 달라질 수 있습니다.

# %%
size_answers = [{"picture": f"{label} {width} x {height}", "question": question,
                 "answer": ask(question, pictures["shape_scene"].resize((width, height)))}
                for label, (width, height) in sizes.items()
                for question in ("What shape is this?", "도형은 어디에 있어요?")]
helpers.show_table(size_answers)
answers_at = {label: [row["answer"] for row in size_answers if row["picture"].startswith(label)] for label in sizes}
changed = sum(a != b for a, b in zip(answers_at["small"], answers_at["large"]))
print(f"{changed} of {len(answers_at['small'])} answers changed between {sizes['small'][0]} and "
      f"{sizes['large'][0]} pixels a side with {type(model).__name__}.")

# %% [markdown]
# ## 8. A Korean sign and a chart · 한글 표지판과 차트
#
# The real models read Hangul and charts. The stand-ins only learned colours, shapes and
# positions, so they answer every question with one of those; their answer to "what is written"
# shows the limit of a model trained on a few hundred pictures.
#
# 실제 모델은 한글과 차트를 읽습니다. 대체 모델은 색깔, 모양, 위치만 배웠으므로 모든 질문에 그중 하나로
# 답합니다. "무엇이 쓰여 있나요"에 대한 답은 몇백 장의 그림으로 학습한 모델의 한계를 보여 줍니다.

# %%
other_questions = [("korean_sign", "이 표지판에 뭐라고 쓰여 있나요?"), ("korean_sign", "What colour is this sign?"),
                   ("chart", "이 차트에서 가장 높은 막대는 몇 월인가요?"), ("chart", "What colour are the bars?")]
other_answers = [{"picture": name, "question": question, "answer": ask(question, pictures[name])}
                 for name, question in other_questions]
helpers.show_table(other_answers)

# %% [markdown]
# **Check yourself.** The sign is blue, and every model should say so.
#
# **확인해 보기.** 표지판은 파란색이고, 어떤 모델이든 그렇게 답해야 합니다.

# %%
assert "blue" in other_answers[1]["answer"].lower(), other_answers[1]
print("The sign is blue.")

# %% [markdown]
# ## 9. Without a picture · 그림 없이
#
# The same model answers text-only prompts: leave the image out of the content. (Mllama then
# skips its cross-attention layers; LLaVA-NeXT simply has no image tokens.)
#
# 같은 모델이 그림 없는 프롬프트에도 답합니다. 내용에서 그림만 빼면 됩니다(Mllama는 교차 어텐션 층을
# 건너뛰고, LLaVA-NeXT는 이미지 토큰이 없을 뿐입니다).

# %%
text_answers = {question: ask(question) for question in ("안녕하세요?", "What can you do?", "도형의 색깔은?")}
helpers.show_table([{"question": q, "answer": a} for q, a in text_answers.items()])

# %% [markdown]
# **Check yourself.** A Korean question gets a Korean answer and an English one an English answer.
#
# **확인해 보기.** 한국어 질문에는 한국어로, 영어 질문에는 영어로 답합니다.

# %%
import re

assert re.search("[가-힣]", text_answers["안녕하세요?"]), text_answers
assert re.search("[A-Za-z]", text_answers["What can you do?"]) and not re.search(
    "[가-힣]", text_answers["What can you do?"]), text_answers
print("Answers follow the language of the question.")

# %% [markdown]
# ## 10. Troubleshooting · 문제 해결
#
# | Symptom · 증상 | What to do · 해결 방법 |
# |---|---|
# | `CUDA out of memory` | Restart the kernel; on a T4 use `BLLOSSOM_VISION_MODEL=aica-5b`. 커널을 재시작하고 T4에서는 AICA-5B를 쓰세요. |
# | A picture from the web while offline · 오프라인에서 웹 그림 | Save it on a connected machine and give the file path. 연결된 컴퓨터에서 저장한 뒤 파일 경로를 주세요. |
# | CMYK or 16-bit picture · CMYK나 16비트 그림 | `load_image` converts it to 8-bit RGB; other modes are refused with advice. `load_image`가 8비트 RGB로 바꾸고, 다른 모드는 방법을 알려 줍니다. |
# | The card's `"<image>\n" + question` prompt · 카드의 프롬프트 | Use the chat template with `{"type": "image"}`, as in `ask`. `ask`처럼 채팅 템플릿을 쓰세요. |
# | Different answers at different sizes · 크기마다 다른 답 | Resize pictures to the size you tested with. 시험한 크기로 그림 크기를 맞추세요. |
#
# Mistakes get a short message that names the fix. Here are four: a missing file, a text file
# pretending to be a PNG, a text-only model asked to see, and a CMYK picture (converted, not refused).
#
# 실수하면 해결 방법을 알려 주는 짧은 메시지가 나옵니다. 네 가지를 시험해 봅시다: 없는 파일, PNG인 척하는
# 텍스트 파일, 그림을 볼 수 없는 텍스트 모델, 그리고 CMYK 그림(거부하지 않고 변환합니다).

# %%
import tempfile
from pathlib import Path

scratch = Path(tempfile.mkdtemp())
(scratch / "notes.png").write_text("this is text, not a picture")
mistakes = {
    "missing file": lambda: vision.load_image(scratch / "no_such_picture.png"),
    "not a picture": lambda: vision.load_image(scratch / "notes.png"),
    "text-only model": lambda: helpers.load_vision_model(helpers.choose_model(facts, override="3b")),
}
messages_seen = {}
for mistake, attempt in mistakes.items():
    try:
        attempt()
        messages_seen[mistake] = "(no error)"
    except helpers.TutorialError as error:
        messages_seen[mistake] = str(error)
helpers.show_table([{"mistake": m, "message": text} for m, text in messages_seen.items()])
cmyk = pictures["shape_scene"].convert("CMYK")
print("CMYK picture ->", vision.load_image(cmyk).mode)

# %%
# Check yourself: each mistake was caught with advice, and the CMYK picture became RGB.
assert all(text != "(no error)" for text in messages_seen.values()), messages_seen
assert "text-only" in messages_seen["text-only model"]
assert vision.load_image(cmyk).mode == "RGB"

# %% [markdown]
# ## 11. Draw your own · 직접 그려 보기
#
# The stand-ins learned from pictures that `helpers.offline.vision_samples` draws. Here the
# pictures come from `helpers.offline.other_pictures`, a separately written routine the stand-ins
# never trained on: other shades, an equilateral triangle, other backgrounds. So what you see is
# how they do on pictures that are new to them, as a photo would be to a real model. Both
# stand-ins answer (and the model loaded above, when it is a real one). On a GPU machine this
# trains the two stand-ins once on the CPU, a few minutes each.
#
# 대체 모델은 `helpers.offline.vision_samples`가 그린 그림으로 학습했습니다. 여기서는 대체 모델이 한
# 번도 학습하지 않은, 따로 작성한 `helpers.offline.other_pictures`로 그림을 그립니다. 색조도, 삼각형
# 모양(정삼각형)도, 배경도 다릅니다. 그러니 여기서 보는 것은 처음 보는 그림에 대한 실력입니다. 두 대체
# 모델이 모두 답합니다(위에서 불러온 모델이 실제 모델이면 그 모델도). GPU 컴퓨터에서는 두 대체 모델을
# CPU에서 한 번 학습하므로 모델마다 몇 분 걸립니다.

# %%
readers = {choice.name: (model, processor)}
for name in helpers.catalog.stand_in_names("vision"):
    if name not in readers:
        readers[name] = helpers.load_vision_model(helpers.choose_model(facts, override=name, kind="vision"))
print("Answering:", ", ".join(readers))

# %% [markdown]
# Pick a colour, a shape, its size (a share of the picture's shorter side), a background, an
# outline, the picture's width and height, and a tilt; each change redraws the picture and asks
# every model its colour and shape in English and Korean. Without ipywidgets (or in a headless
# run) the cell draws the default picture once; `workbench.update(colour="blue", ...)` draws any other.
#
# 색깔, 모양, 크기(그림의 짧은 변에 대한 비율), 배경, 테두리, 그림의 너비와 높이, 기울기를 고르세요.
# 바꿀 때마다 그림을 다시 그리고 모든 모델에게 색깔과 모양을 영어와 한국어로 묻습니다. ipywidgets가
# 없거나 화면 없이 실행할 때는 기본 그림을 한 번 그립니다. `workbench.update(colour="blue", ...)`로 다른
# 그림도 그릴 수 있습니다.

# %%
workbench = vision.PictureWorkbench(readers)
workbench.show();

# %% [markdown]
# **Check yourself.** A handful of unusual pictures: tall and wide, tiny and huge, a small shape off
# centre, outlines, a dark and a textured background, blur and JPEG. Every model here, stand-in or
# real, should name the colour of at least 9 in 10 of them. Shape is harder: on 200 pictures drawn
# this way both stand-ins name the shape more than 9 times in 10 (the test suite measures it and
# reports it by style and size), but these six include hard ones (a small shape on a checkerboard,
# a picture 40 pixels wide, a tilted square). So the cell prints how often each model named the
# shape and checks that at least 2 answers in 3 name the right shape and 9 in 10 name a shape at all
# (a stand-in built with another PyTorch version once answered one shape question in twelve with a
# colour). Try a few pictures of your own above and see which ones fool them.
#
# **확인해 보기.** 특이한 그림 몇 장입니다: 세로로 길거나 가로로 긴 그림, 아주 작거나 아주 큰 그림, 가운데에서
# 벗어난 작은 도형, 테두리, 어두운 배경과 무늬 배경, 흐림과 JPEG 압축. 대체 모델이든 실제 모델이든 여기 있는
# 모든 모델이 10장 중 9장 이상에서 색깔을 맞혀야 합니다. 모양은 더 어렵습니다. 이렇게 그린 그림 200장에서
# 두 대체 모델 모두 모양을 10번 중 9번 넘게 맞히지만(테스트가 재고 스타일과 크기별로 보고합니다), 이 여섯
# 장에는 어려운 그림(체크무늬 위의 작은 도형, 폭 40픽셀 그림, 기울어진 사각형)이 들어 있습니다. 그래서 셀은
# 모델마다 모양을 맞힌 비율을 출력하고, 답의 3개 중 2개 이상이 맞는 모양인지와 10개 중 9개 이상이 모양
# 낱말인지 확인합니다(다른 PyTorch 버전으로 만든 대체 모델이 모양 질문 12개 중 하나에 색깔로 답한 적이
# 있습니다).
# 위에서 직접 그림을 몇 장 그려 보고 어떤 그림에 속는지 찾아보세요.

# %%
unusual = [dict(colour="purple", shape="triangle", width=40, height=120, size=0.6, background="night"),
           dict(colour="yellow", shape="square", width=1000, height=400, size=0.5, outline="black", tilt=10),
           dict(colour="red", shape="circle", width=300, height=300, size=0.2, centre=(0.3, 0.7),
                background="checkerboard"),
           dict(colour="green", shape="square", width=200, height=160, size=0.45, blur=1.5, jpeg_quality=20),
           dict(colour="blue", shape="triangle", width=96, height=64, size=0.6, outline="white", background="stripes"),
           dict(colour="purple", shape="circle", width=640, height=900, size=0.35, background="paper", shade=3)]
checked = [workbench.update(show=False, **picture) for picture in unusual]
rows = [row for result in checked for row in result["answers"]]
helpers.show_table([{"picture": f"{r['picture'].colour} {r['picture'].shape} {r['picture'].width}x"
                                f"{r['picture'].height}", **{a['model'] + ' · ' + a['question']: a['answer']
                                                            for a in r['answers']}} for r in checked])
colour_questions = [q for (kind, _), q in vision.WORKBENCH_QUESTIONS.items() if kind == "colour"]
for name in readers:
    colour = [row["right"] for row in rows if row["model"] == name and row["question"] in colour_questions]
    shape = [row for row in rows if row["model"] == name and row["question"] not in colour_questions]
    shape_words = sum(vision.names_a_shape(row["answer"]) for row in shape)
    print(f"{name}: colour {sum(colour)} of {len(colour)} right, shape {sum(r['right'] for r in shape)} of "
          f"{len(shape)} right ({shape_words} answers name a shape)")
    assert sum(colour) >= 0.9 * len(colour), (name, [row for row in rows if row["model"] == name])
    assert shape_words >= 0.9 * len(shape), (name, shape)
    assert sum(row["right"] for row in shape) >= 2 / 3 * len(shape), (name, shape)

# %% [markdown]
# ## 12. What the stand-ins can and cannot see · 대체 모델이 볼 수 있는 것과 없는 것
#
# | | stand-ins (tiny LLaVA-NeXT, tiny Mllama) | real models (Vision-8B, AICA-5B) |
# |---|---|---|
# | colour of one shape | five names: red, green, blue, yellow, purple (right more than 9 times in 10 on pictures drawn another way) | any colour, in words |
# | shape | circle, square, triangle (right more than 9 times in 10 on pictures drawn another way; small shapes worst) | any object, scene or layout |
# | position | left, right, top, bottom, centre | where things are, relative to each other |
# | text in a picture | cannot read it (answers with a colour or shape) | reads Korean and English text |
# | photos, charts, several objects | cannot: only one shape on a background was ever shown | describes them, answers questions |
# | when unsure | always names one of the words above | can say what it does not know (and can still be wrong) |
#
# | | 대체 모델(작은 LLaVA-NeXT, 작은 Mllama) | 실제 모델(Vision-8B, AICA-5B) |
# |---|---|---|
# | 도형 하나의 색깔 | 다섯 가지: 빨간색, 초록색, 파란색, 노란색, 보라색(다르게 그린 그림에서 10번 중 9번 넘게 맞힘) | 어떤 색이든 말로 |
# | 모양 | 원, 사각형, 삼각형(다르게 그린 그림에서 10번 중 9번 넘게 맞힘. 작은 도형이 가장 어려움) | 어떤 물체, 장면, 배치든 |
# | 위치 | 왼쪽, 오른쪽, 위쪽, 아래쪽, 가운데 | 물체끼리의 위치 관계까지 |
# | 그림 속 글자 | 읽지 못합니다(색깔이나 모양으로 답합니다) | 한국어와 영어 글자를 읽습니다 |
# | 사진, 차트, 여러 물체 | 못 합니다: 배경 위의 도형 하나만 보고 배웠습니다 | 설명하고 질문에 답합니다 |
# | 확실하지 않을 때 | 언제나 위 낱말 중 하나로 답합니다 | 모른다고 말할 수 있습니다(그래도 틀릴 수 있습니다) |
#
# **Check yourself.** Ask every model what is written on the Korean sign, which says 출구 (exit).
# A stand-in cannot read, so its answer does not contain 출구; a real model's should.
#
# **확인해 보기.** 모든 모델에게 한글 표지판에 무엇이 쓰여 있는지 묻습니다(표지판에는 출구라고 쓰여 있습니다).
# 대체 모델은 글자를 읽지 못하므로 답에 출구가 없고, 실제 모델의 답에는 있어야 합니다.

# %%
sign_answers = {name: vision.ask_about(reader_model, reader_processor, "이 표지판에 뭐라고 쓰여 있나요?",
                                       pictures["korean_sign"])
                for name, (reader_model, reader_processor) in readers.items()}
helpers.show_table([{"model": name, "answer": answer} for name, answer in sign_answers.items()])
for name, answer in sign_answers.items():
    reads_text = not helpers.catalog.CATALOG.get(name) or not helpers.catalog.CATALOG[name].is_offline_stand_in
    assert ("출구" in answer) == reads_text, (name, answer)

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

exercise_messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "도형의 색깔은?"}]}]
exercise_prompt = processor.apply_chat_template(exercise_messages, add_generation_prompt=True, tokenize=False)
exercise_inputs = processor(text=exercise_prompt, images=[pictures["shape_scene"]], add_special_tokens=False,
                            return_tensors="pt")

# %% [markdown]
# **1.** How many image tokens did the processor write into the text of `exercise_inputs`? Count them
# in `input_ids`.
#
# **1.** 프로세서가 `exercise_inputs`의 글에 이미지 토큰을 몇 개 넣었을까요? `input_ids`에서 세어 보세요.

# %% tags=["solution"]
# Exercise 1 · 문제 1
image_tokens = int((exercise_inputs["input_ids"][0] == image_token_id).sum())

# %%
# Check · 확인
exercises.check_image_tokens(image_tokens, exercise_inputs, image_token_id)

# %% [markdown]
# **2.** Draw a green triangle with `vision_samples.ShapeScene`, ask the model its colour with `ask`,
# and keep the reply.
#
# **2.** `vision_samples.ShapeScene`으로 초록색 삼각형을 그리고 `ask`로 색깔을 물어 답을 저장하세요.

# %% tags=["solution"]
# Exercise 2 · 문제 2
green_triangle = vision_samples.ShapeScene("green", "triangle", "centre", width=64, height=64).draw()
colour_reply = ask("What colour is the shape?", green_triangle)

# %%
# Check · 확인
exercises.check_names_the_colour(colour_reply, "green", "초록")

# %% [markdown]
# **3.** A picture three tiles wide and one tile tall: into how many rows and columns of tiles does
# the processor cut it? Build its inputs, then read the grid.
#
# **3.** 가로로 타일 세 개, 세로로 타일 하나 크기인 그림을 프로세서는 타일 몇 행 몇 열로 자를까요? 입력을
# 만든 뒤 격자를 읽어 보세요.

# %% tags=["solution"]
# Exercise 3 · 문제 3
wide_inputs = processor.apply_chat_template(
    [{"role": "user", "content": [{"type": "image", "image": pictures["shape_scene"].resize((3 * tile, tile))},
                                  {"type": "text", "text": "?"}]}],
    add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")
wide_grid = vision.image_reading(model, processor, wide_inputs)["tiles"]

# %%
# Check · 확인
exercises.check_tile_grid(wide_grid, model, processor, wide_inputs)
