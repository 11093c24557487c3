""".ci/run's own logic, on stand-in suites: both ends of the version ranges run, either failing fails CI,
the log shows both, and stopping CI stops the oldest run too.

The real `.ci/run` is copied into a throw-away git repository with its newest-versions command (the
README's command 2) replaced by a short shell stub and `.ci/run-oldest` replaced by another.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ci_copy(tmp_path: Path, newest: str, oldest: str) -> Path:
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [i for i, line in enumerate(lines) if line.startswith("python3 -m venv")]
    assert len(commands) == 1, "the README's test command should be one line of .ci/run"
    lines[commands[0]] = newest
    (repo / ".ci" / "run").write_text("\n".join(lines) + "\n")
    (repo / ".ci" / "run-oldest").write_text("#!/usr/bin/env bash\n" + oldest + "\n")
    git = ["git", "-c", "user.name=ci-test", "-c", "user.email=ci-test@localhost"]
    for command in (["init", "-q"], ["add", "."], ["commit", "-qm", "stand-in suites"]):
        subprocess.run(git + command, cwd=repo, check=True, capture_output=True)
    return repo


def _ci_environment(tmp_path: Path) -> dict:
    """Where the copy's mktemp puts its second clone: a folder of this test's own, checked afterwards."""
    (tmp_path / "tmp").mkdir()
    return {**os.environ, "TMPDIR": str(tmp_path / "tmp")}


@pytest.mark.parametrize(("newest_exit", "oldest_exit", "ci_exit"), [(0, 0, 0), (3, 0, 3), (0, 5, 5), (3, 5, 3)])
def test_ci_fails_when_either_end_fails_and_shows_both(tmp_path, newest_exit, oldest_exit, ci_exit):
    repo = _ci_copy(tmp_path, f"echo newest suite ran; return {newest_exit}",
                    f"echo oldest suite ran in $(basename \"$(pwd)\"); exit {oldest_exit}")
    done = subprocess.run(["bash", ".ci/run"], cwd=repo, capture_output=True, text=True, timeout=60,
                          env=_ci_environment(tmp_path))
    assert done.returncode == ci_exit, done.stdout + done.stderr
    assert "newest suite ran" in done.stdout
    assert "oldest suite ran" in done.stdout  # its log is printed, even when the newest suite failed
    assert f"newest versions: exit {newest_exit}; oldest versions: exit {oldest_exit}" in done.stdout
    assert not any((tmp_path / "tmp").iterdir()), "CI left its second clone behind"


def _state(pid: int) -> str | None:
    """The process's state letter ('Z' for a zombie), or None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc (Linux)")
def test_stopping_ci_stops_the_oldest_run_and_its_children(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    # Each stand-in suite runs in the foreground, as pytest does, and notes its process id.
    repo = _ci_copy(tmp_path, f"bash -c 'echo $$ > {marks}/newest; exec sleep 30'",
                    f"bash -c 'echo $$ > {marks}/oldest; exec sleep 30'")
    ci = subprocess.Popen(["bash", ".ci/run"], cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          env=_ci_environment(tmp_path))
    children = []
    try:
        deadline = time.monotonic() + 20
        while not all((marks / name).exists() and (marks / name).read_text().strip()
                      for name in ("newest", "oldest")):
            assert time.monotonic() < deadline, "the stand-in suites never started"
            time.sleep(0.1)
        children = [int((marks / name).read_text()) for name in ("newest", "oldest")]
        ci.send_signal(signal.SIGTERM)
        ci.wait(timeout=10)
        oldest = children[1]
        deadline = time.monotonic() + 10
        while _state(oldest) not in (None, "Z") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _state(oldest) in (None, "Z"), "the oldest run's children outlived CI"
        assert not any((tmp_path / "tmp").iterdir()), "CI left its second clone behind"
    finally:
        if ci.poll() is None:
            ci.kill()
        for pid in children:  # the newest stub's sleep is CI's own child: stop it here
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
