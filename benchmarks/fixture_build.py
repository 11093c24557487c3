"""Print how long the offline stand-ins take to build cold and to reuse warm.

    python benchmarks/fixture_build.py

Cold builds go to a fresh temporary cache (the tokenizer wheel is copied in, so only the model
work is timed); warm means loading the cached folder again in a new process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Imports come first and are not timed: they cost the same with or without a cache.
STEP = ("import time; from helpers.offline.tiny_chat_model import tiny_chat_model_folder; "
        "from transformers import AutoModelForCausalLM, AutoTokenizer; t0 = time.perf_counter(); "
        "f = tiny_chat_model_folder(log=None); t1 = time.perf_counter(); AutoTokenizer.from_pretrained(f); "
        "t2 = time.perf_counter(); AutoModelForCausalLM.from_pretrained(f); t3 = time.perf_counter(); "
        "print(t1 - t0, t2 - t1, t3 - t2)")


def timed_run(cache: Path) -> tuple[float, float, float]:
    """Seconds to find or build the folder, to load its tokenizer, and to load its model."""
    env = dict(os.environ, BLLOSSOM_CACHE=str(cache), HF_HUB_DISABLE_PROGRESS_BARS="1")
    out = subprocess.run([sys.executable, "-c", STEP], env=env, capture_output=True, text=True, check=True)
    return tuple(float(x) for x in out.stdout.strip().splitlines()[-1].split())


def main() -> None:
    from helpers.offline.cache import cache_root
    from helpers.offline.llama3_tokenizer import WHEEL_FILE, fetch_wheel

    wheel = fetch_wheel()
    with tempfile.TemporaryDirectory() as scratch:
        cache = Path(scratch)
        (cache / "wheels").mkdir()
        shutil.copy(wheel, cache / "wheels" / WHEEL_FILE)
        cold = timed_run(cache)
        warm = [timed_run(cache) for _ in range(3)]
    print(f"Bllossom-tiny cold build        : {cold[0]:6.1f} s")
    print(f"Bllossom-tiny warm folder reuse : {min(w[0] for w in warm):6.2f} s (best of 3)")
    print(f"  then loading its tokenizer    : {min(w[1] for w in warm):6.1f} s (a 128k-token tokenizer.json)")
    print(f"  then loading its model        : {min(w[2] for w in warm):6.1f} s")
    print(f"(your cache lives in {cache_root()})")


if __name__ == "__main__":
    main()
