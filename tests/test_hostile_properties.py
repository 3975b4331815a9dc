"""Properties over hostile input (issue 13).

1. The streaming reader agrees with the standard library on random byte mutations of a valid export:
   whenever ``json.loads`` refuses the bytes, :func:`read_tasks` raises a one-line ClaimsetError;
   whenever it reads a list, both give the same tasks.
2. The whole import, over generated exports that include structurally broken ones, either writes a
   dataset whose rows plus rejects account for every result item of the input (counted here with
   ``json.loads``, not with claimset code), or fails with a one-line ClaimsetError and leaves ``--out``
   as it was.
"""

from __future__ import annotations

import itertools
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import claimset.ingest as ingest
import claimset.reader as reader
from claimset.errors import ClaimsetError
from claimset.ingest import import_exports
from claimset.summary import NothingWrittenError, check_written
from claimset.tables import read_table
from lsjson import annotation, claim_with_speaker, task

TEXT = 'Lavrov said “no, [never]” 😀 to the West.\n\nThe spokesperson said: "it is \\ well understood".'
FUNCTION_SCOPED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


def _reject_constant(name: str) -> None:
    raise ValueError(name)


def reference(data: bytes) -> Any:
    """What the standard library reads (NaN and Infinity refused, as by any strict JSON reader), or an error."""
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        return exc


def refused_by_reader(value: Any) -> bool:
    """A valid JSON text the reader refuses by design: not a list, or a JSON-MIN export (see read_tasks)."""
    if not isinstance(value, list):
        return True
    first = value[0] if value else None
    return isinstance(first, dict) and "data" not in first and "annotations" not in first


# -- 1. the reader against json.loads on mutated exports ---------------------------------------------

VALID = json.dumps([task(1, TEXT, [annotation(7, claim_with_speaker(TEXT, "no, [never]", "Lavrov"))]),
                    task(2, TEXT, [], doc_id="doc-2", big=2**64, f=1.5e300, surrogate="\ud800"),
                    task(3, "a", [], doc_id="doc-3", n=-9223372036854775809)],  # orjson: a float
                   ensure_ascii=False, indent=1).encode("utf-8", "backslashreplace")
# where mutations land: anywhere, or (more often) on a byte that gives the text its structure
STRUCTURE = [at for at, byte in enumerate(VALID) if byte in b'[]{},:"\\'] + [len(VALID) - 2, len(VALID) - 1]
MUTATION_BYTES = st.sampled_from([*list(b'[]{}",:\\ \n0123456789-+.eEtfnu'), 255, 237, 160, 128, 226])


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 4))):
        at = min(len(data), draw(st.one_of(st.integers(0, len(VALID)), st.sampled_from(STRUCTURE),
                                           st.integers(len(VALID) - 3, len(VALID)))))
        op = draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
        byte = draw(st.one_of(st.sampled_from(b'[]{},"'), MUTATION_BYTES))
        if op == "replace" and at < len(data):
            data[at] = byte
        elif op == "insert":
            data.insert(at, byte)
        elif op == "delete" and at < len(data):
            del data[at]
        elif op == "truncate":
            del data[at:]
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=FUNCTION_SCOPED)
@given(mutated(), st.sampled_from([1, 5, 64, 4096, reader.READ_CHUNK]))
@example(b"[}", 4096)
@example(VALID.rstrip()[:-1] + b"}", 64)
@example(b" " * 5000 + VALID, 4096)
def test_the_reader_agrees_with_the_standard_library_on_mutated_exports(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, chunk: int) -> None:
    export = tmp_path / "export.json"
    export.write_bytes(data)
    monkeypatch.setattr(reader, "READ_CHUNK", chunk)
    expected = reference(data)
    if isinstance(expected, Exception) or refused_by_reader(expected):
        with pytest.raises(ClaimsetError, match=f"^{re.escape(str(export))}: ") as info:
            list(reader.read_tasks(export))
        assert "\n" not in str(info.value)
    else:
        assert list(reader.read_tasks(export)) == expected


# -- 2. the whole import against an independent count of result items --------------------------------

LONE = "\ud800"
SPAN_LABELS = ["Claim", "Speaker", "Cue", "Target"]


