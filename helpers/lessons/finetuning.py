"""Notebook 06 (fine-tuning): the café data, its checks, the training plan and the measurements.

The lesson itself (LoraConfig, SFTTrainer, DPOTrainer, merge_and_unload) stays in the notebook. What
lives here would distract from it: loading and validating the project's data with messages that name
the fix, choosing steps and batch size for this machine, checking a training setup before the
trainers turn a mistake into a library traceback, and the measurements (fact share, preference
accuracy, reward margins, 존댓말 share) with their plots.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import TutorialError
from ..models.choice import ModelChoice
from ..models.memory import estimate_training_memory_gb
from ..models.runtime import RuntimeFacts
from ..offline import DATA_FOLDER

INSTRUCTIONS_PATH = DATA_FOLDER / "cafe_instructions.jsonl"
PREFERENCES_PATH = DATA_FOLDER / "cafe_preferences.jsonl"
INSTRUCTION_FIELDS = ("fact", "split", "lang", "question", "answer", "keywords")
PREFERENCE_FIELDS = ("fact", "split", "lang", "prompt", "chosen", "rejected")
SPLITS = ("train", "held_out")
LINEAR_LAYERS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


# --- data -------------------------------------------------------------------------------------------

def _read_rows(path: Path, fields: tuple[str, ...]) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise TutorialError(f"No data file at {path}. Give the path of a .jsonl file with one JSON object a line.")
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise TutorialError(f"{path.name}, line {number}: not valid JSON ({error.msg}). "
                                    "Each line must be one JSON object.") from error
            check_row(row, fields, f"{path.name}, line {number}")
            rows.append(row)
    return rows


def check_row(row: dict, fields: tuple[str, ...], where: str = "row") -> None:
    """Raise a TutorialError naming the row and the field when a field is missing or empty."""
    if not isinstance(row, dict):
        raise TutorialError(f"{where}: expected a JSON object with the fields {', '.join(fields)}.")
    for name in fields:
        value = row.get(name)
        if value is None:
            raise TutorialError(f"{where}: the field '{name}' is missing. Every row needs "
                                f"{', '.join(fields)}; add it or drop the row.")
        if (isinstance(value, str) and not value.strip()) or (isinstance(value, list) and not value):
            raise TutorialError(f"{where}: the field '{name}' is empty. Write the text (a model learns "
                                "nothing from an empty string) or drop the row.")
    if "split" in fields and row["split"] not in SPLITS:
        raise TutorialError(f"{where}: split is {row['split']!r}; use 'train' or 'held_out'.")
    if "chosen" in fields and row["chosen"].strip() == row["rejected"].strip():
        raise TutorialError(f"{where}: 'chosen' and 'rejected' are the same text, so the pair prefers "
                            "nothing and DPO learns nothing from it. Rewrite 'rejected' as the reply you "
                            "do not want (for example the same answer in 반말), or drop the pair.")


def load_instructions(path: Path | str | None = None) -> dict[str, list[dict]]:
    """The café's question-answer pairs, checked and split into {'train': [...], 'held_out': [...]}."""
    rows = _read_rows(path or INSTRUCTIONS_PATH, INSTRUCTION_FIELDS)
    return {split: [row for row in rows if row["split"] == split] for split in SPLITS}


def load_preferences(path: Path | str | None = None) -> dict[str, list[dict]]:
    """The café's preference pairs (prompt, chosen 존댓말, rejected 반말), checked and split."""
    rows = _read_rows(path or PREFERENCES_PATH, PREFERENCE_FIELDS)
    return {split: [row for row in rows if row["split"] == split] for split in SPLITS}


# --- the plan: steps, batch and precision for this machine --------------------------------------

