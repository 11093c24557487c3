"""Notebook 02: timing generation fairly: when the first token arrives, how many follow, and how fast.

`TokenClock` is a transformers streamer that prints nothing; `generate` hands it the prompt and
then each new token, so it also shows which ids a pipeline really passed to the model.
`compare_speed` runs several ways of answering on the same prompts, interleaved, and reports
medians, so one slow run (another process, a cold cache) does not decide the comparison.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from transformers.generation.streamers import BaseStreamer


class TokenClock(BaseStreamer):
    """Notes the prompt ids and the arrival time of every new token (batch size 1, as all
    transformers streamers)."""

    def __init__(self):
        self.started = time.perf_counter()
        self.prompt_ids: list[int] | None = None
        self.arrivals: list[float] = []

    def put(self, value):
        ids = value.reshape(-1).tolist()
        if self.prompt_ids is None:  # generate() first passes the whole prompt
            self.prompt_ids = ids
        else:
            self.arrivals.extend([time.perf_counter()] * len(ids))

    def end(self):
        pass

    @property
    def first_token_s(self) -> float:
        return self.arrivals[0] - self.started if self.arrivals else float("nan")


def time_reply(run: Callable, messages: list[dict]) -> dict:
    """Call `run(messages, streamer)` once; seconds to the first token, in all, and the reply."""
    clock = TokenClock()
    text = run(messages, clock)
    total = time.perf_counter() - clock.started
    return {"text": text, "first_token_s": clock.first_token_s, "total_s": total,
            "new_tokens": len(clock.arrivals)}


def compare_speed(runs: dict[str, Callable], prompts: list[list[dict]], repeats: int = 3):
    """Time every run on every prompt `repeats` times, alternating which goes first.

    Returns (rows for a table, samples): one row per run with median time to first token,
    median total time and tokens per second; samples[name] lists every timed call in order, so
    samples of different runs pair up call by call."""
    names = list(runs)
    for name in names:  # warm-up: first calls pay for lazy initialisation
        time_reply(runs[name], prompts[0])
    samples = {name: [] for name in names}
    for repeat in range(repeats):
        order = names if repeat % 2 == 0 else names[::-1]
        for messages in prompts:
            for name in order:
                samples[name].append(time_reply(runs[name], messages))
    rows = []
    for name in names:
        calls = samples[name]
        rows.append({
            "way": name,
            "time to first token (ms)": 1000 * statistics.median(c["first_token_s"] for c in calls),
            "total per reply (ms)": 1000 * statistics.median(c["total_s"] for c in calls),
            "tokens per second": statistics.median(c["new_tokens"] / c["total_s"] for c in calls),
            "new tokens (all calls)": sum(c["new_tokens"] for c in calls),
        })
    return rows, samples


def median_overhead_ms(samples: dict, slower: str, faster: str, key: str = "total_s") -> float:
    """Median of the call-by-call differences `slower - faster`, in milliseconds."""
    return 1000 * statistics.median(a[key] - b[key] for a, b in zip(samples[slower], samples[faster]))
