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

from pathlib import Path
from types import TracebackType

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from claimset.models import AnnotationColumns, DocumentColumns, RelationColumns, SpanColumns
from claimset.partition import Layout
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
    "documents": (DocumentColumns.doc_id, DocumentColumns.published),
    "annotations": (AnnotationColumns.annotation_id, AnnotationColumns.annotator, AnnotationColumns.status),
    "spans": (SpanColumns.span_id, SpanColumns.annotation_id, SpanColumns.doc_id, SpanColumns.label, SpanColumns.start,
              SpanColumns.end, SpanColumns.text, SpanColumns.quote_type, SpanColumns.entity),
    "relations": (RelationColumns.head_span_id, RelationColumns.tail_span_id, RelationColumns.type),
}


CLAIMS_PER_STEP = 20_000  # claims derived at once: the joins' memory stays bounded however large the dataset
CLAIMS_ROW_GROUP = 65_536  # rows of a row group of claims.parquet, each written from one chunk
SORT_KEYS = [("doc_id", "ascending"), ("start", "ascending"), ("end", "ascending"), ("claim_id", "ascending")]


def derive_claims(documents: pa.Table, annotations: pa.Table, spans: pa.Table, relations: pa.Table,
                  scheme: Scheme) -> pa.Table:
    """The claims table of these tables under ``scheme`` (submitted annotations only), by the module's rule.

    Columnar (Arrow joins and grouped aggregations), so it costs little next to an import, and done
    :data:`CLAIMS_PER_STEP` claims at a time, each step joining only their relations and tails.
    """
    submitted = submitted_annotations(annotations)
    return claims_of(mentions_of(spans, submitted), relations, submitted, documents, scheme)


def submitted_annotations(annotations: pa.Table) -> pa.Table:
    """annotation_id and annotator of the submitted annotations."""
    return annotations.filter(pc.equal(annotations[AnnotationColumns.status], "submitted")).select(
        [AnnotationColumns.annotation_id, AnnotationColumns.annotator])


def mentions_of(spans: pa.Table, submitted: pa.Table) -> pa.Table:
    """The spans of the submitted annotations, with the columns the claims table takes from them."""
    mentions = spans.select([SpanColumns.span_id, SpanColumns.annotation_id, SpanColumns.doc_id, SpanColumns.label,
                             SpanColumns.start, SpanColumns.end, SpanColumns.text, SpanColumns.quote_type,
                             SpanColumns.entity])
    return mentions.filter(pc.is_in(mentions[SpanColumns.annotation_id], submitted[AnnotationColumns.annotation_id]))


def claims_of(mentions: pa.Table, relations: pa.Table, submitted: pa.Table, documents: pa.Table,
              scheme: Scheme, lookups: bool | None = None) -> pa.Table:
    """The claims among ``mentions``, sorted; ``relations`` and ``mentions`` must hold their relations and tails.

    Called on whole tables, or on one bucket of :mod:`claimset.partition` at a time (a bucket holds
    its claims' relations and, in a valid dataset, their tails). Where span ids, annotation ids and
    doc_ids are unique, as in every valid dataset, by lookups and sorts of row numbers
    (:func:`_claims_by_lookup`); else by Arrow joins (:func:`_claims_by_join`), which repeat a row per
    match. ``lookups`` says whether the ids are unique (:func:`unique`), if the caller knows.
    """
    documents = documents.select([DocumentColumns.doc_id, DocumentColumns.published])
    if lookups is None:
        lookups = unique(mentions[SpanColumns.span_id], submitted[AnnotationColumns.annotation_id],
                         documents[DocumentColumns.doc_id])
    derive = _claims_by_lookup if lookups else _claims_by_join
    return derive(mentions, relations, submitted, documents, scheme).sort_by(SORT_KEYS)


def unique(*columns: pa.ChunkedArray | pa.Array) -> bool:
    """Does each column hold each value at most once (a null counting as a value)?"""
    return all(len(pc.unique(column)) == len(column) for column in columns)