@dataclass(frozen=True)
class TrainingPlan:
    """How to fine-tune on this machine; every number a trainer needs, with the reason."""

    choice: ModelChoice  # what to load: the model pick_model chose, in 4-bit when QLoRA is planned
    four_bit: bool  # QLoRA: a frozen 4-bit base under 16-bit adapters
    rank: int
    batch_size: int
    max_length: int
    sft_epochs: int
    sft_learning_rate: float
    dpo_steps: int
    dpo_learning_rate: float
    activation_checkpointing: bool
    bf16: bool
    fp16: bool
    use_cpu: bool
    memory: dict  # estimate_training_memory_gb's parts, in GB
    device_memory_gb: float  # the GPU's memory, or the RAM on a CPU
    reason: str

    def rows(self) -> list[dict]:
        """The plan as table rows for a notebook."""
        names = ("four_bit", "rank", "batch_size", "max_length", "sft_epochs", "sft_learning_rate",
                 "dpo_steps", "dpo_learning_rate", "activation_checkpointing", "bf16", "fp16", "use_cpu")
        return [{"setting": name, "value": getattr(self, name)} for name in names]


SMALL_MODEL_PARAMS = 1e8  # below this a model is a stand-in: it trains fast and needs a high learning rate
QLORA_SHARE = 0.6  # plan QLoRA when 16-bit LoRA would take more than this share of the GPU
SMALL_GPU_GB = 16  # or when the GPU is this small (a free T4): 4-bit weights leave room for longer batches


def training_plan(choice: ModelChoice, facts: RuntimeFacts, config, four_bit: bool | None = None,
                  rank: int = 16, max_length: int = 64) -> TrainingPlan:
    """Steps, batch, precision and learning rates for `choice` on a machine with `facts`.

    QLoRA (4-bit base) when `pick_model` chose 4-bit, when the learner asks (`four_bit=True`), on a GPU
    under 16 GB (a free T4), or when 16-bit LoRA would fill more than 60% of the GPU. A stand-in
    (under 100 M parameters) gets many epochs at a high learning rate, since each of its steps is cheap
    and its weights start far from the café's facts; a real Bllossom gets the QLoRA paper's 2e-4 for three epochs.
    """
    from ..models.memory import llama_parameter_count

    wants_4bit = choice.load_in_4bit if four_bit is None else four_bit
    if wants_4bit and not facts.has_gpu:
        raise TutorialError("4-bit (QLoRA) training needs a CUDA GPU: bitsandbytes has no CPU path here. "
                            "Train without four_bit on a CPU (LoRA on the full-precision model), or switch to "
                            "a GPU runtime (Colab: Runtime > Change runtime type > T4 GPU).")
    if wants_4bit and not facts.has_bitsandbytes:
        raise TutorialError("4-bit (QLoRA) training needs bitsandbytes: pip install bitsandbytes, then restart "
                            "the kernel.")
    small = llama_parameter_count(_Attributes(config)) < SMALL_MODEL_PARAMS
    activation_checkpointing = facts.has_gpu and not small
    batch_size = 4 if small else 8  # small batches: more updates for the same compute on a CPU

    def estimate(precision: str) -> dict:
        return estimate_training_memory_gb(config, precision, rank, LINEAR_LAYERS, batch_size, max_length,
                                           activation_checkpointing)

    memory = estimate(choice.dtype)
    device_gb = facts.gpu_total_gb if facts.has_gpu else facts.ram_gb
    if four_bit is None and facts.has_gpu and facts.has_bitsandbytes and not small \
            and (memory["total"] > QLORA_SHARE * device_gb or device_gb < SMALL_GPU_GB):
        wants_4bit = True
    if wants_4bit:
        memory = estimate("4bit")
        why = (f"QLoRA: a 4-bit base ({memory['weights']:.1f} GB) leaves room for activations on "
               f"{device_gb:.0f} GB")
    else:
        why = f"LoRA on the {choice.dtype} model ({memory['total']:.2f} GB of {device_gb:.0f} GB)"
    if small:
        why += "; a stand-in: small batches at a high learning rate, few DPO steps"
        # with the notebook's settings at 1e-2 (2e-2 diverged), the stand-in answers 84% of its training
        # questions after 5 epochs and 58% after 4 (seed 0); an epoch takes about 22 s on one CPU core and
        # 15 s on two (benchmarks/finetuning.py)
        sft_epochs, sft_lr, dpo_steps, dpo_lr = 5, 1e-2, 12, 2e-3
    else:
        why += "; a real Bllossom: 3 epochs at 2e-4 (the QLoRA paper's rate)"
        sft_epochs, sft_lr, dpo_steps, dpo_lr = 3, 2e-4, 30, 5e-5
    return TrainingPlan(
        choice=dataclasses.replace(choice, load_in_4bit=wants_4bit), four_bit=wants_4bit, rank=rank,
        batch_size=batch_size, max_length=max_length, sft_epochs=sft_epochs, sft_learning_rate=sft_lr,
        dpo_steps=dpo_steps, dpo_learning_rate=dpo_lr, activation_checkpointing=activation_checkpointing,
        bf16=choice.dtype == "bfloat16", fp16=choice.dtype == "float16", use_cpu=not facts.has_gpu,
        memory=memory, device_memory_gb=device_gb, reason=why + ".")


