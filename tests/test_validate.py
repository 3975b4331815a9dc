"""Validation: a valid dataset passes; each planted flaw is caught by name, exactly."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import claimset.validate as validate
from claimset.dataset import Dataset
from claimset.errors import ClaimsetError
from claimset.ingest import import_exports
from claimset.scheme import default_scheme
from claimset.seeds import Document, read_seeds
from claimset.tables import table_path, write_table
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
    assert report.rows == {"documents": 1, "annotations": 1, "spans": 3, "relations": 2, "rejects": 0, "claims": 1}


Edit = Callable[[pd.DataFrame], pd.DataFrame | None]


def tampered(valid_dir: Path, tmp_path: Path, edits: dict[str, Edit]) -> Path:
    """A copy of the valid dataset with each table in ``edits`` edited in pandas and written back as pandas does."""
    target = tmp_path / "flawed"
    shutil.copytree(valid_dir, target)
    for table, edit in edits.items():
        frame = pq.read_table(table_path(target, table)).to_pandas()
        replaced = edit(frame)
        if replaced is not None:
            frame = replaced
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), table_path(target, table))
    with contextlib.suppress(Exception):  # claims follow the edited tables where they can be derived at all
        write_table(Dataset(target, default_scheme()).claims, table_path(target, "claims"))
    return target


def planted(valid_dir: Path, tmp_path: Path, table: str, edit: Edit) -> Path:
    return tampered(valid_dir, tmp_path, {table: edit})


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
      ("spans", "11:c", "span_id", "span_id_mismatch"),
      ("relations", "11:c>s:said_by", "head_span_id", "relation_endpoint_missing")]),
    ("spans", set_cell("annotation_id", 1, 99),
     [("spans", "11:s", "annotation_id", "span_annotation_missing"), ("spans", "11:s", "span_id", "span_id_mismatch"),
      ("relations", "11:c>s:said_by", "annotation_id", "relation_cross_annotation")]),
    ("spans", lambda f: f.drop(columns=["prefix"]), [("spans", None, None, "column_in_dataframe")]),
    ("spans", lambda f: f.assign(extra=1), [("spans", None, None, "column_in_schema")]),
    ("relations", set_cell("type", 0, "quotes"),
     [("relations", "11:c>s:said_by", "type", "isin"),
      ("relations", "11:c>s:said_by", "type", "relation_wrong_labels"),
      ("relations", "11:c>s:said_by", "relation_id", "relation_id_mismatch")]),
    ("relations", set_cell("tail_span_id", 0, "11:zz"),
     [("relations", "11:c>s:said_by", "head_span_id", "relation_endpoint_missing"),
      ("relations", "11:c>s:said_by", "relation_id", "relation_id_mismatch")]),
    ("relations", set_cell("type", 0, "cued_by"),
     [("relations", "11:c>s:said_by", "type", "relation_wrong_labels"),
      ("relations", "11:c", "type", "relation_max_per_head"),
      ("relations", "11:c>s:said_by", "relation_id", "relation_id_mismatch")]),
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


def with_target(spans: pd.DataFrame) -> pd.DataFrame:
    """The spans plus a Target "t" on the Speaker's words, for relations about it."""
    target = spans.iloc[[1]].assign(span_id="11:t", region_id="t", label="Target")
    return pd.concat([spans, target], ignore_index=True)


def about_t(*relation_ids: str) -> Edit:
    """Relations plus one ``about`` relation from the claim to the Target "t" under each id given."""
    def edit(relations: pd.DataFrame) -> pd.DataFrame:
        about = [relations.iloc[0].to_dict() | {"relation_id": rid, "tail_span_id": "11:t", "type": "about"}
                 for rid in relation_ids]
        return pd.concat([relations, pd.DataFrame(about)], ignore_index=True)
    return edit


def start_off_by_half(spans: pd.DataFrame) -> pd.DataFrame:
    starts = spans["start"].astype("float64")
    starts[1] += 0.5  # 65.5: a cast to int64 would silently read 65
    return spans.assign(start=starts)


