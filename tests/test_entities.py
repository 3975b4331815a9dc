"""Entity names: normalisation, and the alias table built from the gold's mentions."""

from __future__ import annotations

import pytest

from claimset.codes import EntityMatch
from claimset.entities import AliasTable, Resolution, alias_tables, normalise_name


@pytest.mark.parametrize(("name", "same_as"), [
    ("  sergey   LAVROV ", "Sergey Lavrov"),
    ("Sergey\nLavrov", "Sergey Lavrov"),
    ("The veteran Foreign Minister", "veteran foreign minister"),
    ("the West", "West"),
    ("U.S.", "u.s"),
    ("Lavrov’s", "lavrov's"),
    ("Indo–Pacific", "Indo-Pacific"),
])
def test_names_are_compared_after_normalisation(name: str, same_as: str) -> None:
    assert normalise_name(name) == normalise_name(same_as)


def test_different_names_stay_different() -> None:
    assert normalise_name("Lavrov") != normalise_name("Lavrova")
    assert normalise_name("the US") != normalise_name("USA")


def seed_table() -> AliasTable:
    """Some entity mentions of the seed article, as (entity, mention text)."""
    table = AliasTable()
    for entity, text in [("Sergey Lavrov", "Russian Foreign Minister Sergey Lavrov"),
                         ("Sergey Lavrov", "The veteran Foreign Minister"), ("Sergey Lavrov", "Lavrov"),
                         ("MEA spokesperson", "the spokesperson"), ("United States", "the USA"),
                         ("United States", "US"), ("India", "Delhi"), ("India", "India")]:
        table.add(entity, text)
    return table


@pytest.mark.parametrize(("name", "resolution"), [
    ("Sergey Lavrov", Resolution(EntityMatch.CANONICAL, "Sergey Lavrov")),
    ("  SERGEY lavrov", Resolution(EntityMatch.CANONICAL, "Sergey Lavrov")),
    ("Lavrov", Resolution(EntityMatch.ALIAS, "Sergey Lavrov")),
    ("the veteran foreign minister", Resolution(EntityMatch.ALIAS, "Sergey Lavrov")),
    ("The Spokesperson", Resolution(EntityMatch.ALIAS, "MEA spokesperson")),
    ("USA", Resolution(EntityMatch.ALIAS, "United States")),
    ("Delhi", Resolution(EntityMatch.ALIAS, "India")),
    ("Vladimir Putin", Resolution(EntityMatch.UNKNOWN)),
    ("Foreign Minister", Resolution(EntityMatch.UNKNOWN)),  # a part of a mention is not a mention
])
def test_names_resolve_through_canonical_names_and_mention_texts(name: str, resolution: Resolution) -> None:
    assert seed_table().resolve(name) == resolution


def test_a_mention_text_of_two_entities_is_ambiguous_and_matches_neither() -> None:
    table = seed_table()
    table.add("Subrahmanyam Jaishankar", "the Foreign Minister")
    table.add("Sergey Lavrov", "the Foreign Minister")
    assert table.resolve("The  foreign minister") == Resolution(
        EntityMatch.AMBIGUOUS, None, ("Sergey Lavrov", "Subrahmanyam Jaishankar"))
    assert table.resolve("Lavrov") == Resolution(EntityMatch.ALIAS, "Sergey Lavrov")  # the others still resolve


def test_a_canonical_name_wins_over_another_entity_s_mention_text() -> None:
    table = seed_table()
    table.add("Government of India", "India")  # "India" is also a mention of the government
    assert table.resolve("india") == Resolution(EntityMatch.CANONICAL, "India")
    assert table.resolve("Government of India") == Resolution(EntityMatch.CANONICAL, "Government of India")


def test_two_canonical_names_that_normalise_alike_are_ambiguous() -> None:
    table = AliasTable()
    table.add("the West", "the West")
    table.add("West", "Western countries")
    assert table.resolve("west") == Resolution(EntityMatch.AMBIGUOUS, None, ("West", "the West"))


def test_alias_tables_are_per_document() -> None:
    tables = alias_tables([("d1", "Sergey Lavrov", "the minister"), ("d2", "Subrahmanyam Jaishankar", "the minister")])
    assert tables["d1"].resolve("the minister").entity == "Sergey Lavrov"
    assert tables["d2"].resolve("the minister").entity == "Subrahmanyam Jaishankar"


@pytest.mark.parametrize("name", ["  ", "?", "...", "!!!", "…", " . , ; ", "(“”)"])
def test_a_name_that_normalises_to_nothing_is_unknown(name: str) -> None:
    table = seed_table()
    table.add("!!!", "???")  # a gold entity whose name, and mention, are punctuation only
    table.add("?", "Mr X")
    assert normalise_name(name) == ""
    assert table.resolve(name) == Resolution(EntityMatch.UNKNOWN)
    assert table.resolve("Mr X") == Resolution(EntityMatch.ALIAS, "?")  # its other names still find it
