"""Both vision designs go through notebook 05's one code path.

nbval runs the notebook on the default stand-in (tiny LLaVA-NeXT); this runs the same cells,
unchanged, on the tiny Mllama, as `BLLOSSOM_MODEL=tiny-mllama` would for a learner.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "05_vision.ipynb"


def test_notebook_05_runs_on_the_mllama_stand_in(monkeypatch, tmp_path):
    record = tmp_path / "models.txt"
    monkeypatch.setenv("BLLOSSOM_MODEL", "tiny-mllama")
    monkeypatch.setenv("BLLOSSOM_RUN_RECORD", str(record))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(notebook, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(f"notebook 05 failed on tiny-mllama:\n{error}")
    assert record.read_text().split() == ["tiny-mllama"]
    printed = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                      for output in cell.outputs)
    assert "MllamaForConditionalGeneration" in printed
