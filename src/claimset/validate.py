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

from claimset.codes import CrossCheck
from claimset.dataset import resolve_scheme
from claimset.errors import ClaimsetError
from claimset.models import ROW_KEYS, AnnotationsModel, DocumentsModel, RelationsModel, SpansModel, table_schema
from claimset.scheme import Scheme
from claimset.seeds import Document, sha256_text
from claimset.tables import TABLES, table_path

Array = npt.NDArray[Any]
MAX_FAILURES_PER_CHECK = 1000
SPAN_CHUNK = 16_384  # spans compared at once: the byte gathers take about 30 bytes per character

CROSS_CHECKS = CrossCheck.describe()  # code -> description (the codes live in claimset.codes)


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


STRUCTURAL = {"column_in_dataframe", "column_in_schema", "dtype"}


def _schema_failures(name: str, frame: pd.DataFrame, schema: Any) -> tuple[pd.DataFrame | None, list[Failure]]:
    """Validate one table (or one batch of it) lazily against its model; return the frame if usable, and failures."""
    model = schema
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
        usable = not any(f.check in STRUCTURAL for f in failures)
        return (frame if usable else None), failures


BATCH_ROWS = 65_536  # rows of spans, relations and rejects validated at once
DOCUMENT_BATCH_ROWS = 1_024  # documents are long: fewer rows at once


def validate_dataset(directory: Path, seeds: Sequence[Document] = (), scheme: Scheme | None = None, *,
                     scheme_file: Path | None = None) -> ValidationReport:
    """Check every table of ``directory`` and their consistency; ``seeds`` are checked against documents.

    Tables are read and checked in batches of rows (:data:`BATCH_ROWS`), so memory stays bounded
    whatever the size of the dataset: the per-row pandera checks and the cross-table checks run per
    batch, and what spans several batches is kept as compact arrays of 64-bit hashes (uniqueness of
    key columns, relation endpoints, relations per claim). Only ``annotations`` is read whole.
    """
    if not directory.is_dir():
        raise ClaimsetError(f"{directory}: dataset directory not found")
    if scheme is None:  # the dataset's own (scheme_file must match it), see claimset.dataset
        scheme, _ = resolve_scheme(directory, scheme_file)
    report = ValidationReport(directory=str(directory))
    files = _open_tables(directory, report)
    run = _BatchedValidation(directory, files, seeds, scheme)
    run.run()
    for name in TABLES:
        report.failures.extend(run.schema[name])
    report.failures.extend(run.cross_failures())
    for name, failure in run.unreadable:
        report.rows.pop(name, None)
        report.failures.append(failure)
    return report


def _open_tables(directory: Path, report: ValidationReport) -> dict[str, pq.ParquetFile]:
    files: dict[str, pq.ParquetFile] = {}
    for name in TABLES:
        path = table_path(directory, name)
        if not path.exists():
            report.failures.append(Failure(name, None, None, CrossCheck.TABLE_MISSING, f"{path.name} not found"))
            continue
        try:
            files[name] = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as exc:
            report.failures.append(
                Failure(name, None, None, CrossCheck.TABLE_UNREADABLE, f"{path.name}: {str(exc).splitlines()[0]}")
            )
            continue
        report.rows[name] = files[name].metadata.num_rows
    return files


def _hash(values: pd.Series) -> Array:
    """64-bit hashes of a column's values (pandas' hash_array), for set operations in numpy."""
    return np.asarray(pd.util.hash_array(np.asarray(values.astype(object), dtype=object), categorize=False),
                      dtype=np.uint64)


def _in_sorted(sorted_hashes: Array, hashes: Array) -> tuple[Array, Array]:
    """For each hash: is it in ``sorted_hashes``, and where."""
    if sorted_hashes.size == 0:
        return np.zeros(len(hashes), dtype=bool), np.zeros(len(hashes), dtype=np.int64)
    where = np.minimum(np.searchsorted(sorted_hashes, hashes), sorted_hashes.size - 1)
    return sorted_hashes[where] == hashes, where


