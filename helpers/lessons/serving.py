"""Notebook 07: the plumbing of serving a model to a class: free ports, health waits, logs, always stopping.

A lesson starts an OpenAI-compatible server (`transformers serve`, or `vllm serve` on a CUDA GPU),
talks to it with the `openai` client, and must never leave a server behind. What would distract
from that lives here: picking a free port on 127.0.0.1, waiting on `/health` with a deadline,
showing the end of the server's log when it fails, and stopping it in every case (a context
manager, an `atexit` hook, and on Linux a signal the kernel sends if our process dies first).
`run_class` is the simulated classroom: N students in threads, bounded in number and in time.
"""

from __future__ import annotations

import atexit
import http.client
import math
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..catalog import catalog_entry
from ..errors import TutorialError
from . import chat

HOST = "127.0.0.1"  # the lesson's servers never listen beyond this machine
LOG_TAIL_LINES = 15
FREE_PORT_TRIES = 3  # start() with no port: new free ports to try when another program takes one first
# `transformers serve MODEL` pins the server to MODEL (a request for another model gets a 400) and
# turns temperature=0 into greedy decoding since 5.18 (read in its source). Its /v1/models names that
# pinned model only from 5.24: 5.18-5.23 list the hub cache instead, and answer 500 where there is none.
# Older 5.x releases take the model as --force-model and silently answer any model name.
MIN_TRANSFORMERS_FOR_SERVE = (5, 24)
# What a client sees when the server vanishes mid-reply: httpx (under openai) raises these while
# a stream is being read; openai wraps them as APIConnectionError only when the request starts.
def _transport_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [ConnectionError]
    for name in ("httpx", "httpx2"):  # openai 1.x and 2.x use httpx; openai 3.x uses httpx2
        try:
            errors.append(__import__(name).TransportError)
        except (ImportError, AttributeError):
            pass
    return tuple(errors)


CONNECTION_ERRORS = _transport_errors()
_RUNNING: set[RunningServer] = set()  # every server this Python process started and has not stopped
_LOCK = threading.Lock()


# ----- ports -------------------------------------------------------------------------------------

def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class PortTaken(TutorialError):
    """Another program listens on the port a server was to use: before it started, or (a race with
    any program that asks the OS for a free port, such as a Jupyter kernel) while it started."""


def check_port_free(port: int) -> int:
    """The port itself, or PortTaken (a TutorialError) if something already listens there."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise TutorialError(f"port must be a whole number between 1 and 65535, not {port!r}.")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # as servers do (uvicorn too): a closed connection's TIME_WAIT does not block the port,
        # only a socket that listens there does
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            raise PortTaken(
                f"Port {port} on {HOST} is already taken (another server, perhaps one started in an "
                "earlier run of this notebook). Leave port=None to get a free port, or stop the "
                "other process.") from error
    return port


# ----- what to start -----------------------------------------------------------------------------

def program_path(name: str) -> str:
    """The console script `name` (`transformers`, `vllm`) of this Python environment, else on PATH.

    A notebook kernel's PATH often lacks its virtual environment's bin folder, so look next to
    the interpreter first."""
    beside = Path(sys.executable).with_name(name)
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    extra = {"transformers": "transformers[serving]", "vllm": "vllm"}.get(name, name)
    raise TutorialError(f"The command '{name}' is not installed in this Python environment. "
                        f"Install it with: pip install \"{extra}\"")


@dataclass(frozen=True)
class ServerPlan:
    """Which server to run, on which model, with which options: data, so one code path starts any.

    `model` is what the command serves and also the model id requests must name."""

    program: str  # "transformers" or "vllm"
    model: str
    options: tuple[str, ...] = ()
    reason: str = field(default="", compare=False)  # why this server was chosen; not part of its identity

    @property
    def name(self) -> str:
        flags = [option for option in self.options if option in ("--continuous-batching",)]
        return " ".join([self.program, "serve", *flags])

    def command(self, port: int) -> list[str]:
        return [self.program, "serve", self.model, "--host", HOST, "--port", str(port), *self.options]


def check_transformers_serve() -> None:
    """A TutorialError naming the upgrade if this transformers' server lacks what notebook 07 uses."""
    import transformers

    found = tuple(int(part) for part in transformers.__version__.split(".")[:2] if part.isdigit())
    if found < MIN_TRANSFORMERS_FOR_SERVE:
        need = ".".join(map(str, MIN_TRANSFORMERS_FOR_SERVE))
        raise TutorialError(f"transformers {transformers.__version__} serves differently from this lesson "
                            f"(no pinned model in its model list, no 400 for a wrong name). Upgrade: "
                            f"pip install -U \"transformers[serving]>={need}\", then restart the kernel.")


