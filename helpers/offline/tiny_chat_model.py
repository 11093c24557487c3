"""Bllossom-tiny: a small Llama trained on this machine, so every lesson runs offline on a CPU.

It has the real Llama-3 tokenizer and chat template (so prompts, token ids and special tokens
are exactly Bllossom-8B's) and a 2-layer Llama body (hidden size 64) trained for about a minute on the
bilingual question-answer corpus in `helpers/data/chat_corpus.jsonl`. Greedy decoding of a
corpus question gives back its answer; hot sampling gives visible nonsense. It knows nothing
beyond those few hundred answers.

Training trick, so it fits in minutes: only the tokens that occur in the corpus get output rows
(the rest of the LM head is zero, so those tokens keep logit 0). The training loss is still the
exact cross-entropy over all 128,256 tokens, because the zero rows enter the softmax as one
constant term, log(number of unused tokens).
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

from ..catalog import BLLOSSOM_SYSTEM_PROMPT
from . import DATA_FOLDER
from .cache import cached_folder, recipe_hash
from .llama3_tokenizer import VOCAB_SIZE, load_llama3_tokenizer
from .training import deterministic_torch, full_vocabulary_loss, training_step, warmup_cosine_schedule

CORPUS_PATH = DATA_FOLDER / "chat_corpus.jsonl"

ARCHITECTURE = dict(
    vocab_size=VOCAB_SIZE, hidden_size=64, intermediate_size=256, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8192,
    rope_parameters={"rope_type": "default", "rope_theta": 500000.0}, rms_norm_eps=1e-5,
    tie_word_embeddings=False, bos_token_id=128000, eos_token_id=128009,
)
TRAINING = dict(epochs=24, batch_size=8, learning_rate=5e-3, warmup_steps=30, seed=0,
                threads=1, two_turn_examples=40)
# The card's generation settings, so `generate()` with no arguments behaves like Bllossom-8B.
GENERATION = dict(bos_token_id=128000, eos_token_id=[128001, 128009], do_sample=True,
                  temperature=0.6, top_p=0.9, max_new_tokens=64)


def load_corpus(path: Path | None = None) -> list[dict]:
    """The question-answer pairs Bllossom-tiny is trained on."""
    with open(path or CORPUS_PATH, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _conversations(pairs: list[dict], rng: random.Random, two_turn: int) -> list[list[dict]]:
    """Single-turn chats with the card's system prompt, plus a few two-turn chats (the tiny
    model follows those; a history it never saw can still throw it off)."""
    chats = []
    for pair in pairs:
        chats.append([{"role": "system", "content": BLLOSSOM_SYSTEM_PROMPT},
                      {"role": "user", "content": pair["question"]},
                      {"role": "assistant", "content": pair["answer"]}])
    for _ in range(two_turn):
        first, second = rng.sample(pairs, 2)
        chats.append([{"role": "system", "content": BLLOSSOM_SYSTEM_PROMPT},
                      {"role": "user", "content": first["question"]},
                      {"role": "assistant", "content": first["answer"]},
                      {"role": "user", "content": second["question"]},
                      {"role": "assistant", "content": second["answer"]}])
    return chats


def _tokenize_chat(tokenizer, chat: list[dict]) -> tuple[list[int], list[bool]]:
    """Token ids of a whole chat and, for each, whether the model should learn to write it
    (assistant replies and their closing <|eot_id|>)."""
    ids = tokenizer.apply_chat_template(chat, tokenize=True, return_dict=True)["input_ids"]
    learn = [False] * len(ids)
    for end in range(1, len(chat) + 1):
        if chat[end - 1]["role"] != "assistant":
            continue
        prompt = tokenizer.apply_chat_template(chat[: end - 1], add_generation_prompt=True,
                                               tokenize=True, return_dict=True)["input_ids"]
        upto = tokenizer.apply_chat_template(chat[:end], tokenize=True, return_dict=True)["input_ids"]
        assert ids[: len(upto)] == upto and upto[: len(prompt)] == prompt
        for position in range(len(prompt), len(upto)):
            learn[position] = True
    return ids, learn


def train_tiny_chat_model(folder: Path, epochs: int | None = None, log=print) -> dict:
    """Train Bllossom-tiny and save model, tokenizer and generation config into `folder`."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    settings = dict(TRAINING, epochs=epochs or TRAINING["epochs"])
    started = time.perf_counter()
    tokenizer = load_llama3_tokenizer()
    pairs = load_corpus()
    rng = random.Random(settings["seed"])
    examples = [_tokenize_chat(tokenizer, chat)
                for chat in _conversations(pairs, rng, settings["two_turn_examples"])]

    # Output rows only for tokens the model must learn to write; the rest stay at logit 0.
    writable = sorted({i for ids, learn in examples for i, keep in zip(ids, learn) if keep})
    column = {token: index for index, token in enumerate(writable)}
    # Likewise only the embeddings of tokens that occur are trained (the others keep their
    # random start), which spares the optimiser 16 M untouched parameters each step.
    readable = sorted({i for ids, _ in examples for i in ids})
    row_of = {token: index for index, token in enumerate(readable)}
    unused_log_count = math.log(VOCAB_SIZE - len(writable))

    with deterministic_torch(settings["threads"]):
        torch.manual_seed(settings["seed"])
        model = LlamaForCausalLM(LlamaConfig(**ARCHITECTURE))
        head = torch.nn.Parameter(model.lm_head.weight.detach()[writable].clone())
        embeddings = torch.nn.Parameter(model.model.embed_tokens.weight.detach()[readable].clone())
        body = model.model
        layers = [p for name, p in body.named_parameters() if not name.startswith("embed_tokens")]
        optimizer = torch.optim.AdamW(layers + [head, embeddings],
                                      lr=settings["learning_rate"], weight_decay=0.0)
        order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
        batches = [order[i: i + settings["batch_size"]]
                   for i in range(0, len(order), settings["batch_size"])]
        total_steps = settings["epochs"] * len(batches)
        schedule = warmup_cosine_schedule(optimizer, settings["warmup_steps"], total_steps)
        model.train()
        for epoch in range(settings["epochs"]):
            rng.shuffle(batches)
            epoch_loss = 0.0
            for batch in batches:
                width = max(len(examples[i][0]) for i in batch)
                ids = torch.zeros(len(batch), width, dtype=torch.long)
                mask = torch.zeros(len(batch), width, dtype=torch.long)
                targets = torch.full((len(batch), width), -1, dtype=torch.long)
                for row, index in enumerate(batch):
                    tokens, learn = examples[index]
                    ids[row, : len(tokens)] = torch.tensor([row_of[i] for i in tokens])
                    mask[row, : len(tokens)] = 1
                    for position in range(1, len(tokens)):  # predict token t from position t-1
                        if learn[position]:
                            targets[row, position - 1] = column[tokens[position]]
                # F.embedding rather than indexing: its gradient sums rows in a fixed order, where
                # indexing's parallel scatter-add does not, so the weights come out bit-identical.
                vectors = torch.nn.functional.embedding(ids, embeddings)
                hidden = body(inputs_embeds=vectors, attention_mask=mask).last_hidden_state
                loss = full_vocabulary_loss(hidden, head, targets, unused_log_count)
                epoch_loss += training_step(loss, optimizer, schedule)
            if log and (epoch % 5 == 4 or epoch == settings["epochs"] - 1):
                log(f"  epoch {epoch + 1}/{settings['epochs']}: loss {epoch_loss / len(batches):.3f}")

        with torch.no_grad():
            model.lm_head.weight.zero_()
            model.lm_head.weight[writable] = head.detach()
            model.model.embed_tokens.weight[readable] = embeddings.detach()
    model.eval()
    model.generation_config = GenerationConfig(**GENERATION)
    model.to(torch.bfloat16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    facts = dict(pairs=len(pairs), examples=len(examples), writable_tokens=len(writable),
                 tokens_per_epoch=sum(len(ids) for ids, _ in examples),
                 final_loss=round(epoch_loss / len(batches), 4),
                 seconds=round(time.perf_counter() - started, 1), **settings)
    (folder / "training_facts.json").write_text(json.dumps(facts, indent=2))
    return facts


def tiny_chat_model_folder(log=print) -> Path:
    """The Bllossom-tiny folder: reused when built before from the same recipe, else trained now."""
    import torch
    import transformers

    here = Path(__file__)
    recipe = recipe_hash(here, CORPUS_PATH, here.with_name("llama3_tokenizer.py"), here.with_name("training.py"),
                         BLLOSSOM_SYSTEM_PROMPT,
                         transformers.__version__, torch.__version__.split("+")[0])

    def build(folder: Path) -> None:
        if log:
            log("Training Bllossom-tiny on this machine (once; about a minute on one CPU core)...")
        facts = train_tiny_chat_model(folder, log=log)
        if log:
            log(f"  done in {facts['seconds']} s on {facts['pairs']} question-answer pairs.")

    return cached_folder("bllossom-tiny", recipe, build)
