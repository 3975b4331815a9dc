"""Annotation versions met during an import, packed so that their memory stays small.

An import keeps, for every annotation id it has met, where the kept version's rows lie in the staged
tables and how many items of each kind it wrote and rejected, so that a later version can replace
it (:mod:`claimset.ingest`). That is one record per annotation, for the whole import: as Python
objects (dicts of tuples, a ``Counter``, a datetime) it cost about 1.3 KB and made peak memory grow
with the export. Here a record is 24 64-bit integers in one ``array`` (192 bytes), and the ids are
found through :class:`IntIndex` (16 bytes per id once merged).
"""

from __future__ import annotations

import datetime as dt
import os
from array import array
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

TABLES = ("annotations", "spans", "relations", "rejects")
ITEM_KINDS = ("region", "attribute", "relation", "other")

NO_TIME = -(2**63)  # below every time: a version without updated_at is the oldest
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def version_time(updated_at: dt.datetime | None) -> int:
    """The first key of the order of versions of one annotation: ``updated_at`` (none is oldest); ties are
    broken by the content digest (:mod:`claimset.ingest`).

    Whole microseconds since the epoch in UTC, which order exactly as the aware datetimes do (a
    datetime holds whole microseconds; years 1 to 9999 lie well inside 64 bits).
    """
    if updated_at is None:
        return NO_TIME
    return (updated_at - _EPOCH) // _MICROSECOND


class IntIndex:
    """A map from 64-bit integer keys to slots 0, 1, 2, ... in the order the keys were added.

    Recent keys sit in a dict; every :data:`MERGE_AT` keys they are merged into two sorted numpy
    arrays (key, slot) searched by bisection, so a key costs 16 bytes instead of a dict entry and
    two Python integers (about 100 bytes).
    """

    MERGE_AT = 4096

    def __init__(self) -> None:
        self.recent: dict[int, int] = {}
        self.keys: np.ndarray[tuple[int, ...], np.dtype[np.int64]] = np.empty(0, dtype=np.int64)
        self.slots: np.ndarray[tuple[int, ...], np.dtype[np.int64]] = np.empty(0, dtype=np.int64)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def get(self, key: int) -> int | None:
        slot = self.recent.get(key)
        if slot is not None or not len(self.keys):
            return slot
        at = int(np.searchsorted(self.keys, key))
        if at < len(self.keys) and int(self.keys[at]) == key:
            return int(self.slots[at])
        return None

    def add(self, key: int) -> int:
        """Add a key that is not in the index; return its slot."""
        slot = self.recent[key] = self.size
        self.size += 1
        if len(self.recent) >= self.MERGE_AT:
            self._merge()
        return slot

    def _merge(self) -> None:
        count = len(self.recent)
        keys = np.concatenate([self.keys, np.fromiter(self.recent.keys(), dtype=np.int64, count=count)])
        slots = np.concatenate([self.slots, np.fromiter(self.recent.values(), dtype=np.int64, count=count)])
        order = np.argsort(keys, kind="stable")
        self.keys, self.slots = keys[order], slots[order]
        self.recent = {}


class Locator(NamedTuple):
    """Where an annotation was read: to compute its content digest only when a tie needs it."""

    source: int  # which export file of the import (0, 1, ...)
    offset: int  # the file offset of its task's bytes
    length: int  # their length
    position: int  # its place in the task's annotations (then completions)


@dataclass(slots=True)
class Occurrence:
    """Where the kept version of an annotation lies in the staged tables, for its replacement."""

    time: int  # see version_time
    digest: int | None  # its content digest, if computed (ties between versions need it)
    locator: Locator
    task_id: int | None
    cancelled: bool
    rows: dict[str, tuple[int, int]]  # table -> half-open row range
    counts: dict[str, tuple[int, int]]  # item kind -> (written, rejected)
    reasons: Counter[str]


_ROWS = 8
_COUNTS = _ROWS + 2 * len(TABLES)
_RECORD = _COUNTS + 2 * len(ITEM_KINDS)
_RECORD_BYTES = 8 * _RECORD
_HAS_TASK = 1
_CANCELLED = 2
_HAS_DIGEST = 4
_POSITIONS = 1 << 32  # the source and the position share one integer
_HALF = 1 << 64  # the 128-bit digest is kept as two 64-bit halves


