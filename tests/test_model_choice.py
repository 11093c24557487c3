"""Model and dtype choice for the machines learners bring, and the messages for bad choices."""

from __future__ import annotations

import pytest

from helpers import CATALOG, RuntimeFacts, TutorialError, choose_model, pick_dtype, pick_model
from helpers.catalog import catalog_entry
from helpers.models.choice import how_to_change, what_fits
from helpers.models.runtime import REFERENCE_MACHINES, GpuFacts, cuda_machine, mac

M = REFERENCE_MACHINES
T4 = RuntimeFacts(gpu_name="Tesla T4", compute_capability=(7, 5), gpu_total_gb=15.8)
T4_BNB = RuntimeFacts(gpu_name="Tesla T4", compute_capability=(7, 5), gpu_total_gb=15.8,
                      has_bitsandbytes=True)
A100 = RuntimeFacts(gpu_name="NVIDIA A100-SXM4-40GB", compute_capability=(8, 0), gpu_total_gb=42.4)
SMALL_GPU = RuntimeFacts(gpu_name="GTX 1650", compute_capability=(7, 5), gpu_total_gb=4.0)
CPU = RuntimeFacts()


@pytest.mark.parametrize("machine, dtype", [("Colab T4", "float16"), ("Kaggle 2×T4", "float16"), ("L4", "bfloat16"),
                                            ("A100 40GB", "bfloat16"), ("H100 80GB", "bfloat16"),
                                            ("MacBook 16GB", "float16"), ("laptop CPU", "float32")])
def test_dtype_follows_the_device(machine, dtype):
    assert pick_dtype(M[machine]) == dtype


def test_a_mixed_pair_of_gpus_gets_the_dtype_both_compute():
    mixed = RuntimeFacts(gpus=(GpuFacts("NVIDIA A100", 42.4, (8, 0)), GpuFacts("Tesla T4", 15.8, (7, 5))))
    assert pick_dtype(mixed) == "float16"


# machine: (text model, 4-bit, device, GPUs used), (vision model, device)
EXPECTED = {
    "Colab T4": (("3b", False, "cuda", 1), ("aica-5b", "cuda")),
    "Colab T4 + bitsandbytes": (("8b", True, "cuda", 1), ("aica-5b", "cuda")),
    "Kaggle 2×T4": (("8b", False, "cuda", 2), ("vision-8b", "cuda")),
    "L4": (("8b", False, "cuda", 1), ("vision-8b", "cuda")),
    "A100 40GB": (("8b", False, "cuda", 1), ("vision-8b", "cuda")),
    "2×A100 80GB": (("70b", False, "cuda", 2), ("vision-8b", "cuda")),
    "4×A100 80GB": (("70b", False, "cuda", 4), ("vision-8b", "cuda")),
    "H100 80GB": (("8b", False, "cuda", 1), ("vision-8b", "cuda")),
    "H100 80GB + bitsandbytes": (("70b", True, "cuda", 1), ("vision-8b", "cuda")),
    "MacBook 8GB": (("tiny", False, "cpu", 0), ("tiny-llava-next", "cpu")),
    "MacBook 16GB": (("3b", False, "mps", 0), ("tiny-llava-next", "cpu")),
    "MacBook 32GB": (("8b", False, "mps", 0), ("vision-8b", "mps")),
    "MacBook 64GB": (("8b", False, "mps", 0), ("vision-8b", "mps")),
    "laptop CPU": (("tiny", False, "cpu", 0), ("tiny-llava-next", "cpu")),
    "A100 40GB, offline": (("tiny", False, "cuda", 1), ("tiny-llava-next", "cuda")),
}


def test_every_reference_machine_is_tested():
    assert set(EXPECTED) == set(M)


@pytest.mark.parametrize("machine", list(EXPECTED))
def test_text_choice_per_machine(machine):
    choice = choose_model(M[machine])
    assert (choice.name, choice.load_in_4bit, choice.device, choice.gpu_count) == EXPECTED[machine][0]
    assert choice.reason and choice.kind == "text"


@pytest.mark.parametrize("machine", list(EXPECTED))
def test_vision_choice_per_machine(machine):
    choice = choose_model(M[machine], kind="vision")
    assert (choice.name, choice.device) == EXPECTED[machine][1]
    assert choice.entry.kind == "vision" and not choice.load_in_4bit


def test_two_t4s_hold_the_8b_in_fp16_and_say_the_arithmetic():
    choice = choose_model(M["Kaggle 2×T4"])
    assert choice.dtype == "float16"
    assert "16.1 GB of weights + 3.2 GB to generate + 2 GB for 2 CUDA contexts = 21.3 GB" in choice.reason
    assert "31.6 GB together" in choice.reason
    caps = dict(choice.max_memory_gb)
    assert set(caps) == {0, 1} and sum(caps.values()) >= 16.1 and max(caps.values()) < 15.8 - 1