def _claims_by_join(mentions: pa.Table, relations: pa.Table, submitted: pa.Table, documents: pa.Table,
                    scheme: Scheme) -> pa.Table:
    """The claims' rows, unsorted, by Arrow joins, :data:`CLAIMS_PER_STEP` claims at a time."""
    claims = mentions.filter(pc.equal(mentions[SpanColumns.label], scheme.claim_label)).drop_columns(
        [SpanColumns.label]).rename_columns({SpanColumns.span_id: "claim_id"})
    claims = claims.join(submitted, AnnotationColumns.annotation_id)
    claims = claims.join(documents, SpanColumns.doc_id)
    steps = [_with_roles(claims.slice(start, CLAIMS_PER_STEP), mentions, relations, scheme)
             for start in range(0, claims.num_rows, CLAIMS_PER_STEP)]
    return pa.concat_tables(steps) if steps else CLAIMS.empty_table()


def _with_roles(claims: pa.Table, mentions: pa.Table, relations: pa.Table, scheme: Scheme) -> pa.Table:
    """These claims with their speaker, cue and targets: the claims table's rows, in no particular order."""
    relations = relations.filter(pc.is_in(relations[RelationColumns.head_span_id], claims["claim_id"])).select(
        [RelationColumns.head_span_id, RelationColumns.tail_span_id, RelationColumns.type])
    ends = mentions.filter(pc.is_in(mentions[SpanColumns.span_id], relations[RelationColumns.tail_span_id]))
    tails = relations.join(ends.select(list(_MENTION_COLUMNS)), RelationColumns.tail_span_id, SpanColumns.span_id,
                           join_type="inner").rename_columns({RelationColumns.tail_span_id: SpanColumns.span_id})
    for role, relation in (("speaker", SPEAKER_RELATION), ("cue", CUE_RELATION)):
        claims = claims.join(_first_tail(tails, relation, role), "claim_id", join_type="left outer")
    targeted, target_lists = _targets(tails, scheme.stances)  # Arrow joins carry no list columns: join a row number
    claims = claims.join(pa.table({"claim_id": targeted, "target_row": pa.array(range(len(targeted)), pa.int64())}),
                         "claim_id", join_type="left outer")
    targets = target_lists.take(pc.fill_null(claims["target_row"], len(targeted)))  # the last list is empty
    return pa.table([targets if name == "targets" else claims[name] for name in CLAIMS.names], schema=CLAIMS)


def _first_tail(tails: pa.Table, relation: str, role: str) -> pa.Table:
    """claim_id -> the ``relation`` tail with the smallest (start, end, span_id), columns prefixed by ``role``."""
    found = tails.filter(pc.equal(tails[RelationColumns.type], relation)).sort_by(
        [(RelationColumns.head_span_id, "ascending"), ("start", "ascending"), ("end", "ascending"),
         ("span_id", "ascending")])
    whole_row = pc.ScalarAggregateOptions(skip_nulls=False)  # "first" skips nulls by default: columns would mix rows
    firsts = found.group_by(RelationColumns.head_span_id, use_threads=False).aggregate(
        [(column, "first", whole_row) for column in _MENTION_COLUMNS])
    names = {RelationColumns.head_span_id: "claim_id", **{f"{column}_first": f"{role}_{column}"
                                                        for column in _MENTION_COLUMNS}}
    columns = ["claim_id", *(f"{role}_{column}" for column in _MENTION_COLUMNS if role == "speaker" or
                             column != "entity")]
    return firsts.rename_columns(names).select(columns)


