"""The offline vision stand-ins really see: measured on pictures they never trained on.

Each stand-in is built once per recipe (about two minutes on one core) and cached in
$BLLOSSOM_CACHE, so later runs only load it.
"""

from __future__ import annotations

import hashlib

import pytest

import helpers
from helpers.lessons import vision
from helpers.models.runtime import RuntimeFacts
from helpers.offline import tiny_vision_models, vision_samples
from helpers.offline.llama3_tokenizer import SPECIAL_IDS

NAMES = helpers.catalog.stand_in_names("vision")


@pytest.fixture(scope="module", params=NAMES)
def stand_in(request):
    choice = helpers.choose_model(RuntimeFacts(), override=request.param, kind="vision")
    model, processor = helpers.load_vision_model(choice)
    return request.param, model, processor


def test_each_stand_in_answers_colour_and_shape_of_new_pictures(stand_in):
    name, model, processor = stand_in
    result = tiny_vision_models.held_out_accuracy(model, processor, count=200)
    print(f"\n{name}: held-out accuracy {result['accuracy']}; first mistakes {result['mistakes'][:5]}")
    assert result["accuracy"]["colour"] >= 0.9, result["accuracy"]
    assert result["accuracy"]["shape"] >= 0.9, result["accuracy"]


def test_held_out_pictures_are_not_training_pictures():
    settings = tiny_vision_models.TRAINING
    training = vision_samples.random_scenes(settings["vision_images"], seed=settings["seed"])
    held_out = vision_samples.random_scenes(200, seed=tiny_vision_models.HELD_OUT_SEED)
    fingerprint = lambda scene: hashlib.sha256(scene.draw().tobytes()).hexdigest()
    assert not {fingerprint(s) for s in held_out} & {fingerprint(s) for s in training}


def test_pictures_are_reproducible_from_their_seed():
    first, again = (vision_samples.random_scenes(20, seed=7) for _ in range(2))
    assert first == again
    assert [s.draw().tobytes() for s in first] == [s.draw().tobytes() for s in again]
    assert first != vision_samples.random_scenes(20, seed=8)


def test_the_tokenizer_keeps_llama3_ids_and_adds_the_image_token_at_128256(stand_in):
    name, model, processor = stand_in
    tokenizer = processor.tokenizer
    for token, token_id in SPECIAL_IDS.items():
        assert tokenizer.convert_tokens_to_ids(token) == token_id, token
    assert len(tokenizer) == 128257
    assert tokenizer.convert_tokens_to_ids(processor.image_token) == 128256 == model.config.image_token_id
    assert tokenizer.encode("Hello world", add_special_tokens=False) == [9906, 1917]


def test_the_answer_depends_on_the_picture(stand_in):
    name, model, processor = stand_in
    answers = []
    for colour in ("red", "blue"):
        picture = vision_samples.ShapeScene(colour, "square", "centre").draw()
        messages = [{"role": "user", "content": [{"type": "image", "image": picture},
                                                 {"type": "text", "text": "What colour is the shape?"}]}]
        inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                               return_dict=True, return_tensors="pt")
        inputs = inputs.to(model.device, dtype=model.dtype)
        output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
        answers.append(processor.decode(output[0, inputs["input_ids"].shape[-1]:], skip_special_tokens=True))
    assert answers == ["red", "blue"], answers


def test_without_a_picture_the_stand_in_asks_for_one(stand_in):
    name, model, processor = stand_in
    messages = [{"role": "user", "content": [{"type": "text", "text": "도형의 색깔은?"}]}]
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                           return_dict=True, return_tensors="pt")
    assert "pixel_values" not in inputs
    output = model.generate(**inputs, max_new_tokens=24, do_sample=False)
    answer = processor.decode(output[0, inputs["input_ids"].shape[-1]:], skip_special_tokens=True)
    assert "그림" in answer, answer


def test_image_reading_counts_tiles_and_tokens(stand_in):
    name, model, processor = stand_in
    readings = []
    for side in (32, 64):
        picture = vision_samples.SHAPE_SCENE.draw(side, side)
        messages = [{"role": "user", "content": [{"type": "image", "image": picture}, {"type": "text", "text": "?"}]}]
        inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                               return_dict=True, return_tensors="pt")
        readings.append(vision.image_reading(model, processor, inputs))
    small, large = readings
    assert large["picture positions read"] > small["picture positions read"]
    if name == "tiny-llava-next":  # 16 per tile-sized view, less the padding, plus a newline token per row
        assert (small["image tokens in the text"], large["image tokens in the text"]) == (36, 88)
    else:  # one <|image|> in the text; 17 vectors (16 patches and a class token) per tile
        assert (small["image tokens in the text"], large["image tokens in the text"]) == (1, 1)
        assert (small["picture positions read"], large["picture positions read"]) == (17, 68)
