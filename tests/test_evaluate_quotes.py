"""Scoring predictions that give spans by quote and speakers or targets by entity: anchoring in the report,
entity-level attribution through the gold's aliases, claim token F1, and equal scores for the two forms."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from claimset.cli import app
from claimset.evaluate import evaluate
from claimset.extract import extract
from claimset.predictions import write_predictions
from claimset.quotes import quote_records
from claimset.seeds import Document, sha256_text
from claimset.textlevel import squad_tokens, token_f1
from goldtables import write_gold

ROOT = Path(__file__).resolve().parents[1]
DOC = "doc-1"
TEXT = ("Sergey Lavrov accused the West of meddling. “We’re fine,” the spokesperson said. "
        "The veteran Foreign Minister said the West was lying. Lavrov said the West was lying.")
SECOND = TEXT.index("the West was lying", TEXT.index("Lavrov said"))


def at(phrase: str, after: int = 0) -> dict[str, int]:
    start = TEXT.index(phrase, after)
    return {"start": start, "end": start + len(phrase)}


GOLD: list[dict[str, Any]] = [
    {"doc_id": DOC, "claim": at("the West of meddling"), "speaker": {**at("Sergey Lavrov"), "entity": "Sergey Lavrov"},
     "cue": at("accused"), "targets": [{**at("the West"), "entity": "the West", "stance": "against"}],
     "quote_type": "indirect"},
    {"doc_id": DOC, "claim": at("We’re fine"), "speaker": {**at("the spokesperson"), "entity": "MEA spokesperson"},
     "cue": at("said"), "quote_type": "direct"},
    {"doc_id": DOC, "claim": at("the West was lying"),
     "speaker": {**at("The veteran Foreign Minister"), "entity": "Sergey Lavrov"},
     "targets": [{**at("the West", TEXT.index("Minister")), "entity": "the West", "stance": "against"}],
     "quote_type": "indirect"},
    {"doc_id": DOC, "claim": at("the West was lying", SECOND),
     "speaker": {**at("Lavrov", 90), "entity": "Sergey Lavrov"}, "quote_type": "indirect"},
]
N_GOLD_SPANS = 12  # 4 claims, 4 speakers, 2 cues, 2 targets


@pytest.fixture
def gold_dir(tmp_path: Path) -> Path:
    return write_gold(tmp_path / "gold", {DOC: TEXT}, GOLD)


def run(gold_dir: Path, records: list[dict[str, Any]], name: str = "pred.jsonl") -> dict[str, Any]:
    pred = gold_dir.parent / name
    write_predictions(records, pred)
    return evaluate(gold_dir, pred).to_dict()


def counts(score: dict[str, Any]) -> tuple[int, ...]:
    return tuple(score[key] for key in ("correct", "incorrect", "partial", "missed", "spurious"))


def scores(report: dict[str, Any]) -> dict[str, Any]:
    """Everything that is a score: the report without the file name and how its spans were placed."""
    return {key: value for key, value in report.items() if key not in ("predictions", "anchoring")}


def test_the_gold_by_quote_scores_as_the_gold_by_offsets(gold_dir: Path) -> None:
    by_offsets = run(gold_dir, GOLD, "offsets.jsonl")
    by_quotes = run(gold_dir, quote_records(GOLD, {DOC: TEXT}), "quotes.jsonl")
    assert scores(by_quotes) == scores(by_offsets)
    assert by_quotes["spans"]["strict"]["overall"]["f1"] == 1.0
    assert by_quotes["anchoring"] == {"offsets": 0, "exact": N_GOLD_SPANS, "normalised": 0, "elided": 0,
                                      "not_found": 0, "ambiguous": 0}
    assert by_offsets["anchoring"]["offsets"] == N_GOLD_SPANS


def test_a_straight_quote_for_a_curly_one_anchors_after_normalisation(gold_dir: Path) -> None:
    report = run(gold_dir, [{"doc_id": DOC, "claim": {"quote": "We're fine"}, "quote_type": "direct"}])
    assert report["anchoring"]["normalised"] == 1
    assert counts(report["spans"]["strict"]["Claim"]) == (1, 0, 0, 3, 0)
    assert report["quote_type"] == {"total": 1, "correct": 1, "accuracy": 1.0}
    assert report["unanchored"] == []


def test_a_phrase_that_occurs_twice_is_ambiguous_without_context(gold_dir: Path) -> None:
    speaker = {"quote": "Lavrov", "prefix": "lying. ", "entity": "Lavrov"}  # "Lavrov" alone is in "Sergey Lavrov" too
    bare = {"doc_id": DOC, "claim": {"quote": "the West was lying"}, "speaker": speaker}
    with_prefix = {**bare, "claim": {"quote": "the West was lying", "prefix": "Lavrov said "}}
    report = run(gold_dir, [bare, with_prefix])
    assert report["unanchored"] == [{
        "doc_id": DOC, "line": 1, "mention": "claim", "quote": "the West was lying", "prefix": None, "suffix": None,
        "anchoring": "ambiguous", "places": 2,
    }]
    assert report["anchoring"] == {"offsets": 0, "exact": 3, "normalised": 0, "elided": 0, "not_found": 0,
                                   "ambiguous": 1}
    # the ambiguous claim is one spurious Claim; the anchored one is correct; the speaker (twice) once, correct
    assert counts(report["spans"]["strict"]["Claim"]) == (1, 0, 0, 3, 1)
    assert counts(report["spans"]["strict"]["Speaker"]) == (1, 0, 0, 3, 0)
    # two predicted claim-speaker pairs (one without a place), one right
    assert report["attribution"]["claim_speaker"]["strict"] == {
        "correct": 1, "predicted": 2, "gold": 4, "precision": 0.5, "recall": 0.25, "f1": pytest.approx(1 / 3)}
    assert report["entity_attribution"]["claim_speaker"]["correct"] == 1
    assert report["entity_attribution"]["claim_speaker"]["predicted"] == 2


def test_a_quote_absent_from_the_text_is_listed_and_spurious(gold_dir: Path) -> None:
    report = run(gold_dir, [
        {"doc_id": DOC, "claim": {"quote": "the East was lying"},
         "targets": [{"quote": "the West", "stance": "about"}]},
        GOLD[0],
    ])
    assert [(q["line"], q["mention"], q["anchoring"], q["places"]) for q in report["unanchored"]] == [
        (1, "claim", "not_found", 0), (1, "targets[0]", "ambiguous", 3)]
    for mode in ("strict", "exact", "partial", "ent_type"):
        assert report["spans"][mode]["Claim"]["spurious"] == 1
        assert report["spans"][mode]["overall"]["actual"] == 4 + 1 + 1  # GOLD[0]'s four spans, the claim, "the West"
    assert report["anchoring"]["ambiguous"] == 1  # "the West" alone occurs three times
    assert report["attribution"]["claim_target"]["strict"]["predicted"] == 2
    assert report["attribution"]["records"]["relaxed"] == {
        "correct": 1, "predicted": 2, "gold": 4, "precision": 0.5, "recall": 0.25, "f1": pytest.approx(1 / 3)}


def test_the_report_lists_unanchored_quotes_by_line(gold_dir: Path) -> None:
    pred = gold_dir.parent / "pred.jsonl"
    write_predictions([GOLD[1], {"doc_id": DOC, "claim": {"quote": "nowhere to be seen"}}], pred)
    result = CliRunner().invoke(app, ["evaluate", "--gold", str(gold_dir), "--pred", str(pred), "-f", "markdown"])
    assert result.exit_code == 0, result.output
    assert "Spans: 3 by offsets, 1 by quote (0 exact, 0 normalised, 0 elided, 1 not_found, 0 ambiguous)." \
        in result.stdout
    assert "| line 2: claim | nowhere to be seen | not_found | 0 |" in result.stdout
    result = CliRunner().invoke(app, ["evaluate", "--gold", str(gold_dir), "--pred", str(pred)])
    assert result.exit_code == 0 and "quotes not anchored" in result.stdout


def test_speakers_given_by_entity_alone_are_scored_at_the_entity_level(gold_dir: Path) -> None:
    records = [
        {"doc_id": DOC, "claim": {"quote": "the West was lying", "prefix": "Minister said "},
         "speaker": {"entity": "Lavrov"}},  # an alias: the gold's mention text
        {"doc_id": DOC, "claim": at("the West was lying", SECOND),
         "speaker": {"entity": "The veteran Foreign Minister"}},  # another alias of the same entity
        {"doc_id": DOC, "claim": {"quote": "Lavrov accused the West"},  # overlaps the gold claim
         "speaker": {"entity": "  sergey   LAVROV "}},  # the canonical name, case and spaces aside
        {"doc_id": DOC, "claim": {"quote": "We’re fine"}, "speaker": {"entity": "Lavrov"}},  # the wrong speaker
    ]
    report = run(gold_dir, records)
    assert report["entity_attribution"]["claim_speaker"] == {
        "correct": 3, "predicted": 4, "gold": 4, "precision": 0.75, "recall": 0.75, "f1": 0.75}
    assert report["entity_names"] == {"canonical": 1, "alias": 3, "ambiguous": 0, "unknown": 0}
    # without a span, the speakers make no span-level pairs and no Speaker spans
    assert report["attribution"]["claim_speaker"]["strict"]["predicted"] == 0
    assert report["spans"]["strict"]["Speaker"]["actual"] == 0
    # but a full record with a speaker given alone matches no gold record
    assert report["attribution"]["records"]["relaxed"]["correct"] == 0
    assert report["speaker_entity"] == {"total": 3, "correct": 0, "accuracy": 0.0}  # compares canonical names only


def test_targets_given_by_entity_alone_need_the_stance_too(gold_dir: Path) -> None:
    claim = {"quote": "the West of meddling"}
    records = [
        {"doc_id": DOC, "claim": claim, "targets": [{"entity": "West", "stance": "against"}]},
        {"doc_id": DOC, "claim": at("the West was lying"), "targets": [{"entity": "the West"}]},  # about
        {"doc_id": DOC, "claim": at("the West was lying", SECOND),
         "targets": [{"entity": "Russia", "stance": "against"}]},
    ]
    report = run(gold_dir, records)
    assert report["entity_attribution"]["claim_target"] == {
        "correct": 1, "predicted": 3, "gold": 2, "precision": 1 / 3, "recall": 0.5, "f1": pytest.approx(0.4)}
    assert report["entity_names"]["unknown"] == 1
    assert report["attribution"]["claim_target"]["strict"]["predicted"] == 0


def test_entity_level_items_are_distinct_and_paired_one_to_one(gold_dir: Path) -> None:
    record = {"doc_id": DOC, "claim": {"quote": "Lavrov said the West was lying"}, "speaker": {"entity": "Lavrov"}}
    report = run(gold_dir, [record, record])  # the same item twice counts once
    assert report["entity_attribution"]["claim_speaker"] == {
        "correct": 1, "predicted": 1, "gold": 4, "precision": 1.0, "recall": 0.25, "f1": 0.4}
    # one predicted claim overlapping two gold claims of the same speaker matches one of them
    wide = {"doc_id": DOC, "claim": {"quote": "Foreign Minister said the West was lying. Lavrov said the West"},
            "speaker": {"entity": "Sergey Lavrov"}}
    assert run(gold_dir, [wide])["entity_attribution"]["claim_speaker"]["correct"] == 1


def test_a_name_of_two_entities_matches_neither_and_is_listed(tmp_path: Path) -> None:
    text = "The minister met the minister. Lavrov said talks failed. Jaishankar said talks went well."
    first = text.index("the minister")
    records = [
        {"doc_id": DOC, "claim": {"start": text.index("talks failed"), "end": text.index("talks failed") + 12},
         "speaker": {"start": text.index("Lavrov"), "end": text.index("Lavrov") + 6, "entity": "Sergey Lavrov"},
         "targets": [{"start": 0, "end": 12, "entity": "Sergey Lavrov", "stance": "about"}]},
        {"doc_id": DOC, "claim": {"start": text.index("talks went"), "end": text.index("talks went") + 15},
         "speaker": {"start": text.index("Jaishankar"), "end": text.index("Jaishankar") + 10,
                     "entity": "Subrahmanyam Jaishankar"},
         "targets": [{"start": first, "end": first + 12, "entity": "Subrahmanyam Jaishankar", "stance": "about"}]},
    ]
    gold_dir = write_gold(tmp_path / "gold", {DOC: text}, records)
    pred = [{"doc_id": DOC, "claim": {"quote": "talks failed"}, "speaker": {"entity": "the Minister"}},
            {"doc_id": DOC, "claim": {"quote": "talks went well"}, "speaker": {"entity": "Jaishankar"}}]
    write_predictions(pred, tmp_path / "pred.jsonl")
    report = evaluate(gold_dir, tmp_path / "pred.jsonl").to_dict()
    assert report["ambiguous_names"] == [{"doc_id": DOC, "line": 1, "mention": "speaker", "name": "the Minister",
                                          "match": "ambiguous",
                                          "entities": ["Sergey Lavrov", "Subrahmanyam Jaishankar"]}]
    assert report["entity_attribution"]["claim_speaker"]["correct"] == 1  # Jaishankar's; "the Minister" matches none
    assert report["entity_names"] == {"canonical": 0, "alias": 1, "ambiguous": 1, "unknown": 0}


def test_the_veteran_foreign_minister_and_lavrov_are_the_same_speaker_in_the_gold(tmp_path: Path) -> None:
    """On the seed article's gold: the speaker is named "The veteran Foreign Minister" in one claim and
    "Lavrov" in another; either name, or the canonical one, finds Sergey Lavrov."""
    seed = "000_666aa4b0ee0165a8"
    pred = [
        {"doc_id": seed, "claim": {"quote": "the US is putting very tough pressure on Delhi"},  # gold: The veteran ...
         "speaker": {"entity": "Lavrov"}, "targets": [{"entity": "the US", "stance": "against"},
                                                      {"entity": "Delhi", "stance": "about"}]},
        {"doc_id": seed, "claim": {"quote": "the West of engaging India against China"},  # gold: Lavrov
         "speaker": {"entity": "The veteran Foreign Minister"}},
        {"doc_id": seed, "claim": {"quote": "the West particularly the USA of trying"},
         "speaker": {"entity": "Sergey Lavrov"}},
    ]
    write_predictions(pred, tmp_path / "pred.jsonl")
    report = evaluate(ROOT / "annotations" / "gold", tmp_path / "pred.jsonl").to_dict()
    assert report["unanchored"] == []
    assert report["entity_attribution"]["claim_speaker"]["correct"] == 3
    assert report["entity_attribution"]["claim_target"]["correct"] == 2  # the US and Delhi, as India


def test_claim_token_f1_is_squads() -> None:
    assert squad_tokens("The West’s “claims”, said a U.S. official!") == ["wests", "claims", "said", "us", "official"]
    assert token_f1("accused the West of", "the West of meddling") == pytest.approx(2 / 3)
    assert token_f1("the", "a") == 1.0  # no tokens on either side
    assert token_f1("the West", "the") == 0.0


def test_claim_token_f1_pairs_overlapping_claims(gold_dir: Path) -> None:
    records = [
        {"doc_id": DOC, "claim": {"quote": "accused the West of"}},  # 2/3 against "the West of meddling"
        {"doc_id": DOC, "claim": {"quote": "We’re fine,” the spokesperson"}},  # "the" is not a token
        {"doc_id": DOC, "claim": {"quote": "missing entirely"}},
    ]
    token = run(gold_dir, records)["claim_token_f1"]
    we_are_fine = 2 * (2 / 3) * 1 / (2 / 3 + 1)  # predicted "were fine spokesperson", gold "were fine"
    assert (token["matched"], token["predicted"], token["gold"]) == (2, 3, 4)
    assert [pair["f1"] for pair in token["pairs"]] == [pytest.approx(2 / 3), pytest.approx(we_are_fine)]
    assert token["mean"] == pytest.approx((2 / 3 + we_are_fine) / 2)
    assert token["pairs"][0]["gold"] == at("the West of meddling")


def test_each_claim_is_paired_once_best_first(gold_dir: Path) -> None:
    records = [{"doc_id": DOC, "claim": {"quote": "said the West was lying. Lavrov"}},
               {"doc_id": DOC, "claim": {"quote": "the West was lying. Lavrov said the West was lying"}}]
    pairs = run(gold_dir, records)["claim_token_f1"]["pairs"]
    assert [(pair["gold"]["start"], pair["predicted"]["start"]) for pair in pairs] == [
        (TEXT.index("the West was lying"), TEXT.index("said the West was lying")),
        (SECOND, TEXT.index("the West was lying")),
    ]


# --- the two forms score the same wherever anchoring is exact -----------------------------------------


def random_records(rng: random.Random, text: str, doc_id: str, count: int) -> list[dict[str, Any]]:
    def mention(**extra: Any) -> dict[str, Any]:
        start, end = 0, 0
        while not text[start:end].strip():  # a quote holds text (offsets may cover only white space)
            start = rng.randrange(0, len(text) - 1)
            end = rng.randint(start + 1, min(len(text), start + 30))
        return {"start": start, "end": end, **extra}

    return [{"doc_id": doc_id, "claim": mention(), "speaker": mention(entity=rng.choice(["Lavrov", "Sergey Lavrov"])),
             "cue": mention(), "targets": [mention(stance=rng.choice(["against", "about"]), entity="the West")
                                           for _ in range(rng.randint(0, 2))],
             "quote_type": rng.choice(["direct", "indirect"])}
            for _ in range(count)]


@pytest.mark.parametrize("seed", range(12))
def test_offsets_and_quotes_score_identically_where_anchoring_is_exact(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    texts = {"d1": TEXT, "d2": "India said no. Russia said no. China said yes. India said no again."}
    gold = [record for doc, text in texts.items() for record in random_records(rng, text, doc, rng.randint(1, 6))]
    pred = [record for doc, text in texts.items() for record in random_records(rng, text, doc, rng.randint(0, 6))]
    pred += rng.sample(gold, k=min(3, len(gold)))  # some right answers
    gold_dir = write_gold(tmp_path / "gold", texts, gold)
    by_offsets = run(gold_dir, pred, "offsets.jsonl")
    quoted = quote_records(pred, texts)
    by_quotes = run(gold_dir, quoted, "quotes.jsonl")
    assert by_quotes["anchoring"]["ambiguous"] == 0
    assert by_quotes["anchoring"]["exact"] == by_offsets["anchoring"]["offsets"] > 0
    assert scores(by_quotes) == scores(by_offsets)
    assert json.dumps(scores(by_quotes), sort_keys=True) == json.dumps(scores(by_offsets), sort_keys=True)


PARAGRAPH = 'Minister Bob Smith said "the economy is strong and growing fast" at the meeting on Monday in the capital.'


@pytest.mark.parametrize("copies", [2, 3])
def test_the_baseline_by_quote_scores_as_by_offsets_on_a_repeated_paragraph(tmp_path: Path, copies: int) -> None:
    """A paragraph repeated word for word: a speaker at the very start of the text has an empty prefix, which
    agrees with every later copy too, so its selector needs more suffix than the gold's 32 code points."""
    text = "\n\n".join([PARAGRAPH] * copies)
    claim = text.index("the economy")
    gold = [{"doc_id": "dup", "claim": {"start": claim, "end": claim + 38},
             "speaker": {"start": 9, "end": 18, "entity": "Bob Smith"}, "cue": {"start": 19, "end": 23},
             "quote_type": "direct"}]  # annotated in the first copy only
    gold_dir = write_gold(tmp_path / "gold", {"dup": text}, gold)
    document = Document(doc_id="dup", published=__import__("datetime").date(2024, 1, 2), text=text,
                        text_sha256=sha256_text(text), source_file="seeds/dup.txt")
    baseline = extract([document])
    assert len(baseline) == copies
    by_offsets = run(gold_dir, baseline, "offsets.jsonl")
    by_quotes = run(gold_dir, quote_records(baseline, {"dup": text}), "quotes.jsonl")
    assert by_quotes["anchoring"]["ambiguous"] == by_quotes["anchoring"]["not_found"] == 0
    assert by_quotes["anchoring"]["exact"] == by_offsets["anchoring"]["offsets"] == 3 * copies
    assert scores(by_quotes) == scores(by_offsets)
    assert by_offsets["spans"]["strict"]["Claim"]["f1"] > 0


