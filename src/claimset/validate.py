"""Validation of a dataset directory: every table against its pandera model, then across tables.

:func:`validate_dataset` never stops at the first problem: it collects every failure into a
:class:`ValidationReport` (lazy validation), and never prints. Each failure has a stable ``check``
code: pandera's check names for single-table checks, and the codes in :data:`CROSS_CHECKS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pandera.errors
import pyarrow as pa
import pyarrow.parquet as pq

from claimset.errors import ClaimsetError
from claimset.models import MODELS, ROW_KEYS, SCHEME, AnnotationsModel, DocumentsModel, RelationsModel, SpansModel
from claimset.seeds import Document, sha256_text
from claimset.tables import TABLES, table_path

Array = npt.NDArray[Any]
MAX_FAILURES_PER_CHECK = 1000
SPAN_CHUNK = 262_144

CROSS_CHECKS: dict[str, str] = {
    "table_missing": "a table file is missing from the dataset directory",
    "table_unreadable": "a table file is not readable Parquet",
    "doc_hash_mismatch": "text_sha256 is not the SHA-256 of the document text",
    "doc_seed_mismatch": "the document text differs from its seed file",
    "annotation_doc_missing": "the annotation's document is not in documents",
    "span_doc_missing": "the span's document is not in documents",
    "span_annotation_missing": "the span's annotation is not in annotations, or is not submitted",
    "span_doc_mismatch": "the span's doc_id differs from its annotation's",
    "span_out_of_range": "the span's end is past the end of its document",
    "span_text_mismatch": "the span text is not documents.text[start:end]",
    "span_quote_mismatch": "prefix/suffix are not the text around the span",
    "attribute_missing": "a required attribute of the span's label is empty",
    "attribute_not_applicable": "the span has an attribute its label does not take",
    "relation_endpoint_missing": "a relation endpoint is not in spans",
    "relation_cross_annotation": "a relation joins spans of another annotation",
    "relation_wrong_labels": "the relation joins labels its type does not allow",
    "relation_max_per_head": "a claim has more relations of this type than the scheme allows",
}


@dataclass(frozen=True)
class Failure:
    table: str
    key: str | None  # value of the row's key column (see claimset.models.ROW_KEYS)
    column: str | None
    check: str  # stable code
    message: str


@dataclass
class ValidationReport:
    directory: str
    rows: dict[str, int] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.failures

    def counts(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for failure in self.failures:
            totals[failure.check] = totals.get(failure.check, 0) + 1
        return dict(sorted(totals.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "valid": self.valid,
            "rows": self.rows,
            "failure_counts": self.counts(),
            "failures": [asdict(failure) for failure in self.failures],
        }


def _read_tables(directory: Path, report: ValidationReport) -> dict[str, pd.DataFrame]:
    frames: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        path = table_path(directory, name)
        if not path.exists():
            report.failures.append(Failure(name, None, None, "table_missing", f"{path.name} not found"))
            continue
        try:
            frames[name] = pq.read_table(path).to_pandas()
        except (OSError, pa.ArrowException) as exc:
            report.failures.append(
                Failure(name, None, None, "table_unreadable", f"{path.name}: {str(exc).splitlines()[0]}")
            )
            continue
        report.rows[name] = len(frames[name])
    return frames


def _schema_failures(name: str, frame: pd.DataFrame) -> tuple[pd.DataFrame | None, list[Failure]]:
    """Validate one table lazily against its model; return the coerced frame (if usable) and failures."""
    model = MODELS[name]
    try:
        return model.validate(frame, lazy=True), []
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        key_column = ROW_KEYS[name]
        failures = []
        for case in cases.head(MAX_FAILURES_PER_CHECK * 10).itertuples(index=False):
            index = getattr(case, "index", None)
            key = None
            if index is not None and not pd.isna(index) and key_column in frame.columns and index in frame.index:
                key = str(frame.at[index, key_column])
            column = case.column if case.schema_context == "Column" and isinstance(case.column, str) else None
            check = str(case.check).split("(")[0]
            failures.append(Failure(name, key, column, check, f"{case.check}: failure case {case.failure_case!r}"))
        usable = not any(f.check in {"column_in_dataframe", "column_in_schema", "dtype"} for f in failures)
        return (frame if usable else None), failures


def validate_dataset(directory: Path, seeds: Sequence[Document] = ()) -> ValidationReport:
    """Check every table of ``directory`` and their consistency; ``seeds`` are checked against documents."""
    if not directory.is_dir():
        raise ClaimsetError(f"{directory}: dataset directory not found")
    report = ValidationReport(directory=str(directory))
    frames = _read_tables(directory, report)
    checked: dict[str, pd.DataFrame] = {}
    for name, frame in frames.items():
        coerced, failures = _schema_failures(name, frame)
        report.failures.extend(failures)
        if coerced is not None:
            checked[name] = coerced
    report.failures.extend(_cross_table_failures(checked, seeds))
    return report


def _cross_table_failures(frames: dict[str, pd.DataFrame], seeds: Sequence[Document]) -> list[Failure]:
    failures: list[Failure] = []
    documents = frames.get("documents")
    annotations = frames.get("annotations")
    spans = frames.get("spans")
    relations = frames.get("relations")
    if documents is not None:
        failures += _document_failures(documents, seeds)
    if documents is not None and annotations is not None:
        missing = ~annotations[AnnotationsModel.doc_id].isin(documents[DocumentsModel.doc_id])
        failures += _rows(annotations[missing], "annotations", AnnotationsModel.annotation_id,
                          AnnotationsModel.doc_id, "annotation_doc_missing", "document {doc_id} not found")
    if spans is not None and annotations is not None:
        failures += _span_annotation_failures(spans, annotations)
    if spans is not None and documents is not None:
        failures += _span_text_failures(spans, documents)
    if spans is not None:
        failures += _attribute_failures(spans)
    if spans is not None and relations is not None:
        failures += _relation_failures(relations, spans)
    return failures


def _rows(frame: pd.DataFrame, table: str, key: str, column: str | None, check: str, template: str) -> list[Failure]:
    """One failure per row of ``frame``; ``template`` is formatted with the row's columns."""
    return [
        Failure(table, str(row[key]), column, check, template.format(**{str(k): v for k, v in row.items()}))
        for row in frame.head(MAX_FAILURES_PER_CHECK).to_dict("records")
    ]


