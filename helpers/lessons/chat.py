"""Notebook 02 (and every chat in 01, 03): chatting with a Bllossom model without repeating the plumbing.

The model card's system prompt, terminators and generation settings come from the catalog entry
of the chosen model, so a lesson never types them again. `reply_text` is the whole chat round
trip (template, tokenize, generate, slice, decode) for lessons that have already taught it;
it checks the learner's input first and answers mistakes with a `TutorialError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..catalog import CATALOG, ModelEntry
from ..errors import TutorialError
from .sampling import check_generate_kwargs, check_max_new_tokens

ROLES = ("system", "user", "assistant")  # the roles Llama-3's chat template was trained with
BEGIN_OF_TEXT = "<|begin_of_text|>"
# A model that is not in the catalog (a hub id or a folder) gets the Bllossom-8B card's settings.
DEFAULT_ENTRY = CATALOG["8b"]


def _entry(choice) -> ModelEntry:
    """The catalog entry behind a ModelChoice, a ModelEntry, or the 8B card's for other models."""
    if isinstance(choice, ModelEntry):
        return choice
    return getattr(choice, "entry", None) or DEFAULT_ENTRY


def card_system_prompt(choice) -> str | None:
    """The system prompt the model card uses (None where the card uses none, as for the 3B).

    Bllossom-tiny saw only this prompt in training, so it answers well only with it."""
    return _entry(choice).system_prompt


def card_messages(choice, user_text: str) -> list[dict]:
    """A first conversation as the card writes it: its system prompt (if any), then the user."""
    if not isinstance(user_text, str) or not user_text.strip():
        raise TutorialError("The user message is empty. Give the question as a non-empty string, "
                            "e.g. card_messages(choice, '블로썸은 어떤 모델이야?').")
    system = card_system_prompt(choice)
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": user_text}]