class _Attributes:
    """Attribute access over a dict of architecture numbers or a config."""

    def __init__(self, config):
        self._config = config

    def __getattr__(self, name):
        if isinstance(self._config, dict):
            return self._config.get(name)
        return getattr(self._config, name, None)


def plan_for_this_machine(choice: ModelChoice, facts: RuntimeFacts, four_bit: bool | None = None) -> TrainingPlan:
    """`training_plan` with the chosen model's own config.json (read without loading any weights)."""
    from transformers import AutoConfig

    from ..models.loading import explained_load_errors, source_of

    with explained_load_errors(choice):
        config = AutoConfig.from_pretrained(source_of(choice))
    return training_plan(choice, facts, config, four_bit=four_bit)


def reference_plans() -> dict[str, TrainingPlan]:
    """The plans this notebook would make for the 3B on a free Colab T4 and the 8B on a 24 GB GPU."""
    from ..catalog import CATALOG
    from ..models.choice import choose_model
    from ..models.memory import REFERENCE_ARCHITECTURES

    machines = {"3b on T4 (15 GB)": ("3b", RuntimeFacts(gpu_name="Tesla T4", compute_capability=(7, 5),
                                                         gpu_total_gb=15.0, has_bitsandbytes=True)),
                "8b on 24 GB (L4)": ("8b", RuntimeFacts(gpu_name="NVIDIA L4", compute_capability=(8, 9),
                                                         gpu_total_gb=24.0, has_bitsandbytes=True))}
    plans = {}
    for label, (name, machine) in machines.items():
        choice = choose_model(machine, name)
        assert choice.entry is CATALOG[name]
        plans[label] = training_plan(choice, machine, REFERENCE_ARCHITECTURES[name])
    return plans


# --- checks before training -----------------------------------------------------------------------

def check_setup(model, lora_config, args=None) -> None:
    """Catch the mistakes that peft and trl would report late or cryptically, with the fix."""
    rank = getattr(lora_config, "r", None)
    if not isinstance(rank, int) or rank <= 0:
        raise TutorialError(f"LoRA rank r={rank!r}: the rank is the width of the adapter's two small matrices, "
                            "so it must be a whole number of at least 1. Use r=8 or r=16.")
    targets = lora_config.target_modules
    if targets and not isinstance(targets, str) and targets != "all-linear":
        present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
        missing = sorted(set(targets) - present)
        if missing:
            linear = sorted(name for name in present if name.endswith("_proj"))
            raise TutorialError(f"LoRA target module(s) {', '.join(missing)} are not in this model. A Llama "
                                f"has {', '.join(linear)}; pick from those (or target_modules='all-linear').")
    if args is not None:
        if not args.learning_rate > 0:
            raise TutorialError(f"learning_rate={args.learning_rate}: it must be positive (a negative rate "
                                "climbs the loss instead of descending it). Try 2e-4 for a real model.")
        if args.use_cpu and getattr(model, "is_loaded_in_4bit", False):
            raise TutorialError("A 4-bit model cannot train on the CPU: bitsandbytes needs a CUDA GPU. "
                                "Load the model without 4-bit, or use a GPU runtime.")