def _document_failures(documents: pd.DataFrame, seeds: Sequence[Document]) -> list[Failure]:
    failures = []
    seed_by_id = {seed.doc_id: seed for seed in seeds}
    for row in documents.to_dict("records"):
        doc_id, text = row[DocumentsModel.doc_id], row[DocumentsModel.text]
        if sha256_text(text) != row[DocumentsModel.text_sha256]:
            failures.append(Failure("documents", doc_id, DocumentsModel.text_sha256, "doc_hash_mismatch",
                                    "text_sha256 does not match the text"))
        seed = seed_by_id.get(doc_id)
        if seed is not None and seed.text_sha256 != row[DocumentsModel.text_sha256]:
            failures.append(Failure("documents", doc_id, DocumentsModel.text, "doc_seed_mismatch",
                                    f"text differs from {seed.source_file}"))
    return failures


def _span_annotation_failures(spans: pd.DataFrame, annotations: pd.DataFrame) -> list[Failure]:
    submitted = annotations[annotations[AnnotationsModel.status] == "submitted"]
    joined = spans.merge(
        submitted[[AnnotationsModel.annotation_id, AnnotationsModel.doc_id]].rename(
            columns={AnnotationsModel.doc_id: "annotation_doc"}),
        on=SpansModel.annotation_id, how="left",
    )
    failures = _rows(joined[joined["annotation_doc"].isna()], "spans", SpansModel.span_id, SpansModel.annotation_id,
                     "span_annotation_missing", "annotation {annotation_id} is missing or not submitted")
    wrong_doc = joined["annotation_doc"].notna() & (joined["annotation_doc"] != joined[SpansModel.doc_id])
    failures += _rows(joined[wrong_doc], "spans", SpansModel.span_id, SpansModel.doc_id, "span_doc_mismatch",
                      "doc {doc_id} but its annotation is on {annotation_doc}")
    return failures


