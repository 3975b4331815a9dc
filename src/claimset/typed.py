"""The import's fast path: tasks decoded into typed structs, and clean annotations converted straight to columns.

Most of an export is clean: every result item of an annotation has the types and values the scheme
expects, every region's offsets agree with its text, every attribute and relation lands on a region
of the right label. :func:`decoder_for` decodes a task with msgspec into the structs below, keeping
only the fields the import reads; a task whose JSON does not fit them (a missing field, another type,
an unknown result type, a lone surrogate, ...) is not decoded here at all, and :class:`CleanConverter`
converts only an annotation on which every check passes. Everything else takes the general path
(:mod:`claimset.convert`), which gives each problem its reason; for a clean annotation the two paths
give the same rows and counts, item for item (``tests/test_typed.py`` compares them).

Offsets, as everywhere: code points, half-open; ``spans.text`` is ``text[start:end]``.
"""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple

import msgspec
import numpy as np
import pyarrow as pa

from claimset.convert import SchemeIndex
from claimset.offsets import QUOTE_CONTEXT
from claimset.seeds import sha256_text
from claimset.sink import UTF8_COLUMNS, arrow_batch
from claimset.tables import RELATIONS, SPANS, relation_id, span_id
from claimset.values import INT64, lead_time, parse_date, parse_time, user_id
from claimset.versions import version_time

DEFERRED = object()  # a task the reader left undecoded for convert_tasks (see claimset.ingest._Feed)


class RegionValue(msgspec.Struct):
    start: int
    end: int
    text: str
    labels: list[str]


class Region(msgspec.Struct, tag_field="type", tag="labels"):
    id: str | int
    from_name: str
    to_name: str
    value: RegionValue


class ChoicesValue(msgspec.Struct):
    choices: list[str]


class Choices(msgspec.Struct, tag_field="type", tag="choices"):
    id: str | int
    from_name: str
    value: ChoicesValue


class TextValue(msgspec.Struct):
    text: str | list[str]


class TextArea(msgspec.Struct, tag_field="type", tag="textarea"):
    id: str | int
    from_name: str
    value: TextValue


class Relation(msgspec.Struct, tag_field="type", tag="relation"):
    from_id: str | int
    to_id: str | int
    labels: list[str] | None = None
    direction: str | None = None


Item = Region | Choices | TextArea | Relation


class Annotation(msgspec.Struct):
    id: int
    result: list[Item] | None = None
    completed_by: Any = None
    was_cancelled: bool | None = None
    ground_truth: bool | None = None
    created_at: str | None = None
    updated_at: str | None = None
    lead_time: Any = None


@cache
def decoder_for(text_name: str) -> msgspec.json.Decoder[Any] | None:
    """The decoder of tasks whose text is ``data[text_name]``; None when that name is one of the other fields.

    A task decodes to a struct with ``data`` (``text``, ``doc_id``, ``published``, ``text_sha256``), ``id``,
    ``annotations`` (:class:`Annotation`), and ``completions``, ``drafts`` and ``predictions`` left raw.
    """
    if text_name in ("doc_id", "published", "text_sha256"):
        return None
    data = msgspec.defstruct("Data", [
        ("text", str, msgspec.field(name=text_name)),
        ("doc_id", str | None, None),
        ("published", str | None, None),
        ("text_sha256", str | None, None),
    ])
    task = msgspec.defstruct("Task", [
        ("data", data),
        ("id", int | None, None),
        ("annotations", list[Annotation] | None, None),
        ("completions", msgspec.Raw | None, None),
        ("drafts", list[msgspec.Raw] | None, None),
        ("predictions", list[msgspec.Raw] | None, None),
    ])
    return msgspec.json.Decoder(task)


def decode(decoder: msgspec.json.Decoder[Any], raw: memoryview) -> Any:
    """The task in ``raw`` as typed structs, or None when it does not fit them.

    Only valid UTF-8: msgspec skips the fields it does not keep without checking their UTF-8, which
    the general path refuses (or, for encoded surrogates, reads as lone surrogates and rejects).
    """
    if not is_utf8(raw):
        return None
    try:
        return decoder.decode(raw)
    except (msgspec.MsgspecError, ValueError, RecursionError):
        return None


def is_utf8(raw: memoryview) -> bool:
    """Whether ``raw`` is valid UTF-8 (Arrow's check, without building a Python string)."""
    offsets = pa.py_buffer(np.array([0, len(raw)], dtype=np.int64))
    try:
        pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(raw)]).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _key(raw: str | int) -> str:
    return raw if type(raw) is str else str(raw)


