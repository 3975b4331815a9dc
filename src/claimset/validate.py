"""Validation of a dataset directory: every table against its declared types and model, then across tables.

:func:`validate_dataset` never stops at the first problem: it collects every failure into a
:class:`ValidationReport` (lazy validation), and never prints. Each failure has a stable ``check``
code: pandera's check names for single-table checks, and the codes in :data:`CROSS_CHECKS`.

Memory stays bounded whatever the size of the dataset; the work is done in two passes.

1. The tables are read in batches of rows (:data:`BATCH_ROWS`, documents :data:`DOCUMENT_BATCH_ROWS`),
   table by table in the order of :data:`claimset.tables.TABLES`; only ``annotations`` (one row per
   annotator pass) is read whole. A :class:`_TableCheck` per table file compares the file's Arrow
   column types with the declared ones (before any cast: coercion would turn 65.5 into 65 and "no"
   into True) and validates each batch against the table's pandera model. pandera runs on a batch
   (and is imported) only when a fast, conservative pre-check built from the same model
   (:class:`_Precheck`, reading :data:`claimset.models.RULES`) cannot pass it: the model stays the
   contract, and a flawed table gets pandera's own failures. Each batch
   then goes to the cross-table checks reading its table (:meth:`_Check.batch`), and the spans and
   relations to a work directory, split into buckets of whole documents (:mod:`claimset.partition`).
2. Bucket by bucket, what needs every span or relation at once: the uniqueness of ``span_id`` and
   ``relation_id``, the relation checks (:meth:`_Check.bucket`), and the claims derived afresh to
   compare with ``claims.parquet``. These failures are put back in the order of their rows, so the
   report does not depend on how the rows were bucketed.

The cross-table checks are shaped like frictionless-py's checks: each declares the ``tables`` it
reads and the ``codes`` it reports. A check one of whose tables is missing, unreadable or unusable
(a missing column, a wrong type) is dropped as a whole: its findings would be noise.

At most :data:`MAX_FAILURES_PER_CHECK` failures of one code are kept per table and per check
(:class:`_Failures`, :class:`_Ranked`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import json
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from claimset.claims import CLAIMS, BucketInputs, claims_of, mentions_of, run_starts, submitted_annotations, unique
from claimset.codes import CrossCheck
from claimset.dataset import resolve_scheme
from claimset.errors import ClaimsetError
from claimset.models import (
    CUSTOM_CHECKS,
    ROW_KEYS,
    AnnotationColumns,
    ColumnRules,
    DocumentColumns,
    RelationColumns,
    SpanColumns,
    TableRules,
    rules_of,
    table_rules,
    table_schema,
)
from claimset.offsets import QUOTE_CONTEXT
from claimset.partition import Layout, Spool, split_keys, work_directory
from claimset.scheme import Scheme
from claimset.seeds import Document, sha256_text
from claimset.tables import TABLES, read_ahead, table_path

if TYPE_CHECKING:
    import pandas as pd

Array = npt.NDArray[Any]
MAX_FAILURES_PER_CHECK = 1000  # failures kept per code, per table (single-table checks) or per cross-table check
BATCH_ROWS = 65_536  # rows of spans, relations and rejects validated at once
DOCUMENT_BATCH_ROWS = 1_024  # documents are long: fewer rows at once
SPAN_CHUNK = 16_384  # spans whose texts are compared at once (their failures are reported chunk by chunk)
CLAIM_ROWS = 16_384  # rows of claims.parquet read at once (its targets are lists: about 300 bytes a row)

CROSS_CHECKS = CrossCheck.describe()  # code -> description (the codes live in claimset.codes)

STRUCTURAL = {"column_in_dataframe", "column_in_schema", "dtype"}  # pandera failures that make a table unusable
ONCE_PER_TABLE = {"column_in_dataframe", "column_in_schema"}  # reported for the first batch, not for every batch
STRING_TYPES = (pa.string(), pa.large_string())
FEW_VALUES = {RelationColumns.type}  # columns that repeat a few values: hashed once per value
PANDAS_DATES = (dt.date(1678, 1, 1), dt.date(2262, 1, 1))  # dates pandas holds as datetime64[ns], with a margin


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
                     scheme_file: Path | None = None, fresh_claims: bool = False) -> ValidationReport:
    """Check every table of ``directory`` and their consistency; ``seeds`` are checked against documents.

    The allowed labels, relation types and attributes are those of ``scheme``; without it, of the scheme
    the dataset records (``scheme_file``, if given, must match it; see :mod:`claimset.dataset`).
    ``fresh_claims``: the caller has just written ``claims.parquet`` from these very tables
    (:func:`claimset.dataset.write_claims`), so it is not derived again to be compared.

    The report is of one generation of the folder: when a writer replaces the folder during the
    validation, the tables read may mix two generations, so the validation starts again (at most
    :data:`REPLACED_RETRIES` times).
    """
    if not directory.is_dir():
        raise ClaimsetError(f"{directory}: dataset directory not found")
    for _ in range(REPLACED_RETRIES):
        with _pinned(directory) as (folder, unchanged):
            try:
                report = _validate_once(folder, directory, seeds, scheme, scheme_file, fresh_claims)
            except ClaimsetError:
                if unchanged():
                    raise
                continue
            if unchanged():
                return report
    raise ClaimsetError(f"{directory}: the dataset was replaced while it was being validated, {REPLACED_RETRIES} "
                        "times running; validate it again once the writes are done")


REPLACED_RETRIES = 3


@contextmanager
def _pinned(directory: Path) -> Iterator[tuple[Path, Callable[[], bool]]]:
    """Yield a path that reads the folder ``directory`` names now, and a test of whether it still names it.

    Writers replace a dataset folder by swapping in a new one (:mod:`claimset.transaction`; or a
    symbolic link is flipped), and the files are read one after the other: by the folder's path, a
    swap in between gives a mix of two generations. The folder is held open and read through that
    descriptor (``/proc/self/fd/N`` on Linux; elsewhere by its path), so every file comes from the
    generation that was there when the validation began, and its inode cannot be reused meanwhile.
    """
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise ClaimsetError(f"{directory}: cannot open the dataset folder ({exc.strerror})") from exc
    try:
        held = os.fstat(fd)
        through_fd = Path(f"/proc/self/fd/{fd}")

        def unchanged() -> bool:
            try:
                now = os.stat(directory)
            except OSError:
                return False
            return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)

        yield (through_fd if through_fd.is_dir() else directory), unchanged
    finally:
        os.close(fd)


def _validate_once(folder: Path, directory: Path, seeds: Sequence[Document], scheme: Scheme | None,
                   scheme_file: Path | None, fresh_claims: bool) -> ValidationReport:
    """Validate the files read through ``folder``, named ``directory`` in the report and in messages."""
    with _named(folder, directory):
        if scheme is None:
            scheme, _ = resolve_scheme(folder, scheme_file)
        report = ValidationReport(directory=str(directory))
        files = _open_tables(folder, report)
        comparison = None if fresh_claims else _ClaimsComparison(folder)
        with work_directory(directory) as work:
            run = _Validation(folder, files, seeds, scheme, work, comparison)
            run.run(lambda: bool(report.failures))
        report.failures.extend(run.failures())
        for name, failure in run.unreadable.items():
            report.rows.pop(name, None)
            report.failures.append(failure)
        if not report.failures:  # the derivation needs sound tables; with failures, fix those first
            report.failures.extend(_claims_failures(folder, scheme, report, comparison))
            report.failures.extend(_croissant_failures(folder))
    return report


@contextmanager
def _named(folder: Path, directory: Path) -> Iterator[None]:
    """Errors and warnings raised in the block name ``directory`` where they named ``folder``."""
    if folder == directory:
        yield
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except ClaimsetError as exc:
            raise ClaimsetError(str(exc).replace(str(folder), str(directory))) from exc
        finally:
            seen = list(caught)
    for warning in seen:
        warnings.warn_explicit(str(warning.message).replace(str(folder), str(directory)), warning.category,
                               warning.filename, warning.lineno)


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


def _open_tables(directory: Path, report: ValidationReport) -> dict[str, pq.ParquetFile]:
    files: dict[str, pq.ParquetFile] = {}
    for name in TABLES:
        path = table_path(directory, name)
        if not path.exists():
            report.failures.append(Failure(name, None, None, CrossCheck.TABLE_MISSING, f"{path.name} not found"))
            continue
        if not path.is_file():  # a folder, or a FIFO, whose opening would wait for a writer for ever
            report.failures.append(Failure(name, None, None, CrossCheck.TABLE_UNREADABLE,
                                           f"{path.name}: not a regular file"))
            continue
        try:
            files[name] = pq.ParquetFile(path, pre_buffer=False)  # pre-buffered column chunks stay cached
        except (OSError, pa.ArrowException) as exc:
            report.failures.append(_unreadable(directory, name, exc))
            continue
        report.rows[name] = files[name].metadata.num_rows
    return files


def _unreadable(directory: Path, name: str, exc: Exception) -> Failure:
    path = table_path(directory, name)
    return Failure(name, None, None, CrossCheck.TABLE_UNREADABLE, f"{path.name}: {str(exc).splitlines()[0]}")


# -- claims.parquet --------------------------------------------------------------------------------------

class _ClaimsComparison:
    """``claims.parquet`` against the claims derived bucket by bucket (:meth:`add`), read alongside in step.

    Buckets come in doc_id order and each bucket's claims are sorted, so the derived claims come in the
    table's order. What the stream cannot settle (a file that breaks while read, a bucket that does not
    hold its claims' relations) is left to the comparison of whole tables (:attr:`whole`).
    """

    def __init__(self, directory: Path) -> None:
        self.path = table_path(directory, "claims")
        self.active = False  # derive and compare: the file is there, readable, with the claims table's columns
        self.whole = False  # settle it on whole tables instead
        self.difference: Failure | None = None
        self.unequal = False  # a slice differed, though no row did
        self.stored_rows = self.derived_rows = 0
        self.batches: Iterator[pa.RecordBatch] = iter(())
        self.held: pa.Table | None = None  # stored rows read but not yet compared
        if not self.path.is_file():  # missing, a folder or a FIFO: reported by _claims_failures
            return
        try:
            file = pq.ParquetFile(self.path, pre_buffer=False)
        except (OSError, pa.ArrowException):
            return
        self.stored_rows = file.metadata.num_rows
        self.active = file.schema_arrow.equals(CLAIMS)
        self.batches = file.iter_batches(batch_size=CLAIM_ROWS, use_threads=False)

    def wanted(self) -> bool:
        return self.active and not self.whole and self.difference is None

    def add(self, derived: pa.Table) -> None:
        """Compare the next derived claims with the stored rows at the same places."""
        start = self.derived_rows
        self.derived_rows += derived.num_rows
        try:
            stored = self._stored(derived.num_rows)
        except (OSError, pa.ArrowException):
            self.whole = True
            return
        fresh = derived.slice(0, stored.num_rows)
        if not stored.equals(fresh):
            failure = _first_claim_difference(stored.to_pylist(), fresh.to_pylist(), start)
            if failure.key is not None:
                self.difference = failure
            self.unequal = True

    def drain(self) -> None:
        """Read the stored rows no derived row was compared with: a file that breaks there is unreadable."""
        try:
            for _ in self.batches:
                pass
        except (OSError, pa.ArrowException):
            self.whole = True

    def _stored(self, rows: int) -> pa.Table:
        pieces, have = [], 0
        while have < rows:
            if self.held is None or self.held.num_rows == 0:
                batch = next(self.batches, None)
                if batch is None:
                    break
                self.held = pa.Table.from_batches([batch])
            piece = self.held.slice(0, rows - have)
            self.held = self.held.slice(piece.num_rows)
            pieces.append(piece)
            have += piece.num_rows
        return pa.concat_tables(pieces) if pieces else CLAIMS.empty_table()

    def failures(self) -> list[Failure]:
        """The comparison's failures, once every bucket was added; only called without :attr:`whole`."""
        if self.difference is not None:
            return [self.difference]
        if self.unequal or self.stored_rows != self.derived_rows:
            return [_claims_count_failure(self.stored_rows, self.derived_rows)]
        return []


