"""Validation and the claims do not depend on how the work is cut: flawed datasets, validated and derived in one
bucket and in many, in one batch and in many, give the same report and the same claims.

The datasets are a small generated export (several documents and annotators) with random edits drawn by
hypothesis: cells set to null or to another row's value, keys copied between rows (duplicates, relations
between annotations, documents, buckets), rows dropped or repeated, annotations cancelled, claims.parquet
edited. Also: the pre-check that lets a batch skip pandera passes no batch pandera fails, and the claims
derived by lookups are those derived by joins.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import claimset.claims as claims_module
import claimset.partition as partition
import claimset.validate as validate
from claimset.dataset import Dataset, write_claims
from claimset.ingest import import_exports
from claimset.models import table_schema
from claimset.scheme import default_scheme
from claimset.tables import TABLES, table_path, write_table
from synthetic import write_export


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("buckets")
    write_export(directory / "export.json", 5, chars=600)
    import_exports([directory / "export.json"], directory / "data")
    return directory / "data"


@contextmanager
def knobs(**values: int) -> Iterator[None]:
    """Set module constants of claimset.validate / claimset.partition for the block."""
    modules = [validate, partition]
    saved = {name: getattr(next(m for m in modules if hasattr(m, name)), name) for name in values}
    try:
        for name, value in values.items():
            setattr(next(m for m in modules if hasattr(m, name)), name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(next(m for m in modules if hasattr(m, name)), name, value)


TABLE_NAMES = ["documents", "annotations", "spans", "relations"]
KEYS = {"spans": ["span_id", "doc_id", "annotation_id", "label", "start", "end", "text", "entity", "prefix"],
        "relations": ["relation_id", "head_span_id", "tail_span_id", "type", "doc_id", "annotation_id"],
        "annotations": ["annotation_id", "doc_id", "status", "annotator"], "documents": ["doc_id", "text_sha256"]}
edits = st.lists(st.tuples(st.sampled_from(["set", "copy", "null", "odd", "drop", "repeat", "cancel", "endpoint"]),
                           st.sampled_from(TABLE_NAMES), st.integers(0, 8), st.integers(0, 10**6),
                           st.integers(0, 10**6)), min_size=1, max_size=5)


def plant(base: Path, target: Path, planned: list[tuple[str, str, int, int, int]], claims_row: int | None) -> None:
    """A copy of ``base`` with the edits made in pandas, written back with the declared types where they fit."""
    shutil.copytree(base, target)
    frames = {name: pq.read_table(table_path(target, name)).to_pandas() for name in TABLE_NAMES}
    for kind, name, column_number, row, other in planned:
        frame = frames[name]
        if frame.empty:
            continue
        column = KEYS[name][column_number % len(KEYS[name])]
        row, other = row % len(frame), other % len(frame)
        frame[column] = frame[column].astype(object)
        if kind in ("set", "copy"):  # another row's value: a duplicate key, an endpoint elsewhere, a moved span
            frame.loc[row, column] = frame.loc[other, column]
        elif kind == "null":
            frame.loc[row, column] = None
        elif kind == "odd":  # past 2**53, or a key that names no annotation
            frame.loc[row, column] = 2**62 + other if isinstance(frame.loc[other, column], int) else f"x:{other}"
        elif kind == "drop":
            frames[name] = frame.drop(index=row).reset_index(drop=True)
        elif kind == "repeat":
            frames[name] = pd.concat([frame, frame.iloc[[row]]], ignore_index=True)
        elif kind == "cancel":
            frames["annotations"].loc[row % len(frames["annotations"]), "status"] = "cancelled"
        elif kind == "endpoint" and len(frames["relations"]) and len(frames["spans"]):  # a span of any annotation
            relations, spans = frames["relations"], frames["spans"]
            end = ["head_span_id", "tail_span_id"][column_number % 2]
            relations[end] = relations[end].astype(object)
            relations.loc[row % len(relations), end] = spans["span_id"].iloc[other % len(spans)]
    for name, frame in frames.items():
        try:
            table = pa.Table.from_pandas(frame, schema=TABLES[name], preserve_index=False)
        except (pa.ArrowException, ValueError, TypeError):
            table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table, table_path(target, name), row_group_size=50)
    try:
        write_table(Dataset(target, default_scheme()).claims, table_path(target, "claims"))
    except Exception:  # tables the derivation cannot read keep the old claims
        return
    if claims_row is not None:
        claims = pq.read_table(table_path(target, "claims"))
        if claims.num_rows:
            rows = claims.to_pylist()
            rows[claims_row % len(rows)]["speaker_entity"] = "Somebody Else"
            pq.write_table(pa.Table.from_pylist(rows, schema=claims.schema), table_path(target, "claims"))


def failures(directory: Path) -> list[tuple[object, ...]]:
    report = validate.validate_dataset(directory)
    return [(f.table, f.key, f.column, f.check, f.message) for f in report.failures] + [tuple(report.rows.items())]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(planned=edits, claims_row=st.none() | st.integers(0, 1000), buckets=st.sampled_from([1, 3, 50]))
def test_buckets_and_batches_do_not_change_the_report(base: Path, tmp_path_factory: pytest.TempPathFactory,
                                                       planned: list[tuple[str, str, int, int, int]],
                                                       claims_row: int | None, buckets: int) -> None:
    target = tmp_path_factory.mktemp("planted") / "data"
    plant(base, target, planned, claims_row)
    with knobs(SPANS_PER_BUCKET=10**9):  # one bucket
        whole = failures(target)
    with knobs(SPANS_PER_BUCKET=buckets):  # a bucket per document, or a few documents
        assert failures(target) == whole
    with knobs(SPANS_PER_BUCKET=buckets, BATCH_ROWS=97, DOCUMENT_BATCH_ROWS=2, SPAN_CHUNK=13):
        batched = failures(target)  # batch by batch the failures are found, and listed, in another order
    assert sorted(map(repr, batched)) == sorted(map(repr, whole))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(planned=edits, buckets=st.sampled_from([1, 3, 50]), row_group=st.sampled_from([7, 65_536]))
def test_claims_written_by_bucket_are_the_claims_of_the_whole_tables(
        base: Path, tmp_path_factory: pytest.TempPathFactory, planned: list[tuple[str, str, int, int, int]],
        buckets: int, row_group: int, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path_factory.mktemp("planted") / "data"
    plant(base, target, planned, None)
    try:
        whole = Dataset(target, default_scheme()).claims
    except Exception as exc:  # then the writer gives the same error
        with knobs(SPANS_PER_BUCKET=buckets), pytest.raises(type(exc), match=re.escape(str(exc))):
            write_claims(target, default_scheme(), target / "bucketed.parquet")
        return
    monkeypatch.setattr(claims_module, "CLAIMS_ROW_GROUP", row_group)
    with knobs(SPANS_PER_BUCKET=buckets):
        rows = write_claims(target, default_scheme(), target / "bucketed.parquet")
    assert rows == whole.num_rows
    assert pq.read_table(target / "bucketed.parquet").equals(whole)
    if whole.num_rows <= row_group:  # one row group: the bytes of the whole table written at once
        write_table(whole, target / "whole.parquet")
        assert (target / "bucketed.parquet").read_bytes() == (target / "whole.parquet").read_bytes()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(planned=edits)
def test_a_batch_the_precheck_passes_passes_pandera(base: Path, tmp_path_factory: pytest.TempPathFactory,
                                                    planned: list[tuple[str, str, int, int, int]]) -> None:
    target = tmp_path_factory.mktemp("planted") / "data"
    plant(base, target, planned, None)
    scheme = default_scheme()
    for name in TABLE_NAMES:
        table = pq.read_table(table_path(target, name))
        schema = table_schema(name, scheme)
        if name != "annotations":  # uniqueness is checked over all batches, not by pandera
            unique = next(column for column, spec in schema.columns.items() if spec.unique)
            schema = schema.update_column(unique, unique=False)
        if validate._Precheck(name, schema, table.schema).passes(table):
            schema.validate(table.to_pandas(), lazy=True)  # raises SchemaErrors if it fails


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(planned=edits)
def test_claims_by_lookup_are_the_claims_by_join(base: Path, tmp_path_factory: pytest.TempPathFactory,
                                                 planned: list[tuple[str, str, int, int, int]]) -> None:
    target = tmp_path_factory.mktemp("planted") / "data"
    plant(base, target, planned, None)
    try:
        tables = {name: pq.read_table(table_path(target, name), columns=list(columns)).cast(
            pa.schema([TABLES[name].field(column) for column in columns]))
            for name, columns in claims_module.INPUTS.items()}
    except (pa.ArrowException, KeyError, ValueError):
        return
    submitted = claims_module.submitted_annotations(tables["annotations"])
    mentions = claims_module.mentions_of(tables["spans"], submitted)
    args = (mentions, tables["relations"], submitted, tables["documents"], default_scheme())
    by_join = claims_module.claims_of(*args, lookups=False)
    if claims_module.unique(mentions["span_id"], submitted["annotation_id"], tables["documents"]["doc_id"]):
        assert claims_module.claims_of(*args, lookups=True).equals(by_join)


def test_work_directories_left_by_killed_runs_are_removed_and_live_ones_kept(base: Path, tmp_path: Path) -> None:
    import fcntl
    import os
    import signal
    import subprocess
    import sys
    import time

    data = tmp_path / "data"
    shutil.copytree(base, data)
    # a run killed with SIGKILL while its work directory was in use
    child = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from claimset.partition import work_directory\n"
        "with work_directory(Path(sys.argv[1])) as w:\n"
        "    print(w, flush=True); time.sleep(60)"), str(data)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    killed = Path(child.stdout.readline().strip())
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert killed.parent == tmp_path and killed.name.startswith(".data.buckets-") and killed.is_dir()
    # one in use by a live run (its lock held), one without a lock file: new (being made) and old (killed early)
    live = tmp_path / "..data.staging-1.buckets-live"
    live.mkdir()
    held = os.open(live / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)
    young, old = tmp_path / ".data.buckets-young", tmp_path / ".data.buckets-old"
    young.mkdir()
    old.mkdir()
    (old / ".lock.new").touch()
    past = time.time() - partition.STALE_UNLOCKED_S - 60
    os.utime(old, (past, past))
    # not claimset's: a folder of that name with an unlocked .lock and a file claimset never writes
    mine = tmp_path / ".data.buckets-mine"
    mine.mkdir()
    (mine / ".lock").touch()
    (mine / "notes.txt").write_text("keep me", encoding="utf-8")
    try:
        assert validate.validate_dataset(data).valid
        left = sorted(p.name for p in tmp_path.iterdir() if ".buckets-" in p.name)
        assert left == [live.name, mine.name, young.name]  # the killed run's and the old unlocked one are gone
        assert (mine / "notes.txt").read_text(encoding="utf-8") == "keep me"
    finally:
        os.close(held)


def test_work_directories_in_the_temporary_folder_are_cleaned_too(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """When beside the dataset cannot be written, the work directory and the clean-up move to TMPDIR."""
    import tempfile

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    abandoned = temporary / "claimset-buckets-killed"
    abandoned.mkdir()
    (abandoned / ".lock").touch()
    (abandoned / "spans-000.arrow").touch()
    real_mkdtemp = tempfile.mkdtemp

    def read_only_beside(prefix: str, dir: str) -> str:
        if not str(dir).startswith(str(temporary)):
            raise PermissionError(13, "Permission denied", dir)
        return real_mkdtemp(prefix=prefix, dir=dir)

    monkeypatch.setattr(tempfile, "mkdtemp", read_only_beside)
    with partition.work_directory(tmp_path / "data") as work:
        assert work.parent == temporary and (work / ".lock").is_file() and not (work / ".lock.new").exists()
        assert not abandoned.exists()
    assert list(temporary.iterdir()) == []
