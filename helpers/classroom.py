"""The instructor's kit: student copies of the notebooks, and a room prepared before the Wi-Fi gives out.

    python -m helpers.classroom student                 # build/student/NN_topic.ipynb, solutions stubbed
    python -m helpers.classroom prepare                 # stand-ins + this machine's models, then a table
    python -m helpers.classroom prepare --models tiny 3b aica-5b

A solution is a notebook cell tagged `solution`. The student copy keeps the cell's comments and
replaces its code with `name = ...` for every name the solution defines, so the check cell after it
answers "write your answer" until the learner does.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import sys
from pathlib import Path

from .catalog import CATALOG, catalog_entry, stand_in_names
from .display import table_text
from .errors import TutorialError

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_TAG = "solution"
STUB_NOTE = "# your answer · 답을 쓰세요"


# ----------------------------------------------------------------------------------------------
# Student copies


def solution_stub(source: str) -> str:
    """The stub that replaces a solution: its comment lines, then `name = ...` for each name it assigns."""
    comments = [line for line in source.splitlines() if line.lstrip().startswith("#")]
    names = []
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name) and name.id not in names:
                    names.append(name.id)
    if not names:
        raise TutorialError("A solution cell must assign the answer to a name (answer = ...), so the "
                            "student copy knows what to stub:\n" + source)
    return "\n".join(comments + [f"{name} = ...  {STUB_NOTE}" for name in names])


def student_copy(notebook):
    """A copy of `notebook` with every solution stubbed and no outputs."""
    import copy

    copied = copy.deepcopy(notebook)
    for cell in copied.cells:
        if cell.cell_type != "code":
            continue
        if SOLUTION_TAG in cell.metadata.get("tags", []):
            cell.source = solution_stub(cell.source)
        cell.outputs = []
        cell.execution_count = None
    copied.metadata.pop("widgets", None)
    return copied


def write_student_copies(notebooks: Path = ROOT / "notebooks",
                         out_dir: Path = ROOT / "build" / "student") -> list[Path]:
    """Write a student copy of every NN_topic.ipynb into `out_dir`; return the paths written."""
    import nbformat

    paths = sorted(notebooks.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise TutorialError(f"No notebooks (NN_topic.ipynb) in {notebooks}.")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        copy = student_copy(nbformat.read(path, as_version=4))
        nbformat.validate(copy)
        target = out_dir / path.name
        nbformat.write(copy, target)
        written.append(target)
    return written


# ----------------------------------------------------------------------------------------------
# Preparing a room


def default_models() -> list[str]:
    """Every offline stand-in, plus what the lessons would choose on this machine."""
    from .models.choice import choose_model
    from .models.runtime import runtime_facts

    facts = runtime_facts()
    chosen = [choose_model(facts, kind=kind).name for kind in ("text", "vision")]
    return list(dict.fromkeys(stand_in_names() + [n for n in chosen if n in CATALOG]))


def _hub_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _free_gb(folder: Path) -> float:
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free / 1e9


def prepare_model(name: str, hub_online: bool) -> dict:
    """Build or download one catalog model; a row of the readiness table."""
    entry = catalog_entry(name)
    row = {"model": entry.name, "where": "", "size GB": entry.bf16_gb, "status": ""}
    if entry.is_offline_stand_in:
        from .models.loading import stand_in_folder

        folder = Path(stand_in_folder(entry.name))
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e9
        return {**row, "where": str(folder), "size GB": round(size, 3), "status": "ready"}
    row["where"] = entry.hub_id
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:  # already in the local cache? then nothing to download
        folder = snapshot_download(entry.hub_id, local_files_only=True)
        return {**row, "where": folder, "status": "ready (cached)"}
    except (LocalEntryNotFoundError, OSError):
        pass
    if not hub_online:
        return {**row, "status": "missing: the hub cannot be reached; connect and run prepare again"}
    free = _free_gb(_hub_cache())
    if free < entry.bf16_gb * 1.1:
        return {**row, "status": f"missing: needs about {entry.bf16_gb:.0f} GB, only {free:.0f} GB free in "
                                 f"{_hub_cache()}; free space or set HF_HOME to a larger disk"}
    try:
        folder = snapshot_download(entry.hub_id, allow_patterns=["*.json", "*.safetensors", "*.jinja",
                                                                  "tokenizer*", "*.txt"])
    except Exception as error:  # gated, renamed, network dropped: say which, keep going
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return {**row, "status": f"missing: {type(error).__name__}: {first_line[:160]}"}
    return {**row, "where": folder, "status": "ready"}


def prepare(models: list[str] | None = None) -> list[dict]:
    """Make every model in `models` (catalog names) ready offline; one row per model."""
    from .models.runtime import hub_is_offline

    names = models or default_models()
    for name in names:
        catalog_entry(name)  # unknown names fail before anything is built
    online = not hub_is_offline()
    return [prepare_model(name, online) for name in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.classroom", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    student = commands.add_parser("student", help="write student copies with solutions stubbed")
    student.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    student.add_argument("--notebooks", type=Path, default=ROOT / "notebooks")
    room = commands.add_parser("prepare", help="build the stand-ins and download the hub models")
    room.add_argument("--models", nargs="+", metavar="NAME", help=f"catalog names: {', '.join(CATALOG)}")
    args = parser.parse_args(argv)
    try:
        if args.command == "student":
            written = write_student_copies(args.notebooks, args.out)
            print(f"Wrote {len(written)} student notebooks to {args.out}")
            return 0
        rows = prepare(args.models)
    except TutorialError as error:
        print(f"\N{CHERRY BLOSSOM} {error}", file=sys.stderr)
        return 2
    print(table_text(rows))
    missing = [row["model"] for row in rows if not row["status"].startswith("ready")]
    if missing:
        print(f"Not ready: {', '.join(missing)}. The lessons fall back to the stand-ins on this machine.")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
