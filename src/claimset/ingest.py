"""Import: Label Studio full-JSON exports -> the claimset Parquet tables.

The export is streamed task by task (the top-level array is split into tasks by a vectorised byte
scan and each task decoded with ``orjson``), so memory does not grow with the number of tasks; rows
are written to Parquet in row groups. Every result item of every annotation ends up either in
a table or in ``rejects`` with a stable reason code, and :class:`ImportSummary` reconciles the counts.

Offsets: each span's ``start``/``end`` are code-point indices into the document's canonical text,
half-open, and ``spans.text`` is always re-sliced from that text (Label Studio's ``value.text`` is
only used to check and repair offsets, see :mod:`claimset.offsets`).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import re
import shutil
import tempfile
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from claimset import offsets
from claimset.errors import ClaimsetError
from claimset.scheme import Scheme, load_scheme
from claimset.seeds import Document, sha256_text
from claimset.tables import ANNOTATIONS, DOCUMENTS, REJECTS, RELATIONS, SPANS, table_path

ROWS_PER_GROUP = 65_536
CONVERT_ROWS = 8_192  # rows buffered as Python tuples before conversion to Arrow
QUOTE_CONTEXT = offsets.QUOTE_CONTEXT

# Result item type -> kind of item counted in the summary.
_KINDS = {"labels": "region", "choices": "attribute", "textarea": "attribute", "relation": "relation"}

# Stable reason codes for rows in ``rejects``.
REASONS: dict[str, str] = {
    "not_a_task": "an item of the export is not a task object with 'data'",
    "task_without_text": "the task has no text to anchor spans in",
    "cancelled": "the annotation was cancelled (skipped) by its annotator; it contributes no spans",
    "unknown_result_type": "the result item's type is none of labels, choices, textarea, relation",
    "unknown_from_name": "the result names a control tag that the scheme does not define",
    "unknown_to_name": "the result names an object tag other than the scheme's text",
    "unknown_label": "the region's label is not in the scheme",
    "multiple_labels": "the region carries more than one label",
    "duplicate_region_id": "another region of the same annotation has this id",
    "offsets_missing": "start/end are missing or not integers",
    "offsets_negative": "start or end is negative",
    "offsets_reversed": "start is not before end",
    "offsets_out_of_range": "end is past the end of the text",
    "text_mismatch": "the exported text disagrees with the slice and no known repair explains it",
    "whitespace_span": "the span holds only white space",
    "reanchor_not_found": "the document changed and the span's quote no longer occurs in it",
    "reanchor_ambiguous": "the document changed and the span's quote occurs several times",
    "attribute_orphan": "the per-region attribute refers to a region that does not exist",
    "attribute_region_rejected": "the per-region attribute belongs to a rejected region",
    "attribute_wrong_label": "the attribute does not apply to the region's label",
    "unknown_attribute_value": "the attribute value is not allowed by the scheme",
    "attribute_empty": "the attribute carries no value",
    "duplicate_attribute": "the region already has a value for this attribute",
    "relation_missing_region": "a relation endpoint is not a region of the annotation",
    "relation_endpoint_rejected": "a relation endpoint is a rejected region",
    "relation_unlabelled": "the relation has no type",
    "multiple_relation_labels": "the relation has more than one type",
    "unknown_relation": "the relation type is not in the scheme",
    "relation_wrong_labels": "the relation joins labels the scheme does not allow for its type",
    "relation_bidirectional": "the relation is bidirectional; scheme relations are directed",
    "duplicate_relation": "the same relation appears twice in the annotation",
}


@dataclass
class ItemCounts:
    """Counts for one kind of result item; ``read == written + rejected + superseded``."""

    read: int = 0
    written: int = 0
    rejected: int = 0
    superseded: int = 0

    @property
    def reconciles(self) -> bool:
        return self.read == self.written + self.rejected + self.superseded


@dataclass
class ImportSummary:
    sources: list[str] = field(default_factory=list)
    tasks: int = 0
    documents: int = 0
    annotations: int = 0
    submitted: int = 0
    cancelled: int = 0
    drafts: int = 0
    predictions: int = 0
    regions: ItemCounts = field(default_factory=ItemCounts)
    attributes: ItemCounts = field(default_factory=ItemCounts)
    relations: ItemCounts = field(default_factory=ItemCounts)
    other_items: ItemCounts = field(default_factory=ItemCounts)
    repairs: Counter[str] = field(default_factory=Counter)
    reanchored: int = 0
    rejects_by_reason: Counter[str] = field(default_factory=Counter)
    duplicate_annotations: list[int] = field(default_factory=list)  # same version seen again, skipped
    replaced_annotations: list[int] = field(default_factory=list)  # older version replaced by newer

    @property
    def reconciles(self) -> bool:
        kinds = (self.regions, self.attributes, self.relations, self.other_items)
        rejected = sum(kind.rejected for kind in kinds)
        return all(kind.reconciles for kind in kinds) and rejected == sum(self.rejects_by_reason.values())

    def to_dict(self) -> dict[str, Any]:
        def counts(kind: ItemCounts) -> dict[str, int]:
            return {"read": kind.read, "written": kind.written, "rejected": kind.rejected,
                    "superseded": kind.superseded}

        return {
            "sources": self.sources, "tasks": self.tasks, "documents": self.documents,
            "annotations": self.annotations, "submitted": self.submitted, "cancelled": self.cancelled,
            "drafts": self.drafts, "predictions": self.predictions,
            "regions": counts(self.regions), "attributes": counts(self.attributes),
            "relations": counts(self.relations), "other_items": counts(self.other_items),
            "repairs": dict(sorted(self.repairs.items())), "reanchored": self.reanchored,
            "rejects_by_reason": dict(sorted(self.rejects_by_reason.items())),
            "duplicate_annotations": self.duplicate_annotations,
            "replaced_annotations": self.replaced_annotations, "reconciles": self.reconciles,
        }


class RowBuffer:
    """Rows of one table, written to a Parquet file in row groups as they accumulate.

    Rows arrive as Python tuples and are converted to Arrow every :data:`CONVERT_ROWS` rows, so
    the Python objects of at most that many rows are alive at once; a row group of
    :data:`ROWS_PER_GROUP` rows is written from the converted batches.
    """

    def __init__(self, schema: pa.Schema, path: Path, utf8_columns: Sequence[str] = ()) -> None:
        self.schema = schema
        self.path = path
        self.rows: list[tuple[Any, ...]] = []
        self.batches: list[pa.RecordBatch] = []
        self.pending = 0  # rows in self.batches
        self.count = 0
        self.writer: pq.ParquetWriter | None = None
        self.limit = min(CONVERT_ROWS, ROWS_PER_GROUP)
        self.utf8 = frozenset(schema.get_field_index(name) for name in utf8_columns)

    def append(self, row: tuple[Any, ...]) -> None:
        rows = self.rows
        rows.append(row)
        self.count += 1
        if len(rows) >= self.limit:
            self._convert()
            if self.pending >= ROWS_PER_GROUP:
                self.flush()

    def extend(self, rows: list[tuple[Any, ...]]) -> None:
        """Append ``rows`` in order; the same conversions and row groups as appending them one by one."""
        if len(self.rows) + len(rows) < self.limit:
            self.rows.extend(rows)
            self.count += len(rows)
        else:
            for row in rows:
                self.append(row)

    def _convert(self) -> None:
        if not self.rows:
            return
        columns = list(zip(*self.rows, strict=True))
        utf8 = self.utf8
        arrays = [_utf8_array(col, fld.type) if number in utf8 else pa.array(col, type=fld.type)
                  for number, (col, fld) in enumerate(zip(columns, self.schema, strict=True))]
        self.batches.append(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        self.pending += len(self.rows)
        self.rows = []

    def flush(self) -> None:
        """Write what is buffered as one row group (an empty one for a table without rows)."""
        self._convert()
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        table = pa.Table.from_batches(self.batches, schema=self.schema)
        self.writer.write_table(table, row_group_size=max(1, table.num_rows))
        self.batches = []
        self.pending = 0

    def close(self) -> None:
        if self.writer is None or self.rows or self.batches:
            self.flush()
        assert self.writer is not None
        self.writer.close()


def _utf8_array(values: Sequence[Any], type: pa.DataType) -> pa.Array:
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


@dataclass(slots=True)
class _Occurrence:
    """Where one version of an annotation lies in the staged tables (row ranges), for replacement."""

    updated_at: dt.datetime | None
    cancelled: bool
    rows: dict[str, tuple[int, int]]  # table -> half-open row range
    counts: dict[str, tuple[int, int]]  # item kind -> (written, rejected)
    reasons: Counter[str]


class _Region:
    """A region accepted so far; ``attributes`` is created when its first attribute arrives."""

    __slots__ = ("attributes", "end", "label", "region_id", "repair", "start")

    def __init__(self, region_id: str, label: str, start: int, end: int, repair: str | None) -> None:
        self.region_id = region_id
        self.label = label
        self.start = start
        self.end = end
        self.repair = repair
        self.attributes: dict[str, str] | None = None


READ_CHUNK = 2 << 20  # bytes read at a time by iter_tasks

# Byte classes for the structural scan of the top-level array: +1 opens, -1 closes, 2 separates.
_STRUCTURE = np.zeros(256, dtype=np.int8)
_STRUCTURE[[ord("{"), ord("[")]] = 1
_STRUCTURE[[ord("}"), ord("]")]] = -1
_STRUCTURE[ord(",")] = 2
# bytes.translate table for the same scan: 1 structural byte, 2 ASCII digit, 3 quote, 4 backslash, 0 other
_SCAN_BYTES = bytes(1 if code in b"{}[]," else 2 if code in b"0123456789" else 3 if code == 0x22
                    else 4 if code == 0x5C else 0 for code in range(256))
_LONG_DIGITS = b"\x02" * 20
_NOT_DIGIT = re.compile(b"[^\x02]")
_WHITESPACE = b" \t\r\n"


def _item_bounds(buf: bytes, start: int) -> tuple[list[int], int | None, list[int]]:
    """Scan ``buf[start:]``, which begins at an item of the top-level array, outside any string.

    Returns the positions of the separators that end complete items (commas at the array's own
    depth), the position of the array's closing bracket if it is in ``buf``, and where runs of 20
    or more digits start (numbers orjson would not read exactly, see :func:`_decode`). Vectorised
    (numpy over bytes, the idea of simdjson's first stage): quotes preceded by an odd run of
    backslashes are escaped; brackets and commas between unescaped quotes are inside strings.
    """
    view = np.frombuffer(buf, dtype=np.uint8)[start:]
    # one bytes.translate (C, one pass) classifies every byte, see _SCAN_BYTES
    scanned = buf.translate(_SCAN_BYTES)
    codes = np.frombuffer(scanned, dtype=np.uint8)[start:]
    candidates = np.flatnonzero((codes & 1).view(np.bool_))  # structural bytes (1) and quotes (3), in order
    candidate_codes = codes[candidates]
    is_quote = candidate_codes == 3
    slashes = np.flatnonzero(codes == 4)
    if slashes.size:
        follow = slashes + 1
        follow = follow[follow < codes.size]
        after_slash = follow[codes[follow] == 3]  # quotes right after a backslash
        if after_slash.size:
            run_starts = slashes[np.diff(slashes, prepend=-2) != 1]
            run_start = run_starts[np.searchsorted(run_starts, after_slash - 1, side="right") - 1]
            escaped = after_slash[(after_slash - run_start) % 2 == 1]
            if escaped.size:
                is_quote[np.searchsorted(candidates, escaped)] = False
    # a structural byte is outside strings when an even number of (unescaped) quotes precede it
    outside = np.bitwise_xor.accumulate(is_quote.view(np.uint8)) == 0  # parity of the quotes so far
    marks = candidates[(candidate_codes == 1) & outside]
    kinds = _STRUCTURE[view[marks]]
    depth = np.cumsum(np.where(kinds == 2, 0, kinds), dtype=np.int64)
    closed = np.flatnonzero(depth < 0)
    close = int(marks[closed[0]]) + start if closed.size else None
    separators = marks[(kinds == 2) & (depth == 0)]
    if closed.size:
        separators = separators[separators < marks[closed[0]]]
    return (separators + start).tolist(), close, _long_digit_runs(scanned, start)


def _long_digit_runs(scanned: bytes, start: int) -> list[int]:
    """Where the runs of 20 or more ASCII digits of ``buf[start:]`` start (a run cut by ``start`` starts there).

    ``scanned`` is ``buf`` translated by :data:`_SCAN_BYTES` (digits are byte 2); the runs are found
    with ``bytes.find`` of 20 digit bytes: the leftmost match in a run is its start.
    """
    runs: list[int] = []
    position = scanned.find(_LONG_DIGITS, start)
    while position != -1:
        runs.append(position)
        run_end = _NOT_DIGIT.search(scanned, position)
        if run_end is None:
            break
        position = scanned.find(_LONG_DIGITS, run_end.start())
    return runs


def _decode(raw: bytes | memoryview, long_numbers: bool) -> Any:
    """One item of the array. orjson reads integers beyond 64 bits as floats and refuses lone
    surrogates; the standard library reads both exactly (as the reference decoder does), so it takes those items."""
    if not long_numbers:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(bytes(raw), parse_constant=_reject_constant)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def iter_tasks(path: Path, on_read: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]:
    """Stream the tasks of a Label Studio full-JSON export; errors are one-line ClaimsetErrors.

    The top-level array is split into items by a vectorised scan of each chunk read (see
    :func:`_item_bounds`), and each item is decoded on its own with orjson; memory holds one chunk
    plus the item being decoded, however long the export.
    """
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ClaimsetError(f"{path}: cannot read export: {exc.strerror}") from exc
    with handle:
        head = handle.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()
        if not head:
            raise ClaimsetError(f"{path}: empty file, expected a Label Studio JSON export")
        if head[:1] == b"{":
            raise ClaimsetError(f"{path}: not a Label Studio JSON export: expected a list of tasks, found an object")
        if head[:1] != b"[":
            raise ClaimsetError(f"{path}: not JSON (a CSV or other export?); expected a Label Studio JSON export")
        handle.seek(0)
        buf = handle.read(READ_CHUNK)
        if on_read is not None:
            on_read(len(buf))
        pos = buf.index(b"[") + 1
        index = 0
        read_size = READ_CHUNK
        eof = False
        while True:
            separators, close, long_starts = _item_bounds(buf, pos)
            ends = [*separators, close] if close is not None else separators
            view = memoryview(buf)
            for end in ends:
                raw = view[pos:end]
                if end == close and index == 0 and not bytes(raw).strip(_WHITESPACE):
                    break  # an empty export: []
                try:
                    long_numbers = bool(long_starts) and bisect_left(long_starts, pos) < bisect_left(long_starts, end)
                    task = _decode(raw, long_numbers)
                except (ValueError, RecursionError) as exc:
                    message = str(exc).splitlines()[0] if str(exc) else "cannot decode"
                    raise ClaimsetError(f"{path}: invalid JSON in task {index}: {message}") from exc
                if index == 0 and isinstance(task, dict) and "data" not in task and "annotations" not in task:
                    raise ClaimsetError(
                        f"{path}: task 0 has no 'data' or 'annotations': not a Label Studio full JSON export "
                        "(JSON-MIN? export with the JSON format)"
                    )
                index += 1
                pos = end + 1
                yield task
            del view
            if close is not None:
                tail = b"" if eof else handle.read()
                if on_read is not None and tail:
                    on_read(len(tail))
                rest = buf[close + 1 :] + tail
                if rest.strip(_WHITESPACE):
                    raise ClaimsetError(f"{path}: invalid JSON: data after the end of the list of tasks")
                return
            if eof:
                raise ClaimsetError(f"{path}: truncated or invalid JSON: the file ends inside task {index}")
            # an item longer than what is buffered doubles the read, so rescans stay linear overall
            read_size = READ_CHUNK if ends else max(READ_CHUNK, 2 * (len(buf) - pos))
            chunk = handle.read(read_size)
            if on_read is not None:
                on_read(len(chunk))
            eof = len(chunk) < read_size
            buf = buf[pos:] + chunk
            pos = 0


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _parse_date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _user_id(completed_by: Any) -> str:
    if isinstance(completed_by, dict):
        completed_by = completed_by.get("id")
    return f"ls-user-{completed_by}" if completed_by is not None else "ls-user-unknown"


def _as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Importer:
    """Turns tasks into staged rows; one instance per import run."""

    def __init__(self, scheme: Scheme, seeds: Sequence[Document], staging: Path) -> None:
        self.scheme = scheme
        self.seeds = {doc.doc_id: doc for doc in seeds}
        self.documents = _DocumentStore(staging / "documents.texts", self.seeds)
        self.summary = ImportSummary()
        self.buffers = {
            "annotations": RowBuffer(ANNOTATIONS, staging / "annotations.parquet"),
            "spans": RowBuffer(SPANS, staging / "spans.parquet", utf8_columns=("text",)),
            "relations": RowBuffer(RELATIONS, staging / "relations.parquet"),
            "rejects": RowBuffer(REJECTS, staging / "rejects.parquet"),
        }
        self.seen: dict[int, _Occurrence] = {}
        self.drop: dict[str, list[tuple[int, int]]] = {name: [] for name in self.buffers}
        self.source = ""
        # scheme lookups done once per item, as sets and dicts (the first definition wins, as in Scheme)
        self.span_labels = frozenset(scheme.span_labels)
        self.attribute_for: dict[str, Any] = {}
        for attribute in scheme.attributes:
            self.attribute_for.setdefault(attribute.from_name, attribute)
        self.relation_for: dict[str, Any] = {}
        for rel in scheme.relations:
            self.relation_for.setdefault(rel.value, rel)

    # -- rejects ----------------------------------------------------------------------------------
    def reject(self, task_id: int | None, annotation_id: int | None, item: str, region_id: Any,
               reason: str, message: str, raw: Any) -> None:
        self.summary.rejects_by_reason[reason] += 1
        self.buffers["rejects"].append((
            self.source, task_id, annotation_id, item,
            None if region_id is None else str(region_id), reason, message,
            json.dumps(raw, ensure_ascii=False, sort_keys=True),
        ))

    # -- tasks ------------------------------------------------------------------------------------
    def add_task(self, task: Any) -> None:
        self.summary.tasks += 1
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            self._reject_task(task, "not_a_task", "item is not a task object with 'data'")
            return
        task_id = _as_int(task.get("id"))
        data = task["data"]
        text = data.get(self.scheme.text_name)
        if not isinstance(text, str) or not text:
            self._reject_task(task, "task_without_text", f"task {task_id} has no '{self.scheme.text_name}'")
            return
        self.summary.drafts += len(task.get("drafts") or [])
        self.summary.predictions += len(task.get("predictions") or [])
        doc_id = str(data.get("doc_id") or f"ls-task-{task_id}")
        document = self._document(doc_id, text, data, task_id)
        for annotation in task.get("annotations") or []:
            self._add_annotation(annotation, task_id, document, text)

    def _reject_task(self, task: Any, reason: str, message: str) -> None:
        task_id = _as_int(task.get("id")) if isinstance(task, dict) else None
        annotations = task.get("annotations") if isinstance(task, dict) else None
        if not isinstance(annotations, list) or not annotations:
            self.reject(task_id, None, "task", None, reason, message, task)
            self.summary.other_items.read += 1
            self.summary.other_items.rejected += 1
            return
        for annotation in annotations:
            annotation_id = _as_int(annotation.get("id")) if isinstance(annotation, dict) else None
            result = annotation.get("result") if isinstance(annotation, dict) else None
            for item in result if isinstance(result, list) else []:
                counts = self._counts_for(item)
                counts.read += 1
                counts.rejected += 1
                self.reject(task_id, annotation_id, self._kind(item), _region_key(item), reason, message, item)

    def _document(self, doc_id: str, text: str, data: dict[str, Any], task_id: int | None) -> Document:
        known = self.documents.get(doc_id)
        if known is not None:
            return known
        seed = self.seeds.get(doc_id)
        document = seed or Document(
            doc_id=doc_id, published=_parse_date(data.get("published")) or dt.date(1970, 1, 1),
            text=text, text_sha256=sha256_text(text), source_file=f"{self.source}#task-{task_id}",
        )
        published = seed.published if seed else _parse_date(data.get("published"))
        self.documents.add(document, published, seeded=seed is not None)
        return document

    # -- annotations ------------------------------------------------------------------------------
    def _add_annotation(self, annotation: Any, task_id: int | None, document: Document, task_text: str) -> None:
        if not isinstance(annotation, dict):
            self.reject(task_id, None, "annotation", None, "not_a_task", "annotation is not an object", annotation)
            self.summary.other_items.read += 1
            self.summary.other_items.rejected += 1
            return
        annotation_id = _as_int(annotation.get("id"))
        raw_result = annotation.get("result")
        result: list[Any] = raw_result if isinstance(raw_result, list) else []
        updated_at = _parse_time(annotation.get("updated_at"))
        if annotation_id is not None and annotation_id in self.seen \
                and not self._replaces(annotation_id, updated_at, result):
            return
        start_rows = {name: buf.count for name, buf in self.buffers.items()}
        before = self._item_counts()
        reasons_before = Counter(self.summary.rejects_by_reason)
        cancelled = bool(annotation.get("was_cancelled"))
        kinds_get = _KINDS.get
        kinds = [kinds_get(item_type, "other") if type(item) is dict and type(item_type := item.get("type")) is str
                 else _kind(item) for item in result]  # _kind(item), its common case written out
        self._write_annotation(annotation, annotation_id, task_id, document.doc_id, updated_at, result, cancelled,
                               kinds)
        if cancelled:
            for item in result:
                counts = self._counts_for(item)
                counts.read += 1
                counts.rejected += 1
                self.reject(task_id, annotation_id, self._kind(item), _region_key(item), "cancelled",
                            f"annotation {annotation_id} was cancelled", item)
        else:
            _ResultConverter(self, task_id, annotation_id, document, task_text).convert(result, kinds)
        if annotation_id is not None:
            after = self._item_counts()
            self.seen[annotation_id] = _Occurrence(
                updated_at=updated_at,
                cancelled=cancelled,
                rows={name: (start, self.buffers[name].count) for name, start in start_rows.items()},
                counts={kind: (after[kind][0] - before[kind][0], after[kind][1] - before[kind][1])
                        for kind in after},
                reasons=Counter(self.summary.rejects_by_reason) - reasons_before,
            )

    def _write_annotation(self, annotation: dict[str, Any], annotation_id: int | None, task_id: int | None,
                          doc_id: str, updated_at: dt.datetime | None, result: list[Any],
                          cancelled: bool, item_kinds: list[str] | None = None) -> None:
        self.summary.annotations += 1
        if cancelled:
            self.summary.cancelled += 1
        else:
            self.summary.submitted += 1
        kinds = Counter(item_kinds if item_kinds is not None else [_kind(item) for item in result])
        lead_time = annotation.get("lead_time")
        self.buffers["annotations"].append((
            annotation_id, task_id, doc_id, _user_id(annotation.get("completed_by")),
            "cancelled" if cancelled else "submitted", bool(annotation.get("ground_truth")),
            _parse_time(annotation.get("created_at")), updated_at,
            float(lead_time) if isinstance(lead_time, int | float) else None,
            kinds["region"], kinds["relation"],
        ))

    def _item_counts(self) -> dict[str, tuple[int, int]]:
        return {name: (kind.written, kind.rejected) for name, kind in self._kinds().items()}

    def _kinds(self) -> dict[str, ItemCounts]:
        return {"region": self.summary.regions, "attribute": self.summary.attributes,
                "relation": self.summary.relations, "other": self.summary.other_items}

    def _replaces(self, annotation_id: int, updated_at: dt.datetime | None, result: list[Any]) -> bool:
        """Decide between two versions of one annotation: the latest ``updated_at`` wins.

        The losing version's rows are dropped (or never written) and its items counted as superseded.
        """
        old = self.seen[annotation_id]
        newer = updated_at is not None and (old.updated_at is None or updated_at > old.updated_at)
        kinds = self._kinds()
        if not newer:
            self.summary.duplicate_annotations.append(annotation_id)
            for item in result:
                kinds[self._kind(item)].read += 1
                kinds[self._kind(item)].superseded += 1
            return False
        self.summary.replaced_annotations.append(annotation_id)
        for name, row_range in old.rows.items():
            self.drop[name].append(row_range)
        for name, (written, rejected) in old.counts.items():
            kinds[name].written -= written
            kinds[name].rejected -= rejected
            kinds[name].superseded += written + rejected
        self.summary.rejects_by_reason.subtract(old.reasons)
        self.summary.rejects_by_reason += Counter()  # drop zero counts
        self.summary.annotations -= 1
        if old.cancelled:
            self.summary.cancelled -= 1
        else:
            self.summary.submitted -= 1
        return True

    def _counts_for(self, item: Any) -> ItemCounts:
        return self._kinds()[self._kind(item)]

    @staticmethod
    def _kind(item: Any) -> str:
        return _kind(item)

    # -- output -----------------------------------------------------------------------------------
    def finish(self, staging: Path) -> None:
        for buffer in self.buffers.values():
            buffer.close()
        for name, ranges in self.drop.items():
            if ranges:
                _drop_rows(self.buffers[name].path, ranges)
        self.summary.documents = self.documents.write(staging / "documents.parquet")
        self.documents.close()


class _DocumentStore:
    """The documents met so far, by doc_id: small metadata in memory, texts spilled to a file.

    Holding every text as a Python ``str`` would make memory grow with the export (about 12 KB per
    3,000-character text with an emoji, stored 4 bytes per code point); the spill file keeps UTF-8
    bytes on disk and a text is read back only when its doc_id comes again or the table is written.
    """

    DOCS_PER_GROUP = 1024

    def __init__(self, path: Path, seeds: dict[str, Document]) -> None:
        self.seeds = seeds
        self.handle = path.open("w+b")
        # doc_id -> (published for the table, Document.published, source_file, sha256, offset, length);
        # seeded documents keep offset -1 (their text is the seed's)
        self.meta: dict[str, tuple[dt.date | None, dt.date, str, str, int, int]] = {}
        self.size = 0

    def __len__(self) -> int:
        return len(self.meta)

    def add(self, document: Document, published: dt.date | None, *, seeded: bool) -> None:
        offset, length = -1, 0
        if not seeded:
            raw = document.text.encode("utf-8")
            self.handle.seek(self.size)
            self.handle.write(raw)
            offset, length = self.size, len(raw)
            self.size += length
        self.meta[document.doc_id] = (published, document.published, document.source_file,
                                      document.text_sha256, offset, length)

    def _text(self, offset: int, length: int) -> str:
        self.handle.seek(offset)
        return self.handle.read(length).decode("utf-8")

    def get(self, doc_id: str) -> Document | None:
        meta = self.meta.get(doc_id)
        if meta is None:
            return None
        _, doc_published, source_file, sha, offset, length = meta
        if offset < 0:
            return self.seeds[doc_id]
        return Document(doc_id=doc_id, published=doc_published, text=self._text(offset, length),
                        text_sha256=sha, source_file=source_file)

    def write(self, path: Path) -> int:
        """Write the documents table sorted by doc_id, a row group at a time; return the row count."""
        ids = sorted(self.meta)
        with pq.ParquetWriter(path, DOCUMENTS, compression="zstd") as writer:
            for lo in range(0, max(len(ids), 1), self.DOCS_PER_GROUP):
                group = ids[lo : lo + self.DOCS_PER_GROUP]
                metas = [self.meta[doc_id] for doc_id in group]
                # texts go to Arrow as UTF-8 bytes (the spill file's, or the seed's encoded): pyarrow is
                # very slow on str with characters outside the BMP (see _utf8_array)
                texts: list[Any] = []
                seeded_texts = False
                for doc_id, (_, _, _, _, offset, length) in zip(group, metas, strict=True):
                    if offset < 0:
                        texts.append(self.seeds[doc_id].text)
                        seeded_texts = True
                    else:
                        self.handle.seek(offset)
                        texts.append(self.handle.read(length))
                if seeded_texts:
                    text_array = _utf8_array([t if isinstance(t, str) else t.decode("utf-8") for t in texts],
                                             pa.large_string())
                else:
                    text_array = pa.array(texts, type=pa.large_binary()).cast(pa.large_string())
                arrays = [
                    pa.array(group, type=pa.string()),
                    pa.array([meta[0] for meta in metas], type=pa.date32()),
                    pa.array([meta[2] for meta in metas], type=pa.string()),
                    text_array,
                    pa.array([meta[3] for meta in metas], type=pa.string()),
                ]
                writer.write_table(pa.Table.from_arrays(arrays, schema=DOCUMENTS))
        return len(ids)

    def close(self) -> None:
        self.handle.close()


def _kind(item: Any) -> str:
    """The kind of a result item counted in the summary (see :data:`_KINDS`)."""
    item_type = item.get("type") if isinstance(item, dict) else None
    return _KINDS.get(item_type if type(item_type) is str else str(item_type), "other")


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _region_key(item: Any) -> Any:
    return item.get("id") if isinstance(item, dict) else None


def _drop_rows(path: Path, ranges: list[tuple[int, int]]) -> None:
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


class _ResultConverter:
    """Converts the ``result`` list of one submitted annotation into span and relation rows.

    The per-item paths are written out with local names (no method dispatch or repeated attribute
    lookups per item): this loop runs once per result item, millions of times per import.
    """

    def __init__(self, importer: _Importer, task_id: int | None, annotation_id: int | None,
                 document: Document, task_text: str) -> None:
        self.importer = importer
        self.scheme = importer.scheme
        self.summary = importer.summary
        self.task_id = task_id
        self.annotation_id = annotation_id
        self.document = document
        self.task_text = task_text
        self.same_text = task_text == document.text
        self.regions: dict[str, _Region] = {}
        self.rejected_regions: set[str] = set()

    def reject(self, item: str, raw: Any, reason: str, message: str) -> None:
        self.importer.reject(self.task_id, self.annotation_id, item, _region_key(raw), reason, message, raw)

    def convert(self, result: list[Any], kinds: list[str] | None = None) -> None:
        if kinds is None:
            kinds = [_kind(item) for item in result]
        region_items: list[Any] = []
        attribute_items: list[Any] = []
        relation_items: list[Any] = []
        other_items: list[Any] = []
        by_kind = {"region": region_items, "attribute": attribute_items, "relation": relation_items,
                   "other": other_items}
        for item, kind in zip(result, kinds, strict=True):
            by_kind[kind].append(item)
        summary = self.summary
        if region_items:
            summary.regions.read += len(region_items)
            add_region = self._add_region
            for item in region_items:
                add_region(item)
        if attribute_items:
            summary.attributes.read += len(attribute_items)
            add_attribute = self._add_attribute
            for item in attribute_items:
                add_attribute(item)
        for item in other_items:
            summary.other_items.read += 1
            summary.other_items.rejected += 1
            self.reject("other", item, "unknown_result_type", f"result type {item.get('type')!r}"
                        if isinstance(item, dict) else "result item is not an object")
        self._write_spans()
        if relation_items:
            summary.relations.read += len(relation_items)
            self._add_relations(relation_items)

    def _reject_region(self, item: dict[str, Any], reason: str, message: str) -> None:
        self.summary.regions.rejected += 1
        region_id = item.get("id")
        if region_id is not None:
            self.rejected_regions.add(str(region_id))
        self.reject("region", item, reason, message)

    def _add_region(self, item: dict[str, Any]) -> None:
        get = item.get
        region_id = str(get("id", ""))
        value = get("value")
        if not isinstance(value, dict):
            value = {}
        raw_labels = value.get("labels")
        labels: list[Any] = raw_labels if isinstance(raw_labels, list) else []
        scheme = self.scheme
        if get("from_name") != scheme.labels_name:
            return self._reject_region(item, "unknown_from_name", f"from_name {get('from_name')!r}")
        if get("to_name") != scheme.text_name:
            return self._reject_region(item, "unknown_to_name", f"to_name {get('to_name')!r}")
        if len(labels) > 1:
            return self._reject_region(item, "multiple_labels", f"labels {labels!r}")
        if not labels or labels[0] not in self.importer.span_labels:
            return self._reject_region(item, "unknown_label", f"label {labels!r} is not in the scheme")
        regions = self.regions
        if region_id in regions or region_id in self.rejected_regions or not region_id:
            return self._reject_region(item, "duplicate_region_id", f"region id {region_id!r} repeats")
        start, end, value_text = value.get("start"), value.get("end"), value.get("text")
        text = self.task_text
        if self.same_text and type(start) is int and type(end) is int and 0 <= start < end <= len(text) \
                and type(value_text) is str and text[start:end] == value_text and value_text.strip():
            # the common case, exactly what resolve_span returns for it: the offsets agree, no repair
            regions[region_id] = _Region(region_id, labels[0], start, end, None)
            return None
        try:
            anchor = self._anchor(value)
        except offsets.OffsetError as exc:
            return self._reject_region(item, exc.reason, f"region {region_id}: {exc}")
        regions[region_id] = _Region(region_id, labels[0], anchor.start, anchor.end, anchor.repair)
        return None

    def _anchor(self, value: dict[str, Any]) -> offsets.Anchor:
        anchor = offsets.resolve_span(self.task_text, value.get("start"), value.get("end"), value.get("text"))
        if self.same_text:
            return anchor
        exact = self.task_text[anchor.start : anchor.end]
        prefix, suffix = offsets.quote_selector(self.task_text, anchor.start, anchor.end)
        start, end = offsets.reanchor(self.document.text, exact, prefix, suffix)
        self.summary.reanchored += 1
        return offsets.Anchor(start, end, offsets._join(anchor.repair, offsets.REANCHORED))

    def _add_attribute(self, item: dict[str, Any]) -> None:
        get = item.get
        attribute = self.importer.attribute_for.get(str(get("from_name")))
        region_id = str(get("id", ""))
        region = self.regions.get(region_id)
        reason, message, value = None, "", None
        if attribute is None:
            reason, message = "unknown_from_name", f"from_name {get('from_name')!r}"
        elif region is None:
            reason = "attribute_region_rejected" if region_id in self.rejected_regions else "attribute_orphan"
            message = f"{attribute.from_name} refers to region {region_id!r}"
        elif attribute.label != region.label:
            reason, message = "attribute_wrong_label", f"{attribute.from_name} on a {region.label}"
        else:
            value = _attribute_value(item, attribute.control)
            if not value:
                reason, message = "attribute_empty", f"{attribute.from_name} has no value"
            elif attribute.values and value not in attribute.values:
                reason, message = "unknown_attribute_value", f"{attribute.from_name} = {value!r}"
            elif region.attributes is not None and attribute.name in region.attributes:
                reason, message = "duplicate_attribute", f"{attribute.from_name} given twice"
        if reason is not None or region is None or attribute is None or value is None:
            self.summary.attributes.rejected += 1
            self.reject("attribute", item, reason or "attribute_empty", message)
            return
        if region.attributes is None:
            region.attributes = {attribute.name: value}
        else:
            region.attributes[attribute.name] = value
        self.summary.attributes.written += 1

    def _write_spans(self) -> None:
        regions = self.regions
        if not regions:
            return
        text = self.document.text
        annotation_id = self.annotation_id
        doc_id = self.document.doc_id
        context = QUOTE_CONTEXT
        rows = []
        repairs = self.summary.repairs
        for region in regions.values():
            region_id, start, end, repair, attributes = (region.region_id, region.start, region.end, region.repair,
                                                         region.attributes)
            if attributes is None:
                quote_type = entity = None
            else:
                quote_type, entity = attributes.get("quote_type"), attributes.get("entity")
            rows.append((
                f"{annotation_id}:{region_id}", annotation_id, doc_id, region_id, region.label, start, end,
                text[start:end], quote_type, entity, text[max(0, start - context) : start],
                text[end : end + context], repair,
            ))
            if repair:
                for code in repair.split("+"):
                    repairs[code] += 1
        self.importer.buffers["spans"].extend(rows)
        self.summary.regions.written += len(rows)

    def _add_relations(self, items: list[Any]) -> None:
        seen: set[tuple[str, str, str]] = set()
        check = self._check_relation
        annotation_id = self.annotation_id
        doc_id = self.document.doc_id
        rows = []
        summary = self.summary
        for item in items:
            reason, message, key = check(item, seen)
            if reason is not None or key is None:
                summary.relations.rejected += 1
                self.reject("relation", item, reason or "relation_missing_region", message)
                continue
            seen.add(key)
            head, tail, rel_type = key
            rows.append((
                f"{annotation_id}:{head}>{tail}:{rel_type}", annotation_id, doc_id,
                f"{annotation_id}:{head}", f"{annotation_id}:{tail}", rel_type,
            ))
        self.importer.buffers["relations"].extend(rows)
        summary.relations.written += len(rows)

    def _check_relation(self, item: dict[str, Any], seen: set[tuple[str, str, str]]
                        ) -> tuple[str | None, str, tuple[str, str, str] | None]:
        get = item.get
        from_id, to_id = str(get("from_id", "")), str(get("to_id", ""))
        direction = get("direction", "right")
        labels = get("labels")
        if not isinstance(labels, list):
            labels = []
        if direction == "bi":
            return "relation_bidirectional", f"{from_id}<->{to_id}", None
        head_id, tail_id = (to_id, from_id) if direction == "left" else (from_id, to_id)
        regions = self.regions
        head, tail = regions.get(head_id), regions.get(tail_id)
        if head is None or tail is None:
            end = head_id if head is None else tail_id
            reason = "relation_endpoint_rejected" if end in self.rejected_regions else "relation_missing_region"
            return reason, f"relation endpoint {end!r}", None
        if not labels:
            return "relation_unlabelled", f"{head_id}->{tail_id} has no type", None
        if len(labels) > 1:
            return "multiple_relation_labels", f"{head_id}->{tail_id} types {labels!r}", None
        rel = self.importer.relation_for.get(str(labels[0]))
        if rel is None:
            return "unknown_relation", f"relation type {labels[0]!r}", None
        if head.label != rel.head or tail.label != rel.tail:
            return "relation_wrong_labels", f"{rel.value} joins {head.label} -> {tail.label}", None
        key = (head_id, tail_id, rel.value)
        if key in seen:
            return "duplicate_relation", f"{rel.value} {head_id}->{tail_id} repeats", None
        return None, "", key


def _attribute_value(item: dict[str, Any], control: str) -> str | None:
    value = _mapping(item.get("value"))
    raw = value.get("choices") if control == "choices" else value.get("text")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        return None
    if control == "choices":
        return str(raw[0]) if len(raw) == 1 else None
    joined = " ".join(str(part) for part in raw).strip()
    return joined or None


def import_exports(
    paths: Iterable[Path],
    out_dir: Path,
    *,
    seeds: Sequence[Document] = (),
    scheme: Scheme | None = None,
    on_read: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import Label Studio full-JSON exports into Parquet tables in ``out_dir``.

    ``seeds`` are the canonical documents: a task whose text differs from its seed's has its spans
    re-anchored into the seed text by quote. Tables are staged in a temporary directory and moved into
    ``out_dir`` only when the whole import succeeded, so a failed import leaves earlier outputs as
    they were. ``on_read`` is called with the number of bytes read, for progress bars.
    """
    scheme = scheme or load_scheme()
    paths = list(paths)
    if not paths:
        raise ClaimsetError("no export files given")
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".import-", dir=out_dir))
    # The import allocates millions of small objects and frees them task by task, without cycles;
    # the cyclic collector would only rescan the live ones over and over (about 20% of the time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        importer = _Importer(scheme, seeds, staging)
        for path in paths:
            importer.source = path.name
            importer.summary.sources.append(path.name)
            for task in iter_tasks(path, on_read):
                importer.add_task(task)
        importer.finish(staging)
        pa.default_memory_pool().release_unused()  # hand the row-group buffers back before validation
        for name in ("documents", "annotations", "spans", "relations", "rejects"):
            os.replace(staging / f"{name}.parquet", table_path(out_dir, name))
        return importer.summary
    finally:
        if collecting:
            gc.enable()
        shutil.rmtree(staging, ignore_errors=True)
