"""Import of Label Studio exports: one case per kind of flaw, each with its exact outcome."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claimset.codes import RejectReason
from claimset.errors import ClaimsetError
from claimset.ingest import ImportSummary, import_exports
from claimset.seeds import parse_seed
from claimset.summary import NothingWrittenError
from claimset.tables import read_table
from lsjson import annotation, choice, claim_with_speaker, entity, region, relation, task

TEXT = "Lavrov accused the West 😀 of meddling.\n\n“We hope this is understood,” the spokesperson said."


def run_import(tmp_path: Path, tasks: Any, **kwargs: Any) -> tuple[ImportSummary, dict[str, list[dict[str, Any]]]]:
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out"
    summary = import_exports([export], out, **kwargs)
    assert summary.reconciles, summary.to_dict()
    tables = {name: read_table(out, name).to_pylist() for name in ("documents", "annotations", "spans",
                                                                    "relations", "rejects")}
    return summary, tables


def rejects_of(tables: dict[str, list[dict[str, Any]]]) -> list[tuple[str, str | None, str]]:
    return [(row["item"], row["region_id"], row["reason"]) for row in tables["rejects"]]


def test_a_clean_annotation_becomes_spans_and_relations(tmp_path: Path) -> None:
    result = claim_with_speaker(TEXT, "the West 😀 of meddling", "Lavrov")
    summary, tables = run_import(tmp_path, [task(1, TEXT, [annotation(7, result, user=3)])])
    assert [(s["label"], s["start"], s["end"], s["text"], s["quote_type"], s["entity"]) for s in tables["spans"]] == [
        ("Claim", 15, 37, "the West 😀 of meddling", "indirect", None),
        ("Speaker", 0, 6, "Lavrov", None, "Lavrov"),
    ]
    assert tables["relations"] == [{
        "relation_id": "7:c>s:said_by", "annotation_id": 7, "doc_id": "doc-1", "head_span_id": "7:c",
        "tail_span_id": "7:s", "type": "said_by",
    }]
    (ann,) = tables["annotations"]
    assert (ann["annotator"], ann["status"], ann["task_id"], ann["lead_time"]) == ("ls-user-3", "submitted", 1, 42.5)
    assert tables["rejects"] == []
    assert (summary.regions.written, summary.attributes.written, summary.relations.written) == (2, 2, 1)


def flawed(result_edit: Any) -> list[dict[str, Any]]:
    result = claim_with_speaker(TEXT, "the West 😀 of meddling", "Lavrov")
    result_edit(result)
    return [task(1, TEXT, [annotation(7, result)])]


CASES: list[tuple[str, Any, list[tuple[str, str | None, str]]]] = [
    ("unknown label", lambda r: r[2]["value"].update(labels=["PERSON"]),
     [("region", "s", "unknown_label"), ("attribute", "s", "attribute_region_rejected"),
      ("relation", None, "relation_endpoint_rejected")]),
    ("label from another project's config", lambda r: r[0].update(from_name="ner"),
     [("region", "c", "unknown_from_name"), ("attribute", "c", "attribute_region_rejected"),
      ("relation", None, "relation_endpoint_rejected")]),
    ("region on an unknown to_name", lambda r: r[2].update(to_name="html"),
     [("region", "s", "unknown_to_name"), ("attribute", "s", "attribute_region_rejected"),
      ("relation", None, "relation_endpoint_rejected")]),
    ("choices whose region does not exist", lambda r: r[1].update(id="ghost"),
     [("attribute", "ghost", "attribute_orphan")]),
    ("relation to a missing region", lambda r: r[4].update(to_id="ghost"),
     [("relation", None, "relation_missing_region")]),
    ("duplicate region ids", lambda r: r.append(region("c", TEXT, 0, 6, "Speaker")),
     [("region", "c", "duplicate_region_id")]),
    ("offsets that are not integers", lambda r: r[2]["value"].update(start="0"),
     [("region", "s", "offsets_missing"), ("attribute", "s", "attribute_region_rejected"),
      ("relation", None, "relation_endpoint_rejected")]),
    ("negative offsets", lambda r: r[2]["value"].update(start=-2),
     [("region", "s", "offsets_negative"), ("attribute", "s", "attribute_region_rejected"),
      ("relation", None, "relation_endpoint_rejected")]),
    ("reversed offsets", lambda r: r[2]["value"].update(start=6, end=2),
     [("region", "s", "offsets_reversed"), ("attribute", "s", "attribute_region_rejected"),
      ("relation", None, "relation_endpoint_rejected")]),
    ("out-of-range offsets", lambda r: r[2]["value"].update(start=400, end=406),
     [("region", "s", "offsets_out_of_range"), ("attribute", "s", "attribute_region_rejected"),
      ("relation", None, "relation_endpoint_rejected")]),
    ("a span of only whitespace", lambda r: r.append(region("w", TEXT, 6, 7, "Cue")),
     [("region", "w", "whitespace_span")]),
    ("text that no repair explains", lambda r: r[2]["value"].update(text="Putin"),
     [("region", "s", "text_mismatch"), ("attribute", "s", "attribute_region_rejected"),
      ("relation", None, "relation_endpoint_rejected")]),
    ("two labels on one region", lambda r: r[2]["value"].update(labels=["Speaker", "Target"]),
     [("region", "s", "multiple_labels"), ("attribute", "s", "attribute_region_rejected"),
      ("relation", None, "relation_endpoint_rejected")]),
    ("quote type not in the scheme", lambda r: r[1]["value"].update(choices=["paraphrase"]),
     [("attribute", "c", "unknown_attribute_value")]),
    ("attribute on the wrong label", lambda r: r.append(entity("c", TEXT, 15, 37, "X", "target_entity")),
     [("attribute", "c", "attribute_wrong_label")]),
    ("empty entity", lambda r: r[3]["value"].update(text=[" "]), [("attribute", "s", "attribute_empty")]),
    ("attribute given twice", lambda r: r.append(choice("c", TEXT, 15, 37, "direct")),
     [("attribute", "c", "duplicate_attribute")]),
    ("relation type not in the scheme", lambda r: r[4].update(labels=["criticises"]),
     [("relation", None, "unknown_relation")]),
    ("relation without type", lambda r: r[4].update(labels=[]), [("relation", None, "relation_unlabelled")]),
    ("relation with two types", lambda r: r[4].update(labels=["said_by", "about"]),
     [("relation", None, "multiple_relation_labels")]),
    ("relation in the wrong direction", lambda r: r[4].update(from_id="s", to_id="c"),
     [("relation", None, "relation_wrong_labels")]),
    ("bidirectional relation", lambda r: r[4].update(direction="bi"), [("relation", None, "relation_bidirectional")]),
    ("relation twice", lambda r: r.append(relation("c", "s", "said_by")), [("relation", None, "duplicate_relation")]),
    ("result item of another type", lambda r: r.append({"id": "x", "type": "rating", "value": {"rating": 3}}),
     [("other", "x", "unknown_result_type")]),
]


@pytest.mark.parametrize(("name", "edit", "expected"), CASES, ids=[case[0] for case in CASES])
def test_flawed_result_items_are_rejected_with_reason(tmp_path: Path, name: str, edit: Any,
                                                       expected: list[tuple[str, str | None, str]]) -> None:
    _, tables = run_import(tmp_path, flawed(edit))
    assert rejects_of(tables) == expected
    for row in tables["rejects"]:
        assert row["source"] == "export.json" and row["annotation_id"] == 7 and row["task_id"] == 1
        assert row["message"] and "\n" not in row["message"]
        json.loads(row["raw"])


def test_left_direction_relation_is_stored_head_to_tail(tmp_path: Path) -> None:
    _, tables = run_import(tmp_path, flawed(lambda r: r[4].update(from_id="s", to_id="c", direction="left")))
    assert [(r["head_span_id"], r["tail_span_id"]) for r in tables["relations"]] == [("7:c", "7:s")]


# Reasons that the single-case tests of this module produce and assert (test name -> reasons).
SINGLE_CASES = {
    "test_cancelled_annotation_is_kept_but_its_regions_are_rejected": {"cancelled"},
    "test_task_without_text_rejects_every_region": {"task_without_text"},
    "test_reanchoring_that_fails_is_listed": {"reanchor_not_found", "reanchor_ambiguous"},
}


def test_every_documented_reason_is_produced_by_a_test() -> None:
    """Each RejectReason comes out of an import in some test: the cases above, the single cases of this
    module, or the bad-export fixtures (tests/fixtures/bad-exports); and none of them produces another."""
    from test_bad_exports import REJECTS

    assert all(name in globals() for name in SINGLE_CASES)
    produced = {reason for _, _, expected in CASES for _, _, reason in expected}
    produced |= {reason for reasons in SINGLE_CASES.values() for reason in reasons}
    produced |= {reason for rejects, _, _ in REJECTS.values() for _, _, reason in rejects}
    assert sorted(set(RejectReason) - produced) == []  # documented, never produced by a test
    assert sorted(produced - set(RejectReason)) == []  # produced, not documented


def test_cancelled_annotation_is_kept_but_its_regions_are_rejected(tmp_path: Path) -> None:
    result = claim_with_speaker(TEXT, "of meddling", "Lavrov")
    submitted = annotation(8, [region("l", TEXT, 0, 6, "Speaker")])
    summary, tables = run_import(tmp_path, [task(1, TEXT, [annotation(7, result, cancelled=True), submitted])])
    assert [a["status"] for a in tables["annotations"]] == ["cancelled", "submitted"]
    assert [s["annotation_id"] for s in tables["spans"]] == [8] and tables["relations"] == []
    assert {reason for _, _, reason in rejects_of(tables)} == {"cancelled"}
    assert (summary.regions.rejected, summary.attributes.rejected, summary.relations.rejected) == (2, 2, 1)


def test_an_import_that_writes_no_span_fails_and_names_the_reasons(tmp_path: Path) -> None:
    result = claim_with_speaker(TEXT, "of meddling", "Lavrov")
    export = tmp_path / "export.json"
    export.write_text(json.dumps([task(1, TEXT, [annotation(7, result, cancelled=True)])]), encoding="utf-8")
    with pytest.raises(NothingWrittenError, match=r"^export\.json: nothing imported") as info:
        import_exports([export], tmp_path / "out")
    assert str(info.value) == "export.json: nothing imported: 2 region(s) read, none written; rejects: cancelled 5"
    assert info.value.summary.rejects_by_reason == {"cancelled": 5}
    assert not (tmp_path / "out" / "spans.parquet").exists()


def test_empty_result_and_task_without_annotations(tmp_path: Path) -> None:
    summary, tables = run_import(tmp_path, [task(1, TEXT, [annotation(7, [])]), task(2, TEXT + " More.", [],
                                                                                   doc_id="doc-2")])
    assert [a["annotation_id"] for a in tables["annotations"]] == [7]
    assert [d["doc_id"] for d in tables["documents"]] == ["doc-1", "doc-2"]
    assert tables["spans"] == [] and tables["rejects"] == []
    assert summary.tasks == 2 and summary.regions.read == 0


def test_task_without_text_rejects_every_region(tmp_path: Path) -> None:
    bad = task(1, "", [annotation(7, claim_with_speaker(TEXT, "of meddling", "Lavrov"))])
    del bad["data"]["text"]
    good = task(2, TEXT, [annotation(8, [region("l", TEXT, 0, 6, "Speaker")])], doc_id="doc-2")
    _, tables = run_import(tmp_path, [bad, good])
    assert {reason for _, _, reason in rejects_of(tables)} == {"task_without_text"}
    assert len(tables["rejects"]) == 5 and [d["doc_id"] for d in tables["documents"]] == ["doc-2"]


def test_drafts_and_predictions_are_counted_not_imported(tmp_path: Path) -> None:
    one = task(1, TEXT, [])
    one["drafts"] = [{"id": 1, "result": claim_with_speaker(TEXT, "of meddling", "Lavrov")}]
    one["predictions"] = [{"id": 2, "result": []}, {"id": 3, "result": []}]
    summary, tables = run_import(tmp_path, [one])
    assert (summary.drafts, summary.predictions, tables["spans"]) == (1, 2, [])


def test_same_task_twice_and_overlapping_exports_do_not_duplicate(tmp_path: Path) -> None:
    result = claim_with_speaker(TEXT, "of meddling", "Lavrov")
    first = task(1, TEXT, [annotation(7, result)])
    newer = task(1, TEXT, [annotation(7, result[:2], updated="2026-11-26T00:00:00Z")])
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps([first, first]), encoding="utf-8")
    b.write_text(json.dumps([newer]), encoding="utf-8")
    summary = import_exports([a, a, b], tmp_path / "out")
    assert summary.reconciles
    assert summary.duplicate_annotations == [7, 7, 7] and summary.replaced_annotations == [7]
    spans = read_table(tmp_path / "out", "spans").to_pylist()
    assert [(s["label"], s["quote_type"]) for s in spans] == [("Claim", "indirect")]
    assert read_table(tmp_path / "out", "annotations").num_rows == 1
    assert read_table(tmp_path / "out", "relations").num_rows == 0
    # four copies of the two-region version, then the one-region version that replaces them
    assert (summary.regions.read, summary.regions.written, summary.regions.superseded) == (9, 1, 8)


def test_changed_document_text_is_reanchored_by_quote(tmp_path: Path) -> None:
    seed = parse_seed(("date 2026-11-25\n\nBREAKING. " + TEXT).encode(), "seeds/doc-1.txt")
    result = claim_with_speaker(TEXT, "the West 😀 of meddling", "Lavrov")
    summary, tables = run_import(tmp_path, [task(1, TEXT, [annotation(7, result)])], seeds=[seed])
    assert summary.reanchored == 2
    assert [(s["start"], s["text"], s["offset_repair"]) for s in tables["spans"]] == [
        (25, "the West 😀 of meddling", "reanchored"), (10, "Lavrov", "reanchored")]
    assert tables["documents"][0]["text"] == seed.text


@pytest.mark.parametrize(
    ("seed_text", "expected"),
    [
        # the Claim's quote is not in the new text (the Speaker's is, so something is written)
        ("Lavrov accused nobody.", [("region", "c", "reanchor_not_found")]),
        # the Speaker's quote twice, each time with as much of its old context (" " after it)
        ("Lavrov said no. Lavrov said no. the West 😀 of meddling", [("region", "s", "reanchor_ambiguous")]),
    ],
    ids=["not-found", "ambiguous"],
)
def test_reanchoring_that_fails_is_listed(tmp_path: Path, seed_text: str,
                                          expected: list[tuple[str, str | None, str]]) -> None:
    seed = parse_seed(f"date 2026-11-25\n\n{seed_text}".encode(), "seeds/doc-1.txt")
    result = claim_with_speaker(TEXT, "the West 😀 of meddling", "Lavrov")
    _, tables = run_import(tmp_path, [task(1, TEXT, [annotation(7, result)])], seeds=[seed])
    assert [row for row in rejects_of(tables) if row[0] == "region"] == expected


def test_repairs_are_recorded_per_span(tmp_path: Path) -> None:
    start = TEXT.index("meddling")
    utf16_start = start + 1  # one astral character (😀) before it
    span = region("m", TEXT, utf16_start, utf16_start + 8, "Cue", value_text="meddling")
    across = region("x", TEXT, TEXT.index("meddling."), TEXT.index("“We") + 3, "Claim",
                    value_text="meddling.\\n\\n“We")
    _, tables = run_import(tmp_path, [task(1, TEXT, [annotation(7, [span, across])])])
    assert [(s["text"], s["offset_repair"]) for s in tables["spans"]] == [
        ("meddling", "utf16"), ("meddling.\n\n“We", "escaped_newlines")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file, expected a Label Studio JSON export"),
        (b"{not json", "not a Label Studio JSON export: expected a list of tasks, found an object"),
        (b"id,text,label\n1,a,b\n", "not JSON (a CSV or other export?); expected a Label Studio JSON export"),
        (b'[{"data": {"text": "a"}, "annotations": []}, {"data": ', "truncated or invalid JSON"),
        (b'[{"data": {"text": "a"}, "annotations": []} oops]', "invalid JSON"),
        (b'[{"id": 1, "text": "a", "label": [{"start": 0, "end": 1, "labels": ["Claim"]}]}]',
         "task 0 has no 'data' or 'annotations': not a Label Studio full JSON export (JSON-MIN?"),
    ],
    ids=["empty", "not-json", "csv", "truncated", "garbage", "json-min"],
)
def test_unreadable_exports_fail_with_one_line_and_leave_outputs_untouched(tmp_path: Path, content: bytes,
                                                                           message: str) -> None:
    out = tmp_path / "out"
    good = tmp_path / "good.json"
    good.write_text(json.dumps([task(1, TEXT, [])]), encoding="utf-8")
    import_exports([good], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    with pytest.raises(ClaimsetError, match=f"^{re.escape(str(bad))}: .*{re.escape(message)}") as info:
        import_exports([good, bad], out)
    assert "\n" not in str(info.value)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_large_export_streams_in_row_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A generated export with many tasks: it is streamed task by task and written in several row groups."""
    import claimset.ingest as ingest
    import claimset.sink as sink

    monkeypatch.setattr(sink, "ROWS_PER_GROUP", 1000)
    export = tmp_path / "big.json"
    n_tasks = 1500
    with export.open("w", encoding="utf-8") as handle:
        handle.write("[")
        for i in range(n_tasks):
            result = claim_with_speaker(TEXT, "of meddling", "Lavrov")
            handle.write(("," if i else "") + json.dumps(task(i, TEXT, [annotation(i, result)], doc_id=f"d{i}")))
        handle.write("]")
    seen: list[int] = []
    original = ingest.read_export

    def spy(path: Path, on_read: Any = None, typed: Any = None) -> Any:
        for item in original(path, on_read, typed):
            seen.append(item.number)
            yield item

    monkeypatch.setattr(ingest, "read_export", spy)
    summary = import_exports([export], tmp_path / "out")
    assert summary.reconciles and summary.regions.written == 2 * n_tasks
    assert seen == list(range(n_tasks))
    assert pq.ParquetFile(tmp_path / "out" / "spans.parquet").num_row_groups == 3


