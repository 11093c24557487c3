"""The main job under one course-wide BLLOSSOM_MODEL on a CPU-only, offline machine (issue 17).

`BLLOSSOM_MODEL=tiny` puts every lesson on its stand-in, the vision lesson included. A text choice
such as `BLLOSSOM_MODEL=3b` never breaks the vision lesson, which chooses from the hardware and says
why; the text lessons stop at their first model cell with the offline advice, because the 3B is not
cached and the hub cannot be reached. To stay fast, each run takes the notebooks that show it.
"""

from __future__ import annotations

import pytest
import torch

from helpers.run_notebooks import main

pytestmark = pytest.mark.skipif(torch.cuda.is_available() or torch.backends.mps.is_available(),
                                reason="describes a CPU-only machine")


def _rows(printed: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in printed.splitlines() if line.startswith(("01_", "05_"))}


@pytest.fixture
def offline_cpu(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))  # nothing cached from the hub
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("BLLOSSOM_VISION_MODEL", raising=False)
    return tmp_path / "build"


def test_tiny_puts_the_vision_lesson_on_its_stand_in(offline_cpu, monkeypatch, capsys):
    monkeypatch.setenv("BLLOSSOM_MODEL", "tiny")
    assert main(["05", "--out", str(offline_cpu)]) == 0
    row = _rows(capsys.readouterr().out)["05_vision.ipynb"]
    assert row[1] == "tiny-llava-next" and row[-1] == "pass"
    assert "set by BLLOSSOM_MODEL=tiny" in (offline_cpu / "05_vision.html").read_text()


def test_3b_stops_the_text_lesson_with_advice_and_leaves_the_vision_lesson_alone(offline_cpu, monkeypatch, capsys):
    monkeypatch.setenv("BLLOSSOM_MODEL", "3b")
    assert main(["01", "05", "--out", str(offline_cpu)]) == 1
    rows = _rows(capsys.readouterr().out)
    assert rows["01_loading.ipynb"][1] == "3b" and rows["01_loading.ipynb"][-1] == "FAIL"
    assert rows["05_vision.ipynb"][1] == "tiny-llava-next" and rows["05_vision.ipynb"][-1] == "pass"
    text_html = (offline_cpu / "01_loading.html").read_text()
    assert "TutorialError" in text_html and "BLLOSSOM_MODEL=tiny" in text_html
    vision_html = (offline_cpu / "05_vision.html").read_text()
    assert "BLLOSSOM_MODEL=3b names a text model, so this vision lesson ignores it" in vision_html
    assert "Change it with the environment variable BLLOSSOM_VISION_MODEL" in vision_html
