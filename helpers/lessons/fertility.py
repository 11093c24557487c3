"""Notebook 04: how many tokens a tokenizer spends on a text ("fertility"), and the token spans behind it.

Fertility is measured per unit a reader can count (non-space character, Hangul syllable,
whitespace-separated word) plus bytes per token, so tokenizers with different vocabularies
can be compared on the same text. The held-out evaluation text is parallel Korean and English,
so the two languages say the same thing.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import TutorialError
from ..models.runtime import hub_endpoint, hub_is_offline, hub_reachable
from ..offline import DATA_FOLDER

EVAL_TEXT_PATH = DATA_FOLDER / "ko_en_eval.jsonl"
HANGUL_SYLLABLE = re.compile("[가-힣]")
CONTEXT_WINDOW = 8192  # Llama-3's and Bllossom-8B's max_position_embeddings
COLOURS = ["#ffd6a5", "#caffbf", "#9bf6ff", "#bdb2ff", "#ffc6ff", "#fdffb6"]
BYTE_PIECE_COLOUR = "#ff8fa3"


def load_eval_texts(path: Path | str | None = None) -> dict[str, str]:
    """The held-out bilingual text: {"ko": all Korean paragraphs, "en": their English versions}."""
    with open(path or EVAL_TEXT_PATH, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return {language: "\n".join(row[language] for row in rows) for language in ("ko", "en")}


def count_tokens(tokenizer, text: str) -> int:
    """Tokens for `text` alone, without <|begin_of_text|>."""
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def fertility(tokenizer, text: str) -> dict:
    """Token counts of `text` per character, per Hangul syllable, per word, and bytes per token.

    Characters exclude whitespace. Tokens per syllable is None when the text has no Hangul.
    """
    if not isinstance(text, str):
        raise TutorialError(f"Give the text as a string, not {type(text).__name__}.")
    characters = sum(not c.isspace() for c in text)
    if not characters:
        what = "empty" if not text else "only spaces and line breaks"
        raise TutorialError(f"The text is {what}, so there are no characters to count tokens per; "
                            "pass some text, e.g. helpers.lessons.fertility.load_eval_texts()['ko'].")
    tokens = count_tokens(tokenizer, text)
    syllables = len(HANGUL_SYLLABLE.findall(text))
    words = len(text.split())
    return {
        "tokens": tokens,
        "tokens/char": tokens / characters,
        "tokens/syllable": tokens / syllables if syllables else None,
        "tokens/word": tokens / words,
        "bytes/token": len(text.encode("utf-8")) / tokens,
    }


def fertility_table(tokenizers: dict, texts: dict[str, str]) -> list[dict]:
    """One row per (tokenizer, language): the table notebook 04 shows and plots ("—" where a
    measure does not apply, such as tokens per Hangul syllable of English)."""
    return [{"tokenizer": name, "language": language,
             **{k: "—" if v is None else v for k, v in fertility(tokenizer, text).items()}}
            for name, tokenizer in tokenizers.items() for language, text in texts.items()]


def characters_in_window(tokenizer, text: str, window: int = CONTEXT_WINDOW) -> int:
    """About how many non-space characters of text like `text` fit in `window` tokens."""
    return round(window / fertility(tokenizer, text)["tokens/char"])


def plot_fertility(rows: list[dict], measure: str = "tokens/char"):
    """Grouped bars: one group per language, one bar per tokenizer, with Hangul labels."""
    import matplotlib.pyplot as plt

    from ..plotting import use_hangul_font

    use_hangul_font()
    languages = list(dict.fromkeys(row["language"] for row in rows))
    names = list(dict.fromkeys(row["tokenizer"] for row in rows))
    labels = {"ko": "한국어 (Korean)", "en": "영어 (English)"}
    width = 0.8 / len(names)
    figure, axes = plt.subplots(figsize=(7, 3.6))
    for offset, name in enumerate(names):
        heights = [next(r[measure] for r in rows if r["tokenizer"] == name and r["language"] == lang)
                   for lang in languages]
        positions = [i + (offset - (len(names) - 1) / 2) * width for i in range(len(languages))]
        bars = axes.bar(positions, heights, width, label=name)
        axes.bar_label(bars, fmt="%.2f", fontsize=8)
    axes.set_xticks(range(len(languages)), [labels.get(lang, lang) for lang in languages])
    axes.set_ylabel(f"{measure} (글자당 토큰 수)" if measure == "tokens/char" else measure)
    axes.set_title("Tokens per character on the same text (같은 글의 글자당 토큰 수)")
    axes.legend(title="tokenizer (토크나이저)", fontsize=8)
    figure.tight_layout()
    return figure


@dataclass(frozen=True)
class TokenPiece:
    """One token of a text: its id, its raw bytes, and its text when the bytes are whole characters."""

    id: int
    raw: bytes
    text: str | None  # None for a byte piece of a split character

    @property
    def label(self) -> str:
        from .vocab_expansion import readable

        return self.text if self.text is not None else readable(self.raw)


def token_pieces(tokenizer, text: str) -> list[TokenPiece]:
    """The tokens of `text` with their bytes: a Hangul syllable cut in two shows as two byte pieces."""
    from .vocab_expansion import token_bytes

    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    pieces = []
    for token_id, token in zip(ids, tokenizer.convert_ids_to_tokens(ids)):
        raw = token_bytes(token)
        try:
            pieces.append(TokenPiece(token_id, raw, raw.decode("utf-8")))
        except UnicodeDecodeError:
            pieces.append(TokenPiece(token_id, raw, None))
    return pieces


def split_characters(pieces: list[TokenPiece]) -> list[tuple[str, list[TokenPiece]]]:
    """Each character that was cut into byte pieces, with the pieces that build it."""
    found, pending = [], []
    for piece in pieces:
        if piece.text is not None:
            pending = []
            continue
        pending.append(piece)
        try:
            character = b"".join(p.raw for p in pending).decode("utf-8")
        except UnicodeDecodeError:
            continue
        found.append((character.strip(), pending))
        pending = []
    return found


class TokenSpans:
    """Coloured token spans: HTML in Jupyter, `|`-separated text elsewhere."""

    def __init__(self, pieces: list[TokenPiece], title: str = ""):
        self.pieces, self.title = pieces, title

    def _repr_html_(self) -> str:
        spans = []
        for index, piece in enumerate(self.pieces):
            shown = html.escape(piece.label.replace(" ", "\u2423").replace("\n", "\u21b5"))
            if piece.text is None:
                style = f"background:{BYTE_PIECE_COLOUR};border:1px dashed #a00;font-size:80%"
                tip = f"id {piece.id}: byte piece of a split character"
            else:
                style = f"background:{COLOURS[index % len(COLOURS)]}"
                tip = f"id {piece.id}"
            spans.append(f'<span title="{tip}" style="{style};padding:1px 2px;margin:1px;'
                         f'border-radius:3px;line-height:2">{shown}</span>')
        head = f"<b>{html.escape(self.title)}</b> · {len(self.pieces)} tokens<br>" if self.title else ""
        return f'<div style="font-family:monospace">{head}{"".join(spans)}</div>'

    def __repr__(self) -> str:
        head = f"{self.title} · {len(self.pieces)} tokens\n" if self.title else ""
        return head + "|".join(piece.label for piece in self.pieces)


def token_spans(tokenizer, text: str, title: str = "") -> TokenSpans:
    """Show how `tokenizer` cuts `text`; byte pieces of split characters are red and dashed."""
    return TokenSpans(token_pieces(tokenizer, text), title)


def load_hub_tokenizer(repo_id: str):
    """A tokenizer from the model hub (or its local cache), with a clear message when unreachable."""
    from huggingface_hub import errors as hub_errors
    from transformers import AutoTokenizer

    online = hub_reachable()  # decided once per process, in a second or two, instead of 90 s of retries
    try:
        return AutoTokenizer.from_pretrained(repo_id, clean_up_tokenization_spaces=False,
                                             local_files_only=not online)
    except hub_errors.GatedRepoError as error:
        raise TutorialError(f"{repo_id} is gated: accept its license on https://huggingface.co/"
                            f"{repo_id} and log in (`hf auth login`), then run again.") from error
    except hub_errors.RepositoryNotFoundError as error:
        raise TutorialError(f"The hub has no repository '{repo_id}'. Check the id's spelling.") from error
    except (OSError, hub_errors.OfflineModeIsEnabled) as error:
        if not online or isinstance(error, hub_errors.OfflineModeIsEnabled) \
                or "connect" in str(error).lower():
            why = "HF_HUB_OFFLINE is set" if hub_is_offline() else f"{hub_endpoint()} did not answer"
            raise TutorialError(
                f"Cannot load the tokenizer '{repo_id}': the model hub is not reachable ({why}) and it "
                "is not in the local cache. Connect to the internet and unset HF_HUB_OFFLINE to "
                "download it once (a few MB); the rest of the lesson works without it.") from error
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise TutorialError(f"Could not load the tokenizer '{repo_id}': {first_line} "
                            "Check the id on https://huggingface.co.") from error
