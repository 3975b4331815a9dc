"""Spans and relations split into buckets of whole annotations, by document range, in a work directory.

What needs a dataset's spans and relations together (the relation checks of
:mod:`claimset.validate`, the claims of :mod:`claimset.claims`) reads them bucket by bucket, so its
memory is bounded by a bucket, not by the dataset (see ``docs/scaling.md``).

Where a row goes depends only on the id that row is looked up by, so that every row a lookup could
find is in the lookup's bucket however the tables were edited:

- a key (``span_id``, ``relation_id``, ``head_span_id``, ``tail_span_id``) belongs to the annotation
  its text before the first ``:`` names (ids are ``<annotation_id>:...``, see :mod:`claimset.tables`);
- an annotation belongs to the bucket of its document;
- documents are cut into :attr:`Layout.count` ranges of doc_id, so buckets read in order give claims
  in doc_id order.

A key naming no annotation, and a null key, go to bucket 0; a null doc_id to the last bucket. Spans
are bucketed by ``span_id``, relations by ``head_span_id``: a relation's tail is in its bucket whenever
the tail belongs to the head's annotation, as it does in a valid dataset.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from claimset.errors import ClaimsetError

Array = npt.NDArray[Any]
SPANS_PER_BUCKET = 65_536  # spans in a bucket, about: what bounds the memory of the bucketed work
MAX_BUCKETS = 256  # files open at once per spool


STALE_UNLOCKED_S = 600  # a work directory without a lock file this old was left by a killed run
_WORK_FILE = re.compile(r"[a-z_]+-[0-9]{3,}\.arrow|\.lock|\.lock\.new")  # all a work directory may hold
_TEMPORARY_PREFIX = "claimset-buckets-"  # in the system's temporary folder, when beside the dataset is read-only


@contextmanager
def work_directory(beside: Path) -> Iterator[Path]:
    """A private directory next to ``beside`` (or in the system's temporary folder), removed afterwards.

    Next to the dataset, so that the bucket files (about as large as the spans and relations tables)
    land on the dataset's file system. The directory holds an exclusive ``flock`` on its ``.lock``
    for as long as it is in use (taken before the lock file has its name, so no other run can see it
    unlocked); the work directories that killed runs left (``.*.buckets-*`` beside it, or
    ``claimset-buckets-*`` in the temporary folder) are removed first, when their lock is free and they
    hold nothing but claimset's own files.
    """
    try:
        _remove_abandoned(beside.parent, ".*.buckets-*")
        path = Path(tempfile.mkdtemp(prefix=f".{beside.name}.buckets-", dir=beside.parent))
    except OSError as beside_error:  # a read-only parent
        try:
            temporary = Path(tempfile.gettempdir())
            _remove_abandoned(temporary, f"{_TEMPORARY_PREFIX}*")
            path = Path(tempfile.mkdtemp(prefix=_TEMPORARY_PREFIX, dir=temporary))
        except OSError as exc:
            raise ClaimsetError(f"{beside.parent}: no folder to write work files in: not beside the dataset "
                                f"({beside_error.strerror}), nor in the temporary folder ({exc.strerror}); set "
                                "TMPDIR to a writable folder") from exc
    lock = os.open(path / ".lock.new", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        os.rename(path / ".lock.new", path / ".lock")
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(lock)


def _remove_abandoned(folder: Path, pattern: str) -> None:
    """Remove the work directories in ``folder`` named by ``pattern`` whose run is gone (their lock is free)."""
    try:
        candidates = [entry for entry in folder.glob(pattern) if entry.is_dir() and not entry.is_symlink()]
    except OSError:
        return
    for candidate in candidates:
        try:
            lock = os.open(candidate / ".lock", os.O_RDWR | os.O_NOFOLLOW)
        except FileNotFoundError:  # killed before its lock had its name (or being made right now)
            with contextlib.suppress(OSError):
                if time.time() - candidate.stat().st_mtime > STALE_UNLOCKED_S:
                    _remove_work_files(candidate)
            continue
        except OSError:
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _remove_work_files(candidate)  # its run is gone: nobody holds the lock
        except BlockingIOError:
            pass  # in use by a live run
        finally:
            os.close(lock)


def _remove_work_files(directory: Path) -> None:
    """Remove ``directory`` if it holds only regular files a work directory holds; else leave it alone."""
    with contextlib.suppress(OSError):
        entries = list(os.scandir(directory))
        if all(_WORK_FILE.fullmatch(entry.name) and entry.is_file(follow_symlinks=False) for entry in entries):
            shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Layout:
    """Which bucket a document, an annotation or a key is in."""

    count: int
    documents: pa.Array  # the distinct doc_ids of documents, sorted
    document_buckets: Array  # int32, the bucket of each of them
    bounds: list[str]  # bucket i holds bounds[i-1] <= doc_id < bounds[i]
    ids: Array  # int64, the annotation ids, sorted (an id repeated: its first row)
    id_buckets: Array  # int32, the bucket of the document of each of them

    @classmethod
    def build(cls, doc_ids: pa.Array | None, annotation_ids: pa.Array | None, annotation_docs: pa.Array | None,
              spans: int) -> Layout:
        """Buckets of about :data:`SPANS_PER_BUCKET` of ``spans``, cut at documents (no more than there are)."""
        distinct = pa.array([], pa.string()) if doc_ids is None else pc.drop_null(pc.unique(doc_ids))
        distinct = distinct.take(pc.sort_indices(distinct))
        count = max(1, min(-(-spans // SPANS_PER_BUCKET), len(distinct), MAX_BUCKETS))
        cuts = np.array([(number * len(distinct)) // count for number in range(1, count)], dtype=np.int64)
        buckets = np.searchsorted(cuts, np.arange(len(distinct)), side="right").astype(np.int32)
        layout = cls(count, distinct, buckets, [str(distinct[int(cut)].as_py()) for cut in cuts],
                     np.zeros(0, np.int64), np.zeros(0, np.int32))
        if annotation_ids is not None and annotation_docs is not None and count > 1:
            present = np.asarray(annotation_ids.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
            values = np.asarray(pc.fill_null(annotation_ids, 0).to_numpy(), dtype=np.int64)[present]
            annotation_buckets = layout.of_docs(annotation_docs)[present]
            order = np.argsort(values, kind="stable")  # the first row of a repeated id first
            first = np.ones(len(order), dtype=bool)
            first[1:] = values[order][1:] != values[order][:-1]
            layout.ids, layout.id_buckets = values[order][first], annotation_buckets[order][first]
        return layout

    def of_docs(self, doc_ids: pa.Array | pa.ChunkedArray) -> Array:
        """The range bucket of each doc_id; a null one is in the last bucket."""
        if self.count == 1:
            return np.zeros(len(doc_ids), np.int32)
        rank = np.asarray(pc.fill_null(pc.index_in(doc_ids, value_set=self.documents), -1).to_numpy(),
                          dtype=np.int64)
        buckets = np.full(len(rank), self.count - 1, np.int32)
        known = rank >= 0
        buckets[known] = self.document_buckets[rank[known]]
        elsewhere = np.flatnonzero(~known & np.asarray(pc.is_valid(doc_ids).to_numpy(zero_copy_only=False)))
        for row in elsewhere:  # a doc_id no document has: its range, found by bisection
            buckets[row] = self.of_doc(doc_ids[int(row)].as_py())
        return buckets

    def of_doc(self, doc_id: str | None) -> int:
        """The range bucket of one doc_id (a null one: the last)."""
        return self.count - 1 if doc_id is None else bisect.bisect_right(self.bounds, doc_id)

    def holds(self, number: int, doc_ids: pa.Array | pa.ChunkedArray) -> bool:
        """Are all these doc_ids in bucket ``number``'s range (a null in the last bucket's)?"""
        if doc_ids.null_count and number != self.count - 1:
            return False
        low, high = (value.as_py() for value in pc.min_max(doc_ids).values())
        return low is None or self.of_doc(low) == self.of_doc(high) == number

    def of_annotations(self, annotation_ids: pa.Array | pa.ChunkedArray) -> Array:
        """The bucket of the annotation with each id; an unknown or null id is in bucket 0."""
        if self.count == 1:
            return np.zeros(len(annotation_ids), np.int32)
        present = np.asarray(annotation_ids.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        return self._lookup(np.asarray(pc.fill_null(annotation_ids, 0).to_numpy(), dtype=np.int64), present)

    def of_keys(self, keys: pa.Array | pa.ChunkedArray) -> Array:
        """The bucket of the annotation each key's text before its first ``:`` names; bucket 0 if none."""
        if self.count == 1:
            return np.zeros(len(keys), np.int32)
        return self.of_owners(owners(keys))

    def of_owners(self, names: pa.Array | pa.ChunkedArray) -> Array:
        """The bucket of the annotation each name is ``str()`` of the id of (:func:`owners` of a key); bucket 0
        if none. A name is the id of an annotation only if written as ``str()`` writes an integer."""
        if self.count == 1:
            return np.zeros(len(names), np.int32)
        # many keys share an owner (an annotation's spans): each distinct name is looked up once
        encoded = pc.dictionary_encode(names.combine_chunks() if isinstance(names, pa.ChunkedArray) else names)
        distinct = self._of_names(encoded.dictionary)
        rows = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(), dtype=np.int64)
        return np.append(distinct, 0).astype(np.int32)[rows]  # a null (-1: the 0 appended) names no annotation

    def _of_names(self, names: pa.Array) -> Array:
        """:meth:`of_owners`, name by name."""
        names = pc.fill_null(names, "")
        lengths = np.asarray(pc.binary_length(names).to_numpy(), dtype=np.int64)
        zero_led = np.asarray(pc.starts_with(names, "0").to_numpy(zero_copy_only=False), dtype=bool) & (lengths > 1)
        plain = np.asarray(pc.ascii_is_decimal(names).to_numpy(zero_copy_only=False), dtype=bool) & ~zero_led & (
            lengths <= 18)  # at most 18 digits: an int64
        values = np.zeros(len(names), dtype=np.int64)
        values[plain] = np.asarray(pc.cast(names.filter(pa.array(plain)), pa.int64()).to_numpy(), dtype=np.int64)
        signed = np.asarray(pc.starts_with(names, "-").to_numpy(zero_copy_only=False), dtype=bool)
        for row in np.flatnonzero(~plain & (signed | (lengths > 18)) & ~zero_led):  # rare: str() of another int64?
            text = str(names[int(row)].as_py())
            number = int(text) if text.lstrip("-").isascii() and text.lstrip("-").isdecimal() else None
            if number is not None and str(number) == text and -(2**63) <= number < 2**63:
                values[row], plain[row] = number, True
        return self._lookup(values, plain)

    def _lookup(self, values: Array, present: Array) -> Array:
        where = np.minimum(np.searchsorted(self.ids, values), max(len(self.ids) - 1, 0))
        found = present & (len(self.ids) > 0)
        if len(self.ids):
            found &= self.ids[where] == values
        buckets = np.zeros(len(values), np.int32)
        buckets[found] = self.id_buckets[where[found]]
        return buckets