def _claims_failures(directory: Path, scheme: Scheme, report: ValidationReport,
                     comparison: _ClaimsComparison | None) -> list[Failure]:
    """claims.parquet against the claims table derived afresh from the other tables (:mod:`claimset.claims`)."""
    from claimset.dataset import Dataset

    path = table_path(directory, "claims")
    if not path.exists():
        return [Failure("claims", None, None, CrossCheck.TABLE_MISSING, f"{path.name} not found")]
    if not path.is_file():
        return [Failure("claims", None, None, CrossCheck.TABLE_UNREADABLE, f"{path.name}: not a regular file")]
    if comparison is not None and comparison.active and not comparison.whole:
        report.rows["claims"] = comparison.stored_rows
        return comparison.failures()
    try:
        if comparison is None:  # just written from these tables: its rows and columns are all there is to see
            file = pq.ParquetFile(path)
            report.rows["claims"] = file.metadata.num_rows
            stored_schema = file.schema_arrow
        else:
            stored = pq.read_table(path)
            report.rows["claims"] = stored.num_rows
            stored_schema = stored.schema
    except (OSError, pa.ArrowException) as exc:
        return [_unreadable(directory, "claims", exc)]
    if not stored_schema.equals(CLAIMS):
        return [Failure("claims", None, None, CrossCheck.COLUMN_TYPE_MISMATCH,
                        f"{path.name} columns {stored_schema.names} with their types are not the claims table's")]
    if comparison is None:
        return []
    derived = Dataset(directory, scheme).claims
    if stored.equals(derived):
        return []
    return [_first_claim_difference(stored.to_pylist(), derived.to_pylist())]


def _first_claim_difference(stored: list[dict[str, Any]], derived: list[dict[str, Any]], start: int = 0) -> Failure:
    """The first row that differs (numbered from ``start``), else the counts (a failure without a key)."""
    for number, (kept, fresh) in enumerate(zip(stored, derived, strict=False), start):
        if kept != fresh:
            column = next(name for name in fresh if kept.get(name) != fresh[name])
            return Failure("claims", str(kept["claim_id"]), column, CrossCheck.CLAIMS_STALE,
                           f"row {number}: {column} is {kept[column]!r}, derived {fresh[column]!r}")
    return _claims_count_failure(len(stored), len(derived))


def _claims_count_failure(stored: int, derived: int) -> Failure:
    return Failure("claims", None, None, CrossCheck.CLAIMS_STALE,
                   f"{stored} rows where the tables give {derived} (rebuild with claimset build or import)")


# -- the run ---------------------------------------------------------------------------------------------

class _Batch:
    """Rows of one table as read, as Arrow; and, when a check needs it, as the pandas frame pandera reads."""

    def __init__(self, number: int, offset: int, table: pa.Table, declared: pa.Schema) -> None:
        self.number = number  # in the table's batches
        self.offset = offset  # of its first row in the table
        self.table = table
        self.declared = declared
        self.columns: dict[str, pa.ChunkedArray] = {}
        self.parts: dict[str, tuple[pa.Array | pa.ChunkedArray, pa.Array | pa.ChunkedArray]] = {}

    @cached_property
    def frame(self) -> pd.DataFrame:
        frame: pd.DataFrame = self.table.to_pandas()
        return frame

    def column(self, name: str) -> pa.ChunkedArray:
        """Column ``name`` with its declared type (a usable table's harmless variants are cast to it)."""
        if name not in self.columns:
            self.columns[name] = self.table[name].cast(self.declared.field(name).type)
        return self.columns[name]

    def split(self, name: str) -> tuple[pa.Array | pa.ChunkedArray, pa.Array | pa.ChunkedArray]:
        """:func:`claimset.partition.split_keys` of a key column (its annotation's id, and the rest)."""
        if name not in self.parts:
            self.parts[name] = split_keys(self.column(name))
        return self.parts[name]

    def mask(self, values: pa.ChunkedArray | pa.Array) -> Array:
        """A boolean Arrow result as numpy, null as False."""
        return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


@dataclass
class _Bucket:
    """One bucket of :mod:`claimset.partition`: its spans and relations (None where unusable), in row order."""

    number: int
    spans: pa.Table | None
    relations: pa.Table | None
    tails: dict[int, tuple[Any, ...]]  # relation row -> its tail's span (found, annotation_id, label, doc_id)


class _Validation:
    """One run: the tables batch by batch (first pass), then the buckets (second pass)."""

    def __init__(self, directory: Path, files: dict[str, pq.ParquetFile], seeds: Sequence[Document],
                 scheme: Scheme, work: Path, comparison: _ClaimsComparison | None) -> None:
        self.directory = directory
        self.scheme = scheme
        self.work = work
        self.comparison = comparison
        self.tables = {name: _TableCheck(name, file, scheme) for name, file in files.items()}  # in TABLES order
        self.checks = [check(files, seeds, scheme) for check in CHECKS if set(check.tables) <= files.keys()]
        self.unreadable: dict[str, Failure] = {}
        self.documents: list[pa.Table] = []  # doc_id and published of every document, for the buckets and claims
        self.annotations: pa.Table | None = None
        self.partition: _Partition | None = None

    def run(self, failed_before: Callable[[], bool]) -> None:
        for name, table in self.tables.items():
            if name in ("spans", "relations") and self.partition is None:
                self.partition = _Partition(self.work, self._layout(), self.tables)
            self._read(table)
            if not table.usable:
                self.checks = [check for check in self.checks if name not in check.tables]
        if self.partition is not None:
            self.partition.close()
        for name, table in self.tables.items():
            if name not in self.unreadable:
                table.finish()
        if self.partition is not None:
            self._buckets(self.partition, lambda: failed_before() or self._failed())
        for check in self.checks:
            check.finish()
        if self.comparison is not None and self.comparison.wanted():
            if self.partition is None:
                self.comparison.whole = True
            self.comparison.drain()

    def _layout(self) -> Layout:
        spans = self.tables["spans"].file.metadata.num_rows if "spans" in self.tables else 0
        doc_ids = pa.concat_arrays([chunk for table in self.documents for chunk in table[0].chunks]) \
            if self.documents else None
        annotations = self.annotations
        if annotations is None:
            return Layout.build(doc_ids, None, None, spans)
        return Layout.build(doc_ids, annotations[AnnotationColumns.annotation_id].combine_chunks(),
                            annotations[AnnotationColumns.doc_id].combine_chunks(), spans)

    def _read(self, table: _TableCheck) -> None:
        readers = [check for check in self.checks if table.name in check.tables]

        def feed(batch: _Batch, usable: bool) -> None:
            self._keep(table, batch)
            if usable:
                for check in readers:
                    check.batch(table.name, batch)

        try:
            table.read(feed)
        except (OSError, pa.ArrowException) as exc:
            table.usable = False
            self.unreadable[table.name] = _unreadable(self.directory, table.name, exc)

    def _keep(self, table: _TableCheck, batch: _Batch) -> None:
        """What the second pass needs of a batch: documents and annotations whole, spans and relations bucketed."""
        if table.name == "documents":
            with_types = _cast_if_typed(batch.table, TABLES["documents"], [DocumentColumns.doc_id,
                                                                         DocumentColumns.published])
            if with_types is not None:
                self.documents.append(with_types)
        elif table.name == "annotations":
            self.annotations = _cast_if_typed(batch.table, TABLES["annotations"], [
                AnnotationColumns.annotation_id, AnnotationColumns.doc_id, AnnotationColumns.status,
                AnnotationColumns.annotator])
        elif self.partition is not None:
            self.partition.write(table.name, batch)

    def _buckets(self, partition: _Partition, failed: Callable[[], bool]) -> None:
        checks = [check for check in self.checks if check.bucketed]
        spans_unique = self.tables.get("spans") if partition.keys.get("spans") and "spans" not in self.unreadable \
            else None
        relations_unique = self.tables.get("relations") if partition.keys.get("relations") \
            and "relations" not in self.unreadable else None
        comparison = self.comparison if self.comparison is not None and self.comparison.wanted() else None
        inputs = None
        if comparison is not None:
            if self.annotations is None or not self.documents or not all(partition.full.values()):
                comparison.whole = True
                comparison = None
            else:
                inputs = BucketInputs(partition.layout, submitted_annotations(self.annotations),
                                      pa.concat_tables(self.documents))
        self.annotations = None
        self.documents = []
        if not checks and spans_unique is None and relations_unique is None and comparison is None:
            return
        tails = partition.foreign_tails() if any(isinstance(check, _RelationEndpoints) for check in checks) else {}
        for number in range(partition.layout.count):
            spans = partition.read("spans", number)
            relations = partition.read("relations", number)
            if spans_unique is not None:
                spans_unique.repeated_in(spans if partition.full.get("spans") else partition.read("spans_keys", number))
            if relations_unique is not None:
                relations_unique.repeated_in(partition.read("relations_keys", number))
            bucket = _Bucket(number, spans if partition.full.get("spans") else None,
                             relations if partition.full.get("relations") else None, tails)
            for check in checks:
                check.bucket(bucket)
            if comparison is not None and comparison.wanted() and not failed():
                assert inputs is not None
                self._compare_claims(comparison, bucket, inputs)
            del spans, relations, bucket
            pa.default_memory_pool().release_unused()

    def _compare_claims(self, comparison: _ClaimsComparison, bucket: _Bucket, inputs: BucketInputs) -> None:
        spans, relations = bucket.spans, bucket.relations
        if spans is None or relations is None or (relations["tail_bucket"].to_numpy() != bucket.number).any() \
                or inputs.strays(bucket.number, spans):
            comparison.whole = True
            return
        submitted, documents = inputs.submitted[bucket.number], inputs.documents[bucket.number]
        claims = claims_of(mentions_of(spans, submitted), relations, submitted, documents, self.scheme,
                           lookups=True)  # with no failures so far, the ids are unique
        if not inputs.layout.holds(bucket.number, claims["doc_id"]):
            comparison.whole = True
            return
        comparison.add(claims)

    def _failed(self) -> bool:
        return bool(self.unreadable) or any(table.found() for table in self.tables.values()) or \
            any(check.found() for check in self.checks)

    def failures(self) -> list[Failure]:
        """Single-table failures table by table, then each cross-table check's, in the order of :data:`CHECKS`."""
        single = [failure for table in self.tables.values() for failure in table.report()]
        return single + [failure for check in self.checks for failure in check.report()]


