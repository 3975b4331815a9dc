"""Converting one annotation's ``result`` list into span and relation rows, or rejects with a reason.

Offsets: each span's ``start``/``end`` are code-point indices into the document's canonical text,
half-open, and ``spans.text`` is always re-sliced from that text (Label Studio's ``value.text`` is
only used to check and repair offsets, see :mod:`claimset.offsets`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from claimset import offsets
from claimset.codes import RejectReason, Repair, join_repairs
from claimset.reader import has_lone_surrogate
from claimset.scheme import Attribute, RelationType, Scheme
from claimset.seeds import Document
from claimset.sink import RowBuffer
from claimset.summary import ImportSummary
from claimset.tables import relation_id, span_id

# Result item type -> kind of item counted in the summary.
KINDS = {"labels": "region", "choices": "attribute", "textarea": "attribute", "relation": "relation"}
# Relation directions read as head -> tail (right) or tail -> head (left); missing or null is Label Studio's
# default, right. "bi" is rejected on its own (relation_bidirectional), anything else is unknown.
DIRECTIONS = (None, "right", "left")


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


def item_kind(item: Any) -> str:
    """The kind of a result item counted in the summary (see :data:`KINDS`)."""
    item_type = item.get("type") if isinstance(item, dict) else None
    return KINDS.get(item_type if type(item_type) is str else str(item_type), "other")


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def region_key(item: Any) -> Any:
    return item.get("id") if isinstance(item, dict) else None


# Called with (item kind, region id, reason, message, raw item) for each rejected item.
RejectSink = Callable[[str, Any, RejectReason, str, Any], None]


@dataclass(frozen=True)
class SchemeIndex:
    """The scheme's lookups done once per item, as sets and dicts (the first definition wins, as in Scheme)."""

    scheme: Scheme
    span_labels: frozenset[str]
    attribute_for: dict[str, Attribute]
    relation_for: dict[str, RelationType]

    @classmethod
    def of(cls, scheme: Scheme) -> SchemeIndex:
        attribute_for: dict[str, Attribute] = {}
        for attribute in scheme.attributes:
            attribute_for.setdefault(attribute.from_name, attribute)
        relation_for: dict[str, RelationType] = {}
        for rel in scheme.relations:
            relation_for.setdefault(rel.value, rel)
        return cls(scheme, frozenset(scheme.span_labels), attribute_for, relation_for)


