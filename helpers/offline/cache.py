"""Build-once folders for the offline stand-ins, keyed by a hash of what built them.

A folder is rebuilt only when its recipe changes: the builder's source code, its data, its
settings or the library versions that write the files. Builds go to a temporary folder that is
renamed into place, so an interrupted build never leaves a half-written model behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

DONE_MARKER = ".complete"


def cache_root() -> Path:
    """Where built models live: $BLLOSSOM_CACHE, else ~/.cache/bllossom-tutorial."""
    root = os.environ.get("BLLOSSOM_CACHE") or Path.home() / ".cache" / "bllossom-tutorial"
    return Path(root).expanduser()


def recipe_hash(*parts) -> str:
    """A short, stable hash of strings, bytes and files (files by their content)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            part = part.read_bytes()
        if isinstance(part, str):
            part = part.encode()
        digest.update(len(part).to_bytes(8, "little") + part)
    return digest.hexdigest()[:16]


def cached_folder(name: str, recipe: str, build) -> Path:
    """Return `<cache>/<name>-<recipe>`, calling `build(folder)` to create it when missing."""
    target = cache_root() / f"{name}-{recipe}"
    if (target / DONE_MARKER).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        build(scratch)
        (scratch / DONE_MARKER).write_text(recipe)
        if target.exists():  # a stale, unfinished folder from an interrupted run
            shutil.rmtree(target)
        os.replace(scratch, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
