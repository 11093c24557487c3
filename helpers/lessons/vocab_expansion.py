"""Notebook 04: vocabulary expansion: the parts around the lesson's own code.

Notebook 04 shows the lesson in its cells: the `tokenizers` BPE training call and the
mean-of-pieces initialisation of new embedding rows. What would distract from it lives here:

- the corpus and its checks (`load_korean_corpus`, `check_korean_corpus`);
- reading byte-level token strings (`token_text`);
- `append_korean_tokens`: rewriting the tokenizer JSON so the Korean tokens Llama-3 lacks are
  appended after the last old id, each with one new merge rule that builds it from the pieces
  Llama-3 already cuts it into. Old merges keep priority, so every old token keeps its id and
  English text is cut exactly as before. Special tokens are written into the vocabulary at their
  ids, because `tokenizers` renumbers added tokens it cannot find there when it loads a file;
- `check_rows_exist`, the input check before new embedding rows are written;
- `loss_per_character`, the measure that compares tokenizers fairly.
"""

from __future__ import annotations

import codecs
import json
import re
from functools import lru_cache
from pathlib import Path

from ..errors import TutorialError
from ..offline import DATA_FOLDER

KOREAN_CORPUS_PATH = DATA_FOLDER / "ko_bpe_corpus.txt"
HANGUL_SYLLABLE = re.compile("[가-힣]")
# UTF-8 lead bytes of the three-byte block that holds the Hangul syllables (U+A000-U+DFFF).
# Only tokens containing one are appended, so text without Hangul (English, code) never meets
# a new merge and is tokenized exactly as by Llama-3.
HANGUL_LEAD_BYTES = range(0xEA, 0xEE)
MIN_HANGUL_SHARE = 0.5
SHORTFALL_WARNING_SHARE = 0.5  # say so when the BPE yields less than half the new tokens asked for


def load_korean_corpus(path: Path | str | None = None) -> list[str]:
    """The shipped Korean training corpus (or your own file), one paragraph per line, checked
    with `check_korean_corpus`."""
    with open(path or KOREAN_CORPUS_PATH, encoding="utf-8") as handle:
        return check_korean_corpus([line.strip() for line in handle if line.strip()])


def hangul_share(texts: list[str]) -> float:
    """The share of letters that are Hangul syllables (0 for text without letters)."""
    letters = [c for text in texts for c in text if c.isalpha()]
    return sum(bool(HANGUL_SYLLABLE.match(c)) for c in letters) / len(letters) if letters else 0.0


def check_korean_corpus(texts) -> list[str]:
    """The non-empty paragraphs of `texts`, or a TutorialError when there are none or they are not
    Korean: a Korean BPE learns Korean words only from Korean text."""
    if isinstance(texts, str):
        texts = [texts]
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    if not texts:
        raise TutorialError("The training corpus is empty: give a list of Korean paragraphs, e.g. "
                            "helpers.lessons.vocab_expansion.load_korean_corpus().")
    share = hangul_share(texts)
    if share < MIN_HANGUL_SHARE:
        raise TutorialError(
            f"The training corpus does not look Korean: only {share:.0%} of its letters are Hangul "
            f"(at least {MIN_HANGUL_SHARE:.0%} needed). A Korean BPE learns Korean words only from "
            "Korean text; pass Korean paragraphs.")
    return texts


def check_vocab_size(value, example: str) -> int:
    """A whole number of tokens, or a TutorialError that says so (a string such as "129280" would
    otherwise fail later for a wrong reason)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TutorialError(f"vocab_size must be a whole number of tokens ({example}), not {value!r} "
                            f"({type(value).__name__}). Write it without quotes.")
    return value


@lru_cache(maxsize=1)
def _byte_of_char() -> dict[str, int]:
    """Byte-level BPE writes each byte as one printable character; this maps it back."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            chars[chr(byte)] = byte
        else:
            chars[chr(256 + extra)] = byte
            extra += 1
    return chars


