"""What machine is this notebook running on?

`runtime_facts()` gathers the few facts that decide which model and dtype a lesson can use: every
CUDA GPU (name, compute capability, memory), Apple's MPS backend (available, unified memory and
how much of it Metal lets the GPU use), system memory, the hub and bitsandbytes. They live in one
plain dataclass so the decisions built on them (`helpers.models.choice`) can be tested for a T4,
two T4s, four A100s or a MacBook without owning one; `REFERENCE_MACHINES` holds those profiles.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import sys
import threading
from dataclasses import dataclass, field

from .versions import loaded_versions, outside_range, restart_needed, tested_ranges

GB = 1e9  # decimal gigabytes, as model cards and GPU spec sheets count
GIB = 2**30  # Apple sells unified memory in binary gigabytes: a "16 GB" MacBook has 16 GiB
# Metal's recommendedMaxWorkingSetSize is about two thirds of unified memory on small Macs and up to
# three quarters on large ones; profiles (not real Macs, which report it) assume the safer two thirds.
MPS_SHARE_ASSUMED = 2 / 3


@dataclass(frozen=True)
class GpuFacts:
    """One CUDA GPU."""

    name: str
    total_gb: float
    compute_capability: tuple[int, int] = (0, 0)
    free_gb: float = 0.0


@dataclass(frozen=True)
class RuntimeFacts:
    """Hardware and software facts; every field has a value a test can set by hand.

    CUDA GPUs: give `gpus` (one `GpuFacts` each), or for one GPU the flat fields `gpu_name`,
    `compute_capability`, `gpu_total_gb` (and `gpu_count` for several alike, as on Kaggle);
    either way both are filled in. Apple Silicon: `mps_available` with `mps_memory_gb`, the
    memory Metal recommends the GPU uses at most (`ram_gb` is then the unified memory).
    """

    on_colab: bool = False
    gpu_name: str | None = None  # the first CUDA GPU; None means no CUDA GPU
    compute_capability: tuple[int, int] | None = None
    gpu_total_gb: float = 0.0
    gpu_free_gb: float = 0.0
    ram_gb: float = 0.0
    hub_online: bool = True  # False when HF_HUB_OFFLINE is set or the hub does not answer
    has_bitsandbytes: bool = False
    versions: dict[str, str] = field(default_factory=dict)
    gpus: tuple[GpuFacts, ...] = ()
    gpu_count: int = 0
    mps_available: bool = False
    mps_memory_gb: float = 0.0
    on_kaggle: bool = False

    def __post_init__(self):
        gpus = tuple(self.gpus)
        if not gpus and self.gpu_name is not None:
            one = GpuFacts(self.gpu_name, self.gpu_total_gb, self.compute_capability or (0, 0), self.gpu_free_gb)
            gpus = (one,) * max(self.gpu_count, 1)
        if gpus:
            first = gpus[0]
            object.__setattr__(self, "gpu_name", first.name)
            object.__setattr__(self, "compute_capability", first.compute_capability)
            object.__setattr__(self, "gpu_total_gb", first.total_gb)
            object.__setattr__(self, "gpu_free_gb", first.free_gb)
        object.__setattr__(self, "gpus", gpus)
        object.__setattr__(self, "gpu_count", len(gpus))

    @property
    def has_gpu(self) -> bool:
        """A CUDA GPU (the MPS backend is `mps_available`)."""
        return bool(self.gpus)

    @property
    def total_gpu_gb(self) -> float:
        return sum(gpu.total_gb for gpu in self.gpus)

    @property
    def accelerator(self) -> str:
        """"cuda", "mps" or "cpu": where a model would run."""
        return "cuda" if self.has_gpu else "mps" if self.mps_available else "cpu"


def mac(unified_gb: int, **facts) -> RuntimeFacts:
    """An Apple Silicon Mac sold with `unified_gb` GB of unified memory (a profile for what-ifs)."""
    memory = unified_gb * GIB / GB
    return RuntimeFacts(ram_gb=round(memory, 1), mps_available=True,
                        mps_memory_gb=round(memory * MPS_SHARE_ASSUMED, 1), **facts)


def cuda_machine(name: str, capability: tuple[int, int], total_gb: float, count: int = 1, **facts):
    """A machine with `count` CUDA GPUs alike (a profile for what-ifs)."""
    return RuntimeFacts(gpus=(GpuFacts(name, total_gb, capability, total_gb),) * count, **facts)


# Machines learners bring, with the memory each GPU reports (torch.cuda.mem_get_info, decimal GB).
REFERENCE_MACHINES: dict[str, RuntimeFacts] = {
    "Colab T4": cuda_machine("Tesla T4", (7, 5), 15.8, ram_gb=12.7, on_colab=True),
    "Colab T4 + bitsandbytes": cuda_machine("Tesla T4", (7, 5), 15.8, ram_gb=12.7, on_colab=True,
                                            has_bitsandbytes=True),
    "Kaggle 2×T4": cuda_machine("Tesla T4", (7, 5), 15.8, count=2, ram_gb=31.4, on_kaggle=True),
    "L4": cuda_machine("NVIDIA L4", (8, 9), 23.7),
    "A100 40GB": cuda_machine("NVIDIA A100-SXM4-40GB", (8, 0), 42.4),
    "2×A100 80GB": cuda_machine("NVIDIA A100-SXM4-80GB", (8, 0), 85.1, count=2),
    "4×A100 80GB": cuda_machine("NVIDIA A100-SXM4-80GB", (8, 0), 85.1, count=4),
    "H100 80GB": cuda_machine("NVIDIA H100 80GB HBM3", (9, 0), 85.0),
    "H100 80GB + bitsandbytes": cuda_machine("NVIDIA H100 80GB HBM3", (9, 0), 85.0, has_bitsandbytes=True),
    "MacBook 8GB": mac(8),
    "MacBook 16GB": mac(16),
    "MacBook 32GB": mac(32),
    "MacBook 64GB": mac(64),
    "laptop CPU": RuntimeFacts(ram_gb=16.0),
    "A100 40GB, offline": cuda_machine("NVIDIA A100-SXM4-40GB", (8, 0), 42.4, hub_online=False),
}


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


HUB_CHECK_TIMEOUT_S = 1.5
_hub_answers: dict[str, bool] = {}
_hub_lock = threading.Lock()


def hub_endpoint() -> str:
    """The hub address huggingface_hub uses: HF_ENDPOINT, else https://huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def hub_reachable(endpoint: str | None = None, timeout: float = HUB_CHECK_TIMEOUT_S) -> bool:
    """Can the model hub be reached? Decided once per process and endpoint, in at most `timeout` seconds.

    huggingface_hub itself retries with back-off for about 90 s before it gives up on a machine
    without internet; every section that would reach for the hub asks this first instead. Any HTTP
    answer counts as reachable; no answer in time (DNS included) counts as unreachable.
    HF_HUB_OFFLINE=1 answers False at once without touching the network.
    """
    if hub_is_offline():
        return False
    endpoint = (endpoint or hub_endpoint()).rstrip("/")
    with _hub_lock:
        if endpoint not in _hub_answers:
            _hub_answers[endpoint] = _probe(endpoint, timeout)
        return _hub_answers[endpoint]


