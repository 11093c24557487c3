"""How much GPU memory will a model need? Estimated before loading, checked after.

Weights dominate: parameters times bytes per parameter. Under 4-bit (nf4) loading the linear
layers take about half a byte per parameter plus their quantisation constants, while the
embeddings and LM head stay in 16 bit. Generation needs headroom on top (activations and the
KV cache), which `fits_in` and `fits_across` add, and every GPU keeps about 1 GB for its CUDA context.
`gpu_memory_caps` turns that into the `max_memory` that accelerate gets when a model spans GPUs.
"""

from __future__ import annotations

BYTES_PER_PARAM = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0}
NF4_BYTES_PER_PARAM = 0.5 + 0.127 / 8  # 4 bits, plus double-quantised absmax (~0.127 bits) per weight
HEADROOM_FACTOR = 1.2  # activations and KV cache: 20% of the weights...
GENERATION_ROOM_CAP_GB = 8.0  # ...but at most 8 GB: they grow with a model's width, not its whole size
HEADROOM_GB = 1.0  # per GPU: CUDA context and allocator slack
# Why the cap: the 70B's KV cache for its whole 8,192-token context is 80 layers x 8 KV heads x 128
# x 2 (K and V) x 2 bytes = 0.33 MB a token, 2.7 GB in all; 20% of its 141 GB would be 28 GB.


def estimate_memory_gb(entry_or_params, dtype: str, embedding_params_billion: float = 0.0) -> float:
    """Weight memory in GB (1e9 bytes) for a catalog entry, or a parameter count in billions
    (of which `embedding_params_billion` stay in 16 bit under 4-bit loading).

    `dtype` is "float32", "bfloat16", "float16" or "4bit".
    """
    if hasattr(entry_or_params, "params_billion"):
        params = entry_or_params.params_billion
        embedding_params_billion = entry_or_params.embedding_params_billion
    else:
        params = float(entry_or_params)
    if dtype == "4bit":
        linear = params - embedding_params_billion
        return linear * NF4_BYTES_PER_PARAM + embedding_params_billion * 2.0
    if dtype not in BYTES_PER_PARAM:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(BYTES_PER_PARAM)} or '4bit'")
    return params * BYTES_PER_PARAM[dtype]


def generation_room_gb(weights_gb: float) -> float:
    """Memory to keep free beside the weights for activations and the KV cache."""
    return min(weights_gb * (HEADROOM_FACTOR - 1), GENERATION_ROOM_CAP_GB)


def needed_gb(weights_gb: float, gpu_count: int = 1) -> float:
    """Weights, room to generate, and each GPU's CUDA context: what the GPUs must hold together."""
    return weights_gb + generation_room_gb(weights_gb) + HEADROOM_GB * gpu_count


def fits_in(weights_gb: float, gpu_total_gb: float) -> bool:
    """Whether weights of this size leave room to generate on a GPU of this size."""
    return needed_gb(weights_gb) <= gpu_total_gb


def fits_across(weights_gb: float, gpu_totals_gb) -> bool:
    """Whether weights of this size, split across these GPUs, leave room to generate."""
    totals = list(gpu_totals_gb)
    return bool(totals) and needed_gb(weights_gb, len(totals)) <= sum(totals)


def gpu_memory_caps(weights_gb: float | None, gpu_totals_gb) -> dict[int, float]:
    """How many GB of weights each GPU may take (accelerate's `max_memory`), so that every GPU keeps
    its CUDA context and its share of the room to generate. Unknown weights: keep 20% free."""
    totals = list(gpu_totals_gb)
    whole = sum(totals)
    caps = {}
    for index, total in enumerate(totals):
        if weights_gb is None:
            cap = (total - HEADROOM_GB) / HEADROOM_FACTOR
        else:
            cap = total - HEADROOM_GB - generation_room_gb(weights_gb) * total / whole
        caps[index] = round(max(cap, 0.0), 1)
    return caps


def llama_parameter_count(config) -> int:
    """Parameters of a Llama model computed from its config alone (no weights needed)."""
    h, v, layers = config.hidden_size, config.vocab_size, config.num_hidden_layers
    head_dim = getattr(config, "head_dim", None) or h // config.num_attention_heads
    q_and_o = 2 * h * config.num_attention_heads * head_dim
    k_and_v = 2 * h * config.num_key_value_heads * head_dim
    mlp = 3 * h * config.intermediate_size
    norms = 2 * h
    embeddings = v * h * (1 if config.tie_word_embeddings else 2)
    return layers * (q_and_o + k_and_v + mlp + norms) + h + embeddings


