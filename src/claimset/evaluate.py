"""Score predicted claims against the gold dataset.

Two families of scores:

**Spans** (Claim, Speaker, Cue, Target), in the four modes of SemEval-2013 task 9.1 exactly as the
``nervaluate`` package (1.2.x) counts them: ``strict`` (boundaries and label), ``exact`` (boundaries),
``partial`` (overlap, half credit) and ``ent_type`` (overlap and label). Each prediction is matched
greedily, in list order, to at most one not-yet-matched gold span of its document; a gold span
"overlaps" a prediction when the shared part is at least ``min_overlap_percentage`` percent of the
gold span (nervaluate's rule; default 1.0). :func:`score_spans` reproduces nervaluate's counts for
any list order, vectorised, in O((n + m) log(n + m) + k) per round (k = overlapping pairs) instead of
O(n·m): overlapping pairs are found by sort and binary search, then predictions whose choice cannot
depend on what earlier predictions take are decided together, round after round (see
:func:`_matching`); the rare long chains left replay nervaluate's loop. :func:`evaluate` feeds both
sides in (start, end, label) order per document.

**Attribution** (direction respected: the claim is always the head): claim–speaker pairs,
claim–target pairs with stance, and full records (claim, speaker, cue, set of targets with stance),
each in three settings after Taillé et al. 2020: ``strict`` (exact boundaries, stance must agree),
``boundaries`` (exact boundaries, stance ignored) and ``relaxed`` (every argument overlaps its gold
counterpart, stance must agree). Plus speaker-entity and quote-type accuracy on claims whose span
matches a gold claim exactly.

**Text-level scores** (:mod:`claimset.textlevel`): attribution at the entity level, names resolved
through the gold's alias tables (:mod:`claimset.entities`), and SQuAD's token F1 of paired claims.

Predicted spans given by quote are anchored when the file is read (:mod:`claimset.quotes`); a quote
that could not be anchored is a spurious span of its label in every mode and an argument that matches
nothing, and the report lists it with its line.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from claimset.codes import Anchoring
from claimset.dataset import load
from claimset.entities import AliasTable, alias_tables
from claimset.errors import ClaimsetError
from claimset.matching import maximum_matching
from claimset.models import AnnotationsModel, DocumentsModel, SpansModel
from claimset.predictions import load_prediction_records
from claimset.report import Section, markdown
from claimset.scheme import Scheme
from claimset.textlevel import ClaimPair, claim_pairs, entity_attribution

MODES = ("strict", "exact", "partial", "ent_type")
SETTINGS = ("strict", "boundaries", "relaxed")
KINDS = ("claim_speaker", "claim_target", "records")
COUNTS = ("correct", "incorrect", "partial", "missed", "spurious")

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_COR, _INC, _SPU = 0, 1, 2


# --- span scores (nervaluate semantics) ------------------------------------------------------------


@dataclass
class SpanScore:
    """Counts and scores of one mode, as nervaluate reports them."""

    correct: int = 0
    incorrect: int = 0
    partial: int = 0
    missed: int = 0
    spurious: int = 0
    possible: int = 0
    actual: int = 0
    precision: float = 0.0
    recall: float = 0.0
    f1: float = 0.0

    @classmethod
    def from_counts(cls, counts: Sequence[int], mode: str) -> SpanScore:
        cor, inc, par, mis, spu = (int(c) for c in counts)
        actual = cor + inc + par + spu
        possible = cor + inc + par + mis
        hit = cor + 0.5 * par if mode in ("partial", "ent_type") else cor
        precision = hit / actual if actual > 0 else 0
        recall = hit / possible if possible > 0 else 0
        f1 = 2 * (precision * recall) / (precision + recall) if (precision + recall) > 0 else 0
        return cls(cor, inc, par, mis, spu, possible, actual, float(precision), float(recall), float(f1))


@dataclass
class SpanCounts:
    """Raw counts from :func:`score_spans`: columns (correct, incorrect, partial, missed, spurious).

    ``overall[m]`` has shape (documents, 5): every label together, as nervaluate's ``overall``.
    ``per_label[m]`` has shape (documents, labels, 5): each label alone, as nervaluate's ``entities``.
    """

    labels: tuple[str, ...]
    overall: dict[str, IntArray]
    per_label: dict[str, IntArray]
    used_labels: tuple[str, ...]  # labels present in gold or predictions (nervaluate's "used tags")

    def overall_score(self, mode: str, docs: slice | IntArray | None = None) -> SpanScore:
        rows = self.overall[mode] if docs is None else self.overall[mode][docs]
        return SpanScore.from_counts(rows.sum(axis=0), mode)

    def label_score(self, mode: str, label: str) -> SpanScore:
        return SpanScore.from_counts(self.per_label[mode][:, self.labels.index(label)].sum(axis=0), mode)


def _expand(lo: IntArray, hi: IntArray) -> tuple[IntArray, IntArray]:
    """(owner, position) for every position in the ranges [lo[i], hi[i])."""
    counts = np.maximum(hi - lo, 0)
    total = int(counts.sum())
    owner = np.repeat(np.arange(len(lo), dtype=np.int64), counts)
    starts = np.repeat(np.cumsum(counts) - counts - lo, counts)
    return owner, np.arange(total, dtype=np.int64) - starts


def overlapping_pairs(p_group: IntArray, p_start: IntArray, p_end: IntArray,
                      t_group: IntArray, t_start: IntArray, t_end: IntArray) -> tuple[IntArray, IntArray]:
    """Every (prediction, gold) index pair of the same group whose half-open intervals share a point.

    Sort + binary search: pairs whose gold start lies in [p_start, p_end), then pairs whose
    prediction start lies strictly inside (t_start, t_end); the two sets are disjoint and cover
    every overlap. O((n + m) log(n + m) + pairs).
    """
    empty = np.zeros(0, dtype=np.int64)
    if len(p_start) == 0 or len(t_start) == 0:
        return empty, empty
    width = int(max(p_end.max(), t_end.max())) + 1
    t_key = t_group * width + t_start
    t_order = np.argsort(t_key, kind="stable")
    t_sorted = t_key[t_order]
    p_key = p_group * width + p_start
    p_order = np.argsort(p_key, kind="stable")
    p_sorted = p_key[p_order]
    owner_a, pos_a = _expand(np.searchsorted(t_sorted, p_key, "left"),
                             np.searchsorted(t_sorted, p_group * width + p_end, "left"))
    owner_b, pos_b = _expand(np.searchsorted(p_sorted, t_key, "right"),
                             np.searchsorted(p_sorted, t_group * width + t_end, "left"))
    preds = np.concatenate([owner_a, p_order[pos_b]])
    golds = np.concatenate([t_order[pos_a], owner_b])
    return preds, golds


def _ideal(pi: IntArray, ti: IntArray, flag: BoolArray, dist: IntArray | None,
           n_pred: int) -> tuple[IntArray, IntArray, BoolArray]:
    """Per prediction with candidates: the gold span it takes if all its candidates are free, and whether flagged."""
    preds, first_pair = np.unique(pi, return_index=True)
    ideal = np.full(n_pred, -1, dtype=np.int64)
    ideal[preds] = ti[first_pair]
    flagged = np.flatnonzero(flag)
    if dist is not None and len(flagged):
        flagged = flagged[np.lexsort((ti[flagged], dist[flagged], pi[flagged]))]
    hit_preds, first_flagged = np.unique(pi[flagged], return_index=True)
    ideal[hit_preds] = ti[flagged[first_flagged]]
    hit = np.zeros(n_pred, dtype=bool)
    hit[hit_preds] = True
    return preds, ideal, hit


MAX_ROUNDS = 12


def _matching(pi: IntArray, ti: IntArray, flag: BoolArray, dist: IntArray | None, n_pred: int,
              n_gold: int) -> IntArray:
    """COR/INC/SPU per prediction for one of nervaluate's greedy matchings.

    ``pi``/``ti`` are the candidate pairs sorted by (prediction, gold). In list order, a prediction
    takes, among its candidates not matched by an earlier prediction, the first ``flag``ged one (with
    ``dist``: the flagged one of least distance, earliest on ties) and scores COR; else the first one,
    INC; with no candidate left it is SPU.

    Vectorised in rounds: a prediction's *ideal* choice is what it takes from its candidates not yet
    taken by decided predictions. When no earlier undecided prediction has that gold span as a
    candidate, nothing can take it first, so the prediction is decided. (A prediction decided later
    in the list never took a candidate of an undecided earlier one, by the same rule.) Each round
    decides at least the first undecided prediction of every document; what is left after
    ``MAX_ROUNDS`` replays nervaluate's loop.
    """
    out = np.full(n_pred, _SPU, dtype=np.int64)
    taken = np.zeros(n_gold, dtype=bool)
    d = dist
    for _ in range(MAX_ROUNDS):
        if len(pi) == 0:
            return out
        preds, ideal, hit = _ideal(pi, ti, flag, d, n_pred)
        golds_seen, first_seen = np.unique(ti, return_index=True)  # pairs are sorted by prediction
        earliest = np.full(n_gold, n_pred, dtype=np.int64)
        earliest[golds_seen] = pi[first_seen]
        decided = preds[earliest[ideal[preds]] == preds]
        out[decided] = np.where(hit[decided], _COR, _INC)
        taken[ideal[decided]] = True
        done = np.zeros(n_pred, dtype=bool)
        done[decided] = True
        keep = ~done[pi] & ~taken[ti]
        pi, ti, flag = pi[keep], ti[keep], flag[keep]
        d = None if d is None else d[keep]
        if len(decided) * 4 < len(preds):
            break  # long chains of contested predictions: replay them
    if len(pi) == 0:
        return out
    undecided = np.unique(pi)
    starts = np.searchsorted(pi, undecided, "left").tolist()
    stops = np.searchsorted(pi, undecided, "right").tolist()
    golds, flags = ti.tolist(), flag.tolist()
    dists = None if d is None else d.tolist()
    matched: set[int] = set()
    for pred, a, b in zip(undecided.tolist(), starts, stops, strict=True):
        chosen, is_hit, first, best_dist = -1, False, -1, 0
        for k in range(a, b):
            gold = golds[k]
            if gold in matched:
                continue
            if flags[k]:
                if dists is None:
                    chosen, is_hit = gold, True
                    break
                if not is_hit or dists[k] < best_dist:
                    chosen, is_hit, best_dist = gold, True, dists[k]
            elif first < 0:
                first = gold
        if not is_hit:
            chosen = first
        out[pred] = _SPU if chosen < 0 else _COR if is_hit else _INC
        if chosen >= 0:
            matched.add(chosen)
    return out


def _outcomes(pg: IntArray, ps: IntArray, pe: IntArray, pl: IntArray,
              tg: IntArray, ts: IntArray, te: IntArray, tl: IntArray,
              min_overlap_percentage: float) -> tuple[IntArray, IntArray, IntArray]:
    """Per prediction: COR/INC/SPU under the strict, boundary (exact/partial) and ent_type matchings."""
    n_pred, n_gold = len(ps), len(ts)
    pi, ti = overlapping_pairs(pg, ps, pe, tg, ts, te)
    overlap = np.minimum(pe[pi], te[ti]) - np.maximum(ps[pi], ts[ti])
    # nervaluate: (overlap_span / true_span) * 100.0 >= min_overlap_percentage, with inclusive ends
    enough = (overlap / (te[ti] - ts[ti])) * 100.0 >= min_overlap_percentage
    pi, ti = pi[enough], ti[enough]
    order = np.lexsort((ti, pi))
    pi, ti = pi[order], ti[order]
    bounds = (ps[pi] == ts[ti]) & (pe[pi] == te[ti])
    same = pl[pi] == tl[ti]
    dist = np.abs(ps[pi] - ts[ti]) + np.abs(pe[pi] - te[ti])
    return (_matching(pi, ti, bounds & same, None, n_pred, n_gold),
            _matching(pi, ti, bounds, None, n_pred, n_gold),
            _matching(pi, ti, same, dist, n_pred, n_gold))


def _view_counts(pg: IntArray, tg: IntArray, n_groups: int,
                 outcomes: tuple[IntArray, IntArray, IntArray]) -> dict[str, IntArray]:
    """Counts per group for each mode from per-prediction outcomes."""
    n_gold = np.bincount(tg, minlength=n_groups)
    strict, boundary, ent_type = outcomes
    result = {}
    for mode, out in (("strict", strict), ("exact", boundary), ("partial", boundary), ("ent_type", ent_type)):
        cor = np.bincount(pg[out == _COR], minlength=n_groups)
        inc = np.bincount(pg[out == _INC], minlength=n_groups)
        spu = np.bincount(pg[out == _SPU], minlength=n_groups)
        zero = np.zeros(n_groups, dtype=np.int64)
        mis = n_gold - cor - inc
        columns = (cor, zero, inc, mis, spu) if mode == "partial" else (cor, inc, zero, mis, spu)
        result[mode] = np.stack(columns, axis=1).astype(np.int64)
    return result


def score_spans(gold: pd.DataFrame, pred: pd.DataFrame, labels: Sequence[str],
                doc_ids: Sequence[str] | None = None, min_overlap_percentage: float = 1.0) -> SpanCounts:
    """nervaluate's four modes over labelled spans, vectorised.

    ``gold`` and ``pred`` have columns ``doc_id``, ``label``, ``start``, ``end`` (half-open code
    points); row order within a document is the list order nervaluate would see. Spans whose label
    is not in ``labels`` are ignored (nervaluate's ``tags``). ``doc_ids`` fixes the documents and
    their order (default: every document of ``gold`` then of ``pred``, in order of appearance).
    """
    if not 1.0 <= min_overlap_percentage <= 100.0:
        raise ClaimsetError("min_overlap_percentage must be between 1.0 and 100.0")
    labels = tuple(labels)
    gold = gold[gold["label"].isin(labels)]
    pred = pred[pred["label"].isin(labels)]
    if doc_ids is None:
        doc_ids = list(dict.fromkeys([*gold["doc_id"].tolist(), *pred["doc_id"].tolist()]))
    doc_ids = list(doc_ids)
    n_docs, n_labels = len(doc_ids), len(labels)

    def arrays(frame: pd.DataFrame) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        docs = np.asarray(pd.Categorical(frame["doc_id"], categories=doc_ids).codes, dtype=np.int64)
        if (docs < 0).any():
            raise ClaimsetError(f"span of unknown document {frame['doc_id'].iloc[int(np.argmin(docs))]!r}")
        label_codes = np.asarray(pd.Categorical(frame["label"], categories=labels).codes, dtype=np.int64)
        return (docs, frame["start"].to_numpy(dtype=np.int64), frame["end"].to_numpy(dtype=np.int64), label_codes)

    gd, gs, ge, gl = arrays(gold)
    pd_, ps, pe, pl = arrays(pred)
    overall = _view_counts(pd_, gd, n_docs, _outcomes(pd_, ps, pe, pl, gd, gs, ge, gl, min_overlap_percentage))
    pgl, tgl = pd_ * n_labels + pl, gd * n_labels + gl
    per_label = _view_counts(pgl, tgl, n_docs * n_labels,
                             _outcomes(pgl, ps, pe, pl, tgl, gs, ge, gl, min_overlap_percentage))
    used = set(gl.tolist()) | set(pl.tolist())
    return SpanCounts(
        labels=labels,
        overall=overall,
        per_label={mode: counts.reshape(n_docs, n_labels, len(COUNTS)) for mode, counts in per_label.items()},
        used_labels=tuple(label for i, label in enumerate(labels) if i in used),
    )


def as_nervaluate(spans: pd.DataFrame, doc_ids: Sequence[str]) -> list[list[dict[str, Any]]]:
    """The same spans as nervaluate's ``dict`` loader input: inclusive ``end`` (= our end - 1), per document."""
    docs: dict[str, list[dict[str, Any]]] = {doc: [] for doc in doc_ids}
    for doc, label, start, end in zip(spans["doc_id"], spans["label"], spans["start"], spans["end"], strict=True):
        docs[doc].append({"label": label, "start": int(start), "end": int(end) - 1})
    return [docs[doc] for doc in doc_ids]


# --- gold -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gold:
    """The gold side of an evaluation: one submitted annotation per document."""

    directory: str
    texts: dict[str, str]  # every document of the dataset
    annotation_of: dict[str, int]  # doc_id -> the annotation scored, for annotated documents only
    spans: pd.DataFrame  # spans of those annotations: doc_id, label, start, end, entity, quote_type, span_id
    records: list[dict[str, Any]]  # one per Claim span, in the predictions format
    scheme: Scheme

    @property
    def doc_ids(self) -> list[str]:
        return list(self.annotation_of)


def choose_annotations(annotations: pd.DataFrame) -> dict[str, int]:
    """doc_id -> the submitted annotation to score: the only one, or the only ground-truth one."""
    submitted = annotations[annotations[AnnotationsModel.status] == "submitted"]
    chosen: dict[str, int] = {}
    for doc_id, group in submitted.groupby(AnnotationsModel.doc_id, sort=True):
        if len(group) > 1:
            truth = group[group[AnnotationsModel.ground_truth].astype(bool)]
            if len(truth) != 1:
                raise ClaimsetError(f"doc {doc_id} has {len(group)} submitted annotations; "
                                    "adjudicate first (claimset adjudicate)")
            group = truth
        chosen[str(doc_id)] = int(group[AnnotationsModel.annotation_id].iloc[0])
    return chosen


def _none(value: Any) -> Any:
    return None if value is None or pd.isna(value) else value


def load_gold(directory: Path, scheme_file: Path | None = None) -> Gold:
    """Read a dataset folder (under its own scheme; ``scheme_file`` is an optional file that must match it)
    and build the gold spans and claim records of its chosen annotations.

    The records are the rows of the derived claims table (:mod:`claimset.claims`, one rule for the
    speaker, cue and targets of a claim) in the predictions format.
    """
    dataset = load(directory, scheme_file)
    documents = dataset.table("documents")
    texts = dict(zip(documents.column(DocumentsModel.doc_id).to_pylist(),
                     documents.column(DocumentsModel.text).to_pylist(), strict=True))
    chosen = {doc: aid for doc, aid in choose_annotations(dataset.to_pandas("annotations")).items() if doc in texts}
    spans = dataset.to_pandas("spans")
    spans = spans[spans[SpansModel.annotation_id].isin(list(chosen.values()))]
    spans = spans.sort_values([SpansModel.doc_id, SpansModel.start, SpansModel.end, SpansModel.label],
                              kind="stable").reset_index(drop=True)
    chosen_ids = set(chosen.values())
    records = [_record(claim) for claim in dataset.claims.to_pylist() if claim["annotation_id"] in chosen_ids]
    gold_spans = pd.DataFrame({
        "doc_id": spans[SpansModel.doc_id], "label": spans[SpansModel.label],
        "start": spans[SpansModel.start].astype("int64"), "end": spans[SpansModel.end].astype("int64"),
        "entity": spans[SpansModel.entity], "quote_type": spans[SpansModel.quote_type],
        "span_id": spans[SpansModel.span_id],
    })
    return Gold(str(directory), texts, dict(sorted(chosen.items())), gold_spans, records, dataset.scheme)


def _record(claim: Mapping[str, Any]) -> dict[str, Any]:
    """A row of the claims table as a record in the predictions format."""
    record: dict[str, Any] = {"doc_id": claim["doc_id"], "claim": {"start": claim["start"], "end": claim["end"]}}
    if claim["speaker_span_id"] is not None:
        record["speaker"] = {"start": claim["speaker_start"], "end": claim["speaker_end"]}
        if claim["speaker_entity"] is not None:
            record["speaker"]["entity"] = claim["speaker_entity"]
    if claim["cue_span_id"] is not None:
        record["cue"] = {"start": claim["cue_start"], "end": claim["cue_end"]}
    if claim["targets"]:
        record["targets"] = [{"start": t["start"], "end": t["end"], "stance": t["stance"],
                              **({"entity": t["entity"]} if t["entity"] is not None else {})}
                             for t in claim["targets"]]
    if claim["quote_type"] is not None:
        record["quote_type"] = claim["quote_type"]
    return record


def labelled_mentions(record: Mapping[str, Any], scheme: Scheme) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(label, path in the record, mention) for the claim, speaker, cue and each target of a record."""
    yield scheme.claim_label, "claim", record["claim"]
    for key, label in (("speaker", scheme.speaker_label), ("cue", scheme.cue_label)):
        if record.get(key):
            yield label, key, record[key]
    for index, target in enumerate(record.get("targets") or []):
        yield scheme.target_label, f"targets[{index}]", target


def spans_of_records(records: Iterable[Mapping[str, Any]], scheme: Scheme) -> pd.DataFrame:
    """Labelled spans of records (claim, speaker, cue, targets, labelled as in ``scheme``), identical
    spans of a document once, in (doc_id, start, end, label) order. Mentions without a span (a quote that
    was not anchored, an entity alone) are left out."""
    rows = [(record["doc_id"], label, mention["start"], mention["end"])
            for record in records for label, _, mention in labelled_mentions(record, scheme) if "start" in mention]
    frame = pd.DataFrame(rows, columns=["doc_id", "label", "start", "end"])
    frame = frame.astype({"doc_id": object, "label": object, "start": "int64", "end": "int64"})
    return _canonical(frame)


def unplaced_spans(records: Iterable[Mapping[str, Any]], scheme: Scheme) -> list[tuple[str, str]]:
    """(doc_id, label) of every distinct quote that was not anchored (same document, label and selector once)."""
    found: dict[tuple[str, str, NoSpan | Span | None], None] = {}
    for record in records:
        for label, _, mention in labelled_mentions(record, scheme):
            if "quote" in mention and "start" not in mention:
                found[(record["doc_id"], label, _span(mention))] = None
    return [(doc_id, label) for doc_id, label, _ in found]


def add_spurious(counts: SpanCounts, doc_ids: Sequence[str], spans: Iterable[tuple[str, str]]) -> None:
    """Count each (doc_id, label) of ``spans`` as one more spurious prediction, in every mode."""
    spurious = COUNTS.index("spurious")
    row_of = {doc_id: row for row, doc_id in enumerate(doc_ids)}
    added = set()
    for doc_id, label in spans:
        doc, column = row_of[doc_id], counts.labels.index(label)
        added.add(label)
        for mode in MODES:
            counts.overall[mode][doc, spurious] += 1
            counts.per_label[mode][doc, column, spurious] += 1
    counts.used_labels = tuple(label for label in counts.labels if label in added or label in counts.used_labels)


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.drop_duplicates(["doc_id", "label", "start", "end"])
    return frame.sort_values(["doc_id", "start", "end", "label"], kind="stable").reset_index(drop=True)


# --- attribution ----------------------------------------------------------------------------------


@dataclass
class PRF:
    """Matched items, predicted items, gold items, and precision/recall/F1 from them."""

    correct: int = 0
    predicted: int = 0
    gold: int = 0
    precision: float = 0.0
    recall: float = 0.0
    f1: float = 0.0

    @classmethod
    def of(cls, correct: int, predicted: int, gold: int) -> PRF:
        p = correct / predicted if predicted else 0.0
        r = correct / gold if gold else 0.0
        return cls(correct, predicted, gold, p, r, 2 * p * r / (p + r) if p + r else 0.0)

    def __add__(self, other: PRF) -> PRF:
        return PRF.of(self.correct + other.correct, self.predicted + other.predicted, self.gold + other.gold)


@dataclass
class Accuracy:
    total: int = 0
    correct: int = 0
    accuracy: float = 0.0

    @classmethod
    def of(cls, correct: int, total: int) -> Accuracy:
        return cls(total, correct, correct / total if total else 0.0)


Span = tuple[int, int]


@dataclass(frozen=True)
class NoSpan:
    """The place of a mention that has none in the text: a quote that was not anchored (``key`` is its
    selector), or a speaker or target given by its entity alone. It overlaps nothing and equals no span."""

    key: tuple[str, ...]


Position = Span | NoSpan


def _span(mention: Mapping[str, Any] | None) -> Position | None:
    """A mention's place: its span, a :class:`NoSpan`, or None for no mention."""
    if not mention:
        return None
    if "start" in mention:
        return (int(mention["start"]), int(mention["end"]))
    if "quote" in mention:
        return NoSpan(("quote", str(mention["quote"]), str(mention.get("prefix", "")), str(mention.get("suffix", ""))))
    return NoSpan(("entity", str(mention.get("entity"))))


def _gives_span(mention: Mapping[str, Any] | None) -> bool:
    """Whether the mention gives a span: offsets, or a quote (anchored or not); not an entity alone."""
    return mention is not None and ("start" in mention or "quote" in mention)


def _overlaps(a: Position | None, b: Position | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, NoSpan) or isinstance(b, NoSpan):
        return False
    return max(a[0], b[0]) < min(a[1], b[1])


Target = tuple[Position, str]


def _targets_match(pred: frozenset[Target], gold: frozenset[Target]) -> bool:
    """Same number of targets, paired one-to-one by overlap with equal stance (bipartite matching)."""
    if len(pred) != len(gold):
        return False
    gold_list = list(gold)
    adjacent = [[j for j, g in enumerate(gold_list) if g[1] == p[1] and _overlaps(p[0], g[0])] for p in pred]
    return maximum_matching(adjacent) == len(pred)


def _target_order(target: tuple[Position | None, str]) -> tuple[Any, ...]:
    """Spans by (start, end, stance), then the targets without a span."""
    place, stance = target
    return (1, place.key, stance) if isinstance(place, NoSpan) else (0, place, stance)


# An item: (strict key, boundaries key, relaxed matcher input); per document.
Item = tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]


