"""Scale: a generated export of a few hundred tasks imports, validates, and reads back lazily.

The export comes from ``tests/synthetic.py``, the generator ``scripts/bench`` uses for the
million-region benchmark; here it is small enough for the test suite. Also checks the streaming
reader (task splitting by a vectorised byte scan, orjson per task) against the standard library on
exports full of the characters that could fool it, read in tiny chunks, and that validation in
batches reports what it reports on the whole table.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import claimset.reader as reader
import claimset.validate as validate
from claimset.ingest import import_exports
from claimset.tables import TABLES, table_path
from claimset.validate import validate_dataset
from synthetic import write_export

N_TASKS = 300


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, object]:
    directory = tmp_path_factory.mktemp("scale")
    export = directory / "export.json"
    stats = write_export(export, N_TASKS)
    summary = import_exports([export], directory / "data")
    return directory / "data", stats, summary


def test_generated_export_imports_completely(dataset: tuple[Path, object, object]) -> None:
    data, stats, summary = dataset
    assert summary.reconciles, summary.to_dict()
    assert summary.tasks == N_TASKS == summary.documents
    assert summary.annotations == stats.annotations == 3 * N_TASKS
    assert (summary.regions.written, summary.attributes.written, summary.relations.written) == (
        stats.regions, stats.attributes, stats.relations)
    assert sum(summary.rejects_by_reason.values()) == 0 and not summary.repairs
    assert stats.regions == 30 * stats.annotations and stats.relations == 20 * stats.annotations
    report = validate_dataset(data)
    assert report.valid, report.counts()
    assert report.rows == {"documents": N_TASKS, "annotations": 3 * N_TASKS, "spans": stats.regions,
                           "relations": stats.relations, "rejects": 0, "claims": report.rows["claims"]}


def test_offsets_are_code_points_into_non_ascii_text(dataset: tuple[Path, object, object]) -> None:
    data, _, _ = dataset
    docs = {row["doc_id"]: row["text"] for row in pq.read_table(table_path(data, "documents")).to_pylist()}
    assert any(not text.isascii() for text in docs.values())
    assert any(any(ord(char) > 0xFFFF for char in text) for text in docs.values())  # emoji: UTF-16 would differ
    spans = pq.read_table(table_path(data, "spans"), columns=["doc_id", "start", "end", "text"]).to_pylist()
    assert all(docs[s["doc_id"]][s["start"] : s["end"]] == s["text"] for s in spans)


def test_tables_read_back_lazily_with_duckdb_and_polars(dataset: tuple[Path, object, object]) -> None:
    duckdb = pytest.importorskip("duckdb")
    pl = pytest.importorskip("polars")
    data, _, _ = dataset
    for name in TABLES:
        path = table_path(data, name)
        expected = pq.ParquetFile(path).metadata.num_rows
        lazy = pl.scan_parquet(path)
        assert lazy.select(pl.len()).collect().item() == expected, name
        assert duckdb.sql(f"select count(*) from read_parquet('{path}')").fetchall()[0][0] == expected, name
    # the same join in both engines: relations per claim, over the files, lazily
    spans, relations = table_path(data, "spans"), table_path(data, "relations")
    claims_pl = (pl.scan_parquet(relations).join(pl.scan_parquet(spans), left_on="head_span_id", right_on="span_id")
                 .filter(pl.col("label") == "Claim").select(pl.len()).collect().item())
    claims_duck = duckdb.sql(f"select count(*) from read_parquet('{relations}') r join read_parquet('{spans}') s "
                             "on r.head_span_id = s.span_id where s.label = 'Claim'").fetchall()[0][0]
    assert claims_pl == claims_duck == pq.ParquetFile(relations).metadata.num_rows


def test_task_splitter_matches_the_standard_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(8)
    pieces = ['"', "\\", "[", "]", "{", "}", ",", "a", "é", "😀", " ", "\n", '\\"', "\\\\"]

    def string() -> str:
        return "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 8)))

    def value(depth: int = 0) -> object:
        roll = rng.random()
        if depth > 3 or roll < 0.3:
            return rng.choice([string(), 1, -2.5, None, True, 10**30, 2**64])
        if roll < 0.6:
            return [value(depth + 1) for _ in range(rng.randrange(0, 4))]
        return {string(): value(depth + 1) for _ in range(rng.randrange(0, 4))}

    export = tmp_path / "export.json"
    for _ in range(150):
        tasks = [{"data": {"text": string()}, "annotations": [value()]} for _ in range(rng.randrange(0, 6))]
        export.write_text(json.dumps(tasks, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 1])),
                          encoding="utf-8")
        monkeypatch.setattr(reader, "READ_CHUNK", rng.choice([1, 3, 7, 64, 1 << 20]))
        assert list(reader.read_tasks(export)) == tasks


def test_validation_in_small_batches_reports_the_same(dataset: tuple[Path, object, object], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Plant flaws far apart in the tables, then validate whole and in batches of 500 rows."""
    import pyarrow as pa

    data, _, _ = dataset
    flawed = tmp_path / "flawed"
    flawed.mkdir()
    for name in TABLES:
        table_path(flawed, name).write_bytes(table_path(data, name).read_bytes())
    spans = pq.read_table(table_path(flawed, "spans")).to_pandas()
    spans.loc[10, "span_id"] = spans.loc[5000, "span_id"]  # duplicate across batches
    spans.loc[7000, "text"] = "nope"
    pq.write_table(pa.Table.from_pandas(spans, preserve_index=False), table_path(flawed, "spans"))
    relations = pq.read_table(table_path(flawed, "relations")).to_pandas()
    relations.loc[4000, "head_span_id"] = relations.loc[20, "head_span_id"]  # a second said_by for one claim
    relations.loc[4000, "type"] = relations.loc[20, "type"]
    pq.write_table(pa.Table.from_pandas(relations, preserve_index=False), table_path(flawed, "relations"))

    whole = validate_dataset(flawed)
    monkeypatch.setattr(validate, "BATCH_ROWS", 500)
    monkeypatch.setattr(validate, "DOCUMENT_BATCH_ROWS", 7)
    batched = validate_dataset(flawed)
    assert not whole.valid
    assert {"field_uniqueness", "span_text_mismatch", "relation_max_per_head"} <= set(whole.counts())
    assert sorted(map(repr, batched.failures)) == sorted(map(repr, whole.failures))


