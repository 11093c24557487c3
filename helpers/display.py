"""Show a list of rows as a table: HTML in Jupyter, aligned text anywhere else."""

from __future__ import annotations

import html


def table_text(rows: list[dict]) -> str:
    """Rows as aligned plain text (what a terminal, a test or a CI log can read)."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    cells = [[_format(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(cell[i]) for cell in cells)) for i, column in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths)) for cell in cells]
    return "\n".join(lines)


def show_table(rows: list[dict]) -> None:
    """Display rows as an HTML table in a notebook (with a text fallback for plain outputs)."""
    from IPython.display import display

    class _Table:
        def _repr_html_(self):
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in rows[0]) if rows else ""
            body = "".join("<tr>" + "".join(f"<td>{html.escape(_format(v))}</td>" for v in row.values())
                           + "</tr>" for row in rows)
            return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

        def __repr__(self):
            return table_text(rows)

    display(_Table())


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)
