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
from helpers.models.runtime import package_versions


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
    assert facts.versions["torch"] == torch.__version__
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
    assert f"torch {torch.__version__}" in out
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
