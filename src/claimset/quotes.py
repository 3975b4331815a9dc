"""Spans given by their text: anchoring a quote selector in a document, and writing one.

A prediction may give a span as a W3C TextQuoteSelector, ``{"quote", "prefix"?, "suffix"?}``, the
selector the gold stores on every span (``spans.prefix``/``spans.suffix``). :class:`DocumentQuotes`
finds it in the document text, in three stages, each tried only when the one before found nothing:

1. **exact**: the quote occurs verbatim where the text before it ends with ``prefix`` and the text
   after it starts with ``suffix`` (an absent prefix or suffix agrees everywhere);
2. **normalised**: the same after normalising both sides with :func:`normalise` (typographic quotes
   and apostrophes, dashes, the ellipsis character, runs of white space; white space at the ends of
   the quote and between it and its context does not count);
3. **elided**: a quote with an ellipsis (``...``, ``…``, ``[...]``) whose pieces occur in that order
   in the normalised text; the span runs from the first piece to the last.

A stage that finds exactly one place anchors the quote there (in code points of the original text).
Several places is :attr:`~claimset.codes.Anchoring.AMBIGUOUS` at once: later stages only find more.
Nothing anywhere is :attr:`~claimset.codes.Anchoring.NOT_FOUND`. Case is never folded.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from claimset.codes import Anchoring
from claimset.offsets import QUOTE_CONTEXT

TYPOGRAPHY = str.maketrans({
    **dict.fromkeys("‘’‚‛′‹›`´", "'"),
    **dict.fromkeys("“”„‟″«»", '"'),
    **dict.fromkeys("‐‑‒–—―⁃−﹘﹣－", "-"),
    "…": "...",
})
"""What :func:`normalise` replaces: typographic single and double quotes, dashes and the ellipsis character."""

ELLIPSIS = re.compile(r"\s*\[?\.\.\.\]?\s*")  # in normalised text: ..., … and […] with the space around them


@dataclass(frozen=True)
class NormalisedText:
    """A text after :func:`normalise`, with where each of its characters came from in the original."""

    text: str
    starts: list[int]  # starts[i]: original index of the first character behind text[i]
    ends: list[int]  # ends[i]: original index just past the last character behind text[i]

    def original(self, start: int, end: int) -> tuple[int, int]:
        """The original span behind ``text[start:end]`` (``start < end``)."""
        return self.starts[start], self.ends[end - 1]


def normalise_with_offsets(text: str) -> NormalisedText:
    """Normalise ``text`` (see :data:`TYPOGRAPHY`; every run of white space becomes one space), keeping offsets."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char.isspace():
            run_end = position + 1
            while run_end < len(text) and text[run_end].isspace():
                run_end += 1
            chars.append(" ")
            starts.append(position)
            ends.append(run_end)
            position = run_end
            continue
        for replacement in char.translate(TYPOGRAPHY):
            chars.append(replacement)
            starts.append(position)
            ends.append(position + 1)
        position += 1
    return NormalisedText("".join(chars), starts, ends)


def normalise(text: str) -> str:
    """``text`` with typographic quotes and apostrophes made ``'`` and ``"``, dashes ``-``, ``…`` ``...``, and
    every run of white space one space."""
    return normalise_with_offsets(text).text


@dataclass(frozen=True)
class QuoteAnchor:
    """Where a quote was anchored: ``start``/``end`` (code points) unless ``how`` is not_found or ambiguous.

    ``places`` counts the places found: for an ambiguous quote, those that agree with its prefix and suffix (an
    elided quote stops counting at 2); for a quote not found, the places the quote itself occurs (ignoring prefix
    and suffix).
    """

    how: Anchoring
    start: int | None = None
    end: int | None = None
    places: int = 0

    @property
    def anchored(self) -> bool:
        return self.start is not None


def _occurrences(haystack: str, needle: str) -> list[int]:
    """Every start of ``needle`` in ``haystack``, overlapping ones too."""
    found = []
    position = haystack.find(needle)
    while position != -1:
        found.append(position)
        position = haystack.find(needle, position + 1)
    return found


