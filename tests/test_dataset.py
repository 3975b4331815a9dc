"""claimset.load and self-describing dataset folders: the scheme record, its checks, and the one reader."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import claimset
from claimset.cli import app
from claimset.dataset import MANIFEST, SCHEME_FILE, NoRecordWarning
from claimset.errors import ClaimsetError

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT / "annotations" / "gold"
runner = CliRunner()


@pytest.fixture
def gold(tmp_path: Path) -> Path:
    copy = tmp_path / "gold"
    shutil.copytree(GOLD, copy)
    return copy


def scheme_file(tmp_path: Path, **changes: object) -> Path:
    data = yaml.safe_load((ROOT / "schema" / "scheme.yaml").read_text(encoding="utf-8"))
    data.update(changes)
    path = tmp_path / "other-scheme.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_load_gives_arrow_tables_with_pandas_and_polars_views(gold: Path) -> None:
    dataset = claimset.load(gold)
    spans = dataset.table("spans")
    assert isinstance(spans, pa.Table) and spans.num_rows == 51
    assert isinstance(dataset.to_pandas("spans"), pd.DataFrame)
    assert isinstance(dataset.to_polars("spans"), pl.DataFrame)
    assert dataset.to_polars("documents").height == 1
    assert dataset.scheme.name == "claimset" and dataset.scheme.version == 1
    assert dataset.manifest is not None and dataset.manifest.claimset_version == claimset.__version__


def test_derived_claims_equal_the_committed_claims_table(gold: Path) -> None:
    derived = claimset.load(gold, validate=False).claims  # unvalidated: derived from the tables, not read
    assert derived.num_rows == 13
    assert derived.equals(pq.read_table(gold / "claims.parquet"))
    assert claimset.load(gold).claims.equals(derived)  # validated: claims.parquet, proven equal


def test_the_speaker_rule_ignores_relation_order(gold: Path) -> None:
    """Two said_by relations of one claim: the earlier speaker mention wins whatever the row order."""
    relations = pq.read_table(gold / "relations.parquet").to_pylist()
    spans = pq.read_table(gold / "spans.parquet").to_pylist()
    said = next(r for r in relations if r["type"] == "said_by")
    speakers = sorted((s for s in spans if s["label"] == "Speaker" and s["span_id"] != said["tail_span_id"]),
                      key=lambda s: s["start"])
    extra = {**said, "relation_id": said["relation_id"] + "-2", "tail_span_id": speakers[0]["span_id"]}
    claim = said["head_span_id"]
    expected = min([speakers[0], next(s for s in spans if s["span_id"] == said["tail_span_id"])],
                   key=lambda s: s["start"])["span_id"]
    for order in ([said, extra], [extra, said]):
        rows = [r for r in relations if r is not said] + order
        pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(gold / "relations.parquet")),
                       gold / "relations.parquet")
        claims = claimset.load(gold, validate=False).claims.to_pylist()  # two said_by: invalid on purpose
        assert next(c for c in claims if c["claim_id"] == claim)["speaker_span_id"] == expected


def test_a_folder_records_its_scheme_and_version(gold: Path) -> None:
    manifest = json.loads((gold / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["format"] == "claimset-dataset"
    assert manifest["claimset_version"] == claimset.__version__
    assert manifest["scheme"]["name"] == "claimset" and manifest["scheme"]["version"] == 1
    assert (gold / SCHEME_FILE).read_bytes() == (ROOT / "schema" / "scheme.yaml").read_bytes()


def test_a_matching_scheme_file_is_accepted(gold: Path) -> None:
    assert claimset.load(gold, ROOT / "schema" / "scheme.yaml").scheme.version == 1


def test_a_different_scheme_file_is_refused_naming_both_versions(gold: Path, tmp_path: Path) -> None:
    other = scheme_file(tmp_path, version=2)
    with pytest.raises(ClaimsetError, match=r"version 1 .* but .* version 2") as info:
        claimset.load(gold, other)
    assert "\n" not in str(info.value)
    for command in (["validate", str(gold)], ["stats", str(gold)], ["agree", str(gold)],
                    ["evaluate", "--gold", str(gold), "--pred", str(tmp_path / "p.jsonl")],
                    ["adjudicate", str(gold), "--out", str(tmp_path / "adj")]):
        result = runner.invoke(app, [*command, "--scheme", str(other)])
        assert result.exit_code == 1, command
        assert result.output.count("\n") == 1 and "version 1" in result.output and "version 2" in result.output


def test_a_folder_without_record_is_read_under_the_default_scheme_with_a_warning(gold: Path) -> None:
    (gold / MANIFEST).unlink()
    (gold / SCHEME_FILE).unlink()
    with pytest.warns(NoRecordWarning, match="no claimset.json"):
        assert claimset.load(gold).scheme.version == 1
    result = runner.invoke(app, ["stats", str(gold), "--format", "json"])
    assert result.exit_code == 0
    assert "Warning: " in result.output and "no claimset.json" in result.output


def test_validation_uses_the_dataset_scheme(gold: Path) -> None:
    """A dataset made under a scheme with a label the default lacks validates under its own scheme."""
    data = yaml.safe_load((gold / SCHEME_FILE).read_text(encoding="utf-8"))
    data["labels"]["spans"][3]["value"] = "Topic"
    for rel in data["relations"]:
        rel["tail"] = "Topic" if rel["tail"] == "Target" else rel["tail"]
    for attr in data["attributes"]:
        attr["label"] = "Topic" if attr["label"] == "Target" else attr["label"]
    from claimset.dataset import write_record
    from claimset.scheme import scheme_from_text

    write_record(gold, scheme_from_text(yaml.safe_dump(data), "edited"))
    spans = pq.read_table(gold / "spans.parquet")
    labels = [("Topic" if label == "Target" else label) for label in spans.column("label").to_pylist()]
    pq.write_table(spans.set_column(spans.schema.get_field_index("label"), "label", pa.array(labels)),
                   gold / "spans.parquet")
    (gold / "claims.parquet").unlink()
    pq.write_table(claimset.load(gold, validate=False).claims, gold / "claims.parquet")
    (gold / "croissant.json").unlink()  # it describes the files as they were
    assert runner.invoke(app, ["validate", str(gold)]).exit_code == 0
    result = runner.invoke(app, ["validate", str(gold), "--scheme", str(ROOT / "schema" / "scheme.yaml")])
    assert result.exit_code == 1 and "but" in result.output


def test_a_scheme_file_edited_by_hand_is_caught(gold: Path) -> None:
    (gold / SCHEME_FILE).write_text((gold / SCHEME_FILE).read_text(encoding="utf-8").replace("version: 1",
                                                                                            "version: 3"))
    result = runner.invoke(app, ["validate", str(gold)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "version 3; the dataset was edited by hand" in result.output
    text = (gold / SCHEME_FILE).read_text(encoding="utf-8").replace("version: 3", "version: 1")
    (gold / SCHEME_FILE).write_text(text.replace("hotkey: \"1\"", "hotkey: \"9\""), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(gold)])
    assert result.exit_code == 1 and "does not match claimset.json" in result.output


@pytest.mark.parametrize(("change", "message"), [
    ({"version": 2}, "records scheme 'claimset' version 2, but scheme.yaml is 'claimset' version 1"),
    ({"file": "/etc/passwd"}, "the scheme record must name 'scheme.yaml', not '/etc/passwd'"),
])
def test_a_record_that_contradicts_its_scheme_file_is_refused(gold: Path, change: dict[str, object],
                                                             message: str) -> None:
    manifest = json.loads((gold / MANIFEST).read_text(encoding="utf-8"))
    manifest["scheme"].update(change)
    (gold / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(gold)])
    assert result.exit_code == 1 and result.output.count("\n") == 1 and message in result.output


def test_load_reads_one_snapshot_even_if_the_folder_is_replaced(gold: Path, tmp_path: Path) -> None:
    """Tables read after another import swapped the folder still come from the dataset that was loaded."""
    from claimset.ingest import import_exports
    from lsjson import annotation, claim_with_speaker, task

    dataset = claimset.load(gold)
    spans_before = dataset.table("spans")
    text = "Lavrov accused the West of meddling."
    export = tmp_path / "other.json"
    export.write_text(json.dumps([task(1, text, [annotation(77, claim_with_speaker(text, "the West", "Lavrov"))])]),
                      encoding="utf-8")
    import_exports([export], gold)
    assert claimset.load(gold).table("annotations").column("annotation_id").to_pylist() == [77]
    assert dataset.table("annotations").num_rows == 1 and dataset.table("annotations")["annotation_id"][0] != 77
    assert dataset.table("rejects").num_rows == 0 and spans_before.num_rows == 51
    assert dataset.claims.num_rows == 13


def test_unknown_table_names_and_a_missing_polars_are_one_line(gold: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    dataset = claimset.load(gold)
    with pytest.raises(ClaimsetError, match=r"'\.\./other/claims' is not a table of a claimset dataset"):
        dataset.to_pandas("../other/claims")
    monkeypatch.setitem(sys.modules, "polars", None)
    with pytest.raises(ClaimsetError, match=r"pip install 'claimset\[polars\]'"):
        dataset.to_polars("spans")


@pytest.mark.parametrize("content", ["{not json", '{"format": "other", "scheme": {}}', "[]"])
def test_a_broken_record_is_one_line(gold: Path, content: str) -> None:
    (gold / MANIFEST).write_text(content, encoding="utf-8")
    result = runner.invoke(app, ["stats", str(gold)])
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "claimset.json" in result.output


@pytest.mark.parametrize("table", ["documents", "spans", "relations", "annotations"])
def test_stats_on_a_garbage_or_missing_table_is_one_line(gold: Path, table: str) -> None:
    (gold / f"{table}.parquet").write_bytes(b"not parquet at all")
    result = runner.invoke(app, ["stats", str(gold)])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert f"{table}.parquet" in result.output and "Traceback" not in result.output
    (gold / f"{table}.parquet").unlink()
    result = runner.invoke(app, ["stats", str(gold)])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output


def test_stats_on_a_table_missing_a_column_or_with_wrong_types_is_one_line(gold: Path) -> None:
    spans = pq.read_table(gold / "spans.parquet")
    pq.write_table(spans.drop_columns(["entity"]), gold / "spans.parquet")
    result = runner.invoke(app, ["stats", str(gold)])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "not a valid dataset" in result.output and "spans: column_in_dataframe" in result.output
    as_text = spans.set_column(spans.schema.get_field_index("start"), "start",
                               pa.array([f"x{v}" for v in spans.column("start").to_pylist()]))
    pq.write_table(as_text, gold / "spans.parquet")
    result = runner.invoke(app, ["stats", str(gold)])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "not a valid dataset" in result.output and "the first spans" in result.output


@pytest.mark.parametrize("command", ["stats", "agree", "adjudicate", "evaluate"])
def test_commands_refuse_an_invalid_dataset_in_one_line(gold: Path, tmp_path: Path, command: str) -> None:
    """A null span label (and a spans table emptied under its relations) made stats and adjudicate crash."""
    spans = pq.read_table(gold / "spans.parquet")
    labels = spans.column("label").to_pylist()
    pq.write_table(spans.set_column(spans.schema.get_field_index("label"), "label", pa.array([None, *labels[1:]],
                                                                                             pa.string())),
                   gold / "spans.parquet")
    args = {"stats": [str(gold)], "agree": [str(gold)], "adjudicate": [str(gold), "--out", str(tmp_path / "adj")],
            "evaluate": ["--gold", str(gold), "--pred", str(tmp_path / "p.jsonl")]}[command]
    result = runner.invoke(app, [command, *args])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "not a valid dataset" in result.output and "not_nullable" in result.output
    pq.write_table(spans.slice(0, 0), gold / "spans.parquet")
    result = runner.invoke(app, [command, *args])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "relation_endpoint_missing" in result.output


def reference_claims(tables: dict[str, list[dict[str, object]]], stances: tuple[str, ...]) -> list[dict[str, object]]:
    """The claims rule written out row by row, independently of claimset.claims."""
    annotator = {a["annotation_id"]: a["annotator"] for a in tables["annotations"] if a["status"] == "submitted"}
    published = {d["doc_id"]: d["published"] for d in tables["documents"]}
    spans = {s["span_id"]: s for s in tables["spans"] if s["annotation_id"] in annotator}

    def mention(span: dict[str, object] | None) -> dict[str, object]:
        keys = ("span_id", "start", "end", "text", "entity")
        return {key: (span[key] if span else None) for key in keys}

    rows = []
    for claim in sorted((s for s in spans.values() if s["label"] == "Claim"),
                        key=lambda s: (s["doc_id"], s["start"], s["end"], s["span_id"])):
        def tails(kind: str, claim: dict[str, object] = claim) -> list[dict[str, object]]:
            return [spans[r["tail_span_id"]] for r in tables["relations"]  # type: ignore[index]
                    if r["head_span_id"] == claim["span_id"] and r["type"] == kind and r["tail_span_id"] in spans]

        def first(kind: str) -> dict[str, object] | None:
            found = tails(kind)
            return min(found, key=lambda span: (span["start"], span["end"], span["span_id"])) if found else None

        speaker, cue = mention(first("said_by")), mention(first("cued_by"))
        targets = sorted(({**mention(t), "stance": kind} for kind in stances for t in tails(kind)),
                         key=lambda t: (t["start"], t["end"], t["stance"], t["span_id"]))
        rows.append({
            "claim_id": claim["span_id"], "doc_id": claim["doc_id"], "published": published.get(claim["doc_id"]),
            "annotation_id": claim["annotation_id"], "annotator": annotator[claim["annotation_id"]],
            "start": claim["start"], "end": claim["end"], "text": claim["text"], "quote_type": claim["quote_type"],
            **{f"speaker_{k}": v for k, v in speaker.items()},
            **{f"cue_{k}": v for k, v in cue.items() if k != "entity"}, "targets": targets,
        })
    return rows


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_columnar_claims_equal_the_rule_written_out(data: st.DataObject) -> None:
    from claimset.claims import derive_claims
    from claimset.scheme import default_scheme
    from claimset.tables import TABLES

    n_spans = data.draw(st.integers(0, 12))
    labels = ["Claim", "Speaker", "Cue", "Target"]
    spans = [{"span_id": f"{a}:r{i}", "annotation_id": a, "doc_id": f"d{a % 2}", "region_id": f"r{i}",
              "label": data.draw(st.sampled_from(labels)), "start": (s := data.draw(st.integers(0, 5))),
              "end": s + data.draw(st.integers(1, 3)), "text": "x",
              "quote_type": data.draw(st.sampled_from([None, "direct"])),
              "entity": data.draw(st.sampled_from([None, "E"])), "prefix": "", "suffix": "", "offset_repair": None}
             for i in range(n_spans) for a in [data.draw(st.integers(1, 3))]]
    kinds = ["said_by", "cued_by", "against", "supports", "about"]
    relations = [{"relation_id": f"rel{i}", "annotation_id": 1, "doc_id": "d1",
                  "head_span_id": data.draw(st.sampled_from([s["span_id"] for s in spans] + ["9:zz"])),
                  "tail_span_id": data.draw(st.sampled_from([s["span_id"] for s in spans] + ["9:zz"])),
                  "type": data.draw(st.sampled_from(kinds))}
                 for i in range(data.draw(st.integers(0, 15)))] if spans else []
    annotations = [{"annotation_id": a, "task_id": a, "doc_id": f"d{a % 2}", "annotator": f"ls-user-{a}",
                    "status": "cancelled" if a == 3 else "submitted", "ground_truth": False, "created_at": None,
                    "updated_at": None, "lead_time": None, "n_regions": 0, "n_relations": 0} for a in (1, 2, 3)]
    documents = [{"doc_id": "d0", "published": None, "source_file": "", "text": "x" * 9, "text_sha256": "0" * 64},
                 {"doc_id": "d1", "published": None, "source_file": "", "text": "x" * 9, "text_sha256": "0" * 64}]
    rows = {"documents": documents, "annotations": annotations, "spans": spans, "relations": relations}
    tables = {name: pa.Table.from_pylist(value, schema=TABLES[name]) for name, value in rows.items()}
    stances = default_scheme().stances
    import claimset.claims

    step = claimset.claims.CLAIMS_PER_STEP
    claimset.claims.CLAIMS_PER_STEP = data.draw(st.integers(1, 4))  # several steps, claims split between them
    try:
        derived = derive_claims(tables["documents"], tables["annotations"], tables["spans"], tables["relations"],
                                default_scheme()).to_pylist()
    finally:
        claimset.claims.CLAIMS_PER_STEP = step
    assert derived == reference_claims(rows, stances)


def test_a_record_from_a_newer_format_is_refused(gold: Path) -> None:
    manifest = json.loads((gold / MANIFEST).read_text(encoding="utf-8"))
    manifest.update(format_version=99, claimset_version="9.0.0")
    (gold / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(gold)])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "dataset format 99, written by claimset 9.0.0" in result.output and "upgrade claimset" in result.output


@pytest.mark.parametrize("content", ["", "\x00\x01binary", "labels: [unclosed"])
def test_extract_reads_the_scheme_it_is_given(tmp_path: Path, content: str) -> None:
    bad = tmp_path / "scheme.yaml"
    bad.write_text(content, encoding="utf-8")
    result = runner.invoke(app, ["extract", "--seeds", str(ROOT / "seeds"), "--scheme", str(bad)])
    assert result.exit_code == 1 and result.output.count("\n") == 1 and str(bad) in result.output


@pytest.mark.parametrize(("change", "message"), [
    ("rewritten", "rejects.parquet: its SHA-256 is not the one recorded"),
    ("escaping", "../../etc/passwd: no such file in the dataset"),
])
def test_the_gold_files_must_have_the_hashes_croissant_records(gold: Path, change: str, message: str) -> None:
    rejects = pq.read_table(gold / "rejects.parquet")
    if change == "rewritten":  # same rows, other bytes: what a hand edit of any table does
        pq.write_table(rejects, gold / "rejects.parquet", compression="gzip")
    else:
        card = json.loads((gold / "croissant.json").read_text(encoding="utf-8"))
        card["distribution"][0]["contentUrl"] = "../../etc/passwd"
        (gold / "croissant.json").write_text(json.dumps(card), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(gold)])
    assert result.exit_code == 1 and "croissant_stale" in result.output and message in result.output