def _cast_if_typed(table: pa.Table, declared: pa.Schema, columns: list[str]) -> pa.Table | None:
    """``columns`` of ``table`` with their declared types, or None if one is missing or cannot be cast."""
    try:
        return pa.table({name: table[name].cast(declared.field(name).type) for name in columns})
    except (KeyError, pa.ArrowException):
        return None


class _Partition:
    """The spans and relations of the first pass, written to bucket files (:mod:`claimset.partition`).

    A usable-looking table (declared columns, no wrong type) has its rows written whole: spans by
    ``span_id``, relations by ``head_span_id`` (with the bucket of their tail), and the relation ids
    apart, by ``relation_id``. Otherwise only the key column is, for its uniqueness.
    """

    SPAN_COLUMNS: ClassVar[list[str]] = [
        SpanColumns.span_id, SpanColumns.annotation_id, SpanColumns.doc_id, SpanColumns.label, SpanColumns.start,
        SpanColumns.end, SpanColumns.text, SpanColumns.quote_type, SpanColumns.entity]
    RELATION_COLUMNS: ClassVar[list[str]] = [
        RelationColumns.relation_id, RelationColumns.annotation_id, RelationColumns.doc_id,
        RelationColumns.head_span_id, RelationColumns.tail_span_id, RelationColumns.type]

    def __init__(self, work: Path, layout: Layout, tables: Mapping[str, _TableCheck]) -> None:
        self.layout = layout
        self.spools: dict[str, Spool] = {}
        self.full: dict[str, bool] = {}
        self.keys: dict[str, bool] = {}
        self.foreign: list[pa.Table] = []  # relations whose tail is in another bucket than their head
        row = pa.field("row", pa.int64())
        for name, columns, extra in (("spans", self.SPAN_COLUMNS, []),
                                     ("relations", self.RELATION_COLUMNS,
                                      [pa.field("tail_bucket", pa.int32()), pa.field("aid_float", pa.bool_())])):
            table = tables.get(name)
            if table is None:
                continue
            self.full[name] = table.sound
            self.keys[name] = table.unique_by_bucket
            if table.sound:
                fields = [row, *(TABLES[name].field(column) for column in columns), *extra]
                self.spools[name] = Spool(work, name, layout.count, pa.schema(fields))
            key = ROW_KEYS[name]
            if table.unique_by_bucket and (name == "relations" or not table.sound):
                self.spools[f"{name}_keys"] = Spool(work, f"{name}_keys", layout.count,
                                                    pa.schema([row, pa.field(key, pa.string())]))

    def write(self, name: str, batch: _Batch) -> None:
        rows = pa.array(np.arange(batch.offset, batch.offset + batch.table.num_rows, dtype=np.int64))
        key = ROW_KEYS[name]
        if f"{name}_keys" in self.spools:
            keys = batch.table[key].cast(pa.string())
            self.spools[f"{name}_keys"].write(pa.table({"row": rows, key: keys}), self.layout.of_keys(keys))
        if name not in self.spools:
            return
        columns = self.SPAN_COLUMNS if name == "spans" else self.RELATION_COLUMNS
        table = pa.table({"row": rows, **{column: batch.column(column) for column in columns}})
        if name == "spans":
            self.spools[name].write(table, self.layout.of_keys(batch.column(SpanColumns.span_id)))
            return
        heads = self.layout.of_owners(batch.split(RelationColumns.head_span_id)[0])
        tails = self.layout.of_owners(batch.split(RelationColumns.tail_span_id)[0])
        aid_float = batch.table[RelationColumns.annotation_id].null_count > 0  # pandas reads the batch's ids as floats
        table = table.append_column("tail_bucket", pa.array(tails)).append_column(
            "aid_float", pa.array(np.full(len(tails), aid_float)))
        self.spools[name].write(table, heads)
        elsewhere = np.flatnonzero(tails != heads)
        if elsewhere.size:
            self.foreign.append(table.select(["row", RelationColumns.tail_span_id, "tail_bucket"]).take(elsewhere))

    def close(self) -> None:
        for spool in self.spools.values():
            spool.close()

    def read(self, name: str, number: int) -> pa.Table | None:
        """Bucket ``number`` of spool ``name`` (spans, relations, spans_keys, relations_keys), if written."""
        spool = self.spools.get(name)
        return None if spool is None else spool.read(number)

    def foreign_tails(self) -> dict[int, tuple[Any, ...]]:
        """Relation row -> what the endpoint check needs of its tail's span, for tails in another bucket."""
        if not self.foreign or "spans" not in self.spools:
            return {}
        wanted = pa.concat_tables(self.foreign)
        found: dict[int, tuple[Any, ...]] = {}
        buckets = wanted["tail_bucket"].to_numpy()
        for number in np.unique(buckets):
            asked = wanted.filter(pa.array(buckets == number))
            spans = self.spools["spans"].read(int(number))
            for row, look in zip(asked["row"].to_pylist(), _span_lookup(spans, asked[RelationColumns.tail_span_id]),
                                 strict=True):
                found[row] = look
        return found


def _span_lookup(spans: pa.Table, keys: pa.ChunkedArray | pa.Array) -> list[tuple[Any, ...]]:
    """For each key: (found, annotation_id, label, doc_id) of the first span with that span_id (null finds null)."""
    where = pc.index_in(keys, value_set=spans[SpanColumns.span_id].combine_chunks())
    looked = spans.select([SpanColumns.annotation_id, SpanColumns.label, SpanColumns.doc_id]).take(where)
    return [(index is not None, *values) for index, *values in
            zip(where.to_pylist(), *(looked[name].to_pylist() for name in looked.column_names), strict=True)]


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


class _Ranked:
    """Failures found bucket by bucket, each with a rank (its row, or a sort key), reported in rank order and
    grouped by code in the order of ``codes``; at most :data:`MAX_FAILURES_PER_CHECK` of each code."""

    def __init__(self, codes: Sequence[str]) -> None:
        self.codes = list(codes)
        self.found: dict[str, list[tuple[Any, Failure]]] = {code: [] for code in codes}

    def add(self, code: str, ranked: Iterable[tuple[Any, Failure]]) -> None:
        kept = self.found[code]
        kept.extend(ranked)
        if len(kept) > 2 * MAX_FAILURES_PER_CHECK:  # only the first ones can be reported
            kept[:] = heapq.nsmallest(MAX_FAILURES_PER_CHECK, kept, key=lambda item: item[0])

    def any(self) -> bool:
        return any(self.found.values())

    def items(self) -> list[Failure]:
        return [failure for code in self.codes
                for _, failure in sorted(self.found[code], key=lambda item: item[0])[:MAX_FAILURES_PER_CHECK]]


# -- single-table checks -------------------------------------------------------------------------------