def token_bytes(token: str) -> bytes:
    """The raw bytes behind a byte-level token string such as 'Ġíķľ'."""
    table = _byte_of_char()
    return bytes(table[c] for c in token)


def _bytes_as_hex(error: UnicodeDecodeError):
    return "".join(f"<0x{b:02X}>" for b in error.object[error.start: error.end]), error.end


codecs.register_error("tutorial-hex", _bytes_as_hex)


def readable(raw: bytes) -> str:
    """Bytes as text, with bytes that are not part of a whole character shown as <0xNN>."""
    return raw.decode("utf-8", errors="tutorial-hex")


def token_text(token: str) -> str:
    """A byte-level token string such as 'Ġíķľ' as readable text (' 한'), partial bytes as <0xNN>."""
    return readable(token_bytes(token))


def _is_whole_korean(token: str) -> bool:
    """True for a token made of whole characters, at least one of them in the Hangul block."""
    raw = token_bytes(token)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False  # a byte fragment of a character: unreadable, and rarely useful on its own
    return any(b in HANGUL_LEAD_BYTES for b in raw)


def _cut(word: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    """How a BPE with these merge ranks cuts one pre-tokenized word (lowest rank first, left first)."""
    pieces = list(word)
    while len(pieces) > 1:
        pairs = [(ranks.get((a, b)), i) for i, (a, b) in enumerate(zip(pieces, pieces[1:]))]
        pairs = [(rank, i) for rank, i in pairs if rank is not None]
        if not pairs:
            break
        _, i = min(pairs)
        pieces[i: i + 2] = [pieces[i] + pieces[i + 1]]
    return pieces


def korean_candidates(korean_bpe, old_vocab: dict[str, int]) -> list[str]:
    """The Korean BPE's tokens that the old vocabulary lacks, most useful first.

    Only tokens of whole characters with Hangul in them: byte fragments of a syllable (which a
    byte-level BPE also learns) are unreadable and help little on their own.
    """
    learned = korean_bpe.get_vocab()
    return [token for token in sorted(learned, key=learned.get)
            if token not in old_vocab and _is_whole_korean(token)]


def append_korean_tokens(base_tokenizer, korean_bpe, vocab_size: int):
    """A copy of `base_tokenizer` that also holds the Korean BPE's tokens, up to `vocab_size` in all.

    Old ids 0..len(base)-1 (special tokens included) do not move; new tokens get the ids after.
    """
    old_size = len(base_tokenizer)
    check_vocab_size(vocab_size, f"e.g. vocab_size={old_size + 4096}")
    if vocab_size <= old_size:
        raise TutorialError(
            f"vocab_size={vocab_size} is not larger than the {old_size:,} tokens the tokenizer "
            f"already has, so nothing could be added (and old ids must not be dropped). Ask for "
            f"more, e.g. vocab_size={old_size + 4096}.")
    spec = json.loads(base_tokenizer.backend_tokenizer.to_str())
    model = spec["model"]
    if model.get("type") != "BPE" or model.get("ignore_merges"):
        raise TutorialError("append_korean_tokens expects a byte-level BPE tokenizer like Llama-3's.")
    vocab = model["vocab"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    # Special tokens go into the vocabulary at their ids: otherwise `tokenizers` gives them new
    # ids after the last vocabulary entry when the file is loaded, and <|eot_id|> would move.
    for added in spec["added_tokens"]:
        vocab[added["content"]] = added["id"]
    if sorted(vocab.values()) != list(range(old_size)):
        raise TutorialError("The base tokenizer's ids have gaps or repeats, so new ids cannot "
                            "simply follow the old ones.")
    ranks = {pair: rank for rank, pair in enumerate(merges)}
    candidates = korean_candidates(korean_bpe, vocab)
    for token in candidates:
        if len(vocab) >= vocab_size:
            break
        if token in vocab:  # added already, as a step on the way to a longer token
            continue
        pieces = _cut(token, ranks)  # how the tokenizer built so far cuts it
        joined = pieces[0]
        for piece in pieces[1:]:  # one merge per step; a longer chain adds the steps as tokens
            if (joined, piece) not in ranks:
                ranks[(joined, piece)] = len(merges)
                merges.append((joined, piece))
            joined += piece
            if joined not in vocab:
                vocab[joined] = len(vocab)
    added, asked = len(vocab) - old_size, vocab_size - old_size
    if added < asked * SHORTFALL_WARNING_SHARE:
        print(f"\N{CHERRY BLOSSOM} Asked for {asked:,} new tokens but the Korean BPE offered only {added:,} "
              f"Korean tokens that Llama-3 lacks ({len(candidates):,} candidates). Train it with a larger "
              "vocab_size or on more Korean text to get more.")
    return _tokenizer_like(base_tokenizer, spec, vocab, merges)


def _tokenizer_like(base_tokenizer, spec: dict, vocab: dict[str, int], merges: list[tuple[str, str]]):
    """A transformers tokenizer with `base_tokenizer`'s settings around a new BPE vocabulary."""
    import tempfile

    from tokenizers import AddedToken, Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    backend = base_tokenizer.backend_tokenizer
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tokenizer.normalizer = backend.normalizer
    tokenizer.pre_tokenizer = backend.pre_tokenizer
    tokenizer.post_processor = backend.post_processor
    tokenizer.decoder = backend.decoder
    tokenizer.add_special_tokens([
        AddedToken(t["content"], single_word=t["single_word"], lstrip=t["lstrip"], rstrip=t["rstrip"],
                   normalized=t["normalized"], special=t["special"])
        for t in sorted(spec["added_tokens"], key=lambda t: t["id"])])
    with tempfile.TemporaryDirectory() as folder:  # a file loads faster than a deep copy
        path = f"{folder}/tokenizer.json"
        tokenizer.save(path)
        expanded = PreTrainedTokenizerFast(
            tokenizer_file=path, bos_token=base_tokenizer.bos_token,
            eos_token=base_tokenizer.eos_token, pad_token=base_tokenizer.pad_token,
            clean_up_tokenization_spaces=False, model_max_length=base_tokenizer.model_max_length)
    expanded.chat_template = base_tokenizer.chat_template
    return expanded


def check_rows_exist(model, new_ids) -> None:
    """A TutorialError unless `model` already has an embedding row for every id in `new_ids`."""
    size = model.get_input_embeddings().weight.shape[0]
    needed = max(new_ids, default=-1)
    if needed >= size:
        raise TutorialError(f"The model has {size:,} embedding rows but new id {needed:,} needs one: "
                            "call model.resize_token_embeddings(len(expanded_tokenizer)) first.")


def loss_per_character(model, tokenizer, texts: list[str]) -> float:
    """The model's cross-entropy on `texts` in nats per non-space character.

    Per character, not per token, so that tokenizers which cut the same text into different
    numbers of tokens can be compared: the total surprise of the text is what counts.
    """
    import torch

    if isinstance(texts, str):
        texts = [texts]
    rows = model.get_input_embeddings().weight.shape[0]
    total, characters = 0.0, 0
    for text in texts:
        ids = tokenizer(text, return_tensors="pt")["input_ids"].to(model.device)
        if ids.numel() and int(ids.max()) >= rows:
            raise TutorialError(
                f"The tokenizer gives token id {int(ids.max()):,} but the model has only {rows:,} embedding "
                f"rows: it was not resized for the expanded tokenizer ({len(tokenizer):,} tokens). Call "
                "model.resize_token_embeddings(len(expanded_tokenizer)) first (and give the new rows a start, as "
                "notebook 04 does).")
        with torch.no_grad():
            mean_loss = model(input_ids=ids, labels=ids).loss.float().item()
        total += mean_loss * (ids.shape[1] - 1)  # the loss averages over the predicted tokens
        characters += sum(not c.isspace() for c in text)
    if not characters:
        raise TutorialError("The texts have no characters other than spaces, so there is no loss per "
                            "character to measure. Pass some text.")
    return total / characters