# Tampered datasets, each with exactly what catches it: a wrong stored type (a cast would hide it), a document or
# id that disagrees with the rest of its row or its spans, a duplicated relation.
TAMPERED = [
    pytest.param({"spans": start_off_by_half}, [("spans", None, "start", "column_type_mismatch")],
                 id="spans-start-float64"),
    pytest.param({"spans": lambda f: f.assign(start=f["start"].astype(str))},
                 [("spans", None, "start", "column_type_mismatch")], id="spans-start-string"),
    pytest.param({"annotations": lambda f: f.assign(ground_truth="no")},
                 [("annotations", None, "ground_truth", "column_type_mismatch")], id="ground_truth-string-no"),
    pytest.param({"spans": lambda f: f.assign(region_id=None)},
                 [("spans", None, "region_id", "column_type_mismatch"), ("spans", "11:c", "region_id", "not_nullable"),
                  ("spans", "11:s", "region_id", "not_nullable"), ("spans", "11:q", "region_id", "not_nullable")],
                 id="spans-region_id-all-null"),
    pytest.param({"relations": set_cell("doc_id", 0, "other")},
                 [("relations", "11:c>s:said_by", "doc_id", "relation_doc_mismatch")], id="relation-doc-mismatch"),
    pytest.param({"spans": set_cell("doc_id", 1, "nowhere")},
                 [("spans", "11:s", "doc_id", "span_doc_mismatch"), ("spans", "11:s", "doc_id", "span_doc_missing"),
                  ("relations", "11:c>s:said_by", "doc_id", "relation_doc_mismatch")], id="span-doc-missing"),
    pytest.param({"spans": with_target, "relations": about_t("11:c>t:about", "11:c>t:about:copy")},
                 [("relations", "11:c>t:about:copy", "relation_id", "relation_id_mismatch"),
                  ("relations", "11:c>t:about:copy", None, "duplicate_relation")], id="duplicate-about-relation"),
    pytest.param({"spans": set_cell("region_id", 1, "x")}, [("spans", "11:s", "span_id", "span_id_mismatch")],
                 id="span-region-id-inconsistent"),
    pytest.param({"relations": set_cell("relation_id", 1, "11:c>q:said_by")},
                 [("relations", "11:c>q:said_by", "relation_id", "relation_id_mismatch")],
                 id="relation-id-inconsistent"),
    pytest.param({"relations": set_cell("annotation_id", 0, 2**62)},  # compared as a float, as pandas does
                 [("relations", "11:c>s:said_by", "annotation_id", "relation_cross_annotation"),
                  ("relations", "11:c>s:said_by", "relation_id", "relation_id_mismatch")],
                 id="relation-annotation-id-past-2-to-the-53"),
]


@pytest.mark.parametrize(("edits", "expected"), TAMPERED)
def test_tampered_dataset_is_caught_by_name(valid_dir: Path, seed: Document, tmp_path: Path, edits: dict[str, Edit],
                                            expected: list[tuple[str, str | None, str | None, str]]) -> None:
    report = validate_dataset(tampered(valid_dir, tmp_path, edits), [seed])
    assert [(f.table, f.key, f.column, f.check) for f in report.failures] == expected


def test_valid_target_and_about_relation_pass(valid_dir: Path, seed: Document, tmp_path: Path) -> None:
    """The fixture of the duplicate case is valid without the duplicate: only the copy is caught."""
    edits = {"spans": with_target, "relations": about_t("11:c>t:about")}
    report = validate_dataset(tampered(valid_dir, tmp_path, edits), [seed])
    assert report.valid, report.failures


def test_harmless_storage_types_pass(valid_dir: Path, seed: Document, tmp_path: Path) -> None:
    """large_string for string, and type null for a nullable column of nulls, read as the declared values."""
    target = tmp_path / "retyped"
    shutil.copytree(valid_dir, target)
    spans = pq.read_table(table_path(target, "spans"))
    schema = pa.schema([pa.field(f.name, pa.large_string() if f.type == pa.string() else f.type) for f in spans.schema])
    retyped = spans.cast(schema).set_column(spans.schema.get_field_index("offset_repair"), "offset_repair",
                                            pa.nulls(spans.num_rows))
    pq.write_table(retyped, table_path(target, "spans"))
    assert pq.read_schema(table_path(target, "spans")).field("offset_repair").type == pa.null()
    report = validate_dataset(target, [seed])
    assert report.valid, report.failures


def edited_claims(edit: Callable[[list[dict[str, object]]], list[dict[str, object]]]) -> Callable[[Path], None]:
    def plant(folder: Path) -> None:
        claims = pq.read_table(table_path(folder, "claims"))
        rows = edit(claims.to_pylist())
        pq.write_table(pa.Table.from_pylist(rows, schema=claims.schema), table_path(folder, "claims"))
    return plant


