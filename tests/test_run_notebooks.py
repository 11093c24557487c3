"""The main job: run notebooks headless, keep HTML, report a table, fail loudly, always finish."""

from __future__ import annotations

import re

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from helpers.run_notebooks import main, plain_text, summary_table

INTRO = """# 0{n} · Test {n} · 시험 {n}

**What you will learn**
- how `x` works,
  over two lines;
- why it **matters**.

**배울 내용**
- `x`가 동작하는 방식
"""

# Drops this cell's execute reply the first time it runs: the kernel goes idle and the reply never
# comes, the pattern of the stalls seen in headless runs. A fresh kernel runs it normally.
DROP_REPLY_ONCE = '''
import pathlib
marker = pathlib.Path({marker!r})
if not marker.exists():
    marker.touch()
    kernel = get_ipython().kernel
    send = kernel.session.send
    def drop_execute_reply(stream, msg_or_type, *args, **kwargs):
        if msg_or_type == "execute_reply":
            kernel.session.send = send
            return {{"content": {{"status": "ok"}}}}
        return send(stream, msg_or_type, *args, **kwargs)
    kernel.session.send = drop_execute_reply
'''

# Swallows the next shell request before the kernel announces it: the request "never read" that
# ipykernel 7 issues describe. The kernel stays idle and says nothing about the next cell.
SWALLOW_NEXT_REQUEST_ONCE = '''
import pathlib
marker = pathlib.Path({marker!r})
if not marker.exists():
    marker.touch()
    kernel = get_ipython().kernel
    dispatch = kernel.dispatch_shell
    async def swallow(msg, *args, **kwargs):
        kernel.dispatch_shell = dispatch
    kernel.dispatch_shell = swallow
'''

# Counts the comm messages the kernel receives: the runner's client must send none while cells run.
COUNT_COMM_MESSAGES = '''
kernel = get_ipython().kernel
received = []
handler = kernel.shell_handlers["comm_msg"]
def counting(*args, **kwargs):
    received.append(1)
    return handler(*args, **kwargs)
kernel.shell_handlers["comm_msg"] = counting
'''


def _write(folder, name, *sources):
    number = name[1]
    notebook = new_notebook(cells=[new_markdown_cell(INTRO.format(n=number))] + [new_code_cell(s) for s in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / name)


def _row(printed, name):
    """The table line for `name` and the detail line under it ('' if none)."""
    lines = printed.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(name))
    detail = lines[index + 1] if index + 1 < len(lines) and lines[index + 1].startswith("    ") else ""
    return lines[index], detail.strip()


