"""The predictions file format: reading JSONL and Parquet, and every way a file can be bad."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from claimset.cli import app
from claimset.errors import ClaimsetError
from claimset.predictions import load_prediction_records, write_predictions
from claimset.scheme import default_scheme
from goldtables import write_gold

ROOT = Path(__file__).resolve().parents[1]
SCHEME = yaml.safe_load((ROOT / "schema" / "scheme.yaml").read_text(encoding="utf-8"))
TEXT = "Lavrov accused the West of meddling."
DOCS = {"doc-1": TEXT}
runner = CliRunner()

RECORD: dict[str, Any] = {
    "doc_id": "doc-1", "claim": {"start": 15, "end": 35}, "speaker": {"start": 0, "end": 6, "entity": "Sergey Lavrov"},
    "cue": {"start": 7, "end": 14}, "targets": [{"start": 15, "end": 23, "entity": "the West", "stance": "against"}],
    "quote_type": "indirect",
}


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_stances_come_from_the_scheme() -> None:
    assert set(default_scheme().stances) == {rel["value"] for rel in SCHEME["relations"] if rel.get("stance")}


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    minimal = {"doc_id": "doc-1", "claim": {"start": 0, "end": 6}}
    path = tmp_path / f"pred{suffix}"
    assert write_predictions([RECORD, minimal], path) == 2
    predictions = load_prediction_records(path, DOCS)
    assert predictions.records() == [RECORD, minimal]
    assert len(predictions) == 2
    assert list(predictions.claims["line"]) == [1, 2]
    mentions = predictions.mentions
    assert mentions[mentions["role"] == "target"]["stance"].tolist() == ["against"]
    assert mentions["role"].tolist() == ["claim", "speaker", "cue", "target", "claim"]
    assert mentions["record"].tolist() == [0, 0, 0, 0, 1]


def test_missing_stance_defaults_to_about_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    record = {"doc_id": "doc-1", "claim": {"start": 15, "end": 35}, "targets": [{"start": 15, "end": 23}]}
    path = write_lines(tmp_path / "p.jsonl", "", json.dumps(record), "   ")
    predictions = load_prediction_records(path, DOCS)
    mentions = predictions.mentions
    assert mentions.loc[mentions["role"] == "target", "stance"].tolist() == ["about"]
    assert predictions.claims["line"].tolist() == [2]


def test_empty_file_is_no_predictions(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "p.jsonl")
    assert len(load_prediction_records(path, DOCS)) == 0


BAD = [
    ("{oops", "1: not JSON"),
    ("[1, 2]", "1: a record must be a JSON object, got list"),
    ('{"doc_id": "doc-1"}', "1: 'claim' is required"),
    ('{"claim": {"start": 0, "end": 6}}', "1: 'doc_id' must be a non-empty string"),
    ('{"doc_id": "doc-1", "claim": {"start": 0, "end": 6}, "speakr": {}}', "1: unknown key 'speakr'"),
    ('{"doc_id": "doc-1", "claim": {"start": 0}}', "1: 'claim' is missing 'end'"),
    ('{"doc_id": "doc-1", "claim": {"start": "0", "end": 6}}', "1: 'claim.start' must be an integer, got '0'"),
    ('{"doc_id": "doc-1", "claim": {"start": true, "end": 6}}', "1: 'claim.start' must be an integer, got True"),
    ('{"doc_id": "doc-1", "claim": {"start": 0.5, "end": 6}}', "1: 'claim.start' must be an integer, got 0.5"),
    ('{"doc_id": "doc-1", "claim": [0, 6]}', "1: 'claim' must be an object"),
    ('{"doc_id": "doc-1", "claim": {"start": 0, "end": 6}, "targets": {}}', "1: 'targets' must be a list"),
    ('{"doc_id": "doc-1", "claim": {"start": 0, "end": 6}, "targets": [{"start": 0, "end": 6, "stance": "hates"}]}',
     "1: targets[0].stance: failed check isin(('against', 'supports', 'about')) (got 'hates')"),
    ('{"doc_id": "doc-1", "claim": {"start": 0, "end": 6}, "quote_type": "reported"}',
     "1: quote_type: failed check isin(('direct', 'indirect', 'mixed')) (got 'reported')"),
    ('{"doc_id": "doc-1", "claim": {"start": 6, "end": 6}}', "1: claim: failed check start < end"),
    ('{"doc_id": "doc-1", "claim": {"start": -1, "end": 6}}',
     "1: claim.start: failed check greater_than_or_equal_to(0) (got -1)"),
    ('{"doc_id": "doc-1", "claim": {"start": 0, "end": 6}, "speaker": {"start": 5, "end": 2}}',
     "1: speaker: failed check start < end"),
    ('{"doc_id": "doc-9", "claim": {"start": 0, "end": 6}}', "1: unknown doc_id 'doc-9'"),
    ('{"doc_id": "doc-1", "claim": {"start": 0, "end": 37}}',
     "1: claim end 37 is past the end of document 'doc-1' (36 code points)"),
    ('{"doc_id": "doc-1", "claim": {"start": 0, "end": 6}, "cue": {"start": 0, "end": 99}}', "1: cue end 99 is past"),
    ('{"doc_id": "doc-1", "claim": {"start": 0, "end": 6}, "targets": [{"start": 30, "end": 40}]}',
     "1: targets[0] end 40 is past the end of document 'doc-1' (36 code points)"),
]


@pytest.mark.parametrize(("line", "message"), BAD)
def test_bad_record(tmp_path: Path, line: str, message: str) -> None:
    good = json.dumps({"doc_id": "doc-1", "claim": {"start": 0, "end": 6}})
    path = write_lines(tmp_path / "p.jsonl", good, line)
    expected = message.replace("1:", "2:", 1)
    with pytest.raises(ClaimsetError, match=f"^{re.escape(f'{path}:{expected}')}") as info:
        load_prediction_records(path, DOCS)
    assert "\n" not in str(info.value)


def test_offsets_are_code_points(tmp_path: Path) -> None:
    text = "“Ça va” 👍 said Zoë."
    record = {"doc_id": "d", "claim": {"start": 1, "end": 6}, "speaker": {"start": len(text) - 4, "end": len(text) - 1}}
    path = write_lines(tmp_path / "p.jsonl", json.dumps(record, ensure_ascii=False))
    assert load_prediction_records(path, {"d": text}).records() == [record]
    bad = {**record, "claim": {"start": 1, "end": len(text) + 1}}
    with pytest.raises(ClaimsetError, match="past the end"):
        load_prediction_records(write_lines(tmp_path / "q.jsonl", json.dumps(bad)), {"d": text})


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ClaimsetError, match="predictions file not found"):
        load_prediction_records(tmp_path / "missing.jsonl", DOCS)
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(ClaimsetError, match="not a readable Parquet file"):
        load_prediction_records(tmp_path / "x.parquet", DOCS)
    (tmp_path / "x.jsonl").write_bytes(b'{"doc_id": "\xff"}\n')
    with pytest.raises(ClaimsetError, match="not UTF-8"):
        load_prediction_records(tmp_path / "x.jsonl", DOCS)


def test_write_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    write_predictions([RECORD], path)
    with pytest.raises(TypeError, match=r"^Object of type object is not JSON serializable$"):
        write_predictions([RECORD, {"doc_id": object()}], path)
    assert path.read_text(encoding="utf-8") == json.dumps(RECORD) + "\n"
    assert [p.name for p in tmp_path.iterdir()] == ["p.jsonl"]


@pytest.mark.parametrize(("content", "message"), [
    ("not json at all", ":1: not JSON"),
    ('{"doc_id": "doc-1", "claim": {"start": 0, "end": 999}}', ":1: claim end 999 is past the end"),
])
def test_cli_bad_file_is_one_line_exit_1(tmp_path: Path, content: str, message: str) -> None:
    gold = write_gold(tmp_path / "gold", DOCS, [RECORD])
    pred = write_lines(tmp_path / "p.jsonl", content)
    result = runner.invoke(app, ["evaluate", "--gold", str(gold), "--pred", str(pred)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {pred}{message}"), lines
