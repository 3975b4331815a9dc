"""Scores for extractors that work with text rather than offsets: attribution at the entity level, and the
token-overlap F1 of claims.

**Entity-level attribution.** Items are ``(claim, speaker entity)`` and ``(claim, target entity, stance)``.
A predicted item matches a gold item of its document when the claims overlap (share a code point) and
the entities are the same: the predicted name (the mention's ``entity``, else its text: the anchored
span's, or the quote's) is resolved through the document's alias table (:mod:`claimset.entities`); an
ambiguous or unknown name matches nothing. Items are distinct per document on both sides, and paired
one-to-one by a maximum bipartite matching, so the score does not depend on the order of records.

**Claim token F1.** SQuAD's answer F1 (Rajpurkar et al. 2016, the official evaluation script): both
texts lower-cased (case-folded), punctuation removed (ASCII and Unicode), the articles a, an, the
dropped, split on white space; F1 of the two bags of tokens. Each predicted claim span is paired with
at most one gold claim span it overlaps, one-to-one, greedily by highest token F1 (ties: earlier gold,
then earlier prediction); ``mean`` is the average F1 of the pairs.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from claimset.codes import EntityMatch
from claimset.entities import AliasTable, Resolution, normalise_name
from claimset.matching import maximum_matching

Span = tuple[int, int]
Tally = tuple[int, int, int]  # (matched, predicted, gold)


def _span(mention: Mapping[str, Any] | None) -> Span | None:
    return (int(mention["start"]), int(mention["end"])) if mention and "start" in mention else None


def _overlap(a: Span | None, b: Span | None) -> bool:
    return a is not None and b is not None and max(a[0], b[0]) < min(a[1], b[1])


# --- entity-level attribution -------------------------------------------------------------------------


@dataclass(frozen=True)
class NameLookup:
    """A predicted speaker or target name and what it resolved to, with where the mention is."""

    doc_id: str
    line: int | None
    mention: str  # speaker, targets[i]
    name: str
    resolution: Resolution

    def to_dict(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "line": self.line, "mention": self.mention, "name": self.name,
                "match": self.resolution.how.value, "entities": list(self.resolution.candidates)}


@dataclass
class EntityAttribution:
    """Per document, (matched, predicted, gold) for each kind; and every predicted name looked up."""

    tallies: dict[str, dict[str, Tally]] = field(default_factory=dict)  # doc_id -> kind -> tally
    lookups: list[NameLookup] = field(default_factory=list)

    def resolutions(self) -> dict[str, int]:
        counts = Counter(lookup.resolution.how.value for lookup in self.lookups)
        return {code.value: counts.get(code.value, 0) for code in EntityMatch}

    def ambiguous(self) -> list[dict[str, Any]]:
        return [lookup.to_dict() for lookup in self.lookups if lookup.resolution.how is EntityMatch.AMBIGUOUS]


def _name(mention: Mapping[str, Any], text: str) -> str | None:
    """The name a predicted mention gives its entity: ``entity``, else the text of its span or quote."""
    if mention.get("entity"):
        return str(mention["entity"])
    if "start" in mention:
        return text[int(mention["start"]):int(mention["end"])]
    return str(mention["quote"]) if mention.get("quote") else None


def _entity_key(resolution: Resolution, name: str) -> tuple[str, str]:
    if resolution.entity is not None:
        return ("entity", resolution.entity)
    return (resolution.how.value, normalise_name(name))


def _pred_items(records: Sequence[Mapping[str, Any]], text: str, table: AliasTable,
                lookups: list[NameLookup]) -> dict[str, list[tuple[Hashable, ...]]]:
    items: dict[str, dict[tuple[Hashable, ...], None]] = {"claim_speaker": {}, "claim_target": {}}
    for record in records:
        claim = _claim_identity(record["claim"])
        arguments = [("speaker", "speaker", record.get("speaker"))]
        arguments += [("target", f"targets[{i}]", t) for i, t in enumerate(record.get("targets") or [])]
        for role, path, mention in arguments:
            name = _name(mention, text) if mention else None
            if mention is None or name is None:
                continue
            resolution = table.resolve(name)
            lookups.append(NameLookup(record["doc_id"], record.get("line"), path, name, resolution))
            key = _entity_key(resolution, name)
            if role == "speaker":
                items["claim_speaker"][(claim, key)] = None
            else:
                items["claim_target"][(claim, key, mention.get("stance") or "about")] = None
    return {kind: list(found) for kind, found in items.items()}


def _gold_items(records: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[Hashable, ...]]]:
    items: dict[str, dict[tuple[Hashable, ...], None]] = {"claim_speaker": {}, "claim_target": {}}
    for record in records:
        claim = _span(record["claim"])
        speaker = record.get("speaker") or {}
        if speaker.get("entity"):
            items["claim_speaker"][(claim, ("entity", speaker["entity"]))] = None
        for target in record.get("targets") or []:
            if target.get("entity"):
                items["claim_target"][(claim, ("entity", target["entity"]), target.get("stance") or "about")] = None
    return {kind: list(found) for kind, found in items.items()}


def _matched(pred: list[tuple[Hashable, ...]], gold: list[tuple[Hashable, ...]]) -> int:
    """One-to-one: claims overlap, and everything after the claim (entity, stance) is equal."""
    adjacent = [[j for j, g in enumerate(gold) if p[1:] == g[1:] and _overlap(_placed(p[0]), _placed(g[0]))]
                for p in pred]
    return maximum_matching(adjacent)


def entity_attribution(gold: Mapping[str, Sequence[Mapping[str, Any]]],
                       pred: Mapping[str, Sequence[Mapping[str, Any]]],
                       texts: Mapping[str, str], tables: Mapping[str, AliasTable]) -> EntityAttribution:
    """Entity-level attribution for every document of ``gold`` (doc_id -> gold records; ``pred`` likewise)."""
    result = EntityAttribution()
    for doc_id, gold_records in gold.items():
        pred_items = _pred_items(pred.get(doc_id, []), texts[doc_id], tables.get(doc_id, AliasTable()),
                                 result.lookups)
        gold_items = _gold_items(gold_records)
        result.tallies[doc_id] = {
            kind: (_matched(pred_items[kind], gold_items[kind]), len(pred_items[kind]), len(gold_items[kind]))
            for kind in gold_items
        }
    return result


# --- claim token F1 -----------------------------------------------------------------------------------


_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")


def squad_tokens(text: str) -> list[str]:
    """SQuAD's ``normalize_answer`` then a split on white space, with Unicode punctuation removed too."""
    kept = "".join(char for char in text.casefold()
                   if char not in _PUNCTUATION and not unicodedata.category(char).startswith("P"))
    return _ARTICLES.sub(" ", kept).split()


