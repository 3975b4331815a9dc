"""A rule-based baseline extractor, and conversion of predictions to Label Studio predictions.

The baseline finds, per document:

* **direct quotes**: text between quotation marks (straight ``"…"`` or curly ``“…”``), attributed to
  the speaker next to a cue after the closing mark (``“…,” the spokesperson said``) or before the
  opening mark (``the spokesperson said, adding, “…”``);
* **indirect speech**: the clause after a cue verb (``X accused the West of …``, ``X emphasised that
  …``), or the clause before a trailing ``…, the spokesperson said``.

The cue lexicon is of the PARC kind (said, told, accused, alleged, asserted, emphasised, hoped, …).
The speaker is the nearest noun phrase before the cue (a capitalised sequence, or a determiner and
nouns) that is not the object of a preposition, else the one right after the cue. Targets are the
named (capitalised) mentions inside the claim other than the speaker, with stance ``against`` for
accusing cues and ``about`` otherwise. Offsets are code points, half-open, as everywhere in claimset.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from claimset import __version__, lsresult
from claimset.scheme import CUE_RELATION, SPEAKER_RELATION, Scheme, default_scheme

MODEL_VERSION = f"claimset-baseline-{__version__}"
ORIGIN = "prediction"  # the origin Label Studio gives the items of a prediction

CUES = frozenset([
    "said", "says", "say", "told", "tells", "tell", "added", "adds", "adding", "accused", "accuses", "alleged",
    "alleges", "asserted", "asserts", "emphasised", "emphasized", "emphasises", "emphasizes", "hoped", "hopes",
    "outlined", "outlines", "claimed", "stated", "warned", "warns", "denied", "denies", "stressed", "stresses",
    "insisted", "insists", "noted", "notes", "argued", "argues", "criticised", "criticized", "criticises",
    "criticizes", "announced", "explained", "suggested", "declared", "maintained", "acknowledged", "admitted",
    "reiterated", "remarked", "urged", "vowed", "condemned", "blamed"
])
AGAINST_CUES = frozenset([
    "accused", "accuses", "alleged", "alleges", "criticised", "criticized", "criticises", "criticizes", "condemned",
    "blamed", "denounced"
])
PREPOSITIONS = frozenset([
    "on", "of", "in", "to", "from", "with", "at", "for", "against", "over", "about", "by", "into", "under", "than",
    "as"
])
NOT_NAMES = frozenset([
    "A", "An", "The", "This", "That", "These", "Those", "It", "Its", "We", "Our", "Us", "I", "He", "She", "They",
    "Their", "His", "Her", "As", "In", "On", "At", "Of", "And", "But", "If", "Earlier", "Taking", "Friday",
    "Monday", "Tuesday", "Wednesday", "Thursday", "Saturday", "Sunday", "January", "February", "March", "April",
    "May", "June", "July", "August", "September", "October", "November", "December"
])
SKIPPABLE = frozenset([
    "had", "has", "have", "also", "further", "earlier", "then", "later", "once", "again", "repeatedly", "on",
    "friday"
])
QUOTES = re.compile(r"“(?P<curly>[^”\n]+)”|\"(?P<straight>[^\"\n]+)\"")
WORD = re.compile(r"[\w’'&-]+")
NAME = re.compile(r"(?:(?<![\w’'])the\s+)?(?:[A-Z][\w&.-]*(?:[’']s\b)?\s+)*[A-Z][\w&-]*(?<![.])")
SPEAKER_NOUNS = ("spokesperson|spokesman|spokeswoman|minister|official|officials|government|ministry|leader|"
                 "president|sources?|diplomat|ambassador")
NOUN_PHRASE = re.compile(
    rf"(?:(?:[Tt]he|[Aa]n?)\s+(?:[a-z][\w-]*\s+){{0,2}})?(?:[A-Z][\w&.-]*\s+)*(?:[A-Z][\w&-]*|(?:{SPEAKER_NOUNS})\b)"
)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[“\"A-Z])|\n+")
CLAIM_STOPS = re.compile(
    r"\s+in what\b|\s+in a message\b|,\s*adding\b|,\s*(?:the|a)\s+\w+\s+(?:said|added|told)\b|;|\s+and\s+(?="
    + "|".join(sorted(CUES)) + r")\b"
)
TRAILING = ".,;: \t\n"


class HasText(Protocol):
    @property
    def doc_id(self) -> str: ...

    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int


def _strip(text: str, start: int, end: int, chars: str = TRAILING) -> tuple[int, int]:
    while start < end and text[start] in " \t\n":
        start += 1
    while end > start and text[end - 1] in chars:
        end -= 1
    return start, end


def _sentences(text: str) -> list[tuple[int, int]]:
    bounds, position = [], 0
    for match in SENTENCE_END.finditer(text):
        bounds.append((position, match.start()))
        position = match.end()
    bounds.append((position, len(text)))
    return [(a, b) for a, b in bounds if b > a]


def _cues(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in WORD.finditer(text, start, end) if m.group().lower() in CUES]


def _noun_phrase_before(text: str, sentence_start: int, cue_start: int) -> _Mention | None:
    """The nearest noun phrase before the cue that is not the object of a preposition."""
    best: _Mention | None = None
    for match in NOUN_PHRASE.finditer(text, sentence_start, cue_start):
        words = match.group().split()
        if not words or words[0].lower() in PREPOSITIONS:
            continue
        before = text[sentence_start:match.start()].split()
        if before and before[-1].lower().strip(",") in PREPOSITIONS:
            continue
        between = text[match.end():cue_start].lower().replace(",", " ").split()
        far = len(between) > 4 and not all(w in SKIPPABLE for w in between)
        if far and match.start() != sentence_start:
            continue  # far from the cue: keep only a sentence-initial subject ("India, close on the heels …")
        start, end = match.start(), match.end()
        phrase = text[start:end]
        if phrase.endswith(("’s", "'s")):
            end -= 2
        best = _Mention(*_strip(text, start, end))
    return best


def _noun_phrase_after(text: str, cue_end: int, limit: int) -> _Mention | None:
    match = NOUN_PHRASE.match(text, cue_end + 1 if text[cue_end:cue_end + 1] == " " else cue_end, limit)
    if match is None:
        return None
    start, end = match.start(), match.end()
    if text[start:end].split()[0].lower() == "by":
        return None
    return _Mention(*_strip(text, start, end))


def _entity(text: str, mention: _Mention) -> str:
    name = text[mention.start:mention.end]
    return re.sub(r"^(?:the|The)\s+", "", name).strip()


def _targets(text: str, start: int, end: int, stance: str, speaker: str | None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for match in NAME.finditer(text, start, end):
        s, e = match.start(), match.end()
        words = text[s:e].split()
        while words and words[-1].endswith(("’s", "'s")):
            e -= 2
            break
        name = text[s:e]
        bare = re.sub(r"^the\s+", "", name)
        if bare in NOT_NAMES or bare.split()[0] in NOT_NAMES or not bare[:1].isupper():
            continue
        if speaker and bare.casefold() in speaker.casefold():
            continue
        if bare.casefold() in seen:
            continue
        seen.add(bare.casefold())
        found.append({"start": s, "end": e, "entity": bare, "stance": stance})
    return found


def _record(doc_id: str, text: str, claim: tuple[int, int], cue: tuple[int, int] | None,
            speaker: _Mention | None, quote_type: str) -> dict[str, Any] | None:
    start, end = _strip(text, *claim)
    if end - start < 3:
        return None
    record: dict[str, Any] = {"doc_id": doc_id, "claim": {"start": start, "end": end}}
    speaker_name = None
    if speaker is not None and speaker.end > speaker.start:
        speaker_name = _entity(text, speaker)
        record["speaker"] = {"start": speaker.start, "end": speaker.end, "entity": speaker_name}
    if cue is not None:
        record["cue"] = {"start": cue[0], "end": cue[1]}
    stance = "against" if cue is not None and text[cue[0]:cue[1]].lower() in AGAINST_CUES else "about"
    targets = _targets(text, start, end, stance, speaker_name)
    if targets:
        record["targets"] = targets
    record["quote_type"] = quote_type
    return record


def _extract_document(doc_id: str, text: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    sentences = _sentences(text)

    def sentence_of(position: int) -> tuple[int, int]:
        return next(((a, b) for a, b in sentences if a <= position < b), (0, len(text)))

    quoted: list[tuple[int, int]] = []
    quote_cues: set[tuple[int, int]] = set()
    for match in QUOTES.finditer(text):
        group = "curly" if match.group("curly") is not None else "straight"
        inner = (match.start(group), match.end(group))
        quoted.append((match.start(), match.end()))
        paragraph_end = text.find("\n", match.end())
        paragraph_end = len(text) if paragraph_end < 0 else paragraph_end
        after_end = min(paragraph_end, match.end() + 80)
        cue = next(iter(_cues(text, match.end(), after_end)), None)
        speaker: _Mention | None = None
        if cue is not None:
            speaker = _noun_phrase_before(text, match.end(), cue[0]) or _noun_phrase_after(text, cue[1], after_end)
        else:
            sentence_start = sentence_of(max(match.start() - 1, 0))[0]
            before = _cues(text, max(sentence_start, match.start() - 80), match.start())
            if before:
                cue = before[-1]
                speaker = _noun_phrase_before(text, sentence_start, cue[0])
        record = _record(doc_id, text, inner, cue, speaker, "direct")
        if record is not None:
            records.append(record)
            if cue is not None:
                quote_cues.add(cue)

    def in_quote(position: int) -> bool:
        return any(a <= position < b for a, b in quoted)

    for sentence_start, sentence_end in sentences:
        for cue in _cues(text, sentence_start, sentence_end):
            if in_quote(cue[0]) or cue in quote_cues:
                continue
            rest = text[cue[1]:sentence_end]
            if rest.lstrip().startswith(("“", '"', ",")) or not rest.strip(TRAILING):
                # a trailing attribution: "<claim>, the spokesperson said"
                comma = text.rfind(",", sentence_start, cue[0])
                if comma <= sentence_start or in_quote(comma - 1) or any(a > sentence_start and a < comma
                                                                         for a, _ in quoted):
                    continue
                speaker = _noun_phrase_before(text, comma + 1, cue[0])
                records.extend(r for r in [_record(doc_id, text, (sentence_start, comma), cue, speaker,
                                                   "indirect")] if r is not None)
                continue
            claim_start = cue[1]
            lead = re.match(r"\s+(?:\w+\s+){0,3}?that\s+", rest)
            if lead:
                claim_start += lead.end()
            if any(claim_start <= a < sentence_end for a, _ in quoted):
                continue
            stop = CLAIM_STOPS.search(text, claim_start, sentence_end)
            claim_end = stop.start() if stop else sentence_end
            speaker = _noun_phrase_before(text, sentence_start, cue[0]) or _noun_phrase_after(text, cue[1],
                                                                                              sentence_end)
            record = _record(doc_id, text, (claim_start, claim_end), cue, speaker, "indirect")
            if record is not None:
                records.append(record)
    records.sort(key=lambda r: (r["claim"]["start"], r["claim"]["end"]))
    return records


def extract(documents: Iterable[HasText]) -> list[dict[str, Any]]:
    """Baseline predictions for ``documents`` (anything with ``doc_id`` and ``text``), as records."""
    records: list[dict[str, Any]] = []
    for document in documents:
        records.extend(_extract_document(document.doc_id, document.text))
    return records


# --- Label Studio ---------------------------------------------------------------------------------


def _region_id(doc_id: str, label: str, start: int, end: int) -> str:
    return hashlib.sha1(f"{doc_id}:{label}:{start}:{end}".encode()).hexdigest()[:10]


def to_labelstudio_predictions(records: Sequence[Mapping[str, Any]],
                               documents: Iterable[HasText], scheme: Scheme | None = None) -> list[dict[str, Any]]:
    """One Label Studio prediction per document with records, in code-point offsets.

    Each item is ``{"doc_id", "model_version", "score", "result"}``; ``result`` holds a ``labels``
    region per distinct span (one region even when several claims share a speaker), the per-region
    ``quote_type`` choice and ``speaker_entity``/``target_entity`` text areas (ids equal to their
    region's), and a ``relation`` item (direction ``right``, from the Claim) per said_by, cued_by and
    stance relation.
    """
    scheme = scheme or default_scheme()
    texts = {document.doc_id: document.text for document in documents}
    control = {attr.label: attr for attr in scheme.attributes}
    by_doc: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        by_doc.setdefault(record["doc_id"], []).append(record)
    predictions = []
    for doc_id, doc_records in by_doc.items():
        text = texts[doc_id]
        regions: dict[str, dict[str, Any]] = {}
        result: list[dict[str, Any]] = []
        relations: list[dict[str, Any]] = []

        def region(label: str, mention: Mapping[str, Any], attribute: str | None,
                   text: str = text, doc_id: str = doc_id, regions: dict[str, dict[str, Any]] = regions,
                   result: list[dict[str, Any]] = result) -> str:
            start, end = int(mention["start"]), int(mention["end"])
            rid = _region_id(doc_id, label, start, end)
            if rid not in regions:
                quote = text[start:end]
                regions[rid] = lsresult.region(rid, start, end, label, quote, from_name=scheme.labels_name,
                                               to_name=scheme.text_name, origin=ORIGIN)
                result.append(regions[rid])
                attr = control.get(label)
                if attr is not None and attribute:
                    result.append(lsresult.attribute(attr.control, rid, start, end, attribute,
                                                     from_name=attr.from_name, to_name=scheme.text_name,
                                                     quote=quote, origin=ORIGIN))
            return rid

        for record in doc_records:
            claim = region(scheme.claim_label, record["claim"], record.get("quote_type"))
            tails: list[tuple[str, str]] = []
            if record.get("speaker"):
                speaker = record["speaker"]
                tails.append((region(scheme.speaker_label, speaker, speaker.get("entity")), SPEAKER_RELATION))
            if record.get("cue"):
                tails.append((region(scheme.cue_label, record["cue"], None), CUE_RELATION))
            for target in record.get("targets") or []:
                tails.append((region(scheme.target_label, target, target.get("entity")),
                              target.get("stance") or "about"))
            for tail, kind in tails:
                relation = lsresult.relation(claim, tail, kind)
                if relation not in relations:
                    relations.append(relation)
        predictions.append({"doc_id": doc_id, "model_version": MODEL_VERSION, "score": None,
                            "result": result + relations})
    return predictions
