"""Field values of a Label Studio export as the tables hold them: times, dates, ids, annotators.

Each function takes a value as decoded from JSON (any type) and returns the table's value, or None
when the value is not one; the import decides what None means (a reject, or a null).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from typing import Any

INT64 = range(-(2**63), 2**63)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_time(value: Any) -> dt.datetime | None:
    """An ISO 8601 time as the same instant in UTC (a time without an offset is taken as UTC); None for
    anything else, including an instant outside the years 1 to 9999 in UTC (``0001-01-01T00:00+14:00``).

    The instant is converted here, not by Arrow: once pandera is imported, pyarrow 26 stores an aware
    datetime's wall-clock time as UTC, dropping its offset.
    """
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.upper())  # RFC 3339 allows 't' and 'z'
        return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError):
        return None


def parse_date(value: Any) -> dt.date | None:
    """A ``YYYY-MM-DD`` date; None for anything else (Python 3.11 also reads ``20201212`` and ``2020-W50-6``)."""
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def as_int(value: Any) -> int | None:
    """``value`` if it is an integer that fits the tables' 64-bit columns, else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value in INT64 else None


def user_id(completed_by: Any) -> str:
    """A pseudonymous annotator id, whatever form ``completed_by`` takes in the export.

    ``ls-user-<id>`` for an integer id (or an object with an integer ``id``); ``ls-user-<12 hex>``, the
    start of the SHA-256 of the value (a string as is, anything else as sorted JSON), for anything
    else, such as an e-mail; ``ls-user-unknown`` when it is missing.
    """
    if isinstance(completed_by, dict) and as_int(completed_by.get("id")) is not None:
        completed_by = completed_by["id"]
    if completed_by is None:
        return "ls-user-unknown"
    if as_int(completed_by) is not None:
        return f"ls-user-{completed_by}"
    text = completed_by if isinstance(completed_by, str) else json.dumps(completed_by, sort_keys=True)
    return "ls-user-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def lead_time(value: Any) -> float | None:
    """Seconds as a float; None for anything else, including numbers beyond a float's range."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) else None
