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
