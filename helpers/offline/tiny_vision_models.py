"""Offline vision stand-ins: a tiny LLaVA-NeXT and a tiny Mllama that really look at the picture.

Bllossom's two vision models have different designs. Bllossom-Vision-8B is a LLaVA-NeXT: the
picture is cut into tiles, each tile becomes a row of image tokens, and those tokens sit in the
text sequence. AICA-5B is an Mllama: the text holds one `<|image|>` token and some layers of the
language model look at the tiles through cross-attention. The stand-ins have the same two
designs, the real Llama-3 tokenizer (with the image token at id 128256, as in both real models)
and tiny vision towers at 32 pixels a tile. They are trained on this machine, in a few minutes
each, on pictures from `helpers.offline.vision_samples` (one coloured shape, drawn with much
variety: 32 to 1,024 pixels, aspect ratios 1:3 to 3:1, outlines, gradient, noisy and dark
backgrounds, tilt, blur, JPEG) with questions and answers in English and Korean, so their answers
in CI are about the picture in front of them. They know colours, shapes and positions, and nothing
else. Their held-out test draws pictures another way (`helpers.offline.other_pictures`).

Training has two stages. Stage 1 teaches the vision tower to see: a throw-away linear probe must
read colour, shape and position from every single picture vector. Stage 2 freezes the tower and
teaches the language model (and the projector) to answer questions, four per picture in a random
order, plus a few text-only chats so the models also answer without a picture.

Training trick, as for Bllossom-tiny: only the tokens that occur get trained embedding rows and
only the tokens the model must write get output rows (the rest of the LM head is zero, so those
tokens keep logit 0); the loss is still the exact cross-entropy over the whole vocabulary.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

from ..catalog import stand_in_names
from . import vision_samples
from .cache import cached_folder, recipe_hash
from .llama3_tokenizer import VOCAB_SIZE, llama3_vision_template, load_llama3_tokenizer
from .training import deterministic_torch, full_vocabulary_loss, training_step, warmup_cosine_schedule

IMAGE_TOKEN_ID = 128256  # both real Bllossom vision models put their image token here
PAD_TOKEN = "<|finetune_right_pad_id|>"  # id 128004, Llama-3.1's padding token
TILE = 32  # pixels a side of one tile the vision towers read
PATCH = 8  # pixels a side of one patch: a tile is a 4 x 4 grid of patches
# LLaVA-NeXT's any-resolution grid, [height, width], scaled down from the 8B's 336-pixel grid.
GRID_PINPOINTS = [[32, 64], [64, 32], [64, 64], [96, 64]]

TEXT = dict(hidden_size=64, intermediate_size=256, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=8192, rope_parameters={"rope_type": "default", "rope_theta": 500000.0},
            rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=128000, eos_token_id=128009,
            pad_token_id=128004, initializer_range=0.125)
# transformers' default initializer_range (0.02) suits hidden sizes in the thousands; at 64 it
# shrinks the picture's features to almost nothing and training crawls. 1/sqrt(64) does not.
INIT = 0.125
VISION_HIDDEN = 64
TRAINING = dict(vision_images=2400, images=800, turns=4, vision_steps=1000, vision_batch_size=32,
                vision_learning_rate=2e-3, epochs=6, batch_size=8, learning_rate=3e-3, head_boost=10,
                warmup_steps=20, seed=0, threads=1, text_only_share=0.1, single_vector_weight=0.2)
# What differs per design: LLaVA-NeXT's vision steps are cheap (one tile a picture) but its language
# model needs longer to find the question among the image tokens; Mllama is the other way round.
TRAINING_PER_MODEL = {"tiny-llava-next": dict(vision_steps=1500, epochs=8),
                      "tiny-mllama": dict(vision_batch_size=16, epochs=6)}
GENERATION = dict(bos_token_id=128000, eos_token_id=[128001, 128009], pad_token_id=128004,
                  do_sample=False, max_new_tokens=32)


def build_processor(name: str):
    """The processor of a stand-in: the Llama-3 tokenizer with an image token, and a PIL image
    processor that cuts pictures into 32-pixel tiles."""
    from tokenizers import AddedToken

    tokenizer = load_llama3_tokenizer()
    if name == "tiny-llava-next":
        from transformers import LlavaNextProcessor
        from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

        image_token, image_text = "<image>", "<image>\n"  # the 8B card's prompt: "<image>\n" + question
    elif name == "tiny-mllama":
        from transformers import MllamaProcessor
        from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil

        image_token, image_text = "<|image|>", "<|image|>"
    else:
        raise ValueError(f"unknown vision stand-in {name!r}")
    tokenizer.add_tokens([AddedToken(image_token, special=True, normalized=False)], special_tokens=True)
    tokenizer.pad_token = PAD_TOKEN
    template = llama3_vision_template(image_text)
    if name == "tiny-llava-next":
        images = LlavaNextImageProcessorPil(size={"shortest_edge": TILE}, crop_size={"height": TILE, "width": TILE},
                                            image_grid_pinpoints=GRID_PINPOINTS)
        processor = LlavaNextProcessor(image_processor=images, tokenizer=tokenizer, patch_size=PATCH,
                                       vision_feature_select_strategy="default", image_token=image_token,
                                       num_additional_image_tokens=1, chat_template=template)
    else:
        images = MllamaImageProcessorPil(size={"height": TILE, "width": TILE}, max_image_tiles=4)
        processor = MllamaProcessor(image_processor=images, tokenizer=tokenizer, chat_template=template)
    assert tokenizer.convert_tokens_to_ids(image_token) == IMAGE_TOKEN_ID
    return processor


def build_model(name: str, seed: int = 0):
    """A randomly initialised stand-in with the full Llama-3 vocabulary."""
    import torch
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        MllamaConfig,
        MllamaForConditionalGeneration,
        MllamaTextConfig,
        MllamaVisionConfig,
    )

    torch.manual_seed(seed)
    if name == "tiny-llava-next":
        config = LlavaNextConfig(
            vision_config=CLIPVisionConfig(hidden_size=VISION_HIDDEN, intermediate_size=2 * VISION_HIDDEN,
                                           num_hidden_layers=2, num_attention_heads=4, image_size=TILE,
                                           patch_size=PATCH, projection_dim=VISION_HIDDEN),
            text_config=LlamaConfig(vocab_size=VOCAB_SIZE + 1, num_hidden_layers=2, **TEXT),
            image_token_index=IMAGE_TOKEN_ID, image_grid_pinpoints=GRID_PINPOINTS,
            vision_feature_layer=-1, vision_feature_select_strategy="default", initializer_range=INIT)
        return LlavaNextForConditionalGeneration(config)
    config = MllamaConfig(
        # Two layers within each tile, then one across the tiles (the 11B has 32 and 8).
        vision_config=MllamaVisionConfig(hidden_size=VISION_HIDDEN, num_hidden_layers=2, num_global_layers=1,
                                         attention_heads=4, intermediate_size=2 * VISION_HIDDEN,
                                         vision_output_dim=2 * VISION_HIDDEN, image_size=TILE, patch_size=PATCH,
                                         max_num_tiles=4, intermediate_layers_indices=[0], initializer_range=INIT),
        # Three layers, the middle one looking at the picture (the 11B has 8 such among 40).
        text_config=MllamaTextConfig(vocab_size=VOCAB_SIZE, num_hidden_layers=3, cross_attention_layers=[1],
                                     **TEXT),
        image_token_index=IMAGE_TOKEN_ID, initializer_range=INIT)
    model = MllamaForConditionalGeneration(config)
    with torch.no_grad():  # open the cross-attention gates a little so the picture is heard from step one
        for layer in model.model.language_model.layers:
            if hasattr(layer, "cross_attn_attn_gate"):
                layer.cross_attn_attn_gate.fill_(0.5)
                layer.cross_attn_mlp_gate.fill_(0.5)
    return model


# ---------------------------------------------------------------------------------------------
# Training data: one chat per picture, asking all four kinds of question in a random order.


def _chat_for_scene(scene, rng: random.Random, turns: int | None = None) -> list[dict]:
    """A chat about `scene` asking `turns` (default: all four) kinds of question in a random order."""
    kinds = list(vision_samples.QUESTIONS)
    rng.shuffle(kinds)
    kinds = kinds[: turns or len(kinds)]
    chat = []
    for turn, kind in enumerate(kinds):
        language = rng.choice(["en", "ko"])
        question = rng.choice(vision_samples.QUESTIONS[kind][language])
        content = [{"type": "image"}, {"type": "text", "text": question}] if turn == 0 else question
        chat += [{"role": "user", "content": content},
                 {"role": "assistant", "content": scene.answer(kind, language)}]
    return chat


def _learn_mask(ids: list[int], assistant_header: list[int], eot: int) -> list[bool]:
    """For each token, whether the model must learn to write it: assistant replies and their
    closing <|eot_id|>."""
    learn, writing = [False] * len(ids), False
    width = len(assistant_header)
    for position, token in enumerate(ids):
        if writing:
            learn[position] = True
            writing = token != eot
        elif ids[position - width + 1: position + 1] == assistant_header:
            writing = True
    return learn


def encode_chat(processor, chat: list[dict], image=None) -> dict:
    """Model inputs (unbatched tensors) and the learn mask for one chat."""
    tokenizer = processor.tokenizer
    text = processor.apply_chat_template(chat, tokenize=False)
    inputs = processor(text=text, images=[image] if image is not None else None,
                       add_special_tokens=False, return_tensors="pt")
    header = tokenizer.encode("<|start_header_id|>assistant<|end_header_id|>\n\n", add_special_tokens=False)
    ids = inputs["input_ids"][0].tolist()
    example = {key: value[0] for key, value in inputs.items() if key != "attention_mask"}
    example["learn"] = _learn_mask(ids, header, tokenizer.convert_tokens_to_ids("<|eot_id|>"))
    return example


def _collate(examples: list[dict]) -> dict:
    """Right-padded batch tensors from `encode_chat` examples (images of different sizes too)."""
    import torch

    width = max(len(e["input_ids"]) for e in examples)
    batch = {"input_ids": torch.zeros(len(examples), width, dtype=torch.long),
             "attention_mask": torch.zeros(len(examples), width, dtype=torch.long)}
    for row, e in enumerate(examples):
        batch["input_ids"][row, : len(e["input_ids"])] = e["input_ids"]
        batch["attention_mask"][row, : len(e["input_ids"])] = 1
    if "pixel_values" not in examples[0]:
        return batch
    if "image_sizes" in examples[0]:  # LLaVA-NeXT: a different number of tiles per picture
        crops = max(e["pixel_values"].shape[0] for e in examples)
        pixels = torch.zeros(len(examples), crops, *examples[0]["pixel_values"].shape[1:])
        for row, e in enumerate(examples):
            pixels[row, : e["pixel_values"].shape[0]] = e["pixel_values"]
        batch.update(pixel_values=pixels, image_sizes=torch.stack([e["image_sizes"] for e in examples]))
    else:  # Mllama: always max_num_tiles tiles, a mask says which are real
        cross = torch.zeros(len(examples), width, *examples[0]["cross_attention_mask"].shape[1:], dtype=torch.long)
        for row, e in enumerate(examples):
            cross[row, : len(e["input_ids"])] = e["cross_attention_mask"]
        batch.update(pixel_values=torch.stack([e["pixel_values"] for e in examples]),
                     aspect_ratio_ids=torch.stack([e["aspect_ratio_ids"] for e in examples]),
                     aspect_ratio_mask=torch.stack([e["aspect_ratio_mask"] for e in examples]),
                     cross_attention_mask=cross)
    return batch


class _CompactEmbedding:
    """Factory for an embedding that trains only the rows of tokens that occur."""

    @staticmethod
    def make(full_weight, used: list[int]):
        import torch

        class CompactEmbedding(torch.nn.Module):
            def __init__(self):
                super().__init__()
                table = torch.zeros(full_weight.shape[0], dtype=torch.long)
                table[torch.tensor(used)] = torch.arange(len(used))
                self.register_buffer("table", table, persistent=False)
                self.weight = torch.nn.Parameter(full_weight.detach()[used].clone())

            def forward(self, ids):
                return self.weight[self.table[ids]]

        return CompactEmbedding()


def _attribute_labels(scene) -> tuple[int, int, int]:
    return (list(vision_samples.COLOURS).index(scene.colour), list(vision_samples.SHAPES).index(scene.shape),
            list(vision_samples.POSITIONS).index(scene.position))


ATTRIBUTE_SLICES = [(0, len(vision_samples.COLOURS)),
                    (len(vision_samples.COLOURS), len(vision_samples.COLOURS) + len(vision_samples.SHAPES)),
                    (len(vision_samples.COLOURS) + len(vision_samples.SHAPES),
                     len(vision_samples.COLOURS) + len(vision_samples.SHAPES) + len(vision_samples.POSITIONS))]


def _picture_pool(processor, drawn, chunk: int = 100) -> list[dict]:
    """Each drawn picture through the image processor alone (no text): what stage 1 trains on."""
    pool = []
    mllama = not hasattr(processor, "patch_size")
    for start in range(0, len(drawn), chunk):
        pictures = drawn[start: start + chunk]
        if mllama:
            out = processor.image_processor([[p] for p in pictures], return_tensors="pt")
            pool += [{"pixel_values": out["pixel_values"][i], "aspect_ratio_ids": out["aspect_ratio_ids"][i],
                      "aspect_ratio_mask": out["aspect_ratio_mask"][i]} for i in range(len(pictures))]
        else:
            out = processor.image_processor(pictures, return_tensors="pt")
            pool += [{"whole": out["pixel_values"][i, 0]} for i in range(len(pictures))]
    return pool


def _picture_vectors(model, batch):
    """The projected picture vectors the language model reads, (pictures, positions, hidden), and
    which positions are real: for LLaVA-NeXT those of the whole picture shrunk to one tile, for
    Mllama every patch of every real tile."""
    import torch

    inner = model.model
    if "whole" in batch:
        whole = batch["whole"]
        layer = model.config.vision_feature_layer
        states = inner.vision_tower(whole, output_hidden_states=True).hidden_states[layer][:, 1:]
        vectors = inner.multi_modal_projector(states)
        return vectors, torch.ones(vectors.shape[:2], dtype=torch.bool)
    states = inner.vision_model(pixel_values=batch["pixel_values"], aspect_ratio_ids=batch["aspect_ratio_ids"],
                                aspect_ratio_mask=batch["aspect_ratio_mask"]).last_hidden_state
    vectors = inner.multi_modal_projector(states)  # (pictures, 1, tiles, patches, hidden)
    real = batch["aspect_ratio_mask"][:, 0].bool()[:, :, None].expand(-1, -1, vectors.shape[3])
    return vectors.reshape(vectors.shape[0], -1, vectors.shape[-1]), real.reshape(vectors.shape[0], -1)


def _train_vision_tower(model, pool, labels, settings, rng, log, held_out=None) -> dict:
    """Stage 1: teach the vision tower and projector to see. A throw-away probe reads colour, shape
    and position from an attention-weighted mean of a picture's vectors, so the vectors where the
    shape is must tell what it is (a small shape in a big picture covers a few patches only); a
    lighter second loss asks every single vector too, so the language model finds the answer
    wherever it looks. Returns the probe's accuracy on `held_out` = (pool, labels) pictures it never
    trained on."""
    import torch

    inner = model.model
    tower = inner.vision_tower if hasattr(inner, "vision_tower") else inner.vision_model
    parameters = list(tower.parameters()) + list(inner.multi_modal_projector.parameters())
    hidden = model.config.get_text_config().hidden_size
    probe = torch.nn.Linear(hidden, ATTRIBUTE_SLICES[-1][1])
    attention = torch.nn.Linear(hidden, 1)  # how much each vector counts in the pooled one
    optimizer = torch.optim.AdamW(parameters + list(probe.parameters()) + list(attention.parameters()),
                                  lr=settings["vision_learning_rate"], weight_decay=0.0)
    steps, size = settings["vision_steps"], settings["vision_batch_size"]
    schedule = warmup_cosine_schedule(optimizer, 0, steps)

    def probe_logits(pictures, chosen_labels):
        batch = {key: torch.stack([p[key] for p in pictures]) for key in pictures[0]}
        vectors, real = _picture_vectors(model, batch)
        weights = attention(vectors).squeeze(-1).masked_fill(~real, float("-inf")).softmax(1)
        pooled = (weights[..., None] * vectors).sum(1)
        per_picture = torch.tensor(chosen_labels)
        per_vector = per_picture[:, None, :].expand(-1, real.shape[1], -1)[real]
        return probe(pooled), per_picture, probe(vectors[real]), per_vector

    def attribute_loss(logits, targets):
        return sum(torch.nn.functional.cross_entropy(logits[:, a:b], targets[:, k])
                   for k, (a, b) in enumerate(ATTRIBUTE_SLICES))

    for _ in range(steps):
        chosen = [rng.randrange(len(pool)) for _ in range(size)]
        pooled, per_picture, single, per_vector = probe_logits([pool[i] for i in chosen], [labels[i] for i in chosen])
        loss = (attribute_loss(pooled, per_picture)
                + settings["single_vector_weight"] * attribute_loss(single, per_vector))
        training_step(loss, optimizer, schedule)
    accuracy = {}
    if held_out:
        with torch.no_grad():
            pooled, per_picture, _, _ = probe_logits(*held_out)
        for (a, b), kind, column in zip(ATTRIBUTE_SLICES, ("colour", "shape", "position"), per_picture.T):
            accuracy[kind] = float((pooled[:, a:b].argmax(1) == column).float().mean())
        if log:
            log("  vision tower: on new pictures the pooled picture vectors tell " +
                ", ".join(f"{k} {v:.0%}" for k, v in accuracy.items()))
    return accuracy


def train_tiny_vision_model(name: str, folder: Path, log=print, **overrides) -> dict:
    """Train one stand-in and save model, processor and generation config into `folder`."""
    import torch
    from transformers import GenerationConfig

    settings = {**TRAINING, **TRAINING_PER_MODEL[name], **overrides}
    started = time.perf_counter()
    rng = random.Random(settings["seed"])
    with deterministic_torch(settings["threads"]):
        torch.manual_seed(settings["seed"])
        processor = build_processor(name)
        scenes = vision_samples.random_scenes(settings["vision_images"], seed=settings["seed"])
        drawn = [vision_samples.draw_for_training(scene) for scene in scenes]
        pool = _picture_pool(processor, drawn)
        turns = settings["turns"]
        examples = [encode_chat(processor, _chat_for_scene(scene, rng, turns or rng.randint(1, 4)), picture)
                    for scene, picture in zip(scenes[: settings["images"]], drawn)]
        del drawn
        text_only = [encode_chat(processor, [{"role": "user", "content": question},
                                             {"role": "assistant", "content": answer}])
                     for question, answer in vision_samples.TEXT_ONLY]
        prepared = time.perf_counter() - started

        model = build_model(name, seed=settings["seed"])
        model.train()
        checks = vision_samples.random_scenes(100, seed=settings["seed"] + 1)
        held_out = (_picture_pool(processor, [vision_samples.draw_for_training(s) for s in checks]),
                    [_attribute_labels(s) for s in checks])
        vision_accuracy = _train_vision_tower(model, pool, [_attribute_labels(s) for s in scenes], settings, rng,
                                              log, held_out)
        del pool
        seen = time.perf_counter() - started

        # Stage 2: the language model learns to answer; the vision tower stays as stage 1 left it.
        every = examples + text_only
        writable = sorted({int(i) for e in every for i, keep in zip(e["input_ids"], e["learn"]) if keep})
        readable = sorted({int(i) for e in every for i in e["input_ids"]})
        column = torch.full((VOCAB_SIZE + 8,), -100, dtype=torch.long)
        column[torch.tensor(writable)] = torch.arange(len(writable))
        unused_log_count = math.log(VOCAB_SIZE - len(writable))
        targets_of = []
        for e in every:
            learn = torch.tensor(e["learn"][1:] + [False])
            targets_of.append(torch.where(learn, column[torch.roll(e["input_ids"], -1)], torch.tensor(-100)))

        full_embedding = model.get_input_embeddings()
        compact = _CompactEmbedding.make(full_embedding.weight, readable)
        model.set_input_embeddings(compact)
        head = torch.nn.Parameter(model.lm_head.weight.detach()[writable].clone())
        body = model.model
        tower = body.vision_tower if hasattr(body, "vision_tower") else body.vision_model
        for parameter in tower.parameters():
            parameter.requires_grad_(False)
        trainable = [p for n, p in body.named_parameters()
                     if p.requires_grad and ("embed_tokens" not in n or p is compact.weight)]
        rate = settings["learning_rate"]
        optimizer = torch.optim.AdamW([{"params": trainable}, {"params": [head], "lr": rate * settings["head_boost"]}],
                                      lr=rate, weight_decay=0.0)
        size = settings["batch_size"]
        picture_batches = math.ceil(len(examples) / size)
        text_batches = max(1, round(picture_batches * settings["text_only_share"]))
        total_steps = settings["epochs"] * (picture_batches + text_batches)
        schedule = warmup_cosine_schedule(optimizer, settings["warmup_steps"], total_steps)
        for epoch in range(settings["epochs"]):
            order = list(range(len(examples)))
            rng.shuffle(order)
            batches = [order[i: i + size] for i in range(0, len(order), size)]
            batches += [[len(examples) + rng.randrange(len(text_only)) for _ in range(size)]
                        for _ in range(text_batches)]
            rng.shuffle(batches)
            epoch_loss = 0.0
            for batch in batches:
                inputs = _collate([every[i] for i in batch])
                width = inputs["input_ids"].shape[1]
                targets = torch.full((len(batch), width), -100, dtype=torch.long)
                for row, index in enumerate(batch):
                    targets[row, : len(targets_of[index])] = targets_of[index]
                hidden = body(**inputs, use_cache=False).last_hidden_state
                loss = full_vocabulary_loss(hidden, head, targets, unused_log_count)
                epoch_loss += training_step(loss, optimizer, schedule)
            if log:
                log(f"  epoch {epoch + 1}/{settings['epochs']}: loss {epoch_loss / len(batches):.3f}")

        with torch.no_grad():
            full_embedding.weight[readable] = compact.weight.detach()
            model.set_input_embeddings(full_embedding)
            model.lm_head.weight.zero_()
            model.lm_head.weight[writable] = head.detach()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    model.eval()
    model.generation_config = GenerationConfig(**GENERATION)
    model.to(torch.bfloat16).save_pretrained(folder)
    processor.save_pretrained(folder)
    facts = dict(name=name, pictures=len(examples), text_only_chats=len(text_only),
                 writable_tokens=len(writable), steps=total_steps,
                 vision_probe_accuracy={k: round(v, 3) for k, v in vision_accuracy.items()},
                 final_loss=round(epoch_loss / len(batches), 4), prepare_seconds=round(prepared, 1),
                 vision_seconds=round(seen - prepared, 1), seconds=round(time.perf_counter() - started, 1),
                 **settings)
    (folder / "training_facts.json").write_text(json.dumps(facts, indent=2))
    return facts


def tiny_vision_model_folder(name: str = "tiny-llava-next", log=print) -> Path:
    """The folder of a vision stand-in: reused when built before from the same recipe, else trained now."""
    import PIL
    import torch
    import transformers

    if name not in stand_in_names("vision"):
        raise ValueError(f"unknown vision stand-in {name!r}; known: {', '.join(stand_in_names('vision'))}")
    here = Path(__file__)
    recipe = recipe_hash(name, here, here.with_name("vision_samples.py"), here.with_name("llama3_tokenizer.py"),
                         here.with_name("training.py"),  # the shared loss, schedule and step
                         llama3_vision_template("<image>\n"), llama3_vision_template("<|image|>"),
                         transformers.__version__,
                         torch.__version__.split("+")[0], PIL.__version__)

    def build(folder: Path) -> None:
        if log:
            log(f"Training {name} on this machine (once; one to three minutes on 2 CPU cores)...")
        facts = train_tiny_vision_model(name, folder, log=log)
        if log:
            log(f"  done in {facts['seconds']} s on {facts['pictures']} generated pictures.")

    return cached_folder(name, recipe, build)
