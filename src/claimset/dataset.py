"""A claimset dataset folder, read through one door: :func:`load` returns a :class:`Dataset`.

A dataset folder holds the Parquet tables of :mod:`claimset.tables` plus ``claims.parquet``
(:mod:`claimset.claims`), and describes itself: ``scheme.yaml`` is the scheme it was made under,
verbatim, and ``claimset.json`` records that scheme's name, version and content hash, and the claimset
version that wrote the folder. Every command that reads a dataset uses its own scheme; a scheme given
on top (``--scheme``) must be the same one, or the command stops with a one-line error naming both.
A folder without that record is read under the default scheme, with a warning.

Offsets in every table are Unicode code points, half-open, into ``documents.text``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Generic, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from claimset import __version__
from claimset.claims import (
    CLAIMS,
    BucketInputs,
    ClaimsWriter,
    claims_of,
    derive_claims,
    mentions_of,
    submitted_annotations,
    unique,
)
from claimset.claims import INPUTS as CLAIM_INPUTS
from claimset.errors import ClaimsetError, ClaimsetWarning, MissingExtraError
from claimset.models import AnnotationColumns, DocumentColumns, RelationColumns, SpanColumns
from claimset.partition import Layout, Spool, work_directory
from claimset.scheme import Scheme, default_scheme, load_scheme, scheme_from_text
from claimset.seeds import Document
from claimset.tables import TABLES, atomic_path, read_ahead, table_path, write_table
from claimset.transaction import replace_folder

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

    from claimset.validate import ValidationReport

T = TypeVar("T")

MANIFEST = "claimset.json"
SCHEME_FILE = "scheme.yaml"
FORMAT = "claimset-dataset"
FORMAT_VERSION = 1
REQUIRED = ("documents", "annotations", "spans", "relations")  # what makes a folder a claimset dataset
# What claimset writes into a dataset folder: never carried over from an older generation (it would be stale).
GENERATED = frozenset({*(f"{name}.parquet" for name in (*TABLES, "claims", "span_provenance", "review")),
                       MANIFEST, SCHEME_FILE, "croissant.json", "review.jsonl"})


class NoRecordWarning(ClaimsetWarning):
    """A dataset folder without ``claimset.json`` is read under the default scheme."""


@dataclass(frozen=True)
class Manifest:
    """What ``claimset.json`` records about a dataset folder."""

    claimset_version: str
    scheme_name: str
    scheme_version: int
    scheme_sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "claimset_version": self.claimset_version,
                "scheme": {"name": self.scheme_name, "version": self.scheme_version, "sha256": self.scheme_sha256,
                           "file": SCHEME_FILE}}


def write_record(directory: Path, scheme: Scheme) -> None:
    """Record in ``directory`` the scheme it is written under and the claimset version writing it."""
    (directory / SCHEME_FILE).write_text(scheme.source, encoding="utf-8")
    manifest = Manifest(__version__, scheme.name, scheme.version, scheme.sha256)
    (directory / MANIFEST).write_text(json.dumps(manifest.to_dict(), indent=2) + "\n", encoding="utf-8")


def read_record(directory: Path) -> tuple[Manifest, Scheme] | None:
    """The manifest and recorded scheme of ``directory``; None when it has no ``claimset.json``."""
    path = directory / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        recorded = data["scheme"]
        manifest = Manifest(str(data["claimset_version"]), str(recorded["name"]), int(recorded["version"]),
                            str(recorded["sha256"]))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise ClaimsetError(f"{path}: not a readable claimset dataset record ({type(exc).__name__}: {exc})") from exc
    if data.get("scheme", {}).get("file") != SCHEME_FILE:
        raise ClaimsetError(f"{path}: the scheme record must name {SCHEME_FILE!r}, not {data['scheme'].get('file')!r}")
    if data.get("format") != FORMAT:
        raise ClaimsetError(f"{path}: not a claimset dataset record (format {data.get('format')!r})")
    if not isinstance(data.get("format_version"), int) or data["format_version"] > FORMAT_VERSION:
        raise ClaimsetError(f"{path}: dataset format {data.get('format_version')!r}, written by claimset "
                            f"{manifest.claimset_version}; this claimset ({__version__}) reads format "
                            f"{FORMAT_VERSION}: upgrade claimset")
    scheme_path = directory / SCHEME_FILE
    try:
        text = scheme_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ClaimsetError(f"{scheme_path}: the dataset's scheme cannot be read ({exc})") from exc
    scheme = scheme_from_text(text, str(scheme_path))
    if (scheme.name, scheme.version) != (manifest.scheme_name, manifest.scheme_version):
        raise ClaimsetError(f"{path}: records scheme '{manifest.scheme_name}' version {manifest.scheme_version}, "
                            f"but {SCHEME_FILE} is '{scheme.name}' version {scheme.version}; the dataset was edited "
                            "by hand")
    if scheme.sha256 != manifest.scheme_sha256:
        raise ClaimsetError(f"{scheme_path}: does not match {MANIFEST} (sha256 {scheme.sha256[:12]} recorded as "
                            f"{manifest.scheme_sha256[:12]}); the dataset was edited by hand")
    return manifest, scheme


def _describe(scheme: Scheme, where: str) -> str:
    return f"{where} '{scheme.name}' version {scheme.version} (sha256 {scheme.sha256[:12]})"


def resolve_scheme(directory: Path, scheme_file: Path | None = None) -> tuple[Scheme, Manifest | None]:
    """The scheme to read ``directory`` under, and its manifest.

    The dataset's recorded scheme; ``scheme_file``, if given, must have the same content. Without a
    record: ``scheme_file``, else the default scheme, with a :class:`NoRecordWarning`.
    """
    record = read_record(directory)
    given = load_scheme(scheme_file) if scheme_file is not None else None
    if record is None:
        scheme = given or default_scheme()
        warnings.warn(f"{directory}: no {MANIFEST} (written before claimset 0.2?); reading it under "
                      f"{_describe(scheme, 'scheme')}", NoRecordWarning, stacklevel=2)
        return scheme, None
    manifest, recorded = record
    if given is not None and given.sha256 != recorded.sha256:
        raise ClaimsetError(f"{directory} was made under {_describe(recorded, 'scheme')}, but {scheme_file} is "
                            f"{_describe(given, 'scheme')}")
    return recorded, manifest


@dataclass
class Dataset:
    """The tables of a dataset folder as Arrow, under the dataset's own scheme.

    ``dataset.table("spans")`` is a ``pyarrow.Table`` cast to the declared schema;
    ``dataset.to_pandas("spans")`` and ``dataset.to_polars("spans")`` convert it; ``dataset.claims``
    is the claims table of :mod:`claimset.claims`: ``claims.parquet`` once validation has found it equal
    to the claims derived from the other tables (``validated``), else derived afresh.
    """

    path: Path
    scheme: Scheme
    manifest: Manifest | None = None
    files: dict[str, BinaryIO] = field(default_factory=dict, repr=False)  # open at load: one snapshot
    validated: bool = False  # load() validated it: claims.parquet is what the tables give
    _tables: dict[str, pa.Table] = field(default_factory=dict, repr=False)

    def table(self, name: str) -> pa.Table:
        """Table ``name`` (one of ``documents``, ``annotations``, ``spans``, ``relations``, ``rejects``, ``claims``)."""
        if name not in _SCHEMAS:
            raise ClaimsetError(f"{name!r} is not a table of a claimset dataset (one of {', '.join(_SCHEMAS)})")
        if name not in self._tables:
            self._tables[name] = _read(self.path, name, handle=self.files.get(name))
        return self._tables[name]

    def to_pandas(self, name: str) -> pd.DataFrame:
        frame: pd.DataFrame = self.table(name).to_pandas()
        return frame

    def to_polars(self, name: str) -> pl.DataFrame:
        try:
            import polars as pl
        except ImportError:
            raise MissingExtraError("polars", "polars") from None

        frame = pl.from_arrow(self.table(name))
        assert isinstance(frame, pl.DataFrame)
        return frame

    @cached_property
    def claims(self) -> pa.Table:
        if self.validated:  # the derivation was just done, and compared with this file, by validation
            return self.table("claims")
        inputs = {name: self._tables[name] if name in self._tables
                  else _read(self.path, name, columns, handle=self.files.get(name))
                  for name, columns in CLAIM_INPUTS.items()}  # only the columns the derivation reads
        return derive_claims(inputs["documents"], inputs["annotations"], inputs["spans"], inputs["relations"],
                             self.scheme)


def load(path: Path | str, scheme_file: Path | None = None, *, validate: bool = True) -> Dataset:
    """Open the dataset folder at ``path`` (see :class:`Dataset`); ``scheme_file`` is an optional scheme
    file that must match the dataset's own.

    Raises :class:`ClaimsetError` for a folder that is not a dataset and, with ``validate`` (the
    default: every command that reads a dataset), for one that fails :func:`claimset.validate.validate_dataset`,
    naming its first failure: what is computed from a broken dataset would be wrong without a word.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise ClaimsetError(f"{directory}: dataset directory not found")
    missing = [name for name in REQUIRED if not table_path(directory, name).exists()]
    if missing:
        raise ClaimsetError(f"{directory}: not a claimset dataset ({missing[0]}.parquet not found)")
    scheme, manifest = resolve_scheme(directory, scheme_file)
    if validate:
        from claimset.validate import validate_dataset

        report = validate_dataset(directory, scheme=scheme)
        if not report.valid:
            raise ClaimsetError(f"{directory}: not a valid dataset, {len(report.failures)} failure(s), the first "
                                f"{report.failures[0].describe()} (run: claimset validate {directory})")
    # Every table is opened now: a writer that swaps the folder in later leaves these files readable as
    # they were (the old inodes), so the tables read later still come from one and the same dataset.
    files: dict[str, BinaryIO] = {name: table_path(directory, name).open("rb") for name in _SCHEMAS
                                  if table_path(directory, name).exists()}
    return Dataset(directory, scheme, manifest, files, validated=validate)


