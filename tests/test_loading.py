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