def estimate_model_memory_gb(config, precision: str) -> float:
    """Predicted weight memory of a Llama model from its config, before or after loading."""
    embedding = config.vocab_size * config.hidden_size * (1 if config.tie_word_embeddings else 2)
    return estimate_memory_gb(llama_parameter_count(config) / 1e9, precision, embedding / 1e9)


# Architecture numbers from the config.json of the hub models, so training memory can be estimated
# for a model this machine has never loaded (the 3B ties its input and output embeddings).
REFERENCE_ARCHITECTURES = {
    "8b": dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
               num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=False),
    "3b": dict(vocab_size=128256, hidden_size=3072, intermediate_size=8192, num_hidden_layers=28,
               num_attention_heads=24, num_key_value_heads=8, tie_word_embeddings=True),
}
ACTIVATION_BYTES_PER_TOKEN_PER_HIDDEN = 34  # per layer, 16-bit, fused attention (Korthikanti et al. 2022)
LOGIT_TILE = (4096, 32768)  # trl scores the vocabulary in tiles of this many tokens x vocabulary columns


def _get(config, name):
    return config[name] if isinstance(config, dict) else getattr(config, name)


def module_shapes(config) -> dict[str, tuple[int, int]]:
    """(in, out) features of each linear layer in one Llama decoder layer."""
    h, inter = _get(config, "hidden_size"), _get(config, "intermediate_size")
    heads, kv = _get(config, "num_attention_heads"), _get(config, "num_key_value_heads")
    head_dim = h // heads
    return {"q_proj": (h, heads * head_dim), "k_proj": (h, kv * head_dim), "v_proj": (h, kv * head_dim),
            "o_proj": (heads * head_dim, h), "gate_proj": (h, inter), "up_proj": (h, inter), "down_proj": (inter, h)}


def lora_parameter_count(config, rank: int, target_modules) -> int:
    """Parameters a LoRA adapter of this rank adds: A (rank x in) plus B (out x rank) per targeted layer."""
    shapes = module_shapes(config)
    per_layer = sum((shapes[name][0] + shapes[name][1]) * rank for name in target_modules if name in shapes)
    return per_layer * _get(config, "num_hidden_layers")


def estimate_training_memory_gb(config, precision: str, rank: int, target_modules, batch_size: int,
                                max_length: int, activation_checkpointing: bool, extra_trainable: int = 0) -> dict:
    """GPU (or CPU) memory for LoRA/QLoRA training, in GB, part by part, before anything is loaded.

    - weights: the frozen base in `precision` ("4bit" for QLoRA, else a dtype);
    - adapters: LoRA parameters (plus `extra_trainable`, e.g. a trained output layer) with their gradients;
    - optimizer: AdamW keeps two fp32 numbers for every trainable parameter;
    - activations: 34 bytes per token per hidden unit per layer in 16 bit (Korthikanti et al. 2022,
      "Reducing Activation Recomputation in Large Transformer Models", with fused attention), or only each
      layer's input when activation checkpointing recomputes the rest, plus one tile of output-layer logits.
    """
    h, layers, vocab = _get(config, "hidden_size"), _get(config, "num_hidden_layers"), _get(config, "vocab_size")
    parameters = llama_parameter_count(_AsConfig(config))
    embedding = vocab * h * (1 if _get(config, "tie_word_embeddings") else 2)
    weights = estimate_memory_gb(parameters / 1e9, precision, embedding / 1e9)
    trainable = lora_parameter_count(config, rank, target_modules) + extra_trainable
    tokens = batch_size * max_length
    if activation_checkpointing:
        per_token = (2 * layers + ACTIVATION_BYTES_PER_TOKEN_PER_HIDDEN) * h
    else:
        per_token = ACTIVATION_BYTES_PER_TOKEN_PER_HIDDEN * h * layers
    logits = min(tokens, LOGIT_TILE[0]) * min(vocab, LOGIT_TILE[1]) * 4 * 2
    parts = {"weights": weights,
             "adapters + gradients": trainable * 8 / 1e9,
             "optimizer state": trainable * 8 / 1e9,
             "activations": (tokens * per_token + logits) / 1e9}
    parts["total"] = sum(parts.values())
    return {name: round(value, 3) for name, value in parts.items()} | {"trainable parameters": trainable}


class _AsConfig:
    """Attribute access over a dict of architecture numbers, for `llama_parameter_count`."""

    def __init__(self, config):
        self._config = config

    def __getattr__(self, name):
        if name == "head_dim":
            return None
        return _get(self._config, name)
