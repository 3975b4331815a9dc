"""Validation of a dataset directory: every table against its declared types and model, then across tables.

:func:`validate_dataset` never stops at the first problem: it collects every failure into a
:class:`ValidationReport` (lazy validation), and never prints. Each failure has a stable ``check``
code: pandera's check names for single-table checks, and the codes in :data:`CROSS_CHECKS`.

Tables are read in batches of rows (:data:`BATCH_ROWS`), table by table in the order of
:data:`claimset.tables.TABLES`, so memory stays bounded whatever the size of the dataset; only
``annotations`` (one row per annotator pass, joined by most checks) is read whole. Two kinds of
object consume the batches:

- a :class:`_TableCheck` per table file compares the file's Arrow column types with the declared
  ones (before any cast: coercion would turn 65.5 into 65 and "no" into True), validates each batch
  against the table's pandera model, and checks the uniqueness of its key column over every batch
  from 64-bit hashes;
- a :class:`_Check` per cross-table check, shaped like frictionless-py's checks (``validate_row``,
  then ``validate_end``): it declares the ``tables`` it reads and the ``codes`` it reports, is handed
  every batch of those tables (:meth:`_Check.batch`), and reports what needs every batch in
  :meth:`_Check.finish`. What spans batches is kept as compact arrays of 64-bit hashes. A check one
  of whose tables is missing, unreadable or unusable (a missing column, a wrong type) is dropped as
  a whole: its findings would be noise.

At most :data:`MAX_FAILURES_PER_CHECK` failures of one code are kept per table and per check
(:class:`_Failures`).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

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
from claimset.offsets import QUOTE_CONTEXT
from claimset.scheme import Scheme
from claimset.seeds import Document, sha256_text
from claimset.tables import TABLES, relation_id, span_id, table_path

Array = npt.NDArray[Any]
MAX_FAILURES_PER_CHECK = 1000  # failures kept per code, per table (single-table checks) or per cross-table check
BATCH_ROWS = 65_536  # rows of spans, relations and rejects validated at once
DOCUMENT_BATCH_ROWS = 1_024  # documents are long: fewer rows at once
SPAN_CHUNK = 16_384  # spans compared at once: the byte gathers take about 30 bytes per character
ID_CHUNK = 16_384  # relations whose ids are rebuilt in Python at once: bounds the strings alive

CROSS_CHECKS = CrossCheck.describe()  # code -> description (the codes live in claimset.codes)

STRUCTURAL = {"column_in_dataframe", "column_in_schema", "dtype"}  # pandera failures that make a table unusable
ONCE_PER_TABLE = {"column_in_dataframe", "column_in_schema"}  # reported for the first batch, not for every batch
STRING_TYPES = (pa.string(), pa.large_string())
FEW_VALUES = {RelationsModel.type}  # columns that repeat a few values: hashed once per value


@dataclass(frozen=True)
class Failure:
    table: str
    key: str | None  # value of the row's key column (see claimset.models.ROW_KEYS)
    column: str | None
    check: str  # stable code
    message: str

    def describe(self) -> str:
        """One line: ``table[key].column: check: message`` (or ``table: check: message`` without a key)."""
        where = f"{self.table}[{self.key}].{self.column}" if self.key else self.table
        return f"{where}: {self.check}: {self.message}"


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


def validate_dataset(directory: Path, seeds: Sequence[Document] = (), scheme: Scheme | None = None, *,
                     scheme_file: Path | None = None, derived_claims: pa.Table | None = None) -> ValidationReport:
    """Check every table of ``directory`` and their consistency; ``seeds`` are checked against documents.

    The allowed labels, relation types and attributes are those of ``scheme``; without it, of the scheme
    the dataset records (``scheme_file``, if given, must match it; see :mod:`claimset.dataset`).
    ``derived_claims``: the claims table a caller has just derived from these tables, to compare
    ``claims.parquet`` with instead of deriving it again.
    """
    if not directory.is_dir():
        raise ClaimsetError(f"{directory}: dataset directory not found")
    if scheme is None:
        scheme, _ = resolve_scheme(directory, scheme_file)
    report = ValidationReport(directory=str(directory))
    files = _open_tables(directory, report)
    run = _Validation(directory, files, seeds, scheme)
    run.run()
    report.failures.extend(run.failures())
    for name, failure in run.unreadable.items():
        report.rows.pop(name, None)
        report.failures.append(failure)
    if not report.failures:  # the derivation needs sound tables; with failures, fix those first
        report.failures.extend(_claims_failures(directory, scheme, report, derived_claims))
        report.failures.extend(_croissant_failures(directory))
    return report


def _croissant_failures(directory: Path) -> list[Failure]:
    """The files ``croissant.json`` lists (when the folder has one, as the gold does) against their SHA-256."""
    path = directory / "croissant.json"
    if not path.exists():
        return []
    try:
        files = [(item["contentUrl"], item["sha256"]) for item in json.loads(path.read_text(encoding="utf-8"))
                 ["distribution"] if "sha256" in item]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        return [Failure("croissant", None, None, CrossCheck.CROISSANT_STALE, f"{path.name}: not readable ({exc})")]
    failures = []
    root = directory.resolve()
    for url, digest in files:
        target = (directory / str(url)).resolve()
        if root not in target.parents or not target.is_file():
            failures.append(Failure("croissant", str(url), None, CrossCheck.CROISSANT_STALE, f"{url}: no such file "
                                    "in the dataset"))
        elif hashlib.sha256(target.read_bytes()).hexdigest() != digest:
            failures.append(Failure("croissant", str(url), None, CrossCheck.CROISSANT_STALE,
                                    f"{url}: its SHA-256 is not the one recorded (run claimset build --croissant)"))
    return failures


def _claims_failures(directory: Path, scheme: Scheme, report: ValidationReport,
                     derived: pa.Table | None) -> list[Failure]:
    """claims.parquet against the claims table derived afresh from the other tables (:mod:`claimset.claims`)."""
    from claimset.dataset import Dataset

    path = table_path(directory, "claims")
    if not path.exists():
        return [Failure("claims", None, None, CrossCheck.TABLE_MISSING, f"{path.name} not found")]
    try:
        stored = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        return [_unreadable(directory, "claims", exc)]
    report.rows["claims"] = stored.num_rows
    if derived is None:
        derived = Dataset(directory, scheme).claims
    if not stored.schema.equals(derived.schema):
        return [Failure("claims", None, None, CrossCheck.COLUMN_TYPE_MISMATCH,
                        f"{path.name} columns {stored.schema.names} with their types are not the claims table's")]
    if stored.equals(derived):
        return []
    return [_first_claim_difference(stored.to_pylist(), derived.to_pylist())]


def _first_claim_difference(stored: list[dict[str, Any]], derived: list[dict[str, Any]]) -> Failure:
    for number, (kept, fresh) in enumerate(zip(stored, derived, strict=False)):
        if kept != fresh:
            column = next(name for name in fresh if kept.get(name) != fresh[name])
            return Failure("claims", str(kept["claim_id"]), column, CrossCheck.CLAIMS_STALE,
                           f"row {number}: {column} is {kept[column]!r}, derived {fresh[column]!r}")
    return Failure("claims", None, None, CrossCheck.CLAIMS_STALE,
                   f"{len(stored)} rows where the tables give {len(derived)} (rebuild with claimset build or import)")


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
            report.failures.append(_unreadable(directory, name, exc))
            continue
        report.rows[name] = files[name].metadata.num_rows
    return files


def _unreadable(directory: Path, name: str, exc: Exception) -> Failure:
    path = table_path(directory, name)
    return Failure(name, None, None, CrossCheck.TABLE_UNREADABLE, f"{path.name}: {str(exc).splitlines()[0]}")


class _Validation:
    """One run: each table's batches go to its :class:`_TableCheck`, then to the cross-table checks reading it."""

    def __init__(self, directory: Path, files: dict[str, pq.ParquetFile], seeds: Sequence[Document],
                 scheme: Scheme) -> None:
        self.directory = directory
        self.tables = {name: _TableCheck(name, file, scheme) for name, file in files.items()}  # in TABLES order
        self.checks = [check(files, seeds, scheme) for check in CHECKS if set(check.tables) <= files.keys()]
        self.unreadable: dict[str, Failure] = {}

    def run(self) -> None:
        for name, table in self.tables.items():
            self._read(table)
            if not table.usable:
                self.checks = [check for check in self.checks if name not in check.tables]
        for name, table in self.tables.items():
            if name not in self.unreadable:
                table.finish()
        for check in self.checks:
            check.finish()

    def _read(self, table: _TableCheck) -> None:
        readers = [check for check in self.checks if table.name in check.tables]

        def feed(frame: pd.DataFrame) -> None:
            for check in readers:
                check.batch(table.name, frame)

        try:
            table.read(feed)
        except (OSError, pa.ArrowException) as exc:
            table.usable = False
            self.unreadable[table.name] = _unreadable(self.directory, table.name, exc)

    def failures(self) -> list[Failure]:
        """Single-table failures table by table, then each cross-table check's, in the order of :data:`CHECKS`."""
        single = [failure for table in self.tables.values() for failure in table.report()]
        return single + [failure for check in self.checks for failure in check.report()]


