"""Pictures the vision lessons and stand-ins are made of: coloured shapes, a Korean sign, a chart.

Every picture is drawn with PIL from a few numbers, so the training set of the offline vision
stand-ins, their held-out test set and the notebook's sample images are all reproducible from a
seed and need no download. Each scene also knows the right answers to its questions, in English
and in Korean.
"""

from __future__ import annotations

import colorsys
import io
import math
import random
from dataclasses import dataclass, replace
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

# No question is another kind's question with a word left out. "What is the shape?" (a shape question)
# is "What colour is the shape?" without "colour": with it among the shape questions, a tiny-llava-next
# build (seed 2, 6,000 stage-1 pictures) answered that colour question right only half the time (0.505;
# a sister build's mistakes were shape words, 40 of 41); with "Name the shape." instead, 0.99, and the
# other builds kept their scores.
QUESTIONS = {
    "colour": {"en": ["What colour is the shape?", "What color is this shape?", "What colour is it?"],
               "ko": ["도형의 색깔은?", "이 도형은 무슨 색이에요?", "무슨 색인가요?"]},
    "shape": {"en": ["What shape is this?", "Which shape do you see?", "Name the shape."],
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
    """One shape on a background, and everything needed to draw it again."""

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
    fill: tuple[int, int, int] | None = None  # the shape's exact colour, instead of COLOURS + tint
    background_to: tuple[int, int, int] | None = None  # a gradient from `background` to this
    gradient_angle: float = 0.0  # degrees; 0 runs left to right
    noise: float = 0.0  # standard deviation of the pixel noise added to the picture
    outline: tuple[int, int, int] | None = None  # the colour of the shape's outline, or none
    outline_width: float = 0.0  # fraction of the shape's size
    rotation: float = 0.0  # degrees, anticlockwise
    blur: float = 0.0  # Gaussian blur radius, pixels
    jpeg_quality: int = 0  # 0: saved losslessly
    seed: int = 0  # for the noise

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

    def _backdrop(self, width: int, height: int):
        from PIL import Image

        if self.background_to is None:
            return Image.new("RGB", (width, height), self.background)
        import numpy as np

        angle = math.radians(self.gradient_angle)
        ys, xs = np.mgrid[0:height, 0:width]
        along = (xs / max(1, width - 1) - 0.5) * math.cos(angle) + (ys / max(1, height - 1) - 0.5) * math.sin(angle)
        share = np.clip(along + 0.5, 0, 1)[..., None]
        pixels = np.array(self.background) * (1 - share) + np.array(self.background_to) * share
        return Image.fromarray(pixels.round().astype(np.uint8), "RGB")

    def draw(self, width: int | None = None, height: int | None = None):
        """The scene as a PIL RGB image, at its own size or at another (same layout, redrawn)."""
        from PIL import Image, ImageDraw, ImageFilter

        width, height = width or self.width, height or self.height
        image = self._backdrop(width, height)
        pen = ImageDraw.Draw(image)
        (fx, fy), _, _ = POSITIONS[self.position]
        cx, cy = (fx + self.jitter[0]) * width, (fy + self.jitter[1]) * height
        half = self.scale * min(width, height) / 2
        rgb = self.fill or tuple(max(0, min(255, c + t)) for c, t in zip(COLOURS[self.colour][0], self.tint))
        stroke = max(1, round(self.outline_width * 2 * half)) if self.outline else 0
        ink = dict(fill=rgb, outline=self.outline, width=stroke) if stroke else dict(fill=rgb)
        if self.shape == "circle":
            pen.ellipse([cx - half, cy - half, cx + half, cy + half], **ink)
        else:
            corners = ([(-half, -half), (half, -half), (half, half), (-half, half)] if self.shape == "square"
                       else [(0, -half), (half, half), (-half, half)])
            turn = math.radians(-self.rotation)
            pen.polygon([(cx + x * math.cos(turn) - y * math.sin(turn), cy + x * math.sin(turn) + y * math.cos(turn))
                         for x, y in corners], **ink)
        if self.label:
            size = max(6, int(half * 0.7))
            ink = (20, 20, 20) if self.colour == "yellow" else (255, 255, 255)
            offset = half * 0.35 if self.shape == "triangle" else 0
            pen.text((cx, cy + offset), self.label, fill=ink, font=_font(size), anchor="mm")
        if self.blur:  # the radius scales with the picture, so a redrawn scene looks the same
            radius = self.blur * max(width, height) / max(self.width, self.height)
            image = image.filter(ImageFilter.GaussianBlur(radius))
        if self.noise:
            import numpy as np

            grain = np.random.default_rng(self.seed).normal(0, self.noise, (height, width, 3))
            image = Image.fromarray(np.clip(np.asarray(image) + grain, 0, 255).astype(np.uint8), "RGB")
        if self.jpeg_quality:
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=self.jpeg_quality)
            image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
        return image


    def mask(self, width: int | None = None, height: int | None = None):
        """Where the shape is, drawn at the same size and place on black: red where the shape or its
        outline is, green (with red) where its own colour is. Training reads this through the same
        image processor as the picture, to know which patches show the shape."""
        silhouette = replace(
            self, fill=(255, 255, 0), background=(0, 0, 0), background_to=None,
            outline=(255, 0, 0) if self.outline else None, label="", blur=0.0, noise=0.0, jpeg_quality=0)
        return silhouette.draw(width, height)


# The hues (degrees) each colour name covers in training pictures, and the least brightness.
HUES = {"red": (-20, 15, 0.45), "yellow": (44, 62, 0.8), "green": (85, 152, 0.45), "blue": (200, 245, 0.45),
        "purple": (262, 305, 0.45)}


def _hsv(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    return tuple(round(255 * c) for c in colorsys.hsv_to_rgb((hue % 360) / 360, saturation, value))


def position_of(x: float, y: float) -> str:
    """The position word for a shape centred at (x, y), fractions of width and height."""
    dx, dy = x - 0.5, y - 0.5
    if max(abs(dx), abs(dy)) < 0.12:
        return "centre"
    if abs(dx) >= abs(dy):
        return "left" if dx < 0 else "right"
    return "top" if dy < 0 else "bottom"


def random_scene(rng: random.Random) -> ShapeScene:
    """A scene with every attribute drawn from `rng`: sizes from 32 to 1,024 pixels, aspect ratios
    from 1:3 to 3:1, the shape 15-70% of the shorter side anywhere in the picture, any hue of its
    colour, an outline of any colour and width, plain, gradient, noisy or dark backgrounds, slight
    rotation, blur and JPEG compression."""
    longer = round(math.exp(rng.uniform(math.log(32), math.log(1024))))
    ratio = math.exp(rng.uniform(math.log(1 / 3), math.log(3)))  # width / height
    width, height = ((longer, max(32, round(longer / ratio))) if ratio >= 1
                     else (max(32, round(longer * ratio)), longer))
    colour, shape = rng.choice(list(COLOURS)), rng.choice(list(SHAPES))
    scale = rng.uniform(0.15, 0.7)
    # Where the centre may go so that the whole shape stays in the picture.
    reach_x = max(0.0, 0.5 - scale * min(width, height) / width / 2 - 0.01)
    reach_y = max(0.0, 0.5 - scale * min(width, height) / height / 2 - 0.01)
    if rng.random() < 0.5:  # near one of the five places the questions name
        anchor = POSITIONS[rng.choice(list(POSITIONS))][0]
        x, y = anchor[0] + rng.uniform(-0.06, 0.06), anchor[1] + rng.uniform(-0.06, 0.06)
    else:  # anywhere
        x, y = rng.uniform(0, 1), rng.uniform(0, 1)
    x, y = min(max(x, 0.5 - reach_x), 0.5 + reach_x), min(max(y, 0.5 - reach_y), 0.5 + reach_y)
    position = position_of(x, y)
    anchor = POSITIONS[position][0]
    low, high, least = HUES[colour]
    fill = _hsv(rng.uniform(low, high), rng.uniform(0.55, 1.0), rng.uniform(least, 1.0))
    grey = lambda lo, hi: _hsv(rng.uniform(0, 360), rng.uniform(0, 0.2), rng.uniform(lo, hi))  # noqa: E731
    backdrop = rng.choice(["plain", "plain", "gradient", "noisy", "dark"])
    dark = backdrop == "dark" or (backdrop != "plain" and rng.random() < 0.25)
    lo, hi = (0.0, 0.3) if dark else (0.7, 1.0)
    return ShapeScene(
        colour=colour, shape=shape, position=position, width=width, height=height, scale=scale,
        jitter=(x - anchor[0], y - anchor[1]), fill=fill, background=grey(lo, hi),
        background_to=grey(lo, hi) if backdrop == "gradient" else None, gradient_angle=rng.uniform(0, 360),
        noise=rng.uniform(4, 30) if backdrop == "noisy" else 0.0,
        outline=_hsv(rng.uniform(0, 360), rng.random(), rng.random()) if rng.random() < 0.35 else None,
        outline_width=rng.uniform(0.02, 0.12),
        rotation=rng.uniform(-20, 20) if rng.random() < 0.5 else 0.0,
        blur=rng.uniform(0.3, 1.5) * longer / 128 if rng.random() < 0.15 else 0.0,
        jpeg_quality=rng.randint(15, 70) if rng.random() < 0.3 else 0,
        label=rng.choice(LABELS) if rng.random() < 0.1 else "", seed=rng.randrange(2**31),
    )


TRAINING_LONGEST = 128  # pixels: the longest side training pictures are drawn at (see training_size)


def training_size(scene: ShapeScene, longest: int = TRAINING_LONGEST) -> tuple[int, int]:
    """The size to draw `scene` at for training: no larger than `longest` pixels a side, same aspect.

    The stand-ins' processors shrink every picture to at most 128 pixels a side (Mllama's four
    32-pixel tiles in a row), so a 1,024-pixel scene drawn at 128 reads almost the same and takes a
    fraction of the time to draw and shrink: time that buys more training pictures.
    (The held-out test draws its pictures at full size, which checks that this shortcut holds.)"""
    shrink = min(1.0, longest / max(scene.width, scene.height))
    return max(1, round(scene.width * shrink)), max(1, round(scene.height * shrink))


def draw_for_training(scene: ShapeScene, longest: int = TRAINING_LONGEST):
    """`scene` drawn at its `training_size`."""
    return scene.draw(*training_size(scene, longest))


def random_scenes(count: int, seed: int) -> list[ShapeScene]:
    """`count` scenes from one seed: the same seed always gives the same scenes."""
    rng = random.Random(seed)
    return [random_scene(rng) for _ in range(count)]


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
