"""Reports as text: the Markdown rendering shared by ``claimset evaluate`` and ``claimset agree``.

A report is a few summary lines and a list of sections, each ``(title, header, rows)`` with every
cell already a string. The first ``label_columns`` columns name the row and are left-aligned; the
others hold numbers and are right-aligned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

Section = tuple[str, list[str], list[list[str]]]

# C0 and C1 control characters (terminal escapes, line breaks inside a cell) and the bidirectional
# embedding, override and isolate controls, which would reorder what a terminal or a page shows.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with every control character written as its escape (``\\x1b``, ``\\u202e``), for reports."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


def markdown(summary: Sequence[str], sections: Iterable[Section], label_columns: int) -> str:
    """The summary lines, then one ``###`` heading and pipe table per section (``|`` in cells escaped)."""
    lines = [printable(line) for line in summary]
    for title, header, rows in sections:
        lines += ["", f"### {printable(title)}", "", "| " + " | ".join(printable(name) for name in header) + " |",
                  "|" + "|".join("---" if i < label_columns else "---:" for i in range(len(header))) + "|"]
        lines += ["| " + " | ".join(printable(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