class _Failures:
    """Failures in the order found, keeping at most :data:`MAX_FAILURES_PER_CHECK` of each code."""

    def __init__(self) -> None:
        self.items: list[Failure] = []
        self.counts: Counter[str] = Counter()

    def room(self, check: str) -> int:
        return MAX_FAILURES_PER_CHECK - self.counts[check]

    def add(self, failures: Iterable[Failure]) -> None:
        for failure in failures:
            if self.room(failure.check) > 0:
                self.items.append(failure)
                self.counts[failure.check] += 1

    def add_rows(self, frame: pd.DataFrame, table: str, key: str, column: str | None, check: str,
                 template: str) -> None:
        """One failure per row of ``frame`` (while there is room); ``template`` is formatted with the row's columns."""
        rows = frame.head(self.room(check))
        if len(rows) == 0:  # the common case: nothing failed (and to_dict of an empty frame is not free)
            return
        self.add(Failure(table, str(row[key]), column, check, template.format(**{str(k): v for k, v in row.items()}))
                 for row in rows.to_dict("records"))


# -- single-table checks -------------------------------------------------------------------------------

class _TableCheck:
    """The checks of one table file on its own: its column types, its pandera model, its unique key column."""

    def __init__(self, name: str, file: pq.ParquetFile, scheme: Scheme) -> None:
        self.name = name
        self.file = file
        self.whole = name == "annotations"  # small and joined by most checks: read and validated whole
        schema = table_schema(name, scheme)
        self.type_failures = _column_type_failures(name, file.schema_arrow, schema)
        self.usable = not self.type_failures
        self.unique = None if self.whole else next((c for c, column in schema.columns.items() if column.unique), None)
        # uniqueness is checked over every batch (see finish), not by pandera batch by batch
        self.schema = schema if self.unique is None else schema.update_column(self.unique, unique=False)
        self.unique_hashes: list[Array] = []
        self.repeats = _Failures()
        self.failures = _Failures()

    def read(self, feed: Callable[[pd.DataFrame], None]) -> None:
        """Validate the table batch by batch; ``feed`` each batch, as validated, while the table is usable."""
        for number, frame in enumerate(self._batches()):
            skip = ONCE_PER_TABLE if number else set()
            validated = _validate_frame(self.name, frame, self.schema, self.failures, skip)
            self.usable = self.usable and validated is not None
            if self.unique is not None and self.unique in frame.columns:
                self.unique_hashes.append(_hash(frame[self.unique]))
            if validated is not None and self.usable:
                feed(validated)
            del frame, validated
            pa.default_memory_pool().release_unused()  # mimalloc keeps freed pages otherwise

    def _batches(self) -> Iterator[pd.DataFrame]:
        if self.whole:
            yield self.file.read().to_pandas()
        elif self.file.metadata.num_rows == 0:
            yield self.file.schema_arrow.empty_table().to_pandas()
        else:
            batch_rows = DOCUMENT_BATCH_ROWS if self.name == "documents" else BATCH_ROWS
            for batch in self.file.iter_batches(batch_size=batch_rows):
                yield batch.to_pandas()

    def finish(self) -> None:
        """pandera's ``unique`` check over every batch: one failure per row whose value repeats."""
        if self.unique is None or not self.unique_hashes:
            return
        repeated = _repeated(np.concatenate(self.unique_hashes))
        if repeated.size == 0:
            return
        key = ROW_KEYS[self.name]
        rows = _rows_hashed_in(self.file, [self.unique, key], self.unique, repeated)
        rows = rows[rows.duplicated(self.unique, keep=False)]
        self.repeats.add(Failure(self.name, str(key_value), self.unique, "field_uniqueness",
                                 f"field_uniqueness: failure case {value!r}")
                         for value, key_value in zip(rows[self.unique], rows[key], strict=True))

    def report(self) -> list[Failure]:
        return [*self.type_failures, *self.repeats.items, *self.failures.items]


