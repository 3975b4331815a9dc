"""The bad-input catalogue: one fixture file per case (tests/fixtures/bad-exports), exact outcome each.

The fixtures are copies of a real Label Studio export with one planted flaw each (make_fixtures.py).
A case ends in one of three ways: a one-line error and exit code 1 with nothing written (an
unreadable file, or an export of which nothing could be imported), or rows of ``rejects`` with the
right reason codes while everything else is imported and the counts reconcile.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from claimset.cli import app
from claimset.errors import ClaimsetError
from claimset.ingest import import_exports
from claimset.seeds import read_seeds
from claimset.summary import NothingWrittenError
from claimset.tables import read_table
from claimset.validate import validate_dataset

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "bad-exports"
ALL_ITEMS = [("attribute", r) for r in ("c1", "c2", "s1", "s2", "t2")] + [
    ("region", r) for r in ("c1", "c2", "q1", "q2", "s1", "s2", "t2")] + [("relation", None)] * 5
HEALTHY = (8, 6)  # spans and relations of the healthy task some fixtures keep beside the flawed one
SYN = (7, 5)  # spans and relations of the flawed task when nothing in it is rejected
KINDS = {"labels": "region", "choices": "attribute", "textarea": "attribute", "relation": "relation"}

ERRORS = {
    "not-json.json": "not JSON (a CSV or other export?); expected a Label Studio JSON export",
    "empty.json": "empty file, expected a Label Studio JSON export",
    "csv-export.csv": "not JSON (a CSV or other export?); expected a Label Studio JSON export",
    "truncated.json": "truncated or invalid JSON: the file ends inside task 0",
    "json-min-export.json": "task 0 has no 'data' or 'annotations': not a Label Studio full JSON export "
                            "(JSON-MIN? export with the JSON format)",
    "bracket-mismatch-empty.json": "invalid JSON: '}' at byte 1 closes the list of tasks; expected ']'",
    "list-closed-by-brace.json": "invalid JSON: '}' at byte 5022 closes the list of tasks; expected ']'",
}

# file -> the error after "<file>: ", and the summary's rejects by reason
NOTHING_WRITTEN: dict[str, tuple[str, dict[str, int]]] = {
    "cancelled-annotation.json": ("nothing imported: 7 region(s) read, none written; rejects: cancelled 17",
                                  {"cancelled": 17}),
    "task-without-text.json": ("nothing imported: 7 region(s) read, none written; rejects: task_without_text 17",
                               {"task_without_text": 17}),
    "all-regions-rejected.json": ("nothing imported: 7 region(s) read, none written; rejects: unknown_label 7, "
                                  "attribute_region_rejected 5, relation_endpoint_rejected 5",
                                  {"unknown_label": 7, "attribute_region_rejected": 5,
                                   "relation_endpoint_rejected": 5}),
}


def every_item(reason: str) -> list[tuple[str, str | None, str]]:
    return [(item, region, reason) for item, region in ALL_ITEMS]


def q1_and_its_relation(reason: str, relation: str = "relation_endpoint_rejected") -> list[Any]:
    return [("region", "q1", reason), ("relation", None, relation)]


def items_of_task(name: str, index: int, reason: str) -> list[tuple[str, str | None, str]]:
    """Every result item of task ``index`` of the fixture, read with json: (kind, region id, reason)."""
    task = json.loads((FIXTURES / name).read_text(encoding="utf-8"))[index]
    return [(KINDS[r["type"]], r.get("id"), reason) for a in task["annotations"] for r in a["result"]]


# file -> (rejects as (item, region_id, reason), spans, relations)
REJECTS: dict[str, tuple[list[tuple[str, str | None, str]], int, int]] = {
    "unknown-label.json": ([("attribute", "s1", "attribute_region_rejected"), ("region", "s1", "unknown_label"),
                            ("relation", None, "relation_endpoint_rejected")], 6, 4),
    "other-project-label.json": ([("attribute", "c1", "attribute_region_rejected"),
                                  ("region", "c1", "unknown_from_name"),
                                  ("relation", None, "relation_endpoint_rejected"),
                                  ("relation", None, "relation_endpoint_rejected")], 6, 3),
    "unknown-to-name.json": (q1_and_its_relation("unknown_to_name"), 6, 4),
    "orphan-choices.json": ([("attribute", "ghost", "attribute_orphan")], 7, 5),
    "relation-missing-region.json": ([("relation", None, "relation_missing_region")], 7, 4),
    "duplicate-region-ids.json": ([("region", "c1", "duplicate_region_id")], 7, 5),
    "region-id-with-separator.json": ([("region", "q>1", "invalid_region_id"),
                                       ("relation", None, "relation_endpoint_rejected")], 6, 4),
    "negative-offsets.json": (q1_and_its_relation("offsets_negative"), 6, 4),
    "reversed-offsets.json": (q1_and_its_relation("offsets_reversed"), 6, 4),
    "out-of-range-offsets.json": (q1_and_its_relation("offsets_out_of_range"), 6, 4),
    "whitespace-span.json": ([("region", "ws1", "whitespace_span")], 7, 5),
    "not-a-task.json": ([("task", None, "not_a_task")], 7, 5),
    "empty-result.json": ([], 0, 0),
    "same-task-twice.json": ([], *SYN),
    "changed-document.json": ([], 11, 8),
    # issue 13, item 1
    "lone-surrogate-task-text.json": (every_item("invalid_unicode"), *HEALTHY),
    "lone-surrogate-doc-id.json": (every_item("invalid_unicode"), *HEALTHY),
    "lone-surrogate-region-text.json": (q1_and_its_relation("invalid_unicode"), 6, 4),
    "lone-surrogate-entity.json": ([("attribute", "s1", "invalid_unicode")], *SYN),
    "lone-surrogate-region-id.json": ([("region", "q1\\ud800", "invalid_unicode"),  # the id, escaped
                                       ("relation", None, "relation_missing_region")], 6, 4),
    "lone-surrogate-label.json": (q1_and_its_relation("invalid_unicode"), 6, 4),
    "lone-surrogate-completed-by.json": ([], *SYN),
    "task-id-2-63.json": (every_item("malformed_task"), *HEALTHY),
    "task-id-10-400.json": (every_item("malformed_task"), *HEALTHY),
    "annotation-id-2-63.json": (every_item("malformed_annotation"), *HEALTHY),
    "annotation-id-10-400.json": (every_item("malformed_annotation"), *HEALTHY),
    "annotations-without-ids.json": (items_of_task("annotations-without-ids.json", 0, "malformed_annotation"),
                                     *HEALTHY),
    "lead-time-2-63.json": ([], *SYN),
    "lead-time-10-400.json": ([], *SYN),
    "start-1e400.json": (q1_and_its_relation("offsets_missing"), 6, 4),
    "labels-nested-list.json": (q1_and_its_relation("unknown_label"), 6, 4),
    "labels-dict.json": (q1_and_its_relation("unknown_label"), 6, 4),
    "annotations-int.json": ([("task", None, "malformed_task")], *HEALTHY),
    "drafts-int.json": (every_item("malformed_task"), *HEALTHY),
    "predictions-true.json": (every_item("malformed_task"), *HEALTHY),
    "published-not-a-date.json": (every_item("malformed_task"), *HEALTHY),
    "updated-at-not-a-time.json": (every_item("malformed_annotation"), *HEALTHY),
    "text-sha256-mismatch.json": (every_item("malformed_task"), *HEALTHY),
    # item 2
    "result-not-a-list.json": ([("annotation", None, "malformed_annotation")], *HEALTHY),
    "annotations-object.json": ([("task", None, "malformed_task")], *HEALTHY),
    "task-without-text-annotations-not-objects.json": ([("annotation", None, "task_without_text")] * 3, *HEALTHY),
    "legacy-completions.json": ([], *SYN),
    # item 3
    "whitespace-before-export.json": ([], *SYN),
    # item 10
    "completed-by-email.json": ([], *SYN),
    "completed-by-name.json": ([], *SYN),
    "completed-by-object-with-email.json": ([], *SYN),
    "completed-by-object-with-id.json": ([], *SYN),
    # item 11
    "relation-direction-unknown.json": ([("relation", None, "relation_direction_unknown")], 7, 4),
    "relation-direction-null.json": ([], *SYN),
    "was-cancelled-string.json": (every_item("malformed_annotation"), *HEALTHY),
    "ground-truth-string.json": (every_item("malformed_annotation"), *HEALTHY),
    "textarea-dict.json": ([("attribute", "s1", "attribute_not_text")], *SYN),
    "annotation-id-in-two-tasks.json": (items_of_task("annotation-id-in-two-tasks.json", 1,
                                                      "duplicate_annotation_id"), *SYN),
    "same-updated-at.json": ([], *SYN),
}

# file -> validation failures (key, check) of the imported dataset; every other import is valid
INVALID = {
    "orphan-choices.json": [("3:c1", "attribute_missing")],  # the claim lost its quote type: the gold check says so
    "lone-surrogate-entity.json": [("3:s1", "attribute_missing")],  # the speaker lost its entity
    "textarea-dict.json": [("3:s1", "attribute_missing")],
}


def fixture_names() -> set[str]:
    return {p.name for p in FIXTURES.iterdir() if p.suffix in {".json", ".csv"}}


def by_key(row: tuple[str, str | None, str]) -> tuple[str, str, str]:
    return row[0], row[1] or "", row[2]


def test_every_fixture_has_an_expected_outcome() -> None:
    assert fixture_names() == set(ERRORS) | set(NOTHING_WRITTEN) | set(REJECTS)


def cli_import(path: Path, out: Path) -> Any:
    return CliRunner().invoke(app, ["import", str(path), "--out", str(out), "--seeds", str(ROOT / "seeds")])


def assert_one_line_error(result: Any) -> None:
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ") and "Traceback" not in result.output


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_unreadable_export_is_one_line_exit_1_and_writes_nothing(name: str, tmp_path: Path) -> None:
    path = FIXTURES / name
    with pytest.raises(ClaimsetError, match=f"^{re.escape(str(path))}: {re.escape(ERRORS[name])}$"):
        import_exports([path], tmp_path / "lib")
    result = cli_import(path, tmp_path / "cli")
    assert_one_line_error(result)
    assert list(tmp_path.iterdir()) == []  # no dataset folder, staging folder or lock left behind


@pytest.mark.parametrize("name", sorted(NOTHING_WRITTEN))
def test_an_export_of_which_nothing_is_written_is_one_line_exit_1(name: str, tmp_path: Path) -> None:
    message, reasons = NOTHING_WRITTEN[name]
    with pytest.raises(NothingWrittenError, match="nothing imported") as info:
        import_exports([FIXTURES / name], tmp_path / "lib", seeds=read_seeds(ROOT / "seeds"))
    assert str(info.value) == f"{name}: {message}"
    assert info.value.summary.reconciles and info.value.summary.rejects_by_reason == reasons
    result = cli_import(FIXTURES / name, tmp_path / "cli")
    assert_one_line_error(result)
    assert result.output == f"Error: {name}: {message}\n"
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing left behind


@pytest.mark.parametrize("name", sorted(REJECTS))
def test_flawed_items_land_in_rejects_with_their_reason(name: str, tmp_path: Path) -> None:
    seeds = read_seeds(ROOT / "seeds")
    summary = import_exports([FIXTURES / name], tmp_path, seeds=seeds)
    assert summary.reconciles, summary.to_dict()
    rejects, spans, relations = REJECTS[name]
    got = sorted((r["item"], r["region_id"], r["reason"]) for r in read_table(tmp_path, "rejects").to_pylist())
    assert got == sorted(rejects, key=by_key)
    assert (summary.regions.written, summary.relations.written) == (spans, relations)
    assert read_table(tmp_path, "spans").num_rows == spans
    report = validate_dataset(tmp_path, seeds)
    assert [(f.key, f.check) for f in report.failures] == INVALID.get(name, [])


def import_fixture(name: str, out: Path) -> dict[str, list[dict[str, Any]]]:
    import_exports([FIXTURES / name], out, seeds=read_seeds(ROOT / "seeds"))
    return {table: read_table(out, table).to_pylist() for table in ("annotations", "spans", "relations", "rejects")}


def test_the_same_task_twice_is_imported_once(tmp_path: Path) -> None:
    summary = import_exports([FIXTURES / "same-task-twice.json"], tmp_path)
    assert summary.annotations == 1 and summary.duplicate_annotations == [3]


def test_a_changed_document_is_reanchored_to_its_seed(tmp_path: Path) -> None:
    seeds = read_seeds(ROOT / "seeds")
    summary = import_exports([FIXTURES / "changed-document.json"], tmp_path, seeds=seeds)
    assert summary.reanchored == 11 and summary.repairs["reanchored"] == 11
    (document,) = read_table(tmp_path, "documents").to_pylist()
    assert document["text"] == seeds[0].text
    for span in read_table(tmp_path, "spans").to_pylist():
        assert seeds[0].text[span["start"] : span["end"]] == span["text"] and span["offset_repair"] == "reanchored"


@pytest.mark.parametrize(("name", "raw", "message"), [
    ("annotations-object.json", lambda task: task["annotations"], "task 2: 'annotations' is dict, not a list"),
    ("annotations-int.json", lambda task: 3, "task 2: 'annotations' is int, not a list"),
    ("result-not-a-list.json", lambda task: task["annotations"][0]["result"],
     "annotation 3: 'result' is dict, not a list"),
])
def test_a_value_that_is_not_a_list_is_rejected_whole(name: str, raw: Any, message: str, tmp_path: Path) -> None:
    task = json.loads((FIXTURES / name).read_text(encoding="utf-8"))[0]
    (reject,) = import_fixture(name, tmp_path)["rejects"]
    assert (reject["task_id"], reject["message"], json.loads(reject["raw"])) == (2, message, raw(task))


def test_a_task_without_text_leaves_a_trace_of_each_annotation(tmp_path: Path) -> None:
    rejects = import_fixture("task-without-text-annotations-not-objects.json", tmp_path)["rejects"]
    assert [json.loads(r["raw"]) for r in rejects] == [7, "annotation 7", None]
    assert {r["message"] for r in rejects} == {"task 2 has no 'text'"}


def test_a_lone_surrogate_is_kept_escaped_in_rejects(tmp_path: Path) -> None:
    (region, _) = import_fixture("lone-surrogate-region-id.json", tmp_path)["rejects"]
    assert json.loads(region["raw"])["id"] == "q1\ud800"  # the raw JSON gives the item back exactly
    assert region["message"] == "the result item holds a lone surrogate"


def pseudonym(value: str) -> str:
    return "ls-user-" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]


@pytest.mark.parametrize(("name", "annotator"), [
    ("completed-by-email.json", pseudonym("alice@example.org")),
    ("completed-by-name.json", pseudonym("Alice Example")),
    ("completed-by-object-with-email.json", pseudonym('{"email": "alice@example.org"}')),
    ("completed-by-object-with-id.json", "ls-user-2"),
    ("lone-surrogate-completed-by.json", pseudonym("alice\ud800")),
])
def test_annotators_are_pseudonymous_whatever_form_the_export_uses(name: str, annotator: str,
                                                                   tmp_path: Path) -> None:
    (annotation,) = import_fixture(name, tmp_path)["annotations"]
    assert annotation["annotator"] == annotator
    assert b"alice" not in (tmp_path / "annotations.parquet").read_bytes().lower()


@pytest.mark.parametrize(("name", "lead_time"), [("lead-time-2-63.json", float(2**63)),
                                                 ("lead-time-10-400.json", None)])
def test_lead_time_beyond_a_float_is_null(name: str, lead_time: float | None, tmp_path: Path) -> None:
    (annotation,) = import_fixture(name, tmp_path)["annotations"]
    assert annotation["lead_time"] == lead_time


def test_a_legacy_export_is_read_and_said_to_be_legacy(tmp_path: Path) -> None:
    summary = import_exports([FIXTURES / "legacy-completions.json"], tmp_path / "lib")
    assert (summary.legacy_completions, summary.annotations, summary.regions.written) == (1, 1, 7)
    result = cli_import(FIXTURES / "legacy-completions.json", tmp_path / "cli")
    assert result.exit_code == 0
    assert "legacy export: 1 task(s) had 'completions' (read as annotations)" in result.output


def test_a_relation_without_direction_goes_head_to_tail(tmp_path: Path) -> None:
    relations = import_fixture("relation-direction-null.json", tmp_path)["relations"]
    assert ("3:c1", "3:q1", "cued_by") in [(r["head_span_id"], r["tail_span_id"], r["type"]) for r in relations]


def test_an_annotation_id_in_a_second_task_is_rejected_and_the_first_kept(tmp_path: Path) -> None:
    tables = import_fixture("annotation-id-in-two-tasks.json", tmp_path)
    assert [(a["annotation_id"], a["task_id"]) for a in tables["annotations"]] == [(3, 2)]
    assert {r["message"] for r in tables["rejects"]} == {"annotation 3 is also in task 2"}


def test_versions_saved_at_the_same_instant_are_resolved_whatever_the_file_order(tmp_path: Path) -> None:
    tasks = json.loads((FIXTURES / "same-updated-at.json").read_text(encoding="utf-8"))
    reversed_export = tmp_path / "reversed.json"
    reversed_export.write_text(json.dumps(tasks[::-1], ensure_ascii=False), encoding="utf-8")
    entities = []
    for export, out in ((FIXTURES / "same-updated-at.json", tmp_path / "a"), (reversed_export, tmp_path / "b")):
        summary = import_exports([export], out)
        assert (summary.regions.written, summary.regions.superseded) == (7, 7)
        assert summary.duplicate_annotations + summary.replaced_annotations == [3]
        entities.append({s["region_id"]: s["entity"] for s in read_table(out, "spans").to_pylist()}["s1"])
    assert entities[0] == entities[1] and entities[0] in ("government officials", "S. Lavrov")  # the two versions