class DocumentQuotes:
    """Anchors quotes in one document; the normalised text is computed once, when first needed."""

    def __init__(self, text: str) -> None:
        self.text = text

    @functools.cached_property
    def normalised(self) -> NormalisedText:
        return normalise_with_offsets(self.text)

    def anchor(self, quote: str, prefix: str = "", suffix: str = "") -> QuoteAnchor:
        """Anchor the selector (see the module's description of the three stages)."""
        text = self.text
        exact = [start for start in _occurrences(text, quote)
                 if text[max(0, start - len(prefix)):start] == prefix
                 and text.startswith(suffix, start + len(quote))]
        if len(exact) == 1:
            return QuoteAnchor(Anchoring.EXACT, exact[0], exact[0] + len(quote), 1)
        if exact:
            return QuoteAnchor(Anchoring.AMBIGUOUS, places=len(exact))
        needle = normalise(quote).strip()
        context = (normalise(prefix).rstrip(), normalise(suffix).lstrip())
        norm = self.normalised
        everywhere = _occurrences(norm.text, needle) if needle else []
        agreeing = [(start, start + len(needle)) for start in everywhere
                    if self._context_agrees(start, start + len(needle), *context)]
        if not agreeing and ELLIPSIS.search(needle):
            agreeing = self._elided(needle, *context)
            how = Anchoring.ELIDED
        else:
            how = Anchoring.NORMALISED
        if len(agreeing) == 1:
            start, end = norm.original(*agreeing[0])
            return QuoteAnchor(how, start, end, 1)
        if agreeing:
            return QuoteAnchor(Anchoring.AMBIGUOUS, places=len(agreeing))
        return QuoteAnchor(Anchoring.NOT_FOUND, places=len(everywhere))

    def _context_agrees(self, start: int, end: int, prefix: str, suffix: str) -> bool:
        """Whether normalised ``text[start:end]`` has ``prefix`` before and ``suffix`` after it, spaces aside."""
        text = self.normalised.text
        return (text[max(0, start - len(prefix) - 1):start].rstrip().endswith(prefix)
                and text[end:end + len(suffix) + 1].lstrip().startswith(suffix))

    def _elided(self, needle: str, prefix: str, suffix: str) -> list[tuple[int, int]]:
        """Places of an elided quote: its pieces in order, the first after ``prefix``, the last before ``suffix``
        (each piece at its earliest place after the one before). Stops at the second place found: more would only
        say it is ambiguous again. A chain that fails from one start fails from every later one, so the search
        ends there too; it is linear in the text, however many pieces."""
        pieces = [piece for piece in ELLIPSIS.split(needle) if piece]
        if not pieces:
            return []
        text = self.normalised.text
        first, *middle = pieces[:-1] if len(pieces) > 1 else pieces
        last = pieces[-1]
        last_places = _occurrences(text, last) if len(pieces) > 1 else []
        found: list[tuple[int, int]] = []
        for start in _occurrences(text, first):
            if not self._context_agrees(start, start + len(first), prefix, ""):
                continue
            after_middle = _after_pieces(text, middle, start + len(first))
            if after_middle is None:
                break
            if len(pieces) == 1:
                end = after_middle if self._context_agrees(start, after_middle, "", suffix) else None
            else:
                end = next((place + len(last) for place in last_places[bisect.bisect_left(last_places, after_middle):]
                            if self._context_agrees(place, place + len(last), "", suffix)), None)
                if end is None:
                    break
            if end is not None:
                found.append((start, end))
            if len(found) == 2:
                break
        return found


def _after_pieces(text: str, pieces: list[str], position: int) -> int | None:
    """Where the earliest run of ``pieces``, in order from ``position``, ends; None if they do not all occur."""
    for piece in pieces:
        found = text.find(piece, position)
        if found < 0:
            return None
        position = found + len(piece)
    return position


# --- writing selectors -----------------------------------------------------------------------------


def has_text(value: str) -> bool:
    """Whether ``value`` holds more than white space (:meth:`str.isspace`): what a quote or an entity name needs."""
    return not value.isspace() and value != ""


def _context_lengths(text: str, start: int, end: int) -> Iterator[int]:
    """0 (no context), then :data:`~claimset.offsets.QUOTE_CONTEXT` code points, doubled until the prefix reaches
    the start of ``text`` and the suffix its end."""
    yield 0
    context = QUOTE_CONTEXT
    while True:
        yield context
        if context >= max(start, len(text) - end):
            return
        context *= 2


def selector(text: str, start: int, end: int, document: DocumentQuotes | None = None) -> dict[str, Any]:
    """How to write ``text[start:end]`` so that :meth:`DocumentQuotes.anchor` finds it there again.

    The quote alone where that anchors back to the span; else the quote with the prefix and suffix the gold
    stores (:data:`~claimset.offsets.QUOTE_CONTEXT` code points), grown by doubling until the span is the only
    place that agrees (a prefix cut by the start of the text agrees with later copies too: then the suffix
    tells them apart). Where no quote selector does (a span of white space only, which the loader refuses), its
    offsets, ``{"start", "end"}``. ``document`` is ``DocumentQuotes(text)``, passed to reuse it across spans.
    """
    quote = text[start:end]
    document = document if document is not None else DocumentQuotes(text)
    if has_text(quote):
        for context in _context_lengths(text, start, end):
            written = {"quote": quote}
            if context:
                written.update(prefix=text[max(0, start - context):start], suffix=text[end:end + context])
            found = document.anchor(**written)
            if found.how is Anchoring.EXACT and (found.start, found.end) == (start, end):
                return written
    return {"start": start, "end": end}


def _as_quote(document: DocumentQuotes, mention: Mapping[str, Any]) -> dict[str, Any]:
    rest = {key: value for key, value in mention.items() if key not in ("start", "end")}
    if "start" not in mention:
        return rest
    return {**selector(document.text, int(mention["start"]), int(mention["end"]), document), **rest}


def quote_records(records: Iterable[Mapping[str, Any]], texts: Mapping[str, str]) -> list[dict[str, Any]]:
    """Records with offsets rewritten with every span as its :func:`selector` (entities, stances, quote types kept):
    each anchors back to the span it was, so the records score as they did."""
    documents: dict[str, DocumentQuotes] = {}
    rewritten = []
    for record in records:
        doc_id = record["doc_id"]
        document = documents.setdefault(doc_id, DocumentQuotes(texts[doc_id]))
        out = dict(record)
        for key in ("claim", "speaker", "cue"):
            if record.get(key):
                out[key] = _as_quote(document, record[key])
        if record.get("targets"):
            out["targets"] = [_as_quote(document, target) for target in record["targets"]]
        rewritten.append(out)
    return rewritten