# -- property: the whole import recovers the intended spans, however the export encoded them ---------

PIECES = st.sampled_from(["Lavrov", " said", " “no”", ".", "😀", "🇮🇳", "e\u0301", "\n\n", "\r\n", "é", " the West"])


@st.composite
def document_with_spans(draw: st.DrawFn) -> tuple[str, list[tuple[int, int]]]:
    text = "".join(draw(st.lists(PIECES, min_size=3, max_size=25))).replace("\r", "").strip() or "Lavrov"
    bounds = sorted({0, len(text), *draw(st.lists(st.integers(0, len(text)), max_size=12))})
    spans = [(a, b) for a, b in itertools.pairwise(bounds) if text[a:b].strip() == text[a:b] != ""]
    return text, spans[:6]


def encode(text: str, start: int, end: int, how: str) -> tuple[int, int, str]:
    value = text[start:end]
    if "utf16" in how:
        start, end = (len(text[:i].encode("utf-16-le")) // 2 for i in (start, end))
    if "escaped" in how:
        value = value.replace("\n", "\\n")
    return start, end, value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document_with_spans(), st.sampled_from(["codepoints", "utf16", "escaped", "utf16+escaped"]))
def test_import_recovers_the_intended_spans(tmp_path: Path, case: tuple[str, list[tuple[int, int]]], how: str) -> None:
    text, spans = case
    result = []
    for i, (start, end) in enumerate(spans):
        raw_start, raw_end, value = encode(text, start, end, how)
        result.append({"id": f"r{i}", "from_name": "label", "to_name": "text", "type": "labels",
                       "value": {"start": raw_start, "end": raw_end, "text": value, "labels": ["Cue"]}})
    export = tmp_path / "prop.json"
    export.write_text(json.dumps([task(1, text, [annotation(1, result)])], ensure_ascii=False), encoding="utf-8")
    summary = import_exports([export], tmp_path / "out")
    assert summary.reconciles and summary.regions.rejected == 0
    got = [(s["text"], s["start"], s["end"]) for s in read_table(tmp_path / "out", "spans").to_pylist()]
    for (text_got, start_got, end_got), (start, end) in zip(got, spans, strict=True):
        assert text_got == text[start:end] == text[start_got:end_got]