def _span_text_failures(spans: pd.DataFrame, documents: pd.DataFrame) -> list[Failure]:
    """Check ``text == documents.text[start:end]`` (and the quote context) without a per-span loop."""
    texts = dict(zip(documents[DocumentsModel.doc_id], documents[DocumentsModel.text], strict=True))
    failures: list[Failure] = []
    known = spans[SpansModel.doc_id].isin(list(texts))
    failures += _rows(spans[~known], "spans", SpansModel.span_id, SpansModel.doc_id, "span_doc_missing",
                      "document {doc_id} not found")
    corpus = DocumentCorpus(list(texts.values()))
    doc_index = spans.loc[known, SpansModel.doc_id].map({doc: i for i, doc in enumerate(texts)}).to_numpy()
    rows = spans[known]
    for offset in range(0, len(rows), SPAN_CHUNK):
        chunk = rows.iloc[offset : offset + SPAN_CHUNK]
        docs = doc_index[offset : offset + SPAN_CHUNK]
        starts = chunk[SpansModel.start].to_numpy(np.int64)
        ends = chunk[SpansModel.end].to_numpy(np.int64)
        in_range = corpus.in_range(docs, starts, ends)
        failures += _rows(chunk[~in_range], "spans", SpansModel.span_id, SpansModel.end, "span_out_of_range",
                          "{start}..{end} is past the end of document {doc_id}")
        bad_text = in_range & ~corpus.matches(docs, starts, ends, chunk[SpansModel.text])
        failures += _rows(chunk[bad_text], "spans", SpansModel.span_id, SpansModel.text, "span_text_mismatch",
                          "text {text!r} is not the document's text[{start}:{end}]")
        context_ok = corpus.context_matches(docs, starts, ends, chunk[SpansModel.prefix], chunk[SpansModel.suffix])
        bad_quote = in_range & ~bad_text & ~context_ok
        failures += _rows(chunk[bad_quote], "spans", SpansModel.span_id, SpansModel.prefix, "span_quote_mismatch",
                          "prefix/suffix are not the text around {start}..{end}")
    return failures


class DocumentCorpus:
    """All document texts as one UTF-8 buffer, with a code-point -> byte offset map, for vector checks."""

    CONTEXT = 32

    def __init__(self, texts: list[str]) -> None:
        encoded = [text.encode("utf-8") for text in texts]
        self.data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        self.lengths = np.array([len(text) for text in texts], dtype=np.int64)
        byte_bases = np.concatenate([[0], np.cumsum([len(raw) for raw in encoded])]).astype(np.int64)
        maps = []
        for text, base in zip(texts, byte_bases[:-1], strict=True):
            points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
            widths = 1 + (points >= 0x80) + (points >= 0x800) + (points >= 0x10000)
            maps.append(base + np.concatenate([[0], np.cumsum(widths, dtype=np.int64)]))
        self.map_bases = np.concatenate([[0], np.cumsum(self.lengths + 1)]).astype(np.int64)
        self.byte_of = np.concatenate(maps) if maps else np.zeros(0, dtype=np.int64)

    def in_range(self, docs: Array, starts: Array, ends: Array) -> Array:
        return np.asarray((starts >= 0) & (starts < ends) & (ends <= self.lengths[docs]), dtype=bool)

    def _bytes(self, docs: Array, starts: Array, ends: Array) -> tuple[Array, Array]:
        base = self.map_bases[docs]
        return self.byte_of[base + starts], self.byte_of[base + ends]

    def matches(self, docs: Array, starts: Array, ends: Array, texts: pd.Series) -> Array:
        """Row-wise ``texts[i] == doc_text[starts[i]:ends[i]]``; rows out of range compare False."""
        ok_range = self.in_range(docs, starts, ends)
        safe_starts = np.where(ok_range, starts, 0)
        safe_ends = np.where(ok_range, ends, 0)
        lo, hi = self._bytes(docs, safe_starts, safe_ends)
        return np.asarray(ok_range & _bytes_equal(self.data, lo, hi, texts), dtype=bool)

    def context_matches(self, docs: Array, starts: Array, ends: Array,
                        prefixes: pd.Series, suffixes: pd.Series) -> Array:
        ok_range = self.in_range(docs, starts, ends)
        safe_starts = np.where(ok_range, starts, 0)
        safe_ends = np.where(ok_range, ends, 0)
        pre_starts = np.maximum(0, safe_starts - self.CONTEXT)
        post_ends = np.minimum(self.lengths[docs], safe_ends + self.CONTEXT)
        pre_lo, pre_hi = self._bytes(docs, pre_starts, safe_starts)
        post_lo, post_hi = self._bytes(docs, safe_ends, post_ends)
        before = _bytes_equal(self.data, pre_lo, pre_hi, prefixes)
        return np.asarray(before & _bytes_equal(self.data, post_lo, post_hi, suffixes), dtype=bool)


