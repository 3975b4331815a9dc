"""Import: Label Studio full-JSON exports -> the claimset Parquet tables.

The stages: :mod:`claimset.reader` streams the tasks of each export, :mod:`claimset.convert` turns
each annotation's result into rows or rejects, :mod:`claimset.sink` writes them to Parquet in row
groups, and :class:`~claimset.summary.ImportSummary` reconciles the counts. This module keeps the
bookkeeping between them: documents, annotation versions (the latest ``updated_at`` wins) and the
staging folder. Every result item of every annotation ends up either in a table or in ``rejects``
with a stable reason code (:class:`claimset.codes.RejectReason`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import json
import operator
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

from claimset import typed
from claimset.codes import RejectReason
from claimset.convert import KINDS, ResultConverter, SchemeIndex, item_kind, region_key
from claimset.dataset import write_dataset
from claimset.errors import ClaimsetError
from claimset.reader import (
    FileStamp,
    ReadTask,
    changed_while_imported,
    decode_general,
    decode_task,
    has_lone_surrogate,
    read_export,
    reread_task,
)
from claimset.scheme import Scheme, default_scheme
from claimset.seeds import Document, sha256_text
from claimset.sink import DocumentStore, RowBuffer, drop_rows
from claimset.summary import ImportSummary, ItemCounts, check_written
from claimset.tables import ANNOTATIONS, REJECTS, RELATIONS, SPANS
from claimset.values import as_int, lead_time, parse_date, parse_time, user_id
from claimset.versions import Locator, Occurrence, Occurrences, version_time
from claimset.workers import LOST, Workers, available_cores, workers

if TYPE_CHECKING:
    from claimset.validate import ValidationReport

__all__ = ["ImportResult", "ImportSummary", "ItemCounts", "import_dataset", "import_exports"]


def _show(value: Any) -> str:
    """A short repr of a value for a message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def utf8_safe(text: str) -> str:
    """``text`` as is when it is Unicode; else each lone surrogate written as its ``\\uXXXX`` escape.

    In a JSON text the surrogates can only sit inside strings, where the escape is the JSON escape.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _task_problem(task: dict[str, Any]) -> str | None:
    """Why the task's structure is not a Label Studio task's (see ``RejectReason.MALFORMED_TASK``), or None."""
    task_id = task.get("id")
    if task_id is not None and as_int(task_id) is None:
        return f"task id {_show(task_id)} is not a 64-bit integer"
    for key in ("annotations", "completions", "drafts", "predictions"):
        value = task.get(key)
        if value is not None and not isinstance(value, list):
            return f"task {task_id}: '{key}' is {type(value).__name__}, not a list"
    data = task.get("data")
    published = data.get("published") if isinstance(data, dict) else None
    if published is not None and parse_date(published) is None:
        return f"task {task_id}: 'published' is {_show(published)}, not a YYYY-MM-DD date"
    return None


def _annotation_problem(annotation: Any) -> str | None:
    """Why ``annotation`` cannot be read (see ``RejectReason.MALFORMED_ANNOTATION``), or None."""
    if not isinstance(annotation, dict):
        return f"annotation is {type(annotation).__name__}, not an object"
    annotation_id = annotation.get("id")
    if annotation_id is None:  # every table row of an annotation is keyed by its id
        return "annotation has no id"
    if as_int(annotation_id) is None:
        return f"annotation id {_show(annotation_id)} is not a 64-bit integer"
    result = annotation.get("result")
    if result is not None and not isinstance(result, list):
        return f"annotation {annotation_id}: 'result' is {type(result).__name__}, not a list"
    for key in ("was_cancelled", "ground_truth"):
        flag = annotation.get(key)
        if flag is not None and not isinstance(flag, bool):
            return f"annotation {annotation_id}: '{key}' is {_show(flag)}, not true or false"
    for key in ("created_at", "updated_at"):  # updated_at decides between versions: never guessed
        time = annotation.get(key)
        if time is not None and parse_time(time) is None:
            return (f"annotation {annotation_id}: '{key}' is {_show(time)}, not an ISO 8601 time (one whose UTC "
                    "instant is in the years 1 to 9999)")
    return None


def _digest(annotation: dict[str, Any]) -> int:
    """The annotation's content as a 128-bit number: the start of the SHA-256 of its JSON with sorted keys.

    The same content gives the same number; different contents give different numbers (a CRC-32 was
    used before, and two contents with the same CRC, easy to make, left the choice to file order).
    Only two versions saved at the same time need it, so it is computed then (see ``_Importer._replaces``).
    """
    try:
        content = orjson.dumps(annotation, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson refuses integers beyond 64 bits and lone surrogates
        content = json.dumps(annotation, sort_keys=True).encode("ascii")
    return int.from_bytes(hashlib.sha256(content).digest()[:16])


class _Importer:
    """Turns tasks into staged rows; one instance per import run."""

    def __init__(self, scheme: Scheme, seeds: Sequence[Document], staging: Path) -> None:
        self.scheme = scheme
        self.seeds = {doc.doc_id: doc for doc in seeds}
        self.documents = DocumentStore(staging / "documents.texts", self.seeds)
        self.summary = ImportSummary()
        self.buffers = {
            "annotations": RowBuffer(ANNOTATIONS, staging / "annotations.parquet"),
            "spans": RowBuffer(SPANS, staging / "spans.parquet", utf8_columns=("text",)),
            "relations": RowBuffer(RELATIONS, staging / "relations.parquet"),
            "rejects": RowBuffer(REJECTS, staging / "rejects.parquet"),
        }
        self.seen = Occurrences(staging / "annotations.versions")
        self.drop: dict[str, list[tuple[int, int]]] = {name: [] for name in self.buffers}
        self.source = ""
        self.index = SchemeIndex.of(scheme)
        self.clean = typed.CleanConverter(self.index)
        self.decoder = typed.decoder_for(scheme.text_name)  # None: no fast path for this scheme
        self.paths: list[Path] = []
        self.where = (0, 0, 0)  # the current task: its export's number, its file offset and length
        self.stamps: dict[int, FileStamp] = {}  # each export as it was read (see reader.reread_task)

    # -- rejects ----------------------------------------------------------------------------------
    def reject(self, task_id: int | None, annotation_id: int | None, item: str, region_id: Any,
               reason: RejectReason, message: str, raw: Any) -> None:
        self.summary.rejects_by_reason[reason] += 1
        self.buffers["rejects"].append((
            self.source, task_id, annotation_id, item,
            None if region_id is None else utf8_safe(str(region_id)), reason, utf8_safe(message),
            utf8_safe(json.dumps(raw, ensure_ascii=False, sort_keys=True)),
        ))

    def _reject_items(self, task_id: int | None, annotation_id: int | None, items: list[Any],
                      reason: RejectReason, message: str) -> None:
        """Every result item of ``items`` to rejects, counted by kind."""
        for item in items:
            counts = self._counts_for(item)
            counts.read += 1
            counts.rejected += 1
            self.reject(task_id, annotation_id, self._kind(item), region_key(item), reason, message, item)

    def _reject_whole(self, task_id: int | None, annotation_id: int | None, item: str, reason: RejectReason,
                      message: str, raw: Any) -> None:
        """One reject for a task or annotation (or a field of one) that has no result items to reject."""
        self.summary.other_items.read += 1
        self.summary.other_items.rejected += 1
        self.reject(task_id, annotation_id, item, None, reason, message, raw)

    def _reject_annotation(self, annotation: Any, task_id: int | None, reason: RejectReason, message: str) -> None:
        """The annotation's result items to rejects; the annotation itself (or its result that is not a list)
        when it has none."""
        is_object = isinstance(annotation, dict)
        annotation_id = as_int(annotation.get("id")) if is_object else None
        result = annotation.get("result") if is_object else None
        if isinstance(result, list) and result:
            self._reject_items(task_id, annotation_id, result, reason, message)
        else:
            raw = result if is_object and result is not None and not isinstance(result, list) else annotation
            self._reject_whole(task_id, annotation_id, "annotation", reason, message, raw)

    # -- tasks ------------------------------------------------------------------------------------
    def add_task(self, task: Any, lone_surrogate: bool = False) -> None:
        """Import one task; ``lone_surrogate``: the reader found a lone surrogate somewhere in it."""
        self.summary.tasks += 1
        if isinstance(task, dict) and isinstance(task.get("completions"), list):
            self.summary.legacy_completions += 1
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            self._reject_task(task, RejectReason.NOT_A_TASK, "item is not a task object with 'data'")
            return
        problem = _task_problem(task)
        if problem is not None:
            self._reject_task(task, RejectReason.MALFORMED_TASK, problem)
            return
        task_id = as_int(task.get("id"))
        data = task["data"]
        text = data.get(self.scheme.text_name)
        if not isinstance(text, str) or not text:
            self._reject_task(task, RejectReason.TASK_WITHOUT_TEXT, f"task {task_id} has no '{self.scheme.text_name}'")
            return
        if lone_surrogate and (has_lone_surrogate(text) or has_lone_surrogate(data.get("doc_id"))):
            self._reject_task(task, RejectReason.INVALID_UNICODE, f"task {task_id}: a lone surrogate in its text or "
                              "doc_id")
            return
        recorded = data.get("text_sha256")  # claimset export and push put it there; Label Studio keeps it
        if recorded is not None and recorded != sha256_text(text):
            self._reject_task(task, RejectReason.MALFORMED_TASK, f"task {task_id}: its text does not match the "
                              "text_sha256 it was exported with (edited after export?)")
            return
        self.summary.drafts += len(task.get("drafts") or [])
        self.summary.predictions += len(task.get("predictions") or [])
        doc_id = str(data.get("doc_id") or f"ls-task-{task_id}")
        document = self._document(doc_id, text, data.get("published"), task_id)
        for position, annotation in enumerate(_annotations(task)):
            self._add_annotation(annotation, task_id, document, text, position, lone_surrogate)

    # -- the fast path (claimset.typed) -------------------------------------------------------------
    def add_read_task(self, item: ReadTask, path: Path, rows: _Taken | None = None) -> None:
        """Import one task of the export at ``path``: one the reader decoded, by :meth:`add_task`; one it left
        to the fast path (``item.typed``), from the next task of ``rows`` (see :class:`_Feed`)."""
        source = len(self.paths) - 1
        self.where = (source, item.offset, len(item.raw))
        self.stamps[source] = item.stamp
        if not item.typed:
            self.add_task(item.value, item.lone_surrogate)
            return
        assert rows is not None
        task = next(rows.tasks)
        if task is None:  # not typed, or a task check failed: the general path gives the reasons
            general = decode_task(item.raw, item.offset, item.number, False, path, item.stamp)
            self.add_task(general.value, general.lone_surrogate)
        else:
            self._add_clean_task(item, task, rows, path)

    def _add_clean_task(self, item: ReadTask, task: typed.CleanTask, rows: _Taken, path: Path) -> None:
        """:meth:`add_task` for a task that passed the fast path's task checks; its annotations that are not
        clean, or not clean here (a doc_id met with another text, an id met before), take the general path."""
        summary = self.summary
        summary.tasks += 1
        summary.drafts += task.drafts
        summary.predictions += task.predictions
        document = self._document(task.doc_id, task.text, task.published, task.task_id)
        same_text = document.text == task.text
        general: list[Any] | None = None
        for position, annotation in enumerate(task.annotations):
            if annotation is not None:
                if same_text and self.seen.find(annotation.row[0]) is None:
                    self._add_clean_annotation(annotation, position, task.task_id, rows)
                    continue
                rows.skip(annotation)
            if general is None:
                general = _annotations(decode_general(item, path))
            self._add_annotation(general[position], task.task_id, document, task.text, position)

    def _add_clean_annotation(self, annotation: typed.CleanAnnotation, position: int, task_id: int | None,
                              rows: _Taken) -> None:
        """:meth:`_add_annotation` for an annotation converted by the fast path, met for the first time."""
        buffers = self.buffers
        start = {name: buffer.count for name, buffer in buffers.items()}
        rows.take(annotation, buffers["spans"], buffers["relations"])
        buffers["annotations"].append(annotation.row)
        summary = self.summary
        summary.annotations += 1
        summary.submitted += 1
        regions, attributes, links = annotation.regions, annotation.attributes, annotation.links
        for kind, written in ((summary.regions, regions), (summary.attributes, attributes),
                              (summary.relations, links)):
            kind.read += written
            kind.written += written
        annotation_id = annotation.row[0]
        self.seen.store(annotation_id, None, Occurrence(
            time=annotation.time, digest=None, locator=Locator(*self.where, position), task_id=task_id,
            cancelled=False, rows={name: (begin, buffers[name].count) for name, begin in start.items()},
            counts={"region": (regions, 0), "attribute": (attributes, 0), "relation": (links, 0), "other": (0, 0)},
            reasons=Counter(),
        ))

    def _reject_task(self, task: Any, reason: RejectReason, message: str) -> None:
        """Every result item of the task to rejects; its annotations, or fields, that have none go whole."""
        if not isinstance(task, dict):
            self._reject_whole(None, None, "task", reason, message, task)
            return
        task_id = as_int(task.get("id"))
        rows = self.buffers["rejects"].count
        for key in ("annotations", "completions"):
            value = task.get(key)
            if isinstance(value, list):
                for annotation in value:
                    self._reject_annotation(annotation, task_id, reason, message)
            elif value is not None:
                self._reject_whole(task_id, None, "task", reason, message, value)
        if self.buffers["rejects"].count == rows:
            self._reject_whole(task_id, None, "task", reason, message, task)

    def _document(self, doc_id: str, text: str, published_raw: Any, task_id: int | None) -> Document:
        known = self.documents.get(doc_id)
        if known is not None:
            return known
        seed = self.seeds.get(doc_id)
        document = seed or Document(
            doc_id=doc_id, published=parse_date(published_raw) or dt.date(1970, 1, 1),
            text=text, text_sha256=sha256_text(text), source_file=f"{self.source}#task-{task_id}",
        )
        published = seed.published if seed else parse_date(published_raw)
        self.documents.add(document, published, seeded=seed is not None)
        return document

    # -- annotations ------------------------------------------------------------------------------
    def _add_annotation(self, annotation: Any, task_id: int | None, document: Document, task_text: str,
                        position: int, lone_surrogate: bool = False) -> None:
        problem = _annotation_problem(annotation)
        if problem is not None:
            self._reject_annotation(annotation, task_id, RejectReason.MALFORMED_ANNOTATION, problem)
            return
        annotation_id = as_int(annotation.get("id"))
        result: list[Any] = annotation.get("result") or []
        updated_at = parse_time(annotation.get("updated_at"))
        time = version_time(updated_at)
        digest = None
        slot = None if annotation_id is None else self.seen.find(annotation_id)
        if annotation_id is not None and slot is not None:
            old = self.seen.read(slot)
            if old.task_id != task_id:
                self._reject_annotation(annotation, task_id, RejectReason.DUPLICATE_ANNOTATION_ID,
                                        f"annotation {annotation_id} is also in task {old.task_id}")
                return
            if time == old.time and digest is None:
                digest = _digest(annotation)
            if not self._replaces(annotation_id, old, time, digest, result):
                return
        start_rows = {name: buf.count for name, buf in self.buffers.items()}
        before = self._item_counts()
        reasons_before = Counter(self.summary.rejects_by_reason)
        cancelled = annotation.get("was_cancelled") is True
        kinds_get = KINDS.get
        kinds = [kinds_get(item_type, "other") if type(item) is dict and type(item_type := item.get("type")) is str
                 else item_kind(item) for item in result]  # item_kind(item), its common case written out
        self._write_annotation(annotation, annotation_id, task_id, document.doc_id, updated_at, result, cancelled,
                               kinds)
        if cancelled:
            self._reject_items(task_id, annotation_id, result, RejectReason.CANCELLED,
                               f"annotation {annotation_id} was cancelled")
        else:
            def reject(item: str, region_id: Any, reason: RejectReason, message: str, raw: Any) -> None:
                self.reject(task_id, annotation_id, item, region_id, reason, message, raw)

            ResultConverter(self.index, self.summary, reject, self.buffers, annotation_id, document,
                            task_text).convert(result, kinds, screen_unicode=lone_surrogate)
        if annotation_id is not None:
            after = self._item_counts()
            self.seen.store(annotation_id, slot, Occurrence(
                time=time,
                digest=digest,
                locator=Locator(*self.where, position),
                task_id=task_id,
                cancelled=cancelled,
                rows={name: (start, self.buffers[name].count) for name, start in start_rows.items()},
                counts={kind: (after[kind][0] - before[kind][0], after[kind][1] - before[kind][1])
                        for kind in after},
                reasons=Counter(self.summary.rejects_by_reason) - reasons_before,
            ))

    def _write_annotation(self, annotation: dict[str, Any], annotation_id: int | None, task_id: int | None,
                          doc_id: str, updated_at: dt.datetime | None, result: list[Any],
                          cancelled: bool, item_kinds: list[str] | None = None) -> None:
        self.summary.annotations += 1
        if cancelled:
            self.summary.cancelled += 1
        else:
            self.summary.submitted += 1
        kinds = Counter(item_kinds if item_kinds is not None else [item_kind(item) for item in result])
        self.buffers["annotations"].append((
            annotation_id, task_id, doc_id, user_id(annotation.get("completed_by")),
            "cancelled" if cancelled else "submitted", annotation.get("ground_truth") is True,
            parse_time(annotation.get("created_at")), updated_at, lead_time(annotation.get("lead_time")),
            kinds["region"], kinds["relation"],
        ))

    def _item_counts(self) -> dict[str, tuple[int, int]]:
        return {name: (kind.written, kind.rejected) for name, kind in self._kinds().items()}

    def _kinds(self) -> dict[str, ItemCounts]:
        return {"region": self.summary.regions, "attribute": self.summary.attributes,
                "relation": self.summary.relations, "other": self.summary.other_items}

    def _replaces(self, annotation_id: int, old: Occurrence, time: int, digest: int | None,
                  result: list[Any]) -> bool:
        """Decide between two versions of one annotation: the latest ``updated_at`` wins (see
        :func:`claimset.versions.version_time`).

        Two versions with the same ``updated_at`` are ordered by their content digest (``digest``, given
        then), not by file order; the same content twice is a duplicate. The losing version's rows are
        dropped (or never written) and its items counted as superseded.
        """
        if time != old.time:
            newer = time > old.time
        else:
            assert digest is not None
            newer = digest > self._digest_of(annotation_id, old)
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

    def _digest_of(self, annotation_id: int, old: Occurrence) -> int:
        """The content digest of the kept version ``old``: read again from its export if not computed yet."""
        if old.digest is not None:
            return old.digest
        source, offset, length, position = old.locator
        path = self.paths[source]
        task = reread_task(path, offset, length, self.stamps[source])
        found = _annotations(task)[position:position + 1] if isinstance(task, dict) else []
        annotation = found[0] if found and isinstance(found[0], dict) else {}
        if as_int(annotation.get("id")) != annotation_id or \
                version_time(parse_time(annotation.get("updated_at"))) != old.time:
            raise changed_while_imported(path, offset)
        return _digest(annotation)

    def _counts_for(self, item: Any) -> ItemCounts:
        return self._kinds()[self._kind(item)]

    @staticmethod
    def _kind(item: Any) -> str:
        return item_kind(item)

    # -- output -----------------------------------------------------------------------------------
    def finish(self, staging: Path) -> None:
        for buffer in self.buffers.values():
            buffer.close()
        for name, ranges in self.drop.items():
            if ranges:
                drop_rows(self.buffers[name].path, ranges)
        self.summary.documents = self.documents.write(staging / "documents.parquet")
        self.documents.close()
        self.seen.close()


def _annotations(task: dict[str, Any]) -> list[Any]:
    """The task's annotations: ``annotations``, then the pre-1.0 ``completions`` (both lists, or null)."""
    return [*(task.get("annotations") or []), *(task.get("completions") or [])]


