"""The Parquet sink of an import: rows buffered per table and written in row groups, texts spilled to disk.

Rows arrive as Python tuples or column lists in the column order of :mod:`claimset.tables`; nothing
here knows what they mean. A replaced annotation's rows are dropped afterwards by row-number range
(:func:`drop_rows`).
"""

from __future__ import annotations

import datetime as dt
import os
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from claimset.seeds import Document
from claimset.tables import DOCUMENTS

ROWS_PER_GROUP = 65_536
CONVERT_ROWS = 8_192  # rows buffered as Python tuples before conversion to Arrow
UTF8_COLUMNS = {"spans": ("text",)}  # string columns converted by utf8_array (long texts with emoji)


class RowBuffer:
    """Rows of one table, written to a Parquet file in row groups as they accumulate.

    Rows are added as Python tuples (:meth:`append`, :meth:`extend`) or as row ranges of Arrow batches
    converted elsewhere by :func:`arrow_batch` (:meth:`append_slice`). Every :data:`CONVERT_ROWS`
    buffered tuples are converted to an Arrow batch, so the Python objects of at most about that many
    rows are alive at once; row groups of exactly :data:`ROWS_PER_GROUP` rows (the last one fewer)
    are written from the batches. The row groups depend only on the rows, not on how they were added.
    """

    def __init__(self, schema: pa.Schema, path: Path, utf8_columns: Sequence[str] = ()) -> None:
        self.schema = schema
        self.path = path
        self.columns: list[list[Any]] = [[] for _ in schema]  # the buffered tuples, a list per column
        self.buffered = 0  # rows in self.columns
        self.batches: list[pa.RecordBatch] = []
        self.pending = 0  # rows in self.batches
        self.slice: tuple[pa.RecordBatch, int, int] | None = None  # rows of a batch added last, not yet taken
        self.count = 0
        self.writer: pq.ParquetWriter | None = None
        self.limit = min(CONVERT_ROWS, ROWS_PER_GROUP)
        self.utf8_columns = tuple(utf8_columns)

    def append(self, row: tuple[Any, ...]) -> None:
        self._take_slice()
        for values, value in zip(self.columns, row, strict=True):
            values.append(value)
        self._added(1)

    def extend(self, rows: list[tuple[Any, ...]]) -> None:
        """Append ``rows`` (tuples in the schema's column order), in order."""
        if rows:
            self._take_slice()
            for values, column in zip(self.columns, zip(*rows, strict=True), strict=True):
                values.extend(column)
            self._added(len(rows))

    def append_slice(self, batch: pa.RecordBatch, start: int, stop: int) -> None:
        """Append rows ``start`` to ``stop`` (half-open) of ``batch``, which has this table's schema.

        Consecutive ranges of one batch are taken as one slice.
        """
        if start == stop:
            return
        self.count += stop - start
        if self.slice is not None and self.slice[0] is batch and self.slice[2] == start:
            self.slice = (batch, self.slice[1], stop)
            return
        self._take_slice()
        self._convert(self.buffered)  # the tuples appended before come first
        self.slice = (batch, start, stop)

    def _take_slice(self) -> None:
        if self.slice is not None:
            batch, start, stop = self.slice
            self.slice = None
            self.batches.append(batch.slice(start, stop - start))
            self.pending += stop - start
            self._write_groups()

    def _added(self, rows: int) -> None:
        self.buffered += rows
        self.count += rows
        while self.buffered >= self.limit:
            self._convert(self.limit)
            self._write_groups()

    def _convert(self, rows: int) -> None:
        """Convert the first ``rows`` buffered rows to an Arrow batch."""
        if not rows:
            return
        self.batches.append(arrow_batch(self.columns, self.schema, self.utf8_columns, rows))
        for values in self.columns:
            del values[:rows]
        self.pending += rows
        self.buffered -= rows

    def _write_groups(self) -> None:
        """Write row groups of :data:`ROWS_PER_GROUP` rows while the batches hold that many."""
        while self.pending >= ROWS_PER_GROUP:
            table = pa.Table.from_batches(self.batches, schema=self.schema)
            self._write(table.slice(0, ROWS_PER_GROUP))
            self.batches = table.slice(ROWS_PER_GROUP).to_batches()
            self.pending -= ROWS_PER_GROUP

    def _write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        self.writer.write_table(table, row_group_size=max(1, table.num_rows))

    def close(self) -> None:
        """Write what is left (an empty row group for a table without rows) and close the file."""
        self._take_slice()
        self._convert(self.buffered)
        self._write_groups()
        if self.writer is None or self.pending:
            self._write(pa.Table.from_batches(self.batches, schema=self.schema))
            self.batches, self.pending = [], 0
        assert self.writer is not None
        self.writer.close()


