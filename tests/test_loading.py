"""Loading through transformers' own API, and clear messages when loading cannot work."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

import helpers
from helpers import RuntimeFacts, TutorialError, choose_model, load_model, load_options

CPU = RuntimeFacts()
A100 = RuntimeFacts(gpu_name="NVIDIA A100", compute_capability=(8, 0), gpu_total_gb=42.4)


def test_options_follow_the_choice():
    options = load_options(choose_model(CPU))
    assert options == {"dtype": torch.float32, "use_safetensors": True}
    gpu = load_options(choose_model(A100))
    assert gpu["device_map"] == "auto" and gpu["dtype"] == torch.bfloat16
    assert "trust_remote_code" not in gpu


def test_options_spread_a_model_over_two_t4s_and_keep_room_on_each():
    from helpers.models.runtime import REFERENCE_MACHINES

    options = load_options(choose_model(REFERENCE_MACHINES["Kaggle 2×T4"]))
    assert options["device_map"] == "auto" and options["dtype"] == torch.float16
    assert options["max_memory"] == {0: "13.2GB", 1: "13.2GB"}
    seventy = load_options(choose_model(REFERENCE_MACHINES["4×A100 80GB"]))
    assert seventy["dtype"] == torch.bfloat16 and len(seventy["max_memory"]) == 4


def test_options_put_a_mac_model_on_mps_in_fp16(monkeypatch):
    from helpers.models.runtime import REFERENCE_MACHINES

    monkeypatch.setattr("helpers.models.loading.hub_reachable", lambda: True)  # a Mac that is online
    options = load_options(choose_model(REFERENCE_MACHINES["MacBook 32GB"]))
    assert options == {"dtype": torch.float16, "use_safetensors": True, "device_map": "mps"}


def test_accelerate_plans_a_gpu_and_cpu_split_of_the_stand_in(monkeypatch):
    """The placement the GPU check loads, planned on this CPU: accelerate's planner only asks torch
    how many CUDA devices there are, so we tell it one."""
    from helpers.models.placement import gpu_cpu_split, placement_line, placement_summary, plan_device_map

    source = helpers.source_of(choose_model(CPU))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    max_memory = gpu_cpu_split(source, gpu_layers=1)
    where = placement_summary(plan_device_map(source, max_memory))
    assert where["cuda:0"] == ["model.embed_tokens", "model.layers.0"]
    assert "lm_head" in where["cpu"] and "model.layers.1" in where["cpu"]
    assert placement_line(plan_device_map(source, {0: "1GB"})) == "cuda:0: 1 ((whole model))"


def test_tiny_loads_in_the_chosen_dtype_on_the_cpu():
    model, tokenizer = load_model(choose_model(CPU))
    assert model.dtype == torch.float32 and model.device.type == "cpu" and not model.training
    assert len(tokenizer) == model.config.vocab_size == 128256


def test_local_folder_loads(tmp_path):
    config = LlamaConfig(vocab_size=128256, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1)
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    helpers.offline.llama3_tokenizer.load_llama3_tokenizer().save_pretrained(tmp_path)
    model, _ = load_model(choose_model(CPU, str(tmp_path)))
    assert model.config.hidden_size == 16


def test_pickled_weights_are_refused(tmp_path):
    config = LlamaConfig(vocab_size=128256, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1)
    LlamaForCausalLM(config).save_pretrained(tmp_path, safe_serialization=False)
    helpers.offline.llama3_tokenizer.load_llama3_tokenizer().save_pretrained(tmp_path)
    if (tmp_path / "model.safetensors").exists():  # transformers 5 may always write safetensors
        (tmp_path / "model.safetensors").unlink()
        torch.save(LlamaForCausalLM(config).state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(TutorialError, match="safetensors"):
        load_model(choose_model(CPU, str(tmp_path)))


def test_offline_without_a_cache_says_what_to_do(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(TutorialError, match="BLLOSSOM_MODEL=tiny"):
        load_model(choose_model(CPU, "3b"))


def test_vision_model_is_refused_by_the_text_loader():
    vision = helpers.ModelChoice("vision-8b", "x", "bfloat16", "cpu", False, "test",
                                 helpers.CATALOG["vision-8b"])
    with pytest.raises(TutorialError, match="vision model"):
        load_model(vision)


def test_tutorial_error_renders_as_one_line_in_jupyter():
    lines = TutorialError("Do this instead.")._render_traceback_()
    assert len(lines) == 1 and "Do this instead." in lines[0]
