"""Wall time of each part of notebook 06, and the SFT and DPO steps per second, on this machine.

Run:  HF_HUB_OFFLINE=1 MPLBACKEND=Agg python benchmarks/finetuning.py
Runs the notebook's own cells (from its jupytext twin) in one namespace, timing each "## " section and
naming the slowest cells, then prints the trainers' own step rates and the measured before/after numbers.
The issue's target for the whole notebook on Bllossom-tiny: under 3 minutes on a 2-core CPU, that is with
torch using both cores as a learner's kernel does. CI runs every notebook on one thread
(OMP_NUM_THREADS=1), which is slower: prefix the command with OMP_NUM_THREADS=1 to measure that.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import jupytext

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "06_finetuning.py"


def main() -> None:
    os.chdir(NOTEBOOK.parent)
    notebook = jupytext.read(NOTEBOOK)
    namespace: dict = {"__name__": "__main__"}
    section, times, cells = "setup", {}, []
    started = time.perf_counter()
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("## "):
            section = cell.source.splitlines()[0].removeprefix("## ")
        if cell.cell_type != "code":
            continue
        begin = time.perf_counter()
        exec(compile(cell.source, f"<{section}>", "exec"), namespace)
        took = time.perf_counter() - begin
        times[section] = times.get(section, 0.0) + took
        cells.append((took, section, cell.source.strip().splitlines()[0][:70]))
    total = time.perf_counter() - started
    import torch

    print(f"\nwall time per part, torch on {torch.get_num_threads()} thread(s):")
    for name, seconds in times.items():
        print(f"  {seconds:7.1f} s  {name}")
    print(f"  {total:7.1f} s  whole notebook (target: under 180 s on Bllossom-tiny)")
    print("slowest cells:")
    for took, name, first_line in sorted(cells, reverse=True)[:8]:
        print(f"  {took:7.1f} s  [{name[:20]}] {first_line}")
    for name in ("sft_result", "dpo_result"):
        metrics = namespace[name].metrics
        print(f"{name[:3].upper()}: {namespace[name].global_step} steps, "
              f"{metrics['train_steps_per_second']:.3f} steps/s, {metrics['train_runtime']:.1f} s")
    n = namespace
    print(f"held-out loss {n['loss_before']:.3f} -> {n['loss_after']:.3f}; right facts {n['share_before']:.0%} -> "
          f"{n['share_trained']:.0%} on training questions, {n['share_after']:.0%} on held-out ones; "
          f"preference accuracy {n['accuracy_before']:.0%} -> {n['accuracy_after']:.0%}; "
          f"polite Korean {n['polite_before']:.0%} -> {n['polite_after']:.0%}; adapter {n['adapter_mb']:.1f} MB vs "
          f"model {n['model_mb']:.0f} MB")


if __name__ == "__main__":
    main()