def arrow_batch(columns: list[list[Any]], schema: pa.Schema, utf8_columns: Sequence[str] = (),
                rows: int | None = None) -> pa.RecordBatch:
    """The first ``rows`` (all if None) of ``columns`` (a list of values per column of ``schema``) as a batch.

    The columns named in ``utf8_columns`` are converted by :func:`utf8_array`.
    """
    utf8 = {schema.get_field_index(name) for name in utf8_columns}
    arrays = []
    for number, (values, fld) in enumerate(zip(columns, schema, strict=True)):
        head = values if rows is None or rows == len(values) else values[:rows]
        arrays.append(utf8_array(head, fld.type) if number in utf8 else pa.array(head, type=fld.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def utf8_array(values: Sequence[Any], type: pa.DataType) -> pa.Array:
    """``pa.array(values, type=type)`` for a string column, built from UTF-8 bytes encoded by Python.

    pyarrow converts a ``str`` holding a character outside the BMP (an emoji) very slowly (several
    microseconds per short string, about half a millisecond per 3,000-character text); ``str.encode``
    plus a validating cast from binary gives the same array. Anything else (nulls, lone surrogates)
    takes ``pa.array`` itself, with its own result or error.
    """
    try:
        encoded = [value.encode("utf-8") for value in values]
    except (AttributeError, UnicodeEncodeError):
        return pa.array(values, type=type)
    binary = pa.large_binary() if pa.types.is_large_string(type) else pa.binary()
    return pa.array(encoded, type=binary).cast(type)


class DocumentStore:
    """The documents met so far, by doc_id: small metadata in memory, texts spilled to a file.

    Holding every text as a Python ``str`` would make memory grow with the export (about 12 KB per
    3,000-character text with an emoji, stored 4 bytes per code point); the spill file keeps UTF-8
    bytes on disk and a text is read back only when its doc_id comes again or the table is written.
    """

    DOCS_PER_GROUP = 1024

    def __init__(self, path: Path, seeds: dict[str, Document]) -> None:
        self.seeds = seeds
        self.handle = path.open("w+b")
        # doc_id -> slot; per slot, packed: the date ordinals (published for the table, 0 for none;
        # Document.published), the text's offset and length in the spill file (seeded documents keep
        # offset -1: their text is the seed's), the SHA-256 digest, the source file. About 200 bytes
        # a document rather than 500 as a tuple of objects: the store lives for the whole import.
        self.slot: dict[str, int] = {}
        self.dates = array("l")
        self.spill = array("q")
        self.digests = bytearray()
        self.sources: list[str] = []
        self.size = 0

    def __len__(self) -> int:
        return len(self.slot)

    def add(self, document: Document, published: dt.date | None, *, seeded: bool) -> None:
        offset, length = -1, 0
        if not seeded:
            raw = document.text.encode("utf-8")
            self.handle.seek(self.size)
            self.handle.write(raw)
            offset, length = self.size, len(raw)
            self.size += length
        self.slot[document.doc_id] = len(self.sources)
        self.dates.extend((published.toordinal() if published else 0, document.published.toordinal()))
        self.spill.extend((offset, length))
        self.digests += bytes.fromhex(document.text_sha256)
        self.sources.append(document.source_file)

    def _text(self, offset: int, length: int) -> str:
        self.handle.seek(offset)
        return self.handle.read(length).decode("utf-8")

    def _spilled(self, slot: int) -> tuple[int, int]:
        """Offset and length of the document's text in the spill file (offset -1: a seed's text)."""
        return self.spill[2 * slot], self.spill[2 * slot + 1]

    def _sha256(self, slot: int) -> str:
        return self.digests[32 * slot : 32 * slot + 32].hex()

    def get(self, doc_id: str) -> Document | None:
        slot = self.slot.get(doc_id)
        if slot is None:
            return None
        offset, length = self._spilled(slot)
        if offset < 0:
            return self.seeds[doc_id]
        return Document(doc_id=doc_id, published=dt.date.fromordinal(self.dates[2 * slot + 1]),
                        text=self._text(offset, length), text_sha256=self._sha256(slot), source_file=self.sources[slot])

    def write(self, path: Path) -> int:
        """Write the documents table sorted by doc_id, a row group at a time; return the row count."""
        ids = sorted(self.slot)
        with pq.ParquetWriter(path, DOCUMENTS, compression="zstd") as writer:
            for lo in range(0, max(len(ids), 1), self.DOCS_PER_GROUP):
                group = ids[lo : lo + self.DOCS_PER_GROUP]
                slots = [self.slot[doc_id] for doc_id in group]
                # texts go to Arrow as UTF-8 bytes (the spill file's, or the seed's encoded): pyarrow is
                # very slow on str with characters outside the BMP (see utf8_array)
                texts: list[Any] = []
                seeded_texts = False
                for doc_id, slot in zip(group, slots, strict=True):
                    offset, length = self._spilled(slot)
                    if offset < 0:
                        texts.append(self.seeds[doc_id].text)
                        seeded_texts = True
                    else:
                        self.handle.seek(offset)
                        texts.append(self.handle.read(length))
                if seeded_texts:
                    text_array = utf8_array([t if isinstance(t, str) else t.decode("utf-8") for t in texts],
                                             pa.large_string())
                else:
                    text_array = pa.array(texts, type=pa.large_binary()).cast(pa.large_string())
                published = [self.dates[2 * slot] for slot in slots]
                arrays = [
                    pa.array(group, type=pa.string()),
                    pa.array([dt.date.fromordinal(day) if day else None for day in published], type=pa.date32()),
                    pa.array([self.sources[slot] for slot in slots], type=pa.string()),
                    text_array,
                    pa.array([self._sha256(slot) for slot in slots], type=pa.string()),
                ]
                writer.write_table(pa.Table.from_arrays(arrays, schema=DOCUMENTS))
        return len(ids)

    def close(self) -> None:
        self.handle.close()


def drop_rows(path: Path, ranges: list[tuple[int, int]]) -> None:
    """Rewrite a staged Parquet file without the rows in ``ranges`` (half-open row-number ranges)."""
    source = pq.ParquetFile(path)
    tmp = path.with_suffix(".filtered")
    offset = 0
    with pq.ParquetWriter(tmp, source.schema_arrow, compression="zstd") as writer:
        for batch in source.iter_batches(batch_size=ROWS_PER_GROUP):
            keep = [True] * batch.num_rows
            for lo, hi in ranges:
                for row in range(max(lo, offset), min(hi, offset + batch.num_rows)):
                    keep[row - offset] = False
            writer.write_batch(batch.filter(pa.array(keep)))
            offset += batch.num_rows
    source.close()
    os.replace(tmp, path)

