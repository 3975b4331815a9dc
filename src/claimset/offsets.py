"""Anchoring spans in document text: offset repair, quote selectors and re-anchoring.

All offsets here are Unicode code-point indices into a Python ``str`` (half-open: ``text[start:end]``).
Label Studio 1.23 stores code-point offsets, but exports from other front ends or older versions may
carry UTF-16 code-unit offsets, offsets into a CRLF copy of the text, or a ``value.text`` with escaped
newlines. :func:`resolve_span` tries the known repairs in a fixed order and says which one it applied.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from claimset.codes import RejectReason, Repair, join_repairs

QUOTE_CONTEXT = 32  # code points of prefix / suffix kept in the quote selector



class OffsetError(ValueError):
    """A span that cannot be anchored; ``reason`` is a stable code."""

    def __init__(self, reason: RejectReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Anchor:
    start: int
    end: int
    repair: str | None = None


def unescape_newlines(value: str) -> str:
    """Undo Label Studio's literal backslash escapes of line breaks in ``value.text``."""
    return value.replace("\\r\\n", "\n").replace("\\n", "\n").replace("\\r", "\r")


def utf16_to_codepoint(text: str, offset: int) -> int | None:
    """Code-point index of UTF-16 code-unit ``offset`` in ``text``; None if it splits a surrogate pair."""
    if text.isascii():
        return offset
    # code point i starts at code unit i + (astral code points before i)
    return _unshift(offset, _astral_positions(text), len(text))


def crlf_to_lf(text: str, offset: int) -> int | None:
    """Map an offset into ``text`` with every LF written CRLF back to ``text``; None if inside a CRLF."""
    # position p in text has CRLF offset p + (number of newlines before p)
    return _unshift(offset, _newline_positions(text), len(text))


def _unshift(offset: int, widened: list[int], length: int) -> int | None:
    """The position p in ``0..length`` with ``p + (items of sorted widened before p) == offset``, if any.

    Both UTF-16 code units (astral characters count twice) and CRLF offsets (newlines count twice) are
    code-point positions shifted by one for every widened character before them.
    """
    lo, hi = 0, length
    while lo < hi:
        mid = (lo + hi) // 2
        if mid + bisect.bisect_left(widened, mid) < offset:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo + bisect.bisect_left(widened, lo) == offset else None


_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")


@functools.lru_cache(maxsize=16)
def _astral_positions(text: str) -> list[int]:
    """Indices of the code points outside the BMP (two UTF-16 code units each); cached per text."""
    return [match.start() for match in _ASTRAL.finditer(text)]


@functools.lru_cache(maxsize=16)
def _newline_positions(text: str) -> list[int]:
    return [match.start() for match in re.finditer("\n", text)]


def _in_range(text: str, start: int, end: int) -> bool:
    return 0 <= start < end <= len(text)


def _iter_candidates(text: str, start: int, end: int) -> Iterator[tuple[int | None, int | None, str | None]]:
    """The readings of ``start``/``end`` to try, in order; the costly ones are computed only when reached."""
    yield start, end, None
    if not text.isascii():
        yield utf16_to_codepoint(text, start), utf16_to_codepoint(text, end), Repair.UTF16
    if "\n" in text:
        yield crlf_to_lf(text, start), crlf_to_lf(text, end), Repair.CRLF


