"""What an import did: counts per kind of result item that reconcile, repairs, rejects by reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from claimset.errors import ClaimsetError


@dataclass
class ItemCounts:
    """Counts for one kind of result item; ``read == written + rejected + superseded``."""

    read: int = 0
    written: int = 0
    rejected: int = 0
    superseded: int = 0

    @property
    def reconciles(self) -> bool:
        return self.read == self.written + self.rejected + self.superseded


@dataclass
class ImportSummary:
    sources: list[str] = field(default_factory=list)
    tasks: int = 0
    documents: int = 0
    annotations: int = 0
    submitted: int = 0
    cancelled: int = 0
    drafts: int = 0
    predictions: int = 0
    legacy_completions: int = 0  # tasks whose annotations came (also) from the pre-1.0 "completions" key
    regions: ItemCounts = field(default_factory=ItemCounts)
    attributes: ItemCounts = field(default_factory=ItemCounts)
    relations: ItemCounts = field(default_factory=ItemCounts)
    other_items: ItemCounts = field(default_factory=ItemCounts)
    repairs: Counter[str] = field(default_factory=Counter)
    reanchored: int = 0
    rejects_by_reason: Counter[str] = field(default_factory=Counter)
    duplicate_annotations: list[int] = field(default_factory=list)  # a version not newer than the kept one, skipped
    replaced_annotations: list[int] = field(default_factory=list)  # a version that replaced an older kept one

    @property
    def reconciles(self) -> bool:
        kinds = (self.regions, self.attributes, self.relations, self.other_items)
        rejected = sum(kind.rejected for kind in kinds)
        return all(kind.reconciles for kind in kinds) and rejected == sum(self.rejects_by_reason.values())

    @property
    def nothing_written(self) -> bool:
        """The exports held no task at all, or held regions or rejected items, yet not one span was written.

        An empty export is refused too: it would replace a dataset with an empty one without a word.
        """
        return self.tasks == 0 or (self.regions.written == 0
                                   and (self.regions.read > 0 or sum(self.rejects_by_reason.values()) > 0))

    def top_reasons(self, n: int = 3) -> str:
        """The ``n`` most frequent reject reasons with their counts: ``unknown_label 7, cancelled 2``."""
        ranked = sorted(self.rejects_by_reason.items(), key=lambda pair: (-pair[1], pair[0]))
        return ", ".join(f"{reason} {count}" for reason, count in ranked[:n] if count)

    def to_dict(self) -> dict[str, Any]:
        def counts(kind: ItemCounts) -> dict[str, int]:
            return {"read": kind.read, "written": kind.written, "rejected": kind.rejected,
                    "superseded": kind.superseded}

        return {
            "sources": self.sources, "tasks": self.tasks, "documents": self.documents,
            "annotations": self.annotations, "submitted": self.submitted, "cancelled": self.cancelled,
            "drafts": self.drafts, "predictions": self.predictions, "legacy_completions": self.legacy_completions,
            "regions": counts(self.regions), "attributes": counts(self.attributes),
            "relations": counts(self.relations), "other_items": counts(self.other_items),
            "repairs": dict(sorted(self.repairs.items())), "reanchored": self.reanchored,
            "rejects_by_reason": dict(sorted(self.rejects_by_reason.items())),
            "duplicate_annotations": self.duplicate_annotations,
            "replaced_annotations": self.replaced_annotations, "reconciles": self.reconciles,
        }



class NothingWrittenError(ClaimsetError):
    """An import that rejected everything it read: its ``summary`` says what and why."""

    def __init__(self, summary: ImportSummary) -> None:
        sources = ", ".join(summary.sources)
        if summary.tasks == 0:
            super().__init__(f"{sources}: nothing imported: the export holds no task")
        else:
            super().__init__(
                f"{sources}: nothing imported: {summary.regions.read} region(s) read, none written; "
                f"rejects: {summary.top_reasons() or 'none'}"
            )
        self.summary = summary


def check_written(summary: ImportSummary) -> None:
    """Raise :class:`NothingWrittenError` when the import wrote no span although it read regions or rejected items."""
    if summary.nothing_written:
        raise NothingWrittenError(summary)