_SCHEMAS: dict[str, pa.Schema] = {**TABLES, "claims": CLAIMS}


def _read(directory: Path, name: str, columns: Sequence[str] | None = None, handle: BinaryIO | None = None
          ) -> pa.Table:
    """Table ``name`` (only ``columns``, if given) cast to its schema, from ``handle`` if open, else from its file."""
    path = table_path(directory, name)
    if handle is None and not path.exists():
        raise ClaimsetError(f"{path}: table not found")
    schema = _SCHEMAS[name] if columns is None else pa.schema([_SCHEMAS[name].field(column) for column in columns])
    try:
        source = path if handle is None else pa.PythonFile(handle, mode="r")
        return pq.read_table(source, columns=None if columns is None else list(columns)).cast(schema)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ClaimsetError(f"{path}: cannot read as the {name} table: {str(exc).splitlines()[0]}") from exc


BATCH_ROWS = 65_536  # rows of spans and relations read at once by write_claims


class _NotInBuckets(Exception):
    """A claim's relations, tails or document are not where the buckets put it (only in an edited dataset)."""


def write_claims(directory: Path, scheme: Scheme, path: Path | None = None) -> int:
    """Derive the claims table of the dataset folder ``directory``, write it to ``path`` (default its
    ``claims.parquet``) atomically, and return its number of rows.

    Bucket by bucket (:mod:`claimset.partition`), so memory stays bounded whatever the dataset's size;
    where the buckets do not hold what a claim needs (an edited dataset, with a relation between two
    annotations or a claim on another document than its annotation's), and for tables that cannot be
    read, from the whole tables at once (:attr:`Dataset.claims`): the same table, or the same error.
    """
    target = table_path(directory, "claims") if path is None else path
    with atomic_path(target) as tmp:
        try:
            rows = _write_claims_by_bucket(directory, scheme, tmp)
        except (_NotInBuckets, ClaimsetError, OSError, ValueError, KeyError, TypeError, pa.ArrowException):
            claims = Dataset(directory, scheme).claims
            write_table(claims, tmp)
            rows = claims.num_rows
    return rows


