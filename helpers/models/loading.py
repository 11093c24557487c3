"""Load what `pick_model` chose, through transformers' own API, with errors a learner can act on.

Hub ids load from the Hugging Face hub (or its local cache); the offline stand-ins are built on
this machine on first use. Weights load as safetensors only and never with `trust_remote_code`.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

from ..catalog import CATALOG, catalog_entry
from ..errors import TutorialError
from ..offline.cache import mark_unusable
from ..offline.llama3_tokenizer import llama3_vision_template
from ..offline.tiny_chat_model import tiny_chat_model_folder
from ..offline.tiny_vision_models import tiny_vision_model_folder
from .choice import ModelChoice, pick_model
from .runtime import hub_reachable


def stand_in_folder(name: str):
    """The local folder of an offline stand-in, building it the first time."""
    entry = catalog_entry(name)
    if not entry.is_offline_stand_in:
        raise TutorialError(f"'{name}' is a hub model, not an offline stand-in.")
    if entry.kind == "text":
        return tiny_chat_model_folder()
    return tiny_vision_model_folder(entry.name)


# The folder `source_of` last gave for each stand-in, so a load error can be pinned on that folder.
_stand_in_sources: dict[str, Path] = {}


def source_of(choice: ModelChoice) -> str:
    """Where `from_pretrained` should read: a hub id, or a local folder."""
    if choice.entry is not None and choice.entry.is_offline_stand_in:
        folder = stand_in_folder(choice.name)
        _stand_in_sources[choice.name] = Path(folder)
        return str(folder)
    return choice.source


def offline_message(source: str) -> str:
    return (f"'{source}' is not in the local cache and the hub cannot be reached (offline). Connect "
            "and unset HF_HUB_OFFLINE to download it once, or set BLLOSSOM_MODEL=tiny to use the "
            "offline stand-in.")


def not_found_message(source: str) -> str:
    return (f"The hub has no model '{source}'. Check the spelling; Bllossom models were renamed "
            "(the seed's MLP-KTLim/llama3-Bllossom is now MLP-KTLim/llama-3-Korean-Bllossom-8B). "
            "Catalog names such as 8b, 3b and tiny always work.")


def vision_model_names() -> list[str]:
    return [name for name, entry in CATALOG.items() if entry.kind == "vision"]


def text_only_message(choice: ModelChoice, config_name: str | None = None) -> str:
    """What `load_vision_model` says when asked to load a model that cannot see."""
    names = ", ".join(vision_model_names())
    if config_name is None:
        return (f"{choice.name} is a text-only model: it cannot read pictures. Use a vision "
                f"model ({names}), e.g. helpers.pick_model(kind='vision') or BLLOSSOM_VISION_MODEL=aica-5b.")
    return (f"{choice.name} ({config_name}) is a text-only model: it cannot read pictures. Use a vision "
            f"model ({names}).")


def vision_only_message(choice: ModelChoice, config_name: str | None = None) -> str:
    """What `load_model` says when asked to load a vision model as a text model."""
    what = f"{choice.name} ({config_name})" if config_name else choice.name
    return (f"{what} is a vision model; load it with helpers.load_vision_model (lesson 05), or pick a "
            "text model for this lesson (BLLOSSOM_MODEL=8b, 3b or tiny).")


class StandInSetAside(TutorialError):
    """An offline stand-in's folder failed to load and is marked for one rebuild: load again."""


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _raised_while_reading(error: BaseException) -> bool:
    """Whether the error came from the libraries that read model folders (not, say, from a typo
    in the learner's own cell), so that it is the folder's fault."""
    frame = error.__traceback__
    while frame is not None:
        path = frame.tb_frame.f_code.co_filename.replace("\\", "/")
        if any(f"/{library}/" in path for library in ("transformers", "safetensors", "tokenizers")):
            return True
        frame = frame.tb_next
    return False


