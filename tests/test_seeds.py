from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from claimset.errors import ClaimsetError
from claimset.seeds import canonical_text, parse_seed, read_seeds, sha256_text

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
SHARED_SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "000_666aa4b0ee0165a8.txt"


def test_seed_article_reads_to_canonical_text() -> None:
    (doc,) = read_seeds(SEEDS)
    assert doc.doc_id == "000_666aa4b0ee0165a8"
    assert doc.published == dt.date(2020, 12, 12)
    assert doc.source_file == "seeds/000_666aa4b0ee0165a8.txt"
    assert doc.text.startswith("Earlier this week Russian Foreign Minister Sergey Lavrov accused")
    assert doc.text.endswith("through the Qaud and Indo-Pacific construct.")
    assert doc.text.count("\n\n") == 7 and "\n\n\n" not in doc.text
    # Computed once outside claimset, from the seed's paragraphs joined by one blank line:
    #   tail -n +2 seeds/000_666aa4b0ee0165a8.txt | tr -d '\r' \
    #     | awk 'BEGIN{RS=""; ORS=""} {gsub(/^[ \t\n]+|[ \t\n]+$/, ""); if (n++) printf "\n\n"; printf "%s", $0}' \
    #     | sha256sum
    assert doc.text_sha256 == "549fd6013b87c44a0aefb2c726e008d8ea65ab5d3868825270b6aea901f329ef"
    assert len(doc.text) == 2677


def test_text_hash_is_sha256_of_the_utf8_bytes() -> None:
    # printf 'Zoë 😀' | sha256sum
    assert sha256_text("Zoë 😀") == "91b7847abee0482651039ac5e0fa8416d8eb9eb11de9f68e0c31c5ff7a0f0fec"


@pytest.mark.skipif(not SHARED_SEED.exists(), reason="shared/ is not beside this checkout")
def test_seed_is_a_verbatim_copy() -> None:
    assert (SEEDS / SHARED_SEED.name).read_bytes() == SHARED_SEED.read_bytes()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("a\n\nb", "a\n\nb"),
        ("  a  \n\n\n\n  b \n\n", "a\n\nb"),
        ("a\r\n\r\nb\r\n", "a\n\nb"),
        ("a\nstill a\n \t\nb", "a\nstill a\n\nb"),
        ("\n\n\na", "a"),
    ],
)
def test_canonical_text_joins_paragraphs_by_one_blank_line(body: str, expected: str) -> None:
    assert canonical_text(body) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"Earlier this week\n\ntext", "x.txt: line 1: expected 'date YYYY-MM-DD', found 'Earlier this week'"),
        (b"date 2020-13-45\n\ntext", "x.txt: line 1: invalid date '2020-13-45'"),
        (b"date 2020-12-12\n\n  \n\n", "x.txt: empty body: no paragraph after the date line"),
        (b"date 2020-12-12\n\n\xff\xfe", "x.txt: not UTF-8 (byte 17)"),
    ],
)
def test_malformed_seed_is_one_line_error_naming_the_file(raw: bytes, message: str) -> None:
    with pytest.raises(ClaimsetError, match=f"^{re.escape(message)}$"):
        parse_seed(raw, "x.txt")


def test_missing_seed_directory(tmp_path: Path) -> None:
    with pytest.raises(ClaimsetError, match="seeds directory not found"):
        read_seeds(tmp_path / "nope")
    with pytest.raises(ClaimsetError, match=r"no \*\.txt seed files"):
        read_seeds(tmp_path)