def _column_type_failures(name: str, stored: pa.Schema, schema: Any) -> list[Failure]:
    """Columns stored with another Arrow type than declared in TABLES (a missing or extra column is pandera's)."""
    failures = []
    for declared in TABLES[name]:
        index = stored.get_field_index(declared.name)
        if index < 0:
            continue
        actual = stored.field(index).type
        if not _same_values(actual, declared.type, schema.columns[declared.name].nullable):
            failures.append(Failure(name, None, declared.name, CrossCheck.COLUMN_TYPE_MISMATCH,
                                    f"stored as {actual}, declared {declared.type}"))
    return failures


def _same_values(stored: pa.DataType, declared: pa.DataType, nullable: bool) -> bool:
    """Does a column stored as ``stored`` read as the same values as one of the ``declared`` type?

    Two differences are harmless, so tolerated: ``string`` and ``large_string`` hold the same text
    with 32- or 64-bit offsets (pandas 3 writes every ``str`` column as ``large_string``); and a
    column of type ``null`` (pandas writes a column of only ``None`` so) holds only nulls, which is
    fine where the model lets the column be null. Arrow field nullability is not compared either:
    the pandera models decide which columns may hold nulls.
    """
    if stored == declared:
        return True
    if stored in STRING_TYPES and declared in STRING_TYPES:
        return True
    return stored == pa.null() and nullable


def _validate_frame(name: str, frame: pd.DataFrame, schema: Any, failures: _Failures,
                    skip: set[str]) -> pd.DataFrame | None:
    """Validate one batch lazily against ``schema`` and add its failures (but ``skip``'s codes) to ``failures``.

    Returns the batch (coerced, if it passed) while the table is usable, None after a structural failure.
    """
    try:
        return schema.validate(frame, lazy=True)  # type: ignore[no-any-return]
    except pandera.errors.SchemaErrors as exc:
        key_column = ROW_KEYS[name]
        found = set()
        for case in exc.failure_cases.itertuples(index=False):
            check = str(case.check).split("(")[0]
            found.add(check)
            if check in skip or failures.room(check) <= 0:
                continue
            index = getattr(case, "index", None)
            key = None
            if index is not None and not pd.isna(index) and key_column in frame.columns and index in frame.index:
                key = str(frame.at[index, key_column])
            column = case.column if case.schema_context == "Column" and isinstance(case.column, str) else None
            failures.add([Failure(name, key, column, check, f"{case.check}: failure case {case.failure_case!r}")])
        return None if found & STRUCTURAL else frame