class CleanConverter:
    """Converts a clean annotation's result to span and relation columns, or says it is not clean.

    :meth:`convert` returns False, having written nothing, as soon as one item would be rejected,
    repaired or re-anchored by :class:`claimset.convert.ResultConverter`; the caller then gives the
    annotation to it. Otherwise the rows are exactly the ones it would write.
    """

    def __init__(self, index: SchemeIndex) -> None:
        scheme = index.scheme
        self.labels_name = scheme.labels_name
        self.text_name = scheme.text_name
        self.span_labels = index.span_labels
        self.attribute_for = index.attribute_for
        self.relation_for = index.relation_for

    def convert(self, items: list[Item], text: str, annotation_id: int, doc_id: str,
                spans: list[list[Any]], relations: list[list[Any]]) -> tuple[int, int, int] | None:
        """Append the annotation's span and relation rows; return how many regions, attributes and relations
        it held (all written), or None, having appended nothing, when one of them is not clean."""
        regions = self._regions(items, text)
        if regions is None:
            return None
        attributes = self._attributes(items, regions)
        if attributes is None:
            return None
        links = self._relations(items, regions)
        if links is None:
            return None
        self._write_spans(regions, text, annotation_id, doc_id, spans)
        self._write_relations(links, annotation_id, doc_id, relations)
        return len(regions), attributes, len(links)

    def _regions(self, items: list[Item], text: str) -> dict[str, list[Any]] | None:
        """Region id -> [label, start, end, attributes or None], in the order of the items."""
        labels_name, text_name, span_labels = self.labels_name, self.text_name, self.span_labels
        regions: dict[str, list[Any]] = {}
        size = len(text)
        for item in items:
            if type(item) is not Region:
                continue
            value = item.value
            labels = value.labels
            raw_id = item.id
            if item.from_name != labels_name or item.to_name != text_name or len(labels) != 1 \
                    or labels[0] not in span_labels:
                return None
            if type(raw_id) is str:
                if not raw_id or ">" in raw_id:
                    return None
                region_id = raw_id
            else:
                region_id = str(raw_id)
            start, end, quoted = value.start, value.end, value.text
            if region_id in regions or not 0 <= start < end <= size or text[start:end] != quoted \
                    or not quoted.strip():
                return None
            regions[region_id] = [labels[0], start, end, None]
        return regions

    def _attributes(self, items: list[Item], regions: dict[str, list[Any]]) -> int | None:
        """Put each attribute on its region; return how many there were."""
        attribute_for = self.attribute_for
        count = 0
        for item in items:
            kind = type(item)
            if kind is Choices:
                control, raw = "choices", item.value.choices  # type: ignore[union-attr]
            elif kind is TextArea:
                control, raw = "textarea", item.value.text  # type: ignore[union-attr]
            else:
                continue
            attribute = attribute_for.get(item.from_name)  # type: ignore[union-attr]
            region = regions.get(_key(item.id))  # type: ignore[union-attr]
            if attribute is None or region is None or attribute.control != control or attribute.label != region[0]:
                return None
            if control == "choices":
                if len(raw) != 1:
                    return None
                value = raw[0]
            else:
                value = (raw if type(raw) is str else " ".join(raw)).strip()
            if not value or (attribute.values and value not in attribute.values):
                return None
            given = region[3]
            if given is None:
                region[3] = {attribute.name: value}
            elif attribute.name in given:
                return None
            else:
                given[attribute.name] = value
            count += 1
        return count

    def _relations(self, items: list[Item], regions: dict[str, list[Any]]) -> list[tuple[str, str, str]] | None:
        """(head region id, tail region id, type) of each relation, in the order of the items."""
        relation_for = self.relation_for
        links: list[tuple[str, str, str]] = []
        seen: set[tuple[str, str, str]] = set()
        for item in items:
            if type(item) is not Relation:
                continue
            direction, labels = item.direction, item.labels
            head_id, tail_id = _key(item.from_id), _key(item.to_id)
            if direction == "left":
                head_id, tail_id = tail_id, head_id
            elif direction is not None and direction != "right":
                return None
            head, tail = regions.get(head_id), regions.get(tail_id)
            if head is None or tail is None or labels is None or len(labels) != 1:
                return None
            relation = relation_for.get(labels[0])
            if relation is None or head[0] != relation.head or tail[0] != relation.tail:
                return None
            key = (head_id, tail_id, relation.value)
            if key in seen:
                return None
            seen.add(key)
            links.append(key)
        return links

    @staticmethod
    def _write_spans(regions: dict[str, list[Any]], text: str, annotation_id: int, doc_id: str,
                     spans: list[list[Any]]) -> None:
        """Append to the columns of the spans table (claimset.tables.SPANS, in its order)."""
        (span_ids, annotation_ids, doc_ids, region_ids, labels, starts, ends, texts, quote_types, entities,
         prefixes, suffixes, repairs) = spans
        prefix = span_id(annotation_id, "")
        context = QUOTE_CONTEXT
        for region_id, (label, start, end, attributes) in regions.items():
            span_ids.append(prefix + region_id)
            region_ids.append(region_id)
            labels.append(label)
            starts.append(start)
            ends.append(end)
            texts.append(text[start:end])
            if attributes is None:
                quote_types.append(None)
                entities.append(None)
            else:
                quote_types.append(attributes.get("quote_type"))
                entities.append(attributes.get("entity"))
            prefixes.append(text[max(0, start - context) : start])
            suffixes.append(text[end : end + context])
        count = len(regions)
        annotation_ids.extend([annotation_id] * count)
        doc_ids.extend([doc_id] * count)
        repairs.extend([None] * count)

    @staticmethod
    def _write_relations(links: list[tuple[str, str, str]], annotation_id: int, doc_id: str,
                         relations: list[list[Any]]) -> None:
        """Append to the columns of the relations table (claimset.tables.RELATIONS, in its order)."""
        relation_ids, annotation_ids, doc_ids, heads, tails, types = relations
        prefix = span_id(annotation_id, "")
        for head_id, tail_id, relation_type in links:
            relation_ids.append(relation_id(annotation_id, head_id, tail_id, relation_type))
            heads.append(prefix + head_id)
            tails.append(prefix + tail_id)
            types.append(relation_type)
        count = len(links)
        annotation_ids.extend([annotation_id] * count)
        doc_ids.extend([doc_id] * count)


