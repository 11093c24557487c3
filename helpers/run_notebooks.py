"""The tutorial's main job: run every notebook headless and keep the results as HTML.

    python -m helpers.run_notebooks            # all notebooks, into build/
    python -m helpers.run_notebooks 01 03      # only those whose names start so

Each notebook runs top to bottom in a fresh kernel, on whatever model `pick_model` chooses
here (Bllossom-tiny on a CPU). The terminal shows a progress bar and, at the end, a table of
notebook, model, seconds and result; under a failed or retried row, one plain line says what
happened and in which cell ("cell K" counts every cell of the notebook, markdown included, from 1).
`build/index.html` is a course page linking the executed notebooks; kernel logs go to
`build/logs/`. The exit status is non-zero if any notebook failed.

The job always finishes. A notebook that cannot be read is a failed row. A cell that stops
making progress is caught two ways: the kernel went idle but its reply never came (a *stall*,
noticed after `--stall-after` seconds), or the notebook ran past its time limit (sized from its
last passing run here, see `time_limit_for`). Either way, or when the kernel dies, the kernel is
replaced and that notebook runs once more.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .course_page import NOTEBOOK_PATTERN, write_course_page
from .models.choice import RUN_RECORD_VARIABLE

ROOT = Path(__file__).resolve().parents[1]
STALL_AFTER_S = 30.0  # an idle kernel answers within milliseconds; 30 s of silence after idle is a stall
DEFAULT_TIME_LIMIT_S = 1200  # a notebook never run here (a cold cache builds stand-ins: minutes)
RESULTS_FILE = "results.json"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")


def plain_text(text: str, limit: int = 200) -> str:
    """One line without terminal colour codes, short enough for a table."""
    line = " ".join(ANSI_ESCAPE.sub("", str(text)).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class CellStalled(Exception):
    """The kernel reported idle for a cell but its execute reply never came."""


@dataclass
class Attempt:
    """One run of one notebook in one kernel."""

    kind: str  # "pass", "error", "stall", "timeout", "dead", "client", "kernel-start"
    verdict: str = ""  # the plain line for the table; empty when it passed
    notebook: object = None  # the executed NotebookNode (partial on failure)
    models: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def worth_a_retry(self) -> bool:
        return self.kind in ("stall", "timeout", "dead")


def _make_client_class():
    """A NotebookClient that notices a stall instead of waiting for a reply that will not come."""
    from nbclient import NotebookClient
    from traitlets import Float

    class WatchedClient(NotebookClient):
        stall_after = Float(STALL_AFTER_S, help="seconds a cell may go unstarted, or owe its reply once idle")

        def on_comm_open_jupyter_widget(self, msg):
            """Do not imitate a browser's Output widget. nbclient's imitation answers every output
            inside `with output:` with a comm message on the shell channel while the cell runs
            (nbclient/output_widget.py), traffic that races the cell's own reply in ipykernel 7;
            without it the output simply lands in the cell, which is what a static page shows."""
            return None

        interrupted = None  # the signal that asked the whole job to stop

        def stop_on_signals(self):
            """Ctrl-C or SIGTERM stops the job. nbclient's own handler only shuts the kernel down,
            which would read as a dead kernel, earn a retry and let the job go on."""
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(signum, self._stop, signum)
                except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
                    pass

        def _stop(self, signum):
            # Stop waiting for the cell; nbclient then shuts the kernel down once, on its way out.
            # (Its own handler shuts it down at once, and the second shutdown on the way out fails
            # with a bare AssertionError: the message-less error issue 19 saw in the table.)
            self.interrupted = signum
            if self.task_poll_for_reply is not None and not self.task_poll_for_reply.done():
                self.task_poll_for_reply.cancel()

        def process_message(self, msg, cell, cell_index):
            self._heard_from = msg["parent_header"].get("msg_id")  # the kernel has started this cell
            return super().process_message(msg, cell, cell_index)

        # A private nbclient method, present with this signature in 0.10 and 0.11: pyproject.toml's
        # nbclient>=0.10,<0.12 keeps pip from installing a release where it has moved.
        async def _async_poll_for_reply(self, msg_id, cell, timeout, task_poll_output_msg,
                                        task_poll_kernel_alive):
            # nbclient reads the reply and the output in two tasks; the output task ends when the
            # kernel reports idle for this cell. A kernel announces a cell within milliseconds and
            # sends its reply right after going idle, so silence at either point is a stall.
            reply = asyncio.ensure_future(super()._async_poll_for_reply(
                msg_id, cell, timeout, task_poll_output_msg, task_poll_kernel_alive))
            sent = time.monotonic()
            try:
                stall = ""
                while not reply.done() and not stall:
                    if task_poll_output_msg.done():
                        await asyncio.wait({reply}, timeout=self.stall_after)
                        if not reply.done():
                            stall = f"the kernel went idle but sent no reply for {self.stall_after:.0f} s"
                    elif getattr(self, "_heard_from", None) != msg_id and \
                            time.monotonic() - sent > self.stall_after:
                        stall = f"the kernel did not start it within {self.stall_after:.0f} s"
                    else:
                        await asyncio.wait({reply, task_poll_output_msg}, timeout=1.0,
                                           return_when=asyncio.FIRST_COMPLETED)
                if stall:
                    reply.cancel()
                    task_poll_kernel_alive.cancel()
                    raise CellStalled(stall)
                return reply.result()
            except asyncio.CancelledError:  # nbclient cancels us when the kernel dies
                reply.cancel()
                raise

    return WatchedClient


def _client_failure(failure: BaseException) -> str:
    """Where inside the notebook client an internal error came from (it has no message of its own)."""
    frames = traceback.extract_tb(failure.__traceback__)
    where = next((f"{Path(f.filename).parent.name}.{Path(f.filename).stem}.{f.name}" for f in reversed(frames)),
                 "the notebook client")
    message = str(failure).strip()
    return f"{type(failure).__name__}{': ' + message if message else ''} inside {where}"


def execute_once(notebook, path: Path, time_limit_s: float, stall_after_s: float, log_file) -> Attempt:
    """Run `notebook` once in a fresh kernel; never raises for what happens inside the notebook."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    with tempfile.NamedTemporaryFile("r", suffix=".txt", delete=False) as record:
        record_path = Path(record.name)
    logger = logging.getLogger(f"helpers.run_notebooks.{path.stem}")
    logger.propagate = False
    handler = logging.StreamHandler(log_file)
    logger.addHandler(handler)
    current = {"cell": None}
    started = time.monotonic()
    deadline = started + time_limit_s

    def on_cell_execute(cell, cell_index):
        if client.interrupted:
            raise KeyboardInterrupt
        if current["cell"] is None:
            client.stop_on_signals()
        current["cell"] = cell_index + 1

    client = _make_client_class()(
        notebook, kernel_name="python3", log=logger, stall_after=stall_after_s,
        timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
        shutdown_kernel="immediate", on_cell_execute=on_cell_execute,
        resources={"metadata": {"path": str(path.parent)}})
    os.environ[RUN_RECORD_VARIABLE] = str(record_path)
    try:
        # The kernel's own stdout/stderr (start-up warnings, C-level messages) go to the log file;
        # what a cell prints reaches the notebook through the kernel's messages as before.
        client.execute(stdout=log_file, stderr=log_file)
        attempt = Attempt("pass")
    except CellExecutionError as failure:
        exception = plain_text(f"{failure.ename}: {failure.evalue}" if failure.ename else failure)
        attempt = Attempt("error", f"cell {current['cell']}: {exception}")
    except CellStalled as failure:
        attempt = Attempt("stall", f"stalled in cell {current['cell']} ({failure})")
    except CellTimeoutError:
        attempt = Attempt("timeout", f"timed out after {time_limit_s:.0f} s in cell {current['cell']}")
    except DeadKernelError:
        attempt = Attempt("dead", f"kernel died in cell {current['cell']}")
    except Exception as failure:  # the kernel did not start, or the notebook client itself failed
        if current["cell"] is None:
            attempt = Attempt("kernel-start", plain_text(f"the kernel did not start: {failure}"))
        else:
            attempt = Attempt("client", plain_text(f"cell {current['cell']}: the runner failed: "
                                                   f"{_client_failure(failure)}"))
    finally:
        os.environ.pop(RUN_RECORD_VARIABLE, None)
        logger.removeHandler(handler)
    if client.interrupted:
        raise KeyboardInterrupt(f"signal {client.interrupted}")
    attempt.notebook = notebook
    attempt.seconds = time.monotonic() - started
    attempt.models = list(dict.fromkeys(record_path.read_text(encoding="utf-8").split()))
    record_path.unlink(missing_ok=True)
    return attempt