def _integral(value: object) -> int | None:
    """An offset as an int: an integer, or a float with an integral finite value (65.0); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, float) and value.is_integer() else None


def resolve_span(text: str, start: object, end: object, value_text: object) -> Anchor:
    """Anchor a region's ``start``/``end`` in ``text``, checked against the exported ``value_text``.

    Tries, in order: the offsets as code points (also with Label Studio's escaped newlines undone in
    ``value_text``), as UTF-16 code units, as offsets into a CRLF copy of the text, and finally a trim
    of surrounding whitespace. Raises :class:`OffsetError` with a stable reason when nothing agrees.
    """
    start_at, end_at = _integral(start), _integral(end)
    if start_at is None or end_at is None:
        raise OffsetError(RejectReason.OFFSETS_MISSING, f"start/end must be integers, got {start!r:.40}/{end!r:.40}")
    start, end = start_at, end_at
    if start < 0 or end < 0:
        raise OffsetError(RejectReason.OFFSETS_NEGATIVE, f"negative offsets {start}..{end}")
    if start >= end:
        raise OffsetError(RejectReason.OFFSETS_REVERSED, f"start {start} is not before end {end}")
    expected = value_text if isinstance(value_text, str) else None
    anchor = _first_agreeing(text, start, end, expected)
    if anchor is None:
        if end > len(text):
            raise OffsetError(RejectReason.OFFSETS_OUT_OF_RANGE,
                              f"end {end} is past the text's {len(text)} code points")
        raise OffsetError(RejectReason.TEXT_MISMATCH,
                          f"text[{start}:{end}] = {text[start:end][:40]!r} but value.text = {expected!r:.40}")
    if not text[anchor.start : anchor.end].strip():
        raise OffsetError(RejectReason.WHITESPACE_SPAN, f"span {anchor.start}..{anchor.end} holds only white space")
    return anchor


def _first_agreeing(text: str, start: int, end: int, expected: str | None) -> Anchor | None:
    if expected is None:
        return Anchor(start, end) if _in_range(text, start, end) else None
    if 0 <= start < end <= len(text) and text[start:end] == expected:  # the common case, before any repair
        return Anchor(start, end)
    unescaped = unescape_newlines(expected)
    candidates: list[tuple[int | None, int | None, str | None]] = []
    for cand_start, cand_end, repair in _iter_candidates(text, start, end):
        candidates.append((cand_start, cand_end, repair))
        if cand_start is None or cand_end is None or not _in_range(text, cand_start, cand_end):
            continue
        piece = text[cand_start:cand_end]
        if piece == expected:
            return Anchor(cand_start, cand_end, repair)
        if piece == unescaped:
            return Anchor(cand_start, cand_end, join_repairs(Repair.ESCAPED_NEWLINES, repair))
    for cand_start, cand_end, repair in candidates:
        if cand_start is None or cand_end is None or not _in_range(text, cand_start, cand_end):
            continue
        trimmed = _trim(text, cand_start, cand_end, unescaped)
        if trimmed is not None:
            return Anchor(trimmed[0], trimmed[1], join_repairs(repair, Repair.TRIM_WHITESPACE))
    return None


def _trim(text: str, start: int, end: int, expected: str) -> tuple[int, int] | None:
    piece = text[start:end]
    core = piece.strip()
    if not core or core != expected.strip():
        return None
    new_start = start + (len(piece) - len(piece.lstrip()))
    return new_start, new_start + len(core)


def quote_selector(text: str, start: int, end: int) -> tuple[str, str]:
    """Prefix and suffix (up to :data:`QUOTE_CONTEXT` code points) around ``text[start:end]``."""
    return text[max(0, start - QUOTE_CONTEXT) : start], text[end : end + QUOTE_CONTEXT]


def reanchor(new_text: str, exact: str, prefix: str, suffix: str) -> tuple[int, int]:
    """Find ``exact`` in ``new_text``; disambiguate several matches by the longest prefix+suffix context.

    Raises :class:`OffsetError` (``reanchor_not_found`` / ``reanchor_ambiguous``) unless exactly one
    match is best.
    """
    matches = []
    position = new_text.find(exact)
    while position != -1:
        matches.append(position)
        position = new_text.find(exact, position + 1)
    if not matches:
        raise OffsetError(RejectReason.REANCHOR_NOT_FOUND,
                          f"quote {exact[:40]!r} no longer occurs in the document")
    if len(matches) == 1:
        return matches[0], matches[0] + len(exact)
    scores = [_context_score(new_text, pos, pos + len(exact), prefix, suffix) for pos in matches]
    best = max(scores)
    if scores.count(best) != 1:
        raise OffsetError(RejectReason.REANCHOR_AMBIGUOUS, f"quote {exact[:40]!r} occurs {len(matches)} times")
    pos = matches[scores.index(best)]
    return pos, pos + len(exact)


def _context_score(text: str, start: int, end: int, prefix: str, suffix: str) -> int:
    before = text[max(0, start - len(prefix)) : start]
    after = text[end : end + len(suffix)]
    score = 0
    while score < min(len(before), len(prefix)) and before[-1 - score] == prefix[-1 - score]:
        score += 1
    matched_after = 0
    while matched_after < min(len(after), len(suffix)) and after[matched_after] == suffix[matched_after]:
        matched_after += 1
    return score + matched_after
