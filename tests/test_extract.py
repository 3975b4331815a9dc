"""The rule-based baseline, its CLI, and its conversion to Label Studio predictions."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from importlib import metadata
from importlib.machinery import SourceFileLoader
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from claimset.cli import app
from claimset.extract import extract, to_labelstudio_predictions
from claimset.ingest import import_exports
from claimset.predictions import load_prediction_records
from claimset.seeds import Document, read_seeds, sha256_text
from claimset.tables import read_table
from lsjson import annotation, task

ROOT = Path(__file__).resolve().parents[1]
# The baseline's model_version names the release it comes from: the installed distribution's version.
BASELINE_VERSION = f"claimset-baseline-{metadata.version('claimset')}"
runner = CliRunner()


def doc(text: str, doc_id: str = "d") -> Document:
    return Document(doc_id=doc_id, published=__import__("datetime").date(2020, 12, 12), text=text,
                    text_sha256=sha256_text(text), source_file=f"seeds/{doc_id}.txt")


def show(text: str, record: dict[str, Any]) -> dict[str, Any]:
    """A record with its spans as text, for readable assertions."""
    out: dict[str, Any] = {"claim": text[record["claim"]["start"]:record["claim"]["end"]],
                           "quote_type": record["quote_type"]}
    for key in ("speaker", "cue"):
        if key in record:
            out[key] = text[record[key]["start"]:record[key]["end"]]
    out["targets"] = [(text[t["start"]:t["end"]], t["stance"]) for t in record.get("targets", [])]
    return out


@pytest.fixture(scope="module")
def seed() -> Document:
    return read_seeds(ROOT / "seeds")[0]


@pytest.mark.parametrize("quotes", ['""', "“”"])
def test_direct_quote_with_trailing_attribution(quotes: str) -> None:
    text = f"{quotes[0]}We are fine,{quotes[1]} the spokesperson said."
    [record] = extract([doc(text)])
    assert show(text, record) == {"claim": "We are fine", "quote_type": "direct", "speaker": "the spokesperson",
                                  "cue": "said", "targets": []}
    assert record["speaker"]["entity"] == "spokesperson"


def test_direct_quote_with_leading_attribution() -> None:
    text = "The minister said, “Russia is a partner.”"
    [record] = extract([doc(text)])
    assert show(text, record) == {"claim": "Russia is a partner", "quote_type": "direct", "speaker": "The minister",
                                  "cue": "said", "targets": [("Russia", "about")]}


def test_indirect_speech_after_the_cue() -> None:
    text = "Lavrov accused the West of meddling. India emphasised that it pursues an independent policy."
    first, second = extract([doc(text)])
    assert show(text, first) == {"claim": "the West of meddling", "quote_type": "indirect", "speaker": "Lavrov",
                                 "cue": "accused", "targets": [("the West", "against")]}
    assert show(text, second) == {"claim": "it pursues an independent policy", "quote_type": "indirect",
                                  "speaker": "India", "cue": "emphasised", "targets": []}


def test_claim_before_a_trailing_cue() -> None:
    text = "This year marks twenty years of our partnership with Russia, the spokesperson said."
    [record] = extract([doc(text)])
    assert show(text, record)["claim"] == "This year marks twenty years of our partnership with Russia"
    assert show(text, record)["speaker"] == "the spokesperson"


def test_no_cue_no_claim() -> None:
    assert extract([doc("CAATSA threatens to sanction India over S-400 missile defence system.")]) == []


def test_seed_article(seed: Document, tmp_path: Path) -> None:
    records = extract([seed])
    shown = [show(seed.text, record) for record in records]

    def by_claim(prefix: str) -> dict[str, Any]:
        [found] = [s for s in shown if s["claim"].startswith(prefix)]
        return found

    accused = by_claim("the West particularly the USA")
    assert accused["speaker"] == "Russian Foreign Minister Sergey Lavrov" and accused["cue"] == "accused"
    assert ("the West", "against") in accused["targets"]
    told = by_claim("We have seen the comments")
    assert (told["speaker"], told["cue"], told["quote_type"]) == ("MEA spokesperson", "told", "direct")
    assert by_claim("it pursues an independent foreign policy")["speaker"] == "India"
    for s in shown:  # B1/B2: no quotation marks at the ends, no claim-final punctuation
        assert s["claim"][0] not in "“\"" and s["claim"][-1] not in "”\".,;: "
    # the records are valid predictions for the document
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert load_prediction_records(path, {seed.doc_id: seed.text}).records() == records


def test_cli_extract(tmp_path: Path, seed: Document) -> None:
    out = tmp_path / "out" / "baseline.jsonl"
    result = runner.invoke(app, ["extract", "--seeds", str(ROOT / "seeds"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == extract([seed])
    assert sorted(p.name for p in out.parent.iterdir()) == ["baseline.jsonl"]  # no temp file left behind
    result = runner.invoke(app, ["extract", "--seeds", str(ROOT / "seeds")])
    assert result.exit_code == 0 and result.stdout.splitlines() == lines
    result = runner.invoke(app, ["extract", "--seeds", str(tmp_path / "none")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [f"Error: {tmp_path / 'none'}: seeds directory not found"]


def test_labelstudio_predictions_shape(seed: Document) -> None:
    records = extract([seed])
    [prediction] = to_labelstudio_predictions(records, [seed])
    assert prediction["doc_id"] == seed.doc_id and prediction["model_version"] == BASELINE_VERSION
    regions = [r for r in prediction["result"] if r["type"] == "labels"]
    relations = [r for r in prediction["result"] if r["type"] == "relation"]
    ids = [r["id"] for r in regions]
    assert len(ids) == len(set(ids))
    for region in regions:
        value = region["value"]
        assert seed.text[value["start"]:value["end"]] == value["text"]  # code-point offsets
        assert (region["from_name"], region["to_name"]) == ("label", "text")
    attributes = [r for r in prediction["result"] if r["type"] in ("choices", "textarea")]
    assert {r["from_name"] for r in attributes} == {"quote_type", "speaker_entity", "target_entity"}
    assert all(r["id"] in ids for r in attributes)
    claims = {r["id"] for r in regions if r["value"]["labels"] == ["Claim"]}
    assert len(claims) == len(records)
    for relation in relations:
        assert relation["from_id"] in claims and relation["to_id"] in ids
        assert relation["direction"] == "right" and len(relation["labels"]) == 1
    said_by = [r for r in relations if r["labels"] == ["said_by"]]
    assert len(said_by) == sum(1 for r in records if "speaker" in r)


def test_labelstudio_predictions_import_back_to_the_same_records(tmp_path: Path) -> None:
    """Predictions shaped as an annotation import cleanly into the spans and relations worked out by hand."""
    text = "Lavrov accused the West of meddling. India emphasised that it pursues an independent policy."
    document = doc(text, "doc-1")
    [prediction] = to_labelstudio_predictions(extract([document]), [document])
    result = [{**item, "origin": "manual"} if "id" in item else item for item in prediction["result"]]
    export = tmp_path / "export.json"
    export.write_text(json.dumps([task(1, text, [annotation(7, result)], doc_id="doc-1")]), encoding="utf-8")
    summary = import_exports([export], tmp_path / "gold", seeds=[document])
    assert summary.to_dict()["rejects_by_reason"] == {}
    spans = read_table(tmp_path / "gold", "spans").to_pylist()
    assert sorted((s["label"], s["start"], s["end"], s["text"], s["quote_type"], s["entity"]) for s in spans) == [
        ("Claim", 15, 35, "the West of meddling", "indirect", None),
        ("Claim", 59, 91, "it pursues an independent policy", "indirect", None),
        ("Cue", 7, 14, "accused", None, None),
        ("Cue", 43, 53, "emphasised", None, None),
        ("Speaker", 0, 6, "Lavrov", None, "Lavrov"),
        ("Speaker", 37, 42, "India", None, "India"),
        ("Target", 15, 23, "the West", None, "West"),
    ]
    where = {s["span_id"]: (s["label"], s["start"]) for s in spans}
    relations = read_table(tmp_path / "gold", "relations").to_pylist()
    assert sorted((where[r["head_span_id"]], where[r["tail_span_id"]], r["type"]) for r in relations) == [
        (("Claim", 15), ("Cue", 7), "cued_by"),
        (("Claim", 15), ("Speaker", 0), "said_by"),
        (("Claim", 15), ("Target", 15), "against"),
        (("Claim", 59), ("Cue", 43), "cued_by"),
        (("Claim", 59), ("Speaker", 37), "said_by"),
    ]


def test_cli_extract_labelstudio_format_reads_back_with_push_reader(tmp_path: Path, seed: Document) -> None:
    from claimset.labelstudio import check_prediction_offsets, read_labelstudio_predictions

    out = tmp_path / "pre.json"
    result = runner.invoke(app, ["extract", "--seeds", str(ROOT / "seeds"), "--format", "labelstudio",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    [prediction] = read_labelstudio_predictions(out)
    assert prediction.doc_id == seed.doc_id and prediction.model_version == BASELINE_VERSION
    check_prediction_offsets(prediction, seed.text)
    assert json.loads(out.read_text(encoding="utf-8")) == to_labelstudio_predictions(extract([seed]), [seed])


def test_cli_extract_quotes_format(tmp_path: Path, seed: Document) -> None:
    out = tmp_path / "quotes.jsonl"
    result = runner.invoke(app, ["extract", "--seeds", str(ROOT / "seeds"), "--format", "quotes", "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    by_offsets = extract([seed])
    assert len(records) == len(by_offsets)
    for quoted, placed in zip(records, by_offsets, strict=True):
        assert quoted["claim"]["quote"] == seed.text[placed["claim"]["start"]:placed["claim"]["end"]]
        assert "start" not in json.dumps(quoted)
        assert quoted.get("quote_type") == placed.get("quote_type")
    # every quote anchors back exactly where the offsets were
    loaded = load_prediction_records(out, {seed.doc_id: seed.text})
    assert set(loaded.mentions["anchoring"]) == {"exact"}
    assert [{key: value for key, value in record.items() if key != "line"}
            for record in _without_anchoring(loaded.anchored_records())] == by_offsets


def _without_anchoring(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def strip(mention: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in mention.items() if key != "anchoring"}

    return [{key: [strip(t) for t in value] if key == "targets" else strip(value) if isinstance(value, dict) else value
             for key, value in record.items()} for record in records]


def test_the_readme_shows_what_scripts_baseline_scores_prints() -> None:
    """The README's baseline table is what `scripts/baseline-scores` prints today (extract + evaluate, both forms)."""
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "baseline-scores")], capture_output=True,
                            text=True, check=True, timeout=300)
    table = result.stdout
    assert table.startswith("| measure | offsets | quotes |")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert table in readme.split("### The baseline")[1], "run scripts/baseline-scores and paste its output"


def test_the_baseline_scores_read_the_reports() -> None:
    """The script's table is the reports' F1s: the offset form by hand from `claimset evaluate`."""
    spec = importlib.util.spec_from_loader("baseline_scores", SourceFileLoader(
        "baseline_scores", str(ROOT / "scripts" / "baseline-scores")))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    reports = module.scores(ROOT / "annotations" / "gold", ROOT / "seeds")
    rows = dict(re.findall(r"^\| ([^|]+?) \| ([\d.]+) \|", module.table(reports), re.M))
    strict = reports[0]["spans"]["strict"]
    assert float(rows["Claim spans, strict"]) == round(100 * strict["Claim"]["f1"], 1)
    assert float(rows["all spans, strict (micro)"]) == round(100 * strict["overall"]["f1"], 1)
    assert float(rows["full records, strict"]) == round(100 * reports[0]["attribution"]["records"]["strict"]["f1"], 1)