def test_one_t4_does_not_hold_the_8b_in_fp16():
    assert choose_model(M["Colab T4"]).name == "3b"


def test_70b_in_bf16_needs_two_80gb_gpus_and_4bit_fits_one():
    assert choose_model(M["2×A100 80GB"]).dtype == "bfloat16"
    assert "141.2 GB of weights + 8.0 GB to generate + 2 GB" in choose_model(M["2×A100 80GB"]).reason
    one = choose_model(M["H100 80GB + bitsandbytes"])
    assert one.load_in_4bit and "39.5 GB of weights" in one.reason
    assert "install bitsandbytes to run the 70b in 4-bit" in choose_model(M["H100 80GB"]).reason
    assert choose_model(cuda_machine("NVIDIA A100-SXM4-40GB", (8, 0), 42.4, has_bitsandbytes=True)).name == "8b"


def test_macs_get_fp16_on_mps_and_say_why():
    choice = choose_model(M["MacBook 16GB"])
    assert (choice.dtype, choice.device) == ("float16", "mps")
    assert "fp16" in choice.reason and "bitsandbytes" in choice.reason
    assert mac(16).ram_gb == pytest.approx(17.2, abs=0.1)  # Apple's 16 GB are binary gigabytes


def test_a_mac_offline_uses_the_stand_in():
    assert choose_model(mac(64, hub_online=False)).name == "tiny"


def test_small_gpu_gets_the_stand_in_on_the_gpu():
    choice = choose_model(SMALL_GPU)
    assert (choice.name, choice.device) == ("tiny", "cuda")


def test_real_ids_are_the_default_wherever_a_gpu_fits_them():
    assert choose_model(A100).source == "MLP-KTLim/llama-3-Korean-Bllossom-8B"
    assert choose_model(T4).source == "Bllossom/llama-3.2-Korean-Bllossom-3B"


def test_t4_hint_names_bitsandbytes():
    assert "bitsandbytes" in choose_model(T4).reason


def test_what_fits_lists_largest_first():
    assert what_fits(M["Colab T4 + bitsandbytes"]) == ["8b:4bit", "3b", "tiny"]
    assert what_fits(M["Colab T4"]) == ["3b", "tiny"]
    assert what_fits(M["MacBook 16GB"], "vision") == ["tiny-llava-next"]


# ---- overrides that cannot run here name what would ----

def test_70b_on_one_t4_names_what_fits():
    with pytest.raises(TutorialError, match=r"70b in float16 needs .*What runs here.*BLLOSSOM_MODEL=3b"):
        choose_model(T4, "70b")


def test_8b_fp16_on_one_t4_names_the_4bit_option():
    with pytest.raises(TutorialError, match="BLLOSSOM_MODEL=8b:4bit, BLLOSSOM_MODEL=3b"):
        choose_model(T4_BNB, "8b")


def test_4bit_on_a_mac_is_refused_with_what_fits():
    with pytest.raises(TutorialError, match=r"bitsandbytes does not run on MPS.*BLLOSSOM_MODEL=3b"):
        choose_model(M["MacBook 16GB"], "8b:4bit")


def test_the_70b_on_a_laptop_cpu_is_refused():
    with pytest.raises(TutorialError, match="more than this machine's 16 GB"):
        choose_model(M["laptop CPU"], "70b")


def test_override_by_catalog_name_hub_id_and_old_alias():
    assert choose_model(CPU, "3b").source == "Bllossom/llama-3.2-Korean-Bllossom-3B"
    assert choose_model(CPU, "MLP-KTLim/llama3-Bllossom").name == "8b"
    custom = choose_model(A100, "someone/their-llama")
    assert (custom.source, custom.entry, custom.max_memory_gb) == ("someone/their-llama", None, ((0, 34.5),))
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


# ---- one variable per kind of lesson; the stand-in words apply to both (issue 17) ----