def precision_options(choice) -> tuple[str, ...]:
    """`transformers serve` flags that load the weights as `pick_model` chose for the notebook.

    Without `--dtype` the server uses the dtype saved in config.json ("auto"), which can differ
    from the notebook's: then its greedy replies can differ from local `generate`."""
    options = ("--dtype", choice.dtype)
    if getattr(choice, "load_in_4bit", False):
        options += ("--quantization", "bnb-4bit")
    return options


CPU_CACHE_BLOCKS = 32  # paged KV cache on a CPU: 32 blocks of 256 tokens, room for 8,192 tokens in all


def batching_options(choice) -> tuple[str, ...]:
    """`transformers serve` flags for continuous batching on the chosen device.

    The paged KV cache is sized from free memory: 90% of a GPU's, which is what a GPU server
    should do, but on a CPU it is 90% of the machine's RAM (transformers 5.24,
    `continuous_batching/utils.py`), which takes minutes to allocate and starves every other
    program. On a CPU the cache gets a fixed size instead (`--cb-num-blocks`)."""
    options = ("--continuous-batching",)
    if getattr(choice, "device", "cpu") == "cpu":
        options += ("--cb-num-blocks", str(CPU_CACHE_BLOCKS))
    return options


def vllm_available() -> str | None:
    """None when vLLM can run here; else why not, in words."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "this machine has no CUDA GPU (vLLM serves on CUDA GPUs)"
    if shutil.which("vllm") is None and not Path(sys.executable).with_name("vllm").is_file():
        return "vllm is not installed (pip install \"bllossom-tutorial[vllm]\", on a CUDA machine)"
    return None


def scale_out_plan(choice, source: str, context_length: int = 8192) -> ServerPlan:
    """`vllm serve` where it can run (a CUDA GPU and vllm installed), else the best local server,
    `transformers serve --continuous-batching`. Either way the same client code talks to it."""
    why_not = vllm_available()
    if why_not is None:
        dtype = "bfloat16" if choice.dtype == "bfloat16" else "float16"
        return ServerPlan("vllm", source, ("--dtype", dtype, "--max-model-len", str(context_length),
                                           "--gpu-memory-utilization", "0.85"),
                          reason="a CUDA GPU and vllm are here, so vLLM serves")
    return ServerPlan("transformers", source, (*precision_options(choice), *batching_options(choice)),
                      reason=f"vLLM does not run here: {why_not}; the local transformers server stands in")


# ----- running servers ---------------------------------------------------------------------------

def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: ask the kernel to stop the server if the notebook's process dies (even by SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except Exception:
        pass


@dataclass(eq=False)
class RunningServer:
    """A server process we started: its address, its log, and `stop()` (also on `with` exit)."""

    command: list[str]
    port: int
    process: subprocess.Popen
    log_path: Path
    plan: ServerPlan | None = None
    started_at: float = field(default_factory=time.perf_counter)
    keep_log: bool = False  # the log file is deleted on stop() unless this is set
    ready_after_s: float | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """What the openai client takes as `base_url`."""
        return self.url + "/v1"

    @property
    def is_running(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of the server's output (progress bars cut at their last update)."""
        text = self.log_text()
        rows = [row.rsplit("\r", 1)[-1] for row in text.splitlines() if row.strip()]
        return "\n".join(rows[-lines:]) or "(the log is empty)"

    def log_lines(self, containing: str) -> list[str]:
        """Log lines that contain a phrase (e.g. a warning the lesson wants to show)."""
        return [row for row in self.log_text().splitlines() if containing in row]

    def wait_until_healthy(self, timeout_s: float = 180.0) -> float:
        """Poll GET /health until it answers 200; seconds it took. On failure the server is
        stopped and a TutorialError shows the end of its log (PortTaken if another program took
        the port while it started)."""
        try:
            return self._poll_health(timeout_s)
        except BaseException:
            self.stop()  # whatever went wrong, never leave a half-started server behind
            raise

    def _poll_health(self, timeout_s: float) -> float:
        deadline = time.monotonic() + timeout_s
        while True:
            code = self.process.poll()
            if code is not None:
                tail = self.log_tail()
                if "address already in use" in tail.lower():
                    raise PortTaken(f"Port {self.port} on {HOST} was taken by another program while the server "
                                    f"started, so it exited (code {code}). Start it again: with port=None it "
                                    f"gets a new free port. The end of its log:\n{tail}")
                raise TutorialError(f"The server exited (code {code}) before it answered /health. The end "
                                    f"of its log:\n{tail}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as answer:
                    if answer.status == 200:
                        self.ready_after_s = time.perf_counter() - self.started_at
                        return self.ready_after_s
            # HTTPException: something that is not an HTTP server answered there (seen in CI: a
            # Jupyter kernel had taken the port); our server will fail to bind and exit, see above
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                tail = self.log_tail()
                raise TutorialError(
                    f"The server did not answer {self.url}/health within {timeout_s:.0f} s, so it was "
                    f"stopped. A big model may need longer (raise health_timeout_s); otherwise the end of "
                    f"its log says what went wrong:\n{tail}")
            time.sleep(0.25)

    def kill(self) -> None:
        """Kill the server abruptly (SIGKILL), as a crash would; `stop()` still tidies up."""
        if self.is_running:
            _signal_group(self.process, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, grace_s: float = 10.0) -> None:
        """Stop the server and everything it started (SIGTERM, then SIGKILL after `grace_s`).
        Safe to call twice."""
        if self.is_running:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, signal.SIGKILL)
                self.process.wait(timeout=10)
        else:  # the leader is gone; its children (vLLM workers) may not be
            _signal_group(self.process, signal.SIGKILL)
        with _LOCK:
            _RUNNING.discard(self)
        if self.keep_log:
            return
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running else f"stopped (code {self.process.returncode})"
        return f"<server {self.url} pid {self.process.pid}, {state}>"


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)  # the server leads its own process group (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