def test_times_with_an_offset_are_stored_as_the_same_instant_in_utc(tmp_path: Path) -> None:
    import datetime as dt

    import pandera  # noqa: F401  # once pandera is imported, pyarrow 26 drops an aware datetime's offset itself

    result = claim_with_speaker(TEXT, "of meddling", "Lavrov")
    offset = annotation(7, result, updated="2026-11-02T01:00:00+02:00")
    offset["created_at"] = "2026-11-01T10:00:00-05:00"
    later_in_utc = annotation(8, result, updated="2026-11-01T23:30:00Z")
    out_of_range = annotation(9, result, updated="0001-01-01T00:00:00+14:00")
    _, tables = run_import(tmp_path, [task(1, TEXT, [offset, later_in_utc, out_of_range])])
    utc = dt.UTC
    times = {a["annotation_id"]: (a["created_at"], a["updated_at"]) for a in tables["annotations"]}
    assert times[7] == (dt.datetime(2026, 11, 1, 15, 0, tzinfo=utc), dt.datetime(2026, 11, 1, 23, 0, tzinfo=utc))
    assert times[8][1] == dt.datetime(2026, 11, 1, 23, 30, tzinfo=utc) and 9 not in times
    assert {(r["annotation_id"], r["reason"]) for r in tables["rejects"]} == {(9, "malformed_annotation")}
    assert "not an ISO 8601 time (one whose UTC instant is in the years 1 to 9999)" in tables["rejects"][0]["message"]
    lower_case = annotation(10, result, updated="2026-11-02t01:00:00+02:00")
    (tmp_path / "lower").mkdir()
    _, tables = run_import(tmp_path / "lower", [task(1, TEXT, [lower_case])])
    assert tables["annotations"][0]["updated_at"] == dt.datetime(2026, 11, 1, 23, 0, tzinfo=utc)


