"""Print each vision stand-in's cold build time and its held-out accuracy.

    OMP_NUM_THREADS=1 python benchmarks/vision_stand_ins.py

Each stand-in is built in a fresh temporary cache (the Llama-3 tokenizer wheel and folder are
copied in, so only the stand-in's own work is timed), in a new process, with the thread count
the build sets (one). Then 200 freshly drawn pictures are asked their colour and shape.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUILD = ("import sys; from helpers.offline.tiny_vision_models import tiny_vision_model_folder; "
         "print(tiny_vision_model_folder(sys.argv[1], log=None))")
MEASURE = ("import json, sys; from helpers import choose_model, RuntimeFacts; "
           "from helpers import load_vision_model; "
           "from helpers.offline.tiny_vision_models import held_out_accuracy; "
           "model, processor = load_vision_model(choose_model(RuntimeFacts(), override=sys.argv[1], kind='vision')); "
           "print(json.dumps(held_out_accuracy(model, processor, count=200)['accuracy']))")


def main() -> None:
    from helpers.catalog import stand_in_names
    from helpers.offline.cache import cache_root
    from helpers.offline.llama3_tokenizer import llama3_tokenizer_folder

    tokenizer = llama3_tokenizer_folder()
    print(f"{'stand-in':<16} {'build s':>8} {'train s':>8} {'colour':>7} {'shape':>7}  load average")
    for name in stand_in_names("vision"):
        with tempfile.TemporaryDirectory() as scratch:
            shutil.copytree(cache_root() / "wheels", Path(scratch) / "wheels")
            shutil.copytree(tokenizer, Path(scratch) / tokenizer.name)
            env = dict(os.environ, BLLOSSOM_CACHE=scratch, HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HUB_OFFLINE="1")
            started = time.perf_counter()
            folder = subprocess.run([sys.executable, "-c", BUILD, name], env=env, capture_output=True, text=True,
                                    check=True).stdout.strip().splitlines()[-1]
            build = time.perf_counter() - started
            facts = json.loads((Path(folder) / "training_facts.json").read_text())
            accuracy = json.loads(subprocess.run([sys.executable, "-c", MEASURE, name], env=env,
                                                 capture_output=True, text=True, check=True).stdout.splitlines()[-1])
        load = " ".join(f"{value:.1f}" for value in os.getloadavg())
        print(f"{name:<16} {build:>8.1f} {facts['seconds']:>8.1f} {accuracy['colour']:>7.3f} "
              f"{accuracy['shape']:>7.3f}  {load}")


if __name__ == "__main__":
    main()
