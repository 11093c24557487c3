"""Model and dtype choice for the machines learners bring, and the messages for bad choices."""

from __future__ import annotations

import pytest

from helpers import CATALOG, RuntimeFacts, TutorialError, choose_model, pick_dtype, pick_model
from helpers.catalog import catalog_entry

T4 = RuntimeFacts(gpu_name="Tesla T4", compute_capability=(7, 5), gpu_total_gb=15.8)
T4_BNB = RuntimeFacts(gpu_name="Tesla T4", compute_capability=(7, 5), gpu_total_gb=15.8,
                      has_bitsandbytes=True)
L4 = RuntimeFacts(gpu_name="NVIDIA L4", compute_capability=(8, 9), gpu_total_gb=24.0)
A100 = RuntimeFacts(gpu_name="NVIDIA A100-SXM4-40GB", compute_capability=(8, 0), gpu_total_gb=42.4)
H100 = RuntimeFacts(gpu_name="NVIDIA H100 80GB HBM3", compute_capability=(9, 0), gpu_total_gb=85.0)
SMALL_GPU = RuntimeFacts(gpu_name="GTX 1650", compute_capability=(7, 5), gpu_total_gb=4.0)
CPU = RuntimeFacts()
OFFLINE_A100 = RuntimeFacts(gpu_name="NVIDIA A100", compute_capability=(8, 0), gpu_total_gb=42.4,
                            hub_online=False)


@pytest.mark.parametrize("facts, dtype", [(T4, "float16"), (L4, "bfloat16"), (A100, "bfloat16"),
                                          (H100, "bfloat16"), (CPU, "float32")])
def test_dtype_follows_compute_capability(facts, dtype):
    assert pick_dtype(facts) == dtype


@pytest.mark.parametrize("facts, name, four_bit, device", [
    (H100, "8b", False, "cuda"),
    (A100, "8b", False, "cuda"),
    (L4, "8b", False, "cuda"),
    (T4, "3b", False, "cuda"),
    (T4_BNB, "8b", True, "cuda"),
    (SMALL_GPU, "tiny", False, "cuda"),
    (CPU, "tiny", False, "cpu"),
    (OFFLINE_A100, "tiny", False, "cuda"),
])
def test_choice_per_hardware_profile(facts, name, four_bit, device):
    choice = choose_model(facts)
    assert (choice.name, choice.load_in_4bit, choice.device) == (name, four_bit, device)
    assert choice.reason  # every choice says why


def test_real_ids_are_the_default_wherever_a_gpu_fits_them():
    assert choose_model(A100).source == "MLP-KTLim/llama-3-Korean-Bllossom-8B"
    assert choose_model(T4).source == "Bllossom/llama-3.2-Korean-Bllossom-3B"


def test_t4_hint_names_bitsandbytes():
    assert "bitsandbytes" in choose_model(T4).reason


def test_override_by_catalog_name_hub_id_and_old_alias():
    assert choose_model(CPU, "3b").source == "Bllossom/llama-3.2-Korean-Bllossom-3B"
    assert choose_model(CPU, "MLP-KTLim/llama3-Bllossom").name == "8b"
    custom = choose_model(A100, "someone/their-llama")
    assert (custom.source, custom.entry) == ("someone/their-llama", None)
    assert choose_model(T4_BNB, "8b:4bit").load_in_4bit


def test_override_by_local_folder(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    choice = choose_model(CPU, str(tmp_path))
    assert choice.source == str(tmp_path.resolve()) and choice.device == "cpu"


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(TutorialError, match="Known names: 8b, 3b"):
        choose_model(CPU, "bllossom-9000")


def test_folder_without_a_model(tmp_path):
    with pytest.raises(TutorialError, match="no config.json"):
        choose_model(CPU, str(tmp_path))
    with pytest.raises(TutorialError, match="no such folder"):
        choose_model(CPU, str(tmp_path / "missing"))


def test_gpu_only_option_on_a_cpu():
    with pytest.raises(TutorialError, match="needs a CUDA GPU"):
        choose_model(CPU, "8b:4bit")
    with pytest.raises(TutorialError, match="needs a CUDA GPU"):
        choose_model(CPU, "someone/their-llama:4bit")


def test_four_bit_without_bitsandbytes():
    with pytest.raises(TutorialError, match="pip install bitsandbytes"):
        choose_model(T4, "8b:4bit")


def test_text_lesson_refuses_a_vision_model():
    with pytest.raises(TutorialError, match="vision model"):
        choose_model(A100, "vision-8b")


def test_pick_model_reads_the_environment_and_says_why(monkeypatch, capsys):
    monkeypatch.setenv("BLLOSSOM_MODEL", "tiny")
    choice = pick_model(facts=A100)
    assert choice.name == "tiny"
    printed = capsys.readouterr().out
    assert "BLLOSSOM_MODEL=tiny" in printed and "Change it with" in printed


def test_pick_model_records_the_choice_for_the_runner(monkeypatch, tmp_path):
    record = tmp_path / "record.txt"
    monkeypatch.delenv("BLLOSSOM_MODEL", raising=False)
    monkeypatch.setenv("BLLOSSOM_RUN_RECORD", str(record))
    pick_model(facts=CPU, verbose=False)
    assert record.read_text().split() == ["tiny"]


def test_catalog_holds_the_family_from_the_cards():
    assert CATALOG["8b"].hub_id == "MLP-KTLim/llama-3-Korean-Bllossom-8B"
    assert CATALOG["8b"].generation["repetition_penalty"] == 1.1
    assert CATALOG["3b"].system_prompt is None  # its card uses none
    assert CATALOG["vision-8b"].architecture == "LlavaNextForConditionalGeneration"
    assert CATALOG["aica-5b"].architecture == "MllamaForConditionalGeneration"
    assert {e.kind for e in CATALOG.values()} == {"text", "vision"}
    assert catalog_entry("Bllossom/llama-3.2-Korean-Bllossom-3B").name == "3b"
    assert 15.5 < CATALOG["8b"].bf16_gb < 16.5