CHUNK_BYTES = 1 << 20  # the tasks' bytes in one list for the fast path (see _Feed)
PARALLEL_BYTES = 64 << 20  # exports of this size on: a worker process converts too, when jobs is not given
PENDING_LISTS = 6  # lists read and not yet added at most: memory stays flat when the workers fall behind


class _Taken:
    """A :class:`~claimset.typed.Converted` being added: its tasks still to come, and the rows taken so far."""

    def __init__(self, converted: typed.Converted) -> None:
        self.tasks = iter(converted.tasks)
        self.spans, self.relations = converted.spans, converted.relations
        self.span_row = self.relation_row = 0

    def take(self, annotation: typed.CleanAnnotation, spans: RowBuffer, relations: RowBuffer) -> None:
        """Append the annotation's rows, the next ones of the batches."""
        spans.append_slice(self.spans, self.span_row, self.span_row + annotation.regions)
        relations.append_slice(self.relations, self.relation_row, self.relation_row + annotation.links)
        self.skip(annotation)

    def skip(self, annotation: typed.CleanAnnotation) -> None:
        """Pass over the annotation's rows (the general path takes it)."""
        self.span_row += annotation.regions
        self.relation_row += annotation.links


class _Feed:
    """The tasks of one export on their way to the importer, in lists of about :data:`CHUNK_BYTES`.

    The reader leaves each task with valid UTF-8 (but the first) to the fast path undecoded
    (:meth:`defer`); a full list is converted by :func:`claimset.typed.convert_tasks`, by a worker
    process with room for it, else here, and the lists are added in the export's order.
    """

    def __init__(self, importer: _Importer, pool: Workers, path: Path) -> None:
        self.importer, self.pool, self.path = importer, pool, path
        self.items: list[ReadTask] = []
        self.size = 0
        self.pending: deque[tuple[list[ReadTask], int | None, typed.Converted | None]] = deque()
        self.first = True

    def defer(self, raw: memoryview) -> Any:
        """The reader's typed decoder: :data:`claimset.typed.DEFERRED`, or None for the general decoder.

        The first task stays with the general decoder, which refuses a JSON-MIN export's there.
        """
        if self.first:
            self.first = False
            return None
        return typed.DEFERRED if typed.is_utf8(raw) else None

    def add(self, item: ReadTask) -> None:
        self.items.append(item)
        self.size += len(item.raw)
        if self.size >= CHUNK_BYTES:
            self._send()

    def _send(self, here: bool = False) -> None:
        items, self.items, self.size = self.items, [], 0
        raws = _deferred(items)
        ticket = self.pool.submit(raws) if raws and not here else None
        converted = self._convert_here(items) if ticket is None and raws else None
        self.pending.append((items, ticket, converted))
        self._add_ready(wait=False)
        while len(self.pending) > PENDING_LISTS:  # the worker is behind: wait for it rather than hold more
            self._add_ready(wait=True, one=True)

    def _add_ready(self, wait: bool, one: bool = False) -> None:
        """Add the lists that are back, in order; all of them if ``wait`` (only the first if ``one``)."""
        while self.pending:
            items, ticket, converted = self.pending[0]
            if ticket is not None:
                answer = self.pool.result(ticket, wait)
                if answer is None:
                    return
                converted = self._convert_here(items) if answer == LOST else answer
            self.pending.popleft()
            rows = None if converted is None else _Taken(converted)
            for item in items:
                self.importer.add_read_task(item, self.path, rows)
            if one:
                return

    def _convert_here(self, items: list[ReadTask]) -> typed.Converted:
        """The deferred tasks of ``items`` converted in this process."""
        decoder = self.importer.decoder
        assert decoder is not None  # the reader defers tasks only when there is one
        return typed.convert_tasks(decoder, self.importer.clean, _deferred(items))

    def finish(self) -> None:
        """Convert and add what is left (the last list here, unless a worker already runs: one list does not
        pay for starting one)."""
        if self.items:
            self._send(here=not self.pool.workers)
        self._add_ready(wait=True)