def _items(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, list[Item]]]:
    """doc_id -> kind -> items of that kind, one per distinct strict key, in record order.

    Pairs are made of mentions that give spans; in full records, an entity given alone is an argument
    that matches no gold argument (it is not a missing one).
    """
    out: dict[str, dict[str, list[Item]]] = {}
    seen: set[tuple[Any, ...]] = set()
    for record in records:
        doc = record["doc_id"]
        kinds = out.setdefault(doc, {kind: [] for kind in KINDS})
        claim = _span(record["claim"])
        speaker = _span(record.get("speaker"))
        cue = _span(record.get("cue"))
        targets = frozenset((_span(t), str(t.get("stance") or "about")) for t in record.get("targets") or [])
        candidates: list[tuple[str, Item]] = []
        if _gives_span(record.get("speaker")):
            key = (claim, speaker)
            candidates.append(("claim_speaker", (key, key, key)))
        spanned = {(_span(t), str(t.get("stance") or "about")) for t in record.get("targets") or [] if _gives_span(t)}
        for place, stance in sorted(spanned, key=_target_order):
            candidates.append(("claim_target", ((claim, place, stance), (claim, place), (claim, place, stance))))
        bare = frozenset(place for place, _ in targets)
        candidates.append(("records", ((claim, speaker, cue, targets), (claim, speaker, cue, bare),
                                       (claim, speaker, cue, targets))))
        for kind, item in candidates:
            if (doc, kind, item[0]) not in seen:
                seen.add((doc, kind, item[0]))
                kinds[kind].append(item)
    return out


