"""Memory estimates against real models, and the environment report."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from helpers import (
    CATALOG,
    RuntimeFacts,
    environment_report,
    estimate_memory_gb,
    estimate_model_memory_gb,
    fits_in,
    llama_parameter_count,
    runtime_facts,
)
from helpers.models.memory import fits_across, gpu_memory_caps, needed_gb
from helpers.models.runtime import REFERENCE_MACHINES, GpuFacts, package_versions


@pytest.mark.parametrize("tie", [True, False])
def test_parameter_formula_matches_a_built_model(tie):
    config = LlamaConfig(vocab_size=1000, hidden_size=64, intermediate_size=160, num_hidden_layers=3,
                         num_attention_heads=8, num_key_value_heads=2, tie_word_embeddings=tie)
    model = LlamaForCausalLM(config)
    assert llama_parameter_count(config) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_estimate_agrees_with_memory_footprint(dtype):
    config = LlamaConfig(vocab_size=5000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2)
    model = LlamaForCausalLM(config).to(getattr(torch, dtype))
    measured = model.get_memory_footprint() / 1e9
    assert abs(estimate_model_memory_gb(config, dtype) - measured) / measured < 0.05


def test_real_model_estimates_match_the_cards():
    assert estimate_memory_gb(CATALOG["8b"], "bfloat16") == pytest.approx(16.06, abs=0.1)
    assert estimate_memory_gb(CATALOG["3b"], "float16") == pytest.approx(6.42, abs=0.1)
    four_bit = estimate_memory_gb(CATALOG["8b"], "4bit")
    assert 5.0 < four_bit < 6.5  # nf4 linear layers plus 16-bit embeddings and head
    with pytest.raises(ValueError, match="unknown dtype"):
        estimate_memory_gb(8.0, "int3")


def test_fits_leaves_room_to_generate():
    assert fits_in(10.0, 15.0) and not fits_in(14.0, 15.0)


def test_runtime_facts_on_this_machine():
    facts = runtime_facts()
    assert facts.has_gpu == torch.cuda.is_available()
    # the same release; the installed metadata may lack the build label (PyPI's 2.6.0 imports as 2.6.0+cu124)
    assert facts.versions["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert facts.ram_gb > 0


def test_hub_offline_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not runtime_facts().hub_online  # without HF_HUB_OFFLINE: tests/test_hub_check.py


def test_environment_report_names_gpu_and_versions(capsys):
    facts = RuntimeFacts(gpu_name="Tesla T4", compute_capability=(7, 5), gpu_total_gb=15.8,
                         gpu_free_gb=15.0, ram_gb=12.7, versions=package_versions(["torch"]))
    environment_report(facts)
    out = capsys.readouterr().out
    assert "Tesla T4 (compute capability 7.5, 15.0 of 15.8 GB free)" in out
    assert f"torch {torch.__version__.split('+')[0]}" in out  # with or without the build label
    environment_report(RuntimeFacts(versions={}))
    assert "none (CPU only)" in capsys.readouterr().out


def test_missing_package_is_reported_not_raised():
    assert package_versions(["surely-not-installed-pkg"])["surely-not-installed-pkg"] == "not installed"


def test_versions_outside_the_tested_range_get_one_line_with_the_fix():
    from helpers.models.versions import outside_range, tested_ranges

    ranges = tested_ranges()
    assert "transformers" in ranges and "torch" in ranges, "the installed tutorial declares its ranges"
    lines = outside_range({"transformers": "4.44.0", "torch": "2.13.0+cpu", "peft": "not installed"},
                          {"transformers": ">=5.4,<6", "torch": ">=2.13"})
    assert lines == ['transformers 4.44.0 is outside the tested range >=5.4,<6: '
                     'pip install -U "transformers>=5.4,<6", then restart the kernel.']
    assert outside_range({"transformers": "5.24.0"}, {"transformers": ">=5.4,<6"}) == []


def test_the_environment_report_warns_about_an_untested_version(capsys, monkeypatch):
    import helpers.models.runtime as runtime

    monkeypatch.setattr(runtime, "tested_ranges", lambda: {"transformers": ">=99"})
    environment_report(RuntimeFacts(versions={"transformers": "5.24.0"}))
    assert 'transformers 5.24.0 is outside the tested range >=99: pip install -U "transformers>=99"' in \
        capsys.readouterr().out


def test_a_package_upgraded_after_import_asks_for_a_restart(capsys, monkeypatch):
    import helpers.models.runtime as runtime
    from helpers.models.versions import loaded_versions, restart_needed

    assert loaded_versions(["torch"]) == {"torch": __import__("torch").__version__}
    assert restart_needed({"transformers": "5.24.0"}, {"transformers": "5.24.0"}) == []
    assert restart_needed({"torch": "2.13.0+cpu"}, {"torch": "2.13.0"}) == []
    [line] = restart_needed({"transformers": "5.24.0", "torch": "2.13.0"}, {"transformers": "4.57.1"})
    assert line.startswith("transformers 4.57.1 is still loaded, but pip installed 5.24.0: restart the kernel")
    # Colab had transformers 4.57 imported when the setup cell upgraded it: the report says so.
    monkeypatch.setattr(runtime, "loaded_versions", lambda: {"transformers": "4.57.1"})
    environment_report(RuntimeFacts(versions={"transformers": "5.24.0"}))
    assert "Runtime > Restart session" in capsys.readouterr().out


def test_room_to_generate_is_capped_for_big_models():
    # 20% of the 8B's 16 GB, but 8 GB (not 28) for the 70B's 141 GB; 1 GB per GPU on top
    assert needed_gb(16.0) == pytest.approx(16.0 + 3.2 + 1)
    assert needed_gb(141.2, gpu_count=2) == pytest.approx(141.2 + 8 + 2)


def test_fits_across_adds_up_the_gpus():
    assert fits_across(16.06, [15.8, 15.8]) and not fits_in(16.06, 15.8)
    assert fits_across(141.2, [85.1, 85.1]) and not fits_across(141.2, [85.1])
    assert not fits_across(1.0, [])


def test_gpu_caps_leave_each_gpu_its_context_and_share_of_room():
    caps = gpu_memory_caps(16.06, [15.8, 15.8])
    assert caps == {0: 13.2, 1: 13.2}
    assert sum(caps.values()) >= 16.06
    assert gpu_memory_caps(None, [42.4]) == {0: 34.5}


def test_runtime_facts_count_every_gpu():
    facts = runtime_facts()
    assert facts.gpu_count == torch.cuda.device_count() == len(facts.gpus)
    assert facts.mps_available == torch.backends.mps.is_available()


def test_kaggle_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    assert runtime_facts().on_kaggle
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE")
    assert not runtime_facts().on_kaggle


def test_flat_and_listed_gpu_facts_agree():
    flat = RuntimeFacts(gpu_name="Tesla T4", compute_capability=(7, 5), gpu_total_gb=15.8, gpu_count=2)
    listed = RuntimeFacts(gpus=(GpuFacts("Tesla T4", 15.8, (7, 5)),) * 2)
    assert flat.gpus == listed.gpus and flat.gpu_count == listed.gpu_count == 2
    assert listed.gpu_name == "Tesla T4" and listed.total_gpu_gb == pytest.approx(31.6)
    assert RuntimeFacts().gpu_count == 0 and not RuntimeFacts().has_gpu


def test_environment_report_lists_every_gpu_and_the_mac(capsys):
    environment_report(REFERENCE_MACHINES["Kaggle 2×T4"])
    out = capsys.readouterr().out
    assert "Kaggle" in out and "GPUs    : 2, 31.6 GB together" in out
    assert "cuda:0 Tesla T4" in out and "cuda:1 Tesla T4" in out
    environment_report(REFERENCE_MACHINES["MacBook 16GB"])
    out = capsys.readouterr().out
    assert "16 GB unified memory" in out and "Apple GPU via MPS" in out and "11.5 GB for the GPU" in out