def _deferred(items: list[ReadTask]) -> list[memoryview]:
    """The bytes of the tasks of ``items`` the reader left to the fast path."""
    return [item.raw for item in items if item.typed]


@dataclass
class ImportResult:
    """An import into a dataset folder: its summary, its validation report (None if not validated), and
    whether the folder was replaced (it is not when validation failed without ``allow_invalid``)."""

    summary: ImportSummary
    report: ValidationReport | None
    replaced: bool
    claims: int


def import_dataset(
    paths: Iterable[Path],
    out_dir: Path,
    *,
    seeds: Sequence[Document] = (),
    scheme: Scheme | None = None,
    validate: bool = True,
    allow_invalid: bool = False,
    croissant: bool = False,
    on_read: Callable[[int], None] | None = None,
    jobs: int | None = None,
) -> ImportResult:
    """Import Label Studio full-JSON exports into a complete dataset folder ``out_dir``, in one atomic step.

    ``seeds`` are the canonical documents: a task whose text differs from its seed's has its spans
    re-anchored into the seed text by quote. The tables, ``claims.parquet`` and the scheme record are
    written to a staging folder, validated there (unless ``validate`` is false) and swapped in only if
    valid or ``allow_invalid`` (:func:`claimset.dataset.write_dataset`): a failed import leaves ``out_dir``
    as it was. ``on_read`` is called with the number of bytes read, for progress bars. ``jobs``: the
    processes that convert tasks (:mod:`claimset.workers`), this one included, at most one per core; by
    default 2 for exports of :data:`PARALLEL_BYTES` or more on a machine with 2 cores or more, else 1. The
    tables do not depend on it.
    """
    scheme = scheme or default_scheme()
    paths = list(paths)
    if not paths:
        raise ClaimsetError("no export files given")
    processes = min(default_jobs(paths) if jobs is None else _whole_jobs(jobs), available_cores())

    def fill(staging: Path) -> ImportSummary:
        return _import_tables(paths, staging, seeds, scheme, on_read, processes)

    written = write_dataset(out_dir, fill, scheme=scheme, seeds=seeds, validate=validate,
                            allow_invalid=allow_invalid, croissant=croissant)
    return ImportResult(written.made, written.report, written.replaced, written.claims)
