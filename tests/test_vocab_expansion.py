"""Vocabulary expansion: old ids and special tokens stay put, text round-trips, Korean gets
cheaper while English does not change, each new token is built from old pieces, and every bad
input gets a TutorialError that says what to do.

The BPE training and the mean-of-pieces initialisation are notebook 04's own cells (its check-yourself
cell asserts the exact means); the fixture below trains a BPE the same way, with `tokenizers`."""

from __future__ import annotations

import json

import pytest

from helpers import TutorialError
from helpers.lessons import fertility, vocab_expansion
from helpers.offline.llama3_tokenizer import SPECIAL_IDS, load_llama3_tokenizer

NEW_TOKENS = 1024


@pytest.fixture(scope="module")
def llama3():
    return load_llama3_tokenizer()


def train_korean_bpe(llama3, vocab_size: int = 8000, texts=None):
    """A byte-level BPE on `texts` (default: the shipped Korean corpus), cutting words like Llama-3
    (as notebook 04 does). The other test modules that need a Korean BPE train it here too."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = llama3.backend_tokenizer.pre_tokenizer
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(texts if texts is not None else vocab_expansion.load_korean_corpus(), trainer)
    return bpe


@pytest.fixture(scope="module")
def korean_bpe(llama3):
    return train_korean_bpe(llama3)


@pytest.fixture(scope="module")
def expanded(llama3, korean_bpe):
    return vocab_expansion.append_korean_tokens(llama3, korean_bpe, len(llama3) + NEW_TOKENS)


@pytest.fixture(scope="module")
def reloaded(expanded, tmp_path_factory):
    """The expanded tokenizer after a save and a fresh load: where renumbering would show."""
    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("expanded")
    expanded.save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def eval_texts():
    return fertility.load_eval_texts()


# --- the data -------------------------------------------------------------------------------

def test_held_out_text_is_not_in_the_training_corpus(eval_texts):
    corpus = "\n".join(vocab_expansion.load_korean_corpus())
    sentences = [s.strip() for s in eval_texts["ko"].replace("\n", " ").split(". ") if len(s.strip()) > 15]
    assert sentences and not [s for s in sentences if s in corpus]


def test_corpus_is_korean_and_large_enough_for_a_useful_bpe():
    corpus = vocab_expansion.load_korean_corpus()
    assert sum(map(len, corpus)) > 20_000 and vocab_expansion.hangul_share(corpus) > 0.9


# --- the tokenizer --------------------------------------------------------------------------

def test_vocabulary_grows_to_the_requested_size(llama3, expanded):
    assert len(expanded) == len(llama3) + NEW_TOKENS
    assert sorted(expanded.get_vocab().values()) == list(range(len(expanded)))


@pytest.mark.parametrize("which", ["in memory", "after save and reload"])
def test_every_old_token_keeps_its_id(llama3, expanded, reloaded, which):
    tokenizer = expanded if which == "in memory" else reloaded
    new_vocab = tokenizer.get_vocab()
    moved = {token: (old_id, new_vocab.get(token)) for token, old_id in llama3.get_vocab().items()
             if new_vocab.get(token) != old_id}
    assert not moved, f"{len(moved)} old tokens moved, e.g. {list(moved.items())[:3]}"


@pytest.mark.parametrize("which", ["in memory", "after save and reload"])
def test_special_tokens_keep_their_ids(llama3, expanded, reloaded, which):
    tokenizer = expanded if which == "in memory" else reloaded
    for token, token_id in SPECIAL_IDS.items():
        assert tokenizer.convert_tokens_to_ids(token) == token_id
    assert tokenizer.added_tokens_decoder.keys() == llama3.added_tokens_decoder.keys()
    assert all(str(tokenizer.added_tokens_decoder[i]) == str(llama3.added_tokens_decoder[i])
               for i in llama3.added_tokens_decoder)
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id) == (128000, 128009)
    chat = [{"role": "user", "content": "안녕하세요"}]
    assert tokenizer.apply_chat_template(chat, tokenize=False) == llama3.apply_chat_template(chat, tokenize=False)


@pytest.mark.parametrize("language", ["ko", "en", "mixed"])
def test_decode_encode_round_trips_on_held_out_text(reloaded, eval_texts, language):
    text = eval_texts[language] if language != "mixed" else \
        "\n\n".join(f"{k} ({e})" for k, e in zip(eval_texts["ko"].split("\n"), eval_texts["en"].split("\n")))
    ids = reloaded(text, add_special_tokens=False)["input_ids"]
    assert reloaded.decode(ids) == text


def test_round_trip_keeps_special_tokens_in_a_chat_prompt(expanded, eval_texts):
    prompt = expanded.apply_chat_template([{"role": "user", "content": eval_texts["ko"][:300]}],
                                          tokenize=False, add_generation_prompt=True)
    ids = expanded(prompt, add_special_tokens=False)["input_ids"]
    assert ids.count(128009) == 1 and ids[0] == 128000
    assert expanded.decode(ids) == prompt


def test_korean_fertility_drops_and_english_does_not_change(llama3, reloaded, eval_texts):
    assert fertility.count_tokens(reloaded, eval_texts["ko"]) < 0.9 * fertility.count_tokens(llama3, eval_texts["ko"])
    assert reloaded(eval_texts["en"])["input_ids"] == llama3(eval_texts["en"])["input_ids"]
    assert fertility.characters_in_window(reloaded, eval_texts["ko"]) > \
        fertility.characters_in_window(llama3, eval_texts["ko"])


def test_every_new_token_is_reachable(expanded, llama3):
    """Each new token, as a word on its own, comes out as itself: no dead vocabulary entries."""
    model = expanded.backend_tokenizer.model
    new = expanded.convert_ids_to_tokens(list(range(len(llama3), len(expanded))))
    unreachable = [t for t in new if [p.value for p in model.tokenize(t)] != [t]]
    assert not unreachable, [vocab_expansion.token_text(t) for t in unreachable[:5]]


def test_new_tokens_are_mostly_whole_korean_words(expanded, llama3):
    texts = [vocab_expansion.token_text(t)
             for t in expanded.convert_ids_to_tokens(list(range(len(llama3), len(expanded))))]
    whole = [t for t in texts if "<0x" not in t]
    assert len(whole) > 0.95 * len(texts)
    assert all(fertility.HANGUL_SYLLABLE.search(t) for t in whole)


def test_appending_is_deterministic(llama3, korean_bpe, expanded):
    """The notebook's printed tokens and ids stay the same from run to run."""
    again = vocab_expansion.append_korean_tokens(llama3, train_korean_bpe(llama3), len(llama3) + NEW_TOKENS)
    assert again.get_vocab() == expanded.get_vocab()