# -- cross-table checks ---------------------------------------------------------------------------------

class _Check:
    """A check across tables: fed every batch of :attr:`tables`, table by table in TABLES order, then finished.

    Dropped as a whole (never finished, nothing reported) when one of its tables is missing or unusable.
    """

    tables: ClassVar[tuple[str, ...]]  # the tables it reads
    codes: ClassVar[tuple[CrossCheck, ...]]  # the codes it reports

    def __init__(self, files: Mapping[str, pq.ParquetFile], seeds: Sequence[Document], scheme: Scheme) -> None:
        self.files = files
        self.scheme = scheme
        self.failures = _Failures()

    def batch(self, table: str, frame: pd.DataFrame) -> None:
        """Check one batch of rows of ``table``, one of :attr:`tables`."""
        raise NotImplementedError

    def finish(self) -> None:
        """Check what needs every batch; called once every table is read."""

    def report(self) -> list[Failure]:
        return self.failures.items


class _DocumentTexts(_Check):
    """Each document's text against its text_sha256, and against its seed file when seeds are given."""

    tables = ("documents",)
    codes = (CrossCheck.DOC_HASH_MISMATCH, CrossCheck.DOC_SEED_MISMATCH)

    def __init__(self, files: Mapping[str, pq.ParquetFile], seeds: Sequence[Document], scheme: Scheme) -> None:
        super().__init__(files, seeds, scheme)
        self.seed_by_id = {seed.doc_id: seed for seed in seeds}

    def batch(self, table: str, documents: pd.DataFrame) -> None:
        for row in documents.to_dict("records"):
            doc_id, text = row[DocumentsModel.doc_id], row[DocumentsModel.text]
            if sha256_text(text) != row[DocumentsModel.text_sha256]:
                self.failures.add([Failure("documents", doc_id, DocumentsModel.text_sha256,
                                           CrossCheck.DOC_HASH_MISMATCH, "text_sha256 does not match the text")])
            seed = self.seed_by_id.get(doc_id)
            if seed is not None and seed.text_sha256 != row[DocumentsModel.text_sha256]:
                self.failures.add([Failure("documents", doc_id, DocumentsModel.text, CrossCheck.DOC_SEED_MISMATCH,
                                           f"text differs from {seed.source_file}")])


class _AnnotationDocuments(_Check):
    """Each annotation's document is in documents."""

    tables = ("documents", "annotations")
    codes = (CrossCheck.ANNOTATION_DOC_MISSING,)

    def __init__(self, files: Mapping[str, pq.ParquetFile], seeds: Sequence[Document], scheme: Scheme) -> None:
        super().__init__(files, seeds, scheme)
        self.doc_ids: list[Array] = []

    def batch(self, table: str, frame: pd.DataFrame) -> None:
        if table == "documents":
            self.doc_ids.append(frame[DocumentsModel.doc_id].to_numpy(dtype=object))
            return
        missing = ~frame[AnnotationsModel.doc_id].isin(np.concatenate(self.doc_ids))  # documents came first
        self.failures.add_rows(frame[missing], "annotations", AnnotationsModel.annotation_id, AnnotationsModel.doc_id,
                               CrossCheck.ANNOTATION_DOC_MISSING, "document {doc_id} not found")


class _SpanAnnotations(_Check):
    """Each span's annotation is submitted and on the span's document."""

    tables = ("annotations", "spans")
    codes = (CrossCheck.SPAN_ANNOTATION_MISSING, CrossCheck.SPAN_DOC_MISMATCH)
    submitted: pd.DataFrame  # annotation_id, annotation_doc of the submitted annotations; annotations come first

    def batch(self, table: str, frame: pd.DataFrame) -> None:
        if table == "annotations":
            submitted = frame[frame[AnnotationsModel.status] == "submitted"]
            self.submitted = submitted[[AnnotationsModel.annotation_id, AnnotationsModel.doc_id]].rename(
                columns={AnnotationsModel.doc_id: "annotation_doc"})
            return
        joined = frame.merge(self.submitted, on=SpansModel.annotation_id, how="left")
        self.failures.add_rows(joined[joined["annotation_doc"].isna()], "spans", SpansModel.span_id,
                               SpansModel.annotation_id, CrossCheck.SPAN_ANNOTATION_MISSING,
                               "annotation {annotation_id} is missing or not submitted")
        wrong_doc = joined["annotation_doc"].notna() & (joined["annotation_doc"] != joined[SpansModel.doc_id])
        self.failures.add_rows(joined[wrong_doc], "spans", SpansModel.span_id, SpansModel.doc_id,
                               CrossCheck.SPAN_DOC_MISMATCH, "doc {doc_id} but its annotation is on {annotation_doc}")


