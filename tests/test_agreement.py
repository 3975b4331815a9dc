"""Agreement between annotators: hand-computed values on small synthetic datasets, and the CLI."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from claimset.agreement import agreement, cohen_kappa, tokenize
from claimset.cli import app
from multiannotator import TEXT, Ann, at, full_annotation, write_dataset

runner = CliRunner()


def second_annotation(text: str = TEXT) -> Ann:
    """Differs from :func:`full_annotation` in: claim 1 quote type (direct), no cue, claim 2 said_by
    Putin and stance ``about``, claim 3 boundary (starts at "that"), Merkel's entity name."""
    return (
        Ann("b")
        .span("c1", "Claim", at(text, "NATO lied"), "direct").span("s1", "Speaker", at(text, "Putin"), None, "putin")
        .span("t1", "Target", at(text, "NATO"), None, "NATO").rel("c1", "s1", "said_by").rel("c1", "t1", "against")
        .span("c2", "Claim", at(text, "Russia cheated"), "indirect")
        .span("s2", "Speaker", at(text, "Biden"), None, " Biden ")
        .span("t2", "Target", at(text, "Russia"), None, "Russia").rel("c2", "s1", "said_by").rel("c2", "t2", "about")
        .span("c3", "Claim", at(text, "that Europe must act"), "indirect")
        .span("s3", "Speaker", at(text, "Macron"), None, "Macron").rel("c3", "s3", "said_by")
        .span("c4", "Claim", at(text, "we agree"), "direct")
        .span("s4", "Speaker", at(text, "Merkel"), None, "Angela Merkel").rel("c4", "s4", "said_by")
    )


@pytest.fixture
def hand_case(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "data", {"d1": TEXT}, [full_annotation("a"), second_annotation()])


def test_tokens_are_words_and_single_punctuation_in_code_points() -> None:
    text = 'Él dijo: «sí».'
    assert [text[s:e] for s, e in tokenize(text)] == ["Él", "dijo", ":", "«", "sí", "»", "."]
    assert len(tokenize(TEXT)) == 24


