"""The gold dataset: build it from raw exports, and summarise a dataset (``claimset stats``).

``build`` imports every raw Label Studio export of a folder into a complete, validated dataset folder
(tables, ``claims.parquet``, the scheme record and, on request, the Croissant file), in one atomic
step. With an ``annotators_dir``, the import (every annotator's submissions) goes there and the gold
is what :func:`claimset.adjudicate.adjudicate` makes of it. The claims table and its rule are in
:mod:`claimset.claims`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimset.adjudicate import AdjudicationResult, adjudicate
from claimset.dataset import load
from claimset.errors import ClaimsetError
from claimset.ingest import ImportSummary, import_dataset
from claimset.models import DocumentsModel, SpansModel
from claimset.scheme import Scheme
from claimset.seeds import read_seeds
from claimset.transaction import hold_folders
from claimset.validate import ValidationReport


@dataclass
class BuildResult:
    raw_files: list[str]
    summary: ImportSummary
    report: ValidationReport
    claims: int
    replaced: bool  # False: validation failed and the gold folder was left as it was
    adjudication: AdjudicationResult | None = None  # with an annotators folder: how the gold was adjudicated


def build(raw_dir: Path, gold_dir: Path, seeds_dir: Path, scheme: Scheme, *, croissant: bool = False,
          allow_invalid: bool = False, annotators_dir: Path | None = None) -> BuildResult:
    """Raw Label Studio exports in ``raw_dir`` -> a validated dataset folder ``gold_dir`` (one atomic step).

    With ``annotators_dir``, the exports are imported there (every annotator's submitted annotations,
    what ``claimset agree`` reads) and ``gold_dir`` is their adjudication (ground truth, else strict
    majority; the rest in its review list). With ``croissant``, the Croissant metadata of the tables is
    written into the gold folder too. An invalid result replaces a folder only with ``allow_invalid``;
    an invalid import is not adjudicated.
    """
    raw_files = sorted(raw_dir.glob("*.json"))
    if not raw_files:
        raise ClaimsetError(f"{raw_dir}: no *.json Label Studio exports to build from")
    if annotators_dir is not None and annotators_dir.resolve() == gold_dir.resolve():
        raise ClaimsetError(f"{annotators_dir}: the annotators folder must differ from the gold folder")
    seeds = read_seeds(seeds_dir)
    names = [path.name for path in raw_files]
    if annotators_dir is None:
        imported = import_dataset(raw_files, gold_dir, seeds=seeds, scheme=scheme, croissant=croissant,
                                  allow_invalid=allow_invalid)
        assert imported.report is not None
        return BuildResult(names, imported.summary, imported.report, imported.claims, imported.replaced)
    with hold_folders(annotators_dir, gold_dir):  # a concurrent writer of either fails before anything changes
        imported = import_dataset(raw_files, annotators_dir, seeds=seeds, scheme=scheme, allow_invalid=allow_invalid)
        assert imported.report is not None
        if not imported.report.valid:
            return BuildResult(names, imported.summary, imported.report, imported.claims, imported.replaced)
        adjudicated = adjudicate(annotators_dir, gold_dir, seeds=seeds, allow_invalid=allow_invalid,
                                 croissant=croissant)
    assert adjudicated.report is not None
    return BuildResult(names, imported.summary, adjudicated.report, adjudicated.claims, adjudicated.replaced,
                       adjudicated)


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


def stats(directory: Path, scheme_file: Path | None = None) -> Stats:
    """Counts the dataset card quotes: claims per document, speaker entity, quote type and stance.

    ``scheme_file`` is an optional scheme file that must match the dataset's own (see :func:`claimset.dataset.load`).
    """
    dataset = load(directory, scheme_file)
    claims = dataset.claims.to_pylist()
    spans = dataset.to_pandas("spans")
    annotations = dataset.table("annotations").num_rows
    documents = dataset.to_pandas("documents")
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
