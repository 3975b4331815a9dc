"""Anchoring quote selectors in a document: exact, normalised, elided, ambiguous, not found; writing selectors."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from claimset.codes import Anchoring
from claimset.quotes import DocumentQuotes, normalise, normalise_with_offsets, quote_records, selector

# Typographic quotes, an apostrophe, a dash, an ellipsis character, a line break and a double space.
TEXT = ("“We’re not a club,” the spokesperson said — twice.\n"
        "India  said: \"We're not a club\" … and left.\n"
        "Russia said it too.")


def anchored(quote: str, prefix: str = "", suffix: str = "", text: str = TEXT) -> tuple[Anchoring, str | None]:
    """How the quote anchored, and the text it anchored to."""
    found = DocumentQuotes(text).anchor(quote, prefix, suffix)
    return found.how, None if found.start is None else text[found.start:found.end]


def test_exact_match() -> None:
    assert anchored("We’re not a club") == (Anchoring.EXACT, "We’re not a club")
    assert anchored("We're not a club") == (Anchoring.EXACT, "We're not a club")  # the straight one, verbatim
    assert anchored("Russia said it too.") == (Anchoring.EXACT, "Russia said it too.")


@pytest.mark.parametrize(("quote", "expected"), [
    ("\"We're not a club,\" the spokesperson", "“We’re not a club,” the spokesperson"),  # straight for curly
    ("“We’re not a club” …", "\"We're not a club\" …"),  # curly for straight
    ("the spokesperson said - twice", "the spokesperson said — twice"),  # a hyphen for an em dash
    ("the spokesperson said – twice", "the spokesperson said — twice"),  # an en dash for an em dash
    ("club\" ... and left", "club\" … and left"),  # three dots for the ellipsis character
])
def test_typographic_swaps_anchor_after_normalisation(quote: str, expected: str) -> None:
    assert anchored(quote) == (Anchoring.NORMALISED, expected)


@pytest.mark.parametrize("quote", [
    "twice. India said",  # a space for a line break and a double space
    "twice.\nIndia\nsaid",
    "twice.  \n  India said",
    "  twice. India said ",  # white space around the quote does not count once normalised
])
def test_white_space_and_line_breaks_inside_quotes(quote: str) -> None:
    assert anchored(quote) == (Anchoring.NORMALISED, "twice.\nIndia  said")


def test_an_elided_quote_spans_from_its_first_piece_to_its_last() -> None:
    assert anchored("We’re not a club, ... said — twice") == (
        Anchoring.ELIDED, "We’re not a club,” the spokesperson said — twice")
    assert anchored("India said: [...] and left") == (Anchoring.ELIDED, "India  said: \"We're not a club\" … and left")
    assert anchored("…and left.") == (Anchoring.ELIDED, "and left.")  # a leading ellipsis marks a cut
    assert anchored("said … twice") == (Anchoring.ELIDED, "said — twice")  # "said" twice, "twice" once after one


def test_an_elided_quote_that_fits_two_places_is_ambiguous() -> None:
    found = DocumentQuotes(TEXT).anchor("said ... too")  # "said" three times before "too"
    assert (found.how, found.places, found.start) == (Anchoring.AMBIGUOUS, 2, None)  # counting stops at 2
    assert anchored("said ... too", prefix="Russia ") == (Anchoring.ELIDED, "said it too")


def test_elided_quotes_with_many_pieces_in_a_long_text() -> None:
    text = "a b " * 50_000
    many_pieces = "a" + " ... a" * 500
    assert DocumentQuotes(text).anchor(many_pieces).how is Anchoring.AMBIGUOUS
    assert DocumentQuotes(text).anchor(many_pieces + " ... c").how is Anchoring.NOT_FOUND


def test_a_phrase_that_occurs_twice_needs_a_prefix_or_a_suffix() -> None:
    text = "India said no. Russia said no. China said yes."
    found = DocumentQuotes(text).anchor("said no")
    assert (found.how, found.places, found.start) == (Anchoring.AMBIGUOUS, 2, None)
    assert DocumentQuotes(text).anchor("said no", prefix="Russia ").start == 22
    assert DocumentQuotes(text).anchor("said no", suffix=". China").start == 22
    assert DocumentQuotes(text).anchor("said no", prefix="India ", suffix=".").start == 6
    assert DocumentQuotes(text).anchor("said no", prefix="x").how is Anchoring.NOT_FOUND


def test_prefix_and_suffix_agree_after_normalisation() -> None:
    # "not a club" occurs twice; only the curly prefix is verbatim in the text, the straight one is not
    assert anchored("not a club", prefix="“We’re ") == (Anchoring.EXACT, "not a club")
    found = DocumentQuotes(TEXT).anchor("not a club", prefix="\"We're")
    assert (found.how, found.places) == (Anchoring.AMBIGUOUS, 2)  # both places, once normalised
    found = DocumentQuotes(TEXT).anchor("not a club", prefix="said: \"We're")
    assert (found.how, TEXT[found.start or 0:found.end]) == (Anchoring.NORMALISED, "not a club")
    assert found.start == TEXT.index("not a club", 60)


def test_a_quote_absent_from_the_text_is_not_found() -> None:
    found = DocumentQuotes(TEXT).anchor("We are a club")
    assert (found.how, found.places, found.start, found.end) == (Anchoring.NOT_FOUND, 0, None, None)
    found = DocumentQuotes(TEXT).anchor("Russia said", prefix="China ")  # present, but never after "China"
    assert (found.how, found.places) == (Anchoring.NOT_FOUND, 1)
    assert anchored("we’re not a club") == (Anchoring.NOT_FOUND, None)  # case is never folded


def test_normalised_offsets_point_back_into_the_original() -> None:
    norm = normalise_with_offsets(TEXT)
    assert norm.text == normalise(TEXT)
    assert "..." in norm.text and "\n" not in norm.text and "  " not in norm.text
    start = norm.text.index("...")
    assert norm.original(start, start + 3) == (TEXT.index("…"), TEXT.index("…") + 1)
    assert len(norm.starts) == len(norm.ends) == len(norm.text)


text_strategy = st.text(alphabet=st.sampled_from("ab  \n’'“\"—-…."), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(text_strategy, st.data())
def test_a_selector_anchors_back_to_its_own_span(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    written = selector(text, start, end)
    if not text[start:end].strip():  # white space only: no quote would be read, so offsets
        assert written == {"start": start, "end": end}
        return
    found = DocumentQuotes(text).anchor(**written)
    assert (found.how, found.start, found.end) == (Anchoring.EXACT, start, end)


@pytest.mark.parametrize("copies", [2, 3, 5])
def test_a_selector_in_a_repeated_paragraph_grows_its_context_until_it_is_unique(copies: int) -> None:
    paragraph = "Minister Bob Smith said the economy is strong and growing fast, at the meeting on Monday."
    text = "\n".join([paragraph] * copies)
    for copy in range(copies):
        offset = copy * (len(paragraph) + 1)
        for phrase in ("Minister Bob Smith", "said", "Monday."):
            start = offset + paragraph.index(phrase)
            written = selector(text, start, start + len(phrase))
            found = DocumentQuotes(text).anchor(**written)
            assert (found.how, found.start, found.end) == (Anchoring.EXACT, start, start + len(phrase)), written
    first = selector(text, 0, len("Minister Bob Smith"))
    assert first["prefix"] == "" and len(first["suffix"]) > 32  # the gold's 32 code points agree with copy 2 too


@settings(max_examples=300, deadline=None)
@given(text_strategy, st.data())
def test_a_normalised_anchor_covers_the_same_text_once_normalised(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    quote = normalise(text[start:end])
    assume(quote.strip())
    found = DocumentQuotes(text).anchor(quote)
    if found.start is not None:
        assert found.how in (Anchoring.EXACT, Anchoring.NORMALISED)
        assert normalise(text[found.start:found.end]).strip() == quote.strip()
    else:  # it occurs at least where it was taken from
        assert found.how is Anchoring.AMBIGUOUS and found.places >= 2


def test_quote_records_writes_context_only_where_the_quote_repeats() -> None:
    text = "India said no. Russia said no."
    record = {"doc_id": "d", "claim": {"start": 22, "end": 29}, "speaker": {"start": 15, "end": 21, "entity": "R"},
              "targets": [{"start": 0, "end": 5, "stance": "about"}], "quote_type": "direct"}
    assert quote_records([record], {"d": text}) == [{
        "doc_id": "d", "quote_type": "direct",
        "claim": {"quote": "said no", "prefix": "India said no. Russia ", "suffix": "."},
        "speaker": {"quote": "Russia", "entity": "R"},
        "targets": [{"quote": "India", "stance": "about"}],
    }]
    assert selector(text, 0, 5) == {"quote": "India"}
