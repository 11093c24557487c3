"""Plots with readable Hangul, on Colab and on Linux machines without a Korean font.

`koreanize-matplotlib` ships the Nanum Gothic font inside its wheel, so importing it is all a
notebook needs; without it, Korean labels would turn into empty boxes.
"""

from __future__ import annotations

import itertools

import matplotlib

GPU_MEMORY_GB = {"T4 (Colab free)": 15.0, "L4": 24.0, "A100 40GB": 40.0}


def use_hangul_font() -> str:
    """Make matplotlib draw Korean text; returns the font family now in use."""
    import koreanize_matplotlib  # noqa: F401  (registers and selects NanumGothic on import)

    return matplotlib.rcParams["font.family"][0]


def plot_memory_estimates(rows: list[dict], gpus: dict[str, float] = GPU_MEMORY_GB, log_scale: bool = False):
    """Grouped bars of weight memory per model and precision, with a line per GPU size (or per set
    of GPUs, given their memory together); `log_scale` keeps a 3B and a 70B readable side by side."""
    import matplotlib.pyplot as plt

    use_hangul_font()
    models = list(dict.fromkeys(row["model"] for row in rows))
    precisions = list(dict.fromkeys(row["precision"] for row in rows))
    width = 0.8 / len(precisions)
    figure, axes = plt.subplots(figsize=(8, 4))
    for offset, precision in enumerate(precisions):
        heights = [next(r["GB"] for r in rows if r["model"] == m and r["precision"] == precision)
                   for m in models]
        positions = [i + (offset - (len(precisions) - 1) / 2) * width for i in range(len(models))]
        bars = axes.bar(positions, heights, width, label=precision)
        axes.bar_label(bars, fmt="%.1f", fontsize=8)
    if log_scale:
        axes.set_yscale("log")
    for (name, size), style in zip(gpus.items(), itertools.cycle(["--", "-.", ":"])):
        axes.axhline(size, color="gray", linestyle=style, linewidth=1)
        axes.text(len(models) - 0.5, size, f" {name}: {size:.0f} GB", va="bottom", ha="right", fontsize=8)
    axes.set_xticks(range(len(models)), models)
    axes.set_ylabel("weights, GB (가중치 메모리)")
    axes.set_title("Weight memory vs GPU memory (가중치 메모리와 GPU 메모리)")
    axes.legend(title="precision")
    figure.tight_layout()
    return figure
