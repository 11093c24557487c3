"""One Korean word per idea: no notebook's markdown uses a variant that docs/glossary.md rules out."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "docs" / "glossary.md"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def glossary_rows() -> list[dict]:
    """The glossary table as rows: English, the Korean the lessons use, and the variants they avoid."""
    rows = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("English", "") or set(cells[0]) <= {"-"}:
            continue
        rows.append({"english": cells[0], "korean": cells[1], "avoid": re.findall(r"`([^`]+)`", cells[2])})
    return rows


def markdown_lines(notebook: Path) -> list[tuple[int, str]]:
    """(cell number, line) for every line of the notebook's markdown cells."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [(number, line) for number, cell in enumerate(cells) if cell["cell_type"] == "markdown"
            for line in "".join(cell["source"]).splitlines()]


def test_glossary_is_well_formed():
    rows = glossary_rows()
    assert len(rows) >= 20, "the glossary table was not found or lost rows"
    englishes = [row["english"] for row in rows]
    assert len(englishes) == len(set(englishes)), "a term is listed twice"
    for row in rows:
        assert row["korean"] and row["korean"] not in row["avoid"], row
    everything_avoided = [variant for row in rows for variant in row["avoid"]]
    preferred = {row["korean"] for row in rows}
    assert not preferred & set(everything_avoided), "a preferred word is also listed as a variant"


def test_the_notebooks_are_found():
    assert len(NOTEBOOKS) >= 5, [n.name for n in NOTEBOOKS]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_markdown_uses_the_glossary_terms(notebook):
    found = [f"cell {number}: '{variant}' (write '{row['korean']}' for {row['english']}): {line.strip()[:80]}"
             for number, line in markdown_lines(notebook)
             for row in glossary_rows() for variant in row["avoid"] if variant in line]
    assert not found, "non-preferred terms, see docs/glossary.md:\n" + "\n".join(found)


def test_a_variant_is_caught(tmp_path):
    """The check itself works: a markdown cell with a variant is reported."""
    row = next(row for row in glossary_rows() if row["avoid"])
    notebook = tmp_path / "99_probe.ipynb"
    notebook.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": [f"예: {row['avoid'][0]}"]},
                                              {"cell_type": "code", "source": [row["avoid"][-1]]}]}))
    lines = markdown_lines(notebook)
    assert [variant for _, line in lines for variant in row["avoid"] if variant in line] == [row["avoid"][0]]
