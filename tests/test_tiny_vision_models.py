"""The offline vision stand-ins really see: measured on pictures they never trained on.

Each stand-in is built once per recipe (a few minutes on one core) and cached in
$BLLOSSOM_CACHE, so later runs only load it. The held-out pictures come from
`helpers.offline.other_pictures`, a second drawing routine that training never uses.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import helpers
from helpers.lessons import vision
from helpers.models.runtime import RuntimeFacts
from helpers.offline import other_pictures, tiny_vision_models, vision_samples
from helpers.offline.llama3_tokenizer import SPECIAL_IDS

NAMES = helpers.catalog.stand_in_names("vision")


@pytest.fixture(scope="module", params=NAMES)
def stand_in(request):
    choice = helpers.choose_model(RuntimeFacts(), override=request.param, kind="vision")
    model, processor = helpers.load_vision_model(choice)
    return request.param, model, processor


@pytest.fixture(scope="module")
def held_out(stand_in):
    """Each stand-in asked about 200 pictures from the second drawing routine, and its report."""
    name, model, processor = stand_in
    result = other_pictures.held_out_accuracy(model, processor, count=200)
    table = "\n".join(f"  {row['group']:<14} colour {row['colour']}  shape {row['shape']}"
                      for row in other_pictures.accuracy_table(result))
    first = [(style, p.colour, p.shape, p.width, p.height, kind, language, answer)
             for style, p, kind, language, _, answer in result["mistakes"][:8]]
    report = (f"{name}: {result['accuracy']}\nby style, picture size, shape size and aspect:\n{table}\n"
              f"first mistakes: {first}")
    print("\n" + report)
    return result["accuracy"], report


def test_each_stand_in_names_the_colour_of_pictures_drawn_another_way(held_out):
    accuracy, report = held_out
    assert accuracy["colour en"] >= 0.9 and accuracy["colour ko"] >= 0.9, report


def test_each_stand_in_names_the_shape_of_pictures_drawn_another_way(held_out):
    """Issue #16: at least 90% in each language. On failure the report says where the build falls
    short (by style, picture size, shape size and aspect); tiny_vision_models' stage-1 comment lists
    what each recipe measured over several seeds."""
    accuracy, report = held_out
    assert accuracy["shape en"] >= 0.9 and accuracy["shape ko"] >= 0.9, report


def test_the_held_out_drawing_is_never_used_for_training():
    here = Path(tiny_vision_models.__file__).parent
    for module in ("tiny_vision_models.py", "vision_samples.py", "training.py"):
        imported = [ast.unparse(node) for node in ast.walk(ast.parse((here / module).read_text()))
                    if isinstance(node, ast.Import | ast.ImportFrom)]
        assert imported and not [line for line in imported if "other_pictures" in line], module


def test_training_pictures_have_the_variety_the_held_out_test_asks_for():
    settings = tiny_vision_models.TRAINING
    scenes = vision_samples.random_scenes(settings["vision_images"], seed=settings["seed"])
    longer = [max(s.width, s.height) for s in scenes]
    ratios = [s.width / s.height for s in scenes]
    assert min(longer) <= 40 and max(longer) >= 900
    assert min(ratios) < 0.4 and max(ratios) > 2.5
    assert min(s.scale for s in scenes) < 0.17 and max(s.scale for s in scenes) > 0.68
    for feature in ("outline", "background_to", "noise", "rotation", "jpeg_quality", "blur", "label"):
        share = sum(bool(getattr(s, feature)) for s in scenes) / len(scenes)
        assert 0.05 < share < 0.7, (feature, share)
    assert sum(max(s.background) < 80 for s in scenes) > 0.1 * len(scenes)  # dark backgrounds
    assert {s.position for s in scenes} == set(vision_samples.POSITIONS)


def test_no_training_question_is_another_kinds_question_with_words_left_out():
    """A two-layer language model told "What is the shape?" (shape) from "What colour is the shape?"
    (colour) only in some builds: one got the colour question right only half the time."""
    def within(short: list[str], long: list[str]) -> bool:  # short's words appear in long, in order
        words = iter(long)
        return all(word in words for word in short)

    for language in ("en", "ko"):
        asked = [(kind, question.split()) for kind, by_language in vision_samples.QUESTIONS.items()
                 for question in by_language[language]]
        for kind, words in asked:
            for other_kind, other_words in asked:
                if kind != other_kind:
                    assert not within(words, other_words), (" ".join(words), " ".join(other_words))


def test_pictures_are_reproducible_from_their_seed():
    first, again = (vision_samples.random_scenes(20, seed=7) for _ in range(2))
    assert first == again
    assert [vision_samples.draw_for_training(s).tobytes() for s in first] == [
        vision_samples.draw_for_training(s).tobytes() for s in again]
    assert first != vision_samples.random_scenes(20, seed=8)
    held_out, same = (other_pictures.held_out_pictures(16) for _ in range(2))
    assert held_out == same
    assert [other_pictures.draw_picture(p).tobytes() for _, p in held_out] == [
        other_pictures.draw_picture(p).tobytes() for _, p in same]


def test_the_workbench_draws_and_asks_every_model(stand_in):
    name, model, processor = stand_in
    result = vision.PictureWorkbench({name: (model, processor)}).update(
        show=False, colour="blue", shape="square", width=300, height=120, outline="black")
    assert result["image"].size == (300, 120)
    assert [row["question"] for row in result["answers"]] == list(vision.WORKBENCH_QUESTIONS.values())
    colour_questions = [q for (kind, _), q in vision.WORKBENCH_QUESTIONS.items() if kind == "colour"]
    assert all(row["right"] for row in result["answers"] if row["question"] in colour_questions), result["answers"]
    assert all(vision.names_a_shape(row["answer"]) for row in result["answers"]
               if row["question"] not in colour_questions), result["answers"]


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


def test_without_ipywidgets_the_workbench_is_a_plain_function(stand_in, monkeypatch):
    name, model, processor = stand_in
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets now fails
    workbench = vision.PictureWorkbench({name: (model, processor)})
    assert workbench.widget is None
    result = workbench.show()
    assert result["picture"] == other_pictures.Picture() and len(result["answers"]) == 4


def test_the_hold_schedule_keeps_the_full_rate_until_the_decay_then_stops_at_zero():
    import torch

    from helpers.offline.training import hold_then_decay_schedule

    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=1.0)
    schedule = hold_then_decay_schedule(optimizer, total_steps=10, decay_share=0.3)
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[:7] == [1.0] * 7  # held for 70% of the steps
    assert rates[7:] == pytest.approx([1.0, 2 / 3, 1 / 3])  # then a straight line...
    assert optimizer.param_groups[0]["lr"] == 0.0  # ...that ends at zero
    warm = hold_then_decay_schedule(torch.optim.SGD([weight], lr=1.0), total_steps=10, decay_share=0.3,
                                    warmup_steps=4)
    assert warm.get_last_lr() == [0.25]
