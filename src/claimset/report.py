"""Reports as text: the Markdown rendering shared by ``claimset evaluate`` and ``claimset agree``.

A report is a few summary lines and a list of sections, each ``(title, header, rows)`` with every
cell already a string. The first ``label_columns`` columns name the row and are left-aligned; the
others hold numbers and are right-aligned.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

Section = tuple[str, list[str], list[list[str]]]


def markdown(summary: Sequence[str], sections: Iterable[Section], label_columns: int) -> str:
    """The summary lines, then one ``###`` heading and pipe table per section (``|`` in cells escaped)."""
    lines = list(summary)
    for title, header, rows in sections:
        lines += ["", f"### {title}", "", "| " + " | ".join(header) + " |",
                  "|" + "|".join("---" if i < label_columns else "---:" for i in range(len(header))) + "|"]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