@st.composite
def region_item(draw: st.DrawFn, rid: str) -> Any:
    start = draw(st.integers(0, len(TEXT) - 1))
    end = draw(st.integers(start + 1, len(TEXT)))
    value: dict[str, Any] = {"start": start, "end": end, "text": TEXT[start:end],
                             "labels": [draw(st.sampled_from(SPAN_LABELS))]}
    flaw = draw(st.sampled_from([None] * 6 + ["labels", "start", "text", "from_name"]))
    if flaw == "labels":
        value["labels"] = draw(st.sampled_from([["PERSON"], [["Cue"]], {"Cue": 1}, None, ["Cue" + LONE], []]))
    elif flaw == "start":
        value["start"] = draw(st.sampled_from([-1, 10**400, 2**63, "3", 1.5, None]))
    elif flaw == "text":
        value["text"] = draw(st.sampled_from(["elsewhere", LONE, 7]))
    item = {"id": rid, "from_name": "label", "to_name": "text", "type": "labels", "value": value}
    if flaw == "from_name":
        item["from_name"] = "ner"
    return item


@st.composite
def other_item(draw: st.DrawFn, ids: list[str]) -> Any:
    rid = draw(st.sampled_from(ids))
    kind = draw(st.sampled_from(["choices", "textarea", "relation", "junk"]))
    if kind == "choices":
        return {"id": rid, "from_name": "quote_type", "to_name": "text", "type": "choices",
                "value": {"choices": [draw(st.sampled_from(["direct", "indirect", "paraphrase"]))]}}
    if kind == "textarea":
        text = draw(st.sampled_from([["Lavrov"], "Lavrov", [{"t": 1}], [" "], ["L" + LONE], 5]))
        return {"id": rid, "from_name": draw(st.sampled_from(["speaker_entity", "target_entity"])),
                "to_name": "text", "type": "textarea", "value": {"text": text}}
    if kind == "relation":
        return {"from_id": rid, "to_id": draw(st.sampled_from(ids)), "type": "relation",
                "direction": draw(st.sampled_from(["right", "left", "bi", "up", None])),
                "labels": [draw(st.sampled_from(["said_by", "cued_by", "about", "criticises"]))]}
    return draw(st.sampled_from([3, "x", None, {"type": 5}, {"id": "r", "type": "rating"}]))


@st.composite
def result_value(draw: st.DrawFn) -> Any:
    ids = [f"r{i}" for i in range(draw(st.sampled_from([1, 2, 3, 4])))]
    items = [draw(region_item(rid)) for rid in ids]
    items += draw(st.lists(other_item(ids), max_size=5))
    shape = draw(st.sampled_from(["list"] * 8 + ["object", "int", "missing"]))
    return {"list": items, "object": {"items": items}, "int": 3, "missing": None}[shape]


@st.composite
def annotation_value(draw: st.DrawFn, annotation_id: int) -> Any:
    shape = draw(st.sampled_from(["ok"] * 8 + ["int", "string"]))
    if shape != "ok":
        return 7 if shape == "int" else "annotation"
    value = annotation(annotation_id, [], user=draw(st.sampled_from([2, "alice@example.org", {"id": 3}])))
    value["result"] = draw(result_value())
    flaw = draw(st.sampled_from([None] * 8 + ["id", "was_cancelled", "cancelled", "lead_time", "completed_by"]))
    if flaw == "id":
        value["id"] = draw(st.sampled_from([2**63, 10**400, "7", None]))
    elif flaw == "was_cancelled":
        value["was_cancelled"] = "false"
    elif flaw == "cancelled":
        value["was_cancelled"] = True
    elif flaw == "lead_time":
        value["lead_time"] = 10**400
    elif flaw == "completed_by":
        value["completed_by"] = "alice" + LONE
    if value["result"] is None:
        del value["result"]
    return value


@st.composite
def task_value(draw: st.DrawFn, task_id: int, ids: itertools.count) -> Any:  # type: ignore[type-arg]
    shape = draw(st.sampled_from(["ok"] * 10 + ["int", "no-data"]))
    if shape == "int":
        return 5
    annotations = [draw(annotation_value(next(ids))) for _ in range(draw(st.sampled_from([1, 1, 2, 0])))]
    value = task(task_id, TEXT, annotations, doc_id=f"doc-{task_id}")
    if shape == "no-data":
        value["data"] = draw(st.sampled_from([None, "text"]))
    flaws = st.sampled_from(["text", "surrogate", "doc_id", "annotations", "completions", "drafts", "predictions",
                             "id"])
    for flaw in draw(st.lists(flaws, max_size=draw(st.sampled_from([0] * 5 + [1] * 4 + [2])), unique=True)):
        data = value["data"] if isinstance(value["data"], dict) else {}
        if flaw == "text":
            data.pop("text", None)
        elif flaw == "surrogate":
            data["text"] = TEXT + LONE
        elif flaw == "doc_id":
            data["doc_id"] = "doc" + LONE
        elif flaw == "annotations":
            value["annotations"] = draw(st.sampled_from([annotations[0] if annotations else {}, 3, "x"]))
        elif flaw == "completions":
            value["completions"] = [draw(annotation_value(next(ids)))]
            if draw(st.booleans()):
                del value["annotations"]
        elif flaw in ("drafts", "predictions"):
            value[flaw] = draw(st.sampled_from([3, True, {}]))
        elif flaw == "id":
            value["id"] = draw(st.sampled_from([2**63, 10**400, "1"]))
    return value


