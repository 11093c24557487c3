"""Session-wide guards shared by every test module."""

from __future__ import annotations

import os

import pytest


def _server_processes_below(pid: int) -> list[str]:
    """Command lines of live descendants of `pid` that look like model servers (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":  # zombies have exited already
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        todo += children.get(child, [])
        try:
            with open(f"/proc/{child}/cmdline", "rb") as cmdline:
                words = cmdline.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "serve" in words or any(word.endswith("vllm") for word in words):
            found.append(" ".join(words).strip())
    return found


@pytest.fixture(scope="session", autouse=True)
def no_server_survives_the_session():
    """After all tests (notebooks included, whose kernels are our children too), no model server
    started by this test session may still run."""
    yield
    if not os.path.isdir("/proc"):
        return
    from helpers.lessons import serving

    leftovers = [repr(server) for server in serving.running_servers()] + _server_processes_below(os.getpid())
    serving.stop_all()
    assert not leftovers, "servers left running after the tests:\n" + "\n".join(leftovers)
