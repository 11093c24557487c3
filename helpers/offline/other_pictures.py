"""Pictures drawn another way, for testing the vision stand-ins only (never for training them).

`vision_samples` draws the stand-ins' training pictures with PIL's drawing calls. This module was
written separately and draws the same colours and shapes differently: it rasterises each shape
with numpy from its geometry (four samples a pixel, so edges are smooth), uses named shades
rather than random hues, an equilateral triangle rather than an isosceles one, and its own
backgrounds (paper texture, checkerboard, stripes, vignette, night). A stand-in that only learned
`vision_samples`' way of drawing fails here; one that learned colours and shapes passes.

`draw_picture` is the learner's pen in notebook 05; `held_out_pictures` makes the test set.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass

import numpy as np

from ..errors import TutorialError

# Named shades of each colour (sRGB), not the colours the training pictures are drawn from.
SHADES = {
    "red": [(220, 20, 60), (178, 34, 34), (255, 0, 0), (200, 16, 46), (237, 41, 57)],
    "green": [(34, 139, 34), (0, 128, 0), (50, 205, 50), (46, 139, 87), (60, 179, 113)],
    "blue": [(0, 0, 255), (65, 105, 225), (0, 71, 171), (30, 100, 200), (16, 52, 166)],
    "yellow": [(255, 215, 0), (255, 255, 0), (250, 218, 94), (255, 236, 60), (238, 210, 2)],
    "purple": [(128, 0, 128), (148, 0, 211), (153, 50, 204), (102, 51, 153), (120, 40, 170)],
}
BACKGROUNDS = ["white", "paper", "grey", "pastel", "checkerboard", "stripes", "vignette", "night"]
OUTLINES = {"none": None, "black": (0, 0, 0), "white": (255, 255, 255), "grey": (90, 90, 90),
            "orange": (255, 140, 0)}
STYLES = ["plain", "outlined", "textured", "dark", "blurred jpeg", "tilted", "off-centre", "extreme"]


@dataclass(frozen=True)
class Picture:
    """What to draw: everything a learner (or the test) chooses, in plain words and numbers."""

    colour: str = "red"
    shape: str = "circle"
    width: int = 256
    height: int = 256
    size: float = 0.5  # the shape's size as a fraction of the picture's shorter side
    centre: tuple[float, float] = (0.5, 0.5)  # fractions of width and height
    background: str = "white"
    outline: str = "none"
    outline_width: float = 0.05  # fraction of the shape's size
    tilt: float = 0.0  # degrees, anticlockwise
    shade: int = 0  # which of the colour's named shades
    blur: float = 0.0  # Gaussian blur radius in pixels
    jpeg_quality: int = 0  # 0: no JPEG compression
    seed: int = 0  # for textured backgrounds


def _inside(shape: str, x, y, half: float, tilt: float):
    """Whether points (x, y), relative to the shape's centre, lie inside the shape."""
    angle = math.radians(tilt)
    u = x * math.cos(angle) - y * math.sin(angle)
    v = x * math.sin(angle) + y * math.cos(angle)
    if shape == "circle":
        return u * u + v * v <= half * half
    if shape == "square":
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    # An equilateral triangle pointing up whose circumscribed circle has radius `half` * 1.15.
    radius = half * 1.15
    inside = np.ones_like(u, dtype=bool)
    for k in range(3):
        normal = math.radians(90 + 120 * k + 180)  # the outward normal of each edge
        inside &= (u * math.cos(normal) - v * math.sin(normal)) <= radius / 2
    return inside


def _coverage(shape, width, height, cx, cy, half, tilt, samples: int = 2):
    """The share of each pixel the shape covers, from samples x samples points a pixel."""
    offsets = (np.arange(samples) + 0.5) / samples
    ys = (np.arange(height)[:, None] + offsets[None, :]).reshape(-1) - cy
    xs = (np.arange(width)[:, None] + offsets[None, :]).reshape(-1) - cx
    inside = _inside(shape, xs[None, :], ys[:, None], half, tilt)
    return inside.reshape(height, samples, width, samples).mean(axis=(1, 3))