def _targets(tails: pa.Table, stances: tuple[str, ...]) -> tuple[pa.Array, pa.Array]:
    """Claim ids, and for each its list of targets (a struct per stance relation) by (start, end, stance, span_id),
    then one empty list more."""
    found = tails.filter(pc.is_in(tails[RelationColumns.type], pa.array(stances))).sort_by(
        [(RelationColumns.head_span_id, "ascending"), ("start", "ascending"), ("end", "ascending"),
         (RelationColumns.type, "ascending"), ("span_id", "ascending")])
    heads = found[RelationColumns.head_span_id].combine_chunks()
    structs = pc.make_struct(*(found[name].combine_chunks() for name in (*_MENTION_COLUMNS, RelationColumns.type)),
                             field_names=TARGET.names).cast(TARGET)
    # ``found`` is sorted by claim: each claim's targets are one run of rows, its list one slice of them
    changes = pc.not_equal(heads.slice(1), heads.slice(0, max(len(heads) - 1, 0))).to_numpy(zero_copy_only=False)
    starts = np.concatenate([[0], np.flatnonzero(changes) + 1]) if len(heads) else np.array([], dtype=np.int64)
    offsets = pa.array(np.append(starts, [len(heads), len(heads)]).astype(np.int32))
    return (heads.take(pa.array(starts, type=pa.int64())),  # each claim's list, then an empty one
            pa.ListArray.from_arrays(offsets, structs, type=CLAIMS.field("targets").type))


def _claims_by_lookup(mentions: pa.Table, relations: pa.Table, submitted: pa.Table, documents: pa.Table,
                      scheme: Scheme) -> pa.Table:
    """The claims' rows, unsorted, where ids are unique: each relation's head and tail looked up by row number,
    the first tails and the target lists found by sorting row numbers (what :func:`_claims_by_join` gives)."""
    is_claim = _flags(pc.equal(mentions[SpanColumns.label], scheme.claim_label))
    claim_rows = np.flatnonzero(is_claim)
    claims = mentions.take(pa.array(claim_rows, pa.int64()))
    claim_ids = claims[SpanColumns.span_id].combine_chunks()
    heads = _rows(pc.index_in(relations[RelationColumns.head_span_id], value_set=claim_ids, skip_nulls=True))
    tails = _rows(pc.index_in(relations[RelationColumns.tail_span_id],
                              value_set=mentions[SpanColumns.span_id].combine_chunks(), skip_nulls=True))
    kinds = relations[RelationColumns.type]
    linked = (heads >= 0) & (tails >= 0)
    offsets = _mention_offsets(mentions)
    columns: dict[str, pa.ChunkedArray | pa.Array] = {
        "claim_id": claim_ids, **{name: claims[name] for name in (SpanColumns.doc_id, SpanColumns.annotation_id,
                                                                  SpanColumns.start, SpanColumns.end, SpanColumns.text,
                                                                  SpanColumns.quote_type)}}
    columns[AnnotationColumns.annotator] = _looked_up(claims[SpanColumns.annotation_id], submitted,
                                                     AnnotationColumns.annotation_id, AnnotationColumns.annotator)
    columns[DocumentColumns.published] = _looked_up(claims[SpanColumns.doc_id], documents, DocumentColumns.doc_id,
                                                   DocumentColumns.published)
    for role, relation in (("speaker", SPEAKER_RELATION), ("cue", CUE_RELATION)):
        picked = np.flatnonzero(linked & _flags(pc.equal(kinds, relation)))  # by (start, end, span_id) within a claim
        ranked = _ordered(picked, heads, tails, [key[tails[picked]] for key in offsets], mentions)
        first = ranked[run_starts(pa.array(heads[ranked]))]
        tail_of_claim = np.full(len(claim_rows), -1, dtype=np.int64)
        tail_of_claim[heads[first]] = tails[first]
        tail = mentions.take(pa.array(tail_of_claim, mask=tail_of_claim < 0))
        for name in _MENTION_COLUMNS:
            if role == "speaker" or name != "entity":
                columns[f"{role}_{name}"] = tail[name]
    columns["targets"] = _target_lists(mentions, heads, tails, kinds, linked, offsets, len(claim_rows),
                                       scheme.stances)
    return pa.table([columns[name] for name in CLAIMS.names], schema=CLAIMS)