@pytest.mark.parametrize("model_var, vision_var, facts, text, vision", [
    # README: "BLLOSSOM_MODEL=3b .venv/bin/jupyter lab notebooks/"
    ("3b", None, CPU, "3b", "tiny-llava-next"),
    ("3b", None, M["Colab T4"], "3b", "aica-5b"),
    # the stand-ins everywhere
    ("tiny", None, M["A100 40GB"], "tiny", "tiny-llava-next"),
    ("offline", None, M["A100 40GB"], "tiny", "tiny-llava-next"),
    ("TINY", None, CPU, "tiny", "tiny-llava-next"),
    # Colab: os.environ["BLLOSSOM_MODEL"] = "8b:4bit"
    ("8b:4bit", None, M["Colab T4 + bitsandbytes"], "8b", "aica-5b"),
    ("8b", None, M["A100 40GB"], "8b", "vision-8b"),
    ("70b", None, M["4×A100 80GB"], "70b", "vision-8b"),
    # a vision name in BLLOSSOM_MODEL serves the vision lessons and leaves the text ones to the hardware
    ("tiny-mllama", None, CPU, "tiny", "tiny-mllama"),
    ("aica-5b", None, M["Colab T4"], "3b", "aica-5b"),
    # BLLOSSOM_VISION_MODEL chooses the vision model whatever BLLOSSOM_MODEL says
    (None, "tiny-mllama", CPU, "tiny", "tiny-mllama"),
    ("3b", "tiny-mllama", CPU, "3b", "tiny-mllama"),
    ("tiny", "aica-5b", M["Colab T4"], "tiny", "aica-5b"),
    (None, "tiny", CPU, "tiny", "tiny-llava-next"),
    ("someone/their-llama", None, CPU, "someone/their-llama", "tiny-llava-next"),
    (None, None, CPU, "tiny", "tiny-llava-next"),
])
def test_overrides_per_lesson_kind(model_var, vision_var, facts, text, vision):
    assert choose_model(facts, model_var, "text", vision_var).name == text
    assert choose_model(facts, model_var, "vision", vision_var).name == vision


def test_a_text_choice_in_a_vision_lesson_says_why_it_was_ignored():
    choice = choose_model(CPU, "3b", kind="vision")
    assert "BLLOSSOM_MODEL=3b names a text model, so this vision lesson ignores it" in choice.reason
    assert "BLLOSSOM_VISION_MODEL sets its model" in choice.reason


def test_a_vision_choice_in_a_text_lesson_says_why_it_was_ignored():
    choice = choose_model(M["Colab T4"], "aica-5b", kind="text")
    assert choice.name == "3b" and "names a vision model, so this text lesson ignores it" in choice.reason


def test_a_text_model_in_the_vision_variable_is_a_mistake():
    with pytest.raises(TutorialError, match="BLLOSSOM_VISION_MODEL=3b: '3b' is a text model"):
        choose_model(CPU, vision_override="3b", kind="vision")


def test_a_typo_fails_in_every_lesson():
    for kind in ("text", "vision"):
        with pytest.raises(TutorialError, match="Known names"):
            choose_model(CPU, "3bb", kind=kind)


def test_the_change_line_names_the_variable_of_the_lesson():
    assert how_to_change("text").startswith("Change it with the environment variable BLLOSSOM_MODEL (8b, 3b, 70b,")
    assert how_to_change("vision").startswith("Change it with the environment variable BLLOSSOM_VISION_MODEL "
                                              "(vision-8b, aica-5b, tiny-llava-next, tiny-mllama")
    assert "BLLOSSOM_MODEL=tiny puts every lesson on its offline stand-in" in how_to_change("vision")


def test_pick_model_reads_the_environment_and_says_why(monkeypatch, capsys):
    monkeypatch.setenv("BLLOSSOM_MODEL", "tiny")
    monkeypatch.delenv("BLLOSSOM_VISION_MODEL", raising=False)
    choice = pick_model(facts=M["A100 40GB"])
    assert choice.name == "tiny"
    printed = capsys.readouterr().out
    assert "BLLOSSOM_MODEL=tiny" in printed and "Change it with the environment variable BLLOSSOM_MODEL " in printed
    vision = pick_model(kind="vision", facts=M["A100 40GB"])
    assert vision.name == "tiny-llava-next"
    assert "Change it with the environment variable BLLOSSOM_VISION_MODEL " in capsys.readouterr().out


def test_pick_model_reads_the_vision_variable(monkeypatch, capsys):
    monkeypatch.setenv("BLLOSSOM_MODEL", "3b")
    monkeypatch.setenv("BLLOSSOM_VISION_MODEL", "tiny-mllama")
    assert pick_model(kind="vision", facts=CPU).name == "tiny-mllama"
    assert "set by BLLOSSOM_VISION_MODEL=tiny-mllama" in capsys.readouterr().out
    assert pick_model(facts=CPU, verbose=False).name == "3b"


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


def test_a_saved_folder_serves_the_lessons_of_its_kind(tmp_path):
    text, vision = tmp_path / "text", tmp_path / "vision"
    text.mkdir(), vision.mkdir()
    (text / "config.json").write_text('{"model_type": "llama"}')
    (vision / "config.json").write_text('{"model_type": "llava_next", "vision_config": {}}')
    assert choose_model(CPU, str(text)).name == "text"
    assert choose_model(CPU, str(text), kind="vision").name == "tiny-llava-next"
    assert choose_model(CPU, str(vision), kind="vision").name == "vision"
    assert choose_model(CPU, str(vision)).name == "tiny"
