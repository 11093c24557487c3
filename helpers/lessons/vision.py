"""Notebook 05: pictures in, answers out: checked images, and how a vision model reads a picture.

The vision lesson asks Bllossom-Vision-8B (LLaVA-NeXT) and AICA-5B (Mllama), or their offline
stand-ins, about a picture through one code path: `AutoProcessor`, `AutoModelForImageTextToText`
and the processor's chat template. What would distract from that lives here: checking that a
picture is really a picture and drawing how a model cuts a picture into tiles and patches (loading
and the can-it-see check live in `helpers.models.loading`).
"""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import TutorialError
from ..models.runtime import hub_is_offline

MAX_PIXELS = 40_000_000  # larger pictures are refused: the processors would shrink them anyway
DOWNLOAD_TIMEOUT_S = 20

# ---------------------------------------------------------------------------------------------
# Pictures


def load_image(source):
    """An RGB PIL image from a file path, an http(s) URL or a PIL image, or a clear TutorialError.

    Transparent pictures are put on white; CMYK, palette, greyscale and 16-bit greyscale
    pictures are converted to 8-bit RGB; modes with no faithful conversion are refused.
    """
    from PIL import Image

    if isinstance(source, Image.Image):
        return as_rgb(source, "the picture")
    if not isinstance(source, (str, Path)):
        raise TutorialError(f"Give a picture as a file path, an http(s) URL or a PIL image, not a "
                            f"{type(source).__name__}.")
    text = str(source).strip()
    if text.startswith(("http://", "https://")):
        return as_rgb(_open_bytes(_download(text), text), text)
    path = Path(text).expanduser()
    if not path.exists():
        raise TutorialError(f"There is no picture at '{path}' (looked in {Path.cwd()}). Check the "
                            "name and folder, or give the full path.")
    if path.is_dir():
        raise TutorialError(f"'{path}' is a folder. Give the path of one picture file inside it.")
    return as_rgb(_open_bytes(path.read_bytes(), str(path)), str(path))


def _download(url: str) -> bytes:
    if hub_is_offline():
        raise TutorialError(f"{url} is a web address, but this session is offline (HF_HUB_OFFLINE is "
                            "set). Download the picture on a connected machine and give its file path "
                            "instead, or unset HF_HUB_OFFLINE.")
    request = urllib.request.Request(url, headers={"User-Agent": "bllossom-tutorial"})
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
            return response.read(MAX_PIXELS)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise TutorialError(f"Could not download {url} ({reason}). Check the address and your internet "
                            "connection, or save the picture and give its file path.") from error