def _background(kind: str, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    if kind == "white":
        return np.full((height, width, 3), 255.0)
    if kind == "grey":
        return np.full((height, width, 3), 200.0)
    if kind == "pastel":
        return np.broadcast_to(np.array([235.0, 225.0, 240.0]), (height, width, 3)).copy()
    if kind == "paper":
        grain = rng.normal(0, 6, (height, width, 1))
        return np.clip(np.array([245.0, 238.0, 222.0]) + grain, 0, 255)
    if kind == "checkerboard":
        cell = max(2, min(width, height) // 8)
        light = ((xs // cell + ys // cell) % 2)[..., None]
        return np.where(light, 235.0, 205.0) * np.ones(3)
    if kind == "stripes":
        period = max(3, min(width, height) // 6)
        band = ((xs + ys) // period % 2)[..., None]
        return np.where(band, np.array([220.0, 230.0, 235.0]), np.array([240.0, 240.0, 230.0]))
    if kind == "vignette":
        r = np.hypot((xs - width / 2) / width, (ys - height / 2) / height)[..., None]
        return np.clip(250.0 - 160.0 * r, 0, 255) * np.ones(3)
    if kind == "night":
        return np.broadcast_to(np.array([18.0, 22.0, 40.0]), (height, width, 3)).copy()
    raise TutorialError(f"unknown background {kind!r}; choose one of {', '.join(BACKGROUNDS)}")


def draw_picture(picture: Picture | None = None, **choices):
    """`picture` (or a Picture made from `choices`) as a PIL RGB image."""
    from PIL import Image, ImageFilter

    picture = picture or Picture(**choices)
    if picture.shape not in ("circle", "square", "triangle"):
        raise TutorialError(f"unknown shape {picture.shape!r}; choose one of circle, square, triangle")
    if not (8 <= picture.width <= 4096 and 8 <= picture.height <= 4096):
        raise TutorialError(f"a picture of {picture.width} x {picture.height} pixels; choose 8 to 4,096 a side")
    if picture.colour not in SHADES:
        raise TutorialError(f"unknown colour {picture.colour!r}; choose one of {', '.join(SHADES)}")
    if picture.outline not in OUTLINES:
        raise TutorialError(f"unknown outline {picture.outline!r}; choose one of {', '.join(OUTLINES)}")
    width, height = picture.width, picture.height
    rng = np.random.default_rng(picture.seed)
    canvas = _background(picture.background, width, height, rng)
    half = picture.size * min(width, height) / 2
    cx, cy = picture.centre[0] * width, picture.centre[1] * height
    fill = np.array(SHADES[picture.colour][picture.shade % len(SHADES[picture.colour])], dtype=float)
    # Only the pixels around the shape are rasterised; the rest stays background.
    reach = 1.2 * half + 2
    left, top = max(0, int(cx - reach)), max(0, int(cy - reach))
    right, bottom = min(width, int(cx + reach) + 1), min(height, int(cy + reach) + 1)
    box = canvas[top:bottom, left:right]
    local = (picture.shape, right - left, bottom - top, cx - left, cy - top)
    outer = _coverage(*local, half, picture.tilt)[..., None]
    ink = OUTLINES[picture.outline]
    if ink is None:
        box[:] = box * (1 - outer) + fill * outer
    else:
        stroke = max(1.0, picture.outline_width * 2 * half)
        inner = _coverage(*local, max(0.0, half - stroke), picture.tilt)[..., None]
        box[:] = box * (1 - outer) + np.array(ink, dtype=float) * (outer - inner) + fill * inner
    image = Image.fromarray(np.clip(canvas, 0, 255).round().astype(np.uint8), "RGB")
    if picture.blur:
        image = image.filter(ImageFilter.GaussianBlur(picture.blur))
    if picture.jpeg_quality:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=picture.jpeg_quality)
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return image


def _random_picture(rng: random.Random, style: str, seed: int) -> Picture:
    """One test picture of `style`: sizes from 32 to 1,024 pixels, aspect ratios from 1:3 to 3:1."""
    longer = round(math.exp(rng.uniform(math.log(32), math.log(1024))))
    ratio = math.exp(rng.uniform(math.log(1 / 3), math.log(3)))  # width / height
    width, height = (longer, max(32, round(longer / ratio))) if ratio >= 1 else (max(32, round(longer * ratio)),
                                                                                 longer)
    size = rng.uniform(0.3, 0.6)
    centre, background, outline, tilt, blur, quality = (0.5, 0.5), rng.choice(["white", "grey", "pastel"]), \
        "none", 0.0, 0.0, 0
    if style == "outlined":
        outline = rng.choice(["black", "white", "grey", "orange"])
    elif style == "textured":
        background = rng.choice(["paper", "checkerboard", "stripes", "vignette"])
    elif style == "dark":
        background = "night"
    elif style == "blurred jpeg":
        blur, quality = rng.uniform(0.5, 1.5) * max(width, height) / 128, rng.randint(15, 50)
    elif style == "tilted":
        tilt = rng.uniform(-20, 20)
    elif style == "off-centre":
        size = rng.uniform(0.2, 0.45)
    elif style == "extreme":
        size = rng.choice([rng.uniform(0.15, 0.25), rng.uniform(0.6, 0.7)])
        outline = rng.choice(list(OUTLINES))
        background = rng.choice(BACKGROUNDS)
    if style in ("off-centre", "extreme"):
        reach_x, reach_y = (0.5 - size * min(width, height) / width / 2 - 0.02,
                            0.5 - size * min(width, height) / height / 2 - 0.02)
        centre = (0.5 + rng.uniform(-1, 1) * max(0.0, reach_x), 0.5 + rng.uniform(-1, 1) * max(0.0, reach_y))
    return Picture(colour=rng.choice(list(SHADES)), shape=rng.choice(["circle", "square", "triangle"]),
                   width=width, height=height, size=size, centre=centre, background=background, outline=outline,
                   outline_width=rng.uniform(0.03, 0.1), tilt=tilt, shade=rng.randrange(5), blur=blur,
                   jpeg_quality=quality, seed=seed)


def held_out_pictures(count: int = 200, seed: int = 2026) -> list[tuple[str, Picture]]:
    """`count` (style, picture) pairs, the styles in turn, reproducible from `seed`."""
    rng = random.Random(seed)
    return [(STYLES[i % len(STYLES)], _random_picture(rng, STYLES[i % len(STYLES)], seed * 1000 + i))
            for i in range(count)]


def size_band(picture: Picture) -> str:
    """A coarse label for reports: the picture's longer side."""
    longer = max(picture.width, picture.height)
    return "32-96 px" if longer <= 96 else "97-320 px" if longer <= 320 else "321-1024 px"


def shape_band(picture: Picture) -> str:
    """A coarse label for reports: the shape's size as a share of the shorter side."""
    return "shape 15-30%" if picture.size < 0.3 else "shape 30-50%" if picture.size < 0.5 else "shape 50-70%"


def aspect_band(picture: Picture) -> str:
    """A coarse label for reports: square-ish, wide or tall."""
    ratio = picture.width / picture.height
    return "wide >1.5:1" if ratio > 1.5 else "tall >1:1.5" if ratio < 1 / 1.5 else "square-ish"


# The answers are words, shared with the training pictures; the drawings are not.
ANSWERS = {"colour": {"red": ("red", "빨간색"), "green": ("green", "초록색"), "blue": ("blue", "파란색"),
                      "yellow": ("yellow", "노란색"), "purple": ("purple", "보라색")},
           "shape": {"circle": ("circle", "원"), "square": ("square", "사각형"), "triangle": ("triangle", "삼각형")}}
QUESTIONS = {"colour": {"en": "What colour is the shape?", "ko": "도형의 색깔은?"},
             "shape": {"en": "What shape is this?", "ko": "이 도형은 무슨 모양이에요?"}}


def held_out_accuracy(model, processor, count: int = 200, seed: int = 2026, batch_size: int = 20) -> dict:
    """Ask each of `count` held-out pictures its colour and its shape, in English and in Korean,
    with greedy decoding. Returns the share of exactly right answers per (kind, language), the
    same broken down by style, picture size, shape size and aspect ratio, and the mistakes."""
    import torch

    pictures = held_out_pictures(count, seed)
    drawn = [draw_picture(picture) for _, picture in pictures]
    asked = [(index, kind, language) for index in range(count) for kind in QUESTIONS for language in ("en", "ko")]
    right: dict[tuple, list[bool]] = {}
    mistakes = []
    for start in range(0, len(asked), batch_size):
        chunk = asked[start: start + batch_size]
        prompts = [processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTIONS[kind][language]}]}],
            add_generation_prompt=True, tokenize=False) for _, kind, language in chunk]
        inputs = processor(text=prompts, images=[[drawn[index]] for index, _, _ in chunk], padding=True,
                           padding_side="left", add_special_tokens=False, return_tensors="pt")
        inputs = inputs.to(model.device, dtype=model.dtype)
        with torch.no_grad():
            output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
        answers = processor.batch_decode(output[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        for (index, kind, language), answer in zip(chunk, answers):
            style, picture = pictures[index]
            truth = getattr(picture, "colour" if kind == "colour" else "shape")
            expected = ANSWERS[kind][truth][0 if language == "en" else 1]
            correct = answer.strip().rstrip(".") == expected
            for group in ("all", style, size_band(picture), shape_band(picture), aspect_band(picture)):
                right.setdefault((kind, language, group), []).append(correct)
            if not correct:
                mistakes.append((style, picture, kind, language, expected, answer.strip()))
    share = {key: sum(values) / len(values) for key, values in right.items()}
    return {"accuracy": {f"{kind} {language}": share[(kind, language, "all")] for kind in QUESTIONS
                         for language in ("en", "ko")},
            "by_group": share, "mistakes": mistakes}


def accuracy_table(result: dict) -> list[dict]:
    """One row per group (style, size band, ...): colour and shape accuracy, both languages together."""
    groups = ["all"] + STYLES + ["32-96 px", "97-320 px", "321-1024 px", "shape 15-30%", "shape 30-50%",
                                 "shape 50-70%", "square-ish", "wide >1.5:1", "tall >1:1.5"]
    share = result["by_group"]
    rows = []
    for group in groups:
        row = {"group": group}
        for kind in QUESTIONS:
            values = [share[(kind, language, group)] for language in ("en", "ko") if (kind, language, group) in share]
            row[kind] = round(sum(values) / len(values), 3) if values else None
        rows.append(row)
    return rows
