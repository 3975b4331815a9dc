"""docs/reliability.md lists every hostile-input fixture with what claimset does with it, as it does now."""

from __future__ import annotations

import catalogue


def test_the_catalogue_in_reliability_md_is_what_the_fixtures_give() -> None:
    assert catalogue.current() == catalogue.render(), "stale: run .venv/bin/python tests/catalogue.py"


def test_every_fixture_is_described() -> None:
    descriptions = catalogue._module(catalogue.EXPORTS / "make_fixtures.py").DESCRIPTIONS
    assert set(descriptions) == {p.name for p in catalogue.EXPORTS.iterdir() if p.suffix in {".json", ".csv"}}