def _bytes_equal(data: Array, lo: Array, hi: Array, texts: pd.Series) -> Array:
    """Row-wise: is UTF-8 of ``texts[i]`` equal to ``data[lo[i]:hi[i]]``? (nulls compare False)."""
    array = pa.array(texts, type=pa.large_string(), from_pandas=True)
    valid = ~np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    text_data = array.buffers()[2]
    text_bytes = np.frombuffer(text_data, dtype=np.uint8) if text_data is not None else np.zeros(0, np.uint8)
    text_lo, text_hi = offsets[:-1], offsets[1:]
    lengths = text_hi - text_lo
    same_length = valid & (lengths == hi - lo)
    rows = np.flatnonzero(same_length & (lengths > 0))
    equal = same_length.copy()
    if rows.size:
        row_lengths = lengths[rows]
        starts_in_gather = np.concatenate([[0], np.cumsum(row_lengths)[:-1]])
        steps = np.arange(row_lengths.sum()) - np.repeat(starts_in_gather, row_lengths)
        doc_positions = np.repeat(lo[rows], row_lengths) + steps
        text_positions = np.repeat(text_lo[rows], row_lengths) + steps
        mismatched = (data[doc_positions] != text_bytes[text_positions]).astype(np.int64)
        equal[rows] = np.add.reduceat(mismatched, starts_in_gather) == 0
    return np.asarray(equal, dtype=bool)


def _attribute_failures(spans: pd.DataFrame) -> list[Failure]:
    failures: list[Failure] = []
    for name in SCHEME.attribute_names:
        takes = [attr.label for attr in SCHEME.attributes if attr.name == name]
        required = [attr.label for attr in SCHEME.attributes if attr.name == name and attr.required]
        values = spans[name]
        missing = spans[SpansModel.label].isin(required) & values.isna()
        failures += _rows(spans[missing], "spans", SpansModel.span_id, name, "attribute_missing",
                          f"{{label}} span without {name}")
        extra = ~spans[SpansModel.label].isin(takes) & values.notna()
        failures += _rows(spans[extra], "spans", SpansModel.span_id, name, "attribute_not_applicable",
                          f"{{label}} span with {name}")
    return failures


def _relation_failures(relations: pd.DataFrame, spans: pd.DataFrame) -> list[Failure]:
    ends = spans[[SpansModel.span_id, SpansModel.annotation_id, SpansModel.label]].drop_duplicates(SpansModel.span_id)
    joined = relations.merge(
        ends.add_prefix("head_"), left_on=RelationsModel.head_span_id, right_on="head_span_id", how="left",
        suffixes=("", "_x"),
    ).merge(ends.add_prefix("tail_"), left_on=RelationsModel.tail_span_id, right_on="tail_span_id", how="left",
            suffixes=("", "_y"))
    failures: list[Failure] = []
    missing = joined["head_label"].isna() | joined["tail_label"].isna()
    failures += _rows(joined[missing], "relations", RelationsModel.relation_id, RelationsModel.head_span_id,
                      "relation_endpoint_missing", "{head_span_id} -> {tail_span_id}: endpoint not in spans")
    present = joined[~missing]
    cross = (present["head_annotation_id"] != present[RelationsModel.annotation_id]) | (
        present["tail_annotation_id"] != present[RelationsModel.annotation_id])
    failures += _rows(present[cross], "relations", RelationsModel.relation_id, RelationsModel.annotation_id,
                      "relation_cross_annotation", "joins spans outside annotation {annotation_id}")
    allowed = pd.DataFrame([(r.value, r.head, r.tail) for r in SCHEME.relations],
                           columns=[RelationsModel.type, "head_label", "tail_label"])
    labelled = present.merge(allowed.assign(allowed=True), how="left",
                             on=[RelationsModel.type, "head_label", "tail_label"])
    failures += _rows(labelled[labelled["allowed"].isna()], "relations", RelationsModel.relation_id,
                      RelationsModel.type, "relation_wrong_labels", "{type} joins {head_label} -> {tail_label}")
    limits = pd.DataFrame([(r.value, r.max_per_head) for r in SCHEME.relations if r.max_per_head],
                          columns=[RelationsModel.type, "limit"])
    per_head = relations.groupby([RelationsModel.head_span_id, RelationsModel.type]).size().reset_index(name="n")
    per_head = per_head.merge(limits, on=RelationsModel.type, how="inner")
    over = per_head[per_head["n"] > per_head["limit"]]
    failures += _rows(over, "relations", RelationsModel.head_span_id, RelationsModel.type, "relation_max_per_head",
                      "claim {head_span_id} has {n} {type} relations")
    return failures
