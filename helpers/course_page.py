"""The course page the main job writes: `build/index.html`, one file that opens without a server.

The notebooks in order, each with its title and goals (taken from its first markdown cell), the
model it last ran on, its time and result, and links to its executed HTML and, when
`python -m helpers.classroom student` has made them, the student copies in `build/student/`.
Every link is relative and the style is inline, so the folder can be zipped or opened from disk.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"
GOAL_HEADINGS = {"en": "**What you will learn**", "ko": "**배울 내용**"}
INLINE_CODE = re.compile(r"`([^`]+)`")
EMPHASIS = re.compile(r"\*\*([^*]+)\*\*|\*([^*]+)\*")

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans KR", "Apple SD Gothic Neo", sans-serif;
       max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.5; }
h1 { margin-bottom: 0.2rem; } .lead { color: #555; margin-top: 0; }
article { border: 1px solid #ddd; border-radius: 8px; padding: 0.8rem 1.2rem; margin: 1rem 0; }
article h2 { margin: 0.2rem 0 0.4rem; font-size: 1.25rem; }
.meta { font-size: 0.92rem; color: #444; } .meta span { margin-right: 1.2rem; }
.pass { color: #1a7f37; font-weight: 600; } .fail { color: #c62828; font-weight: 600; }
.none { color: #777; } .error { font-family: ui-monospace, monospace; font-size: 0.85rem; color: #c62828; }
.goals { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; } .goals ul { margin: 0.3rem 0; }
@media (max-width: 700px) { .goals { grid-template-columns: 1fr; } }
code { background: #f3f3f3; padding: 0 0.2rem; border-radius: 3px; }
a { color: #0b57d0; }
"""


def _inline(text: str) -> str:
    """Escape markdown text for HTML, keeping `code` and **bold**/*italic* readable."""
    escaped = html.escape(text)
    escaped = INLINE_CODE.sub(r"<code>\1</code>", escaped)
    return EMPHASIS.sub(lambda m: f"<strong>{m[1]}</strong>" if m[1] else f"<em>{m[2]}</em>", escaped)


def notebook_outline(path: Path) -> dict:
    """Title and goals (English and Korean bullet lists) from a notebook's first markdown cell."""
    import nbformat

    outline = {"title": path.stem, "goals": {"en": [], "ko": []}}
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception:  # an unreadable notebook still gets its row, titled by its file name
        return outline
    first = next((cell for cell in notebook.cells if cell.cell_type == "markdown"), None)
    if first is None:
        return outline
    language, goals = None, None
    for line in first.source.splitlines():
        stripped = line.strip()
        if stripped.startswith("# ") and outline["title"] == path.stem:
            outline["title"] = stripped[2:].strip()
        elif stripped in GOAL_HEADINGS.values():
            language = next(key for key, heading in GOAL_HEADINGS.items() if heading == stripped)
            goals = outline["goals"][language]
        elif language and stripped.startswith(("- ", "* ")):
            goals.append(stripped[2:].strip())
        elif language and stripped and goals:  # a bullet that wraps onto the next line
            goals[-1] += " " + stripped
        elif not stripped and goals:  # a blank line ends the list
            language, goals = None, None
    for goals in outline["goals"].values():
        goals[:] = [goal.rstrip(";.") for goal in goals]
    return outline


def _result_html(result: dict | None) -> str:
    if not result:
        return '<span class="none">not run yet · 아직 실행하지 않음</span>'
    passed = result.get("result") == "pass"
    label = '<span class="pass">pass · 통과</span>' if passed else '<span class="fail">FAIL · 실패</span>'
    return (f"<span>{label}</span><span>model · 모델: <code>{html.escape(result.get('model', '-'))}</code></span>"
            f"<span>{result.get('seconds', 0):.0f} s</span>"
            f"<span>{html.escape(result.get('finished', ''))}</span>")


def course_page(notebooks: list[Path], out_dir: Path, results: dict) -> str:
    """The page's HTML for these notebooks, with links relative to `out_dir`."""
    articles = []
    for path in notebooks:
        outline = notebook_outline(path)
        result = results.get(path.name)
        links = []
        if result and result.get("html") and (out_dir / result["html"]).exists():
            links.append(f'<a href="{html.escape(result["html"])}">executed notebook · 실행 결과</a>')
        student = out_dir / "student" / path.name
        if student.exists():
            links.append(f'<a href="student/{html.escape(path.name)}">student copy · 학생용 사본</a>')
        error = ""
        if result and result.get("error"):
            error = f'<p class="error">{html.escape(result["error"])}</p>'
        goals = "".join(
            f"<div><ul>{''.join(f'<li>{_inline(goal)}</li>' for goal in outline['goals'][language])}</ul></div>"
            for language in ("en", "ko") if outline["goals"][language])
        no_links = '<span class="none">no pages yet · 아직 페이지 없음</span>'
        articles.append(
            f"<article id=\"{html.escape(path.stem)}\"><h2>{_inline(outline['title'])}</h2>"
            f"<p class=\"meta\">{_result_html(result)}</p>{error}"
            f"<div class=\"goals\">{goals}</div>"
            f"<p>{' · '.join(links) or no_links}</p></article>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>Bllossom notebooks · 블로썸 노트북</title><style>{STYLE}</style></head><body>"
            "<h1>Bllossom notebooks · 블로썸 노트북</h1>"
            "<p class=\"lead\">The lessons in order, as they last ran on this machine. "
            "강의 순서대로, 이 컴퓨터에서 마지막으로 실행한 결과입니다.</p>"
            + "".join(articles) + "</body></html>\n")


def write_course_page(notebook_folder: Path, out_dir: Path, results: dict) -> Path:
    """Write `out_dir/index.html` for every numbered notebook in `notebook_folder`."""
    notebooks = sorted(Path(notebook_folder).glob(NOTEBOOK_PATTERN))
    target = Path(out_dir) / "index.html"
    target.write_text(course_page(notebooks, Path(out_dir), results), encoding="utf-8")
    return target