def token_f1(prediction: str, truth: str) -> float:
    """SQuAD's F1 of two texts' tokens (1.0 when both have none, 0.0 when only one has none)."""
    pred, gold = squad_tokens(prediction), squad_tokens(truth)
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class ClaimPair:
    doc_id: str
    gold: Span
    predicted: Span
    f1: float

    def to_dict(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "gold": {"start": self.gold[0], "end": self.gold[1]},
                "predicted": {"start": self.predicted[0], "end": self.predicted[1]}, "f1": self.f1}


def _pairs(doc_id: str, text: str, pred: list[Span], gold: list[Span]) -> list[ClaimPair]:
    candidates = sorted(
        ((token_f1(text[p[0]:p[1]], text[g[0]:g[1]]), g, p) for p in pred for g in gold if _overlap(p, g)),
        key=lambda c: (-c[0], c[1], c[2]),
    )
    taken_pred: set[Span] = set()
    taken_gold: set[Span] = set()
    pairs = []
    for f1, g, p in candidates:
        if p not in taken_pred and g not in taken_gold:
            taken_pred.add(p)
            taken_gold.add(g)
            pairs.append(ClaimPair(doc_id, g, p, f1))
    return sorted(pairs, key=lambda pair: pair.gold)


def claim_pairs(gold: Mapping[str, Sequence[Mapping[str, Any]]], pred: Mapping[str, Sequence[Mapping[str, Any]]],
                texts: Mapping[str, str]) -> tuple[list[ClaimPair], int, int]:
    """The claim pairs of every document of ``gold``, the distinct predicted claims and the distinct gold claims."""
    pairs: list[ClaimPair] = []
    predicted = truth = 0
    for doc_id, gold_records in gold.items():
        gold_spans = _distinct(gold_records, _span)
        pred_records = pred.get(doc_id, [])
        pred_spans = _distinct(pred_records, _span)
        predicted += len(_distinct(pred_records, _claim_identity))
        truth += len(gold_spans)
        pairs += _pairs(doc_id, texts[doc_id], pred_spans, gold_spans)
    return pairs, predicted, truth


def _claim_identity(mention: Mapping[str, Any]) -> Hashable:
    """A predicted claim's identity: its span, or for a quote that was not anchored, its selector."""
    return _span(mention) or ("quote", mention.get("quote"), mention.get("prefix"), mention.get("suffix"))


def _placed(identity: Hashable) -> Span | None:
    """The span of a claim identity; None for a quote that was not anchored."""
    if isinstance(identity, tuple) and len(identity) == 2 and all(isinstance(end, int) for end in identity):
        return (identity[0], identity[1])
    return None


def _distinct(records: Iterable[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], Any]) -> list[Any]:
    return [found for found in dict.fromkeys(key(record["claim"]) for record in records) if found is not None]