def stop_all() -> None:
    """Stop every server this process started (registered with atexit when this module loads)."""
    with _LOCK:
        servers = list(_RUNNING)
    for server in servers:
        server.stop()


atexit.register(stop_all)  # a kernel that exits, even after a failed cell, stops its servers


def running_servers() -> list[RunningServer]:
    with _LOCK:
        return [server for server in _RUNNING if server.is_running]


def start_server(command: Sequence[str], port: int, health_timeout_s: float = 180.0,
                 plan: ServerPlan | None = None, env: dict | None = None) -> RunningServer:
    """Start `command` (which must listen on 127.0.0.1:`port`), wait for /health, return it.

    The first word is looked up in this environment (`program_path`). Output goes to a log file,
    not a pipe, so a chatty server can never block on a full pipe."""
    check_port_free(port)
    command = [str(part) for part in command]
    if HOST not in command and "--host" in command:
        raise TutorialError(f"The server must listen on {HOST} only, so that nobody else on the "
                            "network can reach it: pass --host 127.0.0.1.")
    argv = [program_path(command[0]) if os.sep not in command[0] else command[0], *command[1:]]
    log = tempfile.NamedTemporaryFile("wb", prefix=f"server-{port}-", suffix=".log", delete=False)
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with log:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   env=environment, start_new_session=True,
                                   preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    server = RunningServer(command, port, process, Path(log.name), plan)
    with _LOCK:
        _RUNNING.add(server)
    server.wait_until_healthy(health_timeout_s)
    return server