# --- token spans and fertility --------------------------------------------------------------

def test_token_pieces_rebuild_the_text_and_find_split_syllables(llama3):
    text = "토크나이저는 문장을 쪼갭니다."
    pieces = fertility.token_pieces(llama3, text)
    assert b"".join(p.raw for p in pieces) == text.encode()
    split = fertility.split_characters(pieces)
    assert split and all(b"".join(p.raw for p in group).decode().strip() == chars for chars, group in split)
    assert not fertility.split_characters(fertility.token_pieces(llama3, "plain English text"))
    shown = repr(fertility.token_spans(llama3, text))
    assert "<0x" in shown and "|" in shown
    assert "dashed" in fertility.token_spans(llama3, text)._repr_html_()


def test_fertility_measures(llama3):
    korean = fertility.fertility(llama3, "한국어 문장 하나")
    english = fertility.fertility(llama3, "one English sentence")
    assert korean["tokens/syllable"] > 0 and english["tokens/syllable"] is None
    assert korean["tokens/char"] == korean["tokens"] / 7 and english["tokens/word"] == english["tokens"] / 3
    assert english["bytes/token"] == len("one English sentence") / english["tokens"]


def test_fertility_of_empty_text_is_a_clear_error(llama3):
    with pytest.raises(TutorialError, match="empty"):
        fertility.fertility(llama3, "")


# --- embeddings ---------------------------------------------------------------------------

def test_each_new_token_is_built_from_two_or_more_old_pieces(llama3, expanded):
    """What the notebook's mean-of-pieces start relies on: the old BPE cuts every new token into
    old ids that spell it."""
    old_bpe = llama3.backend_tokenizer.model
    new_ids = list(range(len(llama3), len(expanded)))
    for new_id, token in zip(new_ids, expanded.convert_ids_to_tokens(new_ids)):
        pieces = [piece.id for piece in old_bpe.tokenize(token)]
        assert len(pieces) >= 2 and max(pieces) < len(llama3), (new_id, pieces)
        assert "".join(llama3.convert_ids_to_tokens(pieces)) == token


def test_rows_exist_check(llama3, expanded):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(llama3), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1)
    model = LlamaForCausalLM(config)
    new_ids = range(len(llama3), len(expanded))
    with pytest.raises(TutorialError, match="resize_token_embeddings"):
        vocab_expansion.check_rows_exist(model, new_ids)
    model.resize_token_embeddings(len(expanded), mean_resizing=False)
    vocab_expansion.check_rows_exist(model, new_ids)


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("corpus", [[], ["", "   \n"], ""], ids=["no lines", "blank lines", "empty string"])
def test_empty_corpus_is_a_clear_error(corpus):
    with pytest.raises(TutorialError, match="empty"):
        vocab_expansion.check_korean_corpus(corpus)


def test_non_korean_corpus_is_a_clear_error(eval_texts, tmp_path):
    with pytest.raises(TutorialError, match="does not look Korean"):
        vocab_expansion.check_korean_corpus(eval_texts["en"].split("\n"))
    with pytest.raises(TutorialError, match="does not look Korean"):
        vocab_expansion.check_korean_corpus(["12345 67890", "!!! ???"])
    english_file = tmp_path / "corpus.txt"
    english_file.write_text(eval_texts["en"], encoding="utf-8")
    with pytest.raises(TutorialError, match="does not look Korean"):
        vocab_expansion.load_korean_corpus(english_file)


def test_korean_corpus_check_keeps_the_paragraphs():
    assert vocab_expansion.check_korean_corpus(["  한국어 문단입니다. ", "", "둘째 문단"]) == \
        ["  한국어 문단입니다. ", "둘째 문단"]


@pytest.mark.parametrize("vocab_size", [32000, 128256, 128000])
def test_vocabulary_not_larger_than_what_exists_is_a_clear_error(llama3, korean_bpe, vocab_size):
    with pytest.raises(TutorialError, match="not larger than the 128,256 tokens"):
        vocab_expansion.append_korean_tokens(llama3, korean_bpe, vocab_size)


def test_tokenizer_id_unreachable_offline_is_a_clear_error(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(TutorialError, match="not reachable") as caught:
        fertility.load_hub_tokenizer("bllossom-tutorials/no-such-tokenizer")
    assert "HF_HUB_OFFLINE" in str(caught.value)


def test_eval_file_is_parallel_korean_and_english():
    rows = [json.loads(line) for line in fertility.EVAL_TEXT_PATH.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 10
    for row in rows:
        assert fertility.HANGUL_SYLLABLE.search(row["ko"]) and not fertility.HANGUL_SYLLABLE.search(row["en"])