def _relaxed_match(kind: str, pred: tuple[Any, ...], gold: tuple[Any, ...]) -> bool:
    if kind == "claim_speaker":
        return _overlaps(pred[0], gold[0]) and _overlaps(pred[1], gold[1])
    if kind == "claim_target":
        return pred[2] == gold[2] and _overlaps(pred[0], gold[0]) and _overlaps(pred[1], gold[1])
    return (_overlaps(pred[0], gold[0]) and _overlaps(pred[1], gold[1]) and _overlaps(pred[2], gold[2])
            and _targets_match(pred[3], gold[3]))


def _score_items(kind: str, pred: list[Item], gold: list[Item]) -> dict[str, PRF]:
    scores = {}
    for setting, position in (("strict", 0), ("boundaries", 1)):
        pred_keys = {item[position] for item in pred}
        gold_keys = {item[position] for item in gold}
        scores[setting] = PRF.of(len(pred_keys & gold_keys), len(pred_keys), len(gold_keys))
    # relaxed: greedy one-to-one, predictions in order, each to the first unmatched gold item that
    # matches; candidates found by sorting gold claims and binary search on their start.
    gold_sorted = sorted(range(len(gold)), key=lambda i: gold[i][2][0])
    gold_starts = [gold[i][2][0][0] for i in gold_sorted]
    max_len = max((gold[i][2][0][1] - gold[i][2][0][0] for i in gold_sorted), default=0)
    matched: set[int] = set()
    hits = 0
    for item in pred:
        claim = item[2][0]
        if isinstance(claim, NoSpan):
            continue
        lo = bisect.bisect_left(gold_starts, claim[0] - max_len)
        hi = bisect.bisect_left(gold_starts, claim[1])
        candidates = sorted(gold_sorted[lo:hi])
        for i in candidates:
            if i not in matched and _relaxed_match(kind, item[2], gold[i][2]):
                matched.add(i)
                hits += 1
                break
    scores["relaxed"] = PRF.of(hits, len(pred), len(gold))
    return scores