def import_exports(
    paths: Iterable[Path],
    out_dir: Path,
    *,
    seeds: Sequence[Document] = (),
    scheme: Scheme | None = None,
    on_read: Callable[[int], None] | None = None,
    jobs: int | None = None,
) -> ImportSummary:
    """:func:`import_dataset` without validation: the folder is replaced whenever the import succeeds."""
    return import_dataset(paths, out_dir, seeds=seeds, scheme=scheme, validate=False, on_read=on_read,
                          jobs=jobs).summary


def _whole_jobs(jobs: Any) -> int:
    """``jobs`` as an int if it is a whole number (any integer type but bool) of 1 or more; else a ClaimsetError."""
    try:
        number = None if isinstance(jobs, bool) else operator.index(jobs)
    except TypeError:
        number = None
    if number is None or number < 1:
        raise ClaimsetError(f"jobs must be a whole number, 1 or more, not {jobs!r}")
    return number


def default_jobs(paths: list[Path]) -> int:
    """2 when the exports hold :data:`PARALLEL_BYTES` or more and there are 2 cores or more; else 1."""
    if available_cores() < 2:
        return 1
    size = 0
    for path in paths:
        with contextlib.suppress(OSError):  # the reader names the problem
            size += path.stat().st_size
    return 2 if size >= PARALLEL_BYTES else 1