def start(plan: ServerPlan, port: int | None = None, health_timeout_s: float = 300.0,
          instead_of: RunningServer | None = None) -> RunningServer:
    """Start the server a plan describes on `port` (default: a free one).

    `instead_of`: a running server this one replaces. If it was started from the same plan it
    is simply returned; otherwise it is stopped first (two copies of an 8B would not fit a GPU)."""
    if instead_of is not None:
        if instead_of.plan == plan and instead_of.is_running:
            return instead_of
        instead_of.stop()
    if plan.program == "transformers":
        check_transformers_serve()
    if port is not None:
        return start_server(plan.command(port), port, health_timeout_s, plan=plan)
    for attempt in range(FREE_PORT_TRIES):
        port = free_port()  # free now; another program may still take it before the server binds
        try:
            return start_server(plan.command(port), port, health_timeout_s, plan=plan)
        except PortTaken:
            if attempt == FREE_PORT_TRIES - 1:
                raise


def vllm_plan(name: str, tensor_parallel: int = 1, pipeline_parallel: int = 1,
              context_length: int = 8192) -> ServerPlan:
    """The `vllm serve` command for a catalog model over tensor_parallel GPUs per machine and
    pipeline_parallel machines (joined by Ray), in bf16 at the model's context length."""
    entry = catalog_entry(name)
    options = ["--dtype", "bfloat16", "--max-model-len", str(context_length)]
    if tensor_parallel > 1:
        options += ["--tensor-parallel-size", str(tensor_parallel)]
    if pipeline_parallel > 1:
        options += ["--pipeline-parallel-size", str(pipeline_parallel), "--distributed-executor-backend", "ray"]
    return ServerPlan("vllm", entry.hub_id or entry.name, tuple(options))


def show_command(command: Sequence[str]) -> str:
    return shlex.join(str(part) for part in command)


# ----- requests ----------------------------------------------------------------------------------

def check_request(tokenizer, messages, max_tokens: int, context_length: int) -> list[dict]:
    """The client-side checks a server may not do for you: a well-formed message list, and a
    prompt that fits the context window with `max_tokens` new tokens (else a TutorialError)."""
    messages = chat.check_messages(messages)
    return chat.fit_to_context(tokenizer, messages, max_tokens, context_length, on_overflow="refuse")


@dataclass
class StudentReply:
    student: int
    question: int
    text: str | None = None
    tokens: int = 0
    finish_reason: str | None = None
    latency_s: float = math.nan
    error: str | None = None

    @property
    def complete(self) -> bool:
        return self.error is None and bool(self.text) and self.finish_reason in ("stop", "length")


def run_class(ask: Callable[[int], tuple[str, int, str]], questions: int, students: int,
              time_limit_s: float = 120.0) -> tuple[list[StudentReply], float]:
    """`students` threads share `questions` requests (student s asks s, s+students, ...) and each
    calls `ask(question_index) -> (text, completion_tokens, finish_reason)`.

    Bounded in number (at most 64 threads) and in time: no student starts a question after the
    deadline, and the caller's client timeout bounds each request. Returns the replies in
    question order and the wall time."""
    if isinstance(students, bool) or not isinstance(students, int) or not 1 <= students <= 64:
        raise TutorialError(f"students must be a whole number from 1 to 64, not {students!r}.")
    deadline = time.monotonic() + time_limit_s
    replies = [StudentReply(student=q % students, question=q) for q in range(questions)]

    def student(number: int) -> None:
        for reply in replies[number::students]:
            if time.monotonic() > deadline:
                reply.error = f"not asked: the class ran past its {time_limit_s:.0f} s limit"
                continue
            began = time.perf_counter()
            try:
                reply.text, reply.tokens, reply.finish_reason = ask(reply.question)
            except Exception as error:  # every failure is recorded with the student, not lost
                reply.error = f"{type(error).__name__}: {error}"
            reply.latency_s = time.perf_counter() - began

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=students, thread_name_prefix="student") as pool:
        for future in [pool.submit(student, number) for number in range(students)]:
            future.result()
    return replies, time.perf_counter() - began