def execute_with_retry(source, path: Path, time_limit_s: float, stall_after_s: float, log_file) -> list[Attempt]:
    """Run a fresh copy of `source`; after a stall, time-out or dead kernel (not a failing cell), once more
    on a fresh kernel. Returns the attempts, the last one the verdict."""
    import nbformat

    attempts = [execute_once(nbformat.from_dict(source), path, time_limit_s, stall_after_s, log_file)]
    if attempts[0].worth_a_retry:
        attempts.append(execute_once(nbformat.from_dict(source), path, time_limit_s, stall_after_s, log_file))
    return attempts


def time_limit_for(name: str, previous: dict) -> float:
    """A limit sized to the notebook: three times its last passing run here plus five minutes for
    a rebuilt stand-in, or DEFAULT_TIME_LIMIT_S for a notebook never passed on this machine."""
    seconds = previous.get(name, {}).get("last_pass_seconds")
    return DEFAULT_TIME_LIMIT_S if not seconds else 3 * seconds + 300


def run_notebook(path: Path, out_dir: Path, time_limit_s: float | None = None,
                 stall_after_s: float = STALL_AFTER_S, previous: dict | None = None) -> dict:
    """Execute one notebook (once more after a stall, time-out or dead kernel), write its HTML,
    and return a row for the summary table. Never raises for a bad notebook."""
    import nbformat

    limit = time_limit_s or time_limit_for(path.name, previous or {})
    row = {"notebook": path.name, "model": "-", "seconds": 0.0, "result": "FAIL", "error": "",
           "html": "", "time_limit_s": limit}
    try:
        source = nbformat.read(path, as_version=4)
    except Exception as failure:  # not JSON (a merge conflict), or not a notebook
        row["error"] = plain_text(f"cannot read the notebook: {type(failure).__name__}: {failure}")
        return row
    logs = out_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{path.stem}.log", "w", encoding="utf-8") as log_file:
        attempts = execute_with_retry(source, path, limit, stall_after_s, log_file)
    first, last = attempts[0], attempts[-1]
    models = list(dict.fromkeys(m for a in attempts for m in a.models))
    row.update(model=", ".join(models) or "-", seconds=sum(a.seconds for a in attempts),
               result="pass" if last.kind == "pass" else "FAIL",
               pass_seconds=last.seconds if last.kind == "pass" else None)
    if len(attempts) == 1:
        row["error"] = first.verdict
    elif last.kind == "pass":
        row["error"] = f"{first.verdict}, passed on retry"
    else:
        row["error"] = f"{first.verdict}; on retry: {last.verdict}"
    try:
        from nbconvert import HTMLExporter

        html, _ = HTMLExporter().from_notebook_node(last.notebook)
        target = out_dir / path.with_suffix(".html").name
        target.write_text(html, encoding="utf-8")
        row["html"] = target.name
    except Exception as failure:  # the run's verdict stands; say the page is missing
        row["error"] = "; ".join(filter(None, [row["error"], plain_text(f"no HTML: {failure}")]))
    return row