@pytest.mark.parametrize("target", [{"entity": "?"}, {"entity": "..."}, {"entity": "!!!"}, {"quote": "!!!"}],
                         ids=["entity ?", "entity ...", "entity !!!", "quote !!!"])
def test_a_name_of_punctuation_only_matches_no_entity(tmp_path: Path, target: dict[str, str]) -> None:
    """A gold target named "!!!" normalises to nothing, as does any name of punctuation only: none of them
    names it (or anything), so the target is unknown and earns nothing."""
    text = "Ali said the ??? about !!! today."
    gold = [{"doc_id": DOC, "claim": {"start": 9, "end": 16}, "speaker": {"start": 0, "end": 3, "entity": "Ali"},
             "cue": {"start": 4, "end": 8}, "targets": [{"start": 23, "end": 26, "entity": "!!!", "stance": "about"}]}]
    gold_dir = write_gold(tmp_path / "gold", {DOC: text}, gold)
    pred = [{"doc_id": DOC, "claim": {"quote": "the ???"}, "targets": [target]},
            {"doc_id": DOC, "claim": {"quote": "the ???"}, "speaker": {"entity": "Ali"}}]
    report = run(gold_dir, pred)
    assert report["entity_names"] == {"canonical": 1, "alias": 0, "ambiguous": 0, "unknown": 1}
    assert report["entity_attribution"]["claim_target"]["correct"] == 0
    assert report["entity_attribution"]["claim_speaker"]["correct"] == 1
