"""Every notebook opens the same way, is committed clean and matches its jupytext twin."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REPO_URL = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
SECRET_PATTERNS = [r"hf_[A-Za-z0-9]{30,}", r"sk-[A-Za-z0-9]{20,}", r"AKIA[0-9A-Z]{16}",
                   r"ghp_[A-Za-z0-9]{30,}"]


def test_there_are_notebooks_in_order():
    names = [path.name for path in NOTEBOOKS]
    assert names, "no notebooks found"
    numbers = [int(re.match(r"(\d\d)_[a-z0-9_]+\.ipynb$", name).group(1)) for name in names]
    assert numbers == list(range(1, len(names) + 1)), names


@pytest.fixture(params=NOTEBOOKS, ids=lambda path: path.name)
def notebook(request):
    path = request.param
    return path, nbformat.read(path, as_version=4)


def test_valid_nbformat(notebook):
    path, nb = notebook
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"


def test_committed_clean(notebook):
    path, nb = notebook
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert "widgets" not in raw["metadata"]
    for cell in raw["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, cell["source"][:80]


def test_opens_with_title_goals_hardware_and_badge(notebook):
    path, nb = notebook
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    header = first.source
    for heading in ("What you will learn", "배울 내용", "Hardware", "하드웨어"):
        assert heading in header, f"{path.name}: missing '{heading}' in the opening cell"
    badge = f"https://colab.research.google.com/github/{REPO_URL.removeprefix('https://github.com/')}" \
            f"/blob/main/notebooks/{path.name}"
    assert badge in header, f"{path.name}: the Colab badge must point at {badge}"
    kaggle = f"[![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)]" \
             f"(https://kaggle.com/kernels/welcome?src={REPO_URL}/blob/main/notebooks/{path.name})"
    assert kaggle in header, f"{path.name}: the Kaggle badge must be {kaggle}"
    assert header.index(kaggle) - header.index(badge) < len(badge) + 5, f"{path.name}: Kaggle badge beside Colab's"
    for where in ("Apple Silicon", "Kaggle"):
        hardware = header[header.index("Hardware"):]
        assert where in hardware, f"{path.name}: the hardware line should say what happens on {where}"


def test_setup_cell_works_on_colab_kaggle_and_locally(notebook):
    path, nb = notebook
    setup = next(cell for cell in nb.cells if cell.cell_type == "code")
    assert 'google.colab' in setup.source and f"git+{REPO_URL}" in setup.source
    assert '"KAGGLE_KERNEL_RUN_TYPE" in os.environ' in setup.source  # Kaggle installs the helpers like Colab
    assert "import helpers" in setup.source and "environment_report" in setup.source


def test_has_a_check_yourself_cell(notebook):
    path, nb = notebook
    checks = [cell for cell in nb.cells if cell.cell_type == "code" and "assert " in cell.source]
    assert checks, f"{path.name} asserts nothing about its own claims"


def test_bilingual_markdown(notebook):
    path, nb = notebook
    hangul = re.compile("[가-힣]")
    markdown = [cell for cell in nb.cells if cell.cell_type == "markdown"]
    korean = [cell for cell in markdown if hangul.search(cell.source)]
    assert len(korean) >= 0.8 * len(markdown), f"{path.name}: most markdown cells need Korean too"


def test_every_code_cell_follows_an_explanation(notebook):
    path, nb = notebook
    for before, cell in zip(nb.cells, nb.cells[1:]):
        if cell.cell_type == "code":
            assert before.cell_type == "markdown" or cell.source.lstrip().startswith("#"), \
                f"{path.name}: a code cell needs a sentence of why before it:\n{cell.source[:120]}"


def test_no_secrets(notebook):
    path, nb = notebook
    text = path.read_text(encoding="utf-8")
    for pattern in SECRET_PATTERNS:
        assert not re.search(pattern, text), f"{path.name} seems to hold a secret ({pattern})"


def test_matches_its_jupytext_twin(notebook):
    """notebooks/NN_topic.py is the editable twin; `jupytext --to ipynb` regenerates the .ipynb."""
    path, nb = notebook
    twin = jupytext.read(path.with_suffix(".py"))
    pairs = list(zip(nb.cells, twin.cells))
    assert len(nb.cells) == len(twin.cells), f"{path.name} and its .py twin differ in cell count"
    for cell, twin_cell in pairs:
        assert (cell.cell_type, cell.source) == (twin_cell.cell_type, twin_cell.source)