def terminator_ids(tokenizer, choice) -> list[int]:
    """Token ids that end a reply: the tokenizer's EOS plus the card's terminators, in that order
    and without repeats (the card's `[eos_token_id, convert_tokens_to_ids("<|eot_id|>")]`)."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    vocabulary = tokenizer.get_vocab()
    for token in _entry(choice).terminators:
        if token not in vocabulary:
            raise TutorialError(f"The tokenizer has no token {token!r}, so replies could not stop "
                                "there. Load the tokenizer that belongs to this model (a Llama-3 "
                                "tokenizer has <|eot_id|> and <|end_of_text|>).")
        ids.append(vocabulary[token])
    return list(dict.fromkeys(ids))


def card_generation_settings(choice, cap_new_tokens: int | None = None) -> dict:
    """A copy of the card's `generate` settings; `cap_new_tokens` bounds max_new_tokens so a
    lesson stays quick (the 8B card allows 2048 new tokens)."""
    settings = dict(_entry(choice).generation)
    if cap_new_tokens is not None:
        cap = check_max_new_tokens(cap_new_tokens)
        settings["max_new_tokens"] = min(settings.get("max_new_tokens", cap), cap)
    return settings


def check_messages(messages, expect_reply: bool = True) -> list[dict]:
    """Refuse the chat-list mistakes that transformers lets through or answers with a bare
    IndexError: not a list, empty, unknown roles, missing content, nothing to answer."""
    if isinstance(messages, str):
        hint = (" This one is already a chat-template string: tokenizing it again adds a second "
                f"{BEGIN_OF_TEXT}.") if BEGIN_OF_TEXT in messages else ""
        raise TutorialError("Pass the conversation as a list of messages such as "
                            "[{'role': 'user', 'content': '안녕?'}], not as a string." + hint)
    if not isinstance(messages, Sequence) or isinstance(messages, bytes):
        raise TutorialError(f"messages must be a list of {{'role': ..., 'content': ...}} dicts, "
                            f"not {type(messages).__name__}.")
    if len(messages) == 0:
        raise TutorialError("The message list is empty, so there is nothing to answer. Add at least "
                            "{'role': 'user', 'content': 'your question'}.")
    for number, message in enumerate(messages, start=1):
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise TutorialError(f"Message {number} is {message!r}; each message needs a 'role' and a "
                                "'content', e.g. {'role': 'user', 'content': '안녕?'}.")
        if message["role"] not in ROLES:
            raise TutorialError(f"Message {number} has the unknown role {message['role']!r}. Llama-3's "
                                f"chat template knows {', '.join(ROLES)}; any other role is written "
                                "into the prompt as-is and the model answers nonsense.")
        if not isinstance(message["content"], str):
            raise TutorialError(f"Message {number}'s content is {type(message['content']).__name__}; "
                                "text models take a string.")
        if message["role"] == "user" and not message["content"].strip():
            raise TutorialError(f"Message {number} is an empty user message, so there is no question "
                                "to answer (the model would make one up). Write the question into its "
                                "'content', e.g. {'role': 'user', 'content': '블로썸은 어떤 모델이야?'}.")
        if message["role"] == "system" and number != 1:
            raise TutorialError(f"Message {number} is a system message; the system prompt must be the "
                                "first message.")
    if expect_reply and messages[-1]["role"] != "user":
        raise TutorialError(f"The last message is from the {messages[-1]['role']}, so there is no "
                            "question to answer. End the list with a user message.")
    return list(messages)


def prompt_length(tokenizer, messages: list[dict]) -> int:
    """Tokens of the templated prompt, generation header included."""
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                        return_dict=True)["input_ids"]
    return len(ids)


def fit_to_context(tokenizer, messages: list[dict], max_new_tokens: int, context_length: int,
                   on_overflow: str = "refuse") -> list[dict]:
    """Messages whose prompt plus `max_new_tokens` fits the model's context.

    Left alone, transformers only logs a "friendly reminder" and generates past the trained
    length, where answers fall apart. "refuse" raises a TutorialError with the numbers;
    "truncate" drops the oldest turns (keeping the system prompt and the last question)."""
    if on_overflow not in ("refuse", "truncate"):
        raise TutorialError(f"on_overflow must be 'refuse' or 'truncate', not {on_overflow!r}.")
    check_max_new_tokens(max_new_tokens)
    if max_new_tokens >= context_length:
        raise TutorialError(f"max_new_tokens={max_new_tokens} leaves no room for the prompt in a "
                            f"context of {context_length} tokens. Ask for fewer new tokens.")
    used = prompt_length(tokenizer, messages)
    if used + max_new_tokens <= context_length:
        return list(messages)
    if on_overflow == "refuse":
        raise TutorialError(
            f"The prompt is {used:,} tokens and asks for {max_new_tokens:,} new ones, "
            f"{used + max_new_tokens:,} in all, but the model reads at most {context_length:,}. "
            "Shorten the conversation, lower max_new_tokens, or pass on_overflow='truncate' to drop "
            "the oldest turns.")
    system = [m for m in messages[:1] if m["role"] == "system"]
    turns = list(messages[len(system):])
    while len(turns) > 1:
        turns.pop(0)
        while len(turns) > 1 and turns[0]["role"] != "user":  # restart at a user turn
            turns.pop(0)
        if prompt_length(tokenizer, system + turns) + max_new_tokens <= context_length:
            return system + turns
    raise TutorialError(
        f"Even the last message alone is too long for {context_length:,} tokens with "
        f"{max_new_tokens:,} new ones. Shorten that message or ask for fewer new tokens.")


def reply_text(model, tokenizer, messages, on_overflow: str = "refuse", **generate_kwargs) -> str:
    """Only the model's reply to the last user message: no prompt, no special tokens.

    The ids come from the chat template itself (one <|begin_of_text|>), only the tokens after the
    prompt are decoded, and special tokens are skipped. `generate_kwargs` go to `generate`
    (e.g. the card settings and terminators); max_new_tokens defaults to the model's own. Sampling
    settings are checked by the sampling lesson's rules (`sampling.check_knobs`)."""
    messages = check_messages(messages)
    check_generate_kwargs(generate_kwargs, model.generation_config)
    if "max_new_tokens" in generate_kwargs:
        max_new_tokens = check_max_new_tokens(generate_kwargs.pop("max_new_tokens"))
    else:
        max_new_tokens = model.generation_config.max_new_tokens or 256
    messages = fit_to_context(tokenizer, messages, max_new_tokens,
                              model.config.max_position_embeddings, on_overflow)
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,
                                           return_tensors="pt").to(model.device)
    output = model.generate(**inputs, max_new_tokens=max_new_tokens, **generate_kwargs)
    new_tokens = output[0, inputs["input_ids"].shape[-1]:]
    return tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