class _TableCheck:
    """The checks of one table file on its own: its column types, its pandera model, its unique key column."""

    def __init__(self, name: str, file: pq.ParquetFile, scheme: Scheme) -> None:
        self.name = name
        self.file = file
        self.whole = name == "annotations"  # small and joined by most checks: read and validated whole
        self.scheme = scheme
        rules = table_rules(name, scheme)  # what the model says, without importing pandera (see schema)
        stored = file.schema_arrow
        self.type_failures = _column_type_failures(name, stored, rules)
        self.usable = not self.type_failures
        # declared columns and no wrong type: usable unless pandera finds a structural failure
        self.sound = self.usable and sorted(stored.names) == sorted(TABLES[name].names)
        self.unique = None if self.whole else next((c for c, column in rules.columns.items() if column.unique), None)
        # uniqueness is checked over every batch (see finish), not by pandera batch by batch
        self.precheck = _Precheck(name, rules if self.unique is None else rules.without_unique(self.unique), stored)
        index = stored.get_field_index(self.unique) if self.unique is not None else -1
        string_key = index >= 0 and stored.field(index).type in STRING_TYPES
        # how the key's uniqueness is checked: by bucket (spans, relations), on the keys kept (documents), or
        # on 64-bit hashes (a key column of another type)
        self.unique_by_bucket = string_key and name in ("spans", "relations")
        self.keys: list[pa.Table] | None = [] if string_key and not self.unique_by_bucket else None
        self.unique_hashes: list[Array] = []
        self.repeats = _Failures()
        self.ranked_repeats = _Ranked(["field_uniqueness"])
        self.failures = _Failures()

    def read(self, feed: Callable[[_Batch, bool], None]) -> None:
        """Validate the table batch by batch; ``feed`` each batch, saying whether the table is still usable."""
        offset = 0
        for number, table in enumerate(self._batches()):
            batch = _Batch(number, offset, table, TABLES[self.name])
            offset += table.num_rows
            skip = ONCE_PER_TABLE if number else set()
            passed = self.precheck.passes(table) or \
                _validate_frame(self.name, batch, self.schema, self.failures, skip) is not None
            self.usable = self.usable and passed
            if self.unique is not None and self.unique in table.column_names:
                if self.keys is not None:
                    rows = pa.array(np.arange(batch.offset, offset, dtype=np.int64))
                    self.keys.append(pa.table({"row": rows, self.unique: table[self.unique].cast(pa.string())}))
                elif not self.unique_by_bucket:
                    self.unique_hashes.append(_hash(batch.frame[self.unique]))
            feed(batch, passed and self.usable)
            del batch, table
            pa.default_memory_pool().release_unused()  # mimalloc keeps freed pages otherwise

    @cached_property
    def schema(self) -> Any:
        """The table's pandera schema (its model and the scheme's vocabularies), without ``unique`` on a key checked
        over every batch; made (and pandera imported) only for a batch the pre-check does not pass."""
        schema = table_schema(self.name, self.scheme)
        return schema if self.unique is None else schema.update_column(self.unique, unique=False)

    def _batches(self) -> Iterator[pa.Table]:
        if self.whole:
            yield self.file.read(use_threads=False)
        elif self.file.metadata.num_rows == 0:
            yield self.file.schema_arrow.empty_table()
        else:
            batch_rows = DOCUMENT_BATCH_ROWS if self.name == "documents" else BATCH_ROWS
            for batch in read_ahead(self.file.iter_batches(batch_size=batch_rows, use_threads=False)):
                yield pa.Table.from_batches([batch])

    def finish(self) -> None:
        """pandera's ``unique`` check over every batch: one failure per row whose value repeats."""
        if self.keys is not None:
            self.repeated_in(pa.concat_tables(self.keys) if self.keys else None)
            return
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

    def repeated_in(self, keys: pa.Table | None) -> None:
        """The rows of ``keys`` (row, key value) whose value repeats among them (a null repeats a null)."""
        if keys is None or keys.num_rows < 2 or self.unique is None:
            return
        values = keys[self.unique]
        if len(pc.unique(values)) == len(values):  # the common case (a null counts as one value)
            return
        order = pc.sort_indices(values)
        starts = run_starts(values.take(order))
        sizes = np.diff(np.append(np.flatnonzero(starts), len(starts)))
        repeated = np.repeat(sizes > 1, sizes)
        if not repeated.any():
            return
        found = keys.take(pa.array(np.asarray(order)[repeated]))
        self.ranked_repeats.add("field_uniqueness", (
            (row, Failure(self.name, str(_pandas_value(value)), self.unique, "field_uniqueness",
                          f"field_uniqueness: failure case {_pandas_value(value)!r}"))
            for row, value in zip(found["row"].to_pylist(), found[self.unique].to_pylist(), strict=True)))

    def found(self) -> bool:
        return bool(self.type_failures or self.repeats.items or self.failures.items or self.ranked_repeats.any())

    def report(self) -> list[Failure]:
        return [*self.type_failures, *self.repeats.items, *self.ranked_repeats.items(), *self.failures.items]


def _pandas_value(value: Any) -> Any:
    """A string cell as pandas shows it: a null is nan."""
    return float("nan") if value is None else value


def _column_type_failures(name: str, stored: pa.Schema, rules: TableRules) -> list[Failure]:
    """Columns stored with another Arrow type than declared in TABLES (a missing or extra column is pandera's)."""
    failures = []
    for declared in TABLES[name]:
        index = stored.get_field_index(declared.name)
        if index < 0:
            continue
        actual = stored.field(index).type
        if not _same_values(actual, declared.type, rules.columns[declared.name].nullable):
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


def _validate_frame(name: str, batch: _Batch, schema: Any, failures: _Failures,
                    skip: set[str]) -> pd.DataFrame | None:
    """Validate one batch lazily against ``schema`` and add its failures (but ``skip``'s codes) to ``failures``.

    Returns the batch (coerced, if it passed) while the table is usable, None after a structural failure.
    """
    import pandas as pd
    import pandera.errors

    frame = batch.frame
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


class _Precheck:
    """A fast stand-in for a table's pandera model, built from its rules (:data:`claimset.models.RULES`, the model
    as data; pandera is not imported): a batch it passes, the model passes.

    It passes a batch whose columns are exactly the declared ones with exactly the declared types,
    with no null where the model allows none, and whose values pass the model's checks, computed with
    Arrow: ``isin``, ``str_length``, ``greater_than_or_equal_to``, the model's ``start_before_end``,
    ``unique`` (of a table read whole); ``str_matches`` and the model's own column checks run on the
    batch's distinct values, both as pandas and with Arrow's regular expressions. A date pandas cannot
    hold, and any check it does not know, leave the batch to pandera.
    """

    DATAFRAME_CHECKS: ClassVar[dict[str, Callable[[pa.Table], bool]]] = {
        "start_before_end": lambda table: _all(pc.less(table[SpanColumns.start], table[SpanColumns.end])),
    }
    DISTINCT_LIMIT = 4096  # distinct values a column check runs on; more, and pandera checks the batch

    KNOWN: ClassVar[set[str]] = {"isin", "str_length", "greater_than_or_equal_to", "str_matches", *CUSTOM_CHECKS}

    def __init__(self, name: str, rules: TableRules | Any, stored: pa.Schema) -> None:
        """``rules``: the table's :class:`claimset.models.TableRules`, or a pandera schema to read them from."""
        declared = TABLES[name]
        self.rules = rules if isinstance(rules, TableRules) else rules_of(rules)
        self.exact = (sorted(stored.names) == sorted(declared.names) == sorted(self.rules.columns)
                      and all(stored.field(column.name).type == column.type for column in declared))
        if any(check not in self.KNOWN for column in self.rules.columns.values() for check, _ in column.checks):
            self.exact = False
        if any(check not in self.DATAFRAME_CHECKS for check in self.rules.checks):
            self.exact = False

    def passes(self, table: pa.Table) -> bool:
        if not self.exact:
            return False
        if not all(self.DATAFRAME_CHECKS[check](table) for check in self.rules.checks):
            return False
        return all(self._column_passes(table[name], column) for name, column in self.rules.columns.items())

    def _column_passes(self, values: pa.ChunkedArray, column: ColumnRules) -> bool:
        if not column.nullable and values.null_count:
            return False
        if column.unique and pc.count_distinct(values, mode="all").as_py() != len(values):
            return False
        if pa.types.is_date(values.type) and values.null_count < len(values):
            low, high = pc.min_max(values).values()
            if low.as_py() < PANDAS_DATES[0] or high.as_py() > PANDAS_DATES[1]:
                return False
        return all(self._check_passes(values, column, name, dict(statistics)) for name, statistics in column.checks)

    def _check_passes(self, values: pa.ChunkedArray, column: ColumnRules, name: str,
                      statistics: dict[str, Any]) -> bool:
        if name == "isin":
            allowed = pa.array([str(value) for value in statistics["allowed_values"]], values.type)
            return _all(pc.or_kleene(pc.is_in(values, value_set=allowed), pc.is_null(values)))
        if name == "str_length":
            lengths = pc.utf8_length(values)
            bounds = [(statistics.get("exact_value"), pc.equal), (statistics.get("min_value"), pc.greater_equal),
                      (statistics.get("max_value"), pc.less_equal)]
            return all(_all(compare(lengths, bound)) for bound, compare in bounds if bound is not None)
        if name == "greater_than_or_equal_to":
            return _all(pc.greater_equal(values, statistics["min_value"]))
        distinct = pc.drop_null(pc.unique(values))
        if len(distinct) > self.DISTINCT_LIMIT:
            return False
        if len(distinct) == 0:
            return True
        if name == "str_matches":
            pattern = str(statistics["pattern"])
            compiled = re.compile(pattern)
            if not all(compiled.match(value) for value in distinct.to_pylist()):
                return False
            anchored = pattern if pattern.startswith("^") else f"^{pattern}"
            return _all(pc.match_substring_regex(distinct, anchored))
        import pandas as pd

        result = CUSTOM_CHECKS[name](pd.Series(distinct.to_pylist(), dtype=column.dtype))  # the model's own check
        return bool(np.asarray(result, dtype=bool).all())


def _all(values: pa.ChunkedArray | pa.Array) -> bool:
    """Every value true; a null passes (nulls are checked on their own)."""
    return bool(pc.all(pc.fill_null(values, True), min_count=0).as_py())


# -- cross-table checks ---------------------------------------------------------------------------------

class _Check:
    """A check across tables, fed every batch of :attr:`tables` in TABLES order, then (if :attr:`bucketed`)
    every bucket, then finished.

    Dropped as a whole (never finished, nothing reported) when one of its tables is missing or unusable.
    """

    tables: ClassVar[tuple[str, ...]]  # the tables it reads
    codes: ClassVar[tuple[CrossCheck, ...]]  # the codes it reports
    bucketed: ClassVar[bool] = False  # reads the buckets of the second pass

    def __init__(self, files: Mapping[str, pq.ParquetFile], seeds: Sequence[Document], scheme: Scheme) -> None:
        self.files = files
        self.scheme = scheme
        self.failures = _Failures()
        self.ranked = _Ranked(self.codes)

    def batch(self, table: str, batch: _Batch) -> None:
        """Check one batch of rows of ``table``, one of :attr:`tables`."""

    def bucket(self, bucket: _Bucket) -> None:
        """Check one bucket of spans and relations."""

    def finish(self) -> None:
        """Check what needs every batch and bucket; called once every table is read."""

    def found(self) -> bool:
        return bool(self.failures.items) or self.ranked.any()

    def report(self) -> list[Failure]:
        return self.failures.items + self.ranked.items()