def owners(keys: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The text of each key before its first ``:`` (the whole key if it has none)."""
    return pc.list_element(pc.split_pattern(keys, ":", max_splits=1), 0)


def split_keys(keys: pa.Array | pa.ChunkedArray) -> tuple[pa.Array | pa.ChunkedArray, pa.Array | pa.ChunkedArray]:
    """:func:`owners` of the keys, and their text after the first ``:`` (null for a key without one)."""
    parts = pc.split_pattern(pc.binary_join_element_wise(keys, ":", ""), ":", max_splits=1)  # two parts each
    after = pc.utf8_slice_codeunits(pc.list_element(parts, 1), 0, -1)  # less the ":" added
    has_colon = pc.greater_equal(pc.find_substring(keys, ":"), 0)
    return pc.list_element(parts, 0), pc.if_else(has_colon, after, pa.scalar(None, pa.string()))


class Spool:
    """Rows of one table written to a file per bucket (Arrow IPC), then read back bucket by bucket."""

    def __init__(self, directory: Path, name: str, count: int, schema: pa.Schema) -> None:
        self.paths = [directory / f"{name}-{number:03d}.arrow" for number in range(count)]
        self.writers: dict[int, tuple[pa.NativeFile, pa.ipc.RecordBatchStreamWriter]] = {}
        self.schema = schema

    def write(self, table: pa.Table, buckets: Array) -> None:
        """Append each row of ``table`` to the file of its bucket, keeping the rows' order within a bucket."""
        if buckets.size > 1 and (np.diff(buckets) < 0).any():
            order = np.argsort(buckets, kind="stable")
            table, buckets = table.take(pa.array(order)), buckets[order]
        edges = np.searchsorted(buckets, np.arange(len(self.paths) + 1))  # rows of a bucket are now together
        for number in np.flatnonzero(np.diff(edges)):
            self._writer(int(number)).write_table(table.slice(edges[number], edges[number + 1] - edges[number]))

    def _writer(self, number: int) -> pa.ipc.RecordBatchStreamWriter:
        if number not in self.writers:
            sink = pa.OSFile(str(self.paths[number]), "wb")
            self.writers[number] = (sink, pa.ipc.new_stream(sink, self.schema))
        return self.writers[number][1]

    def close(self) -> None:
        for sink, writer in self.writers.values():
            writer.close()
            sink.close()

    def read(self, number: int) -> pa.Table:
        """The rows of bucket ``number``, in the order written."""
        if number not in self.writers:
            return self.schema.empty_table()
        with pa.OSFile(str(self.paths[number]), "rb") as source:
            return pa.ipc.open_stream(source).read_all()
