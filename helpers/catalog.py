"""The Bllossom family in one table, plus the offline stand-ins built by this project.

Figures come from the public model cards (see the project's FACTS notes). Lessons read the
catalog instead of repeating ids, sizes and the card's generation settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import TutorialError

# The system prompt of the current Bllossom-8B model card's example code, character for character
# (English, then Korean). The card's older code (copied by this tutorial's seed) used another one;
# notebook 01 quotes it as history. Bllossom-tiny is trained with this one.
BLLOSSOM_SYSTEM_PROMPT = (
    "You are a helpful AI assistant. Please answer the user's questions kindly. "
    "당신은 유능한 AI 어시스턴트 입니다. 사용자의 질문에 대해 친절하게 답변해주세요."
)

# Generation settings recommended by the cards.
CARD_8B_GENERATION = dict(max_new_tokens=2048, do_sample=True, temperature=0.6, top_p=0.9,
                          repetition_penalty=1.1)
CARD_3B_GENERATION = dict(max_new_tokens=1024, do_sample=True, temperature=0.6, top_p=0.9)


@dataclass(frozen=True)
class ModelEntry:
    """One model a lesson can load."""

    name: str  # short catalog name, e.g. "8b"
    hub_id: str | None  # None for the offline stand-ins built locally
    kind: str  # "text" or "vision"
    architecture: str
    params_billion: float
    embedding_params_billion: float  # embeddings and LM head, kept in 16 bit under 4-bit loading
    license: str
    system_prompt: str | None = BLLOSSOM_SYSTEM_PROMPT
    generation: dict = field(default_factory=dict)
    terminators: tuple[str, ...] = ("<|eot_id|>",)
    notes: str = ""
    # Attention shape of the language model, for KV-cache planning (from the models' config.json);
    # None where a lesson does not need it.
    layers: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None

    @property
    def bf16_gb(self) -> float:
        """Weights in bf16: two bytes a parameter (GB = 1e9 bytes, as model cards count)."""
        return round(self.params_billion * 2, 1)

    @property
    def is_offline_stand_in(self) -> bool:
        return self.hub_id is None


CATALOG: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in [
        ModelEntry("8b", "MLP-KTLim/llama-3-Korean-Bllossom-8B", "text", "LlamaForCausalLM",
                   8.03, 1.05, "llama3", generation=CARD_8B_GENERATION,
                   terminators=("<|end_of_text|>", "<|eot_id|>"),
                   notes="Korean-English Llama-3; vocabulary 128256 since 2024-06 (not expanded).",
                   layers=32, kv_heads=8, head_dim=128),
        ModelEntry("3b", "Bllossom/llama-3.2-Korean-Bllossom-3B", "text", "LlamaForCausalLM",
                   3.21, 0.39, "llama3.2", system_prompt=None, generation=CARD_3B_GENERATION,
                   terminators=("<|end_of_text|>", "<|eot_id|>"),
                   notes="Fits a free Colab T4 in fp16; the card uses no system prompt.",
                   layers=28, kv_heads=8, head_dim=128),
        ModelEntry("70b", "Bllossom/llama-3-Korean-Bllossom-70B", "text", "LlamaForCausalLM",
                   70.6, 2.1, "llama3", generation=CARD_8B_GENERATION,
                   terminators=("<|end_of_text|>", "<|eot_id|>"),
                   notes="Needs several GPUs or a 4-bit GGUF (42.7 GB).",
                   layers=80, kv_heads=8, head_dim=128),
        ModelEntry("vision-8b", "Bllossom/llama-3.1-Korean-Bllossom-Vision-8B", "vision",
                   "LlavaNextForConditionalGeneration", 8.36, 1.05, "llama3.1",
                   generation=dict(max_new_tokens=256),
                   notes="LLaVA-NeXT: CLIP ViT-L/14 at 336 px, any-resolution tiles."),
        ModelEntry("aica-5b", "Bllossom/llama-3.2-Korean-Bllossom-AICA-5B", "vision",
                   "MllamaForConditionalGeneration", 5.2, 0.79, "llama3.2",
                   generation=dict(max_new_tokens=256),
                   notes="Mllama: cross-attention to the image; also answers without one."),
        ModelEntry("tiny", None, "text", "LlamaForCausalLM", 0.0165, 0.0164, "MIT (this project)",
                   generation=dict(max_new_tokens=64, do_sample=True, temperature=0.6, top_p=0.9,
                                   repetition_penalty=1.1),
                   terminators=("<|end_of_text|>", "<|eot_id|>"),
                   notes="Bllossom-tiny: the real Llama-3 tokenizer and a 2-layer Llama trained here "
                         "on this project's small bilingual corpus. Runs on any CPU, offline."),
        ModelEntry("tiny-llava-next", None, "vision", "LlavaNextForConditionalGeneration", 0.0167, 0.0164,
                   "MIT (this project)", system_prompt=None, generation=dict(max_new_tokens=32),
                   notes="Offline stand-in for Vision-8B: a tiny LLaVA-NeXT trained here on generated "
                         "pictures of coloured shapes, with the real Llama-3 tokenizer."),
        ModelEntry("tiny-mllama", None, "vision", "MllamaForConditionalGeneration", 0.0168, 0.0164,
                   "MIT (this project)", system_prompt=None, generation=dict(max_new_tokens=32),
                   notes="Offline stand-in for AICA-5B: a tiny Mllama (cross-attention) trained here on "
                         "generated pictures of coloured shapes, with the real Llama-3 tokenizer."),
    ]
}

# The offline stand-in each kind of lesson falls back to (the other stand-ins are choosable by name).
DEFAULT_STAND_IN = {"text": "tiny", "vision": "tiny-llava-next"}


def stand_in_names(kind: str | None = None) -> list[str]:
    """Catalog names of the models this project builds offline, optionally of one kind."""
    return [e.name for e in CATALOG.values() if e.is_offline_stand_in and kind in (None, e.kind)]


# Names that point at an entry: the old seed-README id and the hub ids themselves.
ALIASES = {"MLP-KTLim/llama3-Bllossom": "8b", "bllossom-tiny": "tiny"}
ALIASES.update({entry.hub_id: entry.name for entry in CATALOG.values() if entry.hub_id})


def catalog_entry(name: str) -> ModelEntry:
    """Look up a catalog name, a known hub id or an old alias; raise a clear error otherwise."""
    key = ALIASES.get(name, name.lower())
    if key in CATALOG:
        return CATALOG[key]
    raise TutorialError(
        f"'{name}' is not in the Bllossom catalog. Known names: {', '.join(CATALOG)}. "
        "You can also give a full hub id (owner/name) or a local model folder."
    )


def catalog_table() -> list[dict]:
    """Rows for a quick look at the family in a notebook."""
    return [
        {"name": e.name, "hub id": e.hub_id or "(built locally)", "kind": e.kind,
         "architecture": e.architecture, "params (B)": e.params_billion,
         "bf16 GB": e.bf16_gb, "license": e.license}
        for e in CATALOG.values()
    ]
