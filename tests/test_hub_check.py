"""One fast answer to "can the hub be reached?", shared by the model choice and the hub lessons.

The hub stand-ins are servers on 127.0.0.1: one that accepts a connection and never replies (a
hub behind a dead proxy), one that answers. Nothing here reaches beyond this machine.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from helpers import TutorialError
from helpers.lessons import fertility
from helpers.models import runtime


@pytest.fixture
def online(monkeypatch):
    """No offline switch set, as on a learner's machine."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)


@pytest.fixture
def silent_hub():
    """An address that accepts connections and reads the request but never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    requests, stop, held = [], threading.Event(), []

    def accept():
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            held.append(connection)
            connection.settimeout(5)
            try:
                requests.append(connection.recv(1024))
            except OSError:
                requests.append(b"")

    worker = threading.Thread(target=accept, daemon=True)
    worker.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", requests
    stop.set()
    worker.join()
    for connection in held:
        connection.close()
    server.close()


@pytest.fixture
def answering_hub():
    class Quiet(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):  # noqa: N802 (the name http.server calls)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Quiet)
    worker = threading.Thread(target=server.serve_forever, daemon=True)
    worker.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_hub_that_never_answers_is_unreachable_after_the_timeout_and_asked_once(online, silent_hub):
    endpoint, requests = silent_hub
    started = time.monotonic()
    assert runtime.hub_reachable(endpoint, timeout=0.5) is False
    # a ceiling ten times the timeout, not a measurement: huggingface_hub's own retries take ~90 s
    assert time.monotonic() - started < 5
    assert runtime.hub_reachable(endpoint, timeout=0.5) is False  # decided once per process
    time.sleep(0.3)  # let the server thread read what arrived
    assert len(requests) == 1 and requests[0].startswith(b"HEAD / HTTP/1.1")


def test_a_hub_that_answers_is_reachable_and_offline_mode_asks_nobody(online, answering_hub, monkeypatch):
    assert runtime.hub_reachable(answering_hub) is True
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert runtime.hub_reachable(answering_hub) is False
    assert runtime.hub_reachable("http://127.0.0.1:9") is False  # HF_HUB_OFFLINE: no probe at all
    assert "http://127.0.0.1:9" not in runtime._hub_answers


def test_runtime_facts_carry_the_answer_for_the_endpoint_huggingface_hub_uses(online, answering_hub, silent_hub,
                                                                             monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", answering_hub)
    assert runtime.runtime_facts().hub_online is True
    monkeypatch.setenv("HF_ENDPOINT", silent_hub[0])
    assert runtime.runtime_facts().hub_online is False


def test_hub_tokenizer_without_a_hub_says_so_at_once(online, silent_hub, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", silent_hub[0])
    started = time.monotonic()
    with pytest.raises(TutorialError, match="not reachable .*did not answer.* not in the local cache"):
        fertility.load_hub_tokenizer("kfkas/Hansung-Bllossom-8B")
    assert time.monotonic() - started < 10  # a ceiling: without the check this retries for ~90 s
