"""Both vision designs go through notebook 05's one code path.

nbval runs the notebook on the default stand-in (tiny LLaVA-NeXT); this runs the same cells,
unchanged, on the tiny Mllama, as `BLLOSSOM_MODEL=tiny-mllama` would for a learner.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from helpers import run_notebooks

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "05_vision.ipynb"


def test_notebook_05_runs_on_the_mllama_stand_in(monkeypatch, tmp_path):
    """Run as the main job runs a notebook: a kernel that goes idle without replying (a stall, seen
    once in CI with both version suites busy) gets a fresh kernel and one retry instead of a
    15-minute wait for a reply that never comes."""
    monkeypatch.setenv("BLLOSSOM_MODEL", "tiny-mllama")
    source = nbformat.read(NOTEBOOK, as_version=4)
    with open(tmp_path / "run.log", "w", encoding="utf-8") as log:
        attempt = run_notebooks.execute_with_retry(source, NOTEBOOK, 900, run_notebooks.STALL_AFTER_S, log)[-1]
    assert attempt.kind == "pass", f"notebook 05 failed on tiny-mllama: {attempt.verdict}"
    assert attempt.models == ["tiny-mllama"]
    printed = "".join(output.get("text", "") for cell in attempt.notebook.cells if cell.cell_type == "code"
                      for output in cell.outputs)
    assert "MllamaForConditionalGeneration" in printed