def test_identical_annotators_agree_perfectly(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", {"d1": TEXT}, [full_annotation("a"), full_annotation("b")])
    overall = agreement(data).overall.to_dict()
    for mode in ("exact", "overlap"):
        assert {label: v["f1"] for label, v in overall["spans"][mode].items()} == {
            "overall": 1.0, "Claim": 1.0, "Speaker": 1.0, "Cue": 1.0, "Target": 1.0}
    assert overall["alpha"] == {"tokens": 24, "overall": 1.0, "Claim": 1.0, "Speaker": 1.0, "Cue": 1.0,
                                "Target": 1.0}
    assert overall["kappa"]["quote_type"]["kappa"] == 1.0
    assert overall["kappa"]["entity"]["kappa"] == 1.0
    assert overall["kappa"]["stance"] == {"kappa": None, "observed": 1.0, "items": 2, "pairs": 1}  # one category
    assert overall["claims"] == {"matched": 4, "same_speaker": 4, "share": 1.0}
    assert overall["relations"]["matched_spans"]["overall"]["f1"] == 1.0
    assert overall["relations"]["all_spans"]["f1"] == 1.0


def test_disjoint_annotators_have_zero_f1(tmp_path: Path) -> None:
    a = Ann("a").span("c", "Claim", at(TEXT, "NATO lied"), "indirect")
    b = Ann("b").span("c", "Claim", at(TEXT, "Russia cheated"), "indirect")
    data = write_dataset(tmp_path / "data", {"d1": TEXT}, [a, b])
    report = agreement(data)
    spans = report.overall.to_dict()["spans"]
    assert spans["exact"]["overall"] == {"f1": 0.0, "matched": 0, "total": 2}
    assert spans["overlap"]["overall"]["f1"] == 0.0
    assert spans["exact"]["Speaker"]["f1"] is None  # no Speaker on either side: undefined, not 0
    assert report.matrix["exact"] == {"a": {"a": 1.0, "b": 0.0}, "b": {"a": 0.0, "b": 1.0}}
    # Claim as binary: 4 of 24 tokens covered, none by both: alpha = 1 - 47·8/(2·44·4) = -3/44
    assert report.overall.alpha["Claim"] == pytest.approx(float(1 - Fraction(47 * 8, 2 * 44 * 4)), abs=1e-12)


def test_hand_computed_case(hand_case: Path) -> None:
    report = agreement(hand_case)
    overall = report.overall.to_dict()
    exact, overlap = overall["spans"]["exact"], overall["spans"]["overlap"]
    # a: 4 claims, 4 speakers, 1 cue, 2 targets = 11; b: 10; exact matches 3 + 4 + 2 = 9
    assert exact["overall"] == {"f1": 18 / 21, "matched": 9, "total": 21}
    assert exact["Claim"]["f1"] == 0.75 and exact["Cue"]["f1"] == 0.0 and exact["Speaker"]["f1"] == 1.0
    assert overlap["overall"]["f1"] == 20 / 21 and overlap["Claim"]["f1"] == 1.0
    # claims matched: 1, 2, 4; claim 2 is said_by Putin for b
    assert overall["claims"] == {"matched": 3, "same_speaker": 2, "share": 2 / 3}
    # quote_type on claims 1, 2, 4: (indirect, direct), (indirect, indirect), (direct, direct)
    # p_o = 2/3, p_e = 2/3·1/3 + 1/3·2/3 = 4/9, kappa = (2/9)/(5/9) = 2/5
    assert overall["kappa"]["quote_type"]["kappa"] == pytest.approx(0.4, abs=1e-12)
    # entity on 4 speakers + 2 targets ("putin" = "Putin", " Biden " = "Biden" after normalising):
    # p_o = 5/6, six categories each once per side except Merkel, p_e = 5/36, kappa = (25/36)/(31/36)
    assert overall["kappa"]["entity"]["kappa"] == pytest.approx(25 / 31, abs=1e-12)
    # stance on (claim 1, NATO) against/against and (claim 2, Russia) against/about: p_o = p_e = 1/2
    assert overall["kappa"]["stance"] == {"kappa": 0.0, "observed": 0.5, "items": 2, "pairs": 1}
    relations = overall["relations"]
    # between matched spans: a has said_by 1, 2, 4 + against 1, 2; b has said_by 1, 2(Putin), 4 + against 1,
    # about 2; matches: said_by 1, 4 and against 1
    assert relations["matched_spans"]["overall"] == {"f1": 0.6, "matched": 3, "total": 10}
    assert relations["matched_spans"]["about"]["f1"] == 0.0
    assert relations["matched_spans"]["cued_by"]["f1"] is None
    assert relations["all_spans"] == {"f1": 6 / 13, "matched": 3, "total": 13}


def test_hand_computed_alpha_matches_krippendorff_package(hand_case: Path) -> None:
    alpha = agreement(hand_case).overall.alpha
    # Claim as binary over N = 24 tokens: a covers 9 tokens, b the same 9 and "that".
    # n = 48 values, n_1 = 19, n_0 = 29, one disagreeing unit (o_01 = o_10 = 1):
    # alpha = 1 - (n - 1)·(o_01 + o_10) / (2·n_0·n_1) = 1 - 47/551
    hand = 1 - Fraction(47, 29 * 19)
    assert alpha["Claim"] == pytest.approx(float(hand), abs=1e-12)
    tokens = tokenize(TEXT)
    a = Ann("a")
    b = Ann("b")
    for ann, phrases in ((a, ["NATO lied", "Russia cheated", "Europe must act", "we agree"]),
                         (b, ["NATO lied", "Russia cheated", "that Europe must act", "we agree"])):
        for phrase in phrases:
            ann.span(phrase, "Claim", at(TEXT, phrase))
    rows = [[float(any(s < e2 and s2 < e for _, _, s2, e2, _, _ in ann.spans)) for s, e in tokens] for ann in (a, b)]
    package = krippendorff.alpha(reliability_data=np.array(rows), level_of_measurement="nominal")
    assert package == pytest.approx(float(hand), abs=1e-12)
    # Cue: only a marks one token: alpha = 1 - 47/(47·1) = 0
    assert alpha["Cue"] == pytest.approx(0.0, abs=1e-12)


def test_overall_alpha_uses_label_sets_per_token(hand_case: Path) -> None:
    alpha = agreement(hand_case).overall.alpha["overall"]
    texts = {"a": full_annotation("a"), "b": second_annotation()}
    order = ["Claim", "Speaker", "Cue", "Target"]
    rows = []
    for ann in texts.values():
        row = []
        for s, e in tokenize(TEXT):
            labels = {lab for _, lab, s2, e2, _, _ in ann.spans if s < e2 and s2 < e}
            row.append("+".join(lab for lab in order if lab in labels) or "O")
        rows.append(row)
    domain = sorted({v for row in rows for v in row})
    coded = np.array([[domain.index(v) for v in row] for row in rows], dtype=float)
    expected = krippendorff.alpha(reliability_data=coded, level_of_measurement="nominal")
    assert alpha == pytest.approx(expected, abs=1e-12)


def test_cohen_kappa_textbook_example() -> None:
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> p_o = .7, p_e = .5·.6 + .5·.4 = .5, kappa = .4
    pairs = [("y", "y")] * 20 + [("y", "n")] * 5 + [("n", "y")] * 10 + [("n", "n")] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4, abs=1e-12)
    assert cohen_kappa([]) is None
    assert cohen_kappa([("x", "x"), ("x", "x")]) is None