class _SpanTexts(_Check):
    """``text == documents.text[start:end]`` and the quote context, without a per-span loop.

    Reads, for each batch of spans, only the row groups of documents whose doc_id range holds one of
    the batch's documents (from the Parquet statistics).
    """

    tables = ("documents", "spans")
    codes = (CrossCheck.SPAN_DOC_MISSING, CrossCheck.SPAN_OUT_OF_RANGE, CrossCheck.SPAN_TEXT_MISMATCH,
             CrossCheck.SPAN_QUOTE_MISMATCH)

    def __init__(self, files: Mapping[str, pq.ParquetFile], seeds: Sequence[Document], scheme: Scheme) -> None:
        super().__init__(files, seeds, scheme)
        self.doc_ranges: list[tuple[str, str] | None] | None = None  # per row group of documents, read when needed

    def batch(self, table: str, spans: pd.DataFrame) -> None:
        if table != "spans":
            return  # documents are read by row group as the spans need them
        documents = self._documents_of(spans)
        texts = dict(zip(documents[DocumentsModel.doc_id], documents[DocumentsModel.text], strict=True))
        known = spans[SpansModel.doc_id].isin(list(texts))
        self.failures.add_rows(spans[~known], "spans", SpansModel.span_id, SpansModel.doc_id,
                               CrossCheck.SPAN_DOC_MISSING, "document {doc_id} not found")
        corpus = DocumentCorpus(list(texts.values()))
        doc_index = spans.loc[known, SpansModel.doc_id].map({doc: i for i, doc in enumerate(texts)}).to_numpy()
        rows = spans[known]
        for offset in range(0, len(rows), SPAN_CHUNK):
            self._compare(corpus, rows.iloc[offset : offset + SPAN_CHUNK], doc_index[offset : offset + SPAN_CHUNK])

    def _compare(self, corpus: DocumentCorpus, chunk: pd.DataFrame, docs: Array) -> None:
        starts = chunk[SpansModel.start].to_numpy(np.int64)
        ends = chunk[SpansModel.end].to_numpy(np.int64)
        # the masks are numpy bool arrays: a chunk without failures skips selecting empty frames
        in_range = corpus.in_range(docs, starts, ends)
        if not in_range.all():
            self.failures.add_rows(chunk[~in_range], "spans", SpansModel.span_id, SpansModel.end,
                                   CrossCheck.SPAN_OUT_OF_RANGE, "{start}..{end} is past the end of document {doc_id}")
        bad_text = in_range & ~corpus.matches(docs, starts, ends, chunk[SpansModel.text])
        if bad_text.any():
            self.failures.add_rows(chunk[bad_text], "spans", SpansModel.span_id, SpansModel.text,
                                   CrossCheck.SPAN_TEXT_MISMATCH,
                                   "text {text!r} is not the document's text[{start}:{end}]")
        context_ok = corpus.context_matches(docs, starts, ends, chunk[SpansModel.prefix], chunk[SpansModel.suffix])
        bad_quote = in_range & ~bad_text & ~context_ok
        if bad_quote.any():
            self.failures.add_rows(chunk[bad_quote], "spans", SpansModel.span_id, SpansModel.prefix,
                                   CrossCheck.SPAN_QUOTE_MISMATCH,
                                   "prefix/suffix are not the text around {start}..{end}")

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


class _SpanAttributes(_Check):
    """Each span has the attributes its label requires, and none its label does not take."""

    tables = ("spans",)
    codes = (CrossCheck.ATTRIBUTE_MISSING, CrossCheck.ATTRIBUTE_NOT_APPLICABLE)

    def batch(self, table: str, spans: pd.DataFrame) -> None:
        for name in self.scheme.attribute_names:
            takes = [attr.label for attr in self.scheme.attributes if attr.name == name]
            required = [attr.label for attr in self.scheme.attributes if attr.name == name and attr.required]
            values = spans[name]
            missing = spans[SpansModel.label].isin(required) & values.isna()
            self.failures.add_rows(spans[missing], "spans", SpansModel.span_id, name, CrossCheck.ATTRIBUTE_MISSING,
                                   f"{{label}} span without {name}")
            extra = ~spans[SpansModel.label].isin(takes) & values.notna()
            self.failures.add_rows(spans[extra], "spans", SpansModel.span_id, name,
                                   CrossCheck.ATTRIBUTE_NOT_APPLICABLE, f"{{label}} span with {name}")


class _SpanIds(_Check):
    """Each span_id is :func:`claimset.tables.span_id` of the row's annotation_id and region_id."""

    tables = ("spans",)
    codes = (CrossCheck.SPAN_ID_MISMATCH,)

    def batch(self, table: str, spans: pd.DataFrame) -> None:
        rows = spans[[SpansModel.span_id, SpansModel.annotation_id, SpansModel.region_id]].dropna()  # nulls: pandera's
        annotation_ids = rows[SpansModel.annotation_id].astype(np.int64)
        prefixes = annotation_ids.map(_span_id_prefixes(annotation_ids.unique().tolist())).astype("str")
        expected = prefixes + rows[SpansModel.region_id]
        self.failures.add_rows(rows[(expected != rows[SpansModel.span_id]).to_numpy()], "spans", SpansModel.span_id,
                               SpansModel.span_id, CrossCheck.SPAN_ID_MISMATCH,
                               "not the id of region {region_id} of annotation {annotation_id}")


