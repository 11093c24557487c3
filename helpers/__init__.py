"""Helpers for the Bllossom notebook tutorials.

What would distract from a lesson lives here: reading the machine, choosing a model and dtype,
the model catalog, building offline stand-ins, and plotting. The lessons themselves stay in the
notebooks.
"""

from .catalog import BLLOSSOM_SYSTEM_PROMPT, CATALOG, ModelEntry, catalog_entry, catalog_table
from .choice import ModelChoice, choose_model, pick_dtype, pick_model
from .errors import TutorialError
from .display import show_table, table_text
from .loading import about_model, explained_load_errors, load_model, load_options, source_of
from .memory import estimate_memory_gb, estimate_model_memory_gb, fits_in, llama_parameter_count
from .plotting import plot_memory_estimates, use_hangul_font
from .runtime import RuntimeFacts, environment_report, runtime_facts

__all__ = [
    "BLLOSSOM_SYSTEM_PROMPT", "CATALOG", "about_model", "ModelChoice", "ModelEntry", "RuntimeFacts",
    "TutorialError", "catalog_entry", "catalog_table", "choose_model", "environment_report",
    "estimate_memory_gb", "estimate_model_memory_gb", "explained_load_errors", "fits_in",
    "llama_parameter_count", "load_model", "load_options", "pick_dtype", "pick_model",
    "plot_memory_estimates", "runtime_facts", "show_table", "source_of", "table_text",
    "use_hangul_font",
]
