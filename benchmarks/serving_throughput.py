"""Throughput and latency of `transformers serve` with and without continuous batching.

    OMP_NUM_THREADS=1 python benchmarks/serving_throughput.py              # 3 repeats, 1/4/16 students
    OMP_NUM_THREADS=1 python benchmarks/serving_throughput.py --repeats 5 --max-tokens 32

Serves the model `helpers.pick_model()` chooses (Bllossom-tiny on a CPU) twice, one server at a
time: plain, then with `--continuous-batching`. For each it sends the same 16 corpus questions
with 1, 4 and 16 students at once (greedy, `max_tokens` new tokens each), `--repeats` times, and
prints per server and class size the median throughput (new tokens a second over the round),
the median and p95 latency of single replies, and the ratio the batching server reaches at 16
students. Every round's replies must equal the server's own sequential replies, or it stops.
Notebook 07 runs the same measurement once.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial

from openai import OpenAI

import helpers
from helpers.lessons import chat, serving
from helpers.offline.tiny_chat_model import load_corpus


def ask(client, model_id, choice, questions, max_tokens, number):
    answer = client.chat.completions.create(model=model_id, messages=chat.card_messages(choice, questions[number]),
                                            temperature=0, max_tokens=max_tokens)
    return answer.choices[0].message.content, answer.usage.completion_tokens, answer.choices[0].finish_reason


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args(argv)

    choice = helpers.pick_model()
    source = helpers.source_of(choice)
    questions = [pair["question"] for pair in load_corpus()][:16]
    base = serving.precision_options(choice)
    plans = [serving.ServerPlan("transformers", source, base),
             serving.ServerPlan("transformers", source, (*base, *serving.batching_options(choice)))]
    rows = []
    for plan in plans:
        began = time.perf_counter()
        with serving.start(plan) as server:
            print(f"{plan.name}: healthy after {server.ready_after_s:.1f} s", flush=True)
            client = OpenAI(base_url=server.base_url, api_key="unused", timeout=300, max_retries=0)
            student = partial(ask, client, plan.model, choice, questions, args.max_tokens)
            serving.run_class(student, 2, 2)  # warm-up: the batching server sets itself up on its first request
            reference = [r.text for r in serving.run_class(student, len(questions), 1)[0]]
            for size in args.sizes:
                measured = []
                for _ in range(args.repeats):
                    replies, wall = serving.run_class(student, len(questions), size, time_limit_s=600)
                    if serving.mixed_up(replies, reference) or not all(r.complete for r in replies):
                        print("replies lost or mixed up:", [(r.question, r.error) for r in replies], file=sys.stderr)
                        return 1
                    measured.append(serving.class_row(plan.name, size, replies, wall))
                rows.append({key: (round(statistics.median(row[key] for row in measured), 3)
                                   if isinstance(measured[0][key], float) else measured[0][key])
                             for key in measured[0]})
                print(rows[-1], flush=True)
        print(f"{plan.name}: done in {time.perf_counter() - began:.0f} s", flush=True)
    print()
    print(helpers.table_text(rows))
    plain, batching = (next(r for r in rows if r["server"] == p.name and r["students"] == max(args.sizes))
                       for p in plans)
    print(f"\ncontinuous batching at {max(args.sizes)} students: "
          f"{batching['tokens/s'] / plain['tokens/s']:.2f}x the throughput "
          f"({batching['tokens/s']:.1f} vs {plain['tokens/s']:.1f} tokens/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
