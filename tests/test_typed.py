"""The import's fast path (claimset.typed) against the general path: the same tables, summaries and errors."""

from __future__ import annotations

import copy
import json
import os
import random
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claimset import ingest, reader, sink, typed
from claimset.errors import ClaimsetError
from claimset.ingest import import_exports
from claimset.scheme import default_scheme
from claimset.tables import TABLES
from synthetic import generate_tasks

FIXTURES = Path(__file__).parent / "fixtures"


def _import(paths: list[Path], out: Path, *, way: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Import ``paths`` one ``way``: the summary, every table, or the error.

    ``fast``: in this process; ``general``: with the fast path off; ``workers``: two worker processes
    besides this one, every task a list of its own, so that lists go to both and to this process.
    """
    with monkeypatch.context() as patch:
        if way == "general":
            patch.setattr(ingest.typed, "decoder_for", lambda _name: None)
        if way == "workers":
            patch.setattr(ingest, "CHUNK_BYTES", 1)
        try:
            summary = import_exports(paths, out, jobs=3 if way == "workers" else 1)
        except ClaimsetError as exc:
            return {"error": str(exc)}
    tables = {name: pq.read_table(out / f"{name}.parquet") for name in TABLES}
    groups = {name: pq.ParquetFile(out / f"{name}.parquet").num_row_groups for name in TABLES}
    return {"summary": summary.to_dict(), "tables": tables, "groups": groups}


WAYS = ("fast", "general", "workers")


def _same(paths: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Import ``paths`` each of the :data:`WAYS` and check that the outcomes are the same; return the first."""
    fast, *others = (_import(paths, tmp_path / way, way=way, monkeypatch=monkeypatch) for way in WAYS)
    for other in others:
        assert fast.keys() == other.keys()
        if "error" in fast:
            assert fast == other
            continue
        assert fast["summary"] == other["summary"]
        assert fast["groups"] == other["groups"]
        for name in TABLES:
            assert fast["tables"][name].equals(other["tables"][name]), name
    return fast


# -- what makes an annotation unclean: each flaw on its own, in a task among clean ones ----------------

def _region_items(annotation: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [item for item in annotation["result"] if item.get("type") == kind]


def _flaw(rng: random.Random, annotation: dict[str, Any]) -> None:
    """Change one thing in ``annotation`` that the general path rejects, repairs or resolves."""
    regions = _region_items(annotation, "labels")
    attributes = [item for item in annotation["result"] if item.get("type") in ("choices", "textarea")]
    relations = _region_items(annotation, "relation")
    region, attribute, relation = rng.choice(regions), rng.choice(attributes), rng.choice(relations)
    flaw = rng.randrange(24)
    if flaw == 0:
        region["value"]["labels"] = ["Nonsense"]
    elif flaw == 1:
        region["value"]["start"] += 1  # offsets that no longer match the text: repaired or rejected
    elif flaw == 2:
        region["value"]["labels"].append("Claim")
    elif flaw == 3:
        region["id"] = regions[0]["id"] if region is not regions[0] else regions[-1]["id"]
    elif flaw == 4:
        region["id"] = "a>b"
    elif flaw == 5:
        region["from_name"] = "other"
    elif flaw == 6:
        attribute["from_name"] = "unknown_attribute"
    elif flaw == 7:
        attribute["id"] = "no-such-region"
    elif flaw == 8:
        attribute["value"] = {"choices": ["nonsense"]} if attribute["type"] == "choices" else {"text": [""]}
    elif flaw == 9:
        annotation["result"].append(copy.deepcopy(attribute))
    elif flaw == 10:
        relation["direction"] = rng.choice(["bi", "up"])
    elif flaw == 11:
        relation["labels"] = []
    elif flaw == 12:
        relation["labels"] = ["nonsense"]
    elif flaw == 13:
        relation["to_id"] = "no-such-region"
    elif flaw == 14:
        annotation["result"].append(copy.deepcopy(relation))
    elif flaw == 15:
        relation["direction"] = "left"  # valid, but the labels no longer fit the relation type
    elif flaw == 16:
        annotation["was_cancelled"] = True
    elif flaw == 17:
        annotation["updated_at"] = "yesterday"
    elif flaw == 18:
        region["value"]["text"] = " " * len(region["value"]["text"])
    elif flaw == 19:
        region["id"] = rng.choice([7, 2**40])  # an integer id: fine, but relations to it must match its text
    elif flaw == 20:
        region["value"]["start"], region["value"]["end"] = region["value"]["end"], region["value"]["start"]
    elif flaw == 21:
        attribute["type"] = "textarea" if attribute["type"] == "choices" else "choices"
    elif flaw == 22:
        del relation["labels"]
    else:
        annotation["result"].append({"type": "rating", "id": region["id"], "value": {"rating": 3}})


def _task_flaw(rng: random.Random, task: dict[str, Any]) -> None:
    """Change one thing at the level of the task or its annotations' bookkeeping."""
    flaw = rng.randrange(8)
    annotations = task["annotations"]
    if flaw == 0:
        annotations.append(copy.deepcopy(annotations[0]))  # the same version twice
    elif flaw == 1:
        newer = copy.deepcopy(annotations[0])
        newer["updated_at"] = "2030-01-01T00:00:00Z"
        newer["result"] = newer["result"][:3]
        annotations.append(newer)
    elif flaw == 2:
        task["data"]["published"] = "not a date"
    elif flaw == 3:
        task["data"]["text_sha256"] = "0" * 64
    elif flaw == 4:
        task["completions"] = [copy.deepcopy(annotations[0])]
    elif flaw == 5:
        task["data"]["doc_id"] = "shared"  # several tasks, one document
    elif flaw == 6:
        same = copy.deepcopy(annotations[1])
        same["id"] = annotations[0]["id"]
        same["updated_at"] = annotations[0]["updated_at"]  # a tie: the content digest decides
        annotations.append(same)
    else:
        task["drafts"] = [{"result": []}]
        task["predictions"] = [{"result": []}, {"result": []}]


def _export(tmp_path: Path, seed: int, *, workload: str, flawed: float) -> Path:
    rng = random.Random(seed)
    tasks = list(generate_tasks(12, seed=seed, annotators=3, chars=600, workload=workload))
    for task in tasks:
        for annotation in task["annotations"]:
            if rng.random() < flawed:
                _flaw(rng, annotation)
        if rng.random() < flawed:
            _task_flaw(rng, task)
    path = tmp_path / f"export-{seed}.json"
    path.write_text(json.dumps(tasks, ensure_ascii=seed % 2 == 0, indent=2 if seed % 3 == 0 else None),
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("seed", range(24))
def test_the_fast_path_gives_the_general_paths_tables(seed: int, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sink, "ROWS_PER_GROUP", 300)
    monkeypatch.setattr(sink, "CONVERT_ROWS", 70)
    export = _export(tmp_path, seed, workload="ascii" if seed % 4 == 1 else "unicode", flawed=0.3)
    outcome = _same([export], tmp_path, monkeypatch)
    assert "error" not in outcome and outcome["summary"]["regions"]["written"] > 0


def test_a_clean_export_takes_the_fast_path_for_every_annotation(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    export = _export(tmp_path, 1, workload="unicode", flawed=0.0)
    general: list[int] = []
    original = ingest._Importer._add_annotation

    def spy(self: Any, annotation: Any, *args: Any, **kwargs: Any) -> None:
        general.append(annotation["id"])
        original(self, annotation, *args, **kwargs)

    monkeypatch.setattr(ingest._Importer, "_add_annotation", spy)
    outcome = _same([export], tmp_path, monkeypatch)
    assert outcome["summary"]["annotations"] == 36
    # the first task's 3 in the two runs with the fast path on (the reader keeps a first task, see ingest._Feed)
    # and all 36 in the run with it off
    assert len(general) == 3 + 36 + 3


def test_every_fixture_imports_the_same_either_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exports = sorted(FIXTURES.rglob("*.json"))
    assert len(exports) > 40
    for number, export in enumerate(exports):
        _same([export], tmp_path / str(number), monkeypatch)


# -- the gate: what msgspec accepts must be what the general path reads ----------------------------------

CLEAN_TASK = json.dumps(next(iter(generate_tasks(1, seed=3, annotators=1, chars=300))),
                        ensure_ascii=False).encode("utf-8")
NASTY = [b"\xff", b"\xed\xa0\x80", b"\xc0\x80", b"\\ud800", b"\\udc00", b"1e999", b"NaN", b"\x00", b"\n", b"\\q",
         b"99999999999999999999999", b"-", b",", b"}", b"]", b'"', b"\\", b"\xf0\x9f\x98", b"\xe2\x80\x9c"]


@st.composite
def mutated_task(draw: st.DrawFn) -> bytes:
    raw = bytearray(CLEAN_TASK)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(raw)))
        cut = draw(st.integers(0, 3))
        raw[at : at + cut] = draw(st.sampled_from(NASTY) | st.binary(min_size=1, max_size=3))
    return bytes(raw)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_task())
def test_a_task_the_fast_path_decodes_is_one_the_general_path_reads(raw: bytes) -> None:
    long_numbers = bool(reader._long_digit_runs(raw.translate(reader._SCAN_BYTES), 0))
    decoder = typed.decoder_for(default_scheme().text_name)
    assert decoder is not None
    fast = None if long_numbers else typed.decode(decoder, memoryview(raw))  # as the importer gates it
    if fast is None:
        return
    read = reader.decode_task(memoryview(raw), 0, 1, long_numbers, Path("x.json"), (0, 0, 0, 0, 0))  # must not raise
    task, lone_surrogate = read.value, read.lone_surrogate
    assert not lone_surrogate
    assert task["data"]["text"] == fast.data.text
    assert [annotation["id"] for annotation in task.get("annotations") or []] == [a.id for a in fast.annotations or []]


def test_the_decoder_reads_the_schemes_text_field() -> None:
    decoder = typed.decoder_for("body")
    assert decoder is not None
    assert decoder.decode(b'{"data": {"body": "x", "text": "y"}}').data.text == "x"
    assert typed.decoder_for("doc_id") is None


# -- digests computed only for ties: read again from the export ----------------------------------------

def _tied_export(tmp_path: Path) -> tuple[Path, list[Any]]:
    tasks = list(generate_tasks(2, seed=5, annotators=1, chars=400))
    tied = copy.deepcopy(tasks[0]["annotations"][0])
    tied["result"] = tied["result"][:4]
    tasks[1]["annotations"].append({**tied, "id": tasks[1]["annotations"][0]["id"],
                                    "updated_at": tasks[1]["annotations"][0]["updated_at"]})
    path = tmp_path / "tied.json"
    path.write_text(json.dumps(tasks), encoding="utf-8")
    return path, tasks


def test_a_tie_is_decided_by_content_whichever_version_comes_first(tmp_path: Path) -> None:
    path, tasks = _tied_export(tmp_path)
    first = import_exports([path], tmp_path / "a")
    tasks[1]["annotations"].reverse()
    swapped = tmp_path / "swapped.json"
    swapped.write_text(json.dumps(tasks), encoding="utf-8")
    second = import_exports([swapped], tmp_path / "b")
    assert first.regions.written == second.regions.written
    assert len(first.duplicate_annotations) + len(first.replaced_annotations) == 1
    spans = [pq.read_table(tmp_path / out / "spans.parquet").sort_by("span_id") for out in ("a", "b")]
    assert spans[0].equals(spans[1])


def _lengthen(export: Path) -> None:
    export.write_bytes(export.read_bytes().replace(b'"id": ', b'"id":  '))


def _same_length(export: Path) -> None:
    """One letter of the text changed in place: the task is as long and still JSON (the content digest differs)."""
    with export.open("r+b") as handle:
        at = handle.read().index(b'"text": "') + len(b'"text": "')
        handle.seek(at)
        letter = handle.read(1)
        handle.seek(at)
        handle.write(b"Q" if letter != b"Q" else b"R")


def _replaced(export: Path) -> None:
    """The same bytes, but another file renamed over the export."""
    copy = export.with_suffix(".copy")
    copy.write_bytes(export.read_bytes())
    copy.replace(export)


@pytest.mark.parametrize("change", [_lengthen, _same_length, _replaced])
def test_an_export_changed_during_the_import_is_a_one_line_error(change: Any, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = _tied_export(tmp_path)
    os.utime(path, ns=(10**18, 10**18))  # a time the change below cannot keep, however coarse the clock
    original = reader.reread_task

    def after_a_change(export: Path, offset: int, length: int, stamp: Any) -> Any:
        change(export)
        return original(export, offset, length, stamp)

    monkeypatch.setattr(ingest, "reread_task", after_a_change)
    with pytest.raises(ClaimsetError, match=r"tied\.json: the file changed while it was being imported \(the task"):
        import_exports([path], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_export_that_cannot_be_read_again_is_refused_in_one_line(tmp_path: Path) -> None:
    """Digests of tied versions are computed by reading their task again (a pipe was never readable either)."""
    path, _ = _tied_export(tmp_path)
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(path.read_bytes()))
    writer.start()
    try:
        with pytest.raises(ClaimsetError, match=r"pipe\.json: cannot read export: it is not a file that can be read "
                                                r"again \(a pipe\?\); save it to a file first$"):
            import_exports([fifo], tmp_path / "out")
    finally:
        try:
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # lets a writer still waiting for a reader go on
        finally:
            writer.join()


# -- the sink: the same batches however rows arrive ----------------------------------------------------

def test_row_buffers_write_the_same_row_groups_however_rows_are_added(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sink, "ROWS_PER_GROUP", 50)
    monkeypatch.setattr(sink, "CONVERT_ROWS", 7)
    schema = pa.schema([("n", pa.int64()), ("s", pa.string())])
    rows = [(n, f"row {n} 😀") for n in range(333)]
    rng = random.Random(2)
    ways = {way: tmp_path / f"{way}.parquet" for way in ("append", "extend", "slices", "mixed")}
    for way, path in ways.items():
        buffer = sink.RowBuffer(schema, path, utf8_columns=("s",))
        at = 0
        while at < len(rows):
            step = rng.randrange(1, 40)
            chunk, at = rows[at : at + step], at + step
            if way == "append":
                for row in chunk:
                    buffer.append(row)
            elif way == "extend" or (way == "mixed" and step % 2):
                buffer.extend(chunk)
            else:  # a batch converted elsewhere, added in ranges (the fast path's rows)
                batch = sink.arrow_batch([list(column) for column in zip(*chunk, strict=True)], schema, ("s",))
                cut = rng.randrange(0, len(chunk) + 1)
                buffer.append_slice(batch, 0, cut)
                buffer.append_slice(batch, cut, len(chunk))
        assert buffer.count == len(rows)
        buffer.close()
    files = [pq.ParquetFile(path) for path in ways.values()]
    for file in files:  # row groups of exactly 50 rows, the last one fewer
        assert [file.metadata.row_group(g).num_rows for g in range(file.num_row_groups)] == [50] * 6 + [33]
    assert all(file.read().equals(files[0].read()) for file in files)
    assert files[0].read().to_pylist() == [{"n": n, "s": s} for n, s in rows]


def test_an_export_written_while_it_is_read_is_a_one_line_error(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A same-length edit in place after the first read: tasks read before and after would mix two files."""
    monkeypatch.setattr(reader, "READ_CHUNK", 4096)
    path, _ = _tied_export(tmp_path)
    os.utime(path, ns=(10**18, 10**18))
    edits: list[int] = []

    def edit_once(_read: int) -> None:
        if not edits:
            edits.append(1)
            _same_length(path)

    with pytest.raises(ClaimsetError, match=r"^\S*tied\.json: the file changed while it was being read$"):
        import_exports([path], tmp_path / "out", on_read=edit_once)
    assert edits and not (tmp_path / "out").exists()