def _normalise(name: Any) -> str | None:
    if name is None or (not isinstance(name, str) and pd.isna(name)):
        return None
    return " ".join(str(name).split()).casefold()


def _attribute_accuracy(pred: Iterable[Mapping[str, Any]],
                        gold: Iterable[Mapping[str, Any]]) -> tuple[Accuracy, Accuracy]:
    """Speaker entity and quote type, on predicted claims whose span equals a gold claim's."""
    gold_by_claim: dict[tuple[str, Position | None], Mapping[str, Any]] = {}
    for record in gold:
        gold_by_claim.setdefault((record["doc_id"], _span(record["claim"])), record)
    seen: set[tuple[str, Position | None]] = set()
    speaker = [0, 0]
    quote = [0, 0]
    for record in pred:
        key = (record["doc_id"], _span(record["claim"]))
        if key in seen or key not in gold_by_claim:
            continue
        seen.add(key)
        truth = gold_by_claim[key]
        gold_entity = _normalise((truth.get("speaker") or {}).get("entity"))
        if gold_entity is not None:
            speaker[0] += 1
            speaker[1] += gold_entity == _normalise((record.get("speaker") or {}).get("entity"))
        if truth.get("quote_type"):
            quote[0] += 1
            quote[1] += truth["quote_type"] == record.get("quote_type")
    return Accuracy.of(speaker[1], speaker[0]), Accuracy.of(quote[1], quote[0])