def _span_id_prefixes(annotation_ids: Iterable[int]) -> dict[int, str]:
    """``span_id(annotation_id, "")`` of each annotation: every span id of the annotation is it and the region id."""
    return {annotation_id: span_id(annotation_id, "") for annotation_id in set(annotation_ids)}


class _RelationEndpoints(_Check):
    """Each relation's endpoints are spans of its annotation and document, with labels its type allows.

    The spans are kept as sorted 64-bit hashes of span_id, with annotation_id and codes of label and
    doc_id (24 bytes a span).
    """

    tables = ("spans", "relations")
    codes = (CrossCheck.RELATION_ENDPOINT_MISSING, CrossCheck.RELATION_CROSS_ANNOTATION,
             CrossCheck.RELATION_WRONG_LABELS, CrossCheck.RELATION_DOC_MISMATCH)

    def __init__(self, files: Mapping[str, pq.ParquetFile], seeds: Sequence[Document], scheme: Scheme) -> None:
        super().__init__(files, seeds, scheme)
        self.allowed = pd.MultiIndex.from_tuples([(r.value, r.head, r.tail) for r in scheme.relations])
        self.labels: dict[str, int] = {}  # label -> code; -1 is a null label
        self.docs: dict[str, int] = {}  # doc_id -> code; -1 is a null doc_id
        # per batch of spans: hash of span_id, annotation_id, label code, doc_id code
        self.parts: list[tuple[Array, ...]] = [
            (np.zeros(0, np.uint64), np.zeros(0, np.float64), np.zeros(0, np.int32), np.zeros(0, np.int32))]
        self.lookup: tuple[Array, ...] | None = None

    def batch(self, table: str, frame: pd.DataFrame) -> None:
        if table == "spans":
            self._keep(frame)
        else:
            self._check(frame)

    def _keep(self, spans: pd.DataFrame) -> None:
        annotation_ids = pd.to_numeric(spans[SpansModel.annotation_id], errors="coerce").to_numpy(np.float64)
        self.parts.append((_hash(spans[SpansModel.span_id]), annotation_ids,
                           _codes(spans[SpansModel.label], self.labels), _codes(spans[SpansModel.doc_id], self.docs)))

    def _spans(self) -> tuple[Array, ...]:
        """The spans by sorted hash of span_id, the first row of each id (as drop_duplicates would keep)."""
        if self.lookup is None:
            columns = [np.concatenate(column) for column in zip(*self.parts, strict=True)]
            self.parts = []
            order = np.argsort(columns[0], kind="stable")
            first = _first_of_runs(columns[0][order])
            self.lookup = tuple(column[order][first] for column in columns)
        return self.lookup

    def _check(self, relations: pd.DataFrame) -> None:
        hashes, annotation_ids, label_codes, doc_codes = self._spans()
        names = np.array([*self.labels, None], dtype=object)  # code -1 -> None

        def endpoint(column: str) -> dict[str, Array]:
            found, where = _in_sorted(hashes, _hash(relations[column]))
            codes = _gather(label_codes, found, where, -1)
            return {"ok": found & (codes >= 0), "annotation_id": _gather(annotation_ids, found, where, np.nan),
                    "label": names[codes], "doc": _gather(doc_codes, found, where, -1)}

        head, tail = endpoint(RelationsModel.head_span_id), endpoint(RelationsModel.tail_span_id)
        joined = relations.assign(head_annotation_id=head["annotation_id"], tail_annotation_id=tail["annotation_id"],
                                  head_label=head["label"], tail_label=tail["label"], head_doc=head["doc"],
                                  tail_doc=tail["doc"])
        missing = ~(head["ok"] & tail["ok"])
        self.failures.add_rows(joined[missing], "relations", RelationsModel.relation_id, RelationsModel.head_span_id,
                               CrossCheck.RELATION_ENDPOINT_MISSING,
                               "{head_span_id} -> {tail_span_id}: endpoint not in spans")
        present = joined[~missing]
        own = pd.to_numeric(present[RelationsModel.annotation_id], errors="coerce")
        cross = (present["head_annotation_id"] != own) | (present["tail_annotation_id"] != own)
        self.failures.add_rows(present[cross], "relations", RelationsModel.relation_id, RelationsModel.annotation_id,
                               CrossCheck.RELATION_CROSS_ANNOTATION, "joins spans outside annotation {annotation_id}")
        triples = pd.MultiIndex.from_arrays([present[RelationsModel.type].astype(object),
                                             present["head_label"].astype(object),
                                             present["tail_label"].astype(object)])
        self.failures.add_rows(present[~triples.isin(self.allowed)], "relations", RelationsModel.relation_id,
                               RelationsModel.type, CrossCheck.RELATION_WRONG_LABELS,
                               "{type} joins {head_label} -> {tail_label}")
        own_doc = present[RelationsModel.doc_id].map(self.docs).fillna(-2).to_numpy(np.int32)  # -2: no span's
        other_doc = (present["head_doc"].to_numpy() != own_doc) | (present["tail_doc"].to_numpy() != own_doc)
        self.failures.add_rows(present[other_doc], "relations", RelationsModel.relation_id, RelationsModel.doc_id,
                               CrossCheck.RELATION_DOC_MISMATCH,
                               "{head_span_id} -> {tail_span_id} are not both on doc {doc_id}")

    def report(self) -> list[Failure]:
        """Grouped by code, in the order of :attr:`codes`; in the order found within a code."""
        return sorted(self.failures.items, key=lambda failure: self.codes.index(failure.check))


