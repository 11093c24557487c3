"""What a damaged cache costs: the check on every use, and the rebuild of a cut-short Bllossom-tiny.

    BLLOSSOM_CACHE=/tmp/some-cache OMP_NUM_THREADS=1 python benchmarks/cache_rebuild.py

Use a scratch cache: the script cuts the cached model.safetensors in half and lets
`tiny_chat_model_folder` notice and rebuild it, as it would after a full disk or a partial copy.
"""

from __future__ import annotations

import time

from helpers.offline import cache
from helpers.offline.tiny_chat_model import tiny_chat_model_folder


def timed(call):
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def main() -> None:
    folder, first = timed(lambda: tiny_chat_model_folder(log=None))
    print(f"first call (a build if the cache had none): {first:.1f} s")
    cache._verified.clear()
    _, check = timed(lambda: cache.folder_problem(folder))
    print(f"full check of an intact folder (sizes and sha256 of every file): {check * 1000:.0f} ms")
    _, again = timed(lambda: cache.folder_problem(folder))
    print(f"the same check again in this process (unchanged files are not re-read): {again * 1000:.1f} ms")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    _, rebuild = timed(lambda: tiny_chat_model_folder(log=None))
    print(f"rebuild after model.safetensors was cut in half: {rebuild:.1f} s")
    assert cache.folder_problem(folder) is None


if __name__ == "__main__":
    main()
