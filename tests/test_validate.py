"""Validation: a valid dataset passes; each planted flaw is caught by name, exactly."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from claimset.ingest import import_exports
from claimset.seeds import Document, read_seeds
from claimset.tables import TABLES, table_path
from claimset.validate import CROSS_CHECKS, Failure, validate_dataset
from lsjson import annotation, claim_with_speaker, region, relation, task

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def seed() -> Document:
    return read_seeds(ROOT / "seeds")[0]


@pytest.fixture(scope="module")
def valid_dir(tmp_path_factory: pytest.TempPathFactory, seed: Document) -> Path:
    text = seed.text
    result = claim_with_speaker(text, "the West particularly the USA of trying to undermine", "Sergey Lavrov")
    cue = text.index("accused")
    result += [region("q", text, cue, cue + 7, "Cue"), relation("c", "q", "cued_by")]
    directory = tmp_path_factory.mktemp("valid")
    export = directory / "export.json"
    export.write_text(json.dumps([task(1, text, [annotation(11, result)], doc_id=seed.doc_id)]), encoding="utf-8")
    summary = import_exports([export], directory / "data", seeds=[seed])
    assert summary.reconciles and summary.regions.written == 3
    return directory / "data"


def test_valid_dataset_passes(valid_dir: Path, seed: Document) -> None:
    report = validate_dataset(valid_dir, [seed])
    assert report.valid, report.failures
    assert report.rows == {"documents": 1, "annotations": 1, "spans": 3, "relations": 2, "rejects": 0}


def planted(valid_dir: Path, tmp_path: Path, table: str, edit: Callable[[pd.DataFrame], pd.DataFrame | None]) -> Path:
    target = tmp_path / "flawed"
    shutil.copytree(valid_dir, target)
    frame = pq.read_table(table_path(target, table)).to_pandas()
    replaced = edit(frame)
    if replaced is not None:
        frame = replaced
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), table_path(target, table))
    return target


def set_cell(column: str, row: int, value: object) -> Callable[[pd.DataFrame], None]:
    def edit(frame: pd.DataFrame) -> None:
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
    return edit


FLAWS = [
    ("spans", set_cell("label", 1, "Person"), [("spans", "11:s", "label", "isin"),
                                               ("spans", "11:s", "entity", "attribute_not_applicable"),
                                               ("relations", "11:c>s:said_by", "type", "relation_wrong_labels")]),
    ("spans", set_cell("quote_type", 0, "paraphrase"), [("spans", "11:c", "quote_type", "isin")]),
    ("spans", set_cell("start", 1, -3), [("spans", "11:s", "start", "greater_than_or_equal_to"),
                                          ("spans", "11:s", "end", "span_out_of_range")]),
    ("spans", set_cell("end", 1, 9999), [("spans", "11:s", "end", "span_out_of_range")]),
    ("spans", set_cell("text", 1, "Sergei Lavrov"), [("spans", "11:s", "text", "span_text_mismatch")]),
    ("spans", set_cell("prefix", 1, "nope"), [("spans", "11:s", "prefix", "span_quote_mismatch")]),
    ("spans", set_cell("entity", 1, None), [("spans", "11:s", "entity", "attribute_missing")]),
    ("spans", set_cell("entity", 2, "accusation"), [("spans", "11:q", "entity", "attribute_not_applicable")]),
    ("spans", set_cell("offset_repair", 0, "guessed"), [("spans", "11:c", "offset_repair", "known_repair_codes")]),
    ("spans", set_cell("span_id", 1, "11:c"),
     [("spans", "11:c", "span_id", "field_uniqueness"), ("spans", "11:c", "span_id", "field_uniqueness"),
      ("relations", "11:c>s:said_by", "head_span_id", "relation_endpoint_missing")]),
    ("spans", set_cell("annotation_id", 1, 99),
     [("spans", "11:s", "annotation_id", "span_annotation_missing"),
      ("relations", "11:c>s:said_by", "annotation_id", "relation_cross_annotation")]),
    ("spans", lambda f: f.drop(columns=["prefix"]), [("spans", None, None, "column_in_dataframe")]),
    ("spans", lambda f: f.assign(extra=1), [("spans", None, None, "column_in_schema")]),
    ("relations", set_cell("type", 0, "quotes"), [("relations", "11:c>s:said_by", "type", "isin"),
                                                  ("relations", "11:c>s:said_by", "type", "relation_wrong_labels")]),
    ("relations", set_cell("tail_span_id", 0, "11:zz"),
     [("relations", "11:c>s:said_by", "head_span_id", "relation_endpoint_missing")]),
    ("relations", set_cell("type", 0, "cued_by"),
     [("relations", "11:c>s:said_by", "type", "relation_wrong_labels"),
      ("relations", "11:c", "type", "relation_max_per_head")]),
    ("annotations", set_cell("annotator", 0, "ann@example.org"),
     [("annotations", "11", "annotator", "str_matches")]),
    ("annotations", set_cell("status", 0, "cancelled"),
     [("spans", key, "annotation_id", "span_annotation_missing") for key in ("11:c", "11:s", "11:q")]),
    ("annotations", set_cell("doc_id", 0, "other"),
     [("annotations", "11", "doc_id", "annotation_doc_missing")]
     + [("spans", key, "doc_id", "span_doc_mismatch") for key in ("11:c", "11:s", "11:q")]),
    ("documents", set_cell("text_sha256", 0, "0" * 64),
     [("documents", "000_666aa4b0ee0165a8", "text_sha256", "doc_hash_mismatch"),
      ("documents", "000_666aa4b0ee0165a8", "text", "doc_seed_mismatch")]),
    ("documents", set_cell("text_sha256", 0, "not-a-hash"),
     [("documents", "000_666aa4b0ee0165a8", "text_sha256", "str_matches"),
      ("documents", "000_666aa4b0ee0165a8", "text_sha256", "doc_hash_mismatch"),
      ("documents", "000_666aa4b0ee0165a8", "text", "doc_seed_mismatch")]),
]


@pytest.mark.parametrize(("table", "edit", "expected"), FLAWS,
                         ids=[f"{t}-{e[-1][-1]}-{i}" for i, (t, _, e) in enumerate(FLAWS)])
def test_planted_flaw_is_caught_by_name(valid_dir: Path, seed: Document, tmp_path: Path, table: str,
                                        edit: Callable[[pd.DataFrame], None],
                                        expected: list[tuple[str, str | None, str | None, str]]) -> None:
    report = validate_dataset(planted(valid_dir, tmp_path, table, edit), [seed])
    assert [(f.table, f.key, f.column, f.check) for f in report.failures] == expected
    assert not report.valid


def test_missing_and_unreadable_tables(valid_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "broken"
    shutil.copytree(valid_dir, target)
    table_path(target, "relations").unlink()
    table_path(target, "rejects").write_bytes(b"not parquet")
    report = validate_dataset(target)
    assert [(f.table, f.check) for f in report.failures] == [("relations", "table_missing"),
                                                             ("rejects", "table_unreadable")]


def test_every_cross_check_code_is_documented() -> None:
    codes = {check for _, _, expected in FLAWS for *_, check in expected}
    pandera_codes = {"isin", "greater_than_or_equal_to", "known_repair_codes", "field_uniqueness",
                     "column_in_dataframe", "column_in_schema", "str_matches"}
    assert codes - pandera_codes <= set(CROSS_CHECKS)
    assert set(TABLES) == {"documents", "annotations", "spans", "relations", "rejects"}


def test_report_serialises(valid_dir: Path) -> None:
    report = validate_dataset(valid_dir)
    report.failures.append(Failure("spans", "1:a", "text", "span_text_mismatch", "m"))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["valid"] is False and data["failure_counts"] == {"span_text_mismatch": 1}