def percentile(values: Sequence[float], share: float) -> float:
    """The `share` quantile (0.95 for p95) by linear interpolation, as numpy's default."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * share
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def class_row(server_name: str, students: int, replies: list[StudentReply], wall_s: float) -> dict:
    """One table row: latency median and p95 (seconds), and throughput in new tokens a second."""
    latencies = [reply.latency_s for reply in replies if reply.error is None]
    return {"server": server_name, "students": students, "requests": len(replies),
            "complete": sum(reply.complete for reply in replies),
            "latency median (s)": round(statistics.median(latencies), 3) if latencies else math.nan,
            "latency p95 (s)": round(percentile(latencies, 0.95), 3),
            "tokens/s": round(sum(reply.tokens for reply in replies) / wall_s, 1)}


def mixed_up(replies: list[StudentReply], reference: list[str]) -> list[int]:
    """Questions whose reply is not the one a sequential run gave for that same question."""
    return [reply.question for reply in replies if reply.text != reference[reply.question]]


def plot_class(rows: list[dict]):
    """Throughput and p95 latency against the number of students, one line per server."""
    import matplotlib.pyplot as plt

    from ..plotting import use_hangul_font

    use_hangul_font()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name in dict.fromkeys(row["server"] for row in rows):
        mine = [row for row in rows if row["server"] == name]
        students = [row["students"] for row in mine]
        left.plot(students, [row["tokens/s"] for row in mine], marker="o", label=name)
        right.plot(students, [row["latency median (s)"] for row in mine], marker="o", label=f"{name}: median")
        right.plot(students, [row["latency p95 (s)"] for row in mine], marker="x", linestyle="--",
                   label=f"{name}: p95")
    for axes in (left, right):
        axes.set_xscale("log", base=2)
        axes.set_xticks(sorted({row["students"] for row in rows}), [str(n) for n in
                                                                     sorted({row["students"] for row in rows})])
        axes.set_xlabel("students at once (동시 학생 수)")
        axes.legend(fontsize=8)
    left.set_ylabel("new tokens per second (처리량)")
    right.set_ylabel("seconds per reply (지연 시간)")
    figure.tight_layout()
    return figure


# ----- planning memory for vLLM ------------------------------------------------------------------

def kv_cache_bytes(layers: int, kv_heads: int, head_dim: int, tokens: int, bytes_per_value: float = 2.0) -> float:
    """Bytes of KV cache for `tokens` tokens of one sequence: a key and a value vector per layer,
    per KV head, per token."""
    return 2 * layers * kv_heads * head_dim * bytes_per_value * tokens


def kv_cache_gb_per_user(entry_or_name, tokens: int = 8192, bytes_per_value: float = 2.0) -> float:
    """KV cache one user's `tokens` need on a catalog model, in GB (1e9 bytes), bf16 by default."""
    entry = catalog_entry(entry_or_name) if isinstance(entry_or_name, str) else entry_or_name
    if entry.layers is None:
        raise TutorialError(f"The catalog has no layer counts for {entry.name}; the planning table "
                            "covers the Llama-3 models (8b, 3b, 70b).")
    return kv_cache_bytes(entry.layers, entry.kv_heads, entry.head_dim, tokens, bytes_per_value) / 1e9


def memory_plan(names: Sequence[str] = ("8b", "70b"), gpu_counts: Sequence[int] = (1, 2, 4, 8),
                gpu_gb: float = 80.0, tokens: int = 8192, utilization: float = 0.9) -> list[dict]:
    """Rows of a memory plan for tensor parallelism over `gpu_counts` GPUs of `gpu_gb` each, bf16.

    Tensor parallelism splits every weight matrix and every KV head group across the GPUs, so
    per GPU both weights and each user's KV cache shrink by the GPU count (while the count
    divides the 8 KV heads). vLLM takes `utilization` of each GPU; what the weights leave of
    it holds the KV cache. Activations and CUDA graphs are ignored: an upper bound."""
    rows = []
    for name in names:
        entry = catalog_entry(name)
        weights = entry.bf16_gb
        kv_user = kv_cache_gb_per_user(entry, tokens)
        for gpus in gpu_counts:
            if entry.kv_heads % gpus and gpus % entry.kv_heads:
                raise TutorialError(f"{gpus} GPUs do not split {entry.kv_heads} KV heads evenly.")
            left = gpu_gb * utilization - weights / gpus
            users = max(0, math.floor(left / (kv_user / gpus))) if left > 0 else 0
            rows.append({"model": name, "GPUs": gpus, "weights per GPU (GB)": round(weights / gpus, 1),
                         f"KV per user at {tokens} tokens, all GPUs (GB)": round(kv_user, 2),
                         "fits": left > 0, f"users at {tokens} tokens": users})
    return rows
