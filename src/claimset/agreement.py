"""Inter-annotator agreement for documents annotated by several annotators (Label Studio CE has none).

Only submitted annotations count (cancelled ones are ignored); when one annotator submitted several
annotations of a document, the latest (``updated_at``, then ``annotation_id``) is used and the others
are listed as superseded. Every measure is computed per pair of annotators of a document, then pooled
per document and over the dataset:

* **Span F1**, per label and overall, between the two annotators' sets of spans: *exact* (same label,
  start and end) and *overlap* (same label, sharing at least one code point, one-to-one by a maximum
  bipartite matching). F1 = 2·matched / (spans of A + spans of B), pooled over pairs and documents;
  also as an annotator × annotator matrix.
* **Krippendorff's alpha** (nominal, the ``krippendorff`` package) over tokens, as PolNeAR reports it:
  tokens are the runs of word characters and the single other non-space characters of the text
  (``\\w+|[^\\w\\s]``, code-point offsets); a token's value for an annotator is the set of labels of
  the spans that share a code point with it (``O`` when none). One alpha overall and one per label
  (binary: covered by a span of that label or not).
* **Claim-wise speaker agreement**: of the claims two annotators matched exactly, the share whose
  ``said_by`` speakers have the same boundaries (both without a speaker also agree).
* **Cohen's kappa** on attributes of exactly matched spans (``quote_type`` of claims, ``entity`` of
  speakers and targets, whitespace-collapsed and case-folded) and on the stance of matched claim–target
  pairs that either annotator related (the set of stance relation types, or ``none``). Computed
  exactly per pair of annotators; with more than two annotators the overall value is Light's kappa,
  the mean of the pairwise kappas.
* **Relation F1** of (head span, tail span, type) triples, direction respected: ``matched_spans``
  counts only relations whose two endpoints both annotators marked (exact match), ``all_spans`` counts
  every relation.

Documents with a single annotator are listed in the report, not scored; a value that is undefined
(no items, or a single category) is ``None``.

**Bootstrap intervals** (:func:`bootstrap`): each document is cut into sentences (a sentence ends at
``.``, ``!``, ``?`` or ``…``, with any closing quotes or brackets, before white space, and at every
line break); sentences that a span of either annotator crosses, or that a relation joins, are merged
into one *unit*, so that every span and relation lies in exactly one unit. Every measure above is a
sum over units of exactly the counts :func:`compare` makes (the units partition the spans, relations,
matches and tokens), so resampling units with replacement and recomputing the measures gives a
percentile interval; with every unit taken once it gives the point estimate itself.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from claimset.dataset import load
from claimset.errors import ClaimsetError, MissingExtraError
from claimset.matching import maximum_matching
from claimset.report import Section, markdown
from claimset.scheme import SPEAKER_RELATION, Scheme

TOKEN = re.compile(r"\w+|[^\w\s]")
OUTSIDE = "O"
MISSING = "(none)"

SpanKey = tuple[str, int, int]  # (label, start, end)
RelationKey = tuple[SpanKey, SpanKey, str]  # (head, tail, type)


# --- the dataset, per document and annotator --------------------------------------------------------


@dataclass(frozen=True)
class Span:
    span_id: str
    region_id: str
    label: str
    start: int
    end: int
    quote_type: str | None
    entity: str | None
    offset_repair: str | None

    @property
    def key(self) -> SpanKey:
        return (self.label, self.start, self.end)


@dataclass(frozen=True)
class Relation:
    head_span_id: str
    tail_span_id: str
    type: str


@dataclass
class Annotation:
    annotation_id: int
    task_id: int
    doc_id: str
    annotator: str
    ground_truth: bool
    updated_at: dt.datetime | None
    spans: list[Span] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)

    def span_keys(self) -> set[SpanKey]:
        return {span.key for span in self.spans}

    def first_span_by_key(self) -> dict[SpanKey, Span]:
        found: dict[SpanKey, Span] = {}
        for span in sorted(self.spans, key=lambda s: s.span_id):
            found.setdefault(span.key, span)
        return found

    def relation_keys(self) -> set[RelationKey]:
        by_id = {span.span_id: span.key for span in self.spans}
        return {
            (by_id[r.head_span_id], by_id[r.tail_span_id], r.type)
            for r in self.relations
            if r.head_span_id in by_id and r.tail_span_id in by_id
        }


@dataclass
class Corpus:
    """Submitted annotations of a dataset directory: doc_id -> annotator -> the annotation used."""

    directory: Path
    documents: pa.Table
    texts: dict[str, str]
    by_doc: dict[str, dict[str, Annotation]]
    superseded: list[int]
    scheme: Scheme  # the dataset's own


def load_corpus(directory: Path, scheme_file: Path | None = None) -> Corpus:
    """Read a dataset folder (under its own scheme; ``scheme_file`` is an optional file that must match it);
    keep the latest submitted annotation of each annotator per document."""
    dataset = load(directory, scheme_file)
    documents = dataset.table("documents")
    texts = {row["doc_id"]: row["text"] for row in documents.select(["doc_id", "text"]).to_pylist()}
    candidates: dict[tuple[str, str], list[Annotation]] = defaultdict(list)
    for row in dataset.table("annotations").to_pylist():
        if row["status"] != "submitted":
            continue
        if row["doc_id"] not in texts:
            raise ClaimsetError(f"annotation {row['annotation_id']}: document {row['doc_id']!r} is not in documents")
        candidates[(row["doc_id"], row["annotator"])].append(Annotation(
            annotation_id=int(row["annotation_id"]), task_id=int(row["task_id"]), doc_id=row["doc_id"],
            annotator=row["annotator"], ground_truth=bool(row["ground_truth"]), updated_at=row["updated_at"],
        ))
    by_doc: dict[str, dict[str, Annotation]] = defaultdict(dict)
    by_id: dict[int, Annotation] = {}
    superseded: list[int] = []
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    for (doc_id, annotator), found in sorted(candidates.items()):
        found.sort(key=lambda a: (a.updated_at or epoch, a.annotation_id))
        chosen = found[-1]
        superseded += [a.annotation_id for a in found[:-1]]
        by_doc[doc_id][annotator] = chosen
        by_id[chosen.annotation_id] = chosen
    for row in dataset.table("spans").to_pylist():
        annotation = by_id.get(row["annotation_id"])
        if annotation is not None:
            annotation.spans.append(Span(
                span_id=row["span_id"], region_id=row["region_id"], label=row["label"], start=int(row["start"]),
                end=int(row["end"]), quote_type=row["quote_type"], entity=row["entity"],
                offset_repair=row["offset_repair"],
            ))
    for row in dataset.table("relations").to_pylist():
        annotation = by_id.get(row["annotation_id"])
        if annotation is not None:
            annotation.relations.append(Relation(row["head_span_id"], row["tail_span_id"], row["type"]))
    return Corpus(directory, documents, texts, dict(sorted(by_doc.items())), sorted(superseded), dataset.scheme)


# --- measures ------------------------------------------------------------------------------------------


@dataclass
class F1:
    """Matched items and the items of both sides; F1 = 2·matched / total (None when total is 0)."""

    matched: int = 0
    total: int = 0

    def add(self, matched: int, n_a: int, n_b: int) -> None:
        self.matched += matched
        self.total += n_a + n_b

    def __iadd__(self, other: F1) -> F1:
        self.matched += other.matched
        self.total += other.total
        return self

    @property
    def f1(self) -> float | None:
        return 2 * self.matched / self.total if self.total else None

    def to_dict(self) -> dict[str, Any]:
        return {"f1": self.f1, "matched": self.matched, "total": self.total}


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters' labels for the same items, computed exactly.

    κ = (p_o − p_e) / (1 − p_e), with p_o the share of items both label alike and p_e = Σ_k p_A(k)·p_B(k).
    None when there are no items or p_e = 1 (both raters used one and the same category throughout).
    """
    n = len(pairs)
    if n == 0:
        return None
    observed = Fraction(sum(a == b for a, b in pairs), n)
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = Fraction(sum(first[k] * second[k] for k in first), n * n)
    if expected == 1:
        return None
    return float((observed - expected) / (1 - expected))


