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
    derived = claimset.load(gold).claims
    assert derived.num_rows == 13
    assert derived.equals(pq.read_table(gold / "claims.parquet"))


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
        claims = claimset.load(gold).claims.to_pylist()
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
    assert runner.invoke(app, ["validate", str(gold)]).exit_code == 0
    result = runner.invoke(app, ["validate", str(gold), "--scheme", str(ROOT / "schema" / "scheme.yaml")])
    assert result.exit_code == 1 and "but" in result.output


def test_a_scheme_file_edited_by_hand_is_caught(gold: Path) -> None:
    (gold / SCHEME_FILE).write_text((gold / SCHEME_FILE).read_text(encoding="utf-8").replace("version: 1",
                                                                                            "version: 3"))
    result = runner.invoke(app, ["validate", str(gold)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "does not match claimset.json" in result.output


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
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "spans.parquet" in result.output
    as_text = spans.set_column(spans.schema.get_field_index("start"), "start",
                               pa.array([f"x{v}" for v in spans.column("start").to_pylist()]))
    pq.write_table(as_text, gold / "spans.parquet")
    result = runner.invoke(app, ["stats", str(gold)])
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "spans.parquet" in result.output