def _row_group_ranges(file: pq.ParquetFile, column: str) -> list[tuple[str, str] | None]:
    """(min, max) of a string column per row group, from the Parquet statistics; None where unknown."""
    index = file.schema_arrow.get_field_index(column)
    ranges: list[tuple[str, str] | None] = []
    for number in range(file.metadata.num_row_groups):
        stats = file.metadata.row_group(number).column(index).statistics if index >= 0 else None
        if stats is None or not stats.has_min_max or not isinstance(stats.min, str):
            ranges.append(None)
        else:
            ranges.append((stats.min, stats.max))
    return ranges


# Slots of cross-table failures, in the order they are reported.
_CROSS_ORDER = ("documents", CrossCheck.ANNOTATION_DOC_MISSING, "span_annotation", "span_text", "attributes",
                CrossCheck.RELATION_ENDPOINT_MISSING, CrossCheck.RELATION_CROSS_ANNOTATION,
                CrossCheck.RELATION_WRONG_LABELS,
                CrossCheck.RELATION_MAX_PER_HEAD)


class _BatchedValidation:
    def __init__(self, directory: Path, files: dict[str, pq.ParquetFile], seeds: Sequence[Document],
                 scheme: Scheme) -> None:
        self.scheme = scheme
        self.directory = directory
        self.files = files
        self.seeds = seeds
        self.schema: dict[str, list[Failure]] = {name: [] for name in TABLES}
        self.usable: dict[str, bool] = {name: name in files for name in TABLES}
        self.slots: dict[str, list[Failure]] = {slot: [] for slot in _CROSS_ORDER}
        self.unreadable: list[tuple[str, Failure]] = []
        self.unique_hashes: dict[str, list[Array]] = {}
        self.annotations: pd.DataFrame | None = None
        self.doc_ids: pd.DataFrame | None = None
        # spans seen, for relation checks: hash of span_id, annotation_id, label code (-1: null)
        self.span_parts: list[tuple[Array, Array, Array]] = []
        self.labels: dict[str, int] = {}
        self.heads: list[tuple[Array, Array]] = []  # (hash of head_span_id, relation type code)
        self.unique_column: dict[str, str] = {}  # table -> its unique key column, checked globally
        self.docs_done = False
        self.span_lookup: tuple[Array, Array, Array] | None = None
        self.doc_ranges: list[tuple[str, str] | None] | None = None

    # -- driver ------------------------------------------------------------------------------------
    def run(self) -> None:
        for name in TABLES:
            if name not in self.files:
                continue
            try:
                self._table(name)
                if name == "annotations":
                    self._documents_ready()
            except (OSError, pa.ArrowException) as exc:
                self.usable[name] = False
                path = table_path(self.directory, name)
                self.unreadable.append((name, Failure(name, None, None, CrossCheck.TABLE_UNREADABLE,
                                                      f"{path.name}: {str(exc).splitlines()[0]}")))
        self._documents_ready()
        self._finish_uniqueness()
        self._finish_relations()

    def _schema_for(self, name: str) -> Any:
        """The table's pandera schema without its uniqueness checks, which are global (see _finish_uniqueness)."""
        schema = table_schema(name, self.scheme)
        for column_name, column in schema.columns.items():
            if column.unique:
                schema = schema.update_column(column_name, unique=False)
                self.unique_column[name] = column_name
        return schema

    def _table(self, name: str) -> None:
        if name == "annotations":  # small (one row per annotator pass) and joined by most checks: read whole
            frame = self.files[name].read().to_pandas()
            coerced, failures = _schema_failures(name, frame, table_schema(name, self.scheme))
            self.schema[name].extend(failures)
            self.usable[name] = coerced is not None
            if coerced is not None:
                self.annotations = coerced
            return
        schema = self._schema_for(name)
        batch_rows = DOCUMENT_BATCH_ROWS if name == "documents" else BATCH_ROWS
        cap = MAX_FAILURES_PER_CHECK * 10
        batches = self.files[name].iter_batches(batch_size=batch_rows)
        empty = [self.files[name].schema_arrow.empty_table()] if self.files[name].metadata.num_rows == 0 else []
        for number, batch in enumerate(empty or batches):
            frame = batch.to_pandas()
            coerced, failures = _schema_failures(name, frame, schema)
            if number:  # a missing or extra column is reported once, not once per batch
                failures = [f for f in failures if f.check not in {"column_in_dataframe", "column_in_schema"}]
            room = cap - len(self.schema[name])
            self.schema[name].extend(failures[: max(0, room)])
            if coerced is None:
                self.usable[name] = False
            unique = self.unique_column.get(name)
            if unique is not None and unique in frame.columns:
                self.unique_hashes.setdefault(f"{name}.{unique}", []).append(_hash(frame[unique]))
            if self.usable[name]:
                getattr(self, f"_{name}_checks")(frame)
            del frame, coerced
            pa.default_memory_pool().release_unused()  # mimalloc keeps freed pages otherwise
        if not self.usable[name]:  # cross checks need every batch usable, as they needed the whole table
            self._discard(name)

    def _discard(self, name: str) -> None:
        owned = {"documents": ("documents",), "spans": ("span_annotation", "span_text", "attributes"),
                 "relations": (CrossCheck.RELATION_ENDPOINT_MISSING, CrossCheck.RELATION_CROSS_ANNOTATION,
                               CrossCheck.RELATION_WRONG_LABELS,
                               CrossCheck.RELATION_MAX_PER_HEAD), "rejects": ()}[name]
        for slot in owned:
            self.slots[slot] = []
        if name == "documents":
            self.doc_ids = None
        if name == "spans":
            self.span_parts = []
        if name == "relations":
            self.heads = []

    def _add(self, slot: str, failures: list[Failure]) -> None:
        room = MAX_FAILURES_PER_CHECK * 10 - len(self.slots[slot])
        if room > 0:
            self.slots[slot].extend(failures[:room])

    def cross_failures(self) -> list[Failure]:
        failures: list[Failure] = []
        for slot in _CROSS_ORDER:
            failures.extend(self.slots[slot])
        return failures

    # -- per-table checks ------------------------------------------------------------------------------
    def _documents_checks(self, frame: pd.DataFrame) -> None:
        self._add("documents", _document_failures(frame, self.seeds))
        ids = frame[[DocumentsModel.doc_id]]
        self.doc_ids = ids if self.doc_ids is None else pd.concat([self.doc_ids, ids], ignore_index=True)

    def _documents_ready(self) -> None:
        """annotation_doc_missing, once documents and annotations have both been read."""
        if self.docs_done:
            return
        self.docs_done = True
        if self.usable["documents"] and self.doc_ids is not None and self.annotations is not None \
                and self.usable["annotations"]:
            annotations = self.annotations
            missing = ~annotations[AnnotationsModel.doc_id].isin(self.doc_ids[DocumentsModel.doc_id])
            self._add(CrossCheck.ANNOTATION_DOC_MISSING, _rows(
                annotations[missing], "annotations", AnnotationsModel.annotation_id, AnnotationsModel.doc_id,
                CrossCheck.ANNOTATION_DOC_MISSING, "document {doc_id} not found"))

    def _spans_checks(self, spans: pd.DataFrame) -> None:
        if self.annotations is not None and self.usable["annotations"]:
            self._add("span_annotation", _span_annotation_failures(spans, self.annotations))
        if self.usable["documents"] and "documents" in self.files:
            self._add("span_text", _span_text_failures(spans, self._documents_of(spans)))
        self._add("attributes", _attribute_failures(spans, self.scheme))
        labels = spans[SpansModel.label]
        for value in labels.dropna().unique():
            self.labels.setdefault(str(value), len(self.labels))
        codes = labels.map(self.labels).fillna(-1).to_numpy(np.int64)
        annotation_ids = pd.to_numeric(spans[SpansModel.annotation_id], errors="coerce").to_numpy(np.float64)
        self.span_parts.append((_hash(spans[SpansModel.span_id]), annotation_ids, codes))

    def _documents_of(self, spans: pd.DataFrame) -> pd.DataFrame:
        """The documents the batch's spans refer to, reading only the row groups whose doc_id range holds one."""
        wanted = np.sort(np.asarray(spans[SpansModel.doc_id].dropna().unique().astype(str), dtype=object))
        file = self.files["documents"]
        if self.doc_ranges is None:
            self.doc_ranges = _row_group_ranges(file, DocumentsModel.doc_id)
        groups = []
        for number, bounds in enumerate(self.doc_ranges):
            if bounds is None:
                groups.append(number)
            elif len(wanted):
                low = np.searchsorted(wanted, bounds[0], side="left")
                if low < len(wanted) and wanted[low] <= bounds[1]:
                    groups.append(number)
        table = file.read_row_groups(groups, columns=[DocumentsModel.doc_id, DocumentsModel.text]) if groups \
            else file.schema_arrow.empty_table().select([DocumentsModel.doc_id, DocumentsModel.text])
        frame: pd.DataFrame = table.to_pandas()
        return frame[frame[DocumentsModel.doc_id].isin(wanted)]

    def _relations_checks(self, relations: pd.DataFrame) -> None:
        if not self.usable["spans"] or "spans" not in self.files:
            return
        if self.span_lookup is None:
            self.span_lookup = self._build_span_lookup()
        hashes, annotation_ids, label_codes = self.span_lookup
        names = np.array([*self.labels, None], dtype=object)  # code -1 -> None

        def endpoint(column: str) -> tuple[Array, Array, Array]:
            found, where = _in_sorted(hashes, _hash(relations[column]))
            codes = np.where(found, label_codes[where], -1)
            return found & (codes >= 0), np.where(found, annotation_ids[where], np.nan), names[codes]

        head_ok, head_ann, head_label = endpoint(RelationsModel.head_span_id)
        tail_ok, tail_ann, tail_label = endpoint(RelationsModel.tail_span_id)
        joined = relations.assign(head_annotation_id=head_ann, tail_annotation_id=tail_ann,
                                  head_label=head_label, tail_label=tail_label)
        missing = ~(head_ok & tail_ok)
        self._add(CrossCheck.RELATION_ENDPOINT_MISSING, _rows(
            joined[missing], "relations", RelationsModel.relation_id, RelationsModel.head_span_id,
            CrossCheck.RELATION_ENDPOINT_MISSING, "{head_span_id} -> {tail_span_id}: endpoint not in spans"))
        present = joined[~missing]
        own = pd.to_numeric(present[RelationsModel.annotation_id], errors="coerce")
        cross = (present["head_annotation_id"] != own) | (present["tail_annotation_id"] != own)
        self._add(CrossCheck.RELATION_CROSS_ANNOTATION, _rows(
            present[cross], "relations", RelationsModel.relation_id, RelationsModel.annotation_id,
            CrossCheck.RELATION_CROSS_ANNOTATION, "joins spans outside annotation {annotation_id}"))
        allowed = pd.MultiIndex.from_tuples([(r.value, r.head, r.tail) for r in self.scheme.relations])
        triples = pd.MultiIndex.from_arrays([present[RelationsModel.type].astype(object),
                                             present["head_label"].astype(object),
                                             present["tail_label"].astype(object)])
        self._add(CrossCheck.RELATION_WRONG_LABELS, _rows(
            present[~triples.isin(allowed)], "relations", RelationsModel.relation_id, RelationsModel.type,
            CrossCheck.RELATION_WRONG_LABELS, "{type} joins {head_label} -> {tail_label}"))
        limits = {r.value: i for i, r in enumerate(self.scheme.relations) if r.max_per_head}
        type_codes = relations[RelationsModel.type].map(limits)
        limited = type_codes.notna().to_numpy() & relations[RelationsModel.head_span_id].notna().to_numpy()
        if limited.any():
            self.heads.append((_hash(relations[RelationsModel.head_span_id][limited]),
                               type_codes[limited].to_numpy(np.int64)))

    def _rejects_checks(self, rejects: pd.DataFrame) -> None:
        pass  # rejects have no cross-table checks

    def _build_span_lookup(self) -> tuple[Array, Array, Array]:
        """Spans by hash of span_id, the first row of each id (as drop_duplicates would keep)."""
        if not self.span_parts:
            return np.zeros(0, np.uint64), np.zeros(0, np.float64), np.zeros(0, np.int64)
        hashes = np.concatenate([part[0] for part in self.span_parts])
        annotation_ids = np.concatenate([part[1] for part in self.span_parts])
        codes = np.concatenate([part[2] for part in self.span_parts])
        self.span_parts = []
        order = np.argsort(hashes, kind="stable")
        hashes = hashes[order]
        first = _first_of_runs(hashes)
        keep = order[first]
        return hashes[first], annotation_ids[keep], codes[keep]

    # -- checks over whole tables, from the hashes gathered ------------------------------------------
    def _finish_uniqueness(self) -> None:
        """pandera's ``unique`` checks, over every batch: one failure per row whose value repeats."""
        for name, column in self.unique_column.items():
            parts = self.unique_hashes.get(f"{name}.{column}", [])
            if not parts:
                continue
            hashes = np.concatenate(parts)
            ordered = np.sort(hashes)
            repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
            if repeated.size == 0:
                continue
            suspects_seen: list[tuple[Any, Any]] = []  # (value, row key) of rows whose hash repeats
            key_column = ROW_KEYS[name]
            for batch in self.files[name].iter_batches(batch_size=BATCH_ROWS, columns=list(dict.fromkeys(
                    [column, key_column]))):
                frame = batch.to_pandas()
                suspects = frame[_in_sorted(repeated, _hash(frame[column]))[0]]
                suspects_seen += list(zip(suspects[column], suspects[key_column], strict=True))
            counts: dict[Any, int] = {}
            for value, _ in suspects_seen:
                counts[value] = counts.get(value, 0) + 1
            self.schema[name][:0] = [
                Failure(name, str(key), column, "field_uniqueness", f"field_uniqueness: failure case {value!r}")
                for value, key in suspects_seen if counts[value] > 1
            ][: MAX_FAILURES_PER_CHECK * 10]

    def _finish_relations(self) -> None:
        """relation_max_per_head: relations of a limited type per claim, counted over every batch."""
        if not self.heads or not self.usable["relations"] or not self.usable["spans"]:
            return
        hashes = np.concatenate([part[0] for part in self.heads])
        types = np.concatenate([part[1] for part in self.heads])
        order = np.lexsort((types, hashes))
        hashes, types = hashes[order], types[order]
        starts = np.flatnonzero(_first_of_runs(hashes, types))
        sizes = np.diff(np.append(starts, hashes.size))
        limits = np.array([r.max_per_head or 0 for r in self.scheme.relations])
        over = starts[sizes > limits[types[starts]]]
        if over.size == 0:
            return
        over_keys = set(zip(hashes[over].tolist(), types[over].tolist(), strict=True))
        over_hashes = np.unique(hashes[over])
        rows: dict[tuple[str, str], int] = {}
        names = [r.value for r in self.scheme.relations]
        for batch in self.files["relations"].iter_batches(
                batch_size=BATCH_ROWS, columns=[RelationsModel.head_span_id, RelationsModel.type]):
            frame = batch.to_pandas().dropna()
            frame = frame[_in_sorted(over_hashes, _hash(frame[RelationsModel.head_span_id]))[0]]
            for head, rel_type, h in zip(frame[RelationsModel.head_span_id], frame[RelationsModel.type],
                                         _hash(frame[RelationsModel.head_span_id]), strict=True):
                if rel_type in names and (int(h), names.index(rel_type)) in over_keys:
                    rows[(head, rel_type)] = rows.get((head, rel_type), 0) + 1
        limit_of = {r.value: r.max_per_head for r in self.scheme.relations}
        over_frame = pd.DataFrame(
            [(head, rel_type, n) for (head, rel_type), n in sorted(rows.items()) if n > (limit_of[rel_type] or 0)],
            columns=[RelationsModel.head_span_id, RelationsModel.type, "n"])
        self._add(CrossCheck.RELATION_MAX_PER_HEAD, _rows(
            over_frame, "relations", RelationsModel.head_span_id, RelationsModel.type, CrossCheck.RELATION_MAX_PER_HEAD,
            "claim {head_span_id} has {n} {type} relations"))


