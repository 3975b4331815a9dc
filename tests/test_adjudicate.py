"""Adjudication: ground truth wins, strict majority is accepted, the rest is reviewed; output validates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from claimset.adjudicate import adjudicate, review_to_labelstudio
from claimset.cli import app
from claimset.evaluate import load_gold
from claimset.tables import read_table
from claimset.validate import validate_dataset
from multiannotator import TEXT, Ann, at, full_annotation, write_dataset

runner = CliRunner()


def claim_with_speaker(annotator: str, claim: str, quote_type: str = "indirect", **kwargs: Any) -> Ann:
    return (Ann(annotator, **kwargs)
            .span("c", "Claim", at(TEXT, claim), quote_type).span("s", "Speaker", at(TEXT, "Putin"), None, "Putin")
            .rel("c", "s", "said_by"))


def rows(directory: Path, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = pq.read_table(directory / f"{name}.parquet").to_pylist()
    return found


def test_majority_accepts_two_of_three_and_reviews_the_rest(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", {"d1": TEXT}, [
        claim_with_speaker("a", "NATO lied"), claim_with_speaker("b", "NATO lied"),
        claim_with_speaker("c", "NATO lied."),
    ])
    result = adjudicate(data, tmp_path / "gold")
    gold = tmp_path / "gold"
    assert validate_dataset(gold).valid, validate_dataset(gold).failures
    spans = rows(gold, "spans")
    assert [(s["label"], s["text"], s["quote_type"], s["entity"]) for s in spans] == [
        ("Speaker", "Putin", None, "Putin"), ("Claim", "NATO lied", "indirect", None)]
    # The first 48 bits of SHA-256("adjudicated:d1"), computed once outside claimset:
    #   h=$(printf 'adjudicated:d1' | sha256sum | cut -c1-12); echo $((16#$h))
    aid = 221401726683031
    assert {s["annotation_id"] for s in spans} == {aid}
    [annotation] = rows(gold, "annotations")
    assert annotation["annotator"] == "adjudicated" and annotation["status"] == "submitted"
    assert (annotation["n_regions"], annotation["n_relations"]) == (2, 1)
    [relation] = rows(gold, "relations")
    by_id = {s["span_id"]: s for s in spans}
    assert (by_id[relation["head_span_id"]]["label"], by_id[relation["tail_span_id"]]["label"]) == ("Claim", "Speaker")
    provenance = {p["span_id"]: p for p in rows(gold, "span_provenance")}
    assert [provenance[s["span_id"]]["proposed_by"] for s in spans] == [["a", "b", "c"], ["a", "b"]]
    assert all(p["method"] == "majority" and p["adjudicated"] and p["n_annotators"] == 3 for p in provenance.values())
    review = [(r.kind, r.label, r.proposed_by, r.reason) for r in result.review]
    assert review == [("span", "Claim", ("c",), "no_majority"), ("relation", "said_by", ("c",), "no_majority")]
    assert rows(gold, "review")[0]["candidate"] == json.dumps(result.review[0].candidate, sort_keys=True)
    jsonl = [json.loads(line) for line in (gold / "review.jsonl").read_text(encoding="utf-8").splitlines()]
    assert jsonl[0]["candidate"]["text"] == "NATO lied." and jsonl[0]["proposed_by"] == ["c"]
    assert load_gold(gold).records[0]["speaker"]["entity"] == "Putin"  # the gold evaluates as one annotation


def test_three_way_split_has_no_majority(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", {"d1": TEXT}, [
        claim_with_speaker("a", "NATO lied"), claim_with_speaker("b", "NATO lied."),
        claim_with_speaker("c", "said NATO lied"),
    ])
    result = adjudicate(data, tmp_path / "gold")
    assert [s["label"] for s in rows(tmp_path / "gold", "spans")] == ["Speaker"]
    assert rows(tmp_path / "gold", "relations") == []
    claims = [r for r in result.review if r.kind == "span"]
    assert sorted(r.candidate["text"] for r in claims) == ["NATO lied", "NATO lied.", "said NATO lied"]
    assert all(len(r.proposed_by) == 1 and r.n_annotators == 3 for r in claims)
    # each said_by has one vote and a claim endpoint that was not accepted
    assert [r.reason for r in result.review if r.kind == "relation"] == ["no_majority"] * 3


def test_relation_with_majority_but_unaccepted_endpoint_is_reviewed(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", {"d1": TEXT}, [
        claim_with_speaker("a", "NATO lied", "indirect"), claim_with_speaker("b", "NATO lied", "direct"),
        claim_with_speaker("c", "NATO lied", "mixed"),
    ])
    result = adjudicate(data, tmp_path / "gold")
    relations = [r for r in result.review if r.kind == "relation"]
    assert [(r.reason, r.proposed_by) for r in relations] == [("endpoint_not_accepted", ("a", "b", "c"))]
    assert relations[0].candidate["head"]["accepted"] is False
    assert relations[0].candidate["tail"]["accepted"] is True
    assert sorted(r.candidate["quote_type"] for r in result.review if r.kind == "span") == [
        "direct", "indirect", "mixed"]


def test_ground_truth_wins_entirely(tmp_path: Path) -> None:
    truth = claim_with_speaker("c", "NATO lied.", ground_truth=True)
    data = write_dataset(tmp_path / "data", {"d1": TEXT}, [full_annotation("a"), full_annotation("b"), truth])
    result = adjudicate(data, tmp_path / "gold")
    assert result.ground_truth == ["d1"] and result.review == []
    spans = rows(tmp_path / "gold", "spans")
    assert [(s["text"], s["region_id"]) for s in spans] == [("Putin", "s"), ("NATO lied.", "c")]
    assert len(rows(tmp_path / "gold", "relations")) == 1
    provenance = rows(tmp_path / "gold", "span_provenance")
    assert [(p["method"], p["adjudicated"], p["proposed_by"]) for p in provenance] == [
        ("ground_truth", False, ["a", "b", "c"]), ("ground_truth", False, ["c"])]
    assert validate_dataset(tmp_path / "gold").valid


def test_single_annotator_taken_as_is_and_cancelled_ignored(tmp_path: Path) -> None:
    cancelled = claim_with_speaker("z", "Russia cheated", status="cancelled")
    data = write_dataset(tmp_path / "data", {"d1": TEXT, "d2": TEXT},
                         [full_annotation("a"), cancelled, full_annotation("b", "d2")])
    result = adjudicate(data, tmp_path / "gold")
    assert result.majority == ["d1", "d2"] and result.review == [] and result.single_annotator == ["d1", "d2"]
    listed = CliRunner().invoke(app, ["adjudicate", str(data), "--out", str(tmp_path / "again")])
    assert listed.exit_code == 0 and "one annotator only (taken as it is): d1, d2" in listed.stdout
    gold = tmp_path / "gold"
    assert len(rows(gold, "spans")) == 2 * 11 and len(rows(gold, "relations")) == 2 * 7
    assert {p["adjudicated"] for p in rows(gold, "span_provenance")} == {False}  # one vote out of one
    assert read_table(gold, "documents").num_rows == 2
    assert validate_dataset(gold).valid, validate_dataset(gold).failures


def test_review_tasks_for_label_studio(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", {"d1": TEXT}, [
        claim_with_speaker("a", "NATO lied", "indirect"), claim_with_speaker("b", "NATO lied", "direct"),
    ])
    result = adjudicate(data, tmp_path / "gold")
    [task] = review_to_labelstudio(result.review, {"d1": TEXT})
    assert task["data"]["doc_id"] == "d1" and task["data"]["text"] == TEXT
    [prediction] = task["predictions"]
    items = prediction["result"]
    labels = [i for i in items if i["type"] == "labels"]
    # the two claim candidates, and the accepted speaker as the endpoint of the relations under review
    assert sorted((i["value"]["text"], i["value"]["labels"][0]) for i in labels) == [
        ("NATO lied", "Claim"), ("NATO lied", "Claim"), ("Putin", "Speaker")]
    for item in labels:
        assert TEXT[item["value"]["start"]:item["value"]["end"]] == item["value"]["text"]
        assert item["from_name"] == "label" and item["to_name"] == "text"
    choices = sorted(i["value"]["choices"][0] for i in items if i.get("from_name") == "quote_type")
    assert choices == ["direct", "indirect"]
    assert [i["value"]["text"] for i in items if i.get("from_name") == "speaker_entity"] == [["Putin"]]
    ids = {i["id"] for i in labels}
    relations = [i for i in items if i["type"] == "relation"]
    assert len(relations) == 1 and all(r["from_id"] in ids and r["to_id"] in ids for r in relations)
    assert all(r["labels"] == ["said_by"] and r["direction"] == "right" for r in relations)
    from_rows = review_to_labelstudio(rows(tmp_path / "gold", "review"), {"d1": TEXT})
    assert from_rows == [task]


def test_cli_adjudicate_success_and_review_tasks(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", {"d1": TEXT}, [
        claim_with_speaker("a", "NATO lied"), claim_with_speaker("b", "NATO lied."),
    ])
    tasks = tmp_path / "review-tasks.json"
    result = runner.invoke(app, ["adjudicate", str(data), "--out", str(tmp_path / "gold"), "--review-tasks",
                                 str(tasks)])
    assert result.exit_code == 0, result.output
    assert "1 by majority" in result.stdout and "review: 4 item(s)" in result.stdout
    assert json.loads(tasks.read_text(encoding="utf-8"))[0]["data"]["doc_id"] == "d1"
    as_json = runner.invoke(app, ["adjudicate", str(data), "--out", str(tmp_path / "gold"), "--format", "json"])
    assert json.loads(as_json.stdout)["review_by_reason"] == {"relation:no_majority": 2, "span:no_majority": 2}


@pytest.mark.parametrize("case", ["missing", "same"])
def test_cli_adjudicate_failures_are_one_line(tmp_path: Path, case: str) -> None:
    data = write_dataset(tmp_path / "data", {"d1": TEXT}, [claim_with_speaker("a", "NATO lied")])
    source = tmp_path / "nope" if case == "missing" else data
    result = runner.invoke(app, ["adjudicate", str(source), "--out", str(data)])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.output
    assert read_table(data, "spans").num_rows == 2  # the input is untouched


def test_review_tasks_are_accepted_by_push_predictions(tmp_path: Path) -> None:
    """`claimset push --predictions` takes the review-tasks file as it is: one prediction per document."""
    from claimset.labelstudio import check_prediction_offsets, read_labelstudio_predictions

    data = write_dataset(tmp_path / "data", {"d1": TEXT}, [
        claim_with_speaker("a", "NATO lied", "indirect"), claim_with_speaker("b", "NATO lied", "direct"),
    ])
    tasks = tmp_path / "review-tasks.json"
    result = runner.invoke(app, ["adjudicate", str(data), "--out", str(tmp_path / "gold"), "--review-tasks",
                                 str(tasks)])
    assert result.exit_code == 0, result.output
    [prediction] = read_labelstudio_predictions(tasks)
    assert prediction.doc_id == "d1" and prediction.model_version == "claimset-adjudication-review"
    assert prediction.result == json.loads(tasks.read_text(encoding="utf-8"))[0]["predictions"][0]["result"]
    check_prediction_offsets(prediction, TEXT)


def test_several_ground_truths_are_reported_by_build_too(tmp_path: Path) -> None:
    """Two ground-truth annotations of one document: the choice is deterministic and said in text output."""
    truth_a = full_annotation("a")
    truth_a.ground_truth = True
    truth_b = claim_with_speaker("b", "NATO lied", "direct")
    truth_b.ground_truth = True
    data = write_dataset(tmp_path / "data", {"d1": TEXT}, [truth_a, truth_b])
    result = CliRunner().invoke(app, ["adjudicate", str(data), "--out", str(tmp_path / "gold")])
    assert result.exit_code == 0
    assert "several ground-truth annotations (the latest updated_at, then the highest id, used): d1" in result.stdout
