"""Adjudication: one gold annotation per document from several annotators' submitted annotations.

Per document (submitted annotations only; the latest of each annotator, as in :mod:`claimset.agreement`):

* If an annotation is marked ``ground_truth`` it wins entirely (the latest one if several are marked;
  such documents are listed in ``ground_truth_conflicts``).
* Otherwise a span (label, start, end, ``quote_type``, ``entity``, all exactly equal) is accepted when a
  strict majority of the document's annotators proposed it, and a relation (head label/start/end, tail
  label/start/end, type) when a strict majority proposed it *and* both its endpoints were accepted.
  A document with one annotator is taken as it is (one vote is a majority of one).
* Everything else goes to the review list, with who proposed it and why (``no_majority`` or
  ``endpoint_not_accepted``).

The output directory gets the standard tables (``documents``, ``annotations`` with one synthetic
annotation per document by annotator ``adjudicated``, ``spans``, ``relations``, an empty ``rejects``)
plus ``span_provenance.parquet`` and ``review.parquet``/``review.jsonl``. Every file is written
atomically, after everything has been computed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from claimset import lsresult
from claimset.agreement import Annotation, Corpus, RelationKey, Span, SpanKey, load_corpus
from claimset.dataset import write_dataset
from claimset.errors import ClaimsetError
from claimset.offsets import quote_selector
from claimset.scheme import Scheme, default_scheme
from claimset.seeds import Document
from claimset.tables import (
    ANNOTATIONS,
    REJECTS,
    RELATIONS,
    SPANS,
    atomic_path,
    relation_id,
    span_id,
    table_path,
    write_table,
)

if TYPE_CHECKING:
    from claimset.validate import ValidationReport

ADJUDICATOR = "adjudicated"
REVIEW_MODEL_VERSION = "claimset-adjudication-review"

SPAN_PROVENANCE = pa.schema(
    [
        ("span_id", pa.string()),
        ("proposed_by", pa.list_(pa.string())),  # annotators whose annotation has this exact span
        ("n_annotators", pa.int64()),  # submitted annotators of the document
        ("adjudicated", pa.bool_()),  # accepted by a vote among two or more annotators
        ("method", pa.string()),  # ground_truth | majority
    ]
)

REVIEW = pa.schema(
    [
        ("doc_id", pa.string()),
        ("kind", pa.string()),  # span | relation
        ("label", pa.string()),  # span label, or relation type
        ("start", pa.int64()),  # the span, or the relation's head span
        ("end", pa.int64()),
        ("candidate", pa.string()),  # JSON: the span, or {type, head, tail}
        ("proposed_by", pa.list_(pa.string())),
        ("votes", pa.int64()),
        ("n_annotators", pa.int64()),
        ("reason", pa.string()),  # no_majority | endpoint_not_accepted
    ]
)

FullKey = tuple[str, int, int, str | None, str | None]  # label, start, end, quote_type, entity


def _full_key(span: Span) -> FullKey:
    return (span.label, span.start, span.end, span.quote_type, span.entity)


def _sort_key(key: FullKey) -> tuple[int, int, str, str, str]:
    return (key[1], key[2], key[0], key[3] or "", key[4] or "")


def _span_dict(key: FullKey, text: str) -> dict[str, Any]:
    label, start, end, quote_type, entity = key
    return {"label": label, "start": start, "end": end, "text": text[start:end], "quote_type": quote_type,
            "entity": entity}


@dataclass(frozen=True)
class ReviewItem:
    doc_id: str
    kind: str  # span | relation
    candidate: dict[str, Any]
    proposed_by: tuple[str, ...]
    n_annotators: int
    reason: str

    @property
    def label(self) -> str:
        return str(self.candidate["label"] if self.kind == "span" else self.candidate["type"])

    @property
    def where(self) -> tuple[int, int]:
        span = self.candidate if self.kind == "span" else self.candidate["head"]
        return int(span["start"]), int(span["end"])

    def to_dict(self) -> dict[str, Any]:
        start, end = self.where
        return {"doc_id": self.doc_id, "kind": self.kind, "label": self.label, "start": start, "end": end,
                "candidate": self.candidate, "proposed_by": list(self.proposed_by), "votes": len(self.proposed_by),
                "n_annotators": self.n_annotators, "reason": self.reason}


@dataclass
class AdjudicationResult:
    out_dir: str
    documents: int  # documents with at least one submitted annotation
    ground_truth: list[str] = field(default_factory=list)  # documents taken from a ground-truth annotation
    majority: list[str] = field(default_factory=list)  # documents adjudicated by majority
    ground_truth_conflicts: list[str] = field(default_factory=list)  # several ground-truth annotations
    single_annotator: list[str] = field(default_factory=list)  # documents one annotator annotated (taken as is)
    spans: int = 0
    relations: int = 0
    review: list[ReviewItem] = field(default_factory=list)
    corpus: Corpus | None = field(default=None, repr=False, compare=False)  # what was adjudicated
    report: ValidationReport | None = field(default=None, repr=False, compare=False)  # of the adjudicated folder
    replaced: bool = True  # False: the adjudicated folder failed validation and out_dir was left as it was
    claims: int = 0  # rows of the adjudicated folder's claims.parquet

    def review_tasks(self) -> list[dict[str, Any]]:
        """The review list as Label Studio tasks (see :func:`review_to_labelstudio`)."""
        assert self.corpus is not None
        return review_to_labelstudio(self.review, self.corpus.texts, self.corpus.scheme)

    def to_dict(self) -> dict[str, Any]:
        reasons: dict[str, int] = defaultdict(int)
        for item in self.review:
            reasons[f"{item.kind}:{item.reason}"] += 1
        return {
            "out_dir": self.out_dir, "documents": self.documents, "ground_truth": self.ground_truth,
            "majority": self.majority, "ground_truth_conflicts": self.ground_truth_conflicts,
            "single_annotator": self.single_annotator, "spans": self.spans,
            "relations": self.relations, "review_items": len(self.review),
            "review_by_reason": dict(sorted(reasons.items())),
        }


@dataclass
class _Output:
    annotations: list[dict[str, Any]] = field(default_factory=list)
    spans: list[dict[str, Any]] = field(default_factory=list)
    relations: list[dict[str, Any]] = field(default_factory=list)
    provenance: list[dict[str, Any]] = field(default_factory=list)


def synthetic_annotation_id(doc_id: str) -> int:
    """A stable 48-bit id for the adjudicated annotation of ``doc_id``."""
    return int.from_bytes(hashlib.sha256(f"{ADJUDICATOR}:{doc_id}".encode()).digest()[:6], "big")


def region_id(key: FullKey) -> str:
    """A stable Label-Studio-like region id (10 characters) for an adjudicated span."""
    return "a" + hashlib.sha256(repr(key).encode()).hexdigest()[:9]


def _epoch(value: dt.datetime | None) -> dt.datetime:
    return value or dt.datetime.min.replace(tzinfo=dt.UTC)


class _Document:
    """The adjudication of one document."""

    def __init__(self, doc_id: str, text: str, by_annotator: Mapping[str, Annotation]) -> None:
        self.doc_id, self.text, self.by_annotator = doc_id, text, by_annotator
        self.n = len(by_annotator)
        self.aid = synthetic_annotation_id(doc_id)
        self.span_votes: dict[FullKey, set[str]] = defaultdict(set)
        self.repairs: dict[FullKey, set[str | None]] = defaultdict(set)
        self.relation_votes: dict[RelationKey, set[str]] = defaultdict(set)
        for name, annotation in by_annotator.items():
            for span in annotation.spans:
                self.span_votes[_full_key(span)].add(name)
                self.repairs[_full_key(span)].add(span.offset_repair)
            for rel in annotation.relation_keys():
                self.relation_votes[rel].add(name)

    def _span_row(self, key: FullKey, region: str, repair: str | None) -> dict[str, Any]:
        label, start, end, quote_type, entity = key
        prefix, suffix = quote_selector(self.text, start, end)
        return {"span_id": span_id(self.aid, region), "annotation_id": self.aid, "doc_id": self.doc_id,
                "region_id": region, "label": label, "start": start, "end": end, "text": self.text[start:end],
                "quote_type": quote_type, "entity": entity, "prefix": prefix, "suffix": suffix,
                "offset_repair": repair}

    def _relation_row(self, head: str, tail: str, kind: str) -> dict[str, Any]:
        return {"relation_id": relation_id(self.aid, head, tail, kind), "annotation_id": self.aid,
                "doc_id": self.doc_id, "head_span_id": span_id(self.aid, head), "tail_span_id": span_id(self.aid, tail),
                "type": kind}

    def _annotation_row(self, source: Iterable[Annotation], out: _Output, n_spans: int, n_relations: int) -> None:
        used = sorted(source, key=lambda a: (_epoch(a.updated_at), a.annotation_id))
        stamps = [a.updated_at for a in used if a.updated_at is not None]
        stamp = max(stamps) if stamps else None
        out.annotations.append({
            "annotation_id": self.aid, "task_id": used[-1].task_id, "doc_id": self.doc_id, "annotator": ADJUDICATOR,
            "status": "submitted", "ground_truth": True, "created_at": stamp, "updated_at": stamp,
            "lead_time": None, "n_regions": n_spans, "n_relations": n_relations,
        })

    def from_ground_truth(self, winner: Annotation, out: _Output) -> None:
        spans: list[dict[str, Any]] = []
        for span in sorted(winner.spans, key=lambda s: (s.start, s.end, s.label, s.region_id)):
            spans.append(self._span_row(_full_key(span), span.region_id, span.offset_repair))
            out.provenance.append({"span_id": spans[-1]["span_id"],
                                   "proposed_by": sorted(self.span_votes[_full_key(span)]),
                                   "n_annotators": self.n, "adjudicated": False, "method": "ground_truth"})
        regions = {span.span_id: span.region_id for span in winner.spans}
        relations = {
            (regions[r.head_span_id], regions[r.tail_span_id], r.type): None
            for r in winner.relations if r.head_span_id in regions and r.tail_span_id in regions
        }
        out.spans += spans
        out.relations += [self._relation_row(*rel) for rel in relations]
        self._annotation_row([winner], out, len(spans), len(relations))

    def by_majority(self, out: _Output) -> list[ReviewItem]:
        review: list[ReviewItem] = []
        accepted: dict[SpanKey, str] = {}  # (label, start, end) -> region id of the accepted span
        accepted_keys: dict[SpanKey, FullKey] = {}
        spans = []
        for key in sorted(self.span_votes, key=_sort_key):
            votes = self.span_votes[key]
            if 2 * len(votes) > self.n:
                region = region_id(key)
                repairs = self.repairs[key]
                spans.append(self._span_row(key, region, next(iter(repairs)) if len(repairs) == 1 else None))
                out.provenance.append({"span_id": spans[-1]["span_id"], "proposed_by": sorted(votes),
                                       "n_annotators": self.n, "adjudicated": self.n > 1, "method": "majority"})
                accepted.setdefault(key[:3], region)
                accepted_keys.setdefault(key[:3], key)
            else:
                review.append(ReviewItem(self.doc_id, "span", _span_dict(key, self.text), tuple(sorted(votes)),
                                         self.n, "no_majority"))
        if len({row["region_id"] for row in spans}) != len(spans):
            raise ClaimsetError(f"doc {self.doc_id}: two adjudicated spans got the same region id")
        relations = []
        for rel in sorted(self.relation_votes):
            head, tail, kind = rel
            votes = self.relation_votes[rel]
            majority = 2 * len(votes) > self.n
            if majority and head in accepted and tail in accepted:
                relations.append(self._relation_row(accepted[head], accepted[tail], kind))
                continue
            candidate = {"type": kind, "head": self._endpoint(head, accepted_keys),
                         "tail": self._endpoint(tail, accepted_keys)}
            review.append(ReviewItem(self.doc_id, "relation", candidate, tuple(sorted(votes)), self.n,
                                     "endpoint_not_accepted" if majority else "no_majority"))
        out.spans += spans
        out.relations += relations
        self._annotation_row(self.by_annotator.values(), out, len(spans), len(relations))
        return review

    def _endpoint(self, bounds: SpanKey, accepted: Mapping[SpanKey, FullKey]) -> dict[str, Any]:
        """A relation endpoint with its attributes: the accepted span, else the most proposed one."""
        if bounds in accepted:
            return {**_span_dict(accepted[bounds], self.text), "accepted": True}
        options = [key for key in self.span_votes if key[:3] == bounds]
        best = min(options, key=lambda k: (-len(self.span_votes[k]), _sort_key(k)))
        return {**_span_dict(best, self.text), "accepted": False}


def _check_out_dir(dataset_dir: Path, out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ClaimsetError(f"{out_dir}: not a directory")
    if out_dir.resolve() == dataset_dir.resolve():
        raise ClaimsetError(f"{out_dir}: the output directory must differ from the dataset directory")


def adjudicate(dataset_dir: Path, out_dir: Path, scheme_file: Path | None = None, *, seeds: Sequence[Document] = (),
               validate: bool = True, allow_invalid: bool = False, croissant: bool = False) -> AdjudicationResult:
    """Adjudicate the submitted annotations of ``dataset_dir`` into a dataset folder ``out_dir``, written
    in one atomic step under the input's scheme (``scheme_file``: an optional file that must match it).

    The folder is validated before it replaces ``out_dir`` (against ``seeds`` too, when given) and
    replaces it only if valid or ``allow_invalid``; with ``croissant`` it carries ``croissant.json``.
    """
    corpus = load_corpus(dataset_dir, scheme_file)
    _check_out_dir(dataset_dir, out_dir)
    result = AdjudicationResult(out_dir=str(out_dir), documents=len(corpus.by_doc), corpus=corpus)
    out = _Output()
    ids: dict[int, str] = {}
    for doc_id, by_annotator in corpus.by_doc.items():
        document = _Document(doc_id, corpus.texts[doc_id], by_annotator)
        if document.aid in ids:
            raise ClaimsetError(f"documents {ids[document.aid]!r} and {doc_id!r} got the same adjudicated id")
        ids[document.aid] = doc_id
        if len(by_annotator) == 1:
            result.single_annotator.append(doc_id)
        truths = [a for a in by_annotator.values() if a.ground_truth]
        if truths:
            if len(truths) > 1:
                result.ground_truth_conflicts.append(doc_id)
            winner = max(truths, key=lambda a: (_epoch(a.updated_at), a.annotation_id))
            document.from_ground_truth(winner, out)
            result.ground_truth.append(doc_id)
        else:
            result.review += document.by_majority(out)
            result.majority.append(doc_id)
    result.spans, result.relations = len(out.spans), len(out.relations)
    result.report, result.replaced, result.claims = _write(corpus, out, result.review, out_dir, seeds=seeds,
                                                           validate=validate, allow_invalid=allow_invalid,
                                                           croissant=croissant)
    return result


def _write(corpus: Corpus, out: _Output, review: list[ReviewItem], out_dir: Path, *, seeds: Sequence[Document],
           validate: bool, allow_invalid: bool, croissant: bool) -> tuple[ValidationReport | None, bool, int]:
    tables = {
        "documents": corpus.documents,
        "annotations": pa.Table.from_pylist(out.annotations, schema=ANNOTATIONS),
        "spans": pa.Table.from_pylist(out.spans, schema=SPANS),
        "relations": pa.Table.from_pylist(out.relations, schema=RELATIONS),
        "rejects": REJECTS.empty_table(),
        "span_provenance": pa.Table.from_pylist(out.provenance, schema=SPAN_PROVENANCE),
        "review": pa.Table.from_pylist(
            [{**row, "candidate": json.dumps(row["candidate"], ensure_ascii=False, sort_keys=True)}
             for row in (item.to_dict() for item in review)],
            schema=REVIEW,
        ),
    }

    def fill(folder: Path) -> None:
        for name, table in tables.items():
            write_table(table, table_path(folder, name))
        (folder / "review.jsonl").write_text(
            "".join(json.dumps(item.to_dict(), ensure_ascii=False) + "\n" for item in review), encoding="utf-8")

    try:
        written = write_dataset(out_dir, fill, scheme=corpus.scheme, seeds=seeds, validate=validate,
                                allow_invalid=allow_invalid, croissant=croissant)
    except OSError as exc:
        raise ClaimsetError(f"{out_dir}: cannot write the adjudicated tables: {exc.strerror}") from exc
    return written.report, written.replaced, written.claims


# --- review tasks for Label Studio ----------------------------------------------------------------------


def _candidate(row: Mapping[str, Any]) -> dict[str, Any]:
    candidate = row["candidate"]
    parsed = json.loads(candidate) if isinstance(candidate, str) else candidate
    if not isinstance(parsed, dict):
        raise ClaimsetError(f"review item of {row.get('doc_id')!r}: candidate is not an object")
    return parsed


class _ReviewTask:
    """The prediction result of one document's review task, built region by region."""

    def __init__(self, text: str, scheme: Scheme) -> None:
        self.scheme = scheme
        self.text = text
        self.result: list[dict[str, Any]] = []
        self.regions: dict[FullKey, str] = {}

    def region(self, span: Mapping[str, Any], note: str, score: float | None = None) -> str:
        key: FullKey = (str(span["label"]), int(span["start"]), int(span["end"]), span.get("quote_type"),
                        span.get("entity"))
        if key in self.regions:
            return self.regions[key]
        rid = self.regions[key] = region_id(key)
        items = lsresult.span(self.text, key[1], key[2], key[0], rid, quote_type=key[3], entity=key[4],
                              scheme=self.scheme)
        items[0]["meta"] = {"text": [note]}
        if score is not None:
            items[0]["score"] = score
        self.result.extend(items)
        return rid

    def relation(self, head: str, tail: str, kind: str) -> None:
        self.result.append(lsresult.relation(head, tail, kind))