def _open_bytes(data: bytes, name: str):
    """Decode picture bytes fully (so a truncated file fails here, not later)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                raise TutorialError(f"{name} is {opened.width} x {opened.height} pixels, too large to "
                                    "read safely. Shrink it (for example to 2000 pixels a side) first.")
            opened.load()
            return opened.copy()
    except TutorialError:
        raise
    except UnidentifiedImageError as error:
        raise TutorialError(f"{name} is not a picture PIL can read (is it really a PNG or JPEG? a web "
                            "page saved by mistake?). Open it in an image viewer, or save it again as "
                            "PNG or JPEG.") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise TutorialError(f"{name} is damaged or cut short ({error}). Download or save it again.") from error
    except Image.DecompressionBombError as error:
        raise TutorialError(f"{name} is too large to read safely. Shrink it first.") from error


def as_rgb(image, name: str = "the picture"):
    """The 8-bit RGB picture the processors expect, converted where that is faithful."""
    from PIL import Image

    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("1", "L", "P", "CMYK", "YCbCr"):
        return image.convert("RGB")
    if mode.startswith("I"):  # 16-bit (I;16, I;16B) or 32-bit integer greyscale
        import numpy as np

        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max(initial=0) > 255 or mode.startswith("I;16") else 255.0
        return Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L").convert("RGB")
    raise TutorialError(f"{name} has pixel mode '{mode}', which has no faithful conversion to the 8-bit "
                        "RGB a vision model reads. Save it as an 8-bit RGB PNG or JPEG first (in PIL: "
                        "scale the values to 0-255, then .convert('RGB')).")


# ---------------------------------------------------------------------------------------------
# How a model reads a picture


def tile_size(processor) -> int:
    """Pixels a side of one tile the vision tower reads, as the processor reports it (336 for Vision-8B)."""
    images = processor.image_processor
    for size in (getattr(images, "crop_size", None), getattr(images, "size", None)):
        if size:
            size = dict(size)
            value = size.get("height") or size.get("shortest_edge")
            if value:
                return int(value)
    raise TutorialError("This processor does not say its tile size.")


def _layout(model, processor, inputs) -> dict:
    """Which tiles the processor made for the first picture in `inputs`, and their grid."""
    config = model.config
    if getattr(config, "vision_config", None) is None:
        raise TutorialError(f"{type(model).__name__} is a text-only model: it reads no pictures. Load a "
                            "vision model with helpers.load_vision_model().")
    if "pixel_values" not in inputs:
        raise TutorialError("These inputs hold no picture (no pixel_values), so there are no tiles to "
                            "show. Build them from a message with an image part and pass the picture: "
                            "processor(images=[picture], text=prompt, return_tensors='pt').")
    vision = config.vision_config
    tile = tile_size(processor)
    patches_per_side = tile // vision.patch_size
    image_token_id = getattr(config, "image_token_id", None) or config.image_token_index
    in_text = int((inputs["input_ids"][0] == image_token_id).sum())
    if "aspect_ratio_ids" in inputs:  # Mllama
        ratio_id = int(inputs["aspect_ratio_ids"][0, 0])
        rows, columns = vision.supported_aspect_ratios[ratio_id - 1]
        tiles = int(inputs["aspect_ratio_mask"][0, 0].sum())
        pixels = inputs["pixel_values"][0, 0, :tiles]
        return dict(design="Mllama (cross-attention)", whole=None, tiles=pixels, rows=rows, columns=columns,
                    tile=tile, patch=vision.patch_size, in_text=in_text,
                    read=tiles * (patches_per_side ** 2 + 1))
    from transformers.image_processing_utils import select_best_resolution

    height, width = (int(v) for v in inputs["image_sizes"][0])
    best = select_best_resolution((height, width), config.image_grid_pinpoints)
    rows, columns = best[0] // tile, best[1] // tile
    pixels = inputs["pixel_values"][0]
    return dict(design="LLaVA-NeXT (image tokens in the text)", whole=pixels[0],
                tiles=pixels[1: 1 + rows * columns], rows=rows, columns=columns, tile=tile,
                patch=vision.patch_size, in_text=in_text, read=in_text)


def image_reading(model, processor, inputs) -> dict:
    """One row of numbers: how many tiles, image tokens in the text, and picture positions the
    language model reads (in the sequence for LLaVA-NeXT, through cross-attention for Mllama)."""
    layout = _layout(model, processor, inputs)
    return {"design": layout["design"], "tiles": f"{layout['rows']} x {layout['columns']}",
            "patches per tile": (layout["tile"] // layout["patch"]) ** 2,
            "image tokens in the text": layout["in_text"], "picture positions read": layout["read"]}


def _to_picture(pixels, processor):
    import numpy as np

    images = processor.image_processor
    mean = np.array(images.image_mean).reshape(3, 1, 1)
    std = np.array(images.image_std).reshape(3, 1, 1)
    values = pixels.float().cpu().numpy() * std + mean
    return np.clip(values.transpose(1, 2, 0), 0, 1)


def plot_image_reading(model, processor, inputs, title: str = ""):
    """Draw what the vision tower receives for the first picture in `inputs`: (LLaVA-NeXT) the
    whole picture resized to one tile, then the tiles; (Mllama) the tiles. Thin lines mark patches."""
    import matplotlib.pyplot as plt

    from ..plotting import use_hangul_font

    use_hangul_font()
    layout = _layout(model, processor, inputs)
    rows, columns, tile, patch = layout["rows"], layout["columns"], layout["tile"], layout["patch"]
    panels = 2 if layout["whole"] is not None else 1
    figure, axes = plt.subplots(1, panels, figsize=(3.2 * panels + 0.6 * columns, 3.4), squeeze=False)
    axes = list(axes[0])

    def draw(axis, picture, heading, tiles_down, tiles_across):
        axis.imshow(picture, extent=(0, tiles_across * tile, tiles_down * tile, 0), interpolation="nearest")
        for x in range(0, tiles_across * tile + 1, patch):
            axis.axvline(x, color="grey", linewidth=0.5, alpha=0.6)
        for y in range(0, tiles_down * tile + 1, patch):
            axis.axhline(y, color="grey", linewidth=0.5, alpha=0.6)
        for x in range(0, tiles_across * tile + 1, tile):
            axis.axvline(x, color="black", linewidth=2)
        for y in range(0, tiles_down * tile + 1, tile):
            axis.axhline(y, color="black", linewidth=2)
        axis.set_title(heading, fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])

    import numpy as np

    if layout["whole"] is not None:
        draw(axes[0], _to_picture(layout["whole"], processor), "전체 그림 (whole picture, 1 tile)", 1, 1)
    canvas = np.ones((rows * tile, columns * tile, 3))
    for index, pixels in enumerate(layout["tiles"]):
        r, c = divmod(index, columns)
        canvas[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = _to_picture(pixels, processor)
    draw(axes[-1], canvas, f"타일 {rows} x {columns} (tiles), 패치 {patch} px", rows, columns)
    figure.suptitle(f"{title} · {layout['design']}", fontsize=10)
    figure.tight_layout()
    return figure


def show_pictures(pictures: dict, size: float = 2.6):
    """Pictures side by side with their names as titles (Hangul titles work)."""
    import matplotlib.pyplot as plt

    from ..plotting import use_hangul_font

    use_hangul_font()
    figure, axes = plt.subplots(1, len(pictures), figsize=(size * len(pictures), size), squeeze=False)
    for axis, (name, picture) in zip(axes[0], pictures.items()):
        axis.imshow(picture)
        axis.set_title(f"{name} ({picture.width} x {picture.height})", fontsize=9)
        axis.axis("off")
    figure.tight_layout()
    return figure


# ---------------------------------------------------------------------------------------------
# Draw your own: a picture drawn another way, and what each model says about it


def ask_about(model, processor, question: str, picture, max_new_tokens: int = 16) -> str:
    """The model's greedy answer to `question` about `picture` (the notebook's `ask`, for any model)."""
    import torch

    content = [{"type": "image", "image": picture}, {"type": "text", "text": question}]
    inputs = processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True,
                                           tokenize=True, return_dict=True, return_tensors="pt")
    inputs = inputs.to(model.device, dtype=model.dtype)
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return processor.decode(output[0, inputs["input_ids"].shape[-1]:], skip_special_tokens=True).strip()


# Words that show a right answer, also inside a longer sentence from a real model.
ANSWER_WORDS = {
    "red": ("red", "빨간", "빨강"), "green": ("green", "초록", "녹색"), "blue": ("blue", "파란", "파랑"),
    "yellow": ("yellow", "노란", "노랑"), "purple": ("purple", "보라"),
    "circle": ("circle", "원"), "square": ("square", "사각형", "정사각"), "triangle": ("triangle", "삼각형"),
}
WORKBENCH_QUESTIONS = {("colour", "en"): "What colour is the shape?", ("colour", "ko"): "도형의 색깔은?",
                       ("shape", "en"): "What shape is this?", ("shape", "ko"): "이 도형은 무슨 모양이에요?"}


def is_right(answer: str, truth: str) -> bool:
    """Whether `answer` names `truth` (a colour or shape name), in English or Korean."""
    words = ANSWER_WORDS[truth]
    kind = [names for names in (("red", "green", "blue", "yellow", "purple"), ("circle", "square", "triangle"))
            if truth in names][0]
    # Another answer of the same kind makes it wrong ("red or blue"); one-syllable words are too
    # common inside other Korean words to count against.
    others = [w for name in kind if name != truth for w in ANSWER_WORDS[name] if len(w) > 1]
    lowered = answer.lower()
    return any(w in lowered for w in words) and not any(w in lowered for w in others)


def names_a_shape(answer: str) -> bool:
    """Whether `answer` names one of the stand-ins' shapes (right or wrong), in English or Korean."""
    return any(is_right(answer, shape) for shape in ("circle", "square", "triangle"))