def test_runner_writes_html_and_a_table_and_fails_on_a_broken_notebook(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BLLOSSOM_MODEL", "tiny")
    notebooks, out = tmp_path / "notebooks", tmp_path / "build"
    notebooks.mkdir()
    _write(notebooks, "01_good.ipynb", "import helpers\nchoice = helpers.pick_model(facts=helpers.RuntimeFacts())",
           "print('fine')")
    _write(notebooks, "02_bad.ipynb", "x = 1", "raise ValueError('broken on purpose')")
    status = main(["--notebooks", str(notebooks), "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 1
    assert (out / "01_good.html").exists() and (out / "02_bad.html").exists()
    assert "fine" in (out / "01_good.html").read_text()
    (good, good_detail), (bad, bad_detail) = _row(printed, "01_good"), _row(printed, "02_bad")
    assert good.split()[1] == "tiny" and good.endswith("pass") and good_detail == ""
    assert bad.endswith("FAIL") and bad_detail == "cell 3: ValueError: broken on purpose"


def test_runner_exit_zero_when_all_pass_and_filter_by_prefix(tmp_path, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _write(notebooks, "01_a.ipynb", "x = 1")
    _write(notebooks, "02_b.ipynb", "raise SystemExit('not run')")
    assert main(["01", "--notebooks", str(notebooks), "--out", str(tmp_path / "build")]) == 0
    assert "02_b" not in capsys.readouterr().out
    assert main(["09", "--notebooks", str(notebooks)]) == 2
    assert "No notebook in" in capsys.readouterr().err


def test_an_unreadable_notebook_is_a_failed_row_and_the_others_still_run(tmp_path, capsys):
    notebooks, out = tmp_path / "notebooks", tmp_path / "build"
    notebooks.mkdir()
    _write(notebooks, "01_a.ipynb", "print('first')")
    (notebooks / "02_conflict.ipynb").write_text('{\n<<<<<<< HEAD\n "cells": []\n', encoding="utf-8")
    _write(notebooks, "03_c.ipynb", "print('third')")
    assert main(["--notebooks", str(notebooks), "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    row, detail = _row(printed, "02_conflict")
    assert row.endswith("FAIL") and detail.startswith("cannot read the notebook: NotJSONError")
    assert _row(printed, "01_a")[0].endswith("pass") and _row(printed, "03_c")[0].endswith("pass")
    assert (out / "01_a.html").exists() and (out / "03_c.html").exists() and (out / "index.html").exists()


def test_error_lines_are_plain_text():
    coloured = "\x1b[0;31mValueError\x1b[0m: \x1b[1mbad\x1b[0m\n  value"
    assert plain_text(coloured) == "ValueError: bad value"
    table = summary_table([{"notebook": "01_x.ipynb", "model": "tiny", "seconds": 1.5, "result": "FAIL",
                            "error": coloured}])
    assert "\x1b" not in table and "ValueError: bad value" in table


def test_a_coloured_exception_from_a_cell_reaches_the_table_without_colour_codes(tmp_path, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _write(notebooks, "01_red.ipynb", "raise RuntimeError('\\x1b[31mred\\x1b[0m text')")
    assert main(["--notebooks", str(notebooks), "--out", str(tmp_path / "build")]) == 1
    printed = capsys.readouterr().out
    assert "\x1b" not in printed and _row(printed, "01_red")[1] == "cell 2: RuntimeError: red text"


def test_a_missing_notebook_folder_is_named(tmp_path, capsys):
    missing = tmp_path / "no-such-folder"
    assert main(["--notebooks", str(missing), "--out", str(tmp_path / "build")]) == 2
    message = capsys.readouterr().err
    assert f"--notebooks {missing}: no such folder" in message
    (tmp_path / "empty").mkdir()
    assert main(["--notebooks", str(tmp_path / "empty")]) == 2
    assert "holds no notebooks named like 01_topic.ipynb" in capsys.readouterr().err


def test_a_cell_that_blocks_forever_times_out_is_retried_and_the_job_moves_on(tmp_path, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _write(notebooks, "01_blocks.ipynb", "x = 1", "import threading\nthreading.Event().wait()")
    _write(notebooks, "02_after.ipynb", "print('still ran')")
    status = main(["--notebooks", str(notebooks), "--out", str(tmp_path / "build"), "--time-limit", "4"])
    printed = capsys.readouterr().out
    assert status == 1
    row, detail = _row(printed, "01_blocks")
    assert row.endswith("FAIL")
    assert detail == "timed out after 4 s in cell 3; on retry: timed out after 4 s in cell 3"
    assert _row(printed, "02_after")[0].endswith("pass")


def test_an_idle_kernel_that_never_replies_is_a_stall_and_the_retry_passes(tmp_path, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _write(notebooks, "01_stall.ipynb", "x = 1", DROP_REPLY_ONCE.format(marker=str(tmp_path / "stalled-once")),
           "print('after the stall')")
    # the time limit is far above the stall limit: the stall, not the limit, must end the wait
    status = main(["--notebooks", str(notebooks), "--out", str(tmp_path / "build"),
                   "--time-limit", "600", "--stall-after", "2"])
    printed = capsys.readouterr().out
    assert status == 0
    row, detail = _row(printed, "01_stall")
    assert row.endswith("pass")
    assert detail == "stalled in cell 3 (the kernel went idle but sent no reply for 2 s), passed on retry"
    assert "after the stall" in (tmp_path / "build" / "01_stall.html").read_text()


def test_a_cell_the_kernel_never_starts_is_a_stall_and_the_retry_passes(tmp_path, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _write(notebooks, "01_unread.ipynb", SWALLOW_NEXT_REQUEST_ONCE.format(marker=str(tmp_path / "once")),
           "print('the next cell')")
    status = main(["--notebooks", str(notebooks), "--out", str(tmp_path / "build"),
                   "--time-limit", "600", "--stall-after", "2"])
    printed = capsys.readouterr().out
    assert status == 0
    assert _row(printed, "01_unread")[1] == \
        "stalled in cell 3 (the kernel did not start it within 2 s), passed on retry"


def test_output_widgets_cause_no_comm_traffic_during_cells_and_their_output_is_kept(tmp_path, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _write(notebooks, "01_widget.ipynb", COUNT_COMM_MESSAGES,
           "import ipywidgets as widgets\nout = widgets.Output()\ndisplay(out)\n"
           "for i in range(3):\n    with out:\n        print('inside the widget', i)",
           "assert not received, f'{len(received)} comm messages from the client'")
    assert main(["--notebooks", str(notebooks), "--out", str(tmp_path / "build")]) == 0, capsys.readouterr().out
    assert "inside the widget 2" in (tmp_path / "build" / "01_widget.html").read_text()


def test_ctrl_c_stops_the_whole_job_and_still_prints_the_table(tmp_path, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    # the kernel's parent is the runner: this cell presses Ctrl-C on it, then would run for a minute
    _write(notebooks, "01_interrupted.ipynb", "import os, signal, time\nos.kill(os.getppid(), signal.SIGINT)\n"
           "time.sleep(60)")
    _write(notebooks, "02_never.ipynb", "print('not reached')")
    assert main(["--notebooks", str(notebooks), "--out", str(tmp_path / "build")]) == 130
    printed = capsys.readouterr().out
    assert "Stopped by request after 0 of 2 notebooks." in printed and "02_never" not in printed


def test_the_course_page_lists_notebooks_in_order_with_goals_results_and_relative_links(tmp_path, capsys):
    notebooks, out = tmp_path / "notebooks", tmp_path / "build"
    notebooks.mkdir()
    _write(notebooks, "02_second.ipynb", "raise KeyError('nope')")
    _write(notebooks, "01_first.ipynb", "print(1)")
    _write(notebooks, "03_later.ipynb", "print(3)")
    (out / "student").mkdir(parents=True)
    (out / "student" / "01_first.ipynb").write_text("{}", encoding="utf-8")
    main(["01", "02", "--notebooks", str(notebooks), "--out", str(out)])
    capsys.readouterr()
    page = (out / "index.html").read_text(encoding="utf-8")
    titles = [page.index(f"Test {n} · 시험 {n}") for n in (1, 2, 3)]
    assert titles == sorted(titles)
    assert "how <code>x</code> works, over two lines</li>" in page and "why it <strong>matters</strong>" in page
    assert "<code>x</code>가 동작하는 방식" in page
    first, second, third = (page[titles[0]:titles[1]], page[titles[1]:titles[2]], page[titles[2]:])
    assert "pass" in first and 'href="01_first.html"' in first and 'href="student/01_first.ipynb"' in first
    assert "FAIL" in second and "cell 2: KeyError: &#x27;nope&#x27;" in second and "student/" not in second
    assert "not run yet" in third and "href" not in third
    # opens from disk: every link relative, the style inline, nothing fetched
    assert all(not link.startswith(("http:", "https:", "/")) for link in re.findall(r'href="([^"]+)"', page))
    assert "<style>" in page and "<link" not in page and "<script" not in page


def test_the_main_job_prints_only_the_progress_bar_and_the_table(tmp_path, capfd):
    notebooks, out = tmp_path / "notebooks", tmp_path / "build"
    notebooks.mkdir()
    # os.write(2, ...) bypasses the notebook's output capture and reaches the kernel process's own
    # stderr, where its start-up warnings go (which ones depends on the ipykernel version)
    _write(notebooks, "01_a.ipynb", "import os\nos.write(2, b'straight to the kernel process stderr\\n')\nprint('a')")
    _write(notebooks, "02_b.ipynb", "import sys\nprint('to stderr', file=sys.stderr)")
    assert main(["--notebooks", str(notebooks), "--out", str(out)]) == 0
    printed, progress = capfd.readouterr()
    assert printed.splitlines()[0].split() == ["notebook", "model", "seconds", "result"]
    assert [line.split()[0] for line in printed.splitlines()[2:4]] == ["01_a.ipynb", "02_b.ipynb"]
    assert printed.splitlines()[4].startswith("HTML written to") and len(printed.splitlines()) == 5
    # stderr holds the progress bar alone; the kernel's start-up warnings went to its log
    assert progress.replace("\r", "\n").strip() and all(
        line.startswith("notebooks:") for line in progress.replace("\r", "\n").splitlines() if line.strip())
    assert "straight to the kernel process stderr" in (out / "logs" / "01_a.log").read_text()
    assert "straight to the kernel process stderr" not in printed + progress
    assert "to stderr" in (out / "02_b.html").read_text()
