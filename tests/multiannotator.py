"""Builders for small multi-annotator datasets written straight into the Parquet tables (tables.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from claimset.dataset import Dataset, write_record
from claimset.offsets import quote_selector
from claimset.scheme import default_scheme
from claimset.tables import ANNOTATIONS, DOCUMENTS, REJECTS, RELATIONS, SPANS, table_path, write_table

TEXT = 'Putin said NATO lied. Biden said Russia cheated. Macron noted that Europe must act. Merkel said "we agree".'


def at(text: str, phrase: str, occurrence: int = 0) -> tuple[int, int]:
    """Code-point (start, end) of the ``occurrence``-th ``phrase`` in ``text``."""
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(phrase, start + 1)
    return start, start + len(phrase)


@dataclass
class Ann:
    annotator: str
    doc_id: str = "d1"
    spans: list[tuple[str, str, int, int, str | None, str | None]] = field(default_factory=list)
    relations: list[tuple[str, str, str]] = field(default_factory=list)
    status: str = "submitted"
    ground_truth: bool = False
    updated: int = 0  # minutes after a fixed time

    def span(self, rid: str, label: str, where: tuple[int, int], quote_type: str | None = None,
             entity: str | None = None) -> Ann:
        self.spans.append((rid, label, where[0], where[1], quote_type, entity))
        return self

    def rel(self, head: str, tail: str, kind: str) -> Ann:
        self.relations.append((head, tail, kind))
        return self


def write_dataset(directory: Path, texts: dict[str, str], annotations: Sequence[Ann]) -> Path:
    base = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    documents = [
        {"doc_id": doc_id, "published": dt.date(2026, 1, 1), "source_file": f"{doc_id}.txt", "text": text,
         "text_sha256": hashlib.sha256(text.encode()).hexdigest()}
        for doc_id, text in texts.items()
    ]
    ann_rows, span_rows, rel_rows = [], [], []
    for aid, ann in enumerate(annotations, start=101):
        stamp = base + dt.timedelta(minutes=ann.updated)
        ann_rows.append({
            "annotation_id": aid, "task_id": sorted(texts).index(ann.doc_id) + 1, "doc_id": ann.doc_id,
            "annotator": ann.annotator, "status": ann.status, "ground_truth": ann.ground_truth,
            "created_at": stamp, "updated_at": stamp, "lead_time": 10.0, "n_regions": len(ann.spans),
            "n_relations": len(ann.relations),
        })
        if ann.status != "submitted":
            continue  # the importer writes no spans for cancelled annotations
        text = texts[ann.doc_id]
        for rid, label, start, end, quote_type, entity in ann.spans:
            prefix, suffix = quote_selector(text, start, end)
            span_rows.append({
                "span_id": f"{aid}:{rid}", "annotation_id": aid, "doc_id": ann.doc_id, "region_id": rid,
                "label": label, "start": start, "end": end, "text": text[start:end], "quote_type": quote_type,
                "entity": entity, "prefix": prefix, "suffix": suffix, "offset_repair": None,
            })
        for head, tail, kind in ann.relations:
            rel_rows.append({
                "relation_id": f"{aid}:{head}>{tail}:{kind}", "annotation_id": aid, "doc_id": ann.doc_id,
                "head_span_id": f"{aid}:{head}", "tail_span_id": f"{aid}:{tail}", "type": kind,
            })
    directory.mkdir(parents=True, exist_ok=True)
    write_table(pa.Table.from_pylist(documents, schema=DOCUMENTS), table_path(directory, "documents"))
    write_table(pa.Table.from_pylist(ann_rows, schema=ANNOTATIONS), table_path(directory, "annotations"))
    write_table(pa.Table.from_pylist(span_rows, schema=SPANS), table_path(directory, "spans"))
    write_table(pa.Table.from_pylist(rel_rows, schema=RELATIONS), table_path(directory, "relations"))
    write_table(REJECTS.empty_table(), table_path(directory, "rejects"))
    write_claims_and_record(directory)
    return directory


def full_annotation(annotator: str, doc_id: str = "d1", text: str = TEXT) -> Ann:
    """A complete annotation of :data:`TEXT`: four claims with speakers, a cue and two targets."""
    return (
        Ann(annotator, doc_id)
        .span("c1", "Claim", at(text, "NATO lied"), "indirect").span("s1", "Speaker", at(text, "Putin"), None, "Putin")
        .span("q1", "Cue", at(text, "said")).span("t1", "Target", at(text, "NATO"), None, "NATO")
        .rel("c1", "s1", "said_by").rel("c1", "q1", "cued_by").rel("c1", "t1", "against")
        .span("c2", "Claim", at(text, "Russia cheated"), "indirect")
        .span("s2", "Speaker", at(text, "Biden"), None, "Biden")
        .span("t2", "Target", at(text, "Russia"), None, "Russia")
        .rel("c2", "s2", "said_by").rel("c2", "t2", "against")
        .span("c3", "Claim", at(text, "Europe must act"), "indirect")
        .span("s3", "Speaker", at(text, "Macron"), None, "Macron").rel("c3", "s3", "said_by")
        .span("c4", "Claim", at(text, "we agree"), "direct")
        .span("s4", "Speaker", at(text, "Merkel"), None, "Merkel").rel("c4", "s4", "said_by")
    )


def write_claims_and_record(directory: Path) -> None:
    """What makes a folder of tables a dataset: its derived claims table and its scheme record."""
    scheme = default_scheme()
    write_table(Dataset(directory, scheme).claims, table_path(directory, "claims"))
    write_record(directory, scheme)