def _wrong_kind_message(choice: ModelChoice, error: BaseException) -> str | None:
    """transformers' "Unrecognized configuration class ... for this kind of AutoModel" (followed by
    a hundred class names) as the message the helpers give for that mistake."""
    match = re.match(r"Unrecognized configuration class <class '[\w.]*?(\w+)'> for this kind of "
                     r"AutoModel: (\w+)", str(error))
    if match is None:
        return None
    config_name, auto_class = match.groups()
    if "ImageTextToText" in auto_class or "Vision2Seq" in auto_class:
        return text_only_message(choice, config_name)
    if "CausalLM" in auto_class:
        return vision_only_message(choice, config_name)
    return None


def _explained(choice: ModelChoice, error: Exception) -> TutorialError | None:
    """The TutorialError for a load error, or None to let it through unchanged."""
    import torch
    from huggingface_hub import errors as hub_errors

    source = choice.source
    if isinstance(error, hub_errors.GatedRepoError):
        return TutorialError(
            f"{source} is gated: accept its license on https://huggingface.co/{source} and log in "
            "(Colab: add an HF_TOKEN secret; elsewhere: `hf auth login`).")
    if isinstance(error, hub_errors.RepositoryNotFoundError):
        return TutorialError(not_found_message(source))
    if isinstance(error, (hub_errors.LocalEntryNotFoundError, hub_errors.OfflineModeIsEnabled)):
        return TutorialError(offline_message(source))
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return TutorialError(
            f"The GPU ran out of memory loading {choice.name}. Restart the kernel to free it, then "
            "use a smaller choice: BLLOSSOM_MODEL=8b:4bit (needs bitsandbytes) or BLLOSSOM_MODEL=3b.")
    if isinstance(error, ImportError):
        if "bitsandbytes" in str(error):
            return TutorialError("4-bit loading needs bitsandbytes: pip install bitsandbytes, then "
                                 "restart the kernel.")
        return None
    if isinstance(error, ValueError) and (message := _wrong_kind_message(choice, error)):
        return TutorialError(message)
    folder = _stand_in_sources.get(choice.name) if choice.entry is not None else None
    if folder is not None and _raised_while_reading(error):  # built here and checked, yet it does not load
        mark_unusable(folder, _first_line(error))  # names the folder to delete if rebuilt already
        return StandInSetAside(f"The stand-in {choice.name} in {folder} failed to load "
                               f"({_first_line(error)}); it is rebuilt on the next load: run this again.")
    if isinstance(error, OSError):  # transformers re-raises most hub problems as OSError
        text = str(error)
        if "safetensors" in text:
            return TutorialError(f"'{source}' has no safetensors weights; this tutorial loads "
                                 "safetensors only (pickled .bin files can run code).")
        if "couldn't connect" in text or "offline" in text.lower():
            return TutorialError(offline_message(source))
        if "not a valid model identifier" in text:
            return TutorialError(not_found_message(source))
        return TutorialError(f"Could not load '{source}': {text}".splitlines()[0])
    return None


@contextmanager
def explained_load_errors(choice: ModelChoice):
    """Turn the hub's, the GPU's and bitsandbytes' errors, and transformers' wrong-kind-of-model
    error, into one message that names the fix. A stand-in folder that fails to load is marked
    for one rebuild (`StandInSetAside`: load again)."""
    try:
        yield
    except TutorialError:
        raise
    except Exception as error:
        explained = _explained(choice, error)
        if explained is None:
            raise
        raise explained from error


def _load_with_one_rebuild(choice: ModelChoice, load):
    """`load(source)` inside `explained_load_errors`; a stand-in that fails to load is rebuilt
    once and loaded again (a second failure names the folder to delete)."""
    try:
        with explained_load_errors(choice):
            return load(source_of(choice))
    except StandInSetAside:
        with explained_load_errors(choice):
            return load(source_of(choice))


def _hub_model_without_hub(choice: ModelChoice) -> bool:
    """A hub id (not a stand-in, not a local folder) while the hub cannot be reached."""
    if choice.entry is not None and choice.entry.is_offline_stand_in:
        return False
    return not Path(choice.source).expanduser().is_dir() and not hub_reachable()