def _rows(frame: pd.DataFrame, table: str, key: str, column: str | None, check: str, template: str) -> list[Failure]:
    """One failure per row of ``frame``; ``template`` is formatted with the row's columns."""
    if len(frame) == 0:  # the common case: nothing failed (and to_dict of an empty frame is not free)
        return []
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
            failures.append(Failure("documents", doc_id, DocumentsModel.text_sha256, CrossCheck.DOC_HASH_MISMATCH,
                                    "text_sha256 does not match the text"))
        seed = seed_by_id.get(doc_id)
        if seed is not None and seed.text_sha256 != row[DocumentsModel.text_sha256]:
            failures.append(Failure("documents", doc_id, DocumentsModel.text, CrossCheck.DOC_SEED_MISMATCH,
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
                     CrossCheck.SPAN_ANNOTATION_MISSING, "annotation {annotation_id} is missing or not submitted")
    wrong_doc = joined["annotation_doc"].notna() & (joined["annotation_doc"] != joined[SpansModel.doc_id])
    failures += _rows(joined[wrong_doc], "spans", SpansModel.span_id, SpansModel.doc_id, CrossCheck.SPAN_DOC_MISMATCH,
                      "doc {doc_id} but its annotation is on {annotation_doc}")
    return failures


def _span_text_failures(spans: pd.DataFrame, documents: pd.DataFrame) -> list[Failure]:
    """Check ``text == documents.text[start:end]`` (and the quote context) without a per-span loop."""
    texts = dict(zip(documents[DocumentsModel.doc_id], documents[DocumentsModel.text], strict=True))
    failures: list[Failure] = []
    known = spans[SpansModel.doc_id].isin(list(texts))
    failures += _rows(spans[~known], "spans", SpansModel.span_id, SpansModel.doc_id, CrossCheck.SPAN_DOC_MISSING,
                      "document {doc_id} not found")
    corpus = DocumentCorpus(list(texts.values()))
    doc_index = spans.loc[known, SpansModel.doc_id].map({doc: i for i, doc in enumerate(texts)}).to_numpy()
    rows = spans[known]
    for offset in range(0, len(rows), SPAN_CHUNK):
        chunk = rows.iloc[offset : offset + SPAN_CHUNK]
        docs = doc_index[offset : offset + SPAN_CHUNK]
        starts = chunk[SpansModel.start].to_numpy(np.int64)
        ends = chunk[SpansModel.end].to_numpy(np.int64)
        # the masks are numpy bool arrays: a chunk without failures skips selecting empty frames
        in_range = corpus.in_range(docs, starts, ends)
        if not in_range.all():
            failures += _rows(chunk[~in_range], "spans", SpansModel.span_id, SpansModel.end,
                              CrossCheck.SPAN_OUT_OF_RANGE,
                              "{start}..{end} is past the end of document {doc_id}")
        bad_text = in_range & ~corpus.matches(docs, starts, ends, chunk[SpansModel.text])
        if bad_text.any():
            failures += _rows(chunk[bad_text], "spans", SpansModel.span_id, SpansModel.text,
                              CrossCheck.SPAN_TEXT_MISMATCH,
                              "text {text!r} is not the document's text[{start}:{end}]")
        context_ok = corpus.context_matches(docs, starts, ends, chunk[SpansModel.prefix], chunk[SpansModel.suffix])
        bad_quote = in_range & ~bad_text & ~context_ok
        if bad_quote.any():
            failures += _rows(chunk[bad_quote], "spans", SpansModel.span_id, SpansModel.prefix,
                              CrossCheck.SPAN_QUOTE_MISMATCH, "prefix/suffix are not the text around {start}..{end}")
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
    if isinstance(array, pa.ChunkedArray):  # an Arrow-backed column read from several row groups
        array = array.combine_chunks()
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


def _attribute_failures(spans: pd.DataFrame, scheme: Scheme) -> list[Failure]:
    failures: list[Failure] = []
    for name in scheme.attribute_names:
        takes = [attr.label for attr in scheme.attributes if attr.name == name]
        required = [attr.label for attr in scheme.attributes if attr.name == name and attr.required]
        values = spans[name]
        missing = spans[SpansModel.label].isin(required) & values.isna()
        failures += _rows(spans[missing], "spans", SpansModel.span_id, name, CrossCheck.ATTRIBUTE_MISSING,
                          f"{{label}} span without {name}")
        extra = ~spans[SpansModel.label].isin(takes) & values.notna()
        failures += _rows(spans[extra], "spans", SpansModel.span_id, name, CrossCheck.ATTRIBUTE_NOT_APPLICABLE,
                          f"{{label}} span with {name}")
    return failures


def _first_of_runs(*keys: Array) -> Array:
    """For rows sorted by ``keys``: True where a row starts a new run of equal keys (empty in, empty out)."""
    first = np.ones(len(keys[0]), dtype=bool)
    if first.size > 1:
        first[1:] = np.logical_or.reduce([key[1:] != key[:-1] for key in keys])
    return first
