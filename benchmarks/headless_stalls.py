"""How often do headless runs stall? Runs notebooks 02, 03 and 05 through the main job's runner N times.

    PYTHONPATH=. OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python benchmarks/headless_stalls.py            # 30 runs each
    PYTHONPATH=. OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python benchmarks/headless_stalls.py --runs 1

Prints, per notebook, how many runs passed at once, stalled, timed out, lost their kernel or
failed, how many needed the retry, and the mean and longest time. Issue 19 saw one stall in about
twenty runs of 02 and 03 (a widget cell; the kernel idle, its reply never arriving).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections import Counter
from pathlib import Path

from helpers.run_notebooks import ROOT, STALL_AFTER_S, run_notebook

VERDICTS = {"stall": "stalled in", "timeout": "timed out", "dead": "kernel died"}


def classify(row: dict) -> list[str]:
    """What happened in this row: its first attempt's verdict, and whether a retry ran and passed."""
    error = row["error"]
    kinds = [kind for kind, words in VERDICTS.items() if error.startswith(words)]
    if "passed on retry" in error or "on retry:" in error:
        kinds.append("retried")
    if row["result"] == "pass" and "retried" in kinds:
        kinds.append("passed on retry")
    if row["result"] != "pass":
        kinds.append("FAIL")
    return kinds or ["clean pass"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--notebooks", nargs="*", default=["02", "03", "05"])
    parser.add_argument("--stall-after", type=float, default=STALL_AFTER_S)
    parser.add_argument("--time-limit", type=float, default=None, help="seconds per notebook (default: sized)")
    args = parser.parse_args()
    paths = [path for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
             if path.name.startswith(tuple(args.notebooks))]
    with tempfile.TemporaryDirectory(prefix="headless-stalls-") as out:
        previous: dict = {}
        tallies = {path.name: Counter() for path in paths}
        seconds = {path.name: [] for path in paths}
        for run in range(1, args.runs + 1):
            for path in paths:
                row = run_notebook(path, Path(out), args.time_limit, args.stall_after, previous)
                if row.get("pass_seconds"):
                    previous[path.name] = {"last_pass_seconds": row["pass_seconds"]}
                tallies[path.name].update(classify(row))
                seconds[path.name].append(row["seconds"])
                print(f"run {run:>3} {path.stem:<28} {row['seconds']:>7.1f} s  {row['result']}  {row['error']}",
                      flush=True)
    print(f"\n{'notebook':<28} {'runs':>4} {'clean':>5} {'stalls':>6} {'timeouts':>8} {'dead':>4} "
          f"{'retries':>7} {'retry ok':>8} {'failed':>6} {'mean s':>7} {'max s':>6}")
    for name, tally in tallies.items():
        print(f"{Path(name).stem:<28} {args.runs:>4} {tally['clean pass']:>5} {tally['stall']:>6} "
              f"{tally['timeout']:>8} {tally['dead']:>4} {tally['retried']:>7} {tally['passed on retry']:>8} "
              f"{tally['FAIL']:>6} {statistics.mean(seconds[name]):>7.1f} {max(seconds[name]):>6.1f}")
    total = Counter()
    for tally in tallies.values():
        total.update(tally)
    print(f"\nstalls: {total['stall']}, timeouts: {total['timeout']}, dead kernels: {total['dead']}, "
          f"retries: {total['retried']} ({total['passed on retry']} passed on retry), failures: {total['FAIL']}")


if __name__ == "__main__":
    main()
