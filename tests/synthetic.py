"""Synthetic Label Studio full-JSON exports for the scale tests and ``scripts/bench``.

:func:`write_export` streams a realistic export to disk task by task (never the whole export in
memory): news-like texts of about 3,000 code points with non-ASCII letters, typographic quotes,
emoji (outside the Basic Multilingual Plane, so code-point, UTF-16 and byte offsets all differ),
brackets, ASCII quotes and backslashes inside strings; several annotators per task; about 30
labelled regions per annotation with their per-region attributes (``quote_type`` choices on Claims,
``speaker_entity`` / ``target_entity`` text areas on Speakers and Targets) and about 20 relations,
all from a Claim to the other span with direction ``right``. Items have the exact shape Label Studio
1.23.2 exports (see ``lsjson.py``). The output is deterministic for a given ``seed``.
"""

from __future__ import annotations

import json
import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimset import lsresult

SPEAKERS = [
    "Sergei Lavrov", "Annalena Baerbock", "José Manuel Albares", "Recep Tayyip Erdoğan", "Jürgen Müller",
    "Władysław Kosiniak-Kamysz", "François Bayrou", "Ursula von der Leyen", "Maria Zakharova", "Olaf Scholz",
    "Dmitry Peskov", "Kaja Kallas", "Petr Fiala", "Viktor Orbán", "Mette Frederiksen", "Æsa Þórsdóttir",
    "the spokesperson", "a senior official", "the ministry", "Zhang Wěi",
]
TARGETS = [
    "the West", "NATO", "the European Commission", "Gazprom", "the Kremlin", "Brussels", "the IMF",
    "Washington", "the opposition", "the central bank", "Ankara", "the Bundestag", "the Élysée",
    "the “coalition of the willing”", "Moscow", "Kyiv", "the OSCE", "Beijing", "the Sejm", "Budapest",
]
CUES = ["said", "accused", "claimed", "insisted", "warned", "argued", "denied", "emphasised", "stressed",
        "alleged", "told reporters", "wrote on X"]
VERBS = ["is meddling in", "has undermined", "will never accept", "is responsible for", "secretly funds",
         "must stop blocking", "has lied about", "openly supports", "is preparing", "cannot ignore"]
OBJECTS = ["the elections", "the gas deal", "the peace talks", "the sanctions package", "the budget",
           "the so-called \"peace plan\"", "the pipeline [sic]", "the treaty {draft}", "energy prices 💶",
           "the grain corridor 🌾", "the negotiations 🤝", "press freedom", "the référendum", "the ceasefire",
           "the path C:\\data\\leaks", "the Straße project", "the summit 😀", "the trade war"]
FILLER = [
    "The meeting took place on Tuesday in the capital.", "Observers were not surprised.",
    "Critics called the remarks “deeply irresponsible”.", "Markets reacted calmly 📉.",
    "No evidence was presented [at the time].", "The statement was later removed from the website.",
    "Officials declined to comment further.", "Analysts in Zürich and Kraków disagreed.",
]
QUOTE_TYPES = ["direct", "indirect", "mixed"]
STANCES = ["against", "supports", "about"]
ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"


