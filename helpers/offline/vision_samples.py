"""Pictures the vision lessons and stand-ins are made of: coloured shapes, a Korean sign, a chart.

Every picture is drawn with PIL from a few numbers, so the training set of the offline vision
stand-ins, their held-out test set and the notebook's sample images are all reproducible from a
seed and need no download. Each scene also knows the right answers to its questions, in English
and in Korean.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .cache import cached_folder, recipe_hash

# name: (RGB, English, Korean)
COLOURS = {
    "red": ((215, 40, 40), "red", "빨간색"),
    "green": ((40, 160, 60), "green", "초록색"),
    "blue": ((40, 80, 215), "blue", "파란색"),
    "yellow": ((240, 205, 30), "yellow", "노란색"),
    "purple": ((140, 60, 185), "purple", "보라색"),
}
SHAPES = {"circle": ("circle", "원"), "square": ("square", "사각형"), "triangle": ("triangle", "삼각형")}
# name: (centre as fractions of width and height, English, Korean)
POSITIONS = {
    "left": ((0.27, 0.5), "left", "왼쪽"),
    "right": ((0.73, 0.5), "right", "오른쪽"),
    "top": ((0.5, 0.27), "top", "위쪽"),
    "bottom": ((0.5, 0.73), "bottom", "아래쪽"),
    "centre": ((0.5, 0.5), "centre", "가운데"),
}
# A few words that may be written on a shape, so that a sign with text on it still reads as a shape.
LABELS = ["출구", "정지", "서울", "안내", "입구", "EXIT", "STOP", "OK", "A1", "카페"]

QUESTIONS = {
    "colour": {"en": ["What colour is the shape?", "What color is this shape?", "What colour is it?"],
               "ko": ["도형의 색깔은?", "이 도형은 무슨 색이에요?", "무슨 색인가요?"]},
    "shape": {"en": ["What shape is this?", "Which shape do you see?", "What is the shape?"],
              "ko": ["이 도형은 무슨 모양이에요?", "어떤 도형인가요?", "도형의 모양은?"]},
    "position": {"en": ["Where is the shape?", "Where is the shape in the picture?"],
                 "ko": ["도형은 어디에 있어요?", "도형의 위치는?"]},
    "describe": {"en": ["Describe the picture.", "What do you see?"],
                 "ko": ["그림을 설명해 주세요.", "무엇이 보이나요?"]},
}
# Questions without a picture and what a vision model should say then.
TEXT_ONLY = [
    ("What colour is the shape?", "I see no picture. Please show me one."),
    ("What shape is this?", "I see no picture. Please show me one."),
    ("Hello!", "Hello! Show me a picture and I will tell you its colour, shape and position."),
    ("What can you do?", "Show me a picture and I will tell you its colour, shape and position."),
    ("도형의 색깔은?", "그림이 없어요. 그림을 보여 주세요."),
    ("이 도형은 무슨 모양이에요?", "그림이 없어요. 그림을 보여 주세요."),
    ("안녕하세요?", "안녕하세요! 그림을 보여 주시면 색깔과 모양과 위치를 알려 드릴게요."),
    ("무엇을 할 수 있나요?", "그림을 보여 주시면 색깔과 모양과 위치를 알려 드릴게요."),
]


def hangul_font_path() -> Path:
    """The Nanum Gothic font that koreanize-matplotlib ships, for drawing Hangul with PIL."""
    import koreanize_matplotlib

    return Path(koreanize_matplotlib.__file__).parent / "fonts" / "NanumGothic.ttf"


@lru_cache(maxsize=32)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.truetype(str(hangul_font_path()), size)


@dataclass(frozen=True)
class ShapeScene:
    """One shape on a plain background, and everything needed to draw it again."""

    colour: str
    shape: str
    position: str
    width: int = 64
    height: int = 64
    scale: float = 0.42  # shape size as a fraction of the shorter side
    jitter: tuple[float, float] = (0.0, 0.0)  # centre offset, fractions of width and height
    tint: tuple[int, int, int] = (0, 0, 0)  # colour noise added to the shape's colour
    background: tuple[int, int, int] = (250, 250, 250)
    label: str = ""  # a word written on the shape, or nothing

    def answer(self, kind: str, language: str) -> str:
        """The right answer to a question of this kind ("colour", "shape", "position", "describe")."""
        english = language == "en"
        colour = COLOURS[self.colour][1 if english else 2]
        shape = SHAPES[self.shape][0 if english else 1]
        position = POSITIONS[self.position][1 if english else 2]
        if kind == "colour":
            return colour
        if kind == "shape":
            return shape
        if kind == "position":
            return position
        if english:
            where = {"centre": "in the centre", "top": "at the top", "bottom": "at the bottom"}.get(
                self.position, f"on the {position}")
            return f"A {colour} {shape} {where}."
        return f"{position}에 {colour} {shape}이 있어요."  # 원, 사각형, 삼각형 all take 이

    def draw(self, width: int | None = None, height: int | None = None):
        """The scene as a PIL RGB image, at its own size or at another (same layout, redrawn)."""
        from PIL import Image, ImageDraw

        width, height = width or self.width, height or self.height
        image = Image.new("RGB", (width, height), self.background)
        pen = ImageDraw.Draw(image)
        (fx, fy), _, _ = POSITIONS[self.position]
        cx, cy = (fx + self.jitter[0]) * width, (fy + self.jitter[1]) * height
        half = self.scale * min(width, height) / 2
        rgb = tuple(max(0, min(255, c + t)) for c, t in zip(COLOURS[self.colour][0], self.tint))
        box = [cx - half, cy - half, cx + half, cy + half]
        if self.shape == "circle":
            pen.ellipse(box, fill=rgb)
        elif self.shape == "square":
            pen.rectangle(box, fill=rgb)
        else:
            pen.polygon([(cx, cy - half), (cx + half, cy + half), (cx - half, cy + half)], fill=rgb)
        if self.label:
            size = max(6, int(half * 0.7))
            ink = (20, 20, 20) if self.colour == "yellow" else (255, 255, 255)
            offset = half * 0.35 if self.shape == "triangle" else 0
            pen.text((cx, cy + offset), self.label, fill=ink, font=_font(size), anchor="mm")
        return image


# Sizes the stand-ins are trained on: one tile, four tiles, wide and tall (32 pixels a tile).
TRAINING_SIZES = [(32, 32), (64, 64), (64, 64), (64, 32), (32, 64)]


def random_scene(rng: random.Random, sizes=TRAINING_SIZES) -> ShapeScene:
    """A scene with every attribute drawn from `rng`."""
    width, height = rng.choice(sizes)
    light = [rng.randint(225, 255) for _ in range(3)]
    return ShapeScene(
        colour=rng.choice(list(COLOURS)), shape=rng.choice(list(SHAPES)),
        position=rng.choice(list(POSITIONS)), width=width, height=height,
        scale=rng.uniform(0.36, 0.48), jitter=(rng.uniform(-0.04, 0.04), rng.uniform(-0.04, 0.04)),
        tint=tuple(rng.randint(-25, 25) for _ in range(3)), background=tuple(light),
        label=rng.choice(LABELS) if rng.random() < 0.2 else "",
    )


def random_scenes(count: int, seed: int, sizes=TRAINING_SIZES) -> list[ShapeScene]:
    """`count` scenes from one seed: the same seed always gives the same scenes."""
    rng = random.Random(seed)
    return [random_scene(rng, sizes) for _ in range(count)]


# The notebook's sample scenes.
SHAPE_SCENE = ShapeScene("red", "circle", "left", width=672, height=672, scale=0.4)
KOREAN_SIGN = ShapeScene("blue", "square", "centre", width=672, height=672, scale=0.62,
                         background=(235, 240, 235), label="출구")


def draw_bar_chart(path: Path) -> None:
    """A small bar chart with Korean labels (monthly visitors), saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plotting import use_hangul_font

    use_hangul_font()
    figure, axes = plt.subplots(figsize=(4, 3), dpi=112)
    months, visitors = ["1월", "2월", "3월", "4월"], [120, 180, 150, 240]
    axes.bar(months, visitors, color="#2850d7")
    axes.set_title("월별 방문자 수 (Visitors)")
    axes.set_ylabel("명")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _write_samples(folder: Path) -> None:
    SHAPE_SCENE.draw().save(folder / "shape_scene.png")
    KOREAN_SIGN.draw().save(folder / "korean_sign.png")
    draw_bar_chart(folder / "chart.png")


def sample_images_folder() -> Path:
    """A folder with the notebook's sample images: shape_scene.png, korean_sign.png, chart.png."""
    import matplotlib
    import PIL

    recipe = recipe_hash(Path(__file__), Path(__file__).parents[1] / "plotting.py", PIL.__version__,
                         matplotlib.__version__)
    return cached_folder("vision-samples", recipe, _write_samples)