class _DocumentTexts(_Check):
    """Each document's text against its text_sha256, and against its seed file when seeds are given."""

    tables = ("documents",)
    codes = (CrossCheck.DOC_HASH_MISMATCH, CrossCheck.DOC_SEED_MISMATCH)

    def __init__(self, files: Mapping[str, pq.ParquetFile], seeds: Sequence[Document], scheme: Scheme) -> None:
        super().__init__(files, seeds, scheme)
        self.seed_by_id = {seed.doc_id: seed for seed in seeds}

    def batch(self, table: str, batch: _Batch) -> None:
        names = [DocumentColumns.doc_id, DocumentColumns.text, DocumentColumns.text_sha256]
        if any(batch.table[name].null_count for name in names):  # the values pandas gives (nan for a null)
            for doc_id, text, text_sha256 in zip(*(batch.frame[name] for name in names), strict=True):
                self._check(doc_id, sha256_text(text), text_sha256)
            return
        texts = _large(batch.column(DocumentColumns.text))  # hashed from the UTF-8 bytes Arrow holds
        offsets = np.frombuffer(texts.buffers()[1], np.int64)[texts.offset : texts.offset + len(texts) + 1].tolist()
        data = memoryview(texts.buffers()[2] or b"")
        for doc_id, low, high, text_sha256 in zip(batch.table[DocumentColumns.doc_id].to_pylist(), offsets[:-1],
                                                  offsets[1:], batch.table[DocumentColumns.text_sha256].to_pylist(),
                                                  strict=True):
            self._check(doc_id, hashlib.sha256(data[low:high]).hexdigest(), text_sha256)

    def _check(self, doc_id: Any, digest: str, text_sha256: Any) -> None:
        if digest != text_sha256:
            self.failures.add([Failure("documents", doc_id, DocumentColumns.text_sha256, CrossCheck.DOC_HASH_MISMATCH,
                                       "text_sha256 does not match the text")])
        seed = self.seed_by_id.get(doc_id)
        if seed is not None and seed.text_sha256 != text_sha256:
            self.failures.add([Failure("documents", doc_id, DocumentColumns.text, CrossCheck.DOC_SEED_MISMATCH,
                                       f"text differs from {seed.source_file}")])


class _AnnotationDocuments(_Check):
    """Each annotation's document is in documents."""

    tables = ("documents", "annotations")
    codes = (CrossCheck.ANNOTATION_DOC_MISSING,)

    def __init__(self, files: Mapping[str, pq.ParquetFile], seeds: Sequence[Document], scheme: Scheme) -> None:
        super().__init__(files, seeds, scheme)
        self.doc_ids: list[pa.Array] = []

    def batch(self, table: str, batch: _Batch) -> None:
        if table == "documents":
            self.doc_ids.extend(batch.column(DocumentColumns.doc_id).chunks)
            return
        known = pa.concat_arrays(self.doc_ids) if self.doc_ids else pa.array([], pa.string())  # documents came first
        self.doc_ids = []
        missing = ~batch.mask(pc.is_in(batch.column(AnnotationColumns.doc_id), value_set=known))  # nan finds nan
        if missing.any():
            self.failures.add_rows(batch.frame[missing], "annotations", AnnotationColumns.annotation_id,
                                   AnnotationColumns.doc_id, CrossCheck.ANNOTATION_DOC_MISSING,
                                   "document {doc_id} not found")


class _SpanAnnotations(_Check):
    """Each span's annotation is submitted and on the span's document."""

    tables = ("annotations", "spans")
    codes = (CrossCheck.SPAN_ANNOTATION_MISSING, CrossCheck.SPAN_DOC_MISMATCH)
    ids: Array  # the submitted annotations' ids, sorted; annotations come first
    docs: pa.Array  # their doc_ids, in the same order
    frame: pd.DataFrame | None = None  # the annotations as pandas reads them, where a merge is needed

    def batch(self, table: str, batch: _Batch) -> None:
        if table == "annotations":
            submitted = pa.array(batch.mask(pc.equal(batch.column(AnnotationColumns.status), "submitted")))
            ids = batch.column(AnnotationColumns.annotation_id).filter(submitted)
            # a lookup per span stands for pandas' merge where the ids are unique (a merge repeats a span per match)
            self.lookups = ids.null_count == 0 and unique(ids)
            values = np.asarray(pc.fill_null(ids, 0).to_numpy(), dtype=np.int64)
            order = np.argsort(values, kind="stable")
            self.ids = values[order]
            self.docs = batch.column(AnnotationColumns.doc_id).filter(submitted).take(pa.array(order)).combine_chunks()
            return
        if not self.lookups:
            self._merged(batch.frame)
            return
        ids = batch.column(SpanColumns.annotation_id)
        values = np.asarray(pc.fill_null(ids, 0).to_numpy(), dtype=np.int64)
        where = np.minimum(np.searchsorted(self.ids, values), max(len(self.ids) - 1, 0))
        found = batch.mask(pc.is_valid(ids)) & (self.ids[where] == values if len(self.ids) else False)
        annotation_doc = self.docs.take(pa.array(where, mask=~found))
        missing = ~batch.mask(pc.is_valid(annotation_doc))
        wrong_doc = ~missing & ~batch.mask(pc.equal(annotation_doc, batch.column(SpanColumns.doc_id)))
        if missing.any():
            self.failures.add_rows(batch.frame[missing], "spans", SpanColumns.span_id, SpanColumns.annotation_id,
                                   CrossCheck.SPAN_ANNOTATION_MISSING,
                                   "annotation {annotation_id} is missing or not submitted")
        if wrong_doc.any():
            rows = batch.frame[wrong_doc].assign(annotation_doc=annotation_doc.filter(pa.array(wrong_doc)).to_pylist())
            self.failures.add_rows(rows, "spans", SpanColumns.span_id, SpanColumns.doc_id, CrossCheck.SPAN_DOC_MISMATCH,
                                   "doc {doc_id} but its annotation is on {annotation_doc}")

    def _merged(self, frame: pd.DataFrame) -> None:
        if self.frame is None:  # repeated or null ids fail pandera: the frame fed was the one pandas reads
            self.frame = self.files["annotations"].read(use_threads=False).to_pandas()
        annotations = self.frame
        submitted = annotations[annotations[AnnotationColumns.status] == "submitted"]
        submitted = submitted[[AnnotationColumns.annotation_id, AnnotationColumns.doc_id]].rename(
            columns={AnnotationColumns.doc_id: "annotation_doc"})
        joined = frame.merge(submitted, on=SpanColumns.annotation_id, how="left")
        self.failures.add_rows(joined[joined["annotation_doc"].isna()], "spans", SpanColumns.span_id,
                               SpanColumns.annotation_id, CrossCheck.SPAN_ANNOTATION_MISSING,
                               "annotation {annotation_id} is missing or not submitted")
        wrong_doc = joined["annotation_doc"].notna() & (joined["annotation_doc"] != joined[SpanColumns.doc_id])
        self.failures.add_rows(joined[wrong_doc], "spans", SpanColumns.span_id, SpanColumns.doc_id,
                               CrossCheck.SPAN_DOC_MISMATCH, "doc {doc_id} but its annotation is on {annotation_doc}")


