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
import threading
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
    hub_online: bool = True  # False when HF_HUB_OFFLINE is set or the hub does not answer
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
        hub_online=hub_reachable(),
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
    why = "HF_HUB_OFFLINE is set" if hub_is_offline() else "no answer from the hub"
    print(f"Hub     : {'online' if facts.hub_online else f'offline ({why})'}")
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in facts.versions.items()))
    for line in outside_range(facts.versions, tested_ranges()):
        print(f"\N{WARNING SIGN} {line}")
    return facts
