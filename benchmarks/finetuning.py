"""Wall time of each part of notebook 06, and the SFT and DPO steps per second, on this machine.

Run:  OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 MPLBACKEND=Agg python benchmarks/finetuning.py
Runs the notebook's own cells (from its jupytext twin) in one namespace, timing each "## " section,
then prints the trainers' own step rates and the measured before/after numbers. The issue's target
for the whole notebook on Bllossom-tiny: under 3 minutes on a 2-core CPU.
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
    section, times = "setup", {}
    started = time.perf_counter()
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("## "):
            section = cell.source.splitlines()[0].removeprefix("## ")
        if cell.cell_type != "code":
            continue
        begin = time.perf_counter()
        exec(compile(cell.source, f"<{section}>", "exec"), namespace)
        times[section] = times.get(section, 0.0) + time.perf_counter() - begin
    total = time.perf_counter() - started
    print("\nwall time per part:")
    for name, seconds in times.items():
        print(f"  {seconds:7.1f} s  {name}")
    print(f"  {total:7.1f} s  whole notebook (target: under 180 s on Bllossom-tiny)")
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