class CleanAnnotation(NamedTuple):
    """A clean annotation as :func:`convert_tasks` converted it; its rows follow the previous one's in the batches."""

    row: tuple[Any, ...]  # its row of the annotations table (claimset.tables.ANNOTATIONS)
    time: int  # version_time of its updated_at
    regions: int  # spans rows (every region was written)
    attributes: int
    links: int  # relations rows


class CleanTask(NamedTuple):
    """A task that passed the task checks of the fast path, with its annotations by position."""

    doc_id: str
    text: str
    published: str | None
    task_id: int | None
    drafts: int
    predictions: int
    annotations: list[CleanAnnotation | None]  # None: not clean, for the general path


class Converted(NamedTuple):
    """What :func:`convert_tasks` made of a list of tasks: per task, a :class:`CleanTask` or None (it does not
    decode, or fails a task check: the general path takes it), and the rows of the clean annotations, in order."""

    tasks: list[CleanTask | None]
    spans: pa.RecordBatch
    relations: pa.RecordBatch


def convert_tasks(decoder: msgspec.json.Decoder[Any], converter: CleanConverter,
                  raws: list[bytes] | list[memoryview]) -> Converted:
    """Decode and convert the tasks in ``raws`` (each one task's JSON), on their own.

    What depends on the tasks before them is left to the importer: whether a doc_id came with another
    text, and whether an annotation id was met before (a later version). No state is kept between
    calls, so lists of tasks can be converted in any order, or in other processes
    (:mod:`claimset.workers`).
    """
    spans: list[list[Any]] = [[] for _ in SPANS]
    relations: list[list[Any]] = [[] for _ in RELATIONS]
    tasks = [_clean_task(decode(decoder, memoryview(raw)), converter, spans, relations) for raw in raws]
    return Converted(tasks, arrow_batch(spans, SPANS, UTF8_COLUMNS["spans"]), arrow_batch(relations, RELATIONS))


def _clean_task(task: Any, converter: CleanConverter, spans: list[list[Any]],
                relations: list[list[Any]]) -> CleanTask | None:
    """The typed ``task`` converted, or None if it is None or fails a check the general path would report."""
    if task is None:
        return None
    data = task.data
    text, task_id, published = data.text, task.id, data.published
    if (task.completions is not None or not text or (task_id is not None and task_id not in INT64)
            or (published is not None and parse_date(published) is None)
            or (data.text_sha256 is not None and data.text_sha256 != sha256_text(text))):
        return None
    doc_id = data.doc_id or f"ls-task-{task_id}"
    return CleanTask(doc_id, text, published, task_id, len(task.drafts or ()), len(task.predictions or ()),
                     [_clean_annotation(annotation, converter, text, task_id, doc_id, spans, relations)
                      for annotation in task.annotations or ()])


def _clean_annotation(annotation: Annotation, converter: CleanConverter, text: str, task_id: int | None,
                      doc_id: str, spans: list[list[Any]], relations: list[list[Any]]) -> CleanAnnotation | None:
    """The annotation's rows appended, or None, having appended nothing: cancelled, an id or a time that the
    general path rejects, or a result item that is not clean."""
    annotation_id = annotation.id
    if annotation_id not in INT64 or annotation.was_cancelled:
        return None
    created_at, updated_at = parse_time(annotation.created_at), parse_time(annotation.updated_at)
    if (created_at is None and annotation.created_at is not None) or \
            (updated_at is None and annotation.updated_at is not None):
        return None
    counts = converter.convert(annotation.result or [], text, annotation_id, doc_id, spans, relations)
    if counts is None:
        return None
    regions, attributes, links = counts
    row = (annotation_id, task_id, doc_id, user_id(annotation.completed_by), "submitted",
           annotation.ground_truth is True, created_at, updated_at, lead_time(annotation.lead_time), regions, links)
    return CleanAnnotation(row, version_time(updated_at), regions, attributes, links)
