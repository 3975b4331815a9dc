"""Hostile predictions files: evaluate and push fail with one line and exit code 1, push before any network call.

One fixture file per case (tests/fixtures/bad-predictions, written by its make_fixtures.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import claimset.labelstudio as labelstudio
from claimset.cli import app

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "bad-predictions"
LONE = "a lone surrogate (a \\ud800-\\udfff escape without its pair) is not Unicode text"
DIGITS = "cannot read: Exceeds the limit (4300 digits) for integer string conversion"

EVALUATE = {  # file -> the error after "<file>"
    "evaluate-lone-surrogate-doc-id.jsonl": f":1: {LONE}",
    "evaluate-lone-surrogate-entity.jsonl": f":1: {LONE}",
    "evaluate-deep-nesting.jsonl": ":1: cannot read: nested too deeply",
    "evaluate-huge-integer.jsonl": f":1: {DIGITS}",
    "evaluate-offsets-and-quote.jsonl": ":1: 'claim' has both start/end and a quote; give one",
    "evaluate-empty-quote.jsonl": ":1: 'claim.quote' must be a string with text in it, got ' \\n '",
    "evaluate-quote-not-text.jsonl": ":1: 'claim.quote' must be a string with text in it, got ['Earlier']",
    "evaluate-context-without-quote.jsonl": ":1: 'claim.prefix' is only allowed with a quote",
    "evaluate-target-without-place.jsonl": ":1: 'targets[0]' needs start and end, a quote, or an entity",
    "evaluate-blank-entity.jsonl": ":1: 'speaker.entity' must be a string with text in it, got '   '",
    "evaluate-entity-alone-claim.jsonl": ":1: 'claim' has unknown key 'entity'",
    "evaluate-unknown-null-key.jsonl": ":1: 'cue' has unknown key 'offset'",
}
PUSH = {
    "push-deep-nesting.json": ": cannot read: nested too deeply",
    "push-huge-integer.json": f": {DIGITS}",
    "push-bad-utf8.json": ": not UTF-8 (byte 13)",
}


def test_every_fixture_has_an_expected_outcome() -> None:
    assert {p.name for p in FIXTURES.iterdir() if p.suffix != ".py"} == set(EVALUATE) | set(PUSH)


@pytest.mark.parametrize("name", sorted(EVALUATE))
def test_evaluate_refuses_with_one_line(name: str) -> None:
    path = FIXTURES / name
    result = CliRunner().invoke(app, ["evaluate", "--gold", str(ROOT / "annotations" / "gold"), "--pred", str(path)])
    assert (result.exit_code, result.output) == (1, f"Error: {path}{EVALUATE[name]}\n")


@pytest.mark.parametrize("name", sorted(PUSH))
def test_push_refuses_with_one_line_before_any_network_call(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("push connected to Label Studio before checking the predictions")

    monkeypatch.setattr(labelstudio, "connect", no_network)
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "0" * 40)
    path = FIXTURES / name
    result = CliRunner().invoke(app, ["push", "--project", "p", "--seeds", str(ROOT / "seeds"),
                                      "--predictions", str(path)])
    assert (result.exit_code, result.output) == (1, f"Error: {path}{PUSH[name]}\n")