def nominal_alpha(value_counts: npt.NDArray[np.int64]) -> float | None:
    """Krippendorff's alpha (nominal) from a units × values count matrix; None when undefined."""
    pairable = value_counts[value_counts.sum(axis=1) >= 2]
    if pairable.size == 0 or int(np.count_nonzero(pairable.sum(axis=0))) < 2:
        return None
    try:
        import krippendorff
    except ImportError as exc:  # pragma: no cover - krippendorff is installed with the dev extra
        raise MissingExtraError("krippendorff", "dev") from exc
    return float(krippendorff.alpha(value_counts=pairable, level_of_measurement="nominal"))


def tokenize(text: str) -> list[tuple[int, int]]:
    """Tokens as code-point (start, end): runs of word characters, and each other non-space character."""
    return [match.span() for match in TOKEN.finditer(text)]


def token_masks(tokens: Sequence[tuple[int, int]], spans: Iterable[Span], labels: Sequence[str]) -> list[int]:
    """Per token, a bit mask of the labels (by index in ``labels``) of the spans sharing a code point with it."""
    starts = [t[0] for t in tokens]
    ends = [t[1] for t in tokens]
    masks = [0] * len(tokens)
    index = {label: i for i, label in enumerate(labels)}
    for span in spans:
        bit = 1 << index[span.label]
        for i in range(bisect.bisect_right(ends, span.start), bisect.bisect_left(starts, span.end)):
            masks[i] |= bit
    return masks


