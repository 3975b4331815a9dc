"""The packed bookkeeping of annotation versions (claimset.versions) against plain Python equivalents."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter
from pathlib import Path

import pytest

from claimset import versions
from claimset.ingest import import_exports
from claimset.tables import read_table
from claimset.versions import IntIndex, Locator, Occurrence, Occurrences, version_time
from lsjson import annotation, claim_with_speaker, task

TEXT = "Sergei Lavrov accused the West 😀 of meddling in the elections."
INT64_EXTREMES = [-(2**63), 2**63 - 1, 0, -1, 2**53 + 1]


def test_the_index_finds_every_key_it_was_given_across_merges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(IntIndex, "MERGE_AT", 3)
    rng = random.Random(5)
    keys = list(dict.fromkeys(INT64_EXTREMES + [rng.randrange(-(2**63), 2**63) for _ in range(200)]))
    index, expected = IntIndex(), {}
    for key in keys:
        assert index.get(key) is None
        expected[key] = index.add(key)
    assert len(index) == len(keys) and list(expected.values()) == list(range(len(keys)))
    assert {key: index.get(key) for key in keys} == expected
    absent = [key + 1 for key in keys if key + 1 not in expected and key + 1 < 2**63]
    assert absent and all(index.get(key) is None for key in absent)


def occurrence(rng: random.Random) -> Occurrence:
    return Occurrence(
        time=rng.choice([versions.NO_TIME, 0, 2**62, -(2**60)]),
        digest=rng.choice([None, 0, 2**128 - 1, 2**63, rng.randrange(2**128)]),
        locator=Locator(rng.randrange(2**31), rng.randrange(2**62), rng.randrange(2**40), rng.randrange(2**32)),
        task_id=rng.choice([None, -(2**63), 2**63 - 1, 0, 17]), cancelled=rng.random() < 0.5,
        rows={name: (rng.randrange(2**40), rng.randrange(2**40)) for name in versions.TABLES},
        counts={kind: (rng.randrange(1000), rng.randrange(1000)) for kind in versions.ITEM_KINDS},
        reasons=Counter({"cancelled": 2}) if rng.random() < 0.3 else Counter(),
    )


@pytest.mark.parametrize("spill", [False, True])
def test_occurrences_read_back_what_was_stored_and_replaced(spill: bool, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(IntIndex, "MERGE_AT", 4)
    monkeypatch.setattr(Occurrences, "SPILL_AT", 5)  # records in the file and in memory, replaced in both
    rng = random.Random(9)
    store, expected = Occurrences(tmp_path / "spill" if spill else None), {}
    for _ in range(300):
        annotation_id = rng.choice(INT64_EXTREMES + list(range(40)))
        kept = occurrence(rng)
        store.store(annotation_id, store.find(annotation_id), kept)
        expected[annotation_id] = kept
    assert {aid: store.read(slot) for aid in expected if (slot := store.find(aid)) is not None} == expected
    assert (store.spilled > 0) is spill
    store.close()


@pytest.mark.parametrize(("earlier", "later"), [
    (None, "0001-01-01T00:00:00+14:00"),
    ("2026-11-25T11:00:00+01:00", "2026-11-25T10:00:00.000001Z"),
    ("2026-11-25T10:00:00Z", "2026-11-25T10:00:00.000001+00:00"),
    ("9999-12-31T23:58:59-12:00", "9999-12-31T23:59:59-12:00"),
])
def test_version_times_order_as_the_times_do(earlier: str | None, later: str) -> None:
    def parsed(text: str | None) -> dt.datetime | None:
        return None if text is None else dt.datetime.fromisoformat(text)

    assert version_time(parsed(earlier)) < version_time(parsed(later))


def test_replacement_is_the_same_when_every_id_has_been_merged(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Versions found through the numpy arrays of the index, not its dict, replace as before."""
    result = claim_with_speaker(TEXT, "the West 😀 of meddling", "Lavrov")
    tasks = [task(t, TEXT, [annotation(t, result)], doc_id=f"doc-{t}") for t in range(1, 9)]
    tasks += [task(t, TEXT, [annotation(t, result[:2], updated="2026-11-26T00:00:00Z")], doc_id=f"doc-{t}")
              for t in (2, 5)]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks), encoding="utf-8")
    summaries = {}
    for merge_at in (1, 10_000):
        monkeypatch.setattr(IntIndex, "MERGE_AT", merge_at)
        summaries[merge_at] = import_exports([export], tmp_path / f"out-{merge_at}")
        assert summaries[merge_at].replaced_annotations == [2, 5]
    assert summaries[1] == summaries[10_000]
    for table in ("annotations", "spans", "relations", "rejects", "documents"):
        assert read_table(tmp_path / "out-1", table).equals(read_table(tmp_path / "out-10000", table))