def tokens_without_output_rows(model, tokenizer, texts) -> list[str]:
    """Tokens in `texts` whose output-layer row is all zeros: the model can never write them.

    LoRA on the attention and MLP layers changes what the model computes, not which words it can read
    or say; a token with a zero output row always scores 0. Bllossom-tiny was trained with rows only for
    its own corpus (its other input rows are still random), so new words need both word tables trained
    too; a real Bllossom has every row.
    """
    import torch

    weight = model.get_output_embeddings().weight
    ids = sorted({i for text in texts for i in tokenizer(text, add_special_tokens=False)["input_ids"]})
    with torch.no_grad():
        empty = (weight[ids].float().abs().sum(-1) == 0).tolist()
    return [tokenizer.decode([i]) for i, is_empty in zip(ids, empty) if is_empty]


# --- measurements ---------------------------------------------------------------------------------

def _prompt_ids(tokenizer, question: str, device):
    return tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                         return_dict=True, return_tensors="pt").to(device)


def answer(model, tokenizer, question: str, max_new_tokens: int = 24, **generation) -> str:
    """The model's reply to one user message (greedy unless `generation` says otherwise)."""
    return answers(model, tokenizer, [question], max_new_tokens, **generation)[0]


def answers(model, tokenizer, questions: list[str], max_new_tokens: int = 24, batch_size: int = 16,
            **generation) -> list[str]:
    """The model's reply to each user message, `batch_size` at a time (greedy unless `generation` says
    otherwise). Prompts are padded on the left, so every reply starts right after its own prompt; one
    `generate` call per batch instead of per question makes the measurements several times faster."""
    import torch

    settings = dict(max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    settings.update(generation)
    if not settings["do_sample"]:
        settings.update(temperature=None, top_p=None, top_k=None)
    replies = []
    # Padded by hand: Llama-3's tokenizer has no pad token, and setting one here would change the
    # learner's tokenizer under the trainers.
    for start in range(0, len(questions), batch_size):
        batch = questions[start:start + batch_size]
        prompts = [_prompt_ids(tokenizer, question, "cpu")["input_ids"][0] for question in batch]
        width = max(len(ids) for ids in prompts)
        input_ids = torch.full((len(prompts), width), tokenizer.eos_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, ids in enumerate(prompts):
            input_ids[row, width - len(ids):] = ids
            attention_mask[row, width - len(ids):] = 1
        with torch.no_grad():
            output = model.generate(input_ids=input_ids.to(model.device),
                                    attention_mask=attention_mask.to(model.device), **settings)
        replies += [tokenizer.decode(row[width:], skip_special_tokens=True).strip() for row in output]
    return replies


def has_fact(reply: str, keywords) -> bool:
    """Whether a reply carries the fact: one of its keywords, ignoring case."""
    return any(keyword.lower() in reply.lower() for keyword in keywords)


def fact_share(model, tokenizer, rows: list[dict], max_new_tokens: int = 24) -> tuple[float, list[dict]]:
    """Share of questions whose greedy answer carries the right fact, and one table row per question."""
    if not rows:
        raise TutorialError("fact_share got no questions: pass a non-empty list of rows, for example "
                            "instructions['held_out'].")
    replies = answers(model, tokenizer, [row["question"] for row in rows], max_new_tokens)
    table = [{"lang": row["lang"], "question": row["question"], "reply": reply, "fact": row["keywords"][0],
              "right": has_fact(reply, row["keywords"])} for row, reply in zip(rows, replies)]
    return sum(r["right"] for r in table) / len(table), table


def completion_logprob(model, tokenizer, prompt: str, completion: str) -> float:
    """Sum of the log-probabilities of `completion` (and its closing <|eot_id|>) after `prompt`."""
    import torch

    chat = [{"role": "user", "content": prompt}]
    prompt_ids = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_dict=True)["input_ids"]
    full_ids = tokenizer.apply_chat_template(chat + [{"role": "assistant", "content": completion}],
                                             return_dict=True)["input_ids"]
    ids = torch.tensor([full_ids], device=model.device)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1].float()
    logprobs = torch.log_softmax(logits, -1).gather(-1, ids[0, 1:, None])[:, 0]
    return logprobs[len(prompt_ids) - 1:].sum().item()