def _overlap_matches(a: Sequence[SpanKey], b: Sequence[SpanKey]) -> int:
    """Size of a maximum one-to-one matching of same-label spans that share at least one code point."""
    adjacent = [[j for j, (lb, sb, eb) in enumerate(b) if lb == la and sa < eb and sb < ea] for la, sa, ea in a]
    return maximum_matching(adjacent)


def _normalise(value: str | None, free_text: bool) -> str:
    if value is None:
        return MISSING
    return " ".join(value.split()).casefold() if free_text else value


@dataclass
class PairCounts:
    """Everything measured between two annotators, summed over the documents they share."""

    exact: dict[str, F1] = field(default_factory=lambda: defaultdict(F1))
    overlap: dict[str, F1] = field(default_factory=lambda: defaultdict(F1))
    relations: dict[str, F1] = field(default_factory=lambda: defaultdict(F1))
    relations_all: F1 = field(default_factory=F1)
    claims_matched: int = 0
    claims_same_speaker: int = 0
    attributes: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))

    def __iadd__(self, other: PairCounts) -> PairCounts:
        for mine, theirs in ((self.exact, other.exact), (self.overlap, other.overlap),
                             (self.relations, other.relations)):
            for key, value in theirs.items():
                mine[key] += value
        self.relations_all += other.relations_all
        self.claims_matched += other.claims_matched
        self.claims_same_speaker += other.claims_same_speaker
        for name, pairs in other.attributes.items():
            self.attributes[name] += pairs
        return self


def compare(a: Annotation, b: Annotation, scheme: Scheme) -> PairCounts:
    """Agreement counts between two annotations of the same document."""
    counts = PairCounts()
    keys_a, keys_b = a.span_keys(), b.span_keys()
    matched = keys_a & keys_b
    for label in sorted({k[0] for k in keys_a | keys_b}):
        la = sorted(k for k in keys_a if k[0] == label)
        lb = sorted(k for k in keys_b if k[0] == label)
        counts.exact[label].add(len(set(la) & set(lb)), len(la), len(lb))
        counts.overlap[label].add(_overlap_matches(la, lb), len(la), len(lb))

    rel_a, rel_b = a.relation_keys(), b.relation_keys()
    counts.relations_all.add(len(rel_a & rel_b), len(rel_a), len(rel_b))
    inner_a = {r for r in rel_a if r[0] in matched and r[1] in matched}
    inner_b = {r for r in rel_b if r[0] in matched and r[1] in matched}
    for kind in sorted({r[2] for r in inner_a | inner_b}):
        ka, kb = {r for r in inner_a if r[2] == kind}, {r for r in inner_b if r[2] == kind}
        counts.relations[kind].add(len(ka & kb), len(ka), len(kb))

    claims = sorted(k for k in matched if k[0] == scheme.claim_label)
    for claim in claims:
        counts.claims_matched += 1
        speakers_a = {r[1] for r in rel_a if r[0] == claim and r[2] == SPEAKER_RELATION}
        speakers_b = {r[1] for r in rel_b if r[0] == claim and r[2] == SPEAKER_RELATION}
        counts.claims_same_speaker += speakers_a == speakers_b

    first_a, first_b = a.first_span_by_key(), b.first_span_by_key()
    for attr in scheme.attributes:
        free_text = attr.control == "textarea"
        for key in sorted(k for k in matched if k[0] == attr.label):
            va = _normalise(getattr(first_a[key], attr.name, None), free_text)
            vb = _normalise(getattr(first_b[key], attr.name, None), free_text)
            counts.attributes[attr.name].append((va, vb))

    stances = set(scheme.stances)
    if stances:
        stance_a: dict[tuple[SpanKey, SpanKey], set[str]] = defaultdict(set)
        stance_b: dict[tuple[SpanKey, SpanKey], set[str]] = defaultdict(set)
        for rels, into in ((rel_a, stance_a), (rel_b, stance_b)):
            for head, tail, kind in rels:
                if kind in stances and head in matched and tail in matched:
                    into[(head, tail)].add(kind)
        for pair in sorted(set(stance_a) | set(stance_b)):
            va = "+".join(sorted(stance_a.get(pair, set()))) or "none"
            vb = "+".join(sorted(stance_b.get(pair, set()))) or "none"
            counts.attributes["stance"].append((va, vb))
    return counts