def _write_claims_by_bucket(directory: Path, scheme: Scheme, path: Path) -> int:
    documents = _read_whole(directory, "documents", CLAIM_INPUTS["documents"])
    annotations = _read_whole(directory, "annotations", (*CLAIM_INPUTS["annotations"], AnnotationColumns.doc_id))
    submitted = submitted_annotations(annotations)
    if not unique(submitted[AnnotationColumns.annotation_id], documents[DocumentColumns.doc_id]):
        raise _NotInBuckets  # duplicated ids: the joins of the whole tables
    spans_file, relations_file = (pq.ParquetFile(table_path(directory, name), pre_buffer=False)
                                  for name in ("spans", "relations"))
    layout = Layout.build(documents[DocumentColumns.doc_id], annotations[AnnotationColumns.annotation_id],
                          annotations[AnnotationColumns.doc_id], spans_file.metadata.num_rows)
    inputs = BucketInputs(layout, submitted, documents)
    del annotations, submitted, documents
    with work_directory(directory) as work:
        spans = Spool(work, "spans", layout.count, _schema("spans", CLAIM_INPUTS["spans"]))
        relations = Spool(work, "relations", layout.count, _schema("relations", CLAIM_INPUTS["relations"]))
        for batch in _batches(spans_file, "spans"):
            spans.write(batch, layout.of_keys(batch[SpanColumns.span_id]))
        for batch in _batches(relations_file, "relations"):
            heads = layout.of_keys(batch[RelationColumns.head_span_id])
            if (layout.of_keys(batch[RelationColumns.tail_span_id]) != heads).any():
                raise _NotInBuckets
            relations.write(batch, heads)
        spans.close()
        relations.close()
        with ClaimsWriter(path) as writer:
            for number in range(layout.count):
                bucket_spans = spans.read(number)
                if inputs.strays(number, bucket_spans) or not unique(bucket_spans[SpanColumns.span_id]):
                    raise _NotInBuckets  # spans of another bucket's annotations; repeated span ids
                submitted, documents = inputs.submitted[number], inputs.documents[number]
                claims = claims_of(mentions_of(bucket_spans, submitted), relations.read(number), submitted,
                                   documents, scheme, lookups=True)
                if not layout.holds(number, claims["doc_id"]):  # a claim on another document than its annotation
                    raise _NotInBuckets
                writer.add(claims)
                del bucket_spans, claims
                pa.default_memory_pool().release_unused()  # mimalloc keeps freed pages otherwise
    return writer.rows