def _probe(url: str, timeout: float) -> bool:
    import urllib.error
    import urllib.request

    answered = []

    def ask():
        request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "bllossom-tutorial"})
        try:
            with urllib.request.urlopen(request, timeout=timeout):
                answered.append(True)
        except urllib.error.HTTPError:  # the server answered, even if with an error status
            answered.append(True)
        except (OSError, ValueError):
            pass

    # A thread bounds the whole check: urlopen's timeout does not cover the DNS look-up.
    worker = threading.Thread(target=ask, name="hub-reachable", daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(answered)
def on_kaggle() -> bool:
    """Kaggle's notebook kernels set KAGGLE_KERNEL_RUN_TYPE ("Interactive" or "Batch")."""
    return "KAGGLE_KERNEL_RUN_TYPE" in os.environ


def _ram_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB
    except (ValueError, OSError, AttributeError):
        return 0.0


def _cuda_gpus(torch) -> tuple[GpuFacts, ...]:
    gpus = []
    for index in range(torch.cuda.device_count()):
        free_bytes, total_bytes = torch.cuda.mem_get_info(index)
        gpus.append(GpuFacts(torch.cuda.get_device_name(index), round(total_bytes / GB, 1),
                             tuple(torch.cuda.get_device_capability(index)), round(free_bytes / GB, 1)))
    return tuple(gpus)


def _mps_memory_gb(torch) -> float:
    """What Metal recommends the Apple GPU uses at most (its share of unified memory)."""
    try:
        return round(torch.mps.recommended_max_memory() / GB, 1)
    except (AttributeError, RuntimeError):
        return round(_ram_gb() * MPS_SHARE_ASSUMED, 1)


def runtime_facts() -> RuntimeFacts:
    """Read the facts of the machine we are running on now."""
    import torch

    gpus = _cuda_gpus(torch) if torch.cuda.is_available() else ()
    mps = torch.backends.mps.is_available()
    return RuntimeFacts(
        on_colab="google.colab" in sys.modules,
        on_kaggle=on_kaggle(),
        gpus=gpus,
        mps_available=mps,
        mps_memory_gb=_mps_memory_gb(torch) if mps else 0.0,
        ram_gb=round(_ram_gb(), 1),
        hub_online=hub_reachable(),
        has_bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None,
        versions=package_versions(),
    )


def unified_memory_label(facts: RuntimeFacts) -> str:
    """A Mac's memory as Apple sells it (binary gigabytes: a "16 GB" MacBook reports 17.2e9 bytes)."""
    return f"{facts.ram_gb * GB / GIB:.0f} GB"


def gpu_lines(facts: RuntimeFacts) -> list[str]:
    """One line per accelerator: every CUDA GPU, or Apple's MPS backend, or none."""
    lines = []
    for index, gpu in enumerate(facts.gpus):
        major, minor = gpu.compute_capability
        lines.append(f"cuda:{index} {gpu.name} (compute capability {major}.{minor}, "
                     f"{gpu.free_gb:.1f} of {gpu.total_gb:.1f} GB free)")
    if facts.mps_available:
        lines.append(f"Apple GPU via MPS ({unified_memory_label(facts)} unified memory, of which Metal "
                     f"recommends at most {facts.mps_memory_gb:.1f} GB for the GPU)")
    return lines or ["none (CPU only)"]


def environment_report(facts: RuntimeFacts | None = None) -> RuntimeFacts:
    """Print a short report for the top of a notebook and return the facts it used."""
    facts = facts or runtime_facts()
    where = "Google Colab" if facts.on_colab else "Kaggle" if facts.on_kaggle else "local Python"
    memory = f"{unified_memory_label(facts)} unified memory" if facts.mps_available else f"{facts.ram_gb:.0f} GB RAM"
    print(f"Runtime : {where}, {memory}")
    gpus = gpu_lines(facts)
    if facts.gpu_count > 1:
        print(f"GPUs    : {facts.gpu_count}, {facts.total_gpu_gb:.1f} GB together")
    for index, line in enumerate(gpus):
        print(f"{'GPU' if index == 0 else '':<8}: {line}")
    why = "HF_HUB_OFFLINE is set" if hub_is_offline() else "no answer from the hub"
    print(f"Hub     : {'online' if facts.hub_online else f'offline ({why})'}")
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in facts.versions.items()))
    for line in outside_range(facts.versions, tested_ranges()) + restart_needed(facts.versions, loaded_versions()):
        print(f"\N{WARNING SIGN} {line}")
    return facts
