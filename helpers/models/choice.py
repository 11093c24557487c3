"""Which model, in which dtype, on which devices? Decided from the hardware facts alone.

`choose_model(facts, override, kind, vision_override)` is a pure function so it can be tested for
every machine a learner might bring; `pick_model()` feeds it the facts of this machine and the two
environment variables:

- `BLLOSSOM_MODEL` chooses the text model (`8b`, `3b`, `70b`, `8b:4bit`, a hub id, a folder);
- `BLLOSSOM_VISION_MODEL` chooses the vision model (`vision-8b`, `aica-5b`, `tiny-mllama`, ...);
- the stand-in words `tiny` and `offline` mean "the offline stand-ins" in every lesson, so
  `BLLOSSOM_MODEL=tiny` alone runs the whole course on stand-ins;
- a lesson ignores a `BLLOSSOM_MODEL` of the other kind (a vision name in a text lesson, a text
  model in a vision lesson), chooses from the hardware and says so in its one line.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..catalog import ALIASES, CATALOG, DEFAULT_STAND_IN, ModelEntry, catalog_entry
from ..errors import TutorialError
from .memory import estimate_memory_gb, fits_across, fits_in, gpu_memory_caps, needed_gb
from .runtime import RuntimeFacts, runtime_facts, unified_memory_label

MODEL_VARIABLE = "BLLOSSOM_MODEL"
VISION_VARIABLE = "BLLOSSOM_VISION_MODEL"
OVERRIDE_VARIABLE = MODEL_VARIABLE  # the older name of the text variable
VARIABLE_FOR = {"text": MODEL_VARIABLE, "vision": VISION_VARIABLE}
STAND_IN_WORDS = ("tiny", "offline")  # "give me the offline stand-ins", in every kind of lesson
RUN_RECORD_VARIABLE = "BLLOSSOM_RUN_RECORD"  # set by the notebook runner to learn which model ran
FOUR_BIT = ":4bit"

# Largest first: the first that fits with room to generate wins. 4-bit needs bitsandbytes and CUDA.
PREFERENCE = {
    "text": [("70b", False), ("70b", True), ("8b", False), ("8b", True), ("3b", False)],
    "vision": [("vision-8b", False), ("aica-5b", False)],
}
MPS_DTYPE_REASON = ("fp16, because every Apple GPU computes it natively, bf16 on MPS needs macOS 14 or later, "
                    "and bitsandbytes (4-bit) does not run on MPS")


@dataclass(frozen=True)
class ModelChoice:
    """What `load_model` should load, where, and why."""

    name: str  # catalog name, or the hub id / folder the learner gave
    source: str  # hub id or local folder; stand-in entries are built on first use
    dtype: str  # "bfloat16", "float16" or "float32"
    device: str  # "cuda", "mps" or "cpu"
    load_in_4bit: bool
    reason: str
    entry: ModelEntry | None = None  # catalog entry when the choice is a catalog model
    kind: str = "text"  # the kind of lesson it was chosen for
    gpu_count: int = 0  # CUDA GPUs the model is spread over
    max_memory_gb: tuple[tuple[int, float], ...] = ()  # (GPU index, GB of weights it may hold)

    @property
    def precision(self) -> str:
        return "4-bit (nf4)" if self.load_in_4bit else self.dtype

    @property
    def where(self) -> str:
        if self.device == "cuda" and self.gpu_count > 1:
            return f"{self.gpu_count} CUDA GPUs"
        return self.device.upper()

    def __str__(self) -> str:
        return f"{self.name} in {self.precision} on {self.where}: {self.reason}"


def pick_dtype(facts: RuntimeFacts) -> str:
    """bf16 where the CUDA GPU computes it natively (compute capability >= 8), fp16 on older GPUs
    such as the T4 and on Apple's MPS, and float32 on the CPU: exact, and on an AVX2 CPU as fast as
    or faster than bf16 for these models (`benchmarks/cpu_dtype.py` measures it on yours)."""
    if facts.has_gpu:
        return "bfloat16" if min(gpu.compute_capability[0] for gpu in facts.gpus) >= 8 else "float16"
    return "float16" if facts.mps_available else "float32"


def _gpus_label(facts: RuntimeFacts) -> str:
    if facts.mps_available and not facts.has_gpu:
        return (f"this Mac's Apple GPU ({facts.mps_memory_gb:.1f} GB of its {unified_memory_label(facts)} "
                "unified memory)")
    if facts.gpu_count > 1:
        return (f"{facts.gpu_count} × {facts.gpu_name} with {facts.gpu_total_gb:.1f} GB each "
                f"({facts.total_gpu_gb:.1f} GB together)")
    return f"{facts.gpu_name} with {facts.gpu_total_gb:.1f} GB"


def _weights_gb(entry: ModelEntry, facts: RuntimeFacts, four_bit: bool) -> float:
    return estimate_memory_gb(entry, "4bit" if four_bit else pick_dtype(facts))


def _fits(entry: ModelEntry, facts: RuntimeFacts, four_bit: bool) -> bool:
    weights = _weights_gb(entry, facts, four_bit)
    if facts.has_gpu:
        return fits_across(weights, [gpu.total_gb for gpu in facts.gpus])
    if facts.mps_available:
        return not four_bit and fits_in(weights, facts.mps_memory_gb)
    return not four_bit and (facts.ram_gb <= 0 or weights <= facts.ram_gb)


def _arithmetic(entry: ModelEntry, facts: RuntimeFacts, four_bit: bool) -> str:
    weights = _weights_gb(entry, facts, four_bit)
    count = max(facts.gpu_count, 1)
    per_gpu = f" + {count} GB for {count} CUDA contexts" if count > 1 else " + 1 GB"
    return (f"{weights:.1f} GB of weights + {needed_gb(weights, count) - weights - count:.1f} GB to "
            f"generate{per_gpu} = {needed_gb(weights, count):.1f} GB")


def _device(facts: RuntimeFacts, entry: ModelEntry | None) -> str:
    if facts.has_gpu:
        return "cuda"
    if facts.mps_available and not (entry is not None and entry.is_offline_stand_in):
        return "mps"
    return "cpu"


def _make(entry: ModelEntry | None, facts: RuntimeFacts, reason: str, kind: str, four_bit: bool = False,
          name: str | None = None, source: str | None = None) -> ModelChoice:
    device = _device(facts, entry)
    dtype = pick_dtype(facts) if device != "cpu" else "float32"
    caps: tuple = ()
    if device == "cuda":
        weights = _weights_gb(entry, facts, four_bit) if entry is not None else None
        caps = tuple(gpu_memory_caps(weights, [gpu.total_gb for gpu in facts.gpus]).items())
    return ModelChoice(name or entry.name, source or entry.hub_id or entry.name, dtype, device, four_bit, reason,
                       entry, kind, facts.gpu_count if device == "cuda" else 0, caps)


def what_fits(facts: RuntimeFacts, kind: str = "text") -> list[str]:
    """The override values of catalog models that run on this machine, largest first."""
    found = []
    for name, four_bit in PREFERENCE[kind]:
        if four_bit and not (facts.has_gpu and facts.has_bitsandbytes):
            continue
        if _fits(CATALOG[name], facts, four_bit):
            found.append(name + (FOUR_BIT if four_bit else ""))
    return found + [DEFAULT_STAND_IN[kind]]


def _stand_in(facts: RuntimeFacts, kind: str, reason: str, four_bit: bool = False) -> ModelChoice:
    return _make(CATALOG[DEFAULT_STAND_IN[kind]], facts, reason, kind, four_bit)


def hardware_choice(facts: RuntimeFacts, kind: str = "text") -> ModelChoice:
    """The largest catalog model of this kind that these GPUs (or this Mac) hold with room to
    generate; the offline stand-in on a CPU, offline, or where nothing fits."""
    if not facts.hub_online:
        return _stand_in(facts, kind, "the hub cannot be reached (offline, or HF_HUB_OFFLINE is set), so the "
                                      "stand-in built on this machine is used.")
    if not facts.has_gpu and not facts.mps_available:
        return _stand_in(facts, kind, "no CUDA GPU or Apple GPU here, so the offline stand-in runs on the CPU.")
    label, dtype = _gpus_label(facts), pick_dtype(facts)
    skipped_4bit = None
    for name, four_bit in PREFERENCE[kind]:
        entry = CATALOG[name]
        if four_bit and not facts.has_gpu:
            continue  # bitsandbytes is CUDA-only
        if not _fits(entry, facts, four_bit):
            continue
        if four_bit and not facts.has_bitsandbytes:
            skipped_4bit = skipped_4bit or name
            continue
        precision = "4-bit" if four_bit else dtype
        reason = f"{label} holds the {name} in {precision} ({_arithmetic(entry, facts, four_bit)})"
        if four_bit:
            full = needed_gb(_weights_gb(entry, facts, False), max(facts.gpu_count, 1))
            reason += f"; in {dtype} it would need {full:.1f} GB"
        if facts.mps_available and not facts.has_gpu:
            reason += f"; {MPS_DTYPE_REASON}"
        elif entry.name == "70b":
            reason += "; it downloads about 141 GB once"
        if skipped_4bit:
            reason += f" (install bitsandbytes to run the {skipped_4bit} in 4-bit instead)"
        return _make(entry, facts, reason + ".", kind, four_bit)
    if facts.has_gpu:
        return _stand_in(facts, kind, f"{label} is too small for any Bllossom {kind} model, so the offline "
                                      "stand-in is used.")
    return _stand_in(facts, kind, f"{label} is too small for any Bllossom {kind} model with room to spare, so "
                                  "the offline stand-in runs on the CPU.")


def _split(value: str) -> tuple[str, bool]:
    return value.removesuffix(FOUR_BIT), value.endswith(FOUR_BIT)


def _looks_like_path(value: str) -> bool:
    return value.startswith((".", "/", "~")) or Path(value).expanduser().exists()


def value_kind(value: str) -> str:
    """The kind of model an override value names: a catalog entry's kind, a saved folder's (its
    config has a `vision_config`); hub ids count as text models (vision lessons take theirs from
    BLLOSSOM_VISION_MODEL, since knowing a hub model's kind would need the hub)."""
    name, _ = _split(value.strip())
    if name.lower() in STAND_IN_WORDS:
        return "any"
    if _looks_like_path(name):
        config = Path(name).expanduser() / "config.json"
        return "vision" if config.is_file() and "vision_config" in json.loads(config.read_text()) else "text"
    if "/" in name and name not in ALIASES:
        return "text"
    return catalog_entry(name).kind


def _cannot_run(what: str, facts: RuntimeFacts, kind: str, variable: str, why: str) -> TutorialError:
    fits = ", ".join(f"{variable}={value}" for value in what_fits(facts, kind))
    return TutorialError(f"{variable}={what}: {why} What runs here, largest first: {fits}.")


def _override_choice(value: str, facts: RuntimeFacts, kind: str, variable: str) -> ModelChoice:
    reason = f"set by {variable}={value}"
    name, want_4bit = _split(value)
    if want_4bit and not facts.has_gpu:
        where = "on a Mac: bitsandbytes does not run on MPS" if facts.mps_available else "here"
        raise _cannot_run(value, facts, kind, variable, f"4-bit loading needs a CUDA GPU, and there is none {where}.")
    if name.lower() in STAND_IN_WORDS:
        return _stand_in(facts, kind, reason, want_4bit)
    if _looks_like_path(name):
        path = Path(name).expanduser()
        if not path.is_dir():
            raise TutorialError(f"{variable}={value}: no such folder. Give a folder that "
                                "holds config.json and the weights, or a catalog name.")
        if not (path / "config.json").is_file():
            raise TutorialError(f"{variable}={value}: the folder has no config.json, so it "
                                "is not a saved model. Save one with model.save_pretrained(folder).")
        return _make(None, facts, reason, kind, False, path.name, str(path.resolve()))
    if "/" in name and name not in ALIASES:
        return _make(None, facts, reason, kind, want_4bit, name, name)
    entry = catalog_entry(name)
    if entry.kind != kind:
        names = ", ".join(n for n, e in CATALOG.items() if e.kind == kind)
        raise TutorialError(f"{variable}={value}: '{entry.name}' is a {entry.kind} model but this lesson needs a "
                            f"{kind} model. Pick one of: {names}.")
    if want_4bit and not facts.has_bitsandbytes:
        raise TutorialError("4-bit loading needs bitsandbytes: run  pip install bitsandbytes  "
                            "and restart the kernel.")
    if not entry.is_offline_stand_in and not _fits(entry, facts, want_4bit):
        precision = "4-bit" if want_4bit else pick_dtype(facts) if facts.has_gpu or facts.mps_available else "float32"
        if facts.has_gpu or facts.mps_available:
            why = (f"the {entry.name} in {precision} needs {_arithmetic(entry, facts, want_4bit)}, more than "
                   f"{_gpus_label(facts)} can hold.")
        else:
            why = (f"the {entry.name} in float32 needs {_weights_gb(entry, facts, False):.1f} GB, more than this "
                   f"machine's {facts.ram_gb:.0f} GB of memory.")
        raise _cannot_run(value, facts, kind, variable, why)
    return _make(entry, facts, reason, kind, want_4bit)


def choose_model(facts: RuntimeFacts, override: str | None = None, kind: str = "text",
                 vision_override: str | None = None) -> ModelChoice:
    """The model a lesson of this kind ("text" or "vision") should load on a machine with these facts.

    `override` is BLLOSSOM_MODEL's value, `vision_override` BLLOSSOM_VISION_MODEL's (vision lessons
    only). See the module docstring for the rules; without overrides, `hardware_choice` decides.
    """
    override = (override or "").strip()
    vision_override = (vision_override or "").strip()
    if kind == "vision" and vision_override:
        return _override_choice(vision_override, facts, kind, VISION_VARIABLE)
    if not override:
        return hardware_choice(facts, kind)
    named_kind = value_kind(override)
    if named_kind in ("any", kind):
        return _override_choice(override, facts, kind, MODEL_VARIABLE)
    chosen = hardware_choice(facts, kind)
    note = (f"{MODEL_VARIABLE}={override} names a {named_kind} model, so this {kind} lesson ignores it "
            f"({VARIABLE_FOR[kind]} sets its model); ")
    return ModelChoice(chosen.name, chosen.source, chosen.dtype, chosen.device, chosen.load_in_4bit,
                       note + chosen.reason, chosen.entry, kind, chosen.gpu_count, chosen.max_memory_gb)


def how_to_change(kind: str = "text") -> str:
    """The second line under every choice: the variable that applies to this lesson."""
    names = ", ".join([n for n, e in CATALOG.items() if e.kind == kind and not e.is_offline_stand_in]
                      + (["8b:4bit"] if kind == "text" else []) + [n for n in CATALOG if n.startswith("tiny")
                                                                    and CATALOG[n].kind == kind])
    return (f"Change it with the environment variable {VARIABLE_FOR[kind]} ({names}, a hub id or a local "
            f"folder); {MODEL_VARIABLE}=tiny puts every lesson on its offline stand-in.")


HOW_TO_CHANGE = how_to_change("text")


def pick_model(kind: str = "text", facts: RuntimeFacts | None = None, verbose: bool = True) -> ModelChoice:
    """Choose for this machine, honouring BLLOSSOM_MODEL and BLLOSSOM_VISION_MODEL, and say in one
    line what and why."""
    choice = choose_model(facts or runtime_facts(), os.environ.get(MODEL_VARIABLE), kind=kind,
                          vision_override=os.environ.get(VISION_VARIABLE))
    record = os.environ.get(RUN_RECORD_VARIABLE)
    if record:
        with open(record, "a", encoding="utf-8") as handle:
            handle.write(choice.name + "\n")
    if verbose:
        print(f"\N{CHERRY BLOSSOM} Model: {choice}\n   {how_to_change(kind)}")
    return choice
