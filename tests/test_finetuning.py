"""Notebook 06's data, checks and claims: SFT with LoRA teaches held-out facts, DPO teaches a preference,
and a merged adapter gives the adapter's outputs. Training runs are small, seeded and shared."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from helpers import TutorialError
from helpers.lessons import finetuning
from helpers.models.choice import choose_model
from helpers.models.memory import REFERENCE_ARCHITECTURES, estimate_training_memory_gb, lora_parameter_count
from helpers.models.runtime import RuntimeFacts

CPU = RuntimeFacts(ram_gb=8.0, hub_online=False)
LINEAR = list(finetuning.LINEAR_LAYERS)


# --- the data --------------------------------------------------------------------------------------

def test_instruction_data_is_big_enough_bilingual_and_split():
    data = finetuning.load_instructions()
    rows = data["train"] + data["held_out"]
    assert len(rows) >= 150
    assert {row["lang"] for row in data["train"]} == {row["lang"] for row in data["held_out"]} == {"ko", "en"}
    train_questions = {row["question"] for row in data["train"]}
    assert not train_questions & {row["question"] for row in data["held_out"]}, "held-out questions must be new"
    assert {row["fact"] for row in data["held_out"]} <= {row["fact"] for row in data["train"]}


def test_each_fact_keyword_is_in_its_answers_and_in_no_other_facts_answers():
    rows = finetuning.load_instructions()["train"]
    for row in rows:
        assert finetuning.has_fact(row["answer"], row["keywords"]), row
        for other in rows:
            if other["fact"] != row["fact"]:
                assert not finetuning.has_fact(other["answer"], row["keywords"]), (row["fact"], other["answer"])


def test_preference_data_prefers_polite_korean():
    data = finetuning.load_preferences()
    assert len(data["train"]) + len(data["held_out"]) >= 100
    assert {row["lang"] for row in data["held_out"]} == {"ko", "en"}
    korean = [row for row in data["train"] + data["held_out"] if row["lang"] == "ko"]
    assert all(finetuning.is_polite_korean(row["chosen"]) for row in korean)
    assert not any(finetuning.is_polite_korean(row["rejected"]) for row in korean)


def test_data_has_a_license_line():
    readme = (finetuning.INSTRUCTIONS_PATH.parent / "README.md").read_text()
    for name in ("cafe_instructions.jsonl", "cafe_preferences.jsonl"):
        section = readme.split(name, 1)[1].split("\n## ", 1)[0]
        assert "License" in section, name


def _write(tmp_path, rows):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n")
    return path


@pytest.mark.parametrize("field", ["answer", "question", "keywords"])
def test_instruction_row_with_a_missing_or_empty_field_is_named(tmp_path, field):
    good = finetuning.load_instructions()["train"][0]
    missing = {k: v for k, v in good.items() if k != field}
    with pytest.raises(TutorialError, match=f"line 2: the field '{field}' is missing"):
        finetuning.load_instructions(_write(tmp_path, [good, missing]))
    empty = dict(good, **{field: "" if isinstance(good[field], str) else []})
    with pytest.raises(TutorialError, match=f"line 1: the field '{field}' is empty"):
        finetuning.load_instructions(_write(tmp_path, [empty]))


def test_preference_pair_with_chosen_equal_to_rejected_is_refused(tmp_path):
    good = finetuning.load_preferences()["train"][0]
    same = dict(good, rejected=good["chosen"])
    with pytest.raises(TutorialError, match="'chosen' and 'rejected' are the same.*Rewrite 'rejected'"):
        finetuning.load_preferences(_write(tmp_path, [good, same]))


def test_measuring_no_questions_is_named():
    with pytest.raises(TutorialError, match="no questions"):
        finetuning.fact_share(model=None, tokenizer=None, rows=[])


def test_politeness_of_korean_replies():
    assert finetuning.is_polite_korean("아메리카노는 4,300원입니다.")
    assert finetuning.is_polite_korean("네, 창가 자리에 있어요!")
    assert not finetuning.is_polite_korean("아메리카노는 4,300원이야.")
    assert not finetuning.is_polite_korean("현금은 안 받아요. 카드만 돼.")
    assert not finetuning.is_polite_korean("An Americano is 4,300 won.")


# --- the plan and its memory estimate ----------------------------------------------------------------

def test_lora_parameter_count_of_the_8b():
    # Per layer r x (in + out) for q, k, v, o, gate, up, down; 32 layers; r = 16.
    per_layer = 16 * ((4096 + 4096) + 2 * (4096 + 1024) + (4096 + 4096) + 3 * (4096 + 14336))
    assert lora_parameter_count(REFERENCE_ARCHITECTURES["8b"], 16, LINEAR) == 32 * per_layer


def test_training_memory_parts_add_up_and_checkpointing_saves_activations():
    config = REFERENCE_ARCHITECTURES["8b"]
    full = estimate_training_memory_gb(config, "bfloat16", 16, LINEAR, 8, 512, activation_checkpointing=False)
    saved = estimate_training_memory_gb(config, "bfloat16", 16, LINEAR, 8, 512, activation_checkpointing=True)
    parts = ("weights", "adapters + gradients", "optimizer state", "activations")
    assert full["total"] == pytest.approx(sum(full[p] for p in parts), abs=0.01)
    assert saved["activations"] < full["activations"] / 5
    assert full["weights"] == pytest.approx(16.06, abs=0.1)


def test_reference_plans_are_qlora_that_fit():
    plans = finetuning.reference_plans()
    assert len(plans) == 2
    for plan in plans.values():
        assert plan.four_bit and plan.choice.load_in_4bit and plan.activation_checkpointing
        assert plan.memory["total"] < plan.device_memory_gb


def test_qlora_adapters_are_merged_into_the_16_bit_base_not_the_4_bit_one():
    """Folding an adapter into 4-bit weights re-quantises the sum (on a GPU, Bllossom-tiny's merged logits
    moved by 10.7), so the merge loads the same model without 4-bit, in its 16-bit dtype, on the GPU."""
    for plan in finetuning.reference_plans().values():
        unquantised = finetuning.merge_choice(plan)
        assert plan.choice.load_in_4bit and not unquantised.load_in_4bit
        assert (unquantised.name, unquantised.source, unquantised.device) == \
            (plan.choice.name, plan.choice.source, "cuda")
        assert unquantised.dtype == plan.choice.dtype in ("bfloat16", "float16")
        assert unquantised.max_memory_gb == ()  # the 4-bit caps would push 16-bit weights off the GPU
        assert finetuning.merge_tolerance(plan) == 0.25  # 16-bit rounding only: no re-quantisation
    cpu_plan = finetuning.training_plan(choose_model(CPU), CPU, REFERENCE_ARCHITECTURES["3b"])
    assert finetuning.merge_choice(cpu_plan) == cpu_plan.choice and finetuning.merge_tolerance(cpu_plan) == 1e-3


def test_a_large_gpu_trains_the_8b_in_bf16():
    a100 = RuntimeFacts(gpu_name="A100", compute_capability=(8, 0), gpu_total_gb=80.0, has_bitsandbytes=True)
    # named: with bitsandbytes an 80 GB card is now chosen for the 70B in 4-bit
    plan = finetuning.training_plan(choose_model(a100, "8b"), a100, REFERENCE_ARCHITECTURES["8b"])
    assert plan.choice.name == "8b" and not plan.four_bit and plan.bf16


def test_four_bit_training_on_a_cpu_is_refused():
    choice = choose_model(CPU)
    with pytest.raises(TutorialError, match="4-bit \\(QLoRA\\) training needs a CUDA GPU"):
        finetuning.training_plan(choice, CPU, REFERENCE_ARCHITECTURES["3b"], four_bit=True)
    with pytest.raises(TutorialError, match="needs a CUDA GPU"):
        finetuning.training_plan(replace(choice, load_in_4bit=True), CPU, REFERENCE_ARCHITECTURES["3b"])


# --- checks before training, on the stand-in -----------------------------------------------------

@pytest.fixture(scope="module")
def stand_in():
    import helpers

    choice = helpers.pick_model(facts=CPU, verbose=False)
    plan = finetuning.plan_for_this_machine(choice, CPU)
    model, tokenizer = helpers.load_model(plan.choice)
    return plan, model, tokenizer


def _lora(**changes):
    from peft import LoraConfig

    return LoraConfig(**dict(dict(r=4, lora_alpha=8, target_modules=LINEAR, task_type="CAUSAL_LM"), **changes))


def _sft_args(tmp_path, **changes):
    from trl import SFTConfig

    settings = dict(output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to=[], learning_rate=1e-3)
    return SFTConfig(**dict(settings, **changes))


def test_rank_zero_is_refused(stand_in, tmp_path):
    _, model, _ = stand_in
    with pytest.raises(TutorialError, match="rank r=0.*Use r=8 or r=16"):
        finetuning.check_setup(model, _lora(r=0), _sft_args(tmp_path))


def test_a_target_module_the_model_lacks_is_named(stand_in, tmp_path):
    _, model, _ = stand_in
    with pytest.raises(TutorialError, match="c_attn are not in this model.*q_proj"):
        finetuning.check_setup(model, _lora(target_modules=["q_proj", "c_attn"]), _sft_args(tmp_path))


def test_a_negative_learning_rate_is_refused(stand_in, tmp_path):
    _, model, _ = stand_in
    with pytest.raises(TutorialError, match="learning_rate=-0.001: it must be positive"):
        finetuning.check_setup(model, _lora(), _sft_args(tmp_path, learning_rate=-1e-3))


def test_a_four_bit_model_on_the_cpu_is_refused(stand_in, tmp_path):
    _, model, _ = stand_in
    model.is_loaded_in_4bit = True
    try:
        with pytest.raises(TutorialError, match="4-bit model cannot train on the CPU"):
            finetuning.check_setup(model, _lora(), _sft_args(tmp_path))
    finally:
        del model.is_loaded_in_4bit


def test_the_stand_in_lacks_output_rows_for_the_cafe_words(stand_in):
    _, model, tokenizer = stand_in
    answers = [row["answer"] for row in finetuning.load_instructions()["train"]]
    assert finetuning.tokens_without_output_rows(model, tokenizer, answers)
    assert not finetuning.tokens_without_output_rows(model, tokenizer, ["Bllossom"])


# --- the claims: small seeded training runs -------------------------------------------------------

FACTS_IN_TEST = 6  # a subset keeps the runs short; the notebook trains on all of them


@pytest.fixture(scope="module")
def trained(stand_in, tmp_path_factory):
    """SFT on a few facts, then DPO on top, with the notebook's calls and fewer steps."""
    from datasets import Dataset
    from transformers import set_seed
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    plan, model, tokenizer = stand_in
    out = tmp_path_factory.mktemp("finetune")
    data = finetuning.load_instructions()
    facts = sorted({row["fact"] for row in data["train"]})[:FACTS_IN_TEST]
    train = [row for row in data["train"] if row["fact"] in facts]
    held_out = [row for row in data["held_out"] if row["fact"] in facts]
    chat = lambda r: {"prompt": [{"role": "user", "content": r["question"]}],
                      "completion": [{"role": "assistant", "content": r["answer"]}]}
    common = dict(per_device_train_batch_size=plan.batch_size, per_device_eval_batch_size=plan.batch_size,
                  max_length=plan.max_length, use_cpu=True, bf16=False, logging_steps=1, save_strategy="no",
                  report_to=[], disable_tqdm=True, seed=0, lr_scheduler_type="cosine")
    result = {"share_before": finetuning.fact_share(model, tokenizer, held_out)[0]}
    set_seed(0)
    lora = _lora(r=plan.rank, lora_alpha=2 * plan.rank, modules_to_save=["embed_tokens", "lm_head"])
    # a fifth of the facts: twice the notebook's passes gives about two fifths of its updates
    sft = SFTTrainer(model=model, args=SFTConfig(output_dir=str(out / "sft"), num_train_epochs=2 * plan.sft_epochs,
                                                 learning_rate=plan.sft_learning_rate, **common),
                     train_dataset=Dataset.from_list([chat(r) for r in train]),
                     eval_dataset=Dataset.from_list([chat(r) for r in held_out]),
                     processing_class=tokenizer, peft_config=lora)
    result["loss_before"] = sft.evaluate()["eval_loss"]
    sft.train()
    result["loss_after"] = sft.evaluate()["eval_loss"]
    result["share_after"] = finetuning.fact_share(sft.model, tokenizer, held_out)[0]
    result["share_trained"] = finetuning.fact_share(sft.model, tokenizer, train)[0]
    sft_merged = sft.model.merge_and_unload()

    pairs = finetuning.load_preferences()
    pairs_train = [p for p in pairs["train"] if p["fact"] in facts]
    pairs_held_out = [p for p in pairs["held_out"] if p["fact"] in facts]
    reference = finetuning.preference_table(sft_merged, tokenizer, pairs_held_out)
    result["accuracy_before"] = finetuning.preference_accuracy(reference)
    preference = lambda p: {"prompt": [{"role": "user", "content": p["prompt"]}],
                            "chosen": [{"role": "assistant", "content": p["chosen"]}],
                            "rejected": [{"role": "assistant", "content": p["rejected"]}]}
    dpo = DPOTrainer(model=sft_merged, args=DPOConfig(output_dir=str(out / "dpo"), beta=0.1,
                                                     max_steps=6,
                                                     learning_rate=plan.dpo_learning_rate, **common),
                     train_dataset=Dataset.from_list([preference(p) for p in pairs_train]),
                     processing_class=tokenizer, peft_config=_lora(r=plan.rank, lora_alpha=2 * plan.rank))
    dpo.train()
    policy = finetuning.preference_table(dpo.model, tokenizer, pairs_held_out)
    result["accuracy_after"] = finetuning.preference_accuracy(policy)
    result["margins"] = finetuning.reward_margins(policy, reference, beta=0.1)
    result.update(model=dpo.model, tokenizer=tokenizer, plan=plan, out=out,
                  questions=[row["question"] for row in held_out[:3]])
    return result