def load_options(choice: ModelChoice) -> dict:
    """The keyword arguments `from_pretrained` gets for this choice (printed by lesson 01).

    On CUDA, accelerate places the layers (`device_map="auto"`) within `max_memory`: per GPU, the
    weights it may take, leaving its CUDA context and its share of the room to generate free (so a
    model spread over two T4s never fills either). Apple's GPU is one device: `device_map="mps"`.
    """
    import torch

    dtype = getattr(torch, choice.dtype)
    options = dict(dtype=dtype, use_safetensors=True)
    if choice.device == "cuda":
        options["device_map"] = "auto"
        if choice.max_memory_gb:
            options["max_memory"] = {index: f"{gb}GB" for index, gb in choice.max_memory_gb}
    elif choice.device == "mps":
        options["device_map"] = "mps"
    if _hub_model_without_hub(choice):
        options["local_files_only"] = True  # read the local cache at once, not a minute of retries
    if choice.load_in_4bit:
        from transformers import BitsAndBytesConfig

        options["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype)
    return options


def load_model(choice: ModelChoice | None = None):
    """Tokenizer and causal LM for `choice` (default: `pick_model()` for this machine)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    choice = choice or pick_model()
    if choice.entry is not None and choice.entry.kind != "text":
        raise TutorialError(vision_only_message(choice))

    def load(source):
        check_is_text(choice, source)
        local_only = _hub_model_without_hub(choice)
        return AutoModelForCausalLM.from_pretrained(source, **load_options(choice)), \
            AutoTokenizer.from_pretrained(source, local_files_only=local_only)

    model, tokenizer = _load_with_one_rebuild(choice, load)
    model.eval()
    return model, tokenizer


def about_model(choice: ModelChoice) -> str:
    """One honest sentence on what the chosen model is; for a stand-in, what it was trained on."""
    import json

    entry = choice.entry
    if entry is None:
        return f"{choice.source}: a model you chose; its model card says what it is."
    text = f"{entry.name}: {entry.notes}"
    if entry.is_offline_stand_in:
        facts_file = Path(source_of(choice)) / "training_facts.json"
        if facts_file.exists():
            facts = json.loads(facts_file.read_text())
            text += (f" Trained on this machine on {facts['pairs']} question-answer pairs "
                     f"({facts['examples']} chats) in {facts['seconds']} s.")
    return text


def check_is_text(choice: ModelChoice, source: str) -> None:
    """Raise a TutorialError if the folder or hub id of a non-catalog choice holds a vision model
    (AutoModelForCausalLM would load Mllama's text half alone, or fail with a hundred class names)."""
    if choice.entry is not None:
        return  # the catalog says what it is
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source, local_files_only=_hub_model_without_hub(choice))
    if getattr(config, "vision_config", None) is not None:
        raise TutorialError(vision_only_message(choice, type(config).__name__))


def check_can_see(choice: ModelChoice, source: str | None = None) -> None:
    """Raise a TutorialError if `choice` is a text-only model (it would fail on a picture)."""
    if choice.entry is not None and choice.entry.kind != "vision":
        raise TutorialError(text_only_message(choice))
    if source is not None:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(source, local_files_only=_hub_model_without_hub(choice))
        if getattr(config, "vision_config", None) is None:
            raise TutorialError(text_only_message(choice, type(config).__name__))


def ensure_chat_template(processor) -> None:
    """Give a processor without a chat template Llama-3's, with the picture where the card puts it."""
    if getattr(processor, "chat_template", None):
        return
    image_token = getattr(processor, "image_token", "<image>")
    # Vision-8B's card prompts with "<image>\n" + question; Mllama's <|image|> takes no newline.
    processor.chat_template = llama3_vision_template(image_token + ("\n" if image_token == "<image>" else ""))


def load_vision_model(choice: ModelChoice | None = None):
    """Model and processor for `choice` (default: `pick_model(kind="vision")` for this machine)."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    choice = choice or pick_model(kind="vision")
    check_can_see(choice)

    def load(source):
        check_can_see(choice, source)
        local_only = _hub_model_without_hub(choice)
        return AutoModelForImageTextToText.from_pretrained(source, **load_options(choice)), \
            AutoProcessor.from_pretrained(source, local_files_only=local_only)

    model, processor = _load_with_one_rebuild(choice, load)
    ensure_chat_template(processor)
    model.eval()
    return model, processor
