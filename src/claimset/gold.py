"""The gold dataset: build it from raw exports, derive the denormalised ``claims`` table, summarise it.

``claims`` has one row per Claim span of a submitted annotation, with its speaker (via ``said_by``),
cue (via ``cued_by``) and a list of targets with the claim's stance toward each (the stance relation
types of the scheme). Offsets are code points into ``documents.text``, half-open.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from claimset.card import write_croissant
from claimset.errors import ClaimsetError
from claimset.ingest import import_exports
from claimset.models import SCHEME, AnnotationsModel, DocumentsModel, RelationsModel, SpansModel
from claimset.scheme import CUE_RELATION, SPEAKER_RELATION
from claimset.seeds import read_seeds
from claimset.summary import ImportSummary
from claimset.tables import read_table, table_path, write_table
from claimset.validate import ValidationReport, validate_dataset

CLAIM_LABEL = SCHEME.claim_label

_MENTION = [("span_id", pa.string()), ("start", pa.int64()), ("end", pa.int64()), ("text", pa.string())]
TARGET = pa.struct([*_MENTION, ("entity", pa.string()), ("stance", pa.string())])
CLAIMS = pa.schema(
    [
        ("claim_id", pa.string()),
        ("doc_id", pa.string()),
        ("published", pa.date32()),
        ("annotation_id", pa.int64()),
        ("annotator", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("text", pa.string()),
        ("quote_type", pa.string()),
        ("speaker_span_id", pa.string()),
        ("speaker_start", pa.int64()),
        ("speaker_end", pa.int64()),
        ("speaker_text", pa.string()),
        ("speaker_entity", pa.string()),
        ("cue_span_id", pa.string()),
        ("cue_start", pa.int64()),
        ("cue_end", pa.int64()),
        ("cue_text", pa.string()),
        ("targets", pa.list_(TARGET)),
    ]
)


def derive_claims(directory: Path) -> pa.Table:
    """The denormalised claims table of the dataset in ``directory`` (submitted annotations only)."""
    documents = read_table(directory, "documents").to_pandas()
    annotations = read_table(directory, "annotations").to_pandas()
    spans = read_table(directory, "spans").to_pandas()
    relations = read_table(directory, "relations").to_pandas()
    submitted = annotations[annotations[AnnotationsModel.status] == "submitted"]
    spans = spans[spans[SpansModel.annotation_id].isin(submitted[AnnotationsModel.annotation_id])]
    by_id = spans.set_index(SpansModel.span_id)
    claims = spans[spans[SpansModel.label] == CLAIM_LABEL]
    tails: dict[tuple[str, str], list[str]] = {}
    for head, tail, kind in zip(relations[RelationsModel.head_span_id], relations[RelationsModel.tail_span_id],
                                relations[RelationsModel.type], strict=True):
        if tail in by_id.index:
            tails.setdefault((head, kind), []).append(tail)
    published = dict(zip(documents[DocumentsModel.doc_id], documents[DocumentsModel.published], strict=True))
    annotator = dict(zip(submitted[AnnotationsModel.annotation_id], submitted[AnnotationsModel.annotator],
                         strict=True))
    rows = [
        _claim_row(claim, by_id, tails, published, annotator)
        for claim in claims.sort_values([SpansModel.doc_id, SpansModel.start, SpansModel.end]).to_dict("records")
    ]
    return pa.Table.from_pylist(rows, schema=CLAIMS)


def _mention(by_id: pd.DataFrame, span_id: str | None) -> dict[str, Any]:
    if span_id is None:
        return {"span_id": None, "start": None, "end": None, "text": None, "entity": None}
    found = cast("pd.Series[Any]", by_id.loc[span_id])
    row = {str(key): value for key, value in found.items()}
    entity = row[SpansModel.entity]
    return {"span_id": span_id, "start": int(row[SpansModel.start]), "end": int(row[SpansModel.end]),
            "text": row[SpansModel.text], "entity": None if pd.isna(entity) else entity}


def _claim_row(claim: dict[str, Any], by_id: pd.DataFrame, tails: dict[tuple[str, str], list[str]],
               published: dict[str, Any], annotator: dict[int, str]) -> dict[str, Any]:
    claim_id = claim[SpansModel.span_id]
    speaker = _mention(by_id, next(iter(tails.get((claim_id, SPEAKER_RELATION), [])), None))
    cue = _mention(by_id, next(iter(tails.get((claim_id, CUE_RELATION), [])), None))
    targets = [
        {**_mention(by_id, tail), "stance": stance}
        for stance in SCHEME.stances
        for tail in tails.get((claim_id, stance), [])
    ]
    targets.sort(key=lambda target: (target["start"], target["end"], target["stance"]))
    quote_type = claim[SpansModel.quote_type]
    return {
        "claim_id": claim_id, "doc_id": claim[SpansModel.doc_id], "published": published.get(claim[SpansModel.doc_id]),
        "annotation_id": claim[SpansModel.annotation_id], "annotator": annotator[claim[SpansModel.annotation_id]],
        "start": claim[SpansModel.start], "end": claim[SpansModel.end], "text": claim[SpansModel.text],
        "quote_type": None if pd.isna(quote_type) else quote_type,
        "speaker_span_id": speaker["span_id"], "speaker_start": speaker["start"], "speaker_end": speaker["end"],
        "speaker_text": speaker["text"], "speaker_entity": speaker["entity"],
        "cue_span_id": cue["span_id"], "cue_start": cue["start"], "cue_end": cue["end"], "cue_text": cue["text"],
        "targets": targets,
    }


@dataclass
class BuildResult:
    raw_files: list[str]
    summary: ImportSummary
    report: ValidationReport
    claims: int


def build(raw_dir: Path, gold_dir: Path, seeds_dir: Path, croissant_path: Path | None = None) -> BuildResult:
    """Raw Label Studio exports in ``raw_dir`` -> gold tables in ``gold_dir`` -> validation report.

    With ``croissant_path``, the Croissant metadata of the tables is (re)written there too.
    """
    raw_files = sorted(raw_dir.glob("*.json"))
    if not raw_files:
        raise ClaimsetError(f"{raw_dir}: no *.json Label Studio exports to build from")
    seeds = read_seeds(seeds_dir)
    summary = import_exports(raw_files, gold_dir, seeds=seeds)
    claims = derive_claims(gold_dir)
    write_table(claims, table_path(gold_dir, "claims"))
    report = validate_dataset(gold_dir, seeds)
    if croissant_path is not None:
        write_croissant(gold_dir, croissant_path)
    return BuildResult([path.name for path in raw_files], summary, report, claims.num_rows)


@dataclass
class Stats:
    documents: int
    annotations: int
    claims: int
    per_document: dict[str, int] = field(default_factory=dict)
    per_speaker: dict[str, int] = field(default_factory=dict)
    per_quote_type: dict[str, int] = field(default_factory=dict)
    per_stance: dict[str, int] = field(default_factory=dict)
    spans_per_label: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _most_common(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def stats(directory: Path) -> Stats:
    """Counts the dataset card quotes: claims per document, speaker entity, quote type and stance."""
    if not table_path(directory, "documents").exists():
        raise ClaimsetError(f"{directory}: not a claimset dataset (documents.parquet not found)")
    claims = derive_claims(directory).to_pylist()
    spans = read_table(directory, "spans").to_pandas()
    annotations = pq.read_metadata(table_path(directory, "annotations")).num_rows
    documents = read_table(directory, "documents").to_pandas()
    per_document = Counter({doc: 0 for doc in documents[DocumentsModel.doc_id]})
    per_document.update(claim["doc_id"] for claim in claims)
    return Stats(
        documents=len(documents),
        annotations=annotations,
        claims=len(claims),
        per_document=_most_common(per_document),
        per_speaker=_most_common(Counter(claim["speaker_entity"] or "(no speaker)" for claim in claims)),
        per_quote_type=_most_common(Counter(claim["quote_type"] or "(none)" for claim in claims)),
        per_stance=_most_common(Counter(target["stance"] for claim in claims for target in claim["targets"])),
        spans_per_label=_most_common(Counter(spans[SpansModel.label])),
    )