# --- report --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KappaResult:
    kappa: float | None  # Cohen's kappa for one pair; Light's kappa (mean over pairs) for several
    observed: float | None  # share of items with the same value, pooled over pairs
    items: int
    pairs: int  # annotator pairs with at least one item

    def to_dict(self) -> dict[str, Any]:
        return {"kappa": self.kappa, "observed": self.observed, "items": self.items, "pairs": self.pairs}


@dataclass(frozen=True)
class Measures:
    """Agreement over a set of annotator pairs (one document, or the whole dataset)."""

    pairs: int  # annotator pairs compared (per document)
    exact: dict[str, F1]  # per label, and "overall"
    overlap: dict[str, F1]
    alpha: dict[str, float | None]  # per label, and "overall"
    tokens: int  # tokens in the alpha computation
    claims_matched: int
    claims_same_speaker: int
    kappa: dict[str, KappaResult]
    relations: dict[str, F1]  # per relation type, and "overall" (both endpoints matched)
    relations_all: F1

    @property
    def same_speaker_share(self) -> float | None:
        return self.claims_same_speaker / self.claims_matched if self.claims_matched else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "pairs": self.pairs,
            "spans": {"exact": {k: v.to_dict() for k, v in self.exact.items()},
                      "overlap": {k: v.to_dict() for k, v in self.overlap.items()}},
            "alpha": {"tokens": self.tokens, **self.alpha},
            "claims": {"matched": self.claims_matched, "same_speaker": self.claims_same_speaker,
                       "share": self.same_speaker_share},
            "kappa": {k: v.to_dict() for k, v in self.kappa.items()},
            "relations": {"matched_spans": {k: v.to_dict() for k, v in self.relations.items()},
                          "all_spans": self.relations_all.to_dict()},
        }


@dataclass(frozen=True)
class DocumentAgreement:
    doc_id: str
    annotators: tuple[str, ...]
    measures: Measures

    def to_dict(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "annotators": list(self.annotators), **self.measures.to_dict()}


@dataclass(frozen=True)
class AgreementReport:
    directory: str
    annotators: tuple[str, ...]
    documents: int  # documents in the dataset
    overall: Measures
    per_document: list[DocumentAgreement]  # documents with two or more annotators
    single_annotator: dict[str, str]  # doc_id -> its only annotator (not scored)
    unannotated: list[str]  # documents without a submitted annotation
    superseded_annotations: list[int]  # older submissions of the same annotator and document (not used)
    matrix: dict[str, dict[str, dict[str, float | None]]]  # mode -> annotator -> annotator -> overall F1

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "annotators": list(self.annotators),
            "documents": self.documents,
            "scored_documents": len(self.per_document),
            "single_annotator": self.single_annotator,
            "unannotated": self.unannotated,
            "superseded_annotations": self.superseded_annotations,
            "overall": self.overall.to_dict(),
            "matrix": self.matrix,
            "per_document": [d.to_dict() for d in self.per_document],
        }


def _with_overall(per_key: Mapping[str, F1], keys: Iterable[str]) -> dict[str, F1]:
    result = {key: F1(per_key[key].matched, per_key[key].total) if key in per_key else F1() for key in keys}
    total = F1()
    for value in per_key.values():
        total += value
    return {"overall": total, **result}


