"""Seed articles: ``seeds/*.txt`` files turned into canonical documents.

A seed file is UTF-8: a first line ``date YYYY-MM-DD`` (trailing spaces allowed), then paragraphs
separated by one or more blank lines. The canonical text is the paragraphs, each stripped of
surrounding whitespace, joined by exactly one blank line (``"\\n\\n"``), with no trailing whitespace.
Every offset in the dataset is a code-point index into this canonical text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from claimset.errors import ClaimsetError

DATE_LINE = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\s*$")
BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n")


@dataclass(frozen=True)
class Document:
    doc_id: str
    published: dt.date
    text: str
    text_sha256: str
    source_file: str


def sha256_text(text: str) -> str:
    """SHA-256 hex digest of the UTF-8 encoding of ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_text(body: str) -> str:
    """Paragraphs of ``body`` stripped and joined by exactly one blank line."""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = (p.strip() for p in BLANK_LINES.split(body))
    return "\n\n".join(p for p in paragraphs if p)


def parse_seed(raw: bytes, source_file: str) -> Document:
    """Turn the bytes of a seed file into a :class:`Document`; ``doc_id`` is the file's stem."""
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ClaimsetError(f"{source_file}: not UTF-8 (byte {exc.start})") from exc
    content = content.removeprefix("\ufeff")
    first, _, body = content.partition("\n")
    match = DATE_LINE.match(first)
    if match is None:
        raise ClaimsetError(f"{source_file}: line 1: expected 'date YYYY-MM-DD', found {first.strip()[:40]!r}")
    try:
        published = dt.date.fromisoformat(match.group(1))
    except ValueError as exc:
        raise ClaimsetError(f"{source_file}: line 1: invalid date {match.group(1)!r}") from exc
    text = canonical_text(body)
    if not text:
        raise ClaimsetError(f"{source_file}: empty body: no paragraph after the date line")
    return Document(
        doc_id=Path(source_file).stem,
        published=published,
        text=text,
        text_sha256=sha256_text(text),
        source_file=source_file,
    )


def read_seed(path: Path) -> Document:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ClaimsetError(f"{path}: cannot read seed: {exc.strerror}") from exc
    return parse_seed(raw, f"{path.parent.name}/{path.name}")


def read_seeds(directory: Path) -> list[Document]:
    """Every ``*.txt`` seed in ``directory``, sorted by file name."""
    if not directory.is_dir():
        raise ClaimsetError(f"{directory}: seeds directory not found")
    documents = [read_seed(path) for path in sorted(directory.glob("*.txt"))]
    if not documents:
        raise ClaimsetError(f"{directory}: no *.txt seed files")
    return documents