@given(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("abc")), min_size=1, max_size=40))
def test_cohen_kappa_is_symmetric_and_at_most_one(pairs: list[tuple[str, str]]) -> None:
    kappa = cohen_kappa(pairs)
    swapped = cohen_kappa([(b, a) for a, b in pairs])
    assert kappa == swapped
    if kappa is not None:
        assert -1.0 <= kappa <= 1.0
        if all(a == b for a, b in pairs):
            assert kappa == 1.0


def test_submitted_only_single_annotator_documents_listed_and_superseded(tmp_path: Path) -> None:
    texts = {"d1": TEXT, "d2": TEXT, "d3": TEXT}
    cancelled = Ann("c", status="cancelled").span("x", "Claim", at(TEXT, "Putin said"), "direct")
    old = Ann("b", updated=-10).span("x", "Claim", at(TEXT, "Putin said"), "direct")
    annotations = [full_annotation("a"), full_annotation("b"), cancelled, old, full_annotation("a", "d2")]
    report = agreement(write_dataset(tmp_path / "data", texts, annotations))
    assert report.single_annotator == {"d2": "a"}
    assert report.unannotated == ["d3"]
    assert report.superseded_annotations == [104]
    assert report.annotators == ("a", "b")
    assert [d.doc_id for d in report.per_document] == ["d1"]
    assert report.overall.exact["overall"].f1 == 1.0
    assert report.per_document[0].to_dict()["spans"]["exact"]["overall"]["f1"] == 1.0


def test_three_annotators_pool_pairs_and_mean_pairwise_kappa(tmp_path: Path) -> None:
    third = full_annotation("c")
    third.spans = [(rid, lab, s, e, ("direct" if lab == "Claim" else q), ent) for rid, lab, s, e, q, ent in third.spans]
    data = write_dataset(tmp_path / "data", {"d1": TEXT}, [full_annotation("a"), full_annotation("b"), third])
    report = agreement(data)
    assert report.overall.pairs == 3
    # a-b agree fully (kappa 1); a-c and b-c: a says indirect ×3, direct ×1, c says direct ×4: kappa 0
    assert report.overall.kappa["quote_type"].kappa == pytest.approx(1 / 3, abs=1e-12)
    assert report.overall.kappa["quote_type"].items == 12
    assert report.matrix["exact"]["a"]["c"] == 1.0


