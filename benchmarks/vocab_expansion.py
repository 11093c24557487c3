"""How long the vocabulary expansion of notebook 04 takes on this machine, and what it gains.

Run:  OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python benchmarks/vocab_expansion.py
Prints the best of three runs of each step (training the Korean BPE with `tokenizers` as notebook 04
does, appending its tokens) and the fertility before and after on the held-out text. The issue's
target: under 20 s on a CPU.
"""

from __future__ import annotations

import time

from helpers.lessons import fertility, vocab_expansion
from helpers.offline.llama3_tokenizer import load_llama3_tokenizer

NEW_TOKENS = 1024
REPEATS = 3


def best_of(function, repeats: int = REPEATS):
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return min(times), result


def train_korean_bpe(corpus: list[str], llama3):
    """Notebook 04's training cell: a byte-level BPE that cuts words like Llama-3."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = llama3.backend_tokenizer.pre_tokenizer
    trainer = trainers.BpeTrainer(vocab_size=8000, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(corpus, trainer)
    return bpe


def main() -> None:
    load_seconds, llama3 = best_of(load_llama3_tokenizer, 1)
    corpus = vocab_expansion.load_korean_corpus()
    train_seconds, korean_bpe = best_of(lambda: train_korean_bpe(corpus, llama3))
    append_seconds, expanded = best_of(
        lambda: vocab_expansion.append_korean_tokens(llama3, korean_bpe, len(llama3) + NEW_TOKENS))
    texts = fertility.load_eval_texts()
    print(f"load Llama-3 tokenizer (cached): {load_seconds:6.2f} s")
    print(f"train Korean BPE               : {train_seconds:6.2f} s  ({len(corpus)} paragraphs)")
    print(f"append {NEW_TOKENS:,} tokens            : {append_seconds:6.2f} s")
    print(f"expansion total                : {train_seconds + append_seconds:6.2f} s  (target < 20 s)")
    for language, text in texts.items():
        old, new = fertility.fertility(llama3, text), fertility.fertility(expanded, text)
        gain = fertility.characters_in_window(expanded, text) / fertility.characters_in_window(llama3, text) - 1
        print(f"{language}: tokens/char {old['tokens/char']:.3f} -> {new['tokens/char']:.3f}, "
              f"tokens/syllable {old['tokens/syllable'] or 0:.3f} -> {new['tokens/syllable'] or 0:.3f}, "
              f"context gain in 8,192 tokens {gain:+.1%}" + (" (card: about +25%)" if language == "ko" else ""))


if __name__ == "__main__":
    main()
