"""The tables of a claimset dataset, as Arrow schemas, and how they are read and written.

Every offset in these tables is a Unicode code point index into ``documents.text`` (a Python ``str``
index), half-open: a span covers ``text[start:end]``. ``spans.text`` always equals that slice.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TIMESTAMP = pa.timestamp("us", tz="UTC")

DOCUMENTS = pa.schema(
    [
        ("doc_id", pa.string()),
        ("published", pa.date32()),
        ("source_file", pa.string()),
        ("text", pa.large_string()),
        ("text_sha256", pa.string()),
    ]
)

ANNOTATIONS = pa.schema(
    [
        ("annotation_id", pa.int64()),  # Label Studio annotation id
        ("task_id", pa.int64()),  # Label Studio task id
        ("doc_id", pa.string()),
        ("annotator", pa.string()),  # pseudonymous: "ls-user-<id>", never an email
        ("status", pa.string()),  # submitted | cancelled
        ("ground_truth", pa.bool_()),
        ("created_at", TIMESTAMP),
        ("updated_at", TIMESTAMP),
        ("lead_time", pa.float64()),  # seconds, as Label Studio measured them; null when absent
        ("n_regions", pa.int64()),  # labelled regions in the raw result
        ("n_relations", pa.int64()),  # relations in the raw result
    ]
)

SPANS = pa.schema(
    [
        ("span_id", pa.string()),  # span_id(annotation_id, region_id), below
        ("annotation_id", pa.int64()),
        ("doc_id", pa.string()),
        ("region_id", pa.string()),
        ("label", pa.string()),
        ("start", pa.int64()),  # code points, inclusive
        ("end", pa.int64()),  # code points, exclusive
        ("text", pa.string()),  # == documents.text[start:end]
        ("quote_type", pa.string()),  # Claim attribute (scheme), else null
        ("entity", pa.string()),  # Speaker/Target attribute (scheme), else null
        ("prefix", pa.string()),  # up to 32 code points before start (W3C TextQuoteSelector)
        ("suffix", pa.string()),  # up to 32 code points after end
        ("offset_repair", pa.string()),  # null, or the code of the repair applied to the raw offsets
    ]
)

RELATIONS = pa.schema(
    [
        ("relation_id", pa.string()),  # relation_id(annotation_id, head region, tail region, type), below
        ("annotation_id", pa.int64()),
        ("doc_id", pa.string()),
        ("head_span_id", pa.string()),  # the Claim
        ("tail_span_id", pa.string()),
        ("type", pa.string()),
    ]
)

REJECTS = pa.schema(
    [
        ("source", pa.string()),  # export file name
        ("task_id", pa.int64()),
        ("annotation_id", pa.int64()),
        ("item", pa.string()),  # region | relation | choice | textarea | task | annotation
        ("region_id", pa.string()),
        ("reason", pa.string()),  # stable code, see claimset.ingest.REASONS
        ("message", pa.string()),
        ("raw", pa.string()),  # the rejected JSON, verbatim
    ]
)

TABLES: Mapping[str, pa.Schema] = {
    "documents": DOCUMENTS,
    "annotations": ANNOTATIONS,
    "spans": SPANS,
    "relations": RELATIONS,
    "rejects": REJECTS,
}


def current_umask() -> int:
    """The process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
def span_id(annotation_id: int | None, region_id: str) -> str:
    """``spans.span_id`` of region ``region_id`` of annotation ``annotation_id``."""
    return f"{annotation_id}:{region_id}"


def relation_id(annotation_id: int | None, head_region: str, tail_region: str, relation_type: str) -> str:
    """``relations.relation_id`` of a relation of annotation ``annotation_id`` between two of its regions."""
    return f"{annotation_id}:{head_region}>{tail_region}:{relation_type}"


def table_path(directory: Path, name: str) -> Path:
    """Where table ``name`` lives in a dataset directory."""
    return directory / f"{name}.parquet"


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it onto ``final`` only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(0o666 & ~current_umask())  # mkstemp makes it private; the file gets what a plain open() would give
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def write_table(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` atomically, deterministically (no wall-clock metadata)."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", write_statistics=True)


def read_table(directory: Path, name: str) -> pa.Table:
    """Read table ``name`` from a dataset directory, cast to its declared schema."""
    return pq.read_table(table_path(directory, name)).cast(TABLES[name])


def read_ahead(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``batches`` (say ``ParquetFile.iter_batches``), each read by a thread while the one before is used: Parquet
    decoding leaves the interpreter free, so it runs on another core. One batch more in memory."""
    with ThreadPoolExecutor(1, thread_name_prefix="claimset-read") as reader:
        coming = reader.submit(next, batches, None)
        while (batch := coming.result()) is not None:
            coming = reader.submit(next, batches, None)
            yield batch
