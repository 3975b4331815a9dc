"""The gold dataset as researchers get it: fresh, valid, described truthfully, loadable everywhere."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from claimset.card import croissant
from claimset.gold import build, stats
from claimset.scheme import load_scheme
from claimset.seeds import read_seeds
from claimset.validate import validate_dataset

ROOT = Path(__file__).resolve().parents[1]
ANNOTATIONS = ROOT / "annotations"
GOLD = ANNOTATIONS / "gold"
CARD = ANNOTATIONS / "README.md"


def test_committed_gold_is_valid() -> None:
    report = validate_dataset(GOLD, read_seeds(ROOT / "seeds"))
    assert report.valid, report.failures[:5]


def test_committed_gold_is_what_build_makes_from_the_raw_exports(tmp_path: Path) -> None:
    """What `make gold` runs: every annotator's annotations into annotations/annotators, adjudicated into the gold."""
    result = build(ANNOTATIONS / "raw", tmp_path / "gold", ROOT / "seeds", load_scheme(ROOT / "schema" / "scheme.yaml"),
                   croissant=True, annotators_dir=tmp_path / "annotators")
    assert result.report.valid and result.summary.reconciles and result.replaced
    assert result.adjudication is not None and result.adjudication.review == []
    for folder in ("annotators", "gold"):
        committed = sorted(p.name for p in (ANNOTATIONS / folder).iterdir())
        assert sorted(p.name for p in (tmp_path / folder).iterdir()) == committed
        for name in committed:
            fresh, kept = tmp_path / folder / name, ANNOTATIONS / folder / name
            if name.endswith(".parquet"):
                assert pq.read_table(fresh).equals(pq.read_table(kept)), f"{folder}/{name} is stale: run 'make gold'"
            assert fresh.read_bytes() == kept.read_bytes(), f"annotations/{folder}/{name}: not byte-for-byte the same"


def test_croissant_file_matches_the_tables_and_validates() -> None:
    import mlcroissant as mlc

    committed = json.loads((GOLD / "croissant.json").read_text(encoding="utf-8"))
    assert committed == croissant(GOLD, GOLD), "annotations/gold/croissant.json is stale: run 'make gold'"
    dataset = mlc.Dataset(jsonld=GOLD / "croissant.json")
    claims = list(dataset.records("claims"))
    assert len(claims) == pq.read_metadata(GOLD / "claims.parquet").num_rows
    assert {key for key in committed if key.startswith("rai:")} >= {
        "rai:dataAnnotationProtocol", "rai:dataAnnotationPlatform", "rai:annotatorDemographics"}


def card_table(title: str) -> dict[str, int]:
    text = CARD.read_text(encoding="utf-8")
    match = re.search(rf"\| {re.escape(title)} \| [^\n]*\|\n\|[-:| ]+\|\n((?:\|[^\n]*\|\n)+)", text)
    assert match, f"no table headed {title!r} in the card"
    rows = [line.strip("|").split("|") for line in match.group(1).splitlines()]
    return {key.strip(): int(value) for key, value in rows}


def test_every_number_in_the_card_is_what_stats_prints() -> None:
    numbers = stats(GOLD)
    relations = pq.read_metadata(GOLD / "relations.parquet").num_rows
    assert card_table("what") == {
        "documents": numbers.documents, "annotations": numbers.annotations, "claims": numbers.claims,
        **{f"{label} spans": n for label, n in numbers.spans_per_label.items()}, "relations": relations,
    }
    assert card_table("quote type") == numbers.per_quote_type
    assert card_table("speaker entity") == numbers.per_speaker
    assert card_table("stance") == numbers.per_stance


@pytest.mark.parametrize("index", range(4))
def test_loading_snippets_in_the_card_run(index: int, tmp_path: Path) -> None:
    snippets = re.findall(r"```python\n(.*?)```", CARD.read_text(encoding="utf-8"), re.S)
    assert len(snippets) == 4
    code = snippets[index] + "\nfor _name in ('claims', 'spans'):\n    if _name in dir():\n" \
        "        _value = globals()[_name]\n        assert len(_value) > 0\n"
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_hugging_face_config_loads(tmp_path: Path) -> None:
    from datasets import load_dataset

    configs = re.findall(r"- config_name: (\w+)", CARD.read_text(encoding="utf-8"))
    non_empty = {p.stem for p in GOLD.glob("*.parquet") if pq.read_metadata(p).num_rows}
    assert set(configs) == non_empty
    for config in configs:
        split = load_dataset(str(ANNOTATIONS), config, split="train", cache_dir=str(tmp_path / config))
        assert split.num_rows == pq.read_metadata(GOLD / f"{config}.parquet").num_rows


def _card_rows(header: str) -> list[list[str]]:
    """The body rows of the card's table whose header row starts with ``header``, as stripped cells."""
    text = CARD.read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(header)}[^\n]*\n\|[-:| ]+\|\n((?:\|[^\n]*\|\n)+)", text, re.MULTILINE)
    assert match, f"no table headed {header!r} in the card"
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in match.group(1).splitlines()]


def test_card_agreement_is_what_claimset_agree_prints() -> None:
    """Every agreement figure and interval in the card, against `claimset agree ... --bootstrap 1000 --seed 0`."""
    from typer.testing import CliRunner

    from claimset.cli import app

    result = CliRunner().invoke(app, ["agree", str(ANNOTATIONS / "annotators"), "--bootstrap", "1000", "--seed", "0",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    overall, intervals = report["overall"], report["bootstrap"]["intervals"]

    def num(value: float | None) -> str:
        return "—" if value is None else f"{value:.3f}"

    def interval(name: str) -> str:
        return f"{num(intervals[name]['low'])}–{num(intervals[name]['high'])}"

    span_rows = _card_rows("| label | exact F1 | 95% CI | overlap F1")
    assert [row[0] for row in span_rows] == ["Claim", "Speaker", "Cue", "Target", "overall"]
    for label, exact, exact_ci, overlap, overlap_ci, alpha, alpha_ci, spans in span_rows:
        assert exact == num(overall["spans"]["exact"][label]["f1"]) and exact_ci == interval(f"spans.exact.{label}")
        assert overlap == num(overall["spans"]["overlap"][label]["f1"])
        assert overlap_ci == interval(f"spans.overlap.{label}")
        assert alpha == num(overall["alpha"][label]) and alpha_ci == interval(f"alpha.{label}")
        assert int(spans) == overall["spans"]["exact"][label]["total"]
    expected = {
        "claim–speaker (same `said_by` speaker)": (overall["claims"]["share"], "claims.same_speaker",
                                                   overall["claims"]["matched"]),
        **{f"{title} kappa": (overall["kappa"][name]["kappa"], f"kappa.{name}", overall["kappa"][name]["items"])
           for name, title in (("stance", "stance"), ("quote_type", "quote type"), ("entity", "entity"))},
        "relation F1 (all spans)": (overall["relations"]["all_spans"]["f1"], "relations.all_spans",
                                    overall["relations"]["all_spans"]["total"]),
    }
    rows = {row[0]: row[1:] for row in _card_rows("| measure | agreement | 95% CI | items |")}
    assert set(rows) == set(expected)
    for name, (value, interval_name, items) in expected.items():
        assert rows[name] == [num(value), interval(interval_name), str(items)], name
    units = report["bootstrap"]["units"]
    assert f"{units} sentence units ({report['bootstrap']['sentences']} sentences" in CARD.read_text(encoding="utf-8")
