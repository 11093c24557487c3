"""Bad pictures and wrong models get a TutorialError that says what to do (no model is trained here)."""

from __future__ import annotations

import urllib.error

import numpy as np
import pytest
from PIL import Image

import helpers
from helpers.lessons import vision
from helpers.models.runtime import RuntimeFacts


@pytest.fixture
def red_png(tmp_path):
    path = tmp_path / "red.png"
    Image.new("RGB", (20, 10), (220, 30, 30)).save(path)
    return path


def test_a_good_file_loads_as_rgb(red_png):
    picture = vision.load_image(red_png)
    assert picture.mode == "RGB" and picture.size == (20, 10)
    assert picture.getpixel((0, 0)) == (220, 30, 30)


def test_missing_file(tmp_path):
    with pytest.raises(helpers.TutorialError, match="no picture at"):
        vision.load_image(tmp_path / "nothing_here.png")


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(helpers.TutorialError, match="is a folder"):
        vision.load_image(tmp_path)


def test_non_image_file(tmp_path):
    path = tmp_path / "page.png"
    path.write_text("<html>a web page saved by mistake</html>")
    with pytest.raises(helpers.TutorialError, match="not a picture"):
        vision.load_image(path)


def test_truncated_image(red_png, tmp_path):
    big = tmp_path / "big.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(big)
    cut = tmp_path / "cut.png"
    cut.write_bytes(big.read_bytes()[:400])
    with pytest.raises(helpers.TutorialError, match="damaged or cut short"):
        vision.load_image(cut)


def test_cmyk_is_converted_to_rgb(tmp_path):
    path = tmp_path / "print.jpg"
    Image.new("RGB", (8, 8), (200, 40, 40)).convert("CMYK").save(path)
    assert Image.open(path).mode == "CMYK"
    picture = vision.load_image(path)
    assert picture.mode == "RGB"
    red, green, blue = picture.getpixel((4, 4))
    assert red > 150 and green < 90 and blue < 90


def test_16_bit_greyscale_is_scaled_to_8_bit(tmp_path):
    path = tmp_path / "scan.png"
    values = np.full((4, 4), 32768, dtype=np.uint16)  # half of the 16-bit range
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    picture = vision.load_image(path)
    assert picture.mode == "RGB"
    assert all(abs(channel - 128) <= 1 for channel in picture.getpixel((0, 0)))


def test_transparent_picture_goes_on_white():
    picture = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert vision.load_image(picture).getpixel((0, 0)) == (255, 255, 255)


def test_float_mode_is_refused():
    picture = Image.fromarray(np.zeros((4, 4), dtype=np.float32))
    assert picture.mode == "F"
    with pytest.raises(helpers.TutorialError, match="8-bit RGB"):
        vision.load_image(picture)


def test_wrong_type():
    with pytest.raises(helpers.TutorialError, match="file path"):
        vision.load_image(42)


def test_url_while_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError("must not try the network while offline")

    monkeypatch.setattr(vision.urllib.request, "urlopen", no_network)
    with pytest.raises(helpers.TutorialError, match="offline"):
        vision.load_image("https://example.com/cat.png")


def test_url_that_cannot_be_reached(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)

    def unreachable(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(vision.urllib.request, "urlopen", unreachable)
    with pytest.raises(helpers.TutorialError, match="Could not download"):
        vision.load_image("https://example.invalid/cat.png")


def test_vision_prompt_to_a_text_only_catalog_model():
    choice = helpers.choose_model(RuntimeFacts(), override="tiny")
    with pytest.raises(helpers.TutorialError, match="text-only"):
        helpers.load_vision_model(choice)


def test_vision_prompt_to_a_text_only_folder(tmp_path):
    from transformers import LlamaConfig

    LlamaConfig(vocab_size=16, hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
                intermediate_size=8).save_pretrained(tmp_path)
    choice = helpers.choose_model(RuntimeFacts(), vision_override=str(tmp_path), kind="vision")
    with pytest.raises(helpers.TutorialError, match="text-only"):
        helpers.load_vision_model(choice)


def test_vision_lessons_pick_a_vision_stand_in_on_a_cpu():
    choice = helpers.choose_model(RuntimeFacts(), kind="vision")
    assert choice.name == "tiny-llava-next" and choice.entry.kind == "vision"
    assert helpers.choose_model(RuntimeFacts(), override="tiny-mllama", kind="vision").name == "tiny-mllama"


def test_aica_5b_is_chosen_on_a_free_t4():
    t4 = RuntimeFacts(gpu_name="Tesla T4", compute_capability=(7, 5), gpu_total_gb=15.0, gpu_free_gb=15.0)
    choice = helpers.choose_model(t4, kind="vision")
    assert choice.name == "aica-5b" and choice.dtype == "float16"


def test_missing_chat_template_gets_llama3_with_the_card_image_text():
    class Bare:
        chat_template = None
        image_token = "<image>"

    processor = Bare()
    helpers.ensure_chat_template(processor)
    assert "<image>\\n" in processor.chat_template


@pytest.mark.parametrize(("choice", "message"), [
    (dict(colour="orange"), "unknown colour"), (dict(shape="star"), "unknown shape"),
    (dict(background="sky"), "unknown background"), (dict(outline="pink"), "unknown outline"),
    (dict(width=5), "8 to 4,096"),
])
def test_the_other_drawing_refuses_unknown_choices_with_advice(choice, message):
    from helpers.offline import other_pictures

    with pytest.raises(helpers.TutorialError, match=message):
        other_pictures.draw_picture(**choice)
