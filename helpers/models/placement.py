"""One model spread over several devices by accelerate, and where each part went.

`load_options` hands `from_pretrained` a `device_map="auto"` and a `max_memory` per device;
accelerate then fills the devices in order, whole decoder layers at a time. `plan_device_map`
runs the same planning on an empty (meta) model, so the placement can be seen, and tested, on a
machine without the devices; `placement_summary` says which modules landed where.
"""

from __future__ import annotations

from collections import defaultdict


def plan_device_map(source, max_memory: dict, dtype: str = "float32") -> dict:
    """The device map accelerate would build for the model in `source` within `max_memory`
    (keys: GPU indices, "mps" or "cpu"; values: bytes or strings such as "40MB"), without loading
    a single weight."""
    import torch
    from accelerate import infer_auto_device_map

    model = empty_model(source, dtype)
    # A list, not transformers 5's set: accelerate 1.10 (our floor) wraps anything but a list or tuple as one
    # class name, so {'LlamaDecoderLayer'} never matched and a decoder layer was split across devices.
    return infer_auto_device_map(model, max_memory=max_memory, dtype=getattr(torch, dtype),
                                 no_split_module_classes=list(model._no_split_modules or []))


def placement_summary(device_map: dict) -> dict[str, list[str]]:
    """Module names per device, devices named as torch names them ("cuda:0", "cpu")."""
    where = defaultdict(list)
    for module, device in device_map.items():
        where[f"cuda:{device}" if isinstance(device, int) else str(device)].append(module or "(whole model)")
    return dict(where)


def placement_line(device_map: dict) -> str:
    """One line: how many modules each device holds, and which."""
    return "; ".join(f"{device}: {len(modules)} ({', '.join(modules)})"
                     for device, modules in placement_summary(device_map).items())


def empty_model(source, dtype: str = "float32"):
    """The model in `source` on the meta device: its shapes and sizes, no weights in memory."""
    import torch
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(source), dtype=getattr(torch, dtype))
    model.tie_weights()
    return model


def gpu_cpu_split(source, gpu_layers: int = 1, dtype: str = "float32", gpu=0) -> dict:
    """A `max_memory` that puts the embeddings and the first `gpu_layers` decoder layers on GPU
    `gpu` and the rest on the CPU. accelerate keeps room on the first GPU for the largest module
    it might have to bring over from the CPU, so that room is added on top."""
    import torch
    from accelerate.utils import compute_module_sizes, get_max_layer_size

    model = empty_model(source, dtype)
    sizes = compute_module_sizes(model, dtype=getattr(torch, dtype))
    layer_names = [name for name in sizes if name.count(".") == 2 and ".layers." in name]
    if len(layer_names) <= gpu_layers:
        raise ValueError(f"{source} has {len(layer_names)} decoder layers; keep at least one for the CPU")
    modules = list(model.named_children())
    largest, _ = get_max_layer_size(modules, sizes, model._no_split_modules)
    embeddings = sum(size for name, size in sizes.items() if name.endswith("embed_tokens"))
    on_gpu = embeddings + sum(sizes[name] for name in layer_names[:gpu_layers])
    return {gpu: on_gpu + largest + sizes[layer_names[gpu_layers]] // 2, "cpu": 4 * sizes[""]}
