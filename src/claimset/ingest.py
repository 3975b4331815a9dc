"""Import: Label Studio full-JSON exports -> the claimset Parquet tables.

The stages: :mod:`claimset.reader` streams the tasks of each export, :mod:`claimset.convert` turns
each annotation's result into rows or rejects, :mod:`claimset.sink` writes them to Parquet in row
groups, and :class:`~claimset.summary.ImportSummary` reconciles the counts. This module keeps the
bookkeeping between them: documents, annotation versions (the latest ``updated_at`` wins) and the
staging folder. Every result item of every annotation ends up either in a table or in ``rejects``
with a stable reason code (:class:`claimset.codes.RejectReason`).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from claimset.codes import RejectReason
from claimset.convert import KINDS, ResultConverter, SchemeIndex, item_kind, region_key
from claimset.dataset import write_dataset
from claimset.errors import ClaimsetError
from claimset.reader import read_tasks
from claimset.scheme import Scheme, default_scheme
from claimset.seeds import Document, sha256_text
from claimset.sink import DocumentStore, RowBuffer, drop_rows
from claimset.summary import ImportSummary, ItemCounts
from claimset.tables import ANNOTATIONS, REJECTS, RELATIONS, SPANS

if TYPE_CHECKING:
    from claimset.validate import ValidationReport

__all__ = ["ImportResult", "ImportSummary", "ItemCounts", "import_dataset", "import_exports"]


@dataclass(slots=True)
class _Occurrence:
    """Where one version of an annotation lies in the staged tables (row ranges), for replacement."""

    updated_at: dt.datetime | None
    cancelled: bool
    rows: dict[str, tuple[int, int]]  # table -> half-open row range
    counts: dict[str, tuple[int, int]]  # item kind -> (written, rejected)
    reasons: Counter[str]


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
        self.documents = DocumentStore(staging / "documents.texts", self.seeds)
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
        self.index = SchemeIndex.of(scheme)

    # -- rejects ----------------------------------------------------------------------------------
    def reject(self, task_id: int | None, annotation_id: int | None, item: str, region_id: Any,
               reason: RejectReason, message: str, raw: Any) -> None:
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
            self._reject_task(task, RejectReason.NOT_A_TASK, "item is not a task object with 'data'")
            return
        task_id = _as_int(task.get("id"))
        data = task["data"]
        text = data.get(self.scheme.text_name)
        if not isinstance(text, str) or not text:
            self._reject_task(task, RejectReason.TASK_WITHOUT_TEXT, f"task {task_id} has no '{self.scheme.text_name}'")
            return
        self.summary.drafts += len(task.get("drafts") or [])
        self.summary.predictions += len(task.get("predictions") or [])
        doc_id = str(data.get("doc_id") or f"ls-task-{task_id}")
        document = self._document(doc_id, text, data, task_id)
        for annotation in task.get("annotations") or []:
            self._add_annotation(annotation, task_id, document, text)

    def _reject_task(self, task: Any, reason: RejectReason, message: str) -> None:
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
                self.reject(task_id, annotation_id, self._kind(item), region_key(item), reason, message, item)

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
            self.reject(task_id, None, "annotation", None, RejectReason.NOT_A_TASK, "annotation is not an object",
                        annotation)
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
        kinds_get = KINDS.get
        kinds = [kinds_get(item_type, "other") if type(item) is dict and type(item_type := item.get("type")) is str
                 else item_kind(item) for item in result]  # item_kind(item), its common case written out
        self._write_annotation(annotation, annotation_id, task_id, document.doc_id, updated_at, result, cancelled,
                               kinds)
        if cancelled:
            for item in result:
                counts = self._counts_for(item)
                counts.read += 1
                counts.rejected += 1
                self.reject(task_id, annotation_id, self._kind(item), region_key(item), RejectReason.CANCELLED,
                            f"annotation {annotation_id} was cancelled", item)
        else:
            def reject(item: str, region_id: Any, reason: RejectReason, message: str, raw: Any) -> None:
                self.reject(task_id, annotation_id, item, region_id, reason, message, raw)

            ResultConverter(self.index, self.summary, reject, self.buffers, annotation_id, document,
                            task_text).convert(result, kinds)
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
        kinds = Counter(item_kinds if item_kinds is not None else [item_kind(item) for item in result])
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
) -> ImportResult:
    """Import Label Studio full-JSON exports into a complete dataset folder ``out_dir``, in one atomic step.

    ``seeds`` are the canonical documents: a task whose text differs from its seed's has its spans
    re-anchored into the seed text by quote. The tables, ``claims.parquet`` and the scheme record are
    written to a staging folder, validated there (unless ``validate`` is false) and swapped in only if
    valid or ``allow_invalid`` (:func:`claimset.dataset.write_dataset`): a failed import leaves ``out_dir``
    as it was. ``on_read`` is called with the number of bytes read, for progress bars.
    """
    scheme = scheme or default_scheme()
    paths = list(paths)
    if not paths:
        raise ClaimsetError("no export files given")

    def fill(staging: Path) -> ImportSummary:
        return _import_tables(paths, staging, seeds, scheme, on_read)

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
) -> ImportSummary:
    """:func:`import_dataset` without validation: the folder is replaced whenever the import succeeds."""
    return import_dataset(paths, out_dir, seeds=seeds, scheme=scheme, validate=False, on_read=on_read).summary


def _import_tables(paths: list[Path], folder: Path, seeds: Sequence[Document], scheme: Scheme,
                   on_read: Callable[[int], None] | None) -> ImportSummary:
    """Write the tables of the exports at ``paths`` into the empty ``folder``."""
    # The import allocates millions of small objects and frees them task by task, without cycles;
    # the cyclic collector would only rescan the live ones over and over (about 20% of the time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        importer = _Importer(scheme, seeds, folder)
        for path in paths:
            importer.source = path.name
            importer.summary.sources.append(path.name)
            for task in read_tasks(path, on_read):
                importer.add_task(task)
        importer.finish(folder)
        (folder / "documents.texts").unlink()
        pa.default_memory_pool().release_unused()  # hand the row-group buffers back before validation
        return importer.summary
    finally:
        if collecting:
            gc.enable()