def test_versions_with_the_same_time_and_crc32_are_told_apart_by_content(tmp_path: Path) -> None:
    """'4PmrLvHv7I' and '6hASW0j7Lp' have the same CRC-32: the kept version must not depend on file order."""
    import zlib

    assert zlib.crc32(b"4PmrLvHv7I") == zlib.crc32(b"6hASW0j7Lp")
    versions = []
    for suffix in ("4PmrLvHv7I", "6hASW0j7Lp"):
        result = claim_with_speaker(TEXT, "of meddling", "Lavrov")
        result[3]["value"]["text"] = [f"Sergei Lavrov {suffix}"]  # the speaker's entity text area
        versions.append(annotation(7, result))
    kept = []
    for order in (versions, versions[::-1]):
        (tmp_path / str(len(kept))).mkdir()
        summary, tables = run_import(tmp_path / str(len(kept)), [task(1, TEXT, order)])
        assert summary.duplicate_annotations == [7] or summary.replaced_annotations == [7]
        kept.append(sorted(str(s["entity"]) for s in tables["spans"]))
    assert kept[0] == kept[1]


@pytest.mark.parametrize(("raw_id", "written"), [
    (None, False), (True, False), (1.0, False), ({"a": 1}, False), ("", False), ("c>1", False), (7, True),
    ("c:1", True),
])
def test_region_ids_that_tables_cannot_key_on_are_rejected(tmp_path: Path, raw_id: Any, written: bool) -> None:
    claim = region("c", TEXT, TEXT.index("of meddling"), TEXT.index("of meddling") + 11, "Claim")
    claim["id"] = raw_id
    if raw_id is None:
        del claim["id"]
    quote = choice("c", TEXT, claim["value"]["start"], claim["value"]["end"], "indirect")
    quote["id"] = raw_id
    speaker = claim_with_speaker(TEXT, "of meddling", "Lavrov")[2:4]  # a healthy region beside it
    summary, tables = run_import(tmp_path, [task(1, TEXT, [annotation(7, [claim, quote, *speaker])])])
    assert summary.reconciles and summary.regions.written == (2 if written else 1)
    if not written:
        assert [r["reason"] for r in tables["rejects"] if r["item"] == "region"] == ["invalid_region_id"]


@pytest.mark.parametrize("published", ["20201212", "2020-W50-6", "2020-12-12T00:00", "２０２０-12-12", "2020-1-12"])
def test_published_dates_other_than_yyyy_mm_dd_are_malformed(tmp_path: Path, published: str) -> None:
    """Python 3.11's date.fromisoformat also reads the basic and week forms; the docs promise YYYY-MM-DD."""
    result = claim_with_speaker(TEXT, "of meddling", "Lavrov")
    export = tmp_path / "export.json"
    good = task(1, TEXT, [annotation(1, result)], doc_id="d1")
    bad = task(2, TEXT, [annotation(2, result)], doc_id="d2")
    bad["data"]["published"] = published
    export.write_text(json.dumps([good, bad]), encoding="utf-8")
    summary = import_exports([export], tmp_path / "out")
    assert summary.rejects_by_reason == {"malformed_task": len(result)}
    assert summary.regions.written == 2