def _target_lists(mentions: pa.Table, heads: npt.NDArray[np.int64], tails: npt.NDArray[np.int64],
                  kinds: pa.ChunkedArray, linked: npt.NDArray[np.bool_], offsets: list[npt.NDArray[np.int64]],
                  claims: int, stances: tuple[str, ...]) -> pa.Array:
    """Each claim's targets: its stance relations' tails by (start, end, stance, span_id)."""
    stance_rank = _rows(pc.index_in(kinds, value_set=pa.array(sorted(stances), pa.string()), skip_nulls=True))
    picked = np.flatnonzero(linked & (stance_rank >= 0))
    ranked = _ordered(picked, heads, tails, [*(key[tails[picked]] for key in offsets), stance_rank[picked]],
                      mentions)
    tail = mentions.take(pa.array(tails[ranked], pa.int64()))
    structs = pc.make_struct(*(tail[name].combine_chunks() for name in _MENTION_COLUMNS),
                             kinds.take(pa.array(ranked, pa.int64())).combine_chunks(),
                             field_names=TARGET.names).cast(TARGET)
    counts = np.bincount(heads[ranked], minlength=claims)
    list_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(list_offsets), structs, type=CLAIMS.field("targets").type)


def _mention_offsets(mentions: pa.Table) -> list[npt.NDArray[np.int64]]:
    """start and end of each mention as integer sort keys, in the order Arrow sorts them (a null last)."""
    keys = []
    for name in (SpanColumns.start, SpanColumns.end):
        values = mentions[name]
        keys += [np.asarray(_flags(pc.is_null(values)), dtype=np.int64),
                 np.asarray(pc.fill_null(values, 0).to_numpy(), dtype=np.int64)]
    return keys


def _ordered(picked: npt.NDArray[np.int64], heads: npt.NDArray[np.int64], tails: npt.NDArray[np.int64],
             keys: list[npt.NDArray[np.int64]], mentions: pa.Table) -> npt.NDArray[np.int64]:
    """The relations ``picked``, sorted by head, ``keys`` (aligned with ``picked``) and the tail's span_id.

    The span ids (unique here) are ranked only when two different tails tie on the other keys.
    """
    order = np.lexsort([*reversed(keys), heads[picked]])
    ranked: npt.NDArray[np.int64] = picked[order]
    if len(ranked) < 2:
        return ranked
    tie = (heads[ranked][1:] == heads[ranked][:-1]) & (tails[ranked][1:] != tails[ranked][:-1])
    for key in keys:
        tie &= key[order][1:] == key[order][:-1]
    if not tie.any():
        return ranked
    span_rank = np.empty(mentions.num_rows, dtype=np.int64)
    span_rank[np.asarray(pc.sort_indices(mentions[SpanColumns.span_id]))] = np.arange(mentions.num_rows)
    ranked = picked[np.lexsort([span_rank[tails[picked]], *reversed(keys), heads[picked]])]
    return ranked


def _looked_up(keys: pa.ChunkedArray, table: pa.Table, key: str, column: str) -> pa.ChunkedArray:
    """``table[column]`` at the (unique) row whose ``key`` is each key; null where there is none."""
    return table[column].take(pc.index_in(keys, value_set=table[key].combine_chunks(), skip_nulls=True))


