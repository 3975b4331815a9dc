"""Entity names: matching a predicted speaker or target name to the gold's entities.

Every gold Speaker and Target mention carries its entity's canonical name (``spans.entity``). The alias
table of a document maps names to entities: each entity's canonical name, and the text of each of its
mentions in that document ("The veteran Foreign Minister" and "Lavrov" are both Sergey Lavrov in the
seed article). Names are compared after :func:`normalise_name`.

:meth:`AliasTable.resolve` looks a name up: the canonical name of exactly one entity wins; else the
mention text of exactly one entity; a name that is the canonical name, or else a mention text, of
several entities is ambiguous and matches none of them (the gold itself cannot tell which is meant);
anything else is unknown. A name that normalises to nothing ("?", "...", "!!!") names no entity: it
resolves unknown, and a gold entity or mention whose name does is left out of the table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from claimset.codes import EntityMatch
from claimset.quotes import normalise

_EDGE_PUNCTUATION = " .,;:!?'\"()[]"
_ARTICLE = re.compile(r"^(?:the|a|an) ")


def normalise_name(name: str) -> str:
    """A name as compared: :func:`claimset.quotes.normalise`, case folded, punctuation at the ends and a leading
    article (the, a, an) dropped: "  The   U.S. " and "u.s" are the same name."""
    folded = normalise(name).strip().casefold().strip(_EDGE_PUNCTUATION)
    return _ARTICLE.sub("", folded).strip(_EDGE_PUNCTUATION)


@dataclass(frozen=True)
class Resolution:
    """What a name resolved to: ``entity`` (a canonical name) for canonical and alias matches, else None."""

    how: EntityMatch
    entity: str | None = None
    candidates: tuple[str, ...] = ()  # the entities an ambiguous name could be, sorted


@dataclass
class AliasTable:
    """Names of the gold entities of one document: normalised name -> canonical names."""

    canonical: dict[str, set[str]] = field(default_factory=dict)
    mentions: dict[str, set[str]] = field(default_factory=dict)

    def add(self, entity: str, mention_text: str) -> None:
        for table, name in ((self.canonical, entity), (self.mentions, mention_text)):
            key = normalise_name(name)
            if key:
                table.setdefault(key, set()).add(entity)

    def resolve(self, name: str) -> Resolution:
        key = normalise_name(name)
        if not key:
            return Resolution(EntityMatch.UNKNOWN)
        for how, table in ((EntityMatch.CANONICAL, self.canonical), (EntityMatch.ALIAS, self.mentions)):
            entities = table.get(key, set())
            if len(entities) == 1:
                return Resolution(how, next(iter(entities)))
            if entities:
                return Resolution(EntityMatch.AMBIGUOUS, candidates=tuple(sorted(entities)))
        return Resolution(EntityMatch.UNKNOWN)


def alias_tables(mentions: Iterable[tuple[str, str, str]]) -> dict[str, AliasTable]:
    """doc_id -> its alias table, from (doc_id, canonical entity, mention text) of the gold's entity mentions."""
    tables: dict[str, AliasTable] = {}
    for doc_id, entity, text in mentions:
        tables.setdefault(doc_id, AliasTable()).add(entity, text)
    return tables