# --- report ---------------------------------------------------------------------------------------


ENTITY_KINDS = ("claim_speaker", "claim_target")


@dataclass
class DocumentScores:
    doc_id: str
    gold_claims: int
    predicted_claims: int
    spans: dict[str, SpanScore]  # mode -> overall span score of the document
    attribution: dict[str, dict[str, PRF]]  # kind -> setting -> score
    entity_attribution: dict[str, PRF] = field(default_factory=dict)  # kind -> score

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id, "gold_claims": self.gold_claims, "predicted_claims": self.predicted_claims,
            "spans": {mode: score.__dict__.copy() for mode, score in self.spans.items()},
            "attribution": {kind: {s: v.__dict__.copy() for s, v in by.items()}
                            for kind, by in self.attribution.items()},
            "entity_attribution": {kind: v.__dict__.copy() for kind, v in self.entity_attribution.items()},
        }


@dataclass
class TokenF1:
    """SQuAD token F1 of claims: the mean over matched (gold, predicted) claim pairs, and the pairs."""

    mean: float
    matched: int
    predicted: int  # distinct predicted claims, anchored or not
    gold: int  # distinct gold claims
    pairs: list[dict[str, Any]]

    @classmethod
    def of(cls, pairs: Sequence[ClaimPair], predicted: int, gold: int) -> TokenF1:
        mean = sum(pair.f1 for pair in pairs) / len(pairs) if pairs else 0.0
        return cls(mean, len(pairs), predicted, gold, [pair.to_dict() for pair in pairs])