def _kappas(pair_counts: Sequence[PairCounts], names: Iterable[str]) -> dict[str, KappaResult]:
    result = {}
    for name in names:
        lists = [pc.attributes.get(name, []) for pc in pair_counts]
        lists = [pairs for pairs in lists if pairs]
        kappas = [k for k in (cohen_kappa(pairs) for pairs in lists) if k is not None]
        items = sum(len(pairs) for pairs in lists)
        same = sum(a == b for pairs in lists for a, b in pairs)
        result[name] = KappaResult(
            kappa=sum(kappas) / len(kappas) if kappas else None,
            observed=same / items if items else None,
            items=items,
            pairs=len(lists),
        )
    return result


def _alphas(value_masks: Sequence[npt.NDArray[np.int64]], labels: Sequence[str]) -> dict[str, float | None]:
    """Alpha overall (the label-set mask as a nominal value) and per label (binary), from per-document
    annotators × tokens mask arrays."""
    if not value_masks:
        return {"overall": None, **dict.fromkeys(labels)}
    blocks = [masks for masks in value_masks if masks.size]
    if not blocks:
        return {"overall": None, **dict.fromkeys(labels)}
    domain = np.unique(np.concatenate([np.unique(masks) for masks in blocks]))
    overall_counts = np.concatenate([
        np.stack([(masks == value).sum(axis=0) for value in domain], axis=1) for masks in blocks
    ]).astype(np.int64)
    result: dict[str, float | None] = {"overall": nominal_alpha(overall_counts)}
    for i, label in enumerate(labels):
        bits = [(masks >> i) & 1 for masks in blocks]
        counts = np.concatenate([np.stack([(b == 0).sum(axis=0), (b == 1).sum(axis=0)], axis=1) for b in bits])
        result[label] = nominal_alpha(counts.astype(np.int64))
    return result


def _measures(pair_counts: Sequence[PairCounts], value_masks: Sequence[npt.NDArray[np.int64]],
              scheme: Scheme, labels: Sequence[str]) -> Measures:
    total = PairCounts()
    for pc in pair_counts:
        total += pc
    attribute_names = [*scheme.attribute_names, *(["stance"] if scheme.stances else [])]
    return Measures(
        pairs=len(pair_counts),
        exact=_with_overall(total.exact, labels),
        overlap=_with_overall(total.overlap, labels),
        alpha=_alphas(value_masks, labels),
        tokens=sum(m.shape[1] for m in value_masks),
        claims_matched=total.claims_matched,
        claims_same_speaker=total.claims_same_speaker,
        kappa=_kappas(pair_counts, attribute_names),
        relations=_with_overall(total.relations, scheme.relation_types),
        relations_all=total.relations_all,
    )


def _labels(corpus: Corpus) -> list[str]:
    """The scheme's span labels, then any other label found in the annotations, in order of appearance."""
    labels = list(corpus.scheme.span_labels)
    for by_annotator in corpus.by_doc.values():
        for annotation in by_annotator.values():
            labels += [s.label for s in annotation.spans if s.label not in labels]
    return labels


def agreement(dataset_dir: Path, scheme_file: Path | None = None) -> AgreementReport:
    """Inter-annotator agreement of the submitted annotations in ``dataset_dir`` (see the module doc),
    under the dataset's own scheme (``scheme_file``: an optional scheme file that must match it)."""
    return corpus_agreement(load_corpus(dataset_dir, scheme_file))