def _import_tables(paths: list[Path], folder: Path, seeds: Sequence[Document], scheme: Scheme,
                   on_read: Callable[[int], None] | None, jobs: int) -> ImportSummary:
    """Write the tables of the exports at ``paths`` into the empty ``folder``."""
    # The import allocates millions of small objects and frees them task by task, without cycles;
    # the cyclic collector would only rescan the live ones over and over (about 20% of the time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        importer = _Importer(scheme, seeds, folder)
        with workers(scheme, jobs - 1) as pool:
            for path in paths:
                importer.source = utf8_safe(path.name)
                importer.summary.sources.append(importer.source)
                importer.paths.append(path)
                feed = _Feed(importer, pool, path)
                try:
                    for item in read_export(path, on_read, None if importer.decoder is None else feed.defer):
                        feed.add(item)
                except ClaimsetError:
                    feed.finish()  # the tasks before it first: an error in one of them is met first, as ever
                    raise
                feed.finish()
        importer.finish(folder)
        for spill in ("documents.texts", "annotations.versions"):
            (folder / spill).unlink()
        check_written(importer.summary)  # before the swap: nothing written from regions read is an error
        pa.default_memory_pool().release_unused()  # hand the row-group buffers back before validation
        return importer.summary
    finally:
        if collecting:
            gc.enable()