def preference_table(model, tokenizer, pairs: list[dict]) -> list[dict]:
    """Log-probabilities of chosen and rejected for each pair under `model`."""
    return [{"lang": p["lang"], "prompt": p["prompt"],
             "chosen": completion_logprob(model, tokenizer, p["prompt"], p["chosen"]),
             "rejected": completion_logprob(model, tokenizer, p["prompt"], p["rejected"])} for p in pairs]


def preference_accuracy(table: list[dict]) -> float:
    """Share of pairs where the chosen reply is more likely than the rejected one."""
    return sum(row["chosen"] > row["rejected"] for row in table) / len(table)


def reward_margins(policy: list[dict], reference: list[dict], beta: float) -> list[float]:
    """DPO's implicit reward margin per pair: beta x (how much more the policy than the reference
    likes the chosen reply, minus the same for the rejected one). Positive = preference learned."""
    return [beta * ((p["chosen"] - r["chosen"]) - (p["rejected"] - r["rejected"]))
            for p, r in zip(policy, reference)]


HANGUL = re.compile("[가-힣]")
POLITE_ENDING = re.compile(r"(요|니다|니까|세요|시오)[.!?~ ]*$")


def is_polite_korean(reply: str) -> bool:
    """Whether a Korean reply ends in 존댓말 (…요, …니다, …니까): its last sentence decides."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", reply.strip()) if HANGUL.search(s)]
    return bool(sentences) and bool(POLITE_ENDING.search(sentences[-1].strip()))


def polite_share(replies: list[str]) -> float:
    """Share of replies in 존댓말."""
    return sum(map(is_polite_korean, replies)) / len(replies)


def sampled_replies(model, tokenizer, prompts: list[str], seed: int = 0, max_new_tokens: int = 24) -> list[str]:
    """One seeded, sampled reply per prompt (temperature 0.6, top-p 0.9, as Bllossom's card)."""
    from transformers import set_seed

    set_seed(seed)
    return answers(model, tokenizer, prompts, max_new_tokens, do_sample=True, temperature=0.6, top_p=0.9)


def question_logits(model, tokenizer, questions: list[str]) -> list:
    """Next-token logits (float32, on the CPU) at the end of each question's chat prompt."""
    import torch

    logits = []
    for question in questions:
        inputs = _prompt_ids(tokenizer, question, model.device)
        with torch.no_grad():
            logits.append(model(**inputs).logits[0, -1].float().cpu())
    return logits


def merge_choice(plan: TrainingPlan) -> ModelChoice:
    """The plan's model without 4-bit, for merging: folding an adapter into 4-bit weights re-quantises
    the sum (peft warns of rounding errors; on a GPU, Bllossom-tiny's merged logits were up to 10.7
    away from the adapter model's). QLoRA adapters are merged into the base in its 16-bit (GPU) or
    float32 (CPU) precision instead (0.13 away), placed by accelerate on whatever memory is free."""
    return dataclasses.replace(plan.choice, load_in_4bit=False, max_memory_gb=())


def merge_tolerance(plan: TrainingPlan) -> float:
    """How far merged and adapter logits may differ: float32 sums in another order; 16-bit weights
    round the merged sum (the merge itself never happens in 4-bit: see `merge_choice`)."""
    return 1e-3 if merge_choice(plan).dtype == "float32" else 0.25


def adapter_megabytes(folder: Path | str) -> float:
    """Size on disk of the files in a saved adapter or model folder, in MB."""
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file()) / 1e6