def _signed(half: int) -> int:
    return half - _HALF if half >= 1 << 63 else half


class Occurrences:
    """The kept version of every annotation id met so far: ``find`` a slot, ``read`` it, ``store`` one.

    A record: the time, three flags (task id present, cancelled, digest computed), the task id, the
    128-bit digest (or 0), the locator (source and position packed, offset, length), the four tables'
    row ranges and the four item kinds' (written, rejected) counts. Reject reasons are kept only for the
    annotations that have rejects.
    """

    SPILL_AT = 4096  # records kept in memory before they are written to the spill file

    def __init__(self, spill: Path | None = None) -> None:
        """``spill``: a file for the records (created), so that memory stays flat; None keeps them in memory."""
        self.index = IntIndex()
        self.handle: BinaryIO | None = spill.open("w+b") if spill is not None else None
        self.spilled = 0  # records in the file; the ones after them are in self.recent
        self.recent = array("q")
        self.reasons: dict[int, Counter[str]] = {}

    def _record(self, slot: int) -> array[int]:
        if slot >= self.spilled:
            at = slot - self.spilled
            return self.recent[at * _RECORD : (at + 1) * _RECORD]
        assert self.handle is not None
        record = array("q")
        record.frombytes(os.pread(self.handle.fileno(), _RECORD_BYTES, slot * _RECORD_BYTES))
        return record

    def _spill(self) -> None:
        if self.handle is not None and len(self.recent) >= self.SPILL_AT * _RECORD:
            os.pwrite(self.handle.fileno(), self.recent.tobytes(), self.spilled * _RECORD_BYTES)
            self.spilled += len(self.recent) // _RECORD
            self.recent = array("q")

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()

    def find(self, annotation_id: int) -> int | None:
        return self.index.get(annotation_id)

    def read(self, slot: int) -> Occurrence:
        record = self._record(slot)
        flags = record[1]
        rows, counts = record[_ROWS:_COUNTS], record[_COUNTS:]
        return Occurrence(
            time=record[0],
            digest=(record[3] % _HALF) << 64 | record[4] % _HALF if flags & _HAS_DIGEST else None,
            locator=Locator(record[5] // _POSITIONS, record[6], record[7], record[5] % _POSITIONS),
            task_id=record[2] if flags & _HAS_TASK else None,
            cancelled=bool(flags & _CANCELLED),
            rows={name: (rows[2 * i], rows[2 * i + 1]) for i, name in enumerate(TABLES)},
            counts={kind: (counts[2 * i], counts[2 * i + 1]) for i, kind in enumerate(ITEM_KINDS)},
            reasons=Counter(self.reasons.get(slot, ())),
        )

    def store(self, annotation_id: int, slot: int | None, occurrence: Occurrence) -> None:
        """Record ``occurrence`` as the kept version of ``annotation_id`` (in ``slot``, or a new one)."""
        digest, locator = occurrence.digest, occurrence.locator
        flags = ((_HAS_TASK if occurrence.task_id is not None else 0) | (_CANCELLED if occurrence.cancelled else 0)
                 | (_HAS_DIGEST if digest is not None else 0))
        digest = digest or 0
        record = array("q", [occurrence.time, flags, occurrence.task_id or 0, _signed(digest >> 64),
                             _signed(digest % _HALF), locator.source * _POSITIONS + locator.position,
                             locator.offset, locator.length])
        record.extend(row for name in TABLES for row in occurrence.rows[name])
        record.extend(count for kind in ITEM_KINDS for count in occurrence.counts[kind])
        if slot is None:
            slot = self.index.add(annotation_id)
            self.recent.extend(record)
            self._spill()
        elif slot >= self.spilled:
            at = slot - self.spilled
            self.recent[at * _RECORD : (at + 1) * _RECORD] = record
        else:
            assert self.handle is not None
            os.pwrite(self.handle.fileno(), record.tobytes(), slot * _RECORD_BYTES)
        if occurrence.reasons:
            self.reasons[slot] = occurrence.reasons
        else:
            self.reasons.pop(slot, None)