def _note(row: Mapping[str, Any]) -> str:
    return (f"review ({row['reason']}): proposed by {', '.join(row['proposed_by'])} "
            f"({len(row['proposed_by'])} of {row['n_annotators']})")


def review_to_labelstudio(review: Iterable[ReviewItem | Mapping[str, Any]], documents: Mapping[str, str],
                          scheme: Scheme | None = None) -> list[dict[str, Any]]:
    """One Label Studio task per document with review items, the candidates as one prediction.

    ``review`` holds :class:`ReviewItem` objects or rows of ``review.jsonl``/``review.parquet``;
    ``documents`` maps doc_id to text. Regions are in code-point offsets with the scheme's per-region
    attributes; each candidate region carries a ``meta.text`` note (who proposed it, the vote, the
    reason) and a ``score`` (share of the document's annotators). Relations under review get their
    endpoint regions too (noted ``accepted`` when the span itself was accepted).
    """
    scheme = scheme or default_scheme()
    by_doc: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for item in review:
        row = item.to_dict() if isinstance(item, ReviewItem) else item
        by_doc[str(row["doc_id"])].append(row)
    tasks = []
    for doc_id, rows in sorted(by_doc.items()):
        if doc_id not in documents:
            raise ClaimsetError(f"review item of {doc_id!r}: document not found")
        task = _ReviewTask(documents[doc_id], scheme)
        ordered = sorted(rows, key=lambda r: (r["kind"] != "span", int(r["start"]), int(r["end"]), str(r["label"])))
        for row in ordered:
            if row["kind"] == "span":
                task.region(_candidate(row), _note(row), len(row["proposed_by"]) / int(row["n_annotators"]))
        for row in ordered:
            if row["kind"] == "relation":
                candidate = _candidate(row)
                head, tail = (
                    task.region(end, "accepted" if end.get("accepted") else "endpoint of a relation under review")
                    for end in (candidate["head"], candidate["tail"])
                )
                task.relation(head, tail, str(candidate["type"]))
        tasks.append({
            "data": {scheme.text_name: documents[doc_id], "doc_id": doc_id, "review_items": len(rows)},
            "predictions": [{"model_version": REVIEW_MODEL_VERSION, "result": task.result}],
        })
    return tasks


def check_review_tasks_path(path: Path, dataset_dir: Path, out_dir: Path) -> None:
    """Refuse, before anything is written, a review-tasks file that cannot be written or that would land
    inside the input or the output dataset folder (it would overwrite or pollute a table)."""
    target = path.resolve()
    for folder in (dataset_dir, out_dir):
        if target.is_relative_to(folder.resolve()):
            raise ClaimsetError(f"{path}: the review tasks cannot go inside the dataset folder {folder}")
    if path.is_dir():
        raise ClaimsetError(f"{path}: is a directory; give a file name for the review tasks")
    if not path.parent.is_dir():
        raise ClaimsetError(f"{path}: folder {path.parent} does not exist")


def write_review_tasks(tasks: list[dict[str, Any]], path: Path) -> None:
    """Write Label Studio review tasks as a JSON list, atomically."""
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(tasks, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ClaimsetError(f"{path}: cannot write review tasks: {exc.strerror}") from exc
