"""Write small gold datasets (documents, annotations, spans, relations Parquet) from claim records.

Records are in the predictions format (see docs/predictions.md); each becomes Claim/Speaker/Cue/Target
regions of one submitted annotation per document, with said_by, cued_by and stance relations.
Identical spans of a document become one region, as the guidelines require.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from claimset.offsets import quote_selector
from claimset.tables import TABLES, relation_id, table_path
from multiannotator import write_claims_and_record

UTC = dt.UTC


def write_gold(directory: Path, texts: Mapping[str, str], records: Sequence[Mapping[str, Any]],
               annotations: Iterable[Mapping[str, Any]] | None = None,
               extra_spans: Sequence[tuple[str, str, int, int]] = ()) -> Path:
    """Write the four tables into ``directory``; ``extra_spans`` are (doc_id, label, start, end) without relations."""
    directory.mkdir(parents=True, exist_ok=True)
    doc_ids = list(texts)
    annotation_of = {doc: 100 + i for i, doc in enumerate(doc_ids)}
    when = dt.datetime(2026, 11, 25, 10, tzinfo=UTC)
    ann_rows = list(annotations) if annotations is not None else [
        {"annotation_id": aid, "task_id": aid, "doc_id": doc, "annotator": "ls-user-1", "status": "submitted",
         "ground_truth": False, "created_at": when, "updated_at": when, "lead_time": 1.0, "n_regions": 0,
         "n_relations": 0}
        for doc, aid in annotation_of.items()
    ]
    spans: dict[tuple[str, str, int, int], dict[str, Any]] = {}
    relations: list[dict[str, Any]] = []

    def region(doc: str, label: str, mention: Mapping[str, Any], **attrs: Any) -> str:
        key = (doc, label, int(mention["start"]), int(mention["end"]))
        if key not in spans:
            aid = annotation_of[doc]
            rid = f"r{len(spans)}"
            text = texts[doc]
            start, end = key[2], key[3]
            prefix, suffix = quote_selector(text, start, end)
            spans[key] = {
                "span_id": f"{aid}:{rid}", "annotation_id": aid, "doc_id": doc, "region_id": rid, "label": label,
                "start": start, "end": end, "text": text[start:end], "quote_type": attrs.get("quote_type"),
                "entity": attrs.get("entity"), "prefix": prefix, "suffix": suffix,
                "offset_repair": None,
            }
        return str(spans[key]["span_id"])

    def relate(doc: str, head: str, tail: str, kind: str) -> None:
        aid = annotation_of[doc]
        relations.append({"relation_id": relation_id(aid, head.split(":", 1)[1], tail.split(":", 1)[1], kind),
                          "annotation_id": aid, "doc_id": doc,
                          "head_span_id": head, "tail_span_id": tail, "type": kind})

    for record in records:
        doc = record["doc_id"]
        claim = region(doc, "Claim", record["claim"], quote_type=record.get("quote_type", "indirect"))
        if record.get("speaker"):
            speaker = region(doc, "Speaker", record["speaker"], entity=record["speaker"].get("entity", "someone"))
            relate(doc, claim, speaker, "said_by")
        if record.get("cue"):
            relate(doc, claim, region(doc, "Cue", record["cue"]), "cued_by")
        for target in record.get("targets") or []:
            tail = region(doc, "Target", target, entity=target.get("entity", "something"))
            relate(doc, claim, tail, target.get("stance", "about"))
    for doc, label, start, end in extra_spans:
        region(doc, label, {"start": start, "end": end},
               entity="x" if label in ("Speaker", "Target") else None,
               quote_type="indirect" if label == "Claim" else None)

    documents = [{"doc_id": doc, "published": dt.date(2020, 12, 12), "source_file": f"seeds/{doc}.txt",
                  "text": text, "text_sha256": hashlib.sha256(text.encode()).hexdigest()}
                 for doc, text in texts.items()]
    for name, rows in (("documents", documents), ("annotations", ann_rows), ("spans", list(spans.values())),
                       ("relations", relations), ("rejects", [])):
        pq.write_table(pa.Table.from_pylist(rows, schema=TABLES[name]), table_path(directory, name))
    write_claims_and_record(directory)
    return directory