def corpus_agreement(corpus: Corpus) -> AgreementReport:
    """:func:`agreement` of a corpus already loaded by :func:`load_corpus`."""
    scheme = corpus.scheme
    labels = _labels(corpus)
    annotators = tuple(sorted({name for by in corpus.by_doc.values() for name in by}))

    per_document: list[DocumentAgreement] = []
    single: dict[str, str] = {}
    all_pairs: list[PairCounts] = []
    by_pair: dict[tuple[str, str], PairCounts] = defaultdict(PairCounts)
    all_masks: list[npt.NDArray[np.int64]] = []
    for doc_id, by_annotator in corpus.by_doc.items():
        names = sorted(by_annotator)
        if len(names) == 1:
            single[doc_id] = names[0]
            continue
        doc_pairs = []
        for first, second in itertools.combinations(names, 2):
            counts = compare(by_annotator[first], by_annotator[second], scheme)
            doc_pairs.append(counts)
            by_pair[(first, second)] += counts
        tokens = tokenize(corpus.texts[doc_id])
        masks = np.array([token_masks(tokens, by_annotator[name].spans, labels) for name in names],
                         dtype=np.int64).reshape(len(names), len(tokens))
        all_pairs += doc_pairs
        all_masks.append(masks)
        per_document.append(DocumentAgreement(doc_id, tuple(names), _measures(doc_pairs, [masks], scheme, labels)))

    pair_counts_by_annotators = list(by_pair.values())
    matrix: dict[str, dict[str, dict[str, float | None]]] = {}
    for mode in ("exact", "overlap"):
        grid: dict[str, dict[str, float | None]] = {a: {b: (1.0 if a == b else None) for b in annotators}
                                                    for a in annotators}
        for (first, second), counts in by_pair.items():
            pooled = F1()
            for value in getattr(counts, mode).values():
                pooled += value
            grid[first][second] = grid[second][first] = pooled.f1
        matrix[mode] = grid
    return AgreementReport(
        directory=str(corpus.directory),
        annotators=annotators,
        documents=corpus.documents.num_rows,
        overall=_measures(pair_counts_by_annotators, all_masks, scheme, labels),
        per_document=per_document,
        single_annotator=single,
        unannotated=sorted(set(corpus.texts) - set(corpus.by_doc)),
        superseded_annotations=corpus.superseded,
        matrix=matrix,
    )


# --- bootstrap intervals --------------------------------------------------------------------------------

SENTENCE_END = re.compile(r"[.!?…][\"'”’»)\]]*(?=\s)|\n+")


def sentence_starts(text: str) -> list[int]:
    """Code-point offsets where the sentences of ``text`` start (see the module doc); the first is 0."""
    starts = [0]
    for match in SENTENCE_END.finditer(text):
        end = match.end()
        if not starts[-1] < end < len(text):
            continue
        if len(starts) > 1 and not text[starts[-1] : end].strip():
            starts[-1] = end  # white space alone (a line break after a full stop) joins the next sentence
        else:
            starts.append(end)
    return starts


