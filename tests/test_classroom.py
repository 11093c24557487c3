"""The classroom kit: every notebook ends with checked exercises, student copies stub every solution
so that its check asks for an answer, and `prepare` says what is ready and why the rest is not."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from helpers import TutorialError, classroom
from helpers.lessons import exercises

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECK_CALL = re.compile(r"exercises\.(check_\w+)\(")


def exercise_pairs(nb) -> list[tuple]:
    """(solution cell, check cell) for every exercise of a notebook."""
    cells = nb.cells
    return [(cell, cells[i + 1]) for i, cell in enumerate(cells)
            if classroom.SOLUTION_TAG in cell.metadata.get("tags", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_ends_with_three_to_five_checked_exercises(path):
    nb = nbformat.read(path, as_version=4)
    headings = [c for c in nb.cells if c.cell_type == "markdown" and "## Exercises · 연습 문제" in c.source]
    assert len(headings) == 1, f"{path.name} needs one 'Exercises · 연습 문제' section"
    start = nb.cells.index(headings[0])
    pairs = exercise_pairs(nb)
    assert 3 <= len(pairs) <= 5 or (path.name.startswith(("04", "05")) and len(pairs) >= 2), path.name
    for solution, check in pairs:
        assert nb.cells.index(solution) > start, "solutions live in the exercise section"
        assert solution.cell_type == "code" and check.cell_type == "code"
        called = CHECK_CALL.findall(check.source)
        assert called and all(hasattr(exercises, name) for name in called), check.source
        defined = classroom.solution_stub(solution.source)
        names = [line.split(" = ")[0] for line in defined.splitlines() if " = ..." in line]
        assert any(re.search(rf"\b{name}\b", check.source) for name in names), \
            f"the check after a solution must use what it defines:\n{solution.source}\n{check.source}"


def test_every_check_a_notebook_uses_is_tested_with_solution_stub_and_wrong_answer():
    used = {name for path in NOTEBOOKS for cell in nbformat.read(path, as_version=4).cells
            if cell.cell_type == "code" for name in CHECK_CALL.findall(cell.source)}
    tests = (ROOT / "tests" / "test_exercises.py").read_text(encoding="utf-8")
    untested = [name for name in sorted(used) if f"exercises.{name}" not in tests]
    assert not untested, f"checks without a test of solution, stub and wrong answer: {untested}"


def test_a_stub_keeps_the_comments_and_stubs_every_assigned_name():
    source = "# Exercise 1 · 문제 1\nsentence = 'x'\nratio, other = 1, 2  # two at once\nprint(ratio)"
    stub = classroom.solution_stub(source)
    assert stub.splitlines()[0] == "# Exercise 1 · 문제 1"
    assert [line.split(" = ")[0] for line in stub.splitlines()[1:]] == ["sentence", "ratio", "other"]
    namespace = {}
    exec(stub, namespace)  # a stub is valid Python that sets every answer to ...
    assert namespace["sentence"] is ... and namespace["other"] is ...
    with pytest.raises(TutorialError, match="assign the answer"):
        classroom.solution_stub("print('no answer here')")


def test_student_copies(tmp_path):
    written = classroom.write_student_copies(ROOT / "notebooks", tmp_path)
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS]
    for original, copy in zip(NOTEBOOKS, written):
        teacher = nbformat.read(original, as_version=4)
        student = nbformat.read(copy, as_version=4)
        nbformat.validate(student)
        assert len(student.cells) == len(teacher.cells)
        assert student.cells[0].source == teacher.cells[0].source  # title and badges intact
        for cell in student.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None
        for solution, _ in exercise_pairs(student):
            code = [line for line in solution.source.splitlines() if not line.lstrip().startswith("#")]
            assert code and all(line.endswith(classroom.STUB_NOTE) and " = ..." in line for line in code)
            ast.parse(solution.source)


def test_every_stub_is_rejected_by_its_check(tmp_path):
    """Run each check of a student copy on the stubbed answer: it must ask for an answer (NotYet)."""
    for path in classroom.write_student_copies(ROOT / "notebooks", tmp_path):
        for solution, _ in exercise_pairs(nbformat.read(path, as_version=4)):
            namespace = {}
            exec(solution.source, namespace)
            for name, value in namespace.items():
                if not name.startswith("__"):
                    assert value is ...
            with pytest.raises(exercises.NotYet, match="in place of"):
                exercises._answered(next(v for k, v in namespace.items() if not k.startswith("__")))


def test_student_command_writes_copies(tmp_path, capsys):
    assert classroom.main(["student", "--out", str(tmp_path)]) == 0
    assert "student notebooks" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]


def test_student_command_with_no_notebooks_says_so(tmp_path, capsys):
    assert classroom.main(["student", "--notebooks", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "No notebooks" in capsys.readouterr().err


def test_prepare_offline_builds_stand_ins_and_says_what_is_missing(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    assert classroom.main(["prepare", "--models", "tiny", "3b"]) == 1
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split() and line.split()[0] in ("tiny", "3b")}
    assert "ready" in rows["tiny"] and "bllossom-tiny" in rows["tiny"]
    assert "missing: the hub cannot be reached" in rows["3b"]
    assert "Not ready: 3b" in out


def test_prepare_refuses_an_unknown_name_before_building(capsys):
    assert classroom.main(["prepare", "--models", "tiny", "9b"]) == 2
    assert "'9b' is not in the Bllossom catalog" in capsys.readouterr().err


def test_prepare_checks_disk_space_before_downloading(monkeypatch, tmp_path):
    from huggingface_hub.errors import LocalEntryNotFoundError

    def not_cached(repo_id, **kwargs):
        if kwargs.get("local_files_only"):
            raise LocalEntryNotFoundError("not cached")
        raise AssertionError("must not download without room")

    monkeypatch.setattr("huggingface_hub.snapshot_download", not_cached)
    monkeypatch.setattr(classroom, "_free_gb", lambda folder: 2.0)
    row = classroom.prepare_model("8b", hub_online=True)
    assert row["status"].startswith("missing: needs about 16 GB, only 2 GB free")


def test_prepare_downloads_when_online_and_reports_failures(monkeypatch, tmp_path):
    from huggingface_hub.errors import LocalEntryNotFoundError

    calls = []

    def fake_download(repo_id, **kwargs):
        if kwargs.get("local_files_only"):
            raise LocalEntryNotFoundError("not cached")
        calls.append((repo_id, kwargs))
        if repo_id.endswith("70B"):
            raise ConnectionError("Network is unreachable\nmore detail")
        return str(tmp_path / repo_id)

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_download)
    monkeypatch.setattr(classroom, "_free_gb", lambda folder: 10_000.0)
    ready = classroom.prepare_model("3b", hub_online=True)
    assert ready["status"] == "ready" and calls[0][0] == "Bllossom/llama-3.2-Korean-Bllossom-3B"
    assert "*.safetensors" in calls[0][1]["allow_patterns"]
    dropped = classroom.prepare_model("70b", hub_online=True)
    assert dropped["status"] == "missing: ConnectionError: Network is unreachable"