def _ascii(text: str) -> str:
    """``text`` in plain ASCII: typographic quotes straightened, accents dropped, emoji removed."""
    text = text.replace("“", '"').replace("”", '"')
    return " ".join(unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").split())


VOCABULARY = {"speakers": SPEAKERS, "targets": TARGETS, "cues": CUES, "verbs": VERBS, "objects": OBJECTS,
              "filler": FILLER}
ASCII_VOCABULARY = {name: [_ascii(word) for word in words] for name, words in VOCABULARY.items()}
WORKLOADS = ("unicode", "ascii")  # the texts: non-ASCII letters, typographic quotes and emoji; or plain ASCII


@dataclass
class _Sentence:
    start: int  # code-point offset of the sentence in the text
    claim: tuple[int, int]
    speaker: tuple[int, int]
    cue: tuple[int, int]
    target: tuple[int, int]
    quote_type: str
    speaker_name: str
    target_name: str


@dataclass
class ExportStats:
    """What a generated export contains (the importer must find exactly this)."""

    tasks: int = 0
    annotations: int = 0
    regions: int = 0
    attributes: int = 0
    relations: int = 0
    bytes: int = 0
    labels: dict[str, int] = field(default_factory=dict)


def _sentence(rng: random.Random, offset: int, words: dict[str, list[str]]) -> tuple[str, _Sentence]:
    speaker, target = rng.choice(words["speakers"]), rng.choice(words["targets"])
    cue, verb, obj = rng.choice(words["cues"]), rng.choice(words["verbs"]), rng.choice(words["objects"])
    claim = f"{target} {verb} {obj}"
    if rng.random() < 0.4:  # direct quote: “claim”, speaker cue.
        opening, closing = ('"', '"') if words is ASCII_VOCABULARY else ("“", "”")
        text = f"{opening}{claim}{closing}, {speaker} {cue}."
        c0 = 1
        s0 = c0 + len(claim) + 3
        u0 = s0 + len(speaker) + 1
        quote_type = rng.choice(["direct", "mixed"])
    else:  # indirect: Speaker cue that claim.
        text = f"{speaker} {cue} that {claim}."
        s0 = 0
        u0 = len(speaker) + 1
        c0 = u0 + len(cue) + 6
        quote_type = "indirect"
    sentence = _Sentence(
        start=offset, claim=(offset + c0, offset + c0 + len(claim)),
        speaker=(offset + s0, offset + s0 + len(speaker)), cue=(offset + u0, offset + u0 + len(cue)),
        target=(offset + c0, offset + c0 + len(target)), quote_type=quote_type,
        speaker_name=speaker.removeprefix("the ").title(), target_name=target.strip("“”").title(),
    )
    return text, sentence


def make_text(rng: random.Random, target_chars: int = 3000, workload: str = "unicode") -> tuple[str, list[_Sentence]]:
    """A news-like text of about ``target_chars`` code points, and where its claim sentences are."""
    words = ASCII_VOCABULARY if workload == "ascii" else VOCABULARY
    parts: list[str] = []
    sentences: list[_Sentence] = []
    length = 0
    while length < target_chars:
        if parts:
            sep = "\n\n" if rng.random() < 0.2 else " "
            parts.append(sep)
            length += len(sep)
        if rng.random() < 0.25:
            piece = rng.choice(words["filler"])
        else:
            piece, sentence = _sentence(rng, length, words)
            sentences.append(sentence)
        parts.append(piece)
        length += len(piece)
    text = "".join(parts)
    for s in sentences:  # self-check: offsets are code points
        assert text[s.speaker[0] : s.speaker[1]].strip()
    return text, sentences


def _region_id(rng: random.Random, used: set[str]) -> str:
    while True:
        rid = "".join(rng.choices(ID_CHARS, k=10))
        if rid not in used:
            used.add(rid)
            return rid


def _timestamp(rng: random.Random, base_minute: int) -> str:
    minute = base_minute + rng.randrange(0, 600)
    return f"2026-11-{1 + minute // 1440 % 28:02d}T{minute // 60 % 24:02d}:{minute % 60:02d}:{rng.randrange(60):02d}." \
           f"{rng.randrange(1_000_000):06d}Z"


def make_result(rng: random.Random, text: str, sentences: list[_Sentence],
                claims: int = 8, cues: int = 6, stances: int = 6) -> list[dict[str, Any]]:
    """One annotator's result: ``claims`` Claim groups (Claim, Speaker, Target, some Cues) and relations."""
    chosen = rng.sample(sentences, min(claims, len(sentences)))
    used: set[str] = set()
    regions: list[dict[str, Any]] = []
    attributes: list[dict[str, Any]] = []
    relations: list[dict[str, Any]] = []

    def region(span: tuple[int, int], label: str) -> str:
        rid = _region_id(rng, used)
        regions.append(lsresult.region(rid, *span, label, text[span[0] : span[1]], from_name="label", to_name="text"))
        return rid

    for index, s in enumerate(chosen):
        claim = region(s.claim, "Claim")
        attributes.append(lsresult.choice(claim, *s.claim, s.quote_type, quote=text[s.claim[0] : s.claim[1]],
                                          from_name="quote_type", to_name="text"))
        speaker = region(s.speaker, "Speaker")
        attributes.append(lsresult.textarea(speaker, *s.speaker, s.speaker_name, from_name="speaker_entity",
                                            to_name="text"))
        target = region(s.target, "Target")
        attributes.append(lsresult.textarea(target, *s.target, s.target_name, from_name="target_entity",
                                            to_name="text"))
        relations.append(lsresult.relation(claim, speaker, "said_by"))
        if index < cues:
            cue = region(s.cue, "Cue")
            relations.append(lsresult.relation(claim, cue, "cued_by"))
        if index < stances:
            relations.append(lsresult.relation(claim, target, rng.choice(STANCES)))
    # Label Studio lists regions, then per-region attributes, then relations.
    return regions + attributes + relations


def make_task(rng: random.Random, task_id: int, first_annotation_id: int, annotators: int = 3,
              chars: int = 3000, workload: str = "unicode") -> dict[str, Any]:
    text, sentences = make_text(rng, chars, workload)
    annotations = []
    for k in range(annotators):
        result = make_result(rng, text, sentences)
        created = _timestamp(rng, task_id)
        annotations.append({
            "id": first_annotation_id + k, "completed_by": k + 1, "result": result, "was_cancelled": False,
            "ground_truth": False, "created_at": created, "updated_at": created, "draft_created_at": None,
            "lead_time": round(rng.uniform(30, 900), 3), "prediction": {}, "result_count": len(result),
            "unique_id": f"{rng.getrandbits(128):032x}", "import_id": None, "last_action": None,
            "bulk_created": False, "task": task_id, "project": 1, "updated_by": k + 1,
            "parent_prediction": None, "parent_annotation": None, "last_created_by": None,
        })
    return {
        "id": task_id, "annotations": annotations, "file_upload": None, "drafts": [], "predictions": [],
        "data": {"text": text, "doc_id": f"syn-{task_id:07d}", "published": "2026-11-25"},
        "meta": {}, "created_at": "2026-11-25T09:00:00.000000Z", "updated_at": "2026-11-25T10:00:00.000000Z",
        "inner_id": task_id, "total_annotations": annotators, "cancelled_annotations": 0, "total_predictions": 0,
        "comment_count": 0, "unresolved_comment_count": 0, "last_comment_updated_at": None, "project": 1,
        "updated_by": 1, "comment_authors": [],
    }


def generate_tasks(tasks: int, *, seed: int = 8, annotators: int = 3, chars: int = 3000,
                   workload: str = "unicode") -> Iterator[dict[str, Any]]:
    if workload not in WORKLOADS:
        raise ValueError(f"workload must be one of {WORKLOADS}, not {workload!r}")
    rng = random.Random(seed)
    for i in range(tasks):
        yield make_task(rng, i + 1, 1 + i * annotators, annotators, chars, workload)


def write_export(path: Path, tasks: int, *, seed: int = 8, annotators: int = 3, chars: int = 3000,
                 workload: str = "unicode") -> ExportStats:
    """Stream a synthetic full-JSON export of ``tasks`` tasks to ``path``; return what it contains.

    ``workload``: ``"unicode"`` (the default: non-ASCII letters, typographic quotes, emoji) or
    ``"ascii"`` (the same generator over plain-ASCII words).
    """
    stats = ExportStats()
    with path.open("wb") as handle:
        handle.write(b"[")
        for task in generate_tasks(tasks, seed=seed, annotators=annotators, chars=chars, workload=workload):
            raw = json.dumps(task, ensure_ascii=False).encode("utf-8")
            handle.write(b"," if stats.tasks else b"")
            handle.write(raw)
            stats.tasks += 1
            for annotation in task["annotations"]:
                stats.annotations += 1
                for item in annotation["result"]:
                    kind = item["type"]
                    if kind == "labels":
                        stats.regions += 1
                        label = item["value"]["labels"][0]
                        stats.labels[label] = stats.labels.get(label, 0) + 1
                    elif kind == "relation":
                        stats.relations += 1
                    else:
                        stats.attributes += 1
        handle.write(b"]")
        stats.bytes = handle.tell()
    return stats