def sentence_units(text: str, annotations: Sequence[Annotation]) -> tuple[list[int], list[int]]:
    """Sentence starts of ``text`` and, per sentence, its unit: the smallest sentence index of the group of
    sentences joined by a span of any of ``annotations`` that crosses them or a relation between them."""
    starts = sentence_starts(text)
    parent = list(range(len(starts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        ri, rj = root(i), root(j)
        parent[max(ri, rj)] = min(ri, rj)

    def sentence(offset: int) -> int:
        return bisect.bisect_right(starts, offset) - 1

    for annotation in annotations:
        by_id = {span.span_id: span for span in annotation.spans}
        for span in annotation.spans:
            for i in range(sentence(span.start), sentence(max(span.start, span.end - 1))):
                join(i, i + 1)
        for rel in annotation.relations:
            if rel.head_span_id in by_id and rel.tail_span_id in by_id:
                join(sentence(by_id[rel.head_span_id].start), sentence(by_id[rel.tail_span_id].start))
    return starts, [root(i) for i in range(len(starts))]


@dataclass
class Unit:
    """One unit of a document: the counts of each annotator pair within it, and its tokens' label masks."""

    doc_id: str
    sentences: int
    pairs: dict[tuple[str, str], PairCounts]
    masks: npt.NDArray[np.int64]  # annotators × tokens of this unit


def _restricted(annotation: Annotation, keep: set[str]) -> Annotation:
    """``annotation`` with only the spans whose ids are in ``keep`` and the relations whose head is one."""
    return Annotation(annotation.annotation_id, annotation.task_id, annotation.doc_id, annotation.annotator,
                      annotation.ground_truth, annotation.updated_at,
                      [span for span in annotation.spans if span.span_id in keep],
                      [rel for rel in annotation.relations if rel.head_span_id in keep])


def document_units(doc_id: str, text: str, by_annotator: Mapping[str, Annotation], scheme: Scheme,
                   labels: Sequence[str]) -> list[Unit]:
    """The units of one document annotated by several annotators, each with its pair counts and token masks."""
    names = sorted(by_annotator)
    starts, unit_of = sentence_units(text, [by_annotator[name] for name in names])

    def unit(offset: int) -> int:
        return unit_of[bisect.bisect_right(starts, offset) - 1]

    tokens = tokenize(text)
    masks = np.array([token_masks(tokens, by_annotator[name].spans, labels) for name in names],
                     dtype=np.int64).reshape(len(names), len(tokens))
    token_units = np.array([unit(start) for start, _ in tokens], dtype=np.int64)
    spans_by_unit: dict[int, set[str]] = defaultdict(set)
    for name in names:
        for span in by_annotator[name].spans:
            spans_by_unit[unit(span.start)].add(span.span_id)
    units = []
    for u in sorted(set(unit_of)):
        keep = spans_by_unit.get(u, set())
        pairs = {(first, second): compare(_restricted(by_annotator[first], keep),
                                          _restricted(by_annotator[second], keep), scheme)
                 for first, second in itertools.combinations(names, 2)}
        units.append(Unit(doc_id, unit_of.count(u), pairs, masks[:, token_units == u]))
    return units


def _flat(measures: Measures) -> dict[str, float | None]:
    """The measures reported with an interval, by a dotted name."""
    values: dict[str, float | None] = {}
    for mode, per_label in (("exact", measures.exact), ("overlap", measures.overlap)):
        values.update({f"spans.{mode}.{label}": f1.f1 for label, f1 in per_label.items()})
    values.update({f"alpha.{label}": value for label, value in measures.alpha.items()})
    values["claims.same_speaker"] = measures.same_speaker_share
    values.update({f"kappa.{name}": k.kappa for name, k in measures.kappa.items()})
    values["relations.matched_spans.overall"] = measures.relations["overall"].f1
    values["relations.all_spans"] = measures.relations_all.f1
    return values


def _pooled(units: Sequence[Unit], scheme: Scheme, labels: Sequence[str]) -> Measures:
    by_pair: dict[tuple[str, str], PairCounts] = defaultdict(PairCounts)
    for unit in units:
        for key, counts in unit.pairs.items():
            by_pair[key] += counts
    masks = [unit.masks for unit in units]
    return _measures(list(by_pair.values()), masks, scheme, labels)


MAX_REPLICATES = 100_000  # a few minutes on one document; beyond that the percentiles no longer move


@dataclass(frozen=True)
class Interval:
    estimate: float | None  # every unit once: the point estimate of agreement()
    low: float | None
    high: float | None
    defined: int  # replicates in which the measure is defined

    def to_dict(self) -> dict[str, Any]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "defined": self.defined}


@dataclass(frozen=True)
class BootstrapReport:
    replicates: int
    seed: int
    units: int
    sentences: int
    confidence: float
    intervals: dict[str, Interval]

    def to_dict(self) -> dict[str, Any]:
        return {"replicates": self.replicates, "seed": self.seed, "unit": "sentence group", "units": self.units,
                "sentences": self.sentences, "confidence": self.confidence,
                "intervals": {name: interval.to_dict() for name, interval in self.intervals.items()}}


def bootstrap(dataset_dir: Path, replicates: int, *, seed: int = 0, confidence: float = 0.95,
              scheme_file: Path | None = None) -> BootstrapReport:
    """Percentile bootstrap intervals of the agreement measures, resampling sentence units (module doc).

    ``replicates`` resamples of all units of the documents with several annotators, drawn with
    replacement by ``numpy.random.default_rng(seed)``; an interval's ends are the ``(1 - confidence) / 2``
    and ``(1 + confidence) / 2`` quantiles of the replicates in which the measure is defined.
    """
    return corpus_bootstrap(load_corpus(dataset_dir, scheme_file), replicates, seed=seed, confidence=confidence)


def corpus_bootstrap(corpus: Corpus, replicates: int, *, seed: int = 0, confidence: float = 0.95) -> BootstrapReport:
    """:func:`bootstrap` of a corpus already loaded by :func:`load_corpus`."""
    if not 1 <= replicates <= MAX_REPLICATES:
        raise ClaimsetError(f"--bootstrap must be a number of replicates from 1 to {MAX_REPLICATES:,}, "
                            f"not {replicates}")
    if seed < 0:
        raise ClaimsetError(f"--seed must be a non-negative integer, not {seed}")
    labels = _labels(corpus)
    units = [unit for doc_id, by_annotator in corpus.by_doc.items() if len(by_annotator) > 1
             for unit in document_units(doc_id, corpus.texts[doc_id], by_annotator, corpus.scheme, labels)]
    if not units:
        raise ClaimsetError(f"{corpus.directory}: no document has two annotators; nothing to resample")
    estimate = _flat(_pooled(units, corpus.scheme, labels))
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {name: [] for name in estimate}
    for _ in range(replicates):
        drawn = [units[i] for i in rng.integers(0, len(units), len(units))]
        for name, value in _flat(_pooled(drawn, corpus.scheme, labels)).items():
            if value is not None:
                samples[name].append(value)
    tail = (1 - confidence) / 2
    intervals = {}
    for name, values in samples.items():
        low, high = (float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail))) if values else (None, None)
        intervals[name] = Interval(estimate[name], low, high, len(values))
    return BootstrapReport(replicates, seed, len(units), sum(unit.sentences for unit in units), confidence, intervals)


