"""Offset repair and re-anchoring, including property tests over the ways real exports encode spans."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claimset.offsets import (
    Anchor,
    OffsetError,
    crlf_to_lf,
    quote_selector,
    reanchor,
    resolve_span,
    utf16_to_codepoint,
)

TEXT = "Lavrov 🇮🇳 said: “India é”.\n\nThe spokesperson 😀 said no."


def utf16(text: str, index: int) -> int:
    return len(text[:index].encode("utf-16-le")) // 2


def crlf(text: str, index: int) -> int:
    return index + text[:index].count("\n")


def test_code_point_offsets_pass_unchanged() -> None:
    start = TEXT.index("India")
    assert resolve_span(TEXT, start, start + 7, "India é") == Anchor(start, start + 7, None)


def test_utf16_offsets_after_astral_characters_are_converted() -> None:
    start = TEXT.index("spokesperson")
    end = start + len("spokesperson")
    assert resolve_span(TEXT, utf16(TEXT, start), utf16(TEXT, end), "spokesperson") == Anchor(start, end, "utf16")


def test_escaped_newlines_in_value_text() -> None:
    start = TEXT.index("”.")
    end = TEXT.index("The") + 3
    assert resolve_span(TEXT, start, end, "”.\\n\\nThe") == Anchor(start, end, "escaped_newlines")


def test_crlf_offsets() -> None:
    text = "One.\n\nTwo é.\n\nThree"
    start = text.index("Three")
    assert resolve_span(text, crlf(text, start), crlf(text, start) + 5, "Three") == Anchor(start, start + 5, "crlf")


def test_surrounding_whitespace_is_trimmed() -> None:
    start = TEXT.index(" said")
    assert resolve_span(TEXT, start, start + 6, "said: ") is not None
    assert resolve_span(TEXT, start, start + 5, "said") == Anchor(start + 1, start + 5, "trim_whitespace")


@pytest.mark.parametrize(
    ("start", "end", "value", "reason", "message"),
    [
        (None, 3, "Lav", "offsets_missing", "start/end must be integers, got None/3"),
        ("0", 3, "Lav", "offsets_missing", "start/end must be integers, got '0'/3"),
        (1.5, 3, "Lav", "offsets_missing", "start/end must be integers, got 1.5/3"),
        (-1, 3, "Lav", "offsets_negative", "negative offsets -1..3"),
        (5, 2, "Lav", "offsets_reversed", "start 5 is not before end 2"),
        (3, 3, "", "offsets_reversed", "start 3 is not before end 3"),
        (0, 999, "Lav", "offsets_out_of_range", f"end 999 is past the text's {len(TEXT)} code points"),
        (0, 3, "Xyz", "text_mismatch", "text[0:3] = 'Lav' but value.text = 'Xyz'"),
        (6, 7, " ", "whitespace_span", "span 6..7 holds only white space"),
    ],
)
def test_unanchorable_spans_have_stable_reasons(start: object, end: object, value: str, reason: str,
                                                message: str) -> None:
    with pytest.raises(OffsetError, match=f"^{re.escape(message)}$") as info:
        resolve_span(TEXT, start, end, value)
    assert info.value.reason == reason


def test_missing_value_text_trusts_offsets_in_range() -> None:
    assert resolve_span(TEXT, 0, 6, None) == Anchor(0, 6)


def test_conversions_reject_positions_inside_a_character() -> None:
    flag_start = TEXT.index("🇮")
    assert utf16_to_codepoint(TEXT, utf16(TEXT, flag_start) + 1) is None
    newline = TEXT.index("\n")
    assert crlf_to_lf(TEXT, crlf(TEXT, newline) + 1) is None


def test_reanchor_unique_ambiguous_and_missing() -> None:
    old = "He said yes. She said yes."
    new = "Today he said yes. She said yes."
    start = old.index("She said yes") + 4
    prefix, suffix = quote_selector(old, start, start + 4)
    assert reanchor(new, "said", prefix, suffix) == (new.index("She said") + 4, new.index("She said") + 8)
    with pytest.raises(OffsetError, match=r"^quote 'said' occurs 2 times$") as info:
        reanchor("said said", "said", "", "")
    assert info.value.reason == "reanchor_ambiguous"
    with pytest.raises(OffsetError, match=r"^quote 'denied' no longer occurs in the document$") as info:
        reanchor(new, "denied", "", "")
    assert info.value.reason == "reanchor_not_found"


# -- property tests ---------------------------------------------------------------------------------

CHARS = st.sampled_from([*"ab cdXY.,“”'", "é", "e\u0301", "😀", "🇮🇳", "\n", "\n\n", "\r\n", "👩‍👩‍👧"])
texts = st.lists(CHARS, min_size=2, max_size=60).map("".join).map(lambda s: s.replace("\r", ""))


@st.composite
def text_and_span(draw: st.DrawFn) -> tuple[str, int, int]:
    text = draw(texts.filter(lambda t: t.strip() != ""))
    candidates = [(i, j) for i in range(len(text)) for j in range(i + 1, min(len(text), i + 12) + 1)
                  if text[i:j].strip() == text[i:j] and text[i:j].strip()]
    if not candidates:
        text = text + " x"
        candidates = [(len(text) - 1, len(text))]
    return (text, *draw(st.sampled_from(candidates)))


@settings(max_examples=300, deadline=None)
@given(text_and_span(), st.sampled_from(["codepoints", "utf16", "escaped", "utf16+escaped"]))
def test_import_recovers_the_intended_span(case: tuple[str, int, int], encoding: str) -> None:
    text, start, end = case
    intended = text[start:end]
    raw_start, raw_end, value = start, end, intended
    if "utf16" in encoding:
        raw_start, raw_end = utf16(text, start), utf16(text, end)
    if "escaped" in encoding:
        value = intended.replace("\n", "\\n")
    anchor = resolve_span(text, raw_start, raw_end, value)
    assert text[anchor.start : anchor.end] == intended
    read_as_code_points = text[raw_start:raw_end] if 0 <= raw_start < raw_end <= len(text) else None
    if read_as_code_points not in (intended, value) or (raw_start, raw_end) == (start, end):
        # unambiguous: the raw offsets read as code points do not already give the intended text
        assert (anchor.start, anchor.end) == (start, end)


@settings(max_examples=200, deadline=None)
@given(text_and_span())
def test_crlf_encoded_offsets_are_recovered(case: tuple[str, int, int]) -> None:
    text, start, end = case
    intended = text[start:end]
    anchor = resolve_span(text, crlf(text, start), crlf(text, end), intended)
    assert text[anchor.start : anchor.end] == intended


def test_when_both_readings_agree_code_points_win() -> None:
    """'a' at UTF-16 offsets 2..3 of '😀aaa' is code points 1..2, but code points 2..3 also read 'a':
    Label Studio 1.23 stores code points, so that reading is kept and no repair is recorded."""
    assert resolve_span("😀aaa", 2, 3, "a") == Anchor(2, 3, None)
