"""The bad-input catalogue: one fixture file per case (tests/fixtures/bad-exports), exact outcome each.

The fixtures are copies of a real Label Studio export with one planted flaw each (make_fixtures.py).
A case ends either in a one-line error and exit code 1 with no output written, or in rows of
``rejects`` with the right reason codes while everything else is imported and the counts reconcile.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from claimset.cli import app
from claimset.errors import ClaimsetError
from claimset.ingest import import_exports
from claimset.seeds import read_seeds
from claimset.tables import read_table
from claimset.validate import validate_dataset

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "bad-exports"
ALL_ITEMS = [("attribute", r) for r in ("c1", "c2", "s1", "s2", "t2")] + [
    ("region", r) for r in ("c1", "c2", "q1", "q2", "s1", "s2", "t2")] + [("relation", None)] * 5

ERRORS = {
    "not-json.json": "not JSON (a CSV or other export?); expected a Label Studio JSON export",
    "empty.json": "empty file, expected a Label Studio JSON export",
    "csv-export.csv": "not JSON (a CSV or other export?); expected a Label Studio JSON export",
    "truncated.json": "truncated or invalid JSON",
    "json-min-export.json": "not a Label Studio full JSON export (JSON-MIN? export with the JSON format)",
}

# file -> (rejects as sorted (item, region_id, reason), spans, relations, extra summary checks)
REJECTS: dict[str, tuple[list[tuple[str, str | None, str]], int, int]] = {
    "task-without-text.json": (sorted((i, r, "task_without_text") for i, r in ALL_ITEMS), 0, 0),
    "cancelled-annotation.json": (sorted((i, r, "cancelled") for i, r in ALL_ITEMS), 0, 0),
    "unknown-label.json": ([("attribute", "s1", "attribute_region_rejected"), ("region", "s1", "unknown_label"),
                            ("relation", None, "relation_endpoint_rejected")], 6, 4),
    "other-project-label.json": ([("attribute", "c1", "attribute_region_rejected"),
                                  ("region", "c1", "unknown_from_name"),
                                  ("relation", None, "relation_endpoint_rejected"),
                                  ("relation", None, "relation_endpoint_rejected")], 6, 3),
    "unknown-to-name.json": ([("region", "q1", "unknown_to_name"), ("relation", None, "relation_endpoint_rejected")],
                             6, 4),
    "orphan-choices.json": ([("attribute", "ghost", "attribute_orphan")], 7, 5),
    "relation-missing-region.json": ([("relation", None, "relation_missing_region")], 7, 4),
    "duplicate-region-ids.json": ([("region", "c1", "duplicate_region_id")], 7, 5),
    "negative-offsets.json": ([("region", "q1", "offsets_negative"), ("relation", None, "relation_endpoint_rejected")],
                              6, 4),
    "reversed-offsets.json": ([("region", "q1", "offsets_reversed"), ("relation", None, "relation_endpoint_rejected")],
                              6, 4),
    "out-of-range-offsets.json": ([("region", "q1", "offsets_out_of_range"),
                                   ("relation", None, "relation_endpoint_rejected")], 6, 4),
    "whitespace-span.json": ([("region", "ws1", "whitespace_span")], 7, 5),
    "not-a-task.json": ([("task", None, "not_a_task")], 7, 5),
    "empty-result.json": ([], 0, 0),
    "same-task-twice.json": ([], 7, 5),
    "changed-document.json": ([], 11, 8),
}


def test_every_fixture_has_an_expected_outcome() -> None:
    files = {p.name for p in FIXTURES.iterdir() if p.suffix in {".json", ".csv"}}
    assert files == set(ERRORS) | set(REJECTS)


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_unreadable_export_is_one_line_exit_1_and_writes_nothing(name: str, tmp_path: Path) -> None:
    path = FIXTURES / name
    with pytest.raises(ClaimsetError, match=f"^{re.escape(str(path))}: .*{re.escape(ERRORS[name])}"):
        import_exports([path], tmp_path / "lib")
    result = CliRunner().invoke(app, ["import", str(path), "--out", str(tmp_path / "cli")])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ") and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []  # no dataset folder, staging folder or lock left behind


@pytest.mark.parametrize("name", sorted(REJECTS))
def test_flawed_items_land_in_rejects_with_their_reason(name: str, tmp_path: Path) -> None:
    seeds = read_seeds(ROOT / "seeds")
    summary = import_exports([FIXTURES / name], tmp_path, seeds=seeds)
    assert summary.reconciles, summary.to_dict()
    rejects, spans, relations = REJECTS[name]
    got = sorted((r["item"], r["region_id"], r["reason"]) for r in read_table(tmp_path, "rejects").to_pylist())
    assert got == sorted(rejects, key=lambda row: (row[0], row[1] or "", row[2]))
    assert (summary.regions.written, summary.relations.written) == (spans, relations)
    assert read_table(tmp_path, "spans").num_rows == spans
    report = validate_dataset(tmp_path, seeds)
    if name == "orphan-choices.json":  # the claim lost its quote type: the gold check says so
        assert [(f.key, f.check) for f in report.failures] == [("3:c1", "attribute_missing")]
    else:
        assert report.valid, report.failures


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
