"""Scoring: hand-computed cases for every span mode and attribution setting, and nervaluate parity."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from nervaluate import Evaluator
from typer.testing import CliRunner

import claimset.evaluate
from claimset.cli import app
from claimset.errors import ClaimsetError
from claimset.evaluate import (
    as_nervaluate,
    choose_annotations,
    evaluate,
    load_gold,
    score_spans,
    spans_of_records,
)
from claimset.predictions import write_predictions
from goldtables import write_gold

ROOT = Path(__file__).resolve().parents[1]
SCHEME = yaml.safe_load((ROOT / "schema" / "scheme.yaml").read_text(encoding="utf-8"))
LABELS = [span["value"] for span in SCHEME["labels"]["spans"]]
MODES = ("strict", "exact", "partial", "ent_type")
KINDS = ("claim_speaker", "claim_target", "records")
SETTINGS = ("strict", "boundaries", "relaxed")
runner = CliRunner()

TEXT = 'Lavrov accused the West of meddling. "We are fine," the spokesperson said. It rained on Tuesday.'
DOC = "doc-1"


def at(phrase: str) -> dict[str, int]:
    start = TEXT.index(phrase)
    return {"start": start, "end": start + len(phrase)}


GOLD_RECORDS: list[dict[str, Any]] = [
    {"doc_id": DOC, "claim": at("the West of meddling"), "speaker": {**at("Lavrov"), "entity": "Sergey Lavrov"},
     "cue": at("accused"), "targets": [{**at("the West"), "entity": "the West", "stance": "against"}],
     "quote_type": "indirect"},
    {"doc_id": DOC, "claim": at("We are fine"), "speaker": {**at("the spokesperson"), "entity": "MEA spokesperson"},
     "cue": at("said"), "quote_type": "direct"},
]
N_GOLD_SPANS = 7  # 2 claims, 2 speakers, 2 cues, 1 target


@pytest.fixture
def gold_dir(tmp_path: Path) -> Path:
    return write_gold(tmp_path / "gold", {DOC: TEXT}, GOLD_RECORDS)


def run(gold_dir: Path, records: list[dict[str, Any]]) -> dict[str, Any]:
    pred = gold_dir.parent / "pred.jsonl"
    write_predictions(records, pred)
    return evaluate(gold_dir, pred).to_dict()


def counts(score: dict[str, Any]) -> tuple[int, int, int, int, int]:
    return score["correct"], score["incorrect"], score["partial"], score["missed"], score["spurious"]


def prf(score: dict[str, Any]) -> tuple[float, float, float]:
    return score["precision"], score["recall"], score["f1"]


# --- hand-computed cases --------------------------------------------------------------------------


def test_perfect_predictions_score_one_everywhere(gold_dir: Path) -> None:
    report = run(gold_dir, GOLD_RECORDS)
    for mode in MODES:
        assert counts(report["spans"][mode]["overall"]) == (7, 0, 0, 0, 0)
        for label in LABELS:
            assert prf(report["spans"][mode][label]) == (1.0, 1.0, 1.0)
        assert prf(report["macro"][mode]) == (1.0, 1.0, 1.0)
    for kind in KINDS:
        for setting in SETTINGS:
            assert prf(report["attribution"][kind][setting]) == (1.0, 1.0, 1.0)
    assert report["attribution"]["claim_speaker"]["strict"]["correct"] == 2
    assert report["attribution"]["claim_target"]["strict"]["correct"] == 1
    assert report["speaker_entity"] == {"total": 2, "correct": 2, "accuracy": 1.0}
    assert report["quote_type"] == {"total": 2, "correct": 2, "accuracy": 1.0}
    assert [d["doc_id"] for d in report["per_document"]] == [DOC]
    assert report["per_document"][0]["spans"]["strict"]["f1"] == 1.0


def test_gold_side_is_the_spans_worked_out_by_hand(gold_dir: Path) -> None:
    """What the gold contributes to scoring: its spans, and the spans of its records, as read off TEXT by hand."""
    expected = [("Claim", 15, 35), ("Claim", 38, 49), ("Cue", 7, 14), ("Cue", 69, 73), ("Speaker", 0, 6),
                ("Speaker", 52, 68), ("Target", 15, 23)]
    gold = load_gold(gold_dir)
    assert sorted(zip(gold.spans["label"], gold.spans["start"], gold.spans["end"], strict=True)) == expected
    of_records = spans_of_records(gold.records, gold.scheme)
    assert set(of_records["doc_id"]) == {DOC}
    assert sorted(zip(of_records["label"], of_records["start"], of_records["end"], strict=True)) == expected


def test_empty_predictions_miss_everything(gold_dir: Path) -> None:
    report = run(gold_dir, [])
    for mode in MODES:
        overall = report["spans"][mode]["overall"]
        assert counts(overall) == (0, 0, 0, N_GOLD_SPANS, 0)
        assert (overall["possible"], overall["actual"]) == (N_GOLD_SPANS, 0)
        assert prf(overall) == (0.0, 0.0, 0.0)
    assert report["attribution"]["claim_speaker"]["strict"] == {
        "correct": 0, "predicted": 0, "gold": 2, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert report["attribution"]["records"]["relaxed"]["gold"] == 2
    assert report["speaker_entity"]["total"] == 0


def test_all_spurious(gold_dir: Path) -> None:
    report = run(gold_dir, [{"doc_id": DOC, "claim": at("It rained"), "speaker": at("Tuesday")}])
    for mode in MODES:
        overall = report["spans"][mode]["overall"]
        assert counts(overall) == (0, 0, 0, N_GOLD_SPANS, 2)
        assert (overall["possible"], overall["actual"]) == (7, 2)
        assert prf(overall) == (0.0, 0.0, 0.0)
    assert counts(report["spans"]["strict"]["Claim"]) == (0, 0, 0, 2, 1)
    assert counts(report["spans"]["strict"]["Cue"]) == (0, 0, 0, 2, 0)
    assert report["attribution"]["claim_speaker"]["relaxed"]["correct"] == 0


def test_one_partial_overlap(gold_dir: Path) -> None:
    # "meddling" lies inside the gold Claim "the West of meddling" and overlaps nothing else
    report = run(gold_dir, [{"doc_id": DOC, "claim": at("meddling")}])
    spans = report["spans"]
    assert counts(spans["strict"]["overall"]) == (0, 1, 0, 6, 0)
    assert counts(spans["exact"]["overall"]) == (0, 1, 0, 6, 0)
    assert counts(spans["partial"]["overall"]) == (0, 0, 1, 6, 0)
    assert counts(spans["ent_type"]["overall"]) == (1, 0, 0, 6, 0)
    assert prf(spans["strict"]["overall"]) == (0.0, 0.0, 0.0)
    p, r, f = prf(spans["partial"]["overall"])
    assert (p, r) == (0.5, 0.5 / 7) and f == pytest.approx(2 * p * r / (p + r))
    assert prf(spans["ent_type"]["overall"])[:2] == (1.0, 1 / 7)
    assert counts(spans["partial"]["Claim"]) == (0, 0, 1, 1, 0)
    assert prf(spans["partial"]["Claim"])[:2] == (0.5, 0.25)
    # macro over the labels present (all four): Claim partial P = 0.5, the others 0
    assert report["macro"]["partial"]["precision"] == pytest.approx(0.5 / 4)


def test_partial_overlap_consumes_the_first_overlapping_gold_span(gold_dir: Path) -> None:
    # "the West of" overlaps the Target "the West" (listed first: same start, shorter) and the Claim
    report = run(gold_dir, [{"doc_id": DOC, "claim": at("the West of")}])
    spans = report["spans"]
    assert counts(spans["strict"]["overall"]) == (0, 1, 0, 6, 0)  # nervaluate: INC against the Target
    assert counts(spans["ent_type"]["overall"]) == (1, 0, 0, 6, 0)  # same label wins: the Claim
    assert counts(spans["strict"]["Target"]) == (0, 0, 0, 1, 0)
    assert counts(spans["strict"]["Claim"]) == (0, 1, 0, 1, 0)


def test_wrong_type(gold_dir: Path) -> None:
    # the gold Speaker "Lavrov" predicted as a Claim
    report = run(gold_dir, [{"doc_id": DOC, "claim": at("Lavrov")}])
    spans = report["spans"]
    assert counts(spans["strict"]["overall"]) == (0, 1, 0, 6, 0)
    assert counts(spans["exact"]["overall"]) == (1, 0, 0, 6, 0)
    assert counts(spans["partial"]["overall"]) == (1, 0, 0, 6, 0)
    assert counts(spans["ent_type"]["overall"]) == (0, 1, 0, 6, 0)
    assert counts(spans["strict"]["Claim"]) == (0, 0, 0, 2, 1)
    assert counts(spans["strict"]["Speaker"]) == (0, 0, 0, 2, 0)


def test_swapped_direction_does_not_count(gold_dir: Path) -> None:
    swapped = [{"doc_id": DOC, "claim": at("Lavrov"), "speaker": at("the West of meddling")},
               {"doc_id": DOC, "claim": at("the spokesperson"), "speaker": at("We are fine")}]
    report = run(gold_dir, swapped)
    for setting in SETTINGS:
        assert report["attribution"]["claim_speaker"][setting]["correct"] == 0
        assert report["attribution"]["claim_speaker"][setting]["predicted"] == 2
        assert report["attribution"]["records"][setting]["correct"] == 0
    assert report["speaker_entity"]["total"] == 0
    # as spans, boundaries are right and labels wrong
    assert report["spans"]["exact"]["overall"]["correct"] == 4


def test_attribution_settings(gold_dir: Path) -> None:
    first, second = GOLD_RECORDS
    wrong_stance = {**first, "targets": [{**at("the West"), "stance": "about"}]}
    shifted_claim = {**second, "claim": at("We are"), "speaker": {**at("the spokesperson"), "entity": "x"}}
    report = run(gold_dir, [wrong_stance, shifted_claim])
    attribution = report["attribution"]
    assert attribution["claim_target"]["strict"]["correct"] == 0
    assert attribution["claim_target"]["boundaries"]["correct"] == 1
    assert attribution["claim_target"]["relaxed"]["correct"] == 0  # stance must agree
    assert attribution["claim_speaker"]["strict"]["correct"] == 1
    assert attribution["claim_speaker"]["boundaries"]["correct"] == 1
    assert attribution["claim_speaker"]["relaxed"]["correct"] == 2  # "We are" overlaps "We are fine"
    assert attribution["records"]["strict"]["correct"] == 0
    assert attribution["records"]["boundaries"]["correct"] == 1
    assert attribution["records"]["relaxed"]["correct"] == 1
    assert prf(attribution["records"]["boundaries"]) == (0.5, 0.5, 0.5)
    assert report["speaker_entity"] == {"total": 1, "correct": 1, "accuracy": 1.0}


def test_speaker_entity_is_case_and_space_insensitive(gold_dir: Path) -> None:
    first, second = GOLD_RECORDS
    report = run(gold_dir, [
        {**first, "speaker": {**at("Lavrov"), "entity": "  sergey   LAVROV "}, "quote_type": "direct"},
        {**second, "speaker": {**at("the spokesperson"), "entity": "spokesperson"}},
    ])
    assert report["speaker_entity"] == {"total": 2, "correct": 1, "accuracy": 0.5}
    assert report["quote_type"] == {"total": 2, "correct": 1, "accuracy": 0.5}


def test_duplicate_predicted_spans_count_once(gold_dir: Path) -> None:
    first, _ = GOLD_RECORDS
    report = run(gold_dir, [first, first])
    assert counts(report["spans"]["strict"]["overall"]) == (4, 0, 0, 3, 0)
    assert report["attribution"]["claim_speaker"]["strict"]["predicted"] == 1


def test_predictions_for_unannotated_documents_are_ignored(tmp_path: Path) -> None:
    gold_dir = write_gold(tmp_path / "gold", {DOC: TEXT, "doc-2": TEXT}, GOLD_RECORDS)
    # doc-2 has no annotation: drop its annotation row
    table = pq.read_table(gold_dir / "annotations.parquet")
    pq.write_table(table.filter(pc.equal(table["doc_id"], DOC)), gold_dir / "annotations.parquet")
    report = run(gold_dir, [*GOLD_RECORDS, {"doc_id": "doc-2", "claim": at("It rained")}])
    assert report["ignored_documents"] == ["doc-2"]
    assert report["spans"]["strict"]["overall"]["f1"] == 1.0


# --- gold loading ---------------------------------------------------------------------------------


def _annotation(aid: int, status: str = "submitted", truth: bool = False) -> dict[str, Any]:
    return {"annotation_id": aid, "task_id": 1, "doc_id": DOC, "annotator": "ls-user-1", "status": status,
            "ground_truth": truth, "created_at": None, "updated_at": None, "lead_time": None, "n_regions": 0,
            "n_relations": 0}


def test_choose_annotations() -> None:
    frame = pd.DataFrame([_annotation(1), _annotation(2, truth=True), _annotation(3, status="cancelled")])
    assert choose_annotations(frame) == {DOC: 2}
    assert choose_annotations(pd.DataFrame([_annotation(1), _annotation(3, "cancelled")])) == {DOC: 1}
    with pytest.raises(ClaimsetError, match=r"^doc doc-1 has 2 submitted annotations; adjudicate first "
                                            r"\(claimset adjudicate\)$"):
        choose_annotations(pd.DataFrame([_annotation(1), _annotation(2)]))


def test_gold_records_follow_relations(gold_dir: Path) -> None:
    gold = load_gold(gold_dir)
    assert gold.records == GOLD_RECORDS
    assert sorted(gold.spans["label"]) == sorted(["Claim", "Claim", "Speaker", "Speaker", "Cue", "Cue", "Target"])


def test_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(ClaimsetError, match=r"documents\.parquet not found"):
        load_gold(tmp_path)


# --- parity with nervaluate -----------------------------------------------------------------------


def nervaluate_counts(gold: pd.DataFrame, pred: pd.DataFrame, docs: list[str],
                      min_overlap: float = 1.0) -> dict[str, Any]:
    result: dict[str, Any] = Evaluator(as_nervaluate(gold, docs), as_nervaluate(pred, docs), tags=LABELS,
                                       loader="dict", min_overlap_percentage=min_overlap).evaluate()
    return result


def assert_same_as_nervaluate(gold: pd.DataFrame, pred: pd.DataFrame, docs: list[str],
                              min_overlap: float = 1.0) -> None:
    ours = score_spans(gold, pred, LABELS, docs, min_overlap)
    theirs = nervaluate_counts(gold, pred, docs, min_overlap)
    fields = ("correct", "incorrect", "partial", "missed", "spurious", "possible", "actual", "precision", "recall",
              "f1")
    for mode in MODES:
        expected = theirs["overall"].get(mode)
        mine = ours.overall_score(mode)
        if expected is None:  # nervaluate reports nothing for a corpus without documents
            continue
        assert tuple(getattr(mine, f) for f in fields) == tuple(getattr(expected, f) for f in fields), mode
        for label in LABELS:
            mine = ours.label_score(mode, label)
            if label not in theirs["entities"]:
                assert mine.possible == mine.actual == 0
                continue
            expected = theirs["entities"][label][mode]
            assert tuple(getattr(mine, f) for f in fields) == tuple(getattr(expected, f) for f in fields), \
                (mode, label)
    assert set(ours.used_labels) == set(theirs["entities"])


def random_spans(rng: random.Random, docs: list[str], most: int, length: int = 120) -> pd.DataFrame:
    rows = []
    for doc in docs:
        for _ in range(rng.randint(0, most)):
            start = rng.randint(0, length)
            rows.append((doc, rng.choice(LABELS), start, start + rng.choice([1, 2, 3, 5, 8, 20, 60, 150, 400])))
    return pd.DataFrame(rows, columns=["doc_id", "label", "start", "end"])


@pytest.mark.parametrize("rounds", [0, 1, 12])  # 0: every contested prediction replays nervaluate's loop
@pytest.mark.parametrize("seed", range(30))
def test_same_counts_as_nervaluate_seeded(seed: int, rounds: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(claimset.evaluate, "MAX_ROUNDS", rounds)
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(rng.randint(1, 5))]
    gold = random_spans(rng, docs, rng.choice([2, 6, 25]))
    pred = random_spans(rng, docs, rng.choice([2, 6, 25]))
    # unsorted, overlapping, duplicated spans: nervaluate's order-dependent greedy must be reproduced
    pred = pd.concat([pred, pred.sample(frac=0.2, random_state=seed)], ignore_index=True)
    assert_same_as_nervaluate(gold, pred, docs, rng.choice([1.0, 1.0, 25.0, 100.0]))


span = st.tuples(st.sampled_from(LABELS), st.integers(0, 40), st.integers(1, 30))
document = st.lists(span, max_size=12)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(document, document), min_size=1, max_size=4), st.sampled_from([1.0, 10.0, 50.0, 100.0]))
def test_same_counts_as_nervaluate_hypothesis(docs: list[tuple[list[Any], list[Any]]], min_overlap: float) -> None:
    names = [f"d{i}" for i in range(len(docs))]

    def frame(side: int) -> pd.DataFrame:
        rows = [(name, label, start, start + size) for name, pair in zip(names, docs, strict=True)
                for label, start, size in pair[side]]
        return pd.DataFrame(rows, columns=["doc_id", "label", "start", "end"])

    assert_same_as_nervaluate(frame(0), frame(1), names, min_overlap)


def test_evaluate_matches_nervaluate_on_records(tmp_path: Path) -> None:
    rng = random.Random(7)
    text = "x" * 400
    texts = {f"d{i}": text for i in range(4)}

    def mention(stance: bool = False) -> dict[str, Any]:
        start = rng.randint(0, 380)
        found: dict[str, Any] = {"start": start, "end": start + rng.randint(1, 19)}
        if stance:
            found["stance"] = rng.choice(["against", "supports", "about"])
        return found

    def records() -> list[dict[str, Any]]:
        return [{"doc_id": doc, "claim": mention(), "speaker": mention(), "cue": mention(),
                 "targets": [mention(True) for _ in range(rng.randint(0, 2))]}
                for doc in texts for _ in range(rng.randint(0, 8))]

    gold_records, pred_records = records(), records()
    gold_dir = write_gold(tmp_path / "gold", texts, gold_records)
    report = run(gold_dir, pred_records)
    gold = load_gold(gold_dir)
    gold_spans = gold.spans.sort_values(["doc_id", "start", "end", "label"])[["doc_id", "label", "start", "end"]]
    theirs = nervaluate_counts(gold_spans, spans_of_records(pred_records, gold.scheme), gold.doc_ids)
    for mode in MODES:
        expected = theirs["overall"][mode]
        assert counts(report["spans"][mode]["overall"]) == (
            expected.correct, expected.incorrect, expected.partial, expected.missed, expected.spurious)


def test_score_spans_rejects_bad_overlap_threshold() -> None:
    empty = pd.DataFrame(columns=["doc_id", "label", "start", "end"])
    with pytest.raises(ClaimsetError, match=r"^min_overlap_percentage must be between 1\.0 and 100\.0$"):
        score_spans(empty, empty, LABELS, [], 0.5)


# --- CLI ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("output_format", ["text", "json", "markdown"])
def test_cli_evaluate_formats(gold_dir: Path, output_format: str) -> None:
    pred = gold_dir.parent / "pred.jsonl"
    write_predictions(GOLD_RECORDS, pred)
    result = runner.invoke(app, ["evaluate", "--gold", str(gold_dir), "--pred", str(pred),
                                 "--format", output_format])
    assert result.exit_code == 0, result.output
    if output_format == "json":
        assert json.loads(result.stdout)["spans"]["strict"]["overall"]["f1"] == 1.0
    elif output_format == "markdown":
        assert "| strict | overall | 7 | 0 | 0 | 0 | 0 | 7 | 7 | 100.0 | 100.0 | 100.0 |" in result.stdout
    else:
        assert "attribution" in result.stdout and "100.0" in result.stdout


def test_cli_evaluate_bad_predictions_fail_with_one_line(gold_dir: Path) -> None:
    pred = gold_dir.parent / "pred.jsonl"
    pred.write_text('{"doc_id": "doc-1", "claim": {"start": 0, "end": 6}}\n{"doc_id": "nope", "claim": '
                    '{"start": 0, "end": 6}}\n', encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "--gold", str(gold_dir), "--pred", str(pred)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert lines == [f"Error: {pred}:2: unknown doc_id 'nope'"]


def test_cli_evaluate_unadjudicated_gold(tmp_path: Path) -> None:
    gold_dir = write_gold(tmp_path / "gold", {DOC: TEXT}, GOLD_RECORDS,
                          annotations=[{**_annotation(100)}, {**_annotation(101)}])
    pred = tmp_path / "pred.jsonl"
    write_predictions([], pred)
    result = runner.invoke(app, ["evaluate", "--gold", str(gold_dir), "--pred", str(pred)])
    assert result.exit_code == 1
    assert result.stderr.strip() == ("Error: doc doc-1 has 2 submitted annotations; adjudicate first "
                                     "(claimset adjudicate)")
