"""The denormalised ``claims`` table: one row per Claim span of a submitted annotation.

Each row holds the claim, its speaker, its cue and a list of targets with the claim's stance toward
each. Offsets are code points into ``documents.text``, half-open, as in ``spans``.

The rule, the one every part of claimset uses (the gold's ``claims.parquet``, ``evaluate``,
``stats``): a claim's speaker is the tail of its ``said_by`` relation and its cue the tail of its
``cued_by`` relation; where a claim has several (the validator reports that as
``relation_max_per_head``), the one with the smallest ``(start, end, span_id)`` is taken. Targets are
the tails of the scheme's stance relations, sorted by ``(start, end, stance)``. Claims are sorted by
``(doc_id, start, end, claim_id)``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyarrow as pa

from claimset.models import AnnotationsModel, DocumentsModel, RelationsModel, SpansModel
from claimset.scheme import CUE_RELATION, SPEAKER_RELATION, Scheme

_MENTION = [("span_id", pa.string()), ("start", pa.int64()), ("end", pa.int64()), ("text", pa.string())]
TARGET = pa.struct([*_MENTION, ("entity", pa.string()), ("stance", pa.string())])
CLAIMS = pa.schema(
    [
        ("claim_id", pa.string()),
        ("doc_id", pa.string()),
        ("published", pa.date32()),
        ("annotation_id", pa.int64()),
        ("annotator", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("text", pa.string()),
        ("quote_type", pa.string()),
        ("speaker_span_id", pa.string()),
        ("speaker_start", pa.int64()),
        ("speaker_end", pa.int64()),
        ("speaker_text", pa.string()),
        ("speaker_entity", pa.string()),
        ("cue_span_id", pa.string()),
        ("cue_start", pa.int64()),
        ("cue_end", pa.int64()),
        ("cue_text", pa.string()),
        ("targets", pa.list_(TARGET)),
    ]
)
_NO_MENTION: dict[str, Any] = {"span_id": None, "start": None, "end": None, "text": None, "entity": None}


def derive_claims(documents: pa.Table, annotations: pa.Table, spans: pa.Table, relations: pa.Table,
                  scheme: Scheme) -> pa.Table:
    """The claims table of these tables under ``scheme`` (submitted annotations only), by the module's rule."""
    annotator = {row[AnnotationsModel.annotation_id]: row[AnnotationsModel.annotator]
                 for row in annotations.to_pylist() if row[AnnotationsModel.status] == "submitted"}
    published = dict(zip(documents.column(DocumentsModel.doc_id).to_pylist(),
                         documents.column(DocumentsModel.published).to_pylist(), strict=True))
    by_id = {row[SpansModel.span_id]: row for row in spans.drop_columns(["prefix", "suffix"]).to_pylist()
             if row[SpansModel.annotation_id] in annotator}
    tails: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for relation in relations.select([RelationsModel.head_span_id, RelationsModel.tail_span_id,
                                      RelationsModel.type]).to_pylist():
        tail = by_id.get(relation[RelationsModel.tail_span_id])
        if tail is not None:
            tails[(relation[RelationsModel.head_span_id], relation[RelationsModel.type])].append(tail)
    claims = [span for span in by_id.values() if span[SpansModel.label] == scheme.claim_label]
    claims.sort(key=lambda span: (span[SpansModel.doc_id], span[SpansModel.start], span[SpansModel.end],
                                  span[SpansModel.span_id]))
    rows = [_claim_row(claim, tails, published, annotator, scheme.stances) for claim in claims]
    return pa.Table.from_pylist(rows, schema=CLAIMS)


def _position(span: dict[str, Any]) -> tuple[int, int, str]:
    return span[SpansModel.start], span[SpansModel.end], span[SpansModel.span_id]


def _mention(span: dict[str, Any] | None) -> dict[str, Any]:
    if span is None:
        return _NO_MENTION
    return {"span_id": span[SpansModel.span_id], "start": span[SpansModel.start], "end": span[SpansModel.end],
            "text": span[SpansModel.text], "entity": span[SpansModel.entity]}


def _first(found: list[dict[str, Any]]) -> dict[str, Any] | None:
    return min(found, key=_position) if found else None


def _claim_row(claim: dict[str, Any], tails: dict[tuple[str, str], list[dict[str, Any]]],
               published: dict[str, Any], annotator: dict[int, str], stances: tuple[str, ...]) -> dict[str, Any]:
    claim_id = claim[SpansModel.span_id]
    speaker = _mention(_first(tails.get((claim_id, SPEAKER_RELATION), [])))
    cue = _mention(_first(tails.get((claim_id, CUE_RELATION), [])))
    targets = [{**_mention(tail), "stance": stance} for stance in stances for tail in tails.get((claim_id, stance), [])]
    targets.sort(key=lambda target: (target["start"], target["end"], target["stance"]))
    return {
        "claim_id": claim_id, "doc_id": claim[SpansModel.doc_id], "published": published.get(claim[SpansModel.doc_id]),
        "annotation_id": claim[SpansModel.annotation_id], "annotator": annotator[claim[SpansModel.annotation_id]],
        "start": claim[SpansModel.start], "end": claim[SpansModel.end], "text": claim[SpansModel.text],
        "quote_type": claim[SpansModel.quote_type],
        "speaker_span_id": speaker["span_id"], "speaker_start": speaker["start"], "speaker_end": speaker["end"],
        "speaker_text": speaker["text"], "speaker_entity": speaker["entity"],
        "cue_span_id": cue["span_id"], "cue_start": cue["start"], "cue_end": cue["end"], "cue_text": cue["text"],
        "targets": targets,
    }
