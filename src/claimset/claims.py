"""The denormalised ``claims`` table: one row per Claim span of a submitted annotation.

Each row holds the claim, its speaker, its cue and a list of targets with the claim's stance toward
each. Offsets are code points into ``documents.text``, half-open, as in ``spans``.

The rule, the one every part of claimset uses (the gold's ``claims.parquet``, ``evaluate``,
``stats``): a claim's speaker is the tail of its ``said_by`` relation and its cue the tail of its
``cued_by`` relation; where a claim has several (the validator reports that as
``relation_max_per_head``), the one with the smallest ``(start, end, span_id)`` is taken. Targets are
the tails of the scheme's stance relations, sorted by ``(start, end, stance, span_id)``. Claims are sorted by
``(doc_id, start, end, claim_id)``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
_MENTION_COLUMNS = ("span_id", "start", "end", "text", "entity")
# The columns the derivation reads, table by table (what a reader needs to load, and no more).
INPUTS: dict[str, tuple[str, ...]] = {
    "documents": (DocumentsModel.doc_id, DocumentsModel.published),
    "annotations": (AnnotationsModel.annotation_id, AnnotationsModel.annotator, AnnotationsModel.status),
    "spans": (SpansModel.span_id, SpansModel.annotation_id, SpansModel.doc_id, SpansModel.label, SpansModel.start,
              SpansModel.end, SpansModel.text, SpansModel.quote_type, SpansModel.entity),
    "relations": (RelationsModel.head_span_id, RelationsModel.tail_span_id, RelationsModel.type),
}


CLAIMS_PER_STEP = 20_000  # claims derived at once: the joins' memory stays bounded however large the dataset


def derive_claims(documents: pa.Table, annotations: pa.Table, spans: pa.Table, relations: pa.Table,
                  scheme: Scheme) -> pa.Table:
    """The claims table of these tables under ``scheme`` (submitted annotations only), by the module's rule.

    Columnar (Arrow joins and grouped aggregations), so it costs little next to an import, and done
    :data:`CLAIMS_PER_STEP` claims at a time, each step joining only their relations and tails.
    """
    submitted = annotations.filter(pc.equal(annotations[AnnotationsModel.status], "submitted")).select(
        [AnnotationsModel.annotation_id, AnnotationsModel.annotator])
    mentions = spans.select([SpansModel.span_id, SpansModel.annotation_id, SpansModel.doc_id, SpansModel.label,
                             SpansModel.start, SpansModel.end, SpansModel.text, SpansModel.quote_type,
                             SpansModel.entity])
    mentions = mentions.filter(pc.is_in(mentions[SpansModel.annotation_id], submitted[AnnotationsModel.annotation_id]))
    claims = mentions.filter(pc.equal(mentions[SpansModel.label], scheme.claim_label)).drop_columns(
        [SpansModel.label]).rename_columns({SpansModel.span_id: "claim_id"})
    claims = claims.join(submitted, AnnotationsModel.annotation_id)
    claims = claims.join(documents.select([DocumentsModel.doc_id, DocumentsModel.published]), SpansModel.doc_id)
    steps = [_with_roles(claims.slice(start, CLAIMS_PER_STEP), mentions, relations, scheme)
             for start in range(0, claims.num_rows, CLAIMS_PER_STEP)]
    derived = pa.concat_tables(steps) if steps else CLAIMS.empty_table()
    return derived.sort_by([("doc_id", "ascending"), ("start", "ascending"), ("end", "ascending"),
                            ("claim_id", "ascending")])


def _with_roles(claims: pa.Table, mentions: pa.Table, relations: pa.Table, scheme: Scheme) -> pa.Table:
    """These claims with their speaker, cue and targets: the claims table's rows, in no particular order."""
    relations = relations.filter(pc.is_in(relations[RelationsModel.head_span_id], claims["claim_id"])).select(
        [RelationsModel.head_span_id, RelationsModel.tail_span_id, RelationsModel.type])
    ends = mentions.filter(pc.is_in(mentions[SpansModel.span_id], relations[RelationsModel.tail_span_id]))
    tails = relations.join(ends.select(list(_MENTION_COLUMNS)), RelationsModel.tail_span_id, SpansModel.span_id,
                           join_type="inner").rename_columns({RelationsModel.tail_span_id: SpansModel.span_id})
    for role, relation in (("speaker", SPEAKER_RELATION), ("cue", CUE_RELATION)):
        claims = claims.join(_first_tail(tails, relation, role), "claim_id", join_type="left outer")
    targeted, target_lists = _targets(tails, scheme.stances)  # Arrow joins carry no list columns: join a row number
    claims = claims.join(pa.table({"claim_id": targeted, "target_row": pa.array(range(len(targeted)), pa.int64())}),
                         "claim_id", join_type="left outer")
    targets = target_lists.take(claims["target_row"]).fill_null(pa.scalar([], type=CLAIMS.field("targets").type))
    return pa.table([targets if name == "targets" else claims[name] for name in CLAIMS.names], schema=CLAIMS)


def _first_tail(tails: pa.Table, relation: str, role: str) -> pa.Table:
    """claim_id -> the ``relation`` tail with the smallest (start, end, span_id), columns prefixed by ``role``."""
    found = tails.filter(pc.equal(tails[RelationsModel.type], relation)).sort_by(
        [(RelationsModel.head_span_id, "ascending"), ("start", "ascending"), ("end", "ascending"),
         ("span_id", "ascending")])
    whole_row = pc.ScalarAggregateOptions(skip_nulls=False)  # "first" skips nulls by default: columns would mix rows
    firsts = found.group_by(RelationsModel.head_span_id, use_threads=False).aggregate(
        [(column, "first", whole_row) for column in _MENTION_COLUMNS])
    names = {RelationsModel.head_span_id: "claim_id", **{f"{column}_first": f"{role}_{column}"
                                                        for column in _MENTION_COLUMNS}}
    columns = ["claim_id", *(f"{role}_{column}" for column in _MENTION_COLUMNS if role == "speaker" or
                             column != "entity")]
    return firsts.rename_columns(names).select(columns)


def _targets(tails: pa.Table, stances: tuple[str, ...]) -> tuple[pa.Array, pa.Array]:
    """Claim ids, and for each its list of targets (a struct per stance relation) by (start, end, stance, span_id)."""
    found = tails.filter(pc.is_in(tails[RelationsModel.type], pa.array(stances))).sort_by(
        [(RelationsModel.head_span_id, "ascending"), ("start", "ascending"), ("end", "ascending"),
         (RelationsModel.type, "ascending"), ("span_id", "ascending")])
    heads = found[RelationsModel.head_span_id].combine_chunks()
    structs = pc.make_struct(*(found[name].combine_chunks() for name in (*_MENTION_COLUMNS, RelationsModel.type)),
                             field_names=TARGET.names).cast(TARGET)
    # ``found`` is sorted by claim: each claim's targets are one run of rows, its list one slice of them
    changes = pc.not_equal(heads.slice(1), heads.slice(0, max(len(heads) - 1, 0))).to_numpy(zero_copy_only=False)
    starts = np.concatenate([[0], np.flatnonzero(changes) + 1]) if len(heads) else np.array([], dtype=np.int64)
    offsets = pa.array(np.append(starts, len(heads)).astype(np.int32))
    return (heads.take(pa.array(starts, type=pa.int64())),
            pa.ListArray.from_arrays(offsets, structs, type=CLAIMS.field("targets").type))