def test_cli_agree_formats(hand_case: Path) -> None:
    result = runner.invoke(app, ["agree", str(hand_case), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["overall"]["spans"]["exact"]["overall"]["matched"] == 9
    assert data["per_document"][0]["doc_id"] == "d1"
    markdown = runner.invoke(app, ["agree", str(hand_case), "--format", "markdown"])
    assert markdown.exit_code == 0 and "| Claim | 0.750 | 1.000 | 0.915 | 8 |" in markdown.stdout
    text = runner.invoke(app, ["agree", str(hand_case)])
    assert text.exit_code == 0 and "2 annotator(s)" in text.stdout


def test_cli_agree_missing_directory_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["agree", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0 and "dataset directory not found" in result.stderr
    assert "Traceback" not in result.output


def test_agree_and_adjudicate_on_a_real_label_studio_pull(tmp_path: Path) -> None:
    """The recorded export (two annotators on the seed article, tests/fixtures/exports) end to end."""
    from claimset.adjudicate import adjudicate
    from claimset.ingest import import_exports
    from claimset.validate import validate_dataset

    export = Path(__file__).parent / "fixtures" / "exports" / "roundtrip.json"
    import_exports([export], tmp_path / "data")
    report = agreement(tmp_path / "data").to_dict()
    assert report["scored_documents"] == 1
    exact = report["overall"]["spans"]["exact"]["overall"]
    # 15 spans between the two annotators, 3 of them in exact agreement: F1 = 2*3/15
    assert (exact["matched"], exact["total"], exact["f1"]) == (3, 15, 0.4)
    assert report["single_annotator"] == {"syn_001_emoji": "ls-user-2", "syn_002_flag": "ls-user-2"}
    result = adjudicate(tmp_path / "data", tmp_path / "gold")
    assert validate_dataset(tmp_path / "gold").valid
    assert len(result.review) > 0


# --- bootstrap intervals over sentence units -----------------------------------------------------------


def test_sentences_end_at_final_punctuation_before_space_and_at_line_breaks() -> None:
    from claimset.agreement import sentence_starts

    text = 'He said “no.” Then… she left!\n\nWhy? 3.5 km (e.g. here).'
    starts = sentence_starts(text)
    assert [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)] == [
        "He said “no.”", " Then…", " she left!\n\n", "Why?", " 3.5 km (e.g.", " here)."]


def test_units_join_sentences_a_span_crosses_or_a_relation_joins() -> None:
    from claimset.agreement import sentence_units

    text = "One. Two. Three. Four."
    a = Ann("a").span("c", "Claim", at(text, "One. Two"), "direct").span("s", "Speaker", at(text, "Four"), None, "x")
    a.rel("c", "s", "said_by")
    (annotation,) = _annotations(text, a)
    assert sentence_units(text, [annotation]) == ([0, 4, 9, 16], [0, 0, 2, 0])


def _annotations(text: str, *anns: Ann) -> list:  # type: ignore[type-arg]
    """The agreement module's Annotation objects for these annotations of one document ``d1``."""
    import tempfile

    from claimset.agreement import load_corpus

    with tempfile.TemporaryDirectory() as tmp:
        corpus = load_corpus(write_dataset(Path(tmp) / "data", {"d1": text}, list(anns)))
    return [corpus.by_doc["d1"][ann.annotator] for ann in anns]


def _flat_overall(data: Path) -> dict[str, float | None]:
    from claimset.agreement import _flat

    return _flat(agreement(data).overall)


def test_bootstrap_estimate_is_the_point_estimate(hand_case: Path, tmp_path: Path) -> None:
    """Every unit once gives exactly what agreement() reports: the units partition the counts."""
    from claimset.agreement import bootstrap

    third = full_annotation("c")
    third.spans = [(rid, lab, s, e + (lab == "Claim"), q, ent) for rid, lab, s, e, q, ent in third.spans]
    several = write_dataset(tmp_path / "several", {"d1": TEXT, "d2": TEXT},
                            [full_annotation("a"), second_annotation(), third, full_annotation("a", "d2"),
                             full_annotation("c", "d2")])
    for data in (hand_case, several):
        report = bootstrap(data, 20)
        expected = _flat_overall(data)
        assert set(report.intervals) == set(expected)
        for name, interval in report.intervals.items():
            assert interval.estimate == pytest.approx(expected[name], abs=1e-12), name


def test_bootstrap_is_seeded_and_brackets_its_replicates(hand_case: Path) -> None:
    from claimset.agreement import bootstrap

    first, again, other = (bootstrap(hand_case, 200, seed=seed) for seed in (7, 7, 8))
    assert first == again and first != other
    assert first.units == 3 and first.sentences == 4  # the c2 -> Putin relation joins sentences 1 and 2
    exact = first.intervals["spans.exact.overall"]
    assert exact.defined == 200 and exact.low is not None and exact.high is not None
    assert 0.0 <= exact.low <= exact.high <= 1.0 and exact.low < exact.high


def test_cli_agree_bootstrap(hand_case: Path) -> None:
    result = runner.invoke(app, ["agree", str(hand_case), "--bootstrap", "50", "--format", "json"])
    assert result.exit_code == 0, result.output
    boot = json.loads(result.stdout)["bootstrap"]
    assert boot["replicates"] == 50 and boot["unit"] == "sentence group" and boot["confidence"] == 0.95
    assert boot["intervals"]["spans.exact.overall"]["estimate"] == _flat_overall(hand_case)["spans.exact.overall"]
    text = runner.invoke(app, ["agree", str(hand_case), "--bootstrap", "50"])
    assert "95% bootstrap intervals (50 replicates over 3 sentence units, seed 0)" in text.stdout
    for args, message in ((["--bootstrap", "-1"], "from 1 to 100,000, not -1"),
                          (["--bootstrap", "99999999999999999999"], "from 1 to 100,000"),
                          (["--bootstrap", "5", "--seed", "-1"], "--seed must be a non-negative integer")):
        bad = runner.invoke(app, ["agree", str(hand_case), *args])
        assert bad.exit_code == 1 and message in bad.stderr and "Traceback" not in bad.output, args


def test_cli_agree_bootstrap_reads_the_dataset_once(hand_case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import claimset.agreement

    calls: list[Path] = []
    real = claimset.agreement.load_corpus

    def counted(directory: Path, scheme_file: Path | None = None) -> claimset.agreement.Corpus:
        calls.append(directory)
        return real(directory, scheme_file)

    monkeypatch.setattr(claimset.agreement, "load_corpus", counted)
    result = runner.invoke(app, ["agree", str(hand_case), "--bootstrap", "20", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert calls == [hand_case] and json.loads(result.stdout)["bootstrap"]["replicates"] == 20