class _SpanTexts(_Check):
    """``text == documents.text[start:end]`` and the quote context, without a per-span loop.

    Reads, for each batch of spans, only the row groups of documents whose doc_id range holds one of
    the batch's documents (from the Parquet statistics).
    """

    tables = ("documents", "spans")
    codes = (CrossCheck.SPAN_DOC_MISSING, CrossCheck.SPAN_OUT_OF_RANGE, CrossCheck.SPAN_TEXT_MISMATCH,
             CrossCheck.SPAN_QUOTE_MISMATCH)
    NULL = np.iinfo(np.int64).min  # an offset pandas read as nan, cast to int64 as numpy does

    def __init__(self, files: Mapping[str, pq.ParquetFile], seeds: Sequence[Document], scheme: Scheme) -> None:
        super().__init__(files, seeds, scheme)
        self.doc_ranges: list[tuple[str, str] | None] | None = None  # per row group of documents, read when needed
        self.groups: dict[int, pa.Table] = {}  # the row groups of documents the last batch read

    def batch(self, table: str, batch: _Batch) -> None:
        if table != "spans":
            return  # documents are read by row group as the spans need them
        doc_ids = batch.column(SpanColumns.doc_id)
        names, texts = self._documents_of(doc_ids)
        known = batch.mask(pc.is_in(doc_ids, value_set=names, skip_nulls=True))
        if not known.all():
            self.failures.add_rows(batch.frame[~known], "spans", SpanColumns.span_id, SpanColumns.doc_id,
                                   CrossCheck.SPAN_DOC_MISSING, "document {doc_id} not found")
        corpus = DocumentCorpus(texts)
        rows = np.flatnonzero(known)
        doc_index = np.asarray(pc.fill_null(pc.index_in(doc_ids, value_set=names), 0).to_numpy(), dtype=np.int64)
        starts = np.asarray(pc.fill_null(batch.column(SpanColumns.start), self.NULL).to_numpy(), dtype=np.int64)
        ends = np.asarray(pc.fill_null(batch.column(SpanColumns.end), self.NULL).to_numpy(), dtype=np.int64)
        strings = {name: _large(batch.column(name)) for name in (SpanColumns.text, SpanColumns.prefix,
                                                                  SpanColumns.suffix)}
        strings["quote"] = _large(pc.binary_join_element_wise(*(batch.column(name) for name in (
            SpanColumns.prefix, SpanColumns.text, SpanColumns.suffix)), ""))  # null if a part is
        # prefix + text + suffix against the document around each span, every row at once; failures by chunk
        in_range = corpus.in_range(doc_index[rows], starts[rows], ends[rows])
        quoted = corpus.quote_matches(doc_index[rows], np.where(in_range, starts[rows], 0),
                                      np.where(in_range, ends[rows], 0), strings, rows)
        for offset in range(0, len(rows), SPAN_CHUNK):
            part = slice(offset, offset + SPAN_CHUNK)
            chunk = rows[part]
            self._compare(batch, corpus, chunk, doc_index[chunk], starts[chunk], ends[chunk], strings, quoted[part])

    def _compare(self, batch: _Batch, corpus: DocumentCorpus, chunk: Array, docs: Array, starts: Array, ends: Array,
                 strings: dict[str, pa.LargeStringArray], quoted: Array) -> None:
        in_range = corpus.in_range(docs, starts, ends)
        if not in_range.all():
            self.failures.add_rows(batch.frame.iloc[chunk[~in_range]], "spans", SpanColumns.span_id, SpanColumns.end,
                                   CrossCheck.SPAN_OUT_OF_RANGE, "{start}..{end} is past the end of document {doc_id}")
        if (quoted | ~in_range).all():
            return
        chunk, docs, in_range = chunk[~quoted], docs[~quoted], in_range[~quoted]  # the rest, one check at a time
        safe_starts = np.where(in_range, starts[~quoted], 0)
        safe_ends = np.where(in_range, ends[~quoted], 0)
        matches = corpus.matches(docs, safe_starts, safe_ends, strings[SpanColumns.text], chunk)
        bad_text = in_range & ~matches
        if bad_text.any():
            self.failures.add_rows(batch.frame.iloc[chunk[bad_text]], "spans", SpanColumns.span_id, SpanColumns.text,
                                   CrossCheck.SPAN_TEXT_MISMATCH,
                                   "text {text!r} is not the document's text[{start}:{end}]")
        context_ok = corpus.context_matches(docs, safe_starts, safe_ends, strings[SpanColumns.prefix],
                                            strings[SpanColumns.suffix], chunk)
        bad_quote = in_range & ~bad_text & ~context_ok
        if bad_quote.any():
            self.failures.add_rows(batch.frame.iloc[chunk[bad_quote]], "spans", SpanColumns.span_id, SpanColumns.prefix,
                                   CrossCheck.SPAN_QUOTE_MISMATCH,
                                   "prefix/suffix are not the text around {start}..{end}")

    def _documents_of(self, doc_ids: pa.ChunkedArray) -> tuple[pa.Array, pa.LargeStringArray]:
        """The doc_ids and texts of the batch's documents (of a repeated id, the last row), reading only the row
        groups whose doc_id range holds one of them."""
        wanted = np.sort(np.asarray(pc.drop_null(pc.unique(doc_ids)).to_pylist(), dtype=object))
        file = self.files["documents"]
        if self.doc_ranges is None:
            self.doc_ranges = _row_group_ranges(file, DocumentColumns.doc_id)
        groups = []
        for number, bounds in enumerate(self.doc_ranges):
            if bounds is None:
                groups.append(number)
            elif len(wanted):
                low = np.searchsorted(wanted, bounds[0], side="left")
                if low < len(wanted) and wanted[low] <= bounds[1]:
                    groups.append(number)
        columns = [DocumentColumns.doc_id, DocumentColumns.text]
        # spans come document by document: a batch's first row group is often the last batch's last
        self.groups = {number: self.groups[number] if number in self.groups else
                       file.read_row_groups([number], columns=columns, use_threads=False) for number in groups}
        table = pa.concat_tables(self.groups.values()) if groups else file.schema_arrow.empty_table().select(columns)
        ids = table[DocumentColumns.doc_id].cast(pa.string())
        table = table.filter(pc.is_in(ids, value_set=pa.array(wanted.tolist(), pa.string())))
        ids = table[DocumentColumns.doc_id].cast(pa.string()).combine_chunks()
        if not unique(ids):  # as a dict of them would hold them: in the order first seen, with the last text
            last = dict(zip(ids.to_pylist(), range(len(ids)), strict=True))
            table = table.take(pa.array(list(last.values()), pa.int64()))
            ids = table[DocumentColumns.doc_id].cast(pa.string()).combine_chunks()
        return ids, _large(table[DocumentColumns.text])


def _large(values: pa.ChunkedArray) -> pa.LargeStringArray:
    """One large_string array (64-bit offsets) of a string column."""
    array = values.cast(pa.large_string()).combine_chunks()
    assert isinstance(array, pa.LargeStringArray)
    return array


class _SpanAttributes(_Check):
    """Each span has the attributes its label requires, and none its label does not take."""

    tables = ("spans",)
    codes = (CrossCheck.ATTRIBUTE_MISSING, CrossCheck.ATTRIBUTE_NOT_APPLICABLE)

    def batch(self, table: str, batch: _Batch) -> None:
        labels = batch.column(SpanColumns.label)
        for name in self.scheme.attribute_names:
            takes = [attr.label for attr in self.scheme.attributes if attr.name == name]
            required = [attr.label for attr in self.scheme.attributes if attr.name == name and attr.required]
            present = batch.mask(pc.is_valid(batch.column(name)))
            missing = batch.mask(pc.is_in(labels, value_set=pa.array(required, pa.string()))) & ~present
            if missing.any():
                self.failures.add_rows(batch.frame[missing], "spans", SpanColumns.span_id, name,
                                       CrossCheck.ATTRIBUTE_MISSING, f"{{label}} span without {name}")
            extra = ~batch.mask(pc.is_in(labels, value_set=pa.array(takes, pa.string()))) & present
            if extra.any():
                self.failures.add_rows(batch.frame[extra], "spans", SpanColumns.span_id, name,
                                       CrossCheck.ATTRIBUTE_NOT_APPLICABLE, f"{{label}} span with {name}")


class _SpanIds(_Check):
    """Each span_id is :func:`claimset.tables.span_id` of the row's annotation_id and region_id."""

    tables = ("spans",)
    codes = (CrossCheck.SPAN_ID_MISMATCH,)

    def batch(self, table: str, batch: _Batch) -> None:
        # span_id(annotation_id, region_id) is the annotation's id, ":", the region (an id has no ":", so this
        # is: the text before the span_id's first ":" is the id, and the text after it the region)
        same = pc.equal(batch.column(SpanColumns.span_id), pc.binary_join_element_wise(
            pc.cast(batch.column(SpanColumns.annotation_id), pa.string()), batch.column(SpanColumns.region_id), ":"))
        complete = np.logical_and.reduce([batch.mask(pc.is_valid(batch.column(name))) for name in (
            SpanColumns.span_id, SpanColumns.annotation_id, SpanColumns.region_id)])  # a null is pandera's to report
        wrong = complete & ~batch.mask(same)
        if wrong.any():
            columns = [SpanColumns.span_id, SpanColumns.annotation_id, SpanColumns.region_id]
            self.failures.add_rows(batch.frame[columns][wrong], "spans", SpanColumns.span_id, SpanColumns.span_id,
                                   CrossCheck.SPAN_ID_MISMATCH,
                                   "not the id of region {region_id} of annotation {annotation_id}")


class _RelationIds(_Check):
    """Each relation_id is :func:`claimset.tables.relation_id` of its annotation, endpoint regions and type."""

    tables = ("relations",)
    codes = (CrossCheck.RELATION_ID_MISMATCH,)
    PARTS: ClassVar[list[str]] = [RelationColumns.annotation_id, RelationColumns.head_span_id,
                                  RelationColumns.tail_span_id, RelationColumns.type]

    def batch(self, table: str, batch: _Batch) -> None:
        owner = pc.cast(batch.column(RelationColumns.annotation_id), pa.string())
        regions = []
        for column in (RelationColumns.head_span_id, RelationColumns.tail_span_id):
            # span_id(annotation_id, region): the annotation's id, ":", the region (null if not the annotation's)
            before, after = batch.split(column)
            regions.append(pc.if_else(pc.equal(before, owner), after, pa.scalar(None, pa.string())))
        expected = pc.binary_join_element_wise(owner, ":", regions[0], ">", regions[1], ":",
                                               batch.column(RelationColumns.type), "")
        values = [batch.column(name) for name in (RelationColumns.relation_id, *self.PARTS)]
        complete = np.logical_and.reduce([batch.mask(pc.is_valid(value)) for value in values])  # nulls: pandera's
        wrong = complete & ~batch.mask(pc.equal(expected, batch.column(RelationColumns.relation_id)))
        if wrong.any():
            columns = [RelationColumns.relation_id, *self.PARTS]
            self.failures.add_rows(batch.frame[columns][wrong], "relations", RelationColumns.relation_id,
                                   RelationColumns.relation_id, CrossCheck.RELATION_ID_MISMATCH,
                                   "not the id of the {type} relation {head_span_id} -> {tail_span_id} "
                                   "of annotation {annotation_id}")


def _relation_records(relations: pa.Table, rows: Array) -> list[dict[str, Any]]:
    """These relations as the pandas frame of their batch gives them (a null is nan, and annotation_id is a
    float in a batch where some is null)."""
    picked = relations.take(pa.array(rows, pa.int64()))
    columns = {name: picked[name].to_pylist() for name in _Partition.RELATION_COLUMNS}
    records = []
    for number, floats in enumerate(picked["aid_float"].to_pylist()):
        record = {name: _pandas_value(values[number]) for name, values in columns.items()}
        if floats and record[RelationColumns.annotation_id] == record[RelationColumns.annotation_id]:
            record[RelationColumns.annotation_id] = float(record[RelationColumns.annotation_id])
        records.append(record)
    return records


def _add_ranked(ranked: _Ranked, code: str, relations: pa.Table, rows: Array, column: str | None, template: str,
                extra: Mapping[str, Sequence[Any]] | None = None) -> None:
    """A failure per relation of ``rows`` of the bucket, ranked by its row in the table."""
    if not rows.size:
        return
    records = _relation_records(relations, rows)
    table_rows = relations["row"].take(pa.array(rows, pa.int64())).to_pylist()
    for name, values in (extra or {}).items():
        for record, value in zip(records, values, strict=True):
            record[name] = value
    ranked.add(code, ((row, Failure("relations", str(record[RelationColumns.relation_id]), column, code,
                                    template.format(**record)))
                      for row, record in zip(table_rows, records, strict=True)))