def bootstrap_table(boot: Mapping[str, Any]) -> Section:
    """The intervals as a (title, header, rows) table."""
    title = (f"{boot['confidence']:.0%} bootstrap intervals ({boot['replicates']} replicates over {boot['units']} "
             f"sentence units, seed {boot['seed']})")
    rows = [[name, _num(i["estimate"]), _num(i["low"]), _num(i["high"]), str(i["defined"])]
            for name, i in boot["intervals"].items()]
    return title, ["measure", "estimate", "low", "high", "defined in"], rows


# --- rendering -----------------------------------------------------------------------------------------


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


LABEL_COLUMNS = 1  # leading columns of the report tables that name the row; the others are numbers


def report_tables(report: Mapping[str, Any]) -> list[Section]:
    """The report as (title, header, rows) tables of strings, shared by the text and Markdown outputs."""
    overall = report["overall"]
    spans, alpha = overall["spans"], overall["alpha"]
    span_rows = [
        [label, _num(spans["exact"][label]["f1"]), _num(spans["overlap"][label]["f1"]), _num(alpha.get(label)),
         str(spans["exact"][label]["total"])]
        for label in spans["exact"]
    ]
    claims = overall["claims"]
    unit_rows = [["claim speaker (same said_by speaker)", _num(claims["share"]), str(claims["matched"])]]
    unit_rows += [[f"kappa {name}", _num(k["kappa"]), str(k["items"])] for name, k in overall["kappa"].items()]
    unit_rows += [[f"relation F1 {kind} (matched spans)", _num(r["f1"]), str(r["total"])]
                  for kind, r in overall["relations"]["matched_spans"].items()]
    unit_rows.append(["relation F1 overall (all spans)", _num(overall["relations"]["all_spans"]["f1"]),
                      str(overall["relations"]["all_spans"]["total"])])
    annotators = report["annotators"]
    matrix_rows = [[a, *(_num(report["matrix"]["exact"][a][b]) for b in annotators)] for a in annotators]
    doc_rows = [
        [d["doc_id"], ", ".join(d["annotators"]), _num(d["spans"]["exact"]["overall"]["f1"]),
         _num(d["spans"]["overlap"]["overall"]["f1"]), _num(d["alpha"]["overall"]), _num(d["claims"]["share"]),
         _num(d["relations"]["matched_spans"]["overall"]["f1"])]
        for d in report["per_document"]
    ]
    tables = [
        ("spans (F1 between annotators; alpha over tokens)", ["label", "exact F1", "overlap F1", "alpha", "spans"],
         span_rows),
        ("claims, attributes and relations", ["measure", "value", "items"], unit_rows),
        ("annotator x annotator (exact span F1)", ["annotator", *annotators], matrix_rows),
        ("per document", ["doc_id", "annotators", "exact F1", "overlap F1", "alpha", "same speaker",
                          "relation F1"], doc_rows),
    ]
    if report.get("bootstrap"):
        tables.insert(2, bootstrap_table(report["bootstrap"]))
    if report["single_annotator"]:
        tables.append(("documents with one annotator (not scored)", ["doc_id", "annotator"],
                       [[doc, name] for doc, name in report["single_annotator"].items()]))
    return tables


def report_summary(report: Mapping[str, Any]) -> str:
    return (f"{report['directory']}: {len(report['annotators'])} annotator(s), {report['documents']} document(s): "
            f"{report['scored_documents']} with several annotators, {len(report['single_annotator'])} with one, "
            f"{len(report['unannotated'])} without a submitted annotation")


def report_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown: a summary line and one pipe table per section."""
    return markdown([report_summary(report) + "."], report_tables(report), LABEL_COLUMNS)
