"""Builders for Label Studio tasks and annotations in the exact shape Label Studio 1.23.2 exports them.

Used by unit tests that need one precise flaw; end-to-end tests use exports recorded from a real server.
The result items come from :mod:`claimset.lsresult`, with the test data's names (``label``, ``text``)
and offsets given as a slice of the task text.
"""

from __future__ import annotations

from typing import Any

from claimset import lsresult
from claimset.lsresult import relation

__all__ = ["SEED_DOC", "annotation", "choice", "claim_with_speaker", "entity", "region", "relation", "task"]

SEED_DOC = "000_666aa4b0ee0165a8"


def region(rid: str, text: str, start: int, end: int, label: str, value_text: str | None = None) -> dict[str, Any]:
    quote = text[start:end] if value_text is None else value_text
    return lsresult.region(rid, start, end, label, quote, from_name="label", to_name="text")


def choice(rid: str, text: str, start: int, end: int, value: str, from_name: str = "quote_type") -> dict[str, Any]:
    return lsresult.choice(rid, start, end, value, quote=text[start:end], from_name=from_name, to_name="text")


def entity(rid: str, text: str, start: int, end: int, name: str, from_name: str = "speaker_entity") -> dict[str, Any]:
    return lsresult.textarea(rid, start, end, name, from_name=from_name, to_name="text")


def annotation(aid: int, result: list[dict[str, Any]], *, user: int = 1, cancelled: bool = False,
               updated: str = "2026-11-25T10:00:00.000000Z", ground_truth: bool = False) -> dict[str, Any]:
    return {
        "id": aid, "completed_by": user, "result": result, "was_cancelled": cancelled,
        "ground_truth": ground_truth, "created_at": "2026-11-25T09:59:00.000000Z", "updated_at": updated,
        "lead_time": 42.5, "task": None, "project": 1, "prediction": {}, "result_count": len(result),
    }


def task(tid: int, text: str, annotations: list[dict[str, Any]], doc_id: str = "doc-1", **extra: Any) -> dict[str, Any]:
    return {
        "id": tid, "data": {"text": text, "doc_id": doc_id, **extra}, "annotations": annotations,
        "drafts": [], "predictions": [], "meta": {}, "created_at": "2026-11-25T09:00:00.000000Z",
        "updated_at": "2026-11-25T10:00:00.000000Z", "inner_id": tid, "total_annotations": len(annotations),
        "cancelled_annotations": 0, "total_predictions": 0, "comment_count": 0, "unresolved_comment_count": 0,
        "last_comment_updated_at": None, "project": 1, "updated_by": None, "file_upload": None,
        "comment_authors": [],
    }


def claim_with_speaker(text: str, claim: str, speaker: str, prefix: str = "") -> list[dict[str, Any]]:
    """A Claim and its Speaker (both found by first occurrence) with attributes and a said_by relation."""
    cs = text.index(claim)
    ss = text.index(speaker)
    return [
        region(f"{prefix}c", text, cs, cs + len(claim), "Claim"),
        choice(f"{prefix}c", text, cs, cs + len(claim), "indirect"),
        region(f"{prefix}s", text, ss, ss + len(speaker), "Speaker"),
        entity(f"{prefix}s", text, ss, ss + len(speaker), speaker),
        relation(f"{prefix}c", f"{prefix}s", "said_by"),
    ]