def test_readme_quotes_the_ratios_in_performance_md() -> None:
    """The README's performance figures are the ones scripts/bench last wrote to docs/performance.md."""
    import re

    root = Path(__file__).resolve().parents[1]
    perf = (root / "docs" / "performance.md").read_text(encoding="utf-8")
    readme = (root / "README.md").read_text(encoding="utf-8").split("## Performance")[1].split("\n## ")[0]
    for workload in ("unicode", "ascii"):
        ratio = re.search(rf"ours ÷ converter \({workload}\): \*\*([\d.]+)\*\*", perf)
        rss = re.search(rf"peak RSS of ours \({workload}\): ([\d,]+) MB", perf)
        assert ratio and rss, workload
        assert f"**{ratio.group(1)}×** the converter ({workload})" in readme
        assert f"**{rss.group(1)} MB** ({workload})" in readme
    slope = re.search(r"memory slope: (-?[\d,.]+) MB per 1,000 tasks; peak RSS ([+-][\d.]+%) from ([\d,]+) to ([\d,]+)",
                      perf)
    scoring = re.search(r"claimset ÷ nervaluate \(scoring time\): (\d+(?:\.\d+)?)", perf)
    assert slope and scoring
    assert f"**{slope.group(1)} MB per 1,000 tasks**" in readme and f"**{slope.group(2)}**" in readme
    assert f"**{scoring.group(1)}×** nervaluate" in readme


def test_bench_runs_both_workloads_and_prints_the_memory_slope(tmp_path: Path) -> None:
    """scripts/bench, tiny: both workloads against the converter, the memory runs and their slope, in one report."""
    import re
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "perf.md"
    done = subprocess.run([sys.executable, str(root / "scripts" / "bench"), "--tasks", "20", "--scale", "1,2",
                           "--scale-base", "10", "--score-spans", "0", "--out", str(out), "--workdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = out.read_text(encoding="utf-8")
    assert done.stdout.strip() in report  # the report printed is the report written
    for workload in ("unicode", "ascii"):
        assert re.search(rf"ours ÷ converter \({workload}\): \*\*\d+\.\d\d\*\* wall", report)
        assert re.search(rf"peak RSS of ours \({workload}\): [\d,]+ MB", report)
    assert re.search(r"memory slope: -?[\d,.]+ MB per 1,000 tasks; peak RSS [+-]\d+\.\d% from 10 to 20 tasks", report)
    assert "| 10 |" in report and "| 20 |" in report
    assert report.count("| ours-1 |") == 2  # one process, beside the default, in each workload
    assert [p.name for p in tmp_path.iterdir()] == ["perf.md"]  # generated exports are removed
