"""Load what `pick_model` chose, through transformers' own API, with errors a learner can act on.

Hub ids load from the Hugging Face hub (or its local cache); the offline stand-ins are built on
this machine on first use. Weights load as safetensors only and never with `trust_remote_code`.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from ..catalog import CATALOG, catalog_entry
from ..errors import TutorialError
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


def source_of(choice: ModelChoice) -> str:
    """Where `from_pretrained` should read: a hub id, or a local folder."""
    if choice.entry is not None and choice.entry.is_offline_stand_in:
        return str(stand_in_folder(choice.name))
    return choice.source


def offline_message(source: str) -> str:
    return (f"'{source}' is not in the local cache and the hub cannot be reached (offline). Connect "
            "and unset HF_HUB_OFFLINE to download it once, or set BLLOSSOM_MODEL=tiny to use the "
            "offline stand-in.")


def not_found_message(source: str) -> str:
    return (f"The hub has no model '{source}'. Check the spelling; Bllossom models were renamed "
            "(the seed's MLP-KTLim/llama3-Bllossom is now MLP-KTLim/llama-3-Korean-Bllossom-8B). "
            "Catalog names such as 8b, 3b and tiny always work.")


@contextmanager
def explained_load_errors(choice: ModelChoice):
    """Turn the hub's, the GPU's and bitsandbytes' errors into one message that names the fix."""
    import torch
    from huggingface_hub import errors as hub_errors

    source = choice.source
    try:
        yield
    except TutorialError:
        raise
    except hub_errors.GatedRepoError as error:
        raise TutorialError(
            f"{source} is gated: accept its license on https://huggingface.co/{source} and log in "
            "(Colab: add an HF_TOKEN secret; elsewhere: `hf auth login`)."
        ) from error
    except hub_errors.RepositoryNotFoundError as error:
        raise TutorialError(not_found_message(source)) from error
    except (hub_errors.LocalEntryNotFoundError, hub_errors.OfflineModeIsEnabled) as error:
        raise TutorialError(offline_message(source)) from error
    except torch.cuda.OutOfMemoryError as error:
        raise TutorialError(
            f"The GPU ran out of memory loading {choice.name}. Restart the kernel to free it, then "
            "use a smaller choice: BLLOSSOM_MODEL=8b:4bit (needs bitsandbytes) or BLLOSSOM_MODEL=3b."
        ) from error
    except ImportError as error:
        if "bitsandbytes" in str(error):
            raise TutorialError("4-bit loading needs bitsandbytes: pip install bitsandbytes, then "
                                "restart the kernel.") from error
        raise
    except OSError as error:  # transformers re-raises most hub problems as OSError
        text = str(error)
        if "safetensors" in text:
            raise TutorialError(f"'{source}' has no safetensors weights; this tutorial loads "
                                "safetensors only (pickled .bin files can run code).") from error
        if "couldn't connect" in text or "offline" in text.lower():
            raise TutorialError(offline_message(source)) from error
        if "not a valid model identifier" in text:
            raise TutorialError(not_found_message(source)) from error
        raise TutorialError(f"Could not load '{source}': {text}".splitlines()[0]) from error


def _hub_model_without_hub(choice: ModelChoice) -> bool:
    """A hub id (not a stand-in, not a local folder) while the hub cannot be reached."""
    if choice.entry is not None and choice.entry.is_offline_stand_in:
        return False
    return not Path(choice.source).expanduser().is_dir() and not hub_reachable()


def load_options(choice: ModelChoice) -> dict:
    """The keyword arguments `from_pretrained` gets for this choice (printed by lesson 01)."""
    import torch

    dtype = getattr(torch, choice.dtype)
    options = dict(dtype=dtype, use_safetensors=True)
    if choice.device == "cuda":
        options["device_map"] = "auto"
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
        raise TutorialError(f"{choice.name} is a vision model; load it with helpers.load_vision_model.")
    with explained_load_errors(choice):
        source = source_of(choice)
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=_hub_model_without_hub(choice))
        model = AutoModelForCausalLM.from_pretrained(source, **load_options(choice))
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


def vision_model_names() -> list[str]:
    return [name for name, entry in CATALOG.items() if entry.kind == "vision"]


def check_can_see(choice: ModelChoice, source: str | None = None) -> None:
    """Raise a TutorialError if `choice` is a text-only model (it would fail on a picture)."""
    names = ", ".join(vision_model_names())
    if choice.entry is not None and choice.entry.kind != "vision":
        raise TutorialError(f"{choice.name} is a text-only model: it cannot read pictures. Use a vision "
                            f"model ({names}), e.g. helpers.pick_model(kind='vision') or "
                            "BLLOSSOM_MODEL=aica-5b.")
    if source is not None:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(source, local_files_only=_hub_model_without_hub(choice))
        if getattr(config, "vision_config", None) is None:
            raise TutorialError(f"{choice.name} ({type(config).__name__}) is a text-only model: it cannot "
                                f"read pictures. Use a vision model ({names}).")


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
    with explained_load_errors(choice):
        source = source_of(choice)
        check_can_see(choice, source)
        processor = AutoProcessor.from_pretrained(source, local_files_only=_hub_model_without_hub(choice))
        model = AutoModelForImageTextToText.from_pretrained(source, **load_options(choice))
    ensure_chat_template(processor)
    model.eval()
    return model, processor
