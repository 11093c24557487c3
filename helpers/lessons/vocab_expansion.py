"""Notebook 04: vocabulary expansion: teach the Llama-3 tokenizer Korean words, and give the model rows for them.

Three steps, each one function that notebook 04 calls and explains:

1. `train_korean_bpe`: the `tokenizers` library trains a byte-level BPE on Korean text, with
   exactly Llama-3's pre-tokenizer, so its tokens are strings Llama-3 could also hold.
2. `append_korean_tokens`: the Korean tokens Llama-3 lacks are appended after the last old id,
   each with one new merge rule that builds it from the pieces Llama-3 already cuts it into.
   Old merges keep priority, so every old token keeps its id and English text is cut exactly
   as before. Special tokens are written into the vocabulary at their ids, because `tokenizers`
   renumbers added tokens it cannot find there when it loads a file.
3. `initialise_new_embeddings`: after `resize_token_embeddings`, each new row (input embedding
   and LM head) becomes the mean of the rows of its old pieces.
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


def load_korean_corpus(path: Path | str | None = None) -> list[str]:
    """The shipped Korean training corpus (or your own file): one paragraph per line."""
    with open(path or KOREAN_CORPUS_PATH, encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip()]


def hangul_share(texts: list[str]) -> float:
    """The share of letters that are Hangul syllables (0 for text without letters)."""
    letters = [c for text in texts for c in text if c.isalpha()]
    return sum(bool(HANGUL_SYLLABLE.match(c)) for c in letters) / len(letters) if letters else 0.0


def _check_korean_corpus(texts) -> list[str]:
    if isinstance(texts, str):
        texts = [texts]
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    if not texts:
        raise TutorialError("The training corpus is empty: give a list of Korean paragraphs, e.g. "
                            "helpers.vocab_expansion.load_korean_corpus().")
    share = hangul_share(texts)
    if share < MIN_HANGUL_SHARE:
        raise TutorialError(
            f"The training corpus does not look Korean: only {share:.0%} of its letters are Hangul "
            f"(at least {MIN_HANGUL_SHARE:.0%} needed). A Korean BPE learns Korean words only from "
            "Korean text; pass Korean paragraphs.")
    return texts


def train_korean_bpe(texts: list[str], base_tokenizer, vocab_size: int = 8000, min_frequency: int = 2):
    """A byte-level BPE trained by `tokenizers` on `texts`, cutting words exactly like
    `base_tokenizer` (its pre-tokenizer), so its tokens are strings the base could also hold.

    Its vocabulary lists tokens in the order they were learned: most useful first.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    texts = _check_korean_corpus(texts)
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if vocab_size <= len(alphabet):
        raise TutorialError(f"vocab_size={vocab_size} leaves no room for merges: a byte-level BPE "
                            f"starts with {len(alphabet)} byte tokens. Ask for a few thousand.")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = base_tokenizer.backend_tokenizer.pre_tokenizer
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  initial_alphabet=alphabet, show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


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
    if not isinstance(vocab_size, int) or vocab_size <= old_size:
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
    for token in korean_candidates(korean_bpe, vocab):
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


def new_token_pieces(base_tokenizer, expanded_tokenizer) -> dict[int, list[int]]:
    """For each new id, the old ids the base tokenizer cuts that token into."""
    old_model = base_tokenizer.backend_tokenizer.model
    new_ids = range(len(base_tokenizer), len(expanded_tokenizer))
    tokens = expanded_tokenizer.convert_ids_to_tokens(list(new_ids))
    return {new_id: [piece.id for piece in old_model.tokenize(token)]
            for new_id, token in zip(new_ids, tokens)}


def initialise_new_embeddings(model, pieces: dict[int, list[int]]) -> None:
    """Set each new row of the input embeddings and of the LM head to the mean of its pieces' rows.

    Call after `model.resize_token_embeddings(len(expanded_tokenizer))`. The mean is taken in
    float32 and stored in the model's dtype.
    """
    import torch

    if not pieces:
        return
    size = model.get_input_embeddings().weight.shape[0]
    if max(pieces) >= size:
        raise TutorialError(f"The model has {size:,} embedding rows but new id {max(pieces):,} needs "
                            "one: call model.resize_token_embeddings(len(expanded_tokenizer)) first.")
    layers = (model.get_input_embeddings(), model.get_output_embeddings())
    matrices = {id(m.weight): m.weight for m in layers if m is not None}  # one if tied
    with torch.no_grad():
        for weight in matrices.values():
            for new_id, old_ids in pieces.items():
                weight[new_id] = weight[old_ids].float().mean(0).to(weight.dtype)


def loss_per_character(model, tokenizer, texts: list[str]) -> float:
    """The model's cross-entropy on `texts` in nats per non-space character.

    Per character, not per token, so that tokenizers which cut the same text into different
    numbers of tokens can be compared: the total surprise of the text is what counts.
    """
    import torch

    total, characters = 0.0, 0
    for text in texts:
        ids = tokenizer(text, return_tensors="pt")["input_ids"].to(model.device)
        with torch.no_grad():
            mean_loss = model(input_ids=ids, labels=ids).loss.float().item()
        total += mean_loss * (ids.shape[1] - 1)  # the loss averages over the predicted tokens
        characters += sum(not c.isspace() for c in text)
    return total / characters