class _RelationEndpoints(_Check):
    """Each relation's endpoints are spans of its annotation and document, with labels its type allows.

    Bucket by bucket: a relation is in its head's bucket, and so is its tail in a valid dataset (the
    few tails elsewhere are looked up before, :meth:`_Partition.foreign_tails`).
    """

    tables = ("spans", "relations")
    codes = (CrossCheck.RELATION_ENDPOINT_MISSING, CrossCheck.RELATION_CROSS_ANNOTATION,
             CrossCheck.RELATION_WRONG_LABELS, CrossCheck.RELATION_DOC_MISMATCH)
    bucketed = True

    def __init__(self, files: Mapping[str, pq.ParquetFile], seeds: Sequence[Document], scheme: Scheme) -> None:
        super().__init__(files, seeds, scheme)
        self.types = pa.array(sorted({r.value for r in scheme.relations}), pa.string())
        self.labels = pa.array(sorted({label for r in scheme.relations for label in (r.head, r.tail)}), pa.string())
        types, labels = self.types.to_pylist(), self.labels.to_pylist()
        self.allowed = np.array([self._code(types.index(r.value), labels.index(r.head), labels.index(r.tail))
                                 for r in scheme.relations], dtype=np.int64)

    def _code(self, kind: Any, head: Any, tail: Any) -> Any:
        """(type, head label, tail label) as one number (of codes in :attr:`types` and :attr:`labels`)."""
        return (kind * len(self.labels) + head) * len(self.labels) + tail

    def bucket(self, bucket: _Bucket) -> None:
        spans, relations = bucket.spans, bucket.relations
        if spans is None or relations is None or relations.num_rows == 0:
            return
        ends = pa.chunked_array([*relations[RelationColumns.head_span_id].chunks,
                                 *relations[RelationColumns.tail_span_id].chunks], pa.string())
        where = pc.index_in(ends, value_set=spans[SpanColumns.span_id].combine_chunks())  # one lookup for both
        head = self._endpoints(spans, where.slice(0, relations.num_rows))
        tail = self._endpoints(spans, where.slice(relations.num_rows))
        elsewhere = np.flatnonzero(relations["tail_bucket"].to_numpy() != bucket.number)
        if elsewhere.size:
            self._look_elsewhere(tail, elsewhere, relations["row"].take(pa.array(elsewhere)).to_pylist(), bucket)
        missing = ~(head["ok"] & tail["ok"])
        _add_ranked(self.ranked, CrossCheck.RELATION_ENDPOINT_MISSING, relations, np.flatnonzero(missing),
                    RelationColumns.head_span_id, "{head_span_id} -> {tail_span_id}: endpoint not in spans")
        own = _floats(relations[RelationColumns.annotation_id])
        cross = ~missing & ((head["annotation_id"] != own) | (tail["annotation_id"] != own))  # nan differs
        _add_ranked(self.ranked, CrossCheck.RELATION_CROSS_ANNOTATION, relations, np.flatnonzero(cross),
                    RelationColumns.annotation_id, "joins spans outside annotation {annotation_id}")
        codes = [_codes(values, known) for values, known in ((relations[RelationColumns.type], self.types),
                                                             (head["label"], self.labels),
                                                             (tail["label"], self.labels))]
        allowed = np.isin(self._code(*codes), self.allowed) & np.logical_and.reduce([code >= 0 for code in codes])
        rows = np.flatnonzero(~missing & ~allowed)
        _add_ranked(self.ranked, CrossCheck.RELATION_WRONG_LABELS, relations, rows, RelationColumns.type,
                    "{type} joins {head_label} -> {tail_label}",
                    {"head_label": head["label"].take(pa.array(rows, pa.int64())).to_pylist(),
                     "tail_label": tail["label"].take(pa.array(rows, pa.int64())).to_pylist()})
        docs = relations[RelationColumns.doc_id]
        same_doc = _mask(pc.and_(pc.equal(head["doc"], docs), pc.equal(tail["doc"], docs)))
        _add_ranked(self.ranked, CrossCheck.RELATION_DOC_MISMATCH, relations, np.flatnonzero(~missing & ~same_doc),
                    RelationColumns.doc_id, "{head_span_id} -> {tail_span_id} are not both on doc {doc_id}")

    def _endpoints(self, spans: pa.Table, where: pa.ChunkedArray) -> dict[str, Any]:
        """For each endpoint, the first span with its span_id (a null finds a null; ``where`` is that span's row):
        found with a label, its annotation_id (nan if none), label and doc_id."""
        found = spans.select([SpanColumns.annotation_id, SpanColumns.label, SpanColumns.doc_id]).take(where)
        return {"ok": _mask(pc.is_valid(found[SpanColumns.label])), "annotation_id": _floats(
            found[SpanColumns.annotation_id]), "label": found[SpanColumns.label].combine_chunks(),
            "doc": found[SpanColumns.doc_id].combine_chunks()}

    def _look_elsewhere(self, tail: dict[str, Any], rows: Array, table_rows: list[int], bucket: _Bucket) -> None:
        """The tails of ``rows`` from the lookups done before, in the buckets they are in."""
        looks = [bucket.tails[row] for row in table_rows]
        tail["ok"][rows] = [look[0] and look[2] is not None for look in looks]
        tail["annotation_id"][rows] = [np.nan if look[1] is None else look[1] for look in looks]
        for position, name in ((2, "label"), (3, "doc")):
            values = np.asarray(tail[name].to_numpy(zero_copy_only=False), dtype=object)
            values[rows] = [look[position] for look in looks]
            tail[name] = pa.array(values, pa.string())


def _floats(values: pa.ChunkedArray) -> Array:
    """Numbers as float64, a null as nan (as pandas reads an integer column with a null; past 2**53 inexactly,
    as pandas does)."""
    return np.asarray(pc.cast(values, pa.float64(), safe=False).to_numpy(zero_copy_only=False), dtype=np.float64)


def _mask(values: pa.ChunkedArray | pa.Array) -> Array:
    """A boolean Arrow result as numpy, null as False."""
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _codes(values: pa.ChunkedArray | pa.Array, known: pa.Array) -> Array:
    """The position of each value in ``known``, -1 for a null or another value."""
    return np.asarray(pc.fill_null(pc.index_in(values, value_set=known), -1).to_numpy(zero_copy_only=False),
                      dtype=np.int64)


class _RelationsPerHead(_Check):
    """No claim has more relations of a type than the scheme's ``max_per_head``, counted over every batch."""

    tables = ("spans", "relations")  # the heads are claims: counted only when spans are usable
    codes = (CrossCheck.RELATION_MAX_PER_HEAD,)
    bucketed = True

    def __init__(self, files: Mapping[str, pq.ParquetFile], seeds: Sequence[Document], scheme: Scheme) -> None:
        super().__init__(files, seeds, scheme)
        self.max_per_head = {r.value: r.max_per_head for r in scheme.relations if r.max_per_head}

    def bucket(self, bucket: _Bucket) -> None:
        relations = bucket.relations
        if relations is None or relations.num_rows == 0:
            return
        limited = relations.filter(pc.and_(pc.is_in(relations[RelationColumns.type],
                                                    value_set=pa.array(list(self.max_per_head), pa.string())),
                                           pc.is_valid(relations[RelationColumns.head_span_id])))
        counts = limited.group_by([RelationColumns.head_span_id, RelationColumns.type], use_threads=False).aggregate(
            [(RelationColumns.head_span_id, "count")])
        kinds = pa.array(list(self.max_per_head), pa.string())
        limits = np.array(list(self.max_per_head.values()), dtype=np.int64)
        allowed = limits[np.asarray(pc.index_in(counts[RelationColumns.type], value_set=kinds).to_numpy())]
        over = counts.filter(pa.array(np.asarray(counts["head_span_id_count"].to_numpy()) > allowed))
        columns = [RelationColumns.head_span_id, RelationColumns.type, "head_span_id_count"]
        for head, kind, n in zip(*(over[name].to_pylist() for name in columns), strict=True):
            self.ranked.add(CrossCheck.RELATION_MAX_PER_HEAD, [(
                (head, kind), Failure("relations", str(head), RelationColumns.type, CrossCheck.RELATION_MAX_PER_HEAD,
                                      f"claim {head} has {n} {kind} relations"))])


class _DuplicateRelations(_Check):
    """No two relations have the same head, tail and type; each repeat after the first is reported."""

    tables = ("relations",)
    codes = (CrossCheck.DUPLICATE_RELATION,)
    bucketed = True
    KEY: ClassVar[list[str]] = [RelationColumns.head_span_id, RelationColumns.tail_span_id, RelationColumns.type]

    def bucket(self, bucket: _Bucket) -> None:
        relations = bucket.relations
        if relations is None or relations.num_rows < 2:
            return
        complete = np.flatnonzero(np.logical_and.reduce(
            [np.asarray(pc.is_valid(relations[name]).to_numpy(zero_copy_only=False), dtype=bool)
             for name in self.KEY]))
        keys = relations.select(self.KEY).take(pa.array(complete, pa.int64()))
        groups = keys.group_by(self.KEY, use_threads=False).aggregate([(self.KEY[0], "count")])
        if groups.num_rows == keys.num_rows:  # the common case: no key twice
            return
        order = np.asarray(pc.sort_indices(keys, sort_keys=[(name, "ascending") for name in self.KEY]))
        ordered = keys.take(pa.array(order))
        starts = np.logical_or.reduce([run_starts(ordered[name]) for name in self.KEY])
        sizes = np.diff(np.append(np.flatnonzero(starts), len(starts)))
        if not (sizes > 1).any():
            return
        ids = relations[RelationColumns.relation_id].to_pylist()
        found: list[tuple[int, int, Any]] = []  # (bucket row, table row of the first, relation_id of the first)
        for start, size in zip(np.flatnonzero(starts), sizes, strict=True):
            if size < 2:
                continue
            group = sorted(complete[order[start : start + size]], key=lambda row: row)  # table order: bucket order
            first = next((ids[row] for row in group if ids[row] is not None), None)
            found.extend((row, group[0], first) for row in group[1:])
        found.sort()
        rows = np.array([row for row, _, _ in found], dtype=np.int64)
        _add_ranked(self.ranked, CrossCheck.DUPLICATE_RELATION, relations, rows, None,
                    "the same {type} relation {head_span_id} -> {tail_span_id} as {first}",
                    {"first": [_pandas_value(first) for _, _, first in found]})


# The cross-table checks, in the order they are reported.
CHECKS: tuple[type[_Check], ...] = (
    _DocumentTexts, _AnnotationDocuments, _SpanAnnotations, _SpanTexts, _SpanAttributes, _SpanIds,
    _RelationEndpoints, _RelationsPerHead, _RelationIds, _DuplicateRelations,
)


# -- hashes (a key column of another type than string) -----------------------------------------------------

