"""Which model, in which dtype, on which device? Decided from the hardware facts alone.

`choose_model(facts, override)` is a pure function so it can be tested for every machine a
learner might bring; `pick_model()` feeds it the facts of this machine and `BLLOSSOM_MODEL`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..catalog import ALIASES, CATALOG, DEFAULT_STAND_IN, ModelEntry, catalog_entry
from ..errors import TutorialError
from .memory import estimate_memory_gb, fits_in
from .runtime import RuntimeFacts, runtime_facts

OVERRIDE_VARIABLE = "BLLOSSOM_MODEL"
RUN_RECORD_VARIABLE = "BLLOSSOM_RUN_RECORD"  # set by the notebook runner to learn which model ran
HOW_TO_CHANGE = (f"Change it with the environment variable {OVERRIDE_VARIABLE} "
                 "(a catalog name such as 8b, 3b or tiny, a hub id, or a local folder).")


@dataclass(frozen=True)
class ModelChoice:
    """What `load_model` should load and why."""

    name: str  # catalog name, or the hub id / folder the learner gave
    source: str  # hub id or local folder; "tiny" entries are built on first use
    dtype: str  # "bfloat16", "float16" or "float32"
    device: str  # "cuda" or "cpu"
    load_in_4bit: bool
    reason: str
    entry: ModelEntry | None = None  # catalog entry when the choice is a catalog model

    def __str__(self) -> str:
        precision = "4-bit (nf4)" if self.load_in_4bit else self.dtype
        return f"{self.name} in {precision} on {self.device.upper()}: {self.reason}"


def pick_dtype(facts: RuntimeFacts) -> str:
    """bf16 where the GPU computes it natively (compute capability >= 8), fp16 on older GPUs
    such as the T4, and float32 on the CPU: exact, and on an AVX2 CPU as fast as or faster than
    bf16 for these models (`benchmarks/cpu_dtype.py` measures it on yours)."""
    if not facts.has_gpu:
        return "float32"
    major, _ = facts.compute_capability
    return "bfloat16" if major >= 8 else "float16"


def _gpu_label(facts: RuntimeFacts) -> str:
    return f"{facts.gpu_name} with {facts.gpu_total_gb:.0f} GB"


def _catalog_choice(entry: ModelEntry, facts: RuntimeFacts, reason: str, four_bit: bool = False):
    on_gpu = facts.has_gpu
    source = entry.hub_id or entry.name
    return ModelChoice(entry.name, source, pick_dtype(facts), "cuda" if on_gpu else "cpu",
                       four_bit, reason, entry)


def _override_choice(value: str, facts: RuntimeFacts, kind: str) -> ModelChoice:
    reason = f"set by {OVERRIDE_VARIABLE}={value}"
    path = Path(value).expanduser()
    looks_like_path = value.startswith((".", "/", "~")) or path.exists()
    if looks_like_path:
        if not path.is_dir():
            raise TutorialError(f"{OVERRIDE_VARIABLE}={value}: no such folder. Give a folder that "
                                "holds config.json and the weights, or a catalog name.")
        if not (path / "config.json").is_file():
            raise TutorialError(f"{OVERRIDE_VARIABLE}={value}: the folder has no config.json, so it "
                                "is not a saved model. Save one with model.save_pretrained(folder).")
        return ModelChoice(path.name, str(path.resolve()), pick_dtype(facts),
                           "cuda" if facts.has_gpu else "cpu", False, reason)
    want_4bit = value.endswith(":4bit")
    name = value.removesuffix(":4bit")
    if "/" in name and name not in ALIASES:
        if want_4bit and not facts.has_gpu:
            raise TutorialError("4-bit loading needs a CUDA GPU. Drop ':4bit' on a CPU, or use a "
                                "GPU runtime (Colab: Runtime > Change runtime type > T4 GPU).")
        return ModelChoice(name, name, pick_dtype(facts), "cuda" if facts.has_gpu else "cpu",
                           want_4bit, reason)
    entry = catalog_entry(name)
    if entry.kind != kind:
        raise TutorialError(f"'{entry.name}' is a {entry.kind} model but this lesson needs a {kind} "
                            f"model. Pick one of: {', '.join(n for n, e in CATALOG.items() if e.kind == kind)}.")
    if want_4bit:
        if not facts.has_gpu:
            raise TutorialError("4-bit loading needs a CUDA GPU (bitsandbytes has no CPU path here). "
                                f"Drop ':4bit' or set {OVERRIDE_VARIABLE}=tiny on a CPU.")
        if not facts.has_bitsandbytes:
            raise TutorialError("4-bit loading needs bitsandbytes: run  pip install bitsandbytes  "
                                "and restart the kernel.")
    return _catalog_choice(entry, facts, reason, four_bit=want_4bit)


def choose_model(facts: RuntimeFacts, override: str | None = None, kind: str = "text") -> ModelChoice:
    """The model a lesson should load on a machine with these facts.

    Text models: the 8B in 16 bit where it fits, the 8B in 4-bit where memory is short and
    bitsandbytes is installed, else the 3B; Bllossom-tiny on a CPU or offline.
    """
    if override:
        return _override_choice(override.strip(), facts, kind)
    big, small = ("8b", "3b") if kind == "text" else ("vision-8b", "aica-5b")
    tiny = DEFAULT_STAND_IN[kind]
    if not facts.has_gpu:
        return _catalog_choice(CATALOG[tiny], facts,
                               "no CUDA GPU here, so the offline stand-in runs on the CPU.")
    if not facts.hub_online:
        return _catalog_choice(CATALOG[tiny], facts, "the hub cannot be reached (offline, or HF_HUB_OFFLINE "
                                         "is set), so the stand-in built on this machine is used.")
    dtype = pick_dtype(facts)
    big_entry, small_entry = CATALOG[big], CATALOG[small]
    if fits_in(estimate_memory_gb(big_entry, dtype), facts.gpu_total_gb):
        return _catalog_choice(big_entry, facts, f"{_gpu_label(facts)} holds the {big} in {dtype}.")
    if kind == "text" and facts.has_bitsandbytes and fits_in(
            estimate_memory_gb(big_entry, "4bit"), facts.gpu_total_gb):
        return _catalog_choice(big_entry, facts, f"{_gpu_label(facts)} is too small for the {big} in "
                               f"{dtype}, so it is loaded in 4-bit.", four_bit=True)
    if fits_in(estimate_memory_gb(small_entry, dtype), facts.gpu_total_gb):
        hint = "" if kind != "text" or facts.has_bitsandbytes else \
            " (install bitsandbytes to run the 8B in 4-bit instead)"
        return _catalog_choice(small_entry, facts, f"{_gpu_label(facts)} is too small for the {big} "
                               f"in {dtype}, so the {small} is used{hint}.")
    return _catalog_choice(CATALOG[tiny], facts, f"{_gpu_label(facts)} is too small for any Bllossom model, "
                                     "so the offline stand-in is used.")


def pick_model(kind: str = "text", facts: RuntimeFacts | None = None, verbose: bool = True) -> ModelChoice:
    """Choose for this machine, honouring BLLOSSOM_MODEL, and say in one line what and why."""
    choice = choose_model(facts or runtime_facts(), os.environ.get(OVERRIDE_VARIABLE), kind=kind)
    record = os.environ.get(RUN_RECORD_VARIABLE)
    if record:
        with open(record, "a", encoding="utf-8") as handle:
            handle.write(choice.name + "\n")
    if verbose:
        print(f"\N{CHERRY BLOSSOM} Model: {choice}\n   {HOW_TO_CHANGE}")
    return choice
