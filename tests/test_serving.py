"""helpers.lessons.serving: servers start, answer, fail clearly and always stop; a real
`transformers serve` on Bllossom-tiny answers like local `generate` and never mixes up a class."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager

import openai
import pytest

from helpers import RuntimeFacts, TutorialError, choose_model
from helpers.lessons import chat, serving
from helpers.offline.tiny_chat_model import load_corpus

# A stand-in "server" for the lifecycle tests: answers /health, and starts a child process so
# that stopping must take the whole process group down. Starts in well under a second.
FAKE_SERVER = r"""
import http.server, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print("child", child.pid, flush=True)
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""


def fake_server(port: int, health_timeout_s: float = 60) -> serving.RunningServer:
    return serving.start_server([sys.executable, "-c", FAKE_SERVER, str(port)], port, health_timeout_s)


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def child_pid(server) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in server.log_lines("child "):
            return int(line.split()[1])
        time.sleep(0.05)
    raise AssertionError(server.log_tail())


# ----- lifecycle, with the fake server ------------------------------------------------------------

def test_free_port_is_free_and_on_localhost():
    port = serving.free_port()
    assert serving.check_port_free(port) == port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


def test_start_answers_health_and_stop_takes_the_whole_group_down():
    port = serving.free_port()
    server = fake_server(port)
    assert server.is_running and server.url == f"http://127.0.0.1:{port}" and server.ready_after_s > 0
    with urllib.request.urlopen(server.url + "/health", timeout=5) as answer:
        assert json.load(answer) == {"status": "ok"}
    assert server in serving.running_servers()
    child = child_pid(server)
    assert pid_alive(child)
    server.stop()
    assert server.process.returncode is not None and server not in serving.running_servers()
    deadline = time.monotonic() + 10
    while pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(child), "the server's child process survived stop()"
    serving.check_port_free(port)  # the port is free again
    server.stop()  # twice is fine


def test_context_manager_stops_even_when_the_block_fails():
    with pytest.raises(ZeroDivisionError):
        with fake_server(serving.free_port()) as server:
            raise ZeroDivisionError
    assert not server.is_running


def test_stop_all_stops_every_server_started_here():
    servers = [fake_server(serving.free_port()) for _ in range(2)]
    serving.stop_all()
    assert serving.running_servers() == [] and all(not s.is_running for s in servers)


def test_port_taken_is_refused_before_starting():
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(TutorialError, match=f"Port {port} on 127.0.0.1 is already taken"):
            fake_server(port)
    with pytest.raises(TutorialError, match="between 1 and 65535"):
        serving.check_port_free(70000)