class PictureWorkbench:
    """Draw a picture your way and see what each model answers about its colour and shape.

    The pictures come from `helpers.offline.other_pictures`, a drawing routine the stand-ins never
    trained on. `widget` holds the controls (None where ipywidgets is missing); `update(...)` draws
    and asks, so a headless run or a test can call it as a plain function.
    """

    def __init__(self, readers: dict):
        from ..offline import other_pictures

        self.readers = readers  # name: (model, processor)
        self.pictures = other_pictures
        self.widget, self.output, self.last = None, None, None
        try:
            import ipywidgets as widgets
        except ImportError:
            return
        common = dict(style={"description_width": "150px"}, layout=widgets.Layout(width="420px"),
                      continuous_update=False)
        self.controls = {
            "colour": widgets.Dropdown(options=list(other_pictures.SHADES), description="colour (색깔)", **common),
            "shape": widgets.Dropdown(options=["circle", "square", "triangle"], description="shape (모양)", **common),
            "size": widgets.FloatSlider(value=0.5, min=0.15, max=0.7, step=0.05, description="size (크기)", **common),
            "background": widgets.Dropdown(options=other_pictures.BACKGROUNDS, description="background (배경)",
                                           **common),
            "outline": widgets.Dropdown(options=list(other_pictures.OUTLINES), description="outline (테두리)",
                                        **common),
            "width": widgets.IntSlider(value=256, min=32, max=1024, step=16, description="width px (너비)", **common),
            "height": widgets.IntSlider(value=256, min=32, max=1024, step=16, description="height px (높이)",
                                        **common),
            "tilt": widgets.IntSlider(value=0, min=-20, max=20, step=5, description="tilt ° (기울기)", **common),
        }
        self.output = widgets.Output()
        for control in self.controls.values():
            control.observe(lambda change: self._redraw(), names="value")
        self.widget = widgets.VBox([*self.controls.values(), self.output])

    def _redraw(self):
        self.output.clear_output(wait=True)
        with self.output:
            self.update(**{name: control.value for name, control in self.controls.items()})

    def update(self, show: bool = True, **choices) -> dict:
        """Draw the picture these choices describe (see `other_pictures.Picture`), ask every model its
        colour and shape in English and Korean, show picture and answers; returns them all."""
        import matplotlib.pyplot as plt

        from ..display import show_table

        picture = self.pictures.Picture(**choices)
        image = self.pictures.draw_picture(picture)
        rows = []
        for name, (model, processor) in self.readers.items():
            for (kind, _language), question in WORKBENCH_QUESTIONS.items():
                truth = picture.colour if kind == "colour" else picture.shape
                answer = ask_about(model, processor, question, image)
                rows.append({"model": name, "question": question, "answer": answer, "right": is_right(answer, truth)})
        if show:
            figure = show_pictures({f"{picture.colour} {picture.shape}": image}, size=2.4)
            plt.show()
            plt.close(figure)
            show_table(rows)
        self.last = {"picture": picture, "image": image, "answers": rows}
        return self.last

    def show(self):
        """The controls, with the default picture already asked; headless (no ipywidgets) just that picture."""
        from IPython.display import display

        if self.widget is None:
            return self.update()
        display(self.widget)
        self._redraw()
        return self.last