def steps_per_epoch(examples: int, batch_size: int) -> int:
    return math.ceil(examples / batch_size)


# --- plots ----------------------------------------------------------------------------------------

def plot_training_memory(plan: TrainingPlan, label: str):
    """One stacked bar of the training-memory estimate against the device's memory."""
    import matplotlib.pyplot as plt

    from ..plotting import use_hangul_font

    use_hangul_font()
    figure, axes = plt.subplots(figsize=(6, 3))
    left = 0.0
    for part in ("weights", "adapters + gradients", "optimizer state", "activations"):
        axes.barh([label], [plan.memory[part]], left=left, label=f"{part}: {plan.memory[part]:.2f} GB")
        left += plan.memory[part]
    axes.axvline(plan.device_memory_gb, color="gray", linestyle="--")
    axes.text(plan.device_memory_gb, 0.45, f" memory here: {plan.device_memory_gb:.0f} GB", fontsize=8, ha="right")
    axes.set_xlabel("GB (학습 메모리 추정)")
    axes.set_title("Training memory estimate vs this machine (학습 메모리 추정)")
    axes.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    return figure


def plot_loss_curve(log_history: list[dict], before: float, after: float):
    """Training loss per step, with the held-out loss before and after as two marks."""
    import matplotlib.pyplot as plt

    from ..plotting import use_hangul_font

    use_hangul_font()
    steps = [row["step"] for row in log_history if "loss" in row]
    losses = [row["loss"] for row in log_history if "loss" in row]
    figure, axes = plt.subplots(figsize=(6, 3))
    axes.plot(steps, losses, marker=".", label="training loss (학습 손실)")
    axes.scatter([0, steps[-1]], [before, after], color="red", zorder=3, label="held-out loss (평가 손실)")
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title("SFT with LoRA: loss (손실 곡선)")
    axes.legend()
    figure.tight_layout()
    return figure


def plot_fact_shares(before: float, trained: float, held_out: float):
    """Three bars: right facts before SFT, and after it on training and on held-out questions."""
    import matplotlib.pyplot as plt

    from ..plotting import use_hangul_font

    use_hangul_font()
    labels = ["before SFT\n(학습 전, 평가용)", "after, training questions\n(학습 후, 학습용)",
              "after, held-out questions\n(학습 후, 평가용)"]
    shares = [before, trained, held_out]
    figure, axes = plt.subplots(figsize=(6, 3))
    bars = axes.bar(labels, shares, color=["gray", "tab:blue", "tab:orange"])
    axes.bar_label(bars, labels=[f"{share:.0%}" for share in shares])
    axes.set_ylim(0, 1.1)
    axes.set_ylabel("share with the right fact")
    axes.set_title("Memorised or learned? (외웠나, 배웠나)")
    axes.tick_params(axis="x", labelsize=8)
    figure.tight_layout()
    return figure


def plot_reward_margins(log_history: list[dict], held_out_margins: list[float]):
    """Left: DPO's reward margin on the training batches per step. Right: held-out margins per pair."""
    import matplotlib.pyplot as plt

    from ..plotting import use_hangul_font

    use_hangul_font()
    rows = [row for row in log_history if "rewards/margins" in row]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3))
    left.plot([row["step"] for row in rows], [row["rewards/margins"] for row in rows], marker=".")
    left.axhline(0, color="gray", linewidth=1)
    left.set_xlabel("step")
    left.set_title("training reward margin (학습 보상 차이)")
    right.hist(held_out_margins, bins=20)
    right.axvline(0, color="gray", linewidth=1)
    right.set_xlabel("beta × (chosen - rejected), held-out")
    right.set_title("held-out reward margins (평가 보상 차이)")
    figure.tight_layout()
    return figure