@dataclass
class EvaluationReport:
    """Every score of one evaluation; no I/O. ``to_dict()`` is what ``--format json`` prints."""

    gold: str
    predictions: str
    documents: list[str]
    ignored_documents: list[str]  # predicted documents without a submitted gold annotation
    gold_claims: int
    predicted_claims: int
    spans: dict[str, dict[str, SpanScore]]  # mode -> "overall" | label -> score
    macro: dict[str, dict[str, float]]  # mode -> precision/recall/f1 averaged over used labels
    attribution: dict[str, dict[str, PRF]]  # kind -> setting -> score
    speaker_entity: Accuracy
    quote_type: Accuracy
    per_document: list[DocumentScores] = field(default_factory=list, repr=False)
    anchoring: dict[str, int] = field(default_factory=dict)  # Anchoring code -> spans placed that way
    unanchored: list[dict[str, Any]] = field(default_factory=list)  # quotes not anchored, record by record
    entity_attribution: dict[str, PRF] = field(default_factory=dict)  # kind -> score
    entity_names: dict[str, int] = field(default_factory=dict)  # EntityMatch code -> predicted names
    ambiguous_names: list[dict[str, Any]] = field(default_factory=list)  # names of several entities, by record
    claim_token_f1: TokenF1 = field(default_factory=lambda: TokenF1(0.0, 0, 0, 0, []))

    def to_dict(self) -> dict[str, Any]:
        return {
            "gold": self.gold,
            "predictions": self.predictions,
            "documents": len(self.documents),
            "ignored_documents": self.ignored_documents,
            "gold_claims": self.gold_claims,
            "predicted_claims": self.predicted_claims,
            "anchoring": self.anchoring,
            "unanchored": self.unanchored,
            "spans": {mode: {name: score.__dict__.copy() for name, score in by.items()}
                      for mode, by in self.spans.items()},
            "macro": self.macro,
            "claim_token_f1": self.claim_token_f1.__dict__.copy(),
            "attribution": {kind: {s: v.__dict__.copy() for s, v in by.items()}
                            for kind, by in self.attribution.items()},
            "entity_attribution": {kind: v.__dict__.copy() for kind, v in self.entity_attribution.items()},
            "entity_names": self.entity_names,
            "ambiguous_names": self.ambiguous_names,
            "speaker_entity": self.speaker_entity.__dict__.copy(),
            "quote_type": self.quote_type.__dict__.copy(),
            "per_document": [doc.to_dict() for doc in self.per_document],
        }