def _codes(values: pd.Series, known: dict[str, int]) -> Array:
    """Small integer codes of ``values``, -1 for a null; values not in ``known`` are added to it."""
    for value in values.dropna().unique():
        known.setdefault(str(value), len(known))
    return values.map(known).fillna(-1).to_numpy(np.int32)


class _RelationsPerHead(_Check):
    """No claim has more relations of a type than the scheme's ``max_per_head``, counted over every batch."""

    tables = ("spans", "relations")  # the heads are claims: counted only when spans are usable
    codes = (CrossCheck.RELATION_MAX_PER_HEAD,)
    KEY: ClassVar[list[str]] = [RelationsModel.head_span_id, RelationsModel.type]

    def __init__(self, files: Mapping[str, pq.ParquetFile], seeds: Sequence[Document], scheme: Scheme) -> None:
        super().__init__(files, seeds, scheme)
        self.max_per_head = {r.value: r.max_per_head for r in scheme.relations if r.max_per_head}
        self.keys: list[Array] = [np.zeros(0, np.uint64)]  # per batch: hash of (head_span_id, type)
        self.limits: list[Array] = [np.zeros(0, np.int64)]  # per batch: the type's max_per_head

    def batch(self, table: str, relations: pd.DataFrame) -> None:
        if table != "relations":
            return
        limited = relations[relations[RelationsModel.type].isin(list(self.max_per_head))
                            & relations[RelationsModel.head_span_id].notna()]
        self.keys.append(_hash(limited[self.KEY]))
        self.limits.append(limited[RelationsModel.type].map(self.max_per_head).to_numpy(np.int64))

    def finish(self) -> None:
        keys, limits = np.concatenate(self.keys), np.concatenate(self.limits)
        order = np.argsort(keys, kind="stable")
        keys, limits = keys[order], limits[order]
        starts = np.flatnonzero(_first_of_runs(keys))
        sizes = np.diff(np.append(starts, keys.size))
        over = keys[starts[sizes > limits[starts]]]
        if over.size == 0:
            return
        rows = _rows_hashed_in(self.files["relations"], self.KEY, self.KEY, over).dropna()
        counts = Counter(zip(rows[RelationsModel.head_span_id], rows[RelationsModel.type], strict=True))
        over_frame = pd.DataFrame([(head, kind, n) for (head, kind), n in sorted(counts.items())
                                   if kind in self.max_per_head and n > self.max_per_head[kind]],
                                  columns=[*self.KEY, "n"])
        self.failures.add_rows(over_frame, "relations", RelationsModel.head_span_id, RelationsModel.type,
                               CrossCheck.RELATION_MAX_PER_HEAD, "claim {head_span_id} has {n} {type} relations")


class _RelationIds(_Check):
    """Each relation_id is :func:`claimset.tables.relation_id` of its annotation, endpoint regions and type."""

    tables = ("relations",)
    codes = (CrossCheck.RELATION_ID_MISMATCH,)
    PARTS: ClassVar[list[str]] = [RelationsModel.annotation_id, RelationsModel.head_span_id,
                                  RelationsModel.tail_span_id, RelationsModel.type]

    def batch(self, table: str, relations: pd.DataFrame) -> None:
        rows = relations[[RelationsModel.relation_id, *self.PARTS]].dropna()  # a null is pandera's to report
        wrong = np.zeros(len(rows), dtype=bool)
        for start in range(0, len(rows), ID_CHUNK):  # bounds the Python strings alive at once
            wrong[start : start + ID_CHUNK] = _relation_ids_differ(rows.iloc[start : start + ID_CHUNK])
        self.failures.add_rows(rows[wrong], "relations", RelationsModel.relation_id,
                               RelationsModel.relation_id, CrossCheck.RELATION_ID_MISMATCH,
                               "not the id of the {type} relation {head_span_id} -> {tail_span_id} "
                               "of annotation {annotation_id}")


def _relation_ids_differ(rows: pd.DataFrame) -> Array:
    """Row-wise: is relation_id not the id of the row's annotation, endpoint regions and type?"""
    annotation_ids = rows[RelationsModel.annotation_id].astype(np.int64).tolist()
    prefixes = _span_id_prefixes(annotation_ids)
    values = zip(rows[RelationsModel.relation_id].tolist(), annotation_ids, rows[RelationsModel.head_span_id].tolist(),
                 rows[RelationsModel.tail_span_id].tolist(), rows[RelationsModel.type].tolist(), strict=True)
    return np.array([value != _relation_id_of(annotation_id, prefixes[annotation_id], head, tail, kind)
                     for value, annotation_id, head, tail, kind in values], dtype=bool)


def _relation_id_of(annotation_id: int, prefix: str, head_span_id: str, tail_span_id: str, kind: str) -> str | None:
    """:func:`claimset.tables.relation_id` of these columns, or None if an endpoint is not a span of the annotation.

    ``prefix`` is ``span_id(annotation_id, "")``: a span id of the annotation is it followed by the region id.
    """
    if not (head_span_id.startswith(prefix) and tail_span_id.startswith(prefix)):
        return None
    return relation_id(annotation_id, head_span_id[len(prefix) :], tail_span_id[len(prefix) :], kind)


