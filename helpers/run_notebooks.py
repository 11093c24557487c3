"""The tutorial's main job: run every notebook headless and keep the results as HTML.

    python -m helpers.run_notebooks            # all notebooks, into build/
    python -m helpers.run_notebooks 01 03      # only those whose names start so

Each notebook runs top to bottom in a fresh kernel, on whatever model `pick_model` chooses
here (Bllossom-tiny on a CPU). A table at the end lists notebook, model, seconds and result;
the exit status is non-zero if any notebook failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from tqdm.auto import tqdm

from .models.choice import RUN_RECORD_VARIABLE

ROOT = Path(__file__).resolve().parents[1]


def run_notebook(path: Path, out_dir: Path, timeout: int = 1800) -> dict:
    """Execute one notebook, write it as HTML, and return a row for the summary table."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    notebook = nbformat.read(path, as_version=4)
    with tempfile.NamedTemporaryFile("r", suffix=".txt", delete=False) as record:
        record_path = record.name
    os.environ[RUN_RECORD_VARIABLE] = record_path
    started = time.perf_counter()
    error = ""
    try:
        NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    except CellExecutionError as failure:
        error = str(failure).strip().splitlines()[-1][:200] if str(failure).strip() else "failed"
    except Exception as failure:  # a dead kernel or a timeout: still report and go on
        error = f"{type(failure).__name__}: {failure}"[:200]
    finally:
        os.environ.pop(RUN_RECORD_VARIABLE, None)
    seconds = time.perf_counter() - started
    models = Path(record_path).read_text().split()
    Path(record_path).unlink(missing_ok=True)
    html, _ = HTMLExporter().from_notebook_node(notebook)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    return {"notebook": path.name, "model": ", ".join(dict.fromkeys(models)) or "-",
            "seconds": seconds, "result": "FAIL" if error else "pass", "error": error}


def summary_table(rows: list[dict]) -> str:
    """A plain-text table a terminal and a CI log show alike."""
    header = f"{'notebook':<34} {'model':<28} {'seconds':>8}  result"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(f"{row['notebook']:<34} {row['model']:<28} {row['seconds']:>8.1f}  {row['result']}")
        if row["error"]:
            lines.append(f"    {row['error']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="run only notebooks whose names start with these")
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="folder for the HTML files")
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks", help="folder to run")
    args = parser.parse_args(argv)
    notebooks = sorted(args.notebooks.glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        notebooks = [nb for nb in notebooks if nb.name.startswith(tuple(args.only))]
    if not notebooks:
        print(f"No notebooks match {args.only}.", file=sys.stderr)
        return 2
    rows = []
    for path in tqdm(notebooks, desc="notebooks", unit="nb"):
        rows.append(run_notebook(path, args.out))
    print(summary_table(rows))
    print(f"HTML written to {args.out}")
    return 1 if any(row["error"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