CLAIMS_FLAWS = [
    pytest.param(edited_claims(lambda rows: [{**rows[0], "speaker_entity": "Somebody Else"}]),
                 [("claims", "11:c", "speaker_entity", "claims_stale")], id="claims-row-edited"),
    pytest.param(edited_claims(lambda rows: []), [("claims", None, None, "claims_stale")], id="claims-row-deleted"),
    pytest.param(edited_claims(lambda rows: rows + rows), [("claims", None, None, "claims_stale")],
                 id="claims-row-duplicated"),
    pytest.param(lambda folder: (folder / "croissant.json").write_text(json.dumps(
        {"distribution": [{"contentUrl": "documents.parquet", "sha256": "0" * 64}]}), encoding="utf-8"),
                 [("croissant", "documents.parquet", None, "croissant_stale")], id="croissant-hash-differs"),
    pytest.param(lambda folder: table_path(folder, "claims").unlink(), [("claims", None, None, "table_missing")],
                 id="claims-missing"),
    pytest.param(lambda folder: table_path(folder, "claims").write_bytes(b"PAR1garbagePAR1"),
                 [("claims", None, None, "table_unreadable")], id="claims-garbage"),
    pytest.param(lambda folder: pq.write_table(pq.read_table(table_path(folder, "claims")).drop_columns(["cue_text"]),
                                               table_path(folder, "claims")),
                 [("claims", None, None, "column_type_mismatch")], id="claims-column-dropped"),
]


@pytest.mark.parametrize(("plant", "expected"), CLAIMS_FLAWS)
def test_claims_parquet_must_be_what_the_tables_give(valid_dir: Path, seed: Document, tmp_path: Path,
                                                     plant: Callable[[Path], None],
                                                     expected: list[tuple[str, str | None, str | None, str]]) -> None:
    target = tmp_path / "flawed"
    shutil.copytree(valid_dir, target)
    plant(target)
    report = validate_dataset(target, [seed])
    assert [(f.table, f.key, f.column, f.check) for f in report.failures] == expected


MISSING_AND_UNREADABLE = [("relations", "table_missing"), ("rejects", "table_unreadable")]


def test_missing_and_unreadable_tables(valid_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "broken"
    shutil.copytree(valid_dir, target)
    table_path(target, "relations").unlink()
    table_path(target, "rejects").write_bytes(b"not parquet")
    report = validate_dataset(target)
    assert [(f.table, f.check) for f in report.failures] == MISSING_AND_UNREADABLE


@pytest.mark.parametrize("table", ["spans", "claims"])
@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_table_that_is_not_a_regular_file_is_unreadable(table: str, kind: str, valid_dir: Path,
                                                          tmp_path: Path) -> None:
    """A FIFO would make the reader wait for a writer for ever (adversarial pass); a folder's message named
    the /proc path validation reads through."""
    target = tmp_path / "odd"
    shutil.copytree(valid_dir, target)
    path = table_path(target, table)
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    report = validate_dataset(target)
    assert (table, None, None, "table_unreadable") in [(f.table, f.key, f.column, f.check) for f in report.failures]
    assert f"{table}.parquet: not a regular file" in [f.message for f in report.failures]


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ClaimsetError, match=r"nowhere: dataset directory not found"):
        validate_dataset(tmp_path / "nowhere")


def test_failures_are_capped_per_code(valid_dir: Path, seed: Document, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "MAX_FAILURES_PER_CHECK", 2)
    report = validate_dataset(planted(valid_dir, tmp_path, "annotations", set_cell("status", 0, "cancelled")), [seed])
    assert [(f.key, f.check) for f in report.failures] == [("11:c", "span_annotation_missing"),
                                                           ("11:s", "span_annotation_missing")]


PANDERA_CODES = {"isin", "greater_than_or_equal_to", "known_repair_codes", "field_uniqueness", "column_in_dataframe",
                 "column_in_schema", "str_matches", "not_nullable"}


def expected_codes() -> set[str]:
    """Every code some fixture of this module asserts it produces."""
    planted_codes = {check for _, _, expected in FLAWS for *_, check in expected}
    tampered_codes = {check for case in TAMPERED for *_, check in case.values[1]}
    claims_codes = {check for case in CLAIMS_FLAWS for *_, check in case.values[1]}
    return planted_codes | tampered_codes | claims_codes | {check for _, check in MISSING_AND_UNREADABLE}


def test_every_cross_check_code_is_produced_by_a_fixture() -> None:
    assert sorted(set(CROSS_CHECKS) - expected_codes()) == []
    assert sorted(expected_codes() - set(CROSS_CHECKS) - PANDERA_CODES) == []  # no typo in an expectation


def test_every_cross_check_code_is_documented() -> None:
    docs = (ROOT / "docs" / "scaling.md").read_text(encoding="utf-8")
    assert [code for code in CROSS_CHECKS if f"`{code}`" not in docs] == []


def test_report_serialises(valid_dir: Path) -> None:
    report = validate_dataset(valid_dir)
    report.failures.append(Failure("spans", "1:a", "text", "span_text_mismatch", "m"))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["valid"] is False and data["failure_counts"] == {"span_text_mismatch": 1}
