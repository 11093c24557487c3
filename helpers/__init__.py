"""Helpers for the Bllossom notebook tutorials.

What would distract from a lesson lives here, in three layers, each importing only the ones below:

- `lessons/`: what the notebooks use, one module per lesson topic (chat, sampling, fertility, ...);
- `models/`: which model fits this machine and how it loads (runtime facts, memory, choice, loading);
- `offline/`: what is built here instead of downloaded (tokenizer, stand-ins, pictures, cache, data);

and, below all three, the small shared modules at this level: `errors`, `display`, `plotting`,
`catalog`. Commands (`python -m helpers.run_notebooks`) sit above the layers. The lessons themselves
stay in the notebooks; `tests/test_layers.py` keeps the import rule.
"""

from .catalog import BLLOSSOM_SYSTEM_PROMPT, CATALOG, ModelEntry, catalog_entry, catalog_table
from .display import show_table, table_text
from .errors import TutorialError
from .models.choice import ModelChoice, choose_model, pick_dtype, pick_model
from .models.loading import (
                             about_model,
                             ensure_chat_template,
                             explained_load_errors,
                             load_model,
                             load_options,
                             load_vision_model,
                             source_of,
)
from .models.memory import (
                            estimate_memory_gb,
                            estimate_model_memory_gb,
                            fits_across,
                            fits_in,
                            llama_parameter_count,
)
from .models.runtime import REFERENCE_MACHINES, GpuFacts, RuntimeFacts, environment_report, runtime_facts
from .plotting import plot_memory_estimates, use_hangul_font

__all__ = [
    "BLLOSSOM_SYSTEM_PROMPT", "CATALOG", "REFERENCE_MACHINES", "GpuFacts", "fits_across",
    "about_model", "ModelChoice", "ModelEntry", "RuntimeFacts",
    "TutorialError", "catalog_entry", "catalog_table", "choose_model", "ensure_chat_template", "environment_report",
    "estimate_memory_gb", "estimate_model_memory_gb", "explained_load_errors", "fits_in",
    "llama_parameter_count", "load_model", "load_options", "load_vision_model", "pick_dtype", "pick_model",
    "plot_memory_estimates", "runtime_facts", "show_table", "source_of", "table_text",
    "use_hangul_font",
]