def _anchoring(records: Iterable[Mapping[str, Any]], scheme: Scheme) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """How many spans were placed each way, and every quote that was not anchored, with where it is."""
    counts = dict.fromkeys((code.value for code in Anchoring), 0)
    unanchored = []
    for record in records:
        for _, path, mention in labelled_mentions(record, scheme):
            if "start" not in mention and "quote" not in mention:
                continue  # an entity alone
            how = str(mention.get("anchoring", Anchoring.OFFSETS))
            counts[how] += 1
            if "start" not in mention:
                unanchored.append({"doc_id": record["doc_id"], "line": record.get("line"), "mention": path,
                                   "quote": mention["quote"], "prefix": mention.get("prefix"),
                                   "suffix": mention.get("suffix"), "anchoring": how,
                                   "places": mention.get("places", 0)})
    return counts, unanchored


def _by_document(records: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        grouped.setdefault(record["doc_id"], []).append(record)
    return grouped


def _alias_tables(gold: Gold) -> dict[str, AliasTable]:
    spans = gold.spans[gold.spans["entity"].notna()]
    return alias_tables((doc_id, entity, gold.texts[doc_id][start:end]) for doc_id, entity, start, end in
                        zip(spans["doc_id"], spans["entity"], spans["start"], spans["end"], strict=True))


def evaluate_records(gold: Gold, pred_records: Sequence[Mapping[str, Any]], source: str = "") -> EvaluationReport:
    """Score prediction records (already validated; spans as offsets, or quotes that were not anchored, as
    :meth:`claimset.predictions.Predictions.anchored_records` gives them) against loaded gold."""
    doc_ids = gold.doc_ids
    annotated = set(doc_ids)
    ignored = sorted({r["doc_id"] for r in pred_records} - annotated)
    pred_records = [r for r in pred_records if r["doc_id"] in annotated]
    gold_spans = _canonical(gold.spans[["doc_id", "label", "start", "end"]])
    labels = gold.scheme.span_labels
    counts = score_spans(gold_spans, spans_of_records(pred_records, gold.scheme), labels, doc_ids)
    add_spurious(counts, doc_ids, unplaced_spans(pred_records, gold.scheme))
    spans: dict[str, dict[str, SpanScore]] = {}
    macro: dict[str, dict[str, float]] = {}
    for mode in MODES:
        spans[mode] = {"overall": counts.overall_score(mode)}
        spans[mode].update({label: counts.label_score(mode, label) for label in labels})
        used = [spans[mode][label] for label in counts.used_labels]
        macro[mode] = {metric: (sum(getattr(s, metric) for s in used) / len(used) if used else 0.0)
                       for metric in ("precision", "recall", "f1")}
    gold_items, pred_items = _items(gold.records), _items(pred_records)
    per_doc_attr: dict[str, dict[str, dict[str, PRF]]] = {}
    for doc in doc_ids:
        g, p = gold_items.get(doc, {}), pred_items.get(doc, {})
        per_doc_attr[doc] = {kind: _score_items(kind, p.get(kind, []), g.get(kind, [])) for kind in KINDS}
    attribution = {kind: {setting: sum((per_doc_attr[d][kind][setting] for d in doc_ids), PRF())
                          for setting in SETTINGS} for kind in KINDS}
    gold_grouped = _by_document(gold.records)
    gold_by_doc = {doc: gold_grouped.get(doc, []) for doc in doc_ids}
    pred_by_doc = _by_document(pred_records)
    entities = entity_attribution(gold_by_doc, pred_by_doc, gold.texts, _alias_tables(gold))
    per_doc_entity = {doc: {kind: PRF.of(*entities.tallies[doc][kind]) for kind in ENTITY_KINDS} for doc in doc_ids}
    speaker_entity, quote_type = _attribute_accuracy(pred_records, gold.records)
    anchoring, unanchored = _anchoring(pred_records, gold.scheme)
    gold_claims = pd.Series([r["doc_id"] for r in gold.records], dtype=object).value_counts()
    pred_claims = pd.Series([r["doc_id"] for r in pred_records], dtype=object).value_counts()
    per_document = [
        DocumentScores(doc, int(gold_claims.get(doc, 0)), int(pred_claims.get(doc, 0)),
                       {mode: counts.overall_score(mode, np.array([i])) for mode in MODES}, per_doc_attr[doc],
                       per_doc_entity[doc])
        for i, doc in enumerate(doc_ids)
    ]
    return EvaluationReport(
        gold=gold.directory, predictions=source, documents=doc_ids, ignored_documents=ignored,
        gold_claims=len(gold.records), predicted_claims=len(pred_records), spans=spans, macro=macro,
        attribution=attribution, speaker_entity=speaker_entity, quote_type=quote_type, per_document=per_document,
        anchoring=anchoring, unanchored=unanchored,
        entity_attribution={kind: sum((per_doc_entity[d][kind] for d in doc_ids), PRF()) for kind in ENTITY_KINDS},
        entity_names=entities.resolutions(), ambiguous_names=entities.ambiguous(),
        claim_token_f1=TokenF1.of(*claim_pairs(gold_by_doc, pred_by_doc, gold.texts)),
    )


def evaluate(gold_dir: Path, pred_path: Path, scheme_file: Path | None = None) -> EvaluationReport:
    """Score the predictions file ``pred_path`` against the gold dataset in ``gold_dir`` (under the gold's
    own scheme; ``scheme_file`` is an optional scheme file that must match it). Quotes are anchored in the
    gold's documents first (:mod:`claimset.quotes`)."""
    gold = load_gold(gold_dir, scheme_file)
    predictions = load_prediction_records(pred_path, gold.texts, gold.scheme)
    return evaluate_records(gold, predictions.anchored_records(), str(pred_path))


# --- rendering (used by the CLI) --------------------------------------------------------------------


LABEL_COLUMNS = 2  # leading columns of the report tables that name the row; the others are numbers


def report_tables(report: Mapping[str, Any]) -> list[Section]:
    """The report as (title, header, rows) tables of strings, shared by the text and Markdown outputs."""

    def pct(value: float) -> str:
        return f"{100 * value:.1f}"

    span_rows = [
        [mode, name, *(str(s[c]) for c in (*COUNTS, "possible", "actual")), pct(s["precision"]), pct(s["recall"]),
         pct(s["f1"])]
        for mode, by in report["spans"].items() for name, s in by.items()
    ]
    span_rows += [[mode, "macro", *[""] * 7, pct(m["precision"]), pct(m["recall"]), pct(m["f1"])]
                  for mode, m in report["macro"].items()]
    attribution_rows = [
        [kind, setting, str(s["correct"]), str(s["predicted"]), str(s["gold"]), pct(s["precision"]),
         pct(s["recall"]), pct(s["f1"])]
        for kind, by in report["attribution"].items() for setting, s in by.items()
    ]
    accuracy_rows = [[name, str(report[name]["correct"]), str(report[name]["total"]), pct(report[name]["accuracy"])]
                     for name in ("speaker_entity", "quote_type")]
    doc_rows = [
        [d["doc_id"], str(d["gold_claims"]), str(d["predicted_claims"]), pct(d["spans"]["strict"]["f1"]),
         pct(d["spans"]["partial"]["f1"]), pct(d["attribution"]["claim_speaker"]["strict"]["f1"]),
         pct(d["attribution"]["claim_target"]["strict"]["f1"]), pct(d["attribution"]["records"]["strict"]["f1"])]
        for d in report["per_document"]
    ]
    token = report["claim_token_f1"]
    token_rows = [["claim", "overlapping pairs", str(token["matched"]), str(token["predicted"]), str(token["gold"]),
                   pct(token["mean"])]]
    attribution_rows += [
        [kind, "entity", str(s["correct"]), str(s["predicted"]), str(s["gold"]), pct(s["precision"]),
         pct(s["recall"]), pct(s["f1"])]
        for kind, s in report["entity_attribution"].items()
    ]
    sections: list[Section] = [
        ("spans (nervaluate modes)", ["mode", "label", "COR", "INC", "PAR", "MIS", "SPU", "POS", "ACT", "P", "R",
                                      "F1"], span_rows),
        ("token F1 of matched claims (SQuAD)", ["span", "over", "matched", "predicted", "gold", "mean F1"],
         token_rows),
        ("attribution (Taillé et al. 2020 settings; entity: claims overlap, same entity through the gold's aliases)",
         ["kind", "setting", "correct", "predicted", "gold", "P", "R", "F1"], attribution_rows),
        ("accuracy on exactly matched claims", ["attribute", "correct", "total", "accuracy"], accuracy_rows),
        ("per document (F1: spans strict, spans partial; strict claim-speaker, claim-target, records)",
         ["doc_id", "gold", "predicted", "strict", "partial", "speaker", "target", "records"], doc_rows),
    ]
    if report["unanchored"]:
        sections.append(("quotes not anchored (counted as spurious)", ["where", "quote", "anchoring", "places"],
                         [[f"line {q['line']}: {q['mention']}", _shorten(q["quote"]), q["anchoring"],
                           str(q["places"])] for q in report["unanchored"]]))
    if report["ambiguous_names"]:
        sections.append(("names of several gold entities (matched to none)", ["where", "name", "entities"],
                         [[f"line {n['line']}: {n['mention']}", n["name"], ", ".join(n["entities"])]
                          for n in report["ambiguous_names"]]))
    return sections


def _shorten(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


def summary_lines(report: Mapping[str, Any]) -> list[str]:
    """How the predicted spans were placed and how the predicted names resolved, one line each."""
    placed = report["anchoring"]
    quotes = sum(n for code, n in placed.items() if code != Anchoring.OFFSETS)
    lines = [f"spans: {placed[Anchoring.OFFSETS]} by offsets, {quotes} by quote"
             + (" (" + ", ".join(f"{n} {code}" for code, n in placed.items() if code != Anchoring.OFFSETS) + ")"
                if quotes else "")]
    names = report["entity_names"]
    lines.append("speaker and target names: " + ", ".join(f"{n} {code}" for code, n in names.items()))
    return lines


def report_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown: summary lines and one pipe table per section."""
    lines = [f"Evaluation of `{report['predictions']}` against `{report['gold']}`: {report['documents']} "
             f"document(s), {report['gold_claims']} gold claim(s), {report['predicted_claims']} predicted claim(s)."]
    if report["ignored_documents"]:
        lines.append(f"Ignored predictions for documents without gold: {', '.join(report['ignored_documents'])}.")
    lines += [f"{line[0].upper()}{line[1:]}." for line in summary_lines(report)]
    return markdown(lines, report_tables(report), LABEL_COLUMNS)