def _rows(found: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """Row numbers found by ``index_in``, -1 where none."""
    return np.asarray(pc.fill_null(found, -1).to_numpy(), dtype=np.int64)


def _flags(values: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    """A boolean column as numpy, null as False."""
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def run_starts(values: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.bool_]:
    """For sorted ``values``: True where a run of equal values starts (a null equals a null)."""
    column = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    starts = np.ones(len(column), dtype=bool)
    if len(column) > 1:
        same = pc.fill_null(pc.equal(column.slice(1), column.slice(0, len(column) - 1)), False)
        both_null = pc.and_(pc.is_null(column.slice(1)), pc.is_null(column.slice(0, len(column) - 1)))
        starts[1:] = ~np.asarray(pc.or_(same, both_null).to_numpy(zero_copy_only=False), dtype=bool)
    return starts


class BucketInputs:
    """The submitted annotations and the documents of each bucket of :mod:`claimset.partition`, so that
    :func:`claims_of` on one bucket looks ids up among that bucket's, not the whole dataset's.

    An annotation is in the bucket of its id (:meth:`Layout.of_annotations`), a document in the bucket of
    its doc_id's range; a bucket's claims must be on its documents (:meth:`Layout.holds`) and its spans
    of submitted annotations of its own (:meth:`strays`), as in every valid dataset.
    """

    def __init__(self, layout: Layout, submitted: pa.Table, documents: pa.Table) -> None:
        self.layout = layout
        self.submitted = self._by_bucket(submitted, layout.of_annotations(submitted[AnnotationColumns.annotation_id]))
        self.documents = self._by_bucket(documents, layout.of_docs(documents[DocumentColumns.doc_id]))
        ids = submitted[AnnotationColumns.annotation_id]
        self.submitted_ids = np.unique(np.asarray(pc.drop_null(ids).to_numpy(), dtype=np.int64))
        self.null_submitted = ids.null_count > 0

    def _by_bucket(self, table: pa.Table, buckets: npt.NDArray[np.int32]) -> list[pa.Table]:
        order = np.argsort(buckets, kind="stable")
        edges = np.searchsorted(buckets[order], np.arange(self.layout.count + 1))
        ordered = table.take(pa.array(order, pa.int64()))
        return [ordered.slice(edges[number], edges[number + 1] - edges[number]) for number in range(self.layout.count)]

    def strays(self, number: int, spans: pa.Table) -> bool:
        """Does bucket ``number`` hold a span of a submitted annotation of another bucket?"""
        ids = spans[SpanColumns.annotation_id]
        if self.null_submitted and ids.null_count:
            return True
        values = np.asarray(pc.fill_null(ids, 0).to_numpy(), dtype=np.int64)
        where = np.minimum(np.searchsorted(self.submitted_ids, values), max(len(self.submitted_ids) - 1, 0))
        submitted = np.asarray(ids.is_valid().to_numpy(zero_copy_only=False), dtype=bool) & (
            self.submitted_ids[where] == values if len(self.submitted_ids) else False)
        return bool((self.layout.of_annotations(ids)[submitted] != number).any())


class ClaimsWriter:
    """``claims.parquet`` written as the claims come, in row groups of :data:`CLAIMS_ROW_GROUP` rows.

    Each row group is written from one contiguous chunk, so the file's bytes depend on the rows alone
    (not on how they came); up to :data:`CLAIMS_ROW_GROUP` rows, they are those of
    :func:`claimset.tables.write_table` on the whole table.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.rows = 0
        self.writer: pq.ParquetWriter | None = None

    def __enter__(self) -> ClaimsWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is None:
            self.close()
        elif self.writer is not None:
            self.writer.close()

    def add(self, claims: pa.Table) -> None:
        """Append ``claims`` (rows in the table's order)."""
        self.pending.append(claims)
        self.pending_rows += claims.num_rows
        while self.pending_rows >= CLAIMS_ROW_GROUP:
            self._write_group(CLAIMS_ROW_GROUP)

    def _write_group(self, rows: int) -> None:
        """Write the first ``rows`` pending rows as one row group; the rest stay slices of the tables added."""
        group, have = [], 0
        while have < rows:
            piece = self.pending[0]
            if have + piece.num_rows <= rows:
                group.append(self.pending.pop(0))
            else:
                group.append(piece.slice(0, rows - have))
                self.pending[0] = piece.slice(rows - have)
            have += group[-1].num_rows
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, CLAIMS, compression="zstd", write_statistics=True)
        self.writer.write_table(pa.concat_tables(group).combine_chunks())
        self.pending_rows -= rows
        self.rows += rows

    def close(self) -> None:
        if self.writer is None and self.pending_rows == 0:  # no claims: the empty table, as write_table writes it
            pq.write_table(CLAIMS.empty_table().sort_by(SORT_KEYS), self.path, compression="zstd",
                           write_statistics=True)
            return
        if self.pending_rows:
            self._write_group(self.pending_rows)
        assert self.writer is not None
        self.writer.close()