@contextmanager
def not_http_listener():
    """A port where something that is not an HTTP server answers, as in CI, where a Jupyter kernel
    took the port a test server had been given and answered its /health poll with ZeroMQ bytes."""
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    squatter.settimeout(0.2)
    done = threading.Event()

    def answer():
        while not done.is_set():
            try:
                connection, _ = squatter.accept()
            except OSError:  # the accept timed out, or the socket is closed
                continue
            with connection:
                connection.sendall(b"\xff\x00\x00\x00\x00\x00\x00\x00\x013kernel.status\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield squatter.getsockname()[1]
    finally:
        done.set()
        thread.join(timeout=5)
        squatter.close()


def test_a_port_taken_while_the_server_starts_is_named_and_the_server_stopped(monkeypatch):
    monkeypatch.setattr(serving, "check_port_free", lambda port: port)  # taken after the check: the race
    with not_http_listener() as port:
        with pytest.raises(serving.PortTaken, match=f"Port {port} on 127.0.0.1 was taken by another program"):
            fake_server(port, health_timeout_s=30)
    assert serving.running_servers() == []


def test_start_without_a_port_tries_a_new_free_port_when_one_is_taken(monkeypatch, tmp_path):
    program = tmp_path / "fake-serve"  # takes `serve MODEL --host H --port P`, as a ServerPlan's command
    program.write_text(f"#!{sys.executable}\n" + FAKE_SERVER.replace(
        "int(sys.argv[1])", 'int(sys.argv[sys.argv.index("--port") + 1])'))
    program.chmod(0o755)
    monkeypatch.setattr(serving, "check_port_free", lambda port: port)
    real_free_port = serving.free_port
    with not_http_listener() as taken:
        offered = iter([taken])
        monkeypatch.setattr(serving, "free_port", lambda: next(offered, None) or real_free_port())
        server = serving.start(serving.ServerPlan(str(program), "unused"), health_timeout_s=30)
        try:
            assert server.is_running and server.port != taken
            assert serving.running_servers() == [server]  # the one that lost the port was stopped
        finally:
            server.stop()


def test_never_healthy_times_out_stops_it_and_shows_the_log():
    command = [sys.executable, "-c", "import time; print('still loading shards', flush=True); time.sleep(60)"]
    began = time.monotonic()
    with pytest.raises(TutorialError, match=r"did not answer .*/health within 2 s(.|\n)*still loading shards"):
        serving.start_server(command, serving.free_port(), health_timeout_s=2)
    assert time.monotonic() - began < 30
    assert serving.running_servers() == []


def test_a_server_that_exits_says_so_with_its_log():
    command = [sys.executable, "-c", "import sys; print('OSError: no model at /nowhere'); sys.exit(3)"]
    with pytest.raises(TutorialError, match=r"exited \(code 3\)(.|\n)*no model at /nowhere"):
        serving.start_server(command, serving.free_port(), health_timeout_s=30)


def test_only_localhost_and_known_programs():
    port = serving.free_port()
    with pytest.raises(TutorialError, match="127.0.0.1 only"):
        serving.start_server(["transformers", "serve", "x", "--host", "0.0.0.0", "--port", str(port)], port)
    with pytest.raises(TutorialError, match="pip install"):
        serving.program_path("no-such-server-program")


# ----- plans, classes and memory, without a server -------------------------------------------------

def test_plans_are_data():
    cpu = choose_model(RuntimeFacts())
    plan = serving.ServerPlan("transformers", "/models/tiny", serving.precision_options(cpu))
    assert plan.command(9000) == ["transformers", "serve", "/models/tiny", "--host", "127.0.0.1", "--port", "9000",
                                  "--dtype", "float32"]
    scale = serving.scale_out_plan(cpu, "/models/tiny")
    if serving.vllm_available() is not None:  # this machine: no CUDA GPU or no vllm
        assert scale.program == "transformers" and "--continuous-batching" in scale.options
        assert "vLLM does not run here" in scale.reason
    seventy = serving.vllm_plan("70b", tensor_parallel=4, pipeline_parallel=2).command(8000)
    assert seventy[:3] == ["vllm", "serve", "Bllossom/llama-3-Korean-Bllossom-70B"]
    for flag, value in [("--tensor-parallel-size", "4"), ("--pipeline-parallel-size", "2"),
                        ("--max-model-len", "8192"), ("--host", "127.0.0.1")]:
        assert seventy[seventy.index(flag) + 1] == value


def test_kv_cache_and_memory_plan_from_the_catalog():
    assert serving.kv_cache_gb_per_user("8b") == pytest.approx(2 * 32 * 8 * 128 * 2 * 8192 / 1e9)  # 1.07 GB
    assert serving.kv_cache_gb_per_user("70b") == pytest.approx(2 * 80 * 8 * 128 * 2 * 8192 / 1e9)  # 2.68 GB
    rows = {(r["model"], r["GPUs"]): r for r in serving.memory_plan(gpu_gb=80)}
    assert rows["8b", 1]["fits"] and not rows["70b", 1]["fits"] and rows["70b", 2]["fits"]
    assert rows["70b", 4]["weights per GPU (GB)"] == pytest.approx(70.6 * 2 / 4, abs=0.05)
    assert rows["70b", 1]["users at 8192 tokens"] == 0
    with pytest.raises(TutorialError, match="no layer counts"):
        serving.kv_cache_gb_per_user("tiny")


def test_run_class_records_failures_and_keeps_its_time_limit():
    def ask(number):
        if number == 2:
            raise ConnectionError("server went away")
        time.sleep(0.3)
        return f"reply {number}", 3, "stop"

    replies, wall = serving.run_class(ask, 6, students=2, time_limit_s=0.5)
    assert [r.question for r in replies] == list(range(6)) and [r.student for r in replies] == [0, 1] * 3
    assert replies[2].error == "ConnectionError: server went away" and not replies[2].complete
    assert replies[0].complete and replies[0].text == "reply 0"
    assert any(r.error and "past its 0 s limit" in r.error for r in replies[3:])
    assert wall < 5
    with pytest.raises(TutorialError, match="from 1 to 64"):
        serving.run_class(ask, 4, students=0)


def test_percentile_interpolates_like_numpy():
    assert serving.percentile([1, 2, 3, 4], 0.5) == 2.5
    assert serving.percentile(list(range(101)), 0.95) == pytest.approx(95)


# ----- a real transformers serve on Bllossom-tiny -------------------------------------------------

NEW_TOKENS = 12


@pytest.fixture(scope="module")
def tiny():
    from helpers import load_model, source_of

    choice = choose_model(RuntimeFacts())
    model, tokenizer = load_model(choice)
    return choice, source_of(choice), model, tokenizer


@pytest.fixture(scope="module")
def tiny_server(tiny):
    choice, source, _, _ = tiny
    server = serving.start(serving.ServerPlan("transformers", source, serving.precision_options(choice)))
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", timeout=120, max_retries=0)
    yield server, client
    server.stop()


def local_greedy(tiny, question):
    choice, _, model, tokenizer = tiny
    inputs = tokenizer.apply_chat_template(chat.card_messages(choice, question), add_generation_prompt=True,
                                           return_dict=True, return_tensors="pt")
    output = model.generate(**inputs, do_sample=False, max_new_tokens=NEW_TOKENS)
    new_ids = output[0, inputs["input_ids"].shape[-1]:]
    return tokenizer.decode(new_ids, skip_special_tokens=True), len(new_ids)


def server_greedy(tiny, client, question):
    choice, source, _, _ = tiny
    answer = client.chat.completions.create(model=source, messages=chat.card_messages(choice, question),
                                            temperature=0, max_tokens=NEW_TOKENS)
    return answer.choices[0].message.content, answer.usage.completion_tokens, answer.choices[0].finish_reason


def test_server_greedy_equals_local_generate(tiny, tiny_server):
    _, client = tiny_server
    for question in [pair["question"] for pair in load_corpus()][:3]:
        text, tokens, _ = server_greedy(tiny, client, question)
        assert (text, tokens) == local_greedy(tiny, question), question


def test_32_students_at_once_get_their_own_complete_replies(tiny, tiny_server):
    _, client = tiny_server
    questions = [pair["question"] for pair in load_corpus()][:32]
    expected = [local_greedy(tiny, question)[0] for question in questions]
    assert len(set(expected)) > 16, "the questions must have different answers for mix-ups to show"
    replies, _ = serving.run_class(lambda n: server_greedy(tiny, client, questions[n]), 32, students=32,
                                   time_limit_s=600)
    assert [r.error for r in replies] == [None] * 32
    assert all(r.complete for r in replies)
    assert serving.mixed_up(replies, expected) == []


def test_bad_requests_get_http_errors_or_clear_messages(tiny, tiny_server):
    choice, source, _, tokenizer = tiny
    _, client = tiny_server
    messages = chat.card_messages(choice, "블로썸은 어떤 모델이야?")
    with pytest.raises(openai.BadRequestError) as unknown:
        client.chat.completions.create(model="Bllossom-9000", messages=messages, max_tokens=4)
    assert unknown.value.status_code == 400 and "pinned" in str(unknown.value.body)
    with pytest.raises(openai.InternalServerError):  # what the server says to []: a bare 500
        client.chat.completions.create(model=source, messages=[], max_tokens=4)
    with pytest.raises(TutorialError, match="message list is empty"):
        serving.check_request(tokenizer, [], max_tokens=4, context_length=8192)
    too_long = chat.card_messages(choice, "안녕 " * 8192)
    with pytest.raises(TutorialError, match="reads at most 8,192"):
        serving.check_request(tokenizer, too_long, max_tokens=4, context_length=8192)
    assert serving.check_request(tokenizer, messages, 4, 8192) == messages


def test_server_does_not_refuse_a_prompt_past_the_context(tiny, tiny_server):
    """What the notebook says: transformers serve answers 200 and only logs a reminder."""
    choice, source, _, _ = tiny
    server, client = tiny_server
    answer = client.chat.completions.create(model=source, messages=chat.card_messages(choice, "안녕 " * 4300),
                                            max_tokens=3)  # the reminder comes after the first new token
    assert answer.usage.prompt_tokens > 8192
    assert server.log_lines("friendly reminder")


def test_zz_server_killed_mid_stream_raises_instead_of_hanging(tiny, tiny_server):
    """Runs last in this module: it kills the module's server."""
    choice, source, _, _ = tiny
    server, client = tiny_server
    stream = client.chat.completions.create(
        model=source, messages=chat.card_messages(choice, "블로썸은 어떤 모델이야?"), stream=True,
        extra_body={"generation_config": json.dumps({"max_new_tokens": 3000, "do_sample": False})})
    chunks = iter(stream)
    next(chunks)
    server.kill()
    began = time.monotonic()
    with pytest.raises((openai.APIError, *serving.CONNECTION_ERRORS)):
        for _ in chunks:
            pass
    assert time.monotonic() - began < 30
    assert not server.is_running


def test_an_old_transformers_is_named_with_the_upgrade(monkeypatch):
    import transformers

    monkeypatch.setattr(transformers, "__version__", "5.23.0")  # lists the hub cache, not the pinned model
    with pytest.raises(TutorialError, match=r'pip install -U "transformers\[serving\]>=5.24"'):
        serving.start(serving.ServerPlan("transformers", "/models/tiny"))
    monkeypatch.setattr(transformers, "__version__", "5.24.0")
    serving.check_transformers_serve()


def test_start_instead_of_reuses_a_server_of_the_same_plan_and_stops_another():
    port = serving.free_port()
    plan = serving.ServerPlan(sys.executable, "unused", reason="first")
    server = fake_server(port)
    server.plan = plan
    same = serving.ServerPlan(sys.executable, "unused", reason="other words")
    assert serving.start(same, instead_of=server) is server and server.is_running
    other = serving.ServerPlan(sys.executable, "other")  # `python serve ...` exits at once: no such file
    with pytest.raises(TutorialError, match="exited"):  # the old server is stopped first, then this one fails
        serving.start(other, instead_of=server, health_timeout_s=30)
    assert not server.is_running


def test_the_session_check_would_catch_a_server_left_running():
    from conftest import SESSION_MARK, _marked_server_processes

    mark = os.environ[SESSION_MARK]  # set by the session fixture; inherited by every server we start
    port = serving.free_port()
    server = serving.start_server([sys.executable, "-c", FAKE_SERVER, str(port), "serve"], port)
    try:
        assert any(f"pid {server.process.pid}:" in line for line in _marked_server_processes(mark))
    finally:
        server.stop()
    assert not any(f"pid {server.process.pid}:" in line for line in _marked_server_processes(mark))


# ----- the vLLM path, with a stand-in `vllm` program ------------------------------------------------
# vLLM needs a CUDA GPU, which CI lacks. This fake `vllm` speaks the little of vLLM's OpenAI API the
# notebook uses (/health, /v1/models, /v1/chat/completions) and writes down the command line it got,
# so the path the notebook takes on a GPU runs end to end here: the choice, the command, the health
# wait, the same `openai` client code, a class at once, and the stop.
FAKE_VLLM = r"""#!PYTHON
import http.server, json, sys
args = sys.argv[1:]
print("argv", json.dumps(args), flush=True)
assert args[0] == "serve", args
port = int(args[args.index("--port") + 1])
model = args[1]
class OpenAILike(http.server.BaseHTTPRequestHandler):
    def reply(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        self.reply({"status": "ok"} if self.path == "/health" else {"object": "list", "data": [{"id": model}]})
    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = "echo: " + request["messages"][-1]["content"]
        self.reply({"id": "x", "object": "chat.completion", "created": 0, "model": request["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}})
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), OpenAILike).serve_forever()
"""


def test_with_a_gpu_and_vllm_the_notebook_path_serves_with_vllm(tmp_path, monkeypatch):
    import torch

    program = tmp_path / "vllm"
    program.write_text(FAKE_VLLM.replace("PYTHON", sys.executable))
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert serving.vllm_available() is None
    gpu = RuntimeFacts(gpu_name="NVIDIA L4", compute_capability=(8, 9), gpu_total_gb=24.0)
    choice = choose_model(gpu, "8b")
    plan = serving.scale_out_plan(choice, "MLP-KTLim/llama-3-Korean-Bllossom-8B")
    assert plan.program == "vllm" and "vLLM serves" in plan.reason
    with serving.start(plan, health_timeout_s=30) as server:
        [argv] = server.log_lines("argv ")
        assert json.loads(argv.split(" ", 1)[1]) == plan.command(server.port)[1:]
        assert "--gpu-memory-utilization" in plan.options and server.url.startswith("http://127.0.0.1:")
        client = openai.OpenAI(base_url=server.base_url, api_key="not-needed", timeout=10, max_retries=0)
        assert [m.id for m in client.models.list().data] == [plan.model]

        def ask(number):  # the notebook's `ask`, on this server
            answer = client.chat.completions.create(model=plan.model, temperature=0, max_tokens=8,
                                                    messages=[{"role": "user", "content": f"question {number}"}])
            return answer.choices[0].message.content, answer.usage.completion_tokens, answer.choices[0].finish_reason

        sequential, _ = serving.run_class(ask, 16, 1, time_limit_s=30)
        together, _ = serving.run_class(ask, 16, 16, time_limit_s=30)
        assert all(reply.complete for reply in sequential + together)
        assert serving.mixed_up(together, [reply.text for reply in sequential]) == []
    assert not server.is_running and serving.running_servers() == []