def _hash(values: pd.Series | pd.DataFrame) -> Array:
    """64-bit hashes of a column's values, or of rows of several columns, for set operations in numpy.

    Several columns combine their hashes: a collision only costs a second look, as every use of a
    row hash compares the values again. Columns of :data:`FEW_VALUES` are hashed once per value.
    """
    import pandas as pd

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


def _repeated(hashes: Array) -> Array:
    """The hashes that occur more than once, sorted."""
    ordered = np.sort(hashes)
    repeated: Array = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    return repeated


def _rows_hashed_in(file: pq.ParquetFile, columns: list[str], key: str | list[str], hashes: Array) -> pd.DataFrame:
    """The rows of ``file`` (its ``columns``) whose ``key`` hashes to one of the sorted ``hashes``, batch by batch."""
    import pandas as pd

    frames = []
    for batch in file.iter_batches(batch_size=BATCH_ROWS, columns=list(dict.fromkeys(columns)), use_threads=False):
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


# -- span texts ------------------------------------------------------------------------------------------------

class DocumentCorpus:
    """Document texts (an Arrow array of them) as one UTF-8 buffer, with a code-point -> byte offset map.

    Positions are code points into a document; :meth:`byte_of` maps code point ``p`` of document ``d``
    to its byte offset in :attr:`data`. The map keeps only the characters outside ASCII: a position's
    byte offset is the position plus the extra bytes of those before it.
    """

    CONTEXT = QUOTE_CONTEXT

    def __init__(self, texts: pa.LargeStringArray) -> None:
        offsets = np.frombuffer(texts.buffers()[1], dtype=np.int64)[texts.offset : texts.offset + len(texts) + 1]
        buffer = texts.buffers()[2]
        everything = np.frombuffer(buffer, dtype=np.uint8) if buffer is not None else np.zeros(0, np.uint8)
        self.data = everything[offsets[0] : offsets[-1]] if len(texts) else np.zeros(0, np.uint8)
        self.lengths = np.asarray(pc.fill_null(pc.utf8_length(texts), 0).to_numpy(), dtype=np.int64)
        self.base = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)
        high = np.flatnonzero(self.data >= 0x80)
        leads = high[self.data[high] >= 0xC0]  # the first byte of each character outside ASCII
        extra = 1 + (self.data[leads] >= 0xE0).astype(np.int64) + (self.data[leads] >= 0xF0)
        self.extra_before = np.concatenate([[0], np.cumsum(extra)]).astype(np.int64)
        self.wide = leads - self.extra_before[:-1]  # their code-point positions, in the whole buffer

    def byte_of(self, positions: Array) -> Array:
        """Byte offsets in :attr:`data` of code-point positions in the whole buffer."""
        return positions + self.extra_before[np.searchsorted(self.wide, positions, side="left")]

    def in_range(self, docs: Array, starts: Array, ends: Array) -> Array:
        return np.asarray((starts >= 0) & (starts < ends) & (ends <= self.lengths[docs]), dtype=bool)

    def _bytes(self, docs: Array, starts: Array, ends: Array) -> tuple[Array, Array]:
        base = self.base[docs]
        return self.byte_of(base + starts), self.byte_of(base + ends)

    def quote_matches(self, docs: Array, starts: Array, ends: Array, strings: Mapping[str, pa.LargeStringArray],
                      rows: Array) -> Array:
        """Row-wise: are ``prefix + text + suffix`` (of ``rows``) the document's text from 32 code points before
        ``starts`` to 32 after ``ends``, with the text exactly at ``starts:ends``? (nulls compare False)"""
        pre_starts = np.maximum(0, starts - self.CONTEXT)
        post_ends = np.minimum(self.lengths[docs], ends + self.CONTEXT)
        base = self.base[docs]
        pre_lo, lo, hi, post_hi = (self.byte_of(base + positions) for positions in (pre_starts, starts, ends,
                                                                                     post_ends))
        widths = [_byte_lengths(strings[name], rows) for name in (SpanColumns.prefix, SpanColumns.text)]
        placed = (widths[0] == lo - pre_lo) & (widths[1] == hi - lo)
        if len(self.data) >= 2**31:  # beyond the 32-bit offsets of a view
            return np.asarray(placed & _bytes_equal(self.data, pre_lo, post_hi, strings["quote"], rows), dtype=bool)
        quotes = strings["quote"].take(pa.array(rows, pa.int64())).cast(pa.large_binary()).cast(pa.binary_view())
        same = np.asarray(pc.fill_null(pc.equal(self.windows(pre_lo, post_hi), quotes), False).to_numpy(
            zero_copy_only=False), dtype=bool)
        return np.asarray(placed & same, dtype=bool)

    def windows(self, lo: Array, hi: Array) -> pa.Array:
        """``data[lo:hi]`` for each row, as an Arrow ``binary_view`` array over :attr:`data` (no bytes copied).

        A view is 16 bytes: the length (int32), then up to 12 bytes inline, or the first 4 bytes, the
        buffer's number and the offset in it (int32 each).
        """
        rows = len(lo)
        lengths = np.asarray(hi - lo, dtype=np.int64)
        data = self.data if len(self.data) >= 4 else np.zeros(4, np.uint8)
        words = np.zeros((rows, 4), dtype="<i4")  # length, then 12 bytes
        words[:, 0] = lengths
        long = np.flatnonzero(lengths > 12)
        heads: Array = np.ndarray(shape=(len(data) - 3,), dtype="<i4", buffer=data, offset=0, strides=(1,))
        words[long, 1] = heads[lo[long]]  # the first 4 bytes; buffer 0 (already); the offset:
        words[long, 3] = lo[long]
        views = words.view(np.uint8).reshape(rows, 16)
        short = np.flatnonzero((lengths > 0) & (lengths <= 12))
        if short.size:  # the bytes themselves, inline
            at = np.minimum(lo[short, None] + np.arange(12), len(data) - 1)
            views[short, 4:] = np.where(np.arange(12) < lengths[short, None], data[at], 0)
        return pa.Array.from_buffers(pa.binary_view(), rows, [None, pa.py_buffer(views), pa.py_buffer(data)])

    def matches(self, docs: Array, starts: Array, ends: Array, texts: pa.LargeStringArray, rows: Array) -> Array:
        """Row-wise ``texts[rows[i]] == doc_text[starts[i]:ends[i]]`` (offsets in range; nulls compare False)."""
        lo, hi = self._bytes(docs, starts, ends)
        return _bytes_equal(self.data, lo, hi, texts, rows)

    def context_matches(self, docs: Array, starts: Array, ends: Array, prefixes: pa.LargeStringArray,
                        suffixes: pa.LargeStringArray, rows: Array) -> Array:
        pre_starts = np.maximum(0, starts - self.CONTEXT)
        post_ends = np.minimum(self.lengths[docs], ends + self.CONTEXT)
        pre_lo, pre_hi = self._bytes(docs, pre_starts, starts)
        post_lo, post_hi = self._bytes(docs, ends, post_ends)
        before = _bytes_equal(self.data, pre_lo, pre_hi, prefixes, rows)
        return np.asarray(before & _bytes_equal(self.data, post_lo, post_hi, suffixes, rows), dtype=bool)


def _byte_lengths(texts: pa.LargeStringArray, rows: Array) -> Array:
    """UTF-8 lengths of ``texts[rows]`` (a null's is 0)."""
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int64)[texts.offset : texts.offset + len(texts) + 1]
    return np.asarray(offsets[rows + 1] - offsets[rows], dtype=np.int64)


WORD = 8  # bytes compared at once


def _bytes_equal(data: Array, lo: Array, hi: Array, texts: pa.LargeStringArray, rows: Array) -> Array:
    """Row-wise: is UTF-8 of ``texts[rows[i]]`` equal to ``data[lo[i]:hi[i]]``? (nulls compare False)

    Compared 8 bytes at a time: a string of n >= 8 bytes is equal if its windows at 0, 8, 16, ... and
    n - 8 are; shorter ones byte by byte.
    """
    valid = np.asarray(texts.is_valid().to_numpy(zero_copy_only=False), dtype=bool)[rows]
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int64)[texts.offset : texts.offset + len(texts) + 1]
    buffer = texts.buffers()[2]
    text_bytes = np.frombuffer(buffer, dtype=np.uint8) if buffer is not None else np.zeros(0, np.uint8)
    text_lo = offsets[rows]
    lengths = offsets[rows + 1] - text_lo
    equal = valid & (lengths == hi - lo)
    long = np.flatnonzero(equal & (lengths >= WORD))
    if long.size:
        equal[long] = _windows_equal(data, lo[long], text_bytes, text_lo[long], lengths[long])
    short = np.flatnonzero(equal & (lengths > 0) & (lengths < WORD))
    if short.size:
        row_lengths = lengths[short]
        starts = np.concatenate([[0], np.cumsum(row_lengths)[:-1]])
        steps = np.arange(row_lengths.sum()) - np.repeat(starts, row_lengths)
        same = data[np.repeat(lo[short], row_lengths) + steps] == text_bytes[np.repeat(text_lo[short], row_lengths)
                                                                             + steps]
        equal[short] = np.logical_and.reduceat(same, starts)
    return np.asarray(equal, dtype=bool)


def _windows_equal(data: Array, lo: Array, text_bytes: Array, text_lo: Array, lengths: Array) -> Array:
    """Row-wise equality of byte ranges of at least :data:`WORD` bytes, compared as 64-bit words."""
    counts = -(-lengths // WORD)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    steps = (np.arange(counts.sum()) - np.repeat(starts, counts)) * WORD
    steps = np.minimum(steps, np.repeat(lengths - WORD, counts))  # the last window ends where the range does
    left = _words(data)[np.repeat(lo, counts) + steps]
    right = _words(text_bytes)[np.repeat(text_lo, counts) + steps]
    return np.asarray(np.logical_and.reduceat(left == right, starts), dtype=bool)


def _words(data: Array) -> Array:
    """The 8-byte word starting at each byte of ``data`` (an unaligned, overlapping view, no copy)."""
    if len(data) < WORD:
        return np.zeros(0, np.uint64)
    return np.ndarray(shape=(len(data) - WORD + 1,), dtype=np.uint64, buffer=data, offset=0, strides=(1,))
