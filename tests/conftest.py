"""Session-wide guards shared by every test module."""

from __future__ import annotations

import os
import uuid

import pytest

SESSION_MARK = "BLLOSSOM_TEST_SESSION"


def _marked_server_processes(mark: str) -> list[str]:
    """Live processes (not zombies) whose environment carries this session's mark and whose
    command line looks like a model server. The mark is inherited from here by notebook kernels
    and the servers they start, so a server is found even after its parent died (Linux /proc)."""
    needle = f"{SESSION_MARK}={mark}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if needle not in environ.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                words = cmdline.read().decode(errors="replace").split("\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if "serve" in words or any(word.endswith("vllm") for word in words):
            found.append(f"pid {entry}: " + " ".join(words).strip())
    return found


@pytest.fixture(scope="session", autouse=True)
def no_server_survives_the_session():
    """After all tests, no model server started during this test session may still run: not in
    this process's registry, and not anywhere on the machine with this session's mark."""
    mark = os.environ.setdefault(SESSION_MARK, uuid.uuid4().hex)
    yield
    from helpers.lessons import serving

    leftovers = [repr(server) for server in serving.running_servers()]
    if os.path.isdir("/proc"):
        leftovers += _marked_server_processes(mark)
    serving.stop_all()
    assert not leftovers, "servers left running after the tests:\n" + "\n".join(leftovers)