def _read_whole(directory: Path, name: str, columns: Sequence[str]) -> pa.Table:
    """Table ``name`` (its ``columns``, cast to their types) in one piece, read by this thread alone: Parquet's
    reader threads leave their freed buffers in the allocator's pages."""
    file = pq.ParquetFile(table_path(directory, name), pre_buffer=False)
    return file.read(columns=list(columns), use_threads=False).cast(_schema(name, columns))


def _schema(name: str, columns: Sequence[str] | None = None) -> pa.Schema:
    schema = _SCHEMAS[name]
    return schema if columns is None else pa.schema([schema.field(column) for column in columns])


def _batches(file: pq.ParquetFile, name: str) -> Iterator[pa.Table]:
    """The columns of table ``name`` the claims read, :data:`BATCH_ROWS` rows at a time, cast to their types."""
    schema = _schema(name, CLAIM_INPUTS[name])
    for batch in read_ahead(file.iter_batches(batch_size=BATCH_ROWS, columns=list(schema.names), use_threads=False)):
        yield pa.Table.from_batches([batch]).cast(schema)
        pa.default_memory_pool().release_unused()


@dataclass
class WriteResult(Generic[T]):
    """What :func:`write_dataset` made: ``made`` is what ``fill`` returned; ``replaced`` says whether the
    new folder was swapped in (it is not when validation failed and invalid output was not allowed)."""

    made: T
    report: ValidationReport | None
    replaced: bool
    claims: int  # rows of claims.parquet


def write_dataset(out_dir: Path, fill: Callable[[Path], T], *, scheme: Scheme, seeds: Sequence[Document] = (),
                  validate: bool = True, allow_invalid: bool = False, croissant: bool = False) -> WriteResult[T]:
    """Write a complete dataset folder to ``out_dir`` in one atomic step (:mod:`claimset.transaction`).

    ``fill`` writes the tables of :mod:`claimset.tables` into the empty staging folder it is given;
    then come ``claims.parquet``, the scheme record and, with ``croissant``, ``croissant.json``. With
    ``validate``, the staged folder is validated and swapped in only if it is valid, or if
    ``allow_invalid``. An exception anywhere leaves ``out_dir`` as it was.
    """
    from claimset.card import write_croissant
    from claimset.validate import validate_dataset

    with replace_folder(out_dir, GENERATED) as staging:
        made = fill(staging.path)
        claims = write_claims(staging.path, scheme)
        write_record(staging.path, scheme)
        if croissant:
            write_croissant(staging.path, staging.path / "croissant.json")
        report = validate_dataset(staging.path, seeds, scheme, fresh_claims=True) if validate else None
        if report is not None:
            report.directory = str(out_dir)
            if not report.valid and not allow_invalid:
                staging.discard()
    return WriteResult(made, report, not staging.discarded, claims)
