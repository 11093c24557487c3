"""The main job: run notebooks headless, keep HTML, report a table, fail loudly."""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from helpers.run_notebooks import main, summary_table


def _write(folder, name, *sources):
    notebook = new_notebook(cells=[new_markdown_cell("# test")] + [new_code_cell(s) for s in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / name)


def test_runner_writes_html_and_a_table_and_fails_on_a_broken_notebook(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BLLOSSOM_MODEL", "tiny")
    notebooks, out = tmp_path / "notebooks", tmp_path / "build"
    notebooks.mkdir()
    _write(notebooks, "01_good.ipynb", "import helpers\nchoice = helpers.pick_model(facts=helpers.RuntimeFacts())",
           "print('fine')")
    _write(notebooks, "02_bad.ipynb", "raise ValueError('broken on purpose')")
    status = main(["--notebooks", str(notebooks), "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 1
    assert (out / "01_good.html").exists() and (out / "02_bad.html").exists()
    assert "fine" in (out / "01_good.html").read_text()
    good, bad = [line for line in printed.splitlines() if line.startswith(("01_good", "02_bad"))]
    assert good.split()[1] == "tiny" and good.endswith("pass")
    assert bad.endswith("FAIL") and "broken on purpose" in printed


def test_runner_exit_zero_when_all_pass_and_filter_by_prefix(tmp_path, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _write(notebooks, "01_a.ipynb", "x = 1")
    _write(notebooks, "02_b.ipynb", "raise SystemExit('not run')")
    assert main(["01", "--notebooks", str(notebooks), "--out", str(tmp_path / "build")]) == 0
    assert "02_b" not in capsys.readouterr().out
    assert main(["09", "--notebooks", str(notebooks)]) == 2


def test_summary_table_lists_every_row():
    table = summary_table([{"notebook": "01_x.ipynb", "model": "tiny", "seconds": 1.5,
                            "result": "pass", "error": ""}])
    assert "01_x.ipynb" in table and "1.5" in table and "pass" in table
