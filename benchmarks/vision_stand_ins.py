"""Print each vision stand-in's cold build time and its held-out accuracy by style and size.

    OMP_NUM_THREADS=1 python benchmarks/vision_stand_ins.py
    OMP_NUM_THREADS=1 python benchmarks/vision_stand_ins.py --evaluate FOLDER [FOLDER ...]

Each stand-in is built in a fresh temporary cache (the Llama-3 tokenizer wheel and folder are
copied in, so only the stand-in's own work is timed), in a new process, with the thread count
the build sets (one). Then 200 pictures from the second drawing routine
(`helpers.offline.other_pictures`, never used in training) are asked their colour and shape in
English and Korean, and the accuracy is printed overall and by style, picture size, shape size
and aspect ratio. `--evaluate` skips the build and measures stand-ins already saved in those
folders (for example ones an older version of this project built), for a before/after table.
"""

from __future__ import annotations

import argparse
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
MEASURE = ("import json, sys; from transformers import AutoModelForImageTextToText, AutoProcessor; "
           "from helpers.offline.other_pictures import accuracy_table, held_out_accuracy; "
           "model = AutoModelForImageTextToText.from_pretrained(sys.argv[1]); "
           "processor = AutoProcessor.from_pretrained(sys.argv[1]); "
           "result = held_out_accuracy(model, processor, count=200); "
           "print(json.dumps({'accuracy': result['accuracy'], 'table': accuracy_table(result)}))")


def measure(folder: Path, env: dict) -> dict:
    """Held-out accuracy of the stand-in saved in `folder`, measured in a new process."""
    out = subprocess.run([sys.executable, "-c", MEASURE, str(folder)], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_table(tables: dict[str, list[dict]]) -> None:
    """Groups down, stand-ins across: colour / shape accuracy (English and Korean together)."""
    names = list(tables)
    print(f"{'group':<15}" + "".join(f"{name + ' colour/shape':>32}" for name in names))
    for index, row in enumerate(next(iter(tables.values()))):
        cells = [tables[name][index] for name in names]
        print(f"{row['group']:<15}" + "".join(f"{c['colour']:>23.3f} / {c['shape']:.3f}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluate", nargs="+", type=Path, help="stand-in folders to measure without building")
    arguments = parser.parse_args()
    env = dict(os.environ, HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HUB_OFFLINE="1")
    tables = {}
    if arguments.evaluate:
        for folder in arguments.evaluate:
            result = measure(folder, env)
            tables[folder.name] = result["table"]
            print(f"{folder.name}: {result['accuracy']}")
        print_table(tables)
        return

    from helpers.catalog import stand_in_names
    from helpers.offline.cache import cache_root
    from helpers.offline.llama3_tokenizer import llama3_tokenizer_folder

    tokenizer = llama3_tokenizer_folder()
    print(f"{'stand-in':<16} {'build s':>8} {'train s':>8}  accuracy (kind language)  load average")
    for name in stand_in_names("vision"):
        with tempfile.TemporaryDirectory() as scratch:
            shutil.copytree(cache_root() / "wheels", Path(scratch) / "wheels")
            shutil.copytree(tokenizer, Path(scratch) / tokenizer.name)
            env["BLLOSSOM_CACHE"] = scratch
            started = time.perf_counter()
            folder = subprocess.run([sys.executable, "-c", BUILD, name], env=env, capture_output=True, text=True,
                                    check=True).stdout.strip().splitlines()[-1]
            build = time.perf_counter() - started
            load = " ".join(f"{value:.1f}" for value in os.getloadavg())
            facts = json.loads((Path(folder) / "training_facts.json").read_text())
            result = measure(Path(folder), env)
        tables[name] = result["table"]
        accuracy = " ".join(f"{key} {value:.3f}" for key, value in result["accuracy"].items())
        print(f"{name:<16} {build:>8.1f} {facts['seconds']:>8.1f}  {accuracy}  {load}")
    print_table(tables)


if __name__ == "__main__":
    main()
