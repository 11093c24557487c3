"""What machine is this notebook running on?

`runtime_facts()` gathers the few facts that decide which model and dtype a lesson can use.
They live in one plain dataclass so the decisions built on them (`helpers.choice`) can be
tested for a T4, an A100 or a laptop without owning one.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import sys
from dataclasses import dataclass, field

from .versions import outside_range, tested_ranges

GB = 1e9  # decimal gigabytes, as model cards and GPU spec sheets count


@dataclass(frozen=True)
class RuntimeFacts:
    """Hardware and software facts; every field has a value a test can set by hand."""

    on_colab: bool = False
    gpu_name: str | None = None  # None means no CUDA GPU
    compute_capability: tuple[int, int] | None = None
    gpu_total_gb: float = 0.0
    gpu_free_gb: float = 0.0
    ram_gb: float = 0.0
    hub_online: bool = True  # False when HF_HUB_OFFLINE is set
    has_bitsandbytes: bool = False
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def has_gpu(self) -> bool:
        return self.gpu_name is not None


REPORTED_PACKAGES = ("torch", "transformers", "accelerate", "tokenizers", "bitsandbytes")


def package_versions(names=REPORTED_PACKAGES) -> dict[str, str]:
    """Installed versions, 'not installed' for the missing ones (a version report like rasbt's)."""
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def hub_is_offline() -> bool:
    """True when the learner (or CI) told huggingface_hub to stay offline."""
    value = os.environ.get("HF_HUB_OFFLINE", "") or os.environ.get("TRANSFORMERS_OFFLINE", "")
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _ram_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB
    except (ValueError, OSError, AttributeError):
        return 0.0


def runtime_facts() -> RuntimeFacts:
    """Read the facts of the machine we are running on now."""
    import torch

    gpu_name = capability = None
    total = free = 0.0
    if torch.cuda.is_available():
        gpu_name = torch.cuda.get_device_name(0)
        capability = tuple(torch.cuda.get_device_capability(0))
        free_bytes, total_bytes = torch.cuda.mem_get_info(0)
        total, free = total_bytes / GB, free_bytes / GB
    return RuntimeFacts(
        on_colab="google.colab" in sys.modules,
        gpu_name=gpu_name,
        compute_capability=capability,
        gpu_total_gb=round(total, 1),
        gpu_free_gb=round(free, 1),
        ram_gb=round(_ram_gb(), 1),
        hub_online=not hub_is_offline(),
        has_bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None,
        versions=package_versions(),
    )


def environment_report(facts: RuntimeFacts | None = None) -> RuntimeFacts:
    """Print a short report for the top of a notebook and return the facts it used."""
    facts = facts or runtime_facts()
    where = "Google Colab" if facts.on_colab else "local Python"
    if facts.has_gpu:
        major, minor = facts.compute_capability
        gpu = (f"{facts.gpu_name} (compute capability {major}.{minor}, "
               f"{facts.gpu_free_gb:.1f} of {facts.gpu_total_gb:.1f} GB free)")
    else:
        gpu = "none (CPU only)"
    print(f"Runtime : {where}, {facts.ram_gb:.0f} GB RAM")
    print(f"GPU     : {gpu}")
    print(f"Hub     : {'online' if facts.hub_online else 'offline (HF_HUB_OFFLINE is set)'}")
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in facts.versions.items()))
    for line in outside_range(facts.versions, tested_ranges()):
        print(f"\N{WARNING SIGN} {line}")
    return facts
