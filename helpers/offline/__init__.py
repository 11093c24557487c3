"""What this project builds offline instead of downloading: the Llama-3 tokenizer from a PyPI wheel,
the stand-in models and their shared training code, the sample pictures, the build cache, and the
texts in `data/`. Modules here import only each other and the shared modules at the package top."""

from pathlib import Path

DATA_FOLDER = Path(__file__).parent / "data"