@st.composite
def export_bytes(draw: st.DrawFn) -> bytes:
    ids = itertools.count(1)
    tasks = [draw(task_value(task_id, ids)) for task_id in range(1, draw(st.sampled_from([1, 2, 3])) + 1)]
    text = json.dumps(tasks, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 1])))
    data = text.encode("utf-8", "backslashreplace")  # a lone surrogate becomes its JSON escape
    damage = draw(st.sampled_from([None] * 8 + ["truncate", "brace", "prefix", "suffix"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif damage == "brace":
        data = data.rstrip()[:-1] + b"}"
    elif damage == "prefix":
        data = b" " * 5000 + data
    elif damage == "suffix":
        data += b"x"
    return data


def result_items_in(tasks: Any) -> list[Any]:
    """Result items of the input, found from json.loads alone: those in every list ``result`` of every
    object annotation in a task's ``annotations`` or ``completions`` list."""
    items: list[Any] = []
    for value in tasks if isinstance(tasks, list) else []:
        for key in ("annotations", "completions"):
            annotations = value.get(key) if isinstance(value, dict) else None
            for item in annotations if isinstance(annotations, list) else []:
                if isinstance(item, dict) and isinstance(item.get("result"), list):
                    items += item["result"]
    return items


def accounted_in_tables(out: Path) -> tuple[int, int]:
    """Result items the tables account for (spans, attribute values on them, relations, rejects of items),
    and the number of reject rows."""
    spans = read_table(out, "spans").to_pylist()
    attributes = sum((span["quote_type"] is not None) + (span["entity"] is not None) for span in spans)
    rejects = read_table(out, "rejects").to_pylist()
    item_rejects = sum(row["item"] in ("region", "attribute", "relation", "other") for row in rejects)
    return len(spans) + attributes + read_table(out, "relations").num_rows + item_rejects, len(rejects)


@settings(max_examples=150, deadline=None, suppress_health_check=FUNCTION_SCOPED)
@given(export_bytes())
def test_every_result_item_is_written_or_rejected_or_the_import_fails_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    export = tmp_path / "export.json"
    export.write_bytes(data)
    out = Path(tempfile.mkdtemp(dir=tmp_path))  # one per example: tmp_path is shared by all of them
    (out / "documents.parquet").write_bytes(b"the previous import")  # a dataset folder (before 0.2) to replace
    expected = reference(data)
    # the tables are checked even when no span is written; the refusal is checked after, on the summary
    monkeypatch.setattr(ingest, "check_written", lambda summary: None)
    try:
        summary = import_exports([export], out)
    except ClaimsetError as exc:
        event("one-line error")
        assert isinstance(expected, Exception) or refused_by_reader(expected)
        assert "\n" not in str(exc) and str(exc)
        assert [(p.name, p.read_bytes()) for p in out.iterdir()] == [("documents.parquet", b"the previous import")]
        return
    assert not isinstance(expected, Exception)
    assert summary.reconciles and summary.regions.superseded == 0
    items = result_items_in(expected)
    accounted, reject_rows = accounted_in_tables(out)
    assert accounted == len(items)
    regions = sum(isinstance(item, dict) and item.get("type") == "labels" for item in items)
    event(f"imported: {'some' if accounted else 'no'} result items")
    no_task = isinstance(expected, list) and not expected  # an export of no task at all is refused too
    if no_task or (read_table(out, "spans").num_rows == 0 and (regions or reject_rows)):
        event("nothing written")
        with pytest.raises(NothingWrittenError, match="nothing imported") as info:
            check_written(summary)
        assert "\n" not in str(info.value)
    else:
        check_written(summary)