def test_sft_lowers_held_out_loss_and_raises_the_fact_share(trained):
    assert trained["loss_after"] < trained["loss_before"] - 1.0, trained
    assert trained["share_before"] <= 0.10
    # The stand-in learns the answers to the wordings it saw long before it generalises to paraphrases,
    # so held-out asserts the direction, not a target; the trained questions must mostly be right.
    # Measured here (seeded): training questions 100% right, held-out 0% -> 42% (5 of these 12).
    assert trained["share_after"] > trained["share_before"], trained
    assert trained["share_trained"] >= 0.5, trained


def test_dpo_raises_held_out_preference_accuracy(trained):
    assert trained["accuracy_after"] > trained["accuracy_before"], trained
    assert sum(m > 0 for m in trained["margins"]) > len(trained["margins"]) / 2


def test_merged_and_reloaded_model_gives_the_adapters_outputs(trained):
    import torch
    from transformers import AutoModelForCausalLM

    model, tokenizer = trained["model"], trained["tokenizer"]
    before = finetuning.question_logits(model, tokenizer, trained["questions"])
    folder = trained["out"] / "merged"
    model.merge_and_unload().save_pretrained(folder)
    reloaded = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    after = finetuning.question_logits(reloaded, tokenizer, trained["questions"])
    tolerance = finetuning.merge_tolerance(trained["plan"])
    assert max((a - b).abs().max().item() for a, b in zip(before, after)) < tolerance
    assert all(torch.equal(a.argmax(-1), b.argmax(-1)) for a, b in zip(before, after))


def test_the_lesson_plots_draw_hangul_and_negative_margins_without_missing_glyphs():
    """Every label must render: a missing glyph is a box on the learner's plot and a warning in the cell."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = [{"step": 1, "loss": 3.0, "rewards/margins": -0.4}, {"step": 2, "loss": 1.0, "rewards/margins": 0.3}]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figures = [finetuning.plot_reward_margins(history, [-0.5, -0.1, 0.2, 0.7]),
                   finetuning.plot_loss_curve(history, 4.0, 2.0),
                   finetuning.plot_fact_shares(0.0, 0.84, 0.07)]
        for figure in figures:
            figure.canvas.draw()
            plt.close(figure)
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, missing