class ResultConverter:
    """Converts the ``result`` list of one submitted annotation into span and relation rows.

    Rows go to the ``spans`` and ``relations`` buffers, rejects to ``reject`` and counts to ``summary``.
    The per-item paths are written out with local names (no method dispatch or repeated attribute
    lookups per item): this loop runs once per result item, millions of times per import.
    """

    def __init__(self, index: SchemeIndex, summary: ImportSummary, reject: RejectSink,
                 buffers: dict[str, RowBuffer], annotation_id: int | None, document: Document,
                 task_text: str) -> None:
        self.index = index
        self.scheme = index.scheme
        self.summary = summary
        self.reject_item = reject
        self.spans = buffers["spans"]
        self.relations = buffers["relations"]
        self.annotation_id = annotation_id
        self.document = document
        self.task_text = task_text
        self.same_text = task_text == document.text
        self.regions: dict[str, _Region] = {}
        self.rejected_regions: set[str] = set()

    def reject(self, item: str, raw: Any, reason: RejectReason, message: str) -> None:
        self.reject_item(item, region_key(raw), reason, message, raw)

    def convert(self, result: list[Any], kinds: list[str] | None = None, *, screen_unicode: bool = False) -> None:
        """Convert ``result``; ``screen_unicode``: first reject the items that hold a lone surrogate."""
        if kinds is None:
            kinds = [item_kind(item) for item in result]
        if screen_unicode:
            result, kinds = self._screen_unicode(result, kinds)
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
            self.reject("other", item, RejectReason.UNKNOWN_RESULT_TYPE, f"result type {item.get('type')!r}"
                        if isinstance(item, dict) else "result item is not an object")
        self._write_spans()
        if relation_items:
            summary.relations.read += len(relation_items)
            self._add_relations(relation_items)

    def _screen_unicode(self, result: list[Any], kinds: list[str]) -> tuple[list[Any], list[str]]:
        """Reject the items holding a lone surrogate (``invalid_unicode``); return the others with their kinds."""
        counts = {"region": self.summary.regions, "attribute": self.summary.attributes,
                  "relation": self.summary.relations, "other": self.summary.other_items}
        kept: list[Any] = []
        kept_kinds: list[str] = []
        for item, kind in zip(result, kinds, strict=True):
            if not has_lone_surrogate(item):
                kept.append(item)
                kept_kinds.append(kind)
                continue
            counts[kind].read += 1
            counts[kind].rejected += 1
            if kind == "region" and region_key(item) is not None:
                self.rejected_regions.add(str(region_key(item)))
            self.reject(kind, item, RejectReason.INVALID_UNICODE, "the result item holds a lone surrogate")
        return kept, kept_kinds

    def _reject_region(self, item: dict[str, Any], reason: RejectReason, message: str) -> None:
        self.summary.regions.rejected += 1
        region_id = item.get("id")
        if region_id is not None:
            self.rejected_regions.add(str(region_id))
        self.reject("region", item, reason, message)

    def _add_region(self, item: dict[str, Any]) -> None:
        get = item.get
        raw_id = get("id")
        region_id = str(raw_id)
        value = get("value")
        if not isinstance(value, dict):
            value = {}
        raw_labels = value.get("labels")
        labels: list[Any] = raw_labels if isinstance(raw_labels, list) else []
        scheme = self.scheme
        if get("from_name") != scheme.labels_name:
            return self._reject_region(item, RejectReason.UNKNOWN_FROM_NAME, f"from_name {get('from_name')!r}")
        if get("to_name") != scheme.text_name:
            return self._reject_region(item, RejectReason.UNKNOWN_TO_NAME, f"to_name {get('to_name')!r}")
        if len(labels) > 1:
            return self._reject_region(item, RejectReason.MULTIPLE_LABELS, f"labels {labels!r}")
        if not labels or type(labels[0]) is not str or labels[0] not in self.index.span_labels:
            return self._reject_region(item, RejectReason.UNKNOWN_LABEL, f"label {raw_labels!r} is not in the scheme")
        regions = self.regions
        if not is_region_id(raw_id):
            return self._reject_region(item, RejectReason.INVALID_REGION_ID, f"region id {raw_id!r:.60}")
        if region_id in regions or region_id in self.rejected_regions:
            return self._reject_region(item, RejectReason.DUPLICATE_REGION_ID, f"region id {region_id!r} repeats")
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
        return offsets.Anchor(start, end, join_repairs(anchor.repair, Repair.REANCHORED))

    def _add_attribute(self, item: dict[str, Any]) -> None:
        get = item.get
        attribute = self.index.attribute_for.get(str(get("from_name")))
        region_id = str(get("id", ""))
        region = self.regions.get(region_id)
        reason, message, value = None, "", None
        if attribute is None:
            reason, message = RejectReason.UNKNOWN_FROM_NAME, f"from_name {get('from_name')!r}"
        elif region is None:
            reason = (RejectReason.ATTRIBUTE_REGION_REJECTED if region_id in self.rejected_regions
                      else RejectReason.ATTRIBUTE_ORPHAN)
            message = f"{attribute.from_name} refers to region {region_id!r}"
        elif attribute.label != region.label:
            reason, message = RejectReason.ATTRIBUTE_WRONG_LABEL, f"{attribute.from_name} on a {region.label}"
        elif attribute.control == "textarea" and not _is_text(_mapping(get("value")).get("text")):
            reason = RejectReason.ATTRIBUTE_NOT_TEXT
            message = f"{attribute.from_name} text {_mapping(get('value')).get('text')!r:.60}"
        else:
            value = attribute_value(item, attribute.control)
            if not value:
                reason, message = RejectReason.ATTRIBUTE_EMPTY, f"{attribute.from_name} has no value"
            elif attribute.values and value not in attribute.values:
                reason, message = RejectReason.UNKNOWN_ATTRIBUTE_VALUE, f"{attribute.from_name} = {value!r}"
            elif region.attributes is not None and attribute.name in region.attributes:
                reason, message = RejectReason.DUPLICATE_ATTRIBUTE, f"{attribute.from_name} given twice"
        if reason is not None or region is None or attribute is None or value is None:
            self.summary.attributes.rejected += 1
            self.reject("attribute", item, reason or RejectReason.ATTRIBUTE_EMPTY, message)
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
        context = offsets.QUOTE_CONTEXT
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
                span_id(annotation_id, region_id), annotation_id, doc_id, region_id, region.label, start, end,
                text[start:end], quote_type, entity, text[max(0, start - context) : start],
                text[end : end + context], repair,
            ))
            if repair:
                for code in repair.split("+"):
                    repairs[code] += 1
        self.spans.extend(rows)
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
                self.reject("relation", item, reason or RejectReason.RELATION_MISSING_REGION, message)
                continue
            seen.add(key)
            head, tail, rel_type = key
            rows.append((
                relation_id(annotation_id, head, tail, rel_type), annotation_id, doc_id,
                span_id(annotation_id, head), span_id(annotation_id, tail), rel_type,
            ))
        self.relations.extend(rows)
        summary.relations.written += len(rows)

    def _check_relation(self, item: dict[str, Any], seen: set[tuple[str, str, str]]
                        ) -> tuple[RejectReason | None, str, tuple[str, str, str] | None]:
        get = item.get
        from_id, to_id = str(get("from_id", "")), str(get("to_id", ""))
        direction = get("direction")
        labels = get("labels")
        if not isinstance(labels, list):
            labels = []
        if direction == "bi":
            return RejectReason.RELATION_BIDIRECTIONAL, f"{from_id}<->{to_id}", None
        if direction not in DIRECTIONS:
            return RejectReason.RELATION_DIRECTION_UNKNOWN, f"{from_id}->{to_id} direction {direction!r:.40}", None
        head_id, tail_id = (to_id, from_id) if direction == "left" else (from_id, to_id)
        regions = self.regions
        head, tail = regions.get(head_id), regions.get(tail_id)
        if head is None or tail is None:
            end = head_id if head is None else tail_id
            reason = (RejectReason.RELATION_ENDPOINT_REJECTED if end in self.rejected_regions
                      else RejectReason.RELATION_MISSING_REGION)
            return reason, f"relation endpoint {end!r}", None
        if not labels:
            return RejectReason.RELATION_UNLABELLED, f"{head_id}->{tail_id} has no type", None
        if len(labels) > 1:
            return RejectReason.MULTIPLE_RELATION_LABELS, f"{head_id}->{tail_id} types {labels!r}", None
        rel = self.index.relation_for.get(str(labels[0]))
        if rel is None:
            return RejectReason.UNKNOWN_RELATION, f"relation type {labels[0]!r}", None
        if head.label != rel.head or tail.label != rel.tail:
            return RejectReason.RELATION_WRONG_LABELS, f"{rel.value} joins {head.label} -> {tail.label}", None
        key = (head_id, tail_id, rel.value)
        if key in seen:
            return RejectReason.DUPLICATE_RELATION, f"{rel.value} {head_id}->{tail_id} repeats", None
        return None, "", key


def is_region_id(raw: Any) -> bool:
    """A region id the tables can key on: a non-empty string without '>', or an integer (not a boolean).

    ``span_id`` is ``<annotation_id>:<region_id>`` and ``relation_id`` joins the head and tail region ids
    with '>' (:mod:`claimset.tables`), so a '>' in a region id could give two relations one id.
    """
    if type(raw) is str:
        return bool(raw) and ">" not in raw
    return type(raw) is int


def _is_text(raw: Any) -> bool:
    """A textarea's ``value.text``: a string, a list of strings, or nothing (then it is empty)."""
    return raw is None or isinstance(raw, str) or (isinstance(raw, list) and all(isinstance(p, str) for p in raw))


def attribute_value(item: dict[str, Any], control: str) -> str | None:
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