class _DuplicateRelations(_Check):
    """No two relations have the same head, tail and type; each repeat after the first is reported."""

    tables = ("relations",)
    codes = (CrossCheck.DUPLICATE_RELATION,)
    KEY: ClassVar[list[str]] = [RelationsModel.head_span_id, RelationsModel.tail_span_id, RelationsModel.type]

    def __init__(self, files: Mapping[str, pq.ParquetFile], seeds: Sequence[Document], scheme: Scheme) -> None:
        super().__init__(files, seeds, scheme)
        self.max_per_head = {r.value: r.max_per_head for r in scheme.relations if r.max_per_head}
        self.keys: list[Array] = [np.zeros(0, np.uint64)]  # per batch: hash of (head_span_id, tail_span_id, type)

    def batch(self, table: str, relations: pd.DataFrame) -> None:
        self.keys.append(_hash(relations[self.KEY].dropna()))

    def finish(self) -> None:
        repeated = _repeated(np.concatenate(self.keys))
        if repeated.size == 0:
            return
        rows = _rows_hashed_in(self.files["relations"], [RelationsModel.relation_id, *self.KEY], self.KEY,
                               repeated).dropna(subset=self.KEY)
        first = rows.groupby(self.KEY, sort=False)[RelationsModel.relation_id].transform("first")
        repeats = rows.assign(first=first)[rows.duplicated(self.KEY)]
        self.failures.add_rows(repeats, "relations", RelationsModel.relation_id, None, CrossCheck.DUPLICATE_RELATION,
                               "the same {type} relation {head_span_id} -> {tail_span_id} as {first}")


# The cross-table checks, in the order they are reported.
CHECKS: tuple[type[_Check], ...] = (
    _DocumentTexts, _AnnotationDocuments, _SpanAnnotations, _SpanTexts, _SpanAttributes, _SpanIds,
    _RelationEndpoints, _RelationsPerHead, _RelationIds, _DuplicateRelations,
)


# -- hashes ------------------------------------------------------------------------------------------------

def _hash(values: pd.Series | pd.DataFrame) -> Array:
    """64-bit hashes of a column's values, or of rows of several columns, for set operations in numpy.

    Several columns combine their hashes: a collision only costs a second look, as every use of a
    row hash compares the values again. Columns of :data:`FEW_VALUES` are hashed once per value.
    """
    if isinstance(values, pd.DataFrame):
        combined: Array = np.zeros(len(values), dtype=np.uint64)
        for _, column in values.items():
            combined = combined * np.uint64(0x100000001B3) ^ _hash(column)
        return combined
    if values.name not in FEW_VALUES:
        return np.asarray(pd.util.hash_array(np.asarray(values.astype(object), dtype=object), categorize=False),
                          dtype=np.uint64)
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    hashes: Array = pd.util.hash_array(np.asarray(distinct, dtype=object), categorize=False)
    return hashes[codes]


def _in_sorted(sorted_hashes: Array, hashes: Array) -> tuple[Array, Array]:
    """For each hash: is it in ``sorted_hashes``, and where."""
    if sorted_hashes.size == 0:
        return np.zeros(len(hashes), dtype=bool), np.zeros(len(hashes), dtype=np.int64)
    where = np.minimum(np.searchsorted(sorted_hashes, hashes), sorted_hashes.size - 1)
    return sorted_hashes[where] == hashes, where


def _gather(values: Array, found: Array, where: Array, missing: float) -> Array:
    """``values[where]`` where ``found``, else ``missing`` (``values`` may be empty: no spans at all)."""
    gathered = np.full(len(where), missing, dtype=np.result_type(values.dtype, np.min_scalar_type(missing)))
    gathered[found] = values[where[found]]
    return gathered


def _repeated(hashes: Array) -> Array:
    """The hashes that occur more than once, sorted."""
    ordered = np.sort(hashes)
    repeated: Array = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    return repeated


def _rows_hashed_in(file: pq.ParquetFile, columns: list[str], key: str | list[str], hashes: Array) -> pd.DataFrame:
    """The rows of ``file`` (its ``columns``) whose ``key`` hashes to one of the sorted ``hashes``, batch by batch."""
    frames = []
    for batch in file.iter_batches(batch_size=BATCH_ROWS, columns=list(dict.fromkeys(columns))):
        frame = batch.to_pandas()
        frames.append(frame[_in_sorted(hashes, _hash(frame[key]))[0]])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(dict.fromkeys(columns)))


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


class DocumentCorpus:
    """All document texts as one UTF-8 buffer, with a code-point -> byte offset map, for vector checks."""

    CONTEXT = QUOTE_CONTEXT

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




def _first_of_runs(*keys: Array) -> Array:
    """For rows sorted by ``keys``: True where a row starts a new run of equal keys (empty in, empty out)."""
    first = np.ones(len(keys[0]), dtype=bool)
    if first.size > 1:
        first[1:] = np.logical_or.reduce([key[1:] != key[:-1] for key in keys])
    return first