def summary_table(rows: list[dict]) -> str:
    """A plain-text table a terminal and a CI log show alike."""
    header = f"{'notebook':<34} {'model':<28} {'seconds':>8}  result"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(f"{row['notebook']:<34} {row['model']:<28} {row['seconds']:>8.1f}  {row['result']}")
        if row["error"]:
            lines.append(f"    {plain_text(row['error'], limit=400)}")
    return "\n".join(lines)


def load_results(out_dir: Path) -> dict:
    try:
        return json.loads((out_dir / RESULTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def save_results(out_dir: Path, previous: dict, rows: list[dict]) -> dict:
    """Keep each notebook's latest row, and its last passing time (for `time_limit_for`)."""
    results = dict(previous)
    for row in rows:
        entry = dict(row, finished=time.strftime("%Y-%m-%d %H:%M"))
        entry["last_pass_seconds"] = row.get("pass_seconds") or previous.get(row["notebook"], {}).get(
            "last_pass_seconds")
        results[row["notebook"]] = entry
    (out_dir / RESULTS_FILE).write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    return results


def find_notebooks(folder: Path, only: list[str]) -> list[Path]:
    """The numbered notebooks in `folder`, or a TutorialError-style message as SystemExit text."""
    if not folder.is_dir():
        raise SystemExit(f"--notebooks {folder}: no such folder. Give the folder that holds the "
                         f"NN_topic.ipynb files (default: {ROOT / 'notebooks'}).")
    notebooks = sorted(folder.glob(NOTEBOOK_PATTERN))
    if not notebooks:
        raise SystemExit(f"{folder} holds no notebooks named like 01_topic.ipynb.")
    if only:
        chosen = [nb for nb in notebooks if nb.name.startswith(tuple(only))]
        if not chosen:
            raise SystemExit(f"No notebook in {folder} starts with {' or '.join(only)}; there are: "
                             f"{', '.join(nb.stem for nb in notebooks)}.")
        return chosen
    return notebooks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="run only notebooks whose names start with these")
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="folder for the HTML files")
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks", help="folder to run")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="seconds per notebook (default: sized from its last passing run here)")
    parser.add_argument("--stall-after", type=float, default=STALL_AFTER_S,
                        help="seconds an idle kernel may owe a reply before the cell counts as stalled")
    args = parser.parse_args(argv)
    try:
        notebooks = find_notebooks(args.notebooks, args.only)
    except SystemExit as message:
        print(message, file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    previous = load_results(args.out)
    rows = []
    progress = tqdm(notebooks, desc="notebooks", unit="nb")
    stopped = False
    try:
        for path in progress:
            progress.set_postfix_str(path.stem)
            try:
                rows.append(run_notebook(path, args.out, args.time_limit, args.stall_after, previous))
            except Exception as failure:  # a runner bug must not cost the other notebooks their run
                rows.append({"notebook": path.name, "model": "-", "seconds": 0.0, "result": "FAIL", "html": "",
                             "error": plain_text(f"the runner failed: {type(failure).__name__}: {failure}")})
    except KeyboardInterrupt:
        stopped = True
    progress.close()
    results = save_results(args.out, previous, rows)
    page = write_course_page(args.notebooks, args.out, results)
    print(summary_table(rows))
    print(f"HTML written to {args.out}; course page: {page}")
    if stopped:
        print(f"Stopped by request after {len(rows)} of {len(notebooks)} notebooks.")
        return 130
    return 1 if any(row["result"] != "pass" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
