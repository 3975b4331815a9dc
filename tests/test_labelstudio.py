"""Round trip against a real Label Studio: push seeds, annotate as two annotators, pull, compare tables."""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from claimset.cli import app
from claimset.errors import ClaimsetError
from claimset.labelstudio import (
    Annotator,
    Client,
    PullResult,
    PushResult,
    add_annotator,
    as_user,
    create_draft,
    project_tasks,
    pull,
    push,
)
from claimset.lsresult import relation, span
from claimset.seeds import read_seeds
from multiannotator import at

pytestmark = pytest.mark.labelstudio

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"


def _title(prefix: str) -> str:
    return f"test {prefix} {uuid.uuid4().hex[:8]}"


@dataclass
class Expected:
    spans: set[tuple[Any, ...]]  # (annotation_id, region_id, label, start, end, quote_type, entity)
    relations: set[tuple[int, str, str, str]]  # (annotation_id, head_span_id, tail_span_id, type)
    annotations: dict[int, tuple[str, str]]  # annotation_id -> (annotator, status)
    crossing_span: tuple[int, str]  # (annotation_id, region_id) of the span across "\n\n"


@dataclass
class RoundTrip:
    title: str
    first_push: PushResult
    second_push: PushResult
    pulled: PullResult
    gold: Path
    raw: Path
    text: str
    expected: Expected


def _annotate(admin: Client, task: Any) -> Expected:
    text: str = task.data["text"]
    email = "{}-{}@claimset.test".format
    alice: Annotator = add_annotator(admin, email("alice", secrets.token_hex(3)), secrets.token_urlsafe(16))
    bob: Annotator = add_annotator(admin, email("bob", secrets.token_hex(3)), secrets.token_urlsafe(16))
    assert alice.id != bob.id != admin.user.id

    spans: set[tuple[Any, ...]] = set()
    relations: set[tuple[int, str, str, str]] = set()

    def region(
        rid: str, bounds: tuple[int, int], label: str, quote_type: str | None = None, entity: str | None = None
    ) -> list[dict[str, Any]]:
        return span(text, *bounds, label, rid, quote_type=quote_type, entity=entity)

    # Alice: Lavrov's accusation, with both stance targets.
    c1 = at(text, "trying to undermine Moscow's close and privileged ties with India")
    s1, q1 = at(text, "Sergey Lavrov"), at(text, "accused")
    t1, t2 = at(text, "the West"), at(text, "the USA")
    alice_result = [
        *region("c1", c1, "Claim", quote_type="indirect"),
        *region("s1", s1, "Speaker", entity="Sergey Lavrov"),
        *region("q1", q1, "Cue"),
        *region("t1", t1, "Target", entity="the West"),
        *region("t2", t2, "Target", entity="United States"),
        relation("c1", "s1", "said_by"),
        relation("c1", "q1", "cued_by"),
        relation("c1", "t1", "against"),
        relation("c1", "t2", "against"),
    ]
    alice_client = as_user(admin, alice.api_key)
    with alice_client.call("alice submits") as ls:
        a1 = ls.annotations.create(id=task.id, result=alice_result, was_cancelled=False, lead_time=61.5)
    assert a1.completed_by == alice.id
    spans |= {
        (a1.id, "c1", "Claim", *c1, "indirect", None),
        (a1.id, "s1", "Speaker", *s1, None, "Sergey Lavrov"),
        (a1.id, "q1", "Cue", *q1, None, None),
        (a1.id, "t1", "Target", *t1, None, "the West"),
        (a1.id, "t2", "Target", *t2, None, "United States"),
    }
    relations |= {
        (a1.id, f"{a1.id}:c1", f"{a1.id}:s1", "said_by"),
        (a1.id, f"{a1.id}:c1", f"{a1.id}:q1", "cued_by"),
        (a1.id, f"{a1.id}:c1", f"{a1.id}:t1", "against"),
        (a1.id, f"{a1.id}:c1", f"{a1.id}:t2", "against"),
    }

    # Bob: the MEA's direct quote in curly quotes, and a span across a paragraph break.
    c2 = (text.index("“We have seen"), text.index("” MEA spokesperson") + 1)
    s2, q2 = at(text, "MEA spokesperson"), at(text, "told")
    c3 = (text.index("in recent years."), text.index("India, close") + len("India"))
    assert "\n\n" in text[c3[0] : c3[1]]
    bob_result = [
        *region("b-claim", c2, "Claim", quote_type="direct"),
        *region("b-speaker", s2, "Speaker", entity="Ministry of External Affairs"),
        *region("b-cue", q2, "Cue"),
        *region("b-cross", c3, "Claim", quote_type="mixed"),
        relation("b-claim", "b-speaker", "said_by"),
        relation("b-claim", "b-cue", "cued_by"),
    ]
    bob_client = as_user(admin, bob.api_key)
    with bob_client.call("bob submits") as ls:
        b1 = ls.annotations.create(id=task.id, result=bob_result, was_cancelled=False, lead_time=30.0)
        # Bob also skips the task once: a cancelled annotation with no result.
        b2 = ls.annotations.create(id=task.id, result=[], was_cancelled=True)
    assert b1.completed_by == bob.id and b2.was_cancelled
    spans |= {
        (b1.id, "b-claim", "Claim", *c2, "direct", None),
        (b1.id, "b-speaker", "Speaker", *s2, None, "Ministry of External Affairs"),
        (b1.id, "b-cue", "Cue", *q2, None, None),
        (b1.id, "b-cross", "Claim", *c3, "mixed", None),
    }
    relations |= {
        (b1.id, f"{b1.id}:b-claim", f"{b1.id}:b-speaker", "said_by"),
        (b1.id, f"{b1.id}:b-claim", f"{b1.id}:b-cue", "cued_by"),
    }
    # Alice leaves a draft she never submits: it must not reach the tables.
    create_draft(alice_client, task.id, region("draft", at(text, "India"), "Target", entity="India"), 5.0)

    return Expected(
        spans=spans,
        relations=relations,
        annotations={
            a1.id: (f"ls-user-{alice.id}", "submitted"),
            b1.id: (f"ls-user-{bob.id}", "submitted"),
            b2.id: (f"ls-user-{bob.id}", "cancelled"),
        },
        crossing_span=(b1.id, "b-cross"),
    )


@pytest.fixture(scope="module")
def round_trip(label_studio: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoundTrip]:
    title = _title("round trip")
    client = label_studio.client
    first = push(title, SEEDS, client=client)
    second = push(title, SEEDS, client=client)
    tasks = project_tasks(client, first.project_id)
    assert len(tasks) == 1
    expected = _annotate(client, tasks[0])
    out = tmp_path_factory.mktemp("pull")
    raw, gold = out / "raw", out / "gold"
    pulled = pull(title, raw, gold, client=client)
    yield RoundTrip(title, first, second, pulled, gold, raw, tasks[0].data["text"], expected)


def test_push_creates_one_task_per_seed(round_trip: RoundTrip) -> None:
    seeds = read_seeds(SEEDS)
    r = round_trip.first_push
    assert r.project_created
    assert (r.created, r.unchanged, r.new_versions, r.predictions) == (len(seeds), 0, 0, 0)
    assert round_trip.text == seeds[0].text


def test_second_push_changes_nothing(round_trip: RoundTrip) -> None:
    r = round_trip.second_push
    assert not r.project_created
    assert (r.created, r.unchanged, r.new_versions, r.predictions) == (0, len(read_seeds(SEEDS)), 0, 0)
    assert r.settings_updated == ()


def test_project_has_scheme_config_and_guidelines(label_studio: Any, round_trip: RoundTrip) -> None:
    project = label_studio.sdk.projects.get(id=round_trip.first_push.project_id)
    assert 'name="quote_type"' in project.label_config
    assert project.show_instruction
    assert (ROOT / "docs" / "guidelines.md").exists() == bool(project.expert_instruction)


def test_raw_export_written(round_trip: RoundTrip) -> None:
    path = round_trip.pulled.raw_path
    assert path.parent == round_trip.raw
    assert re.fullmatch(r"test-round-trip-[0-9a-f]{8}-\d{8}T\d{6}Z\.json", path.name)
    assert [p.name for p in round_trip.raw.iterdir()] == [path.name]  # no temporary leftovers
    tasks = json.loads(path.read_text(encoding="utf-8"))
    assert len(tasks) == 1 and len(tasks[0]["drafts"]) == 1


def test_annotations_table(round_trip: RoundTrip) -> None:
    rows = pq.read_table(round_trip.gold / "annotations.parquet").to_pylist()
    got = {r["annotation_id"]: (r["annotator"], r["status"]) for r in rows}
    assert got == round_trip.expected.annotations
    assert all(r["doc_id"] == read_seeds(SEEDS)[0].doc_id for r in rows)


def test_spans_table(round_trip: RoundTrip) -> None:
    rows = pq.read_table(round_trip.gold / "spans.parquet").to_pylist()
    got = {
        (r["annotation_id"], r["region_id"], r["label"], r["start"], r["end"], r["quote_type"], r["entity"])
        for r in rows
    }
    assert got == round_trip.expected.spans
    assert len(rows) == len(got)
    for r in rows:
        assert r["text"] == round_trip.text[r["start"] : r["end"]]
        assert r["span_id"] == f"{r['annotation_id']}:{r['region_id']}"
    crossing = [r for r in rows if (r["annotation_id"], r["region_id"]) == round_trip.expected.crossing_span]
    assert crossing[0]["offset_repair"] == "escaped_newlines"  # LS stores value.text with a literal \\n
    assert {r["offset_repair"] for r in rows if r is not crossing[0]} == {None}


def test_relations_table(round_trip: RoundTrip) -> None:
    rows = pq.read_table(round_trip.gold / "relations.parquet").to_pylist()
    got = {(r["annotation_id"], r["head_span_id"], r["tail_span_id"], r["type"]) for r in rows}
    assert got == round_trip.expected.relations
    assert len(rows) == len(got)


def test_pull_summary_and_validation(round_trip: RoundTrip) -> None:
    s = round_trip.pulled.imported
    assert (s.tasks, s.annotations, s.submitted, s.cancelled, s.drafts) == (1, 3, 2, 1, 1)
    assert s.regions.rejected == s.attributes.rejected == s.relations.rejected == 0
    assert pq.read_table(round_trip.gold / "rejects.parquet").num_rows == 0
    assert round_trip.pulled.validation.valid, round_trip.pulled.validation.failures


# --- versions and predictions ---------------------------------------------------------------------


def _write_seed(directory: Path, doc_id: str, body: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{doc_id}.txt").write_text(f"date 2024-05-01\n\n{body}\n", encoding="utf-8")


def test_changed_text_is_refused_unless_forced(label_studio: Any, tmp_path: Path) -> None:
    title, seeds = _title("versions"), tmp_path / "seeds"
    _write_seed(seeds, "syn_001", "Officials said the plan 🚀 “works”.\n\nCritics disagreed.")
    assert push(title, seeds, client=label_studio.client).created == 1
    _write_seed(seeds, "syn_001", "Officials said the plan 🚀 “works well”.\n\nCritics disagreed.")
    with pytest.raises(ClaimsetError, match=r"^syn_001: the text differs .*--force-new-version"):
        push(title, seeds, client=label_studio.client)
    r = push(title, seeds, force_new_version=True, client=label_studio.client)
    assert (r.created, r.unchanged, r.new_versions) == (0, 0, 1)
    versions = sorted(t.data.get("version", 1) for t in project_tasks(label_studio.client, r.project_id))
    assert versions == [1, 2]
    again = push(title, seeds, client=label_studio.client)  # the new version is now the known text
    assert (again.created, again.unchanged, again.new_versions) == (0, 1, 0)


def test_predictions_uploaded_once(label_studio: Any, tmp_path: Path) -> None:
    title, seeds = _title("predictions"), tmp_path / "seeds"
    text = "The minister 🇮🇳 said “sanctions will fail”."
    _write_seed(seeds, "syn_002", text)
    start, end = at(text, "sanctions will fail")
    assert len(text[:start].encode("utf-16-le")) // 2 != start  # the flag makes UTF-16 offsets differ
    preds = tmp_path / "predictions.jsonl"
    record = {
        "doc_id": "syn_002",
        "model_version": "baseline-0",
        "score": 0.5,
        "result": span(text, start, end, "Claim", "p1", quote_type="direct"),
    }
    preds.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    r = push(title, seeds, predictions=preds, client=label_studio.client)
    assert (r.created, r.predictions) == (1, 1)
    again = push(title, seeds, predictions=preds, client=label_studio.client)
    assert (again.created, again.unchanged, again.predictions, again.predictions_unchanged) == (0, 1, 0, 1)
    (task,) = project_tasks(label_studio.client, r.project_id)
    (prediction,) = label_studio.sdk.predictions.list(task=task.id)
    assert prediction.model_version == "baseline-0"
    value = prediction.result[0]["value"]
    assert (value["start"], value["end"]) == (start, end)

    bad = tmp_path / "bad.jsonl"
    utf16 = len(text[:start].encode("utf-16-le")) // 2
    bad_result = span(text, start, end, "Claim", "p1")
    bad_result[0]["value"].update(start=utf16, end=utf16 + end - start)
    bad.write_text(json.dumps({**record, "result": bad_result}, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(ClaimsetError, match=r"bad\.jsonl: line 1: region 'p1'.*code points"):
        push(title, seeds, predictions=bad, client=label_studio.client)


# --- interruptions and errors ---------------------------------------------------------------------


def test_interrupted_pull_leaves_nothing_partial(
    label_studio: Any, round_trip: RoundTrip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, gold = tmp_path / "raw", tmp_path / "gold"
    exports = label_studio.sdk.projects.exports
    real_download = exports.download

    def broken_download(*args: Any, **kwargs: Any) -> Iterator[bytes]:
        for i, chunk in enumerate(real_download(*args, **kwargs)):
            yield chunk[:10]
            if i == 0:
                raise KeyboardInterrupt("interrupted during the download")

    monkeypatch.setattr(exports, "download", broken_download)
    with pytest.raises(KeyboardInterrupt, match=r"^interrupted during the download$"):
        pull(round_trip.title, raw, gold, client=label_studio.client)
    assert list(raw.iterdir()) == []
    assert not gold.exists() or list(gold.iterdir()) == []


def test_import_failure_keeps_previous_tables(
    label_studio: Any, round_trip: RoundTrip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import claimset.ingest

    gold = tmp_path / "gold"
    pull(round_trip.title, tmp_path / "raw", gold, client=label_studio.client)
    before = {p.name: p.read_bytes() for p in gold.iterdir()}
    real = claimset.ingest._Importer.add_read_task
    calls = []

    def add_task_then_interrupt(self: Any, task: Any, *more: Any) -> None:
        calls.append(1)
        real(self, task, *more)
        raise KeyboardInterrupt("interrupted after the first task")

    monkeypatch.setattr(claimset.ingest._Importer, "add_read_task", add_task_then_interrupt)
    with pytest.raises(KeyboardInterrupt, match=r"^interrupted after the first task$"):
        pull(round_trip.title, tmp_path / "raw", gold, client=label_studio.client)
    assert calls
    assert {p.name: p.read_bytes() for p in gold.iterdir()} == before


runner = CliRunner()


def _cli(args: list[str], env: dict[str, str]) -> Any:
    return runner.invoke(app, args, env=env)


def test_cli_push_and_pull(label_studio: Any, round_trip: RoundTrip, tmp_path: Path) -> None:
    env = {"LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.api_key}
    result = _cli(["push", "--project", round_trip.title, "--seeds", str(SEEDS)], env)
    assert result.exit_code == 0, result.output
    assert "0 created, 1 unchanged, 0 new versions" in result.output
    result = _cli(
        ["pull", "--project", round_trip.title, "--raw-dir", str(tmp_path / "raw"), "--out", str(tmp_path / "g")],
        env,
    )
    assert result.exit_code == 0, result.output
    assert "validation: ok" in result.output
    assert label_studio.api_key not in result.output


def _assert_one_line_error(result: Any, pattern: str, secret: str) -> None:
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert re.fullmatch(pattern, lines[0]), lines[0]
    assert "Traceback" not in result.output and secret not in result.output


def test_cli_wrong_key(label_studio: Any) -> None:
    key = secrets.token_hex(20)
    env = {"LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": key}
    for args in (["push", "--project", "x", "--seeds", str(SEEDS)], ["pull", "--project", "x"]):
        result = _cli(args, env)
        url = re.escape(label_studio.url)
        _assert_one_line_error(result, rf"Error: Label Studio at {url} rejected the API key \(401\)", key)


@pytest.mark.parametrize("command", ["push", "pull"])
def test_cli_server_down(command: str) -> None:
    # No server needed: a port nobody listens on.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    key = secrets.token_hex(20)
    env = {"LABEL_STUDIO_URL": f"http://127.0.0.1:{port}", "LABEL_STUDIO_API_KEY": key}
    result = _cli(
        [command, "--project", "x", "--seeds", str(SEEDS)] if command == "push" else [command, "--project", "x"], env
    )
    _assert_one_line_error(
        result, rf"Error: cannot reach Label Studio at http://127\.0\.0\.1:{port}: connection refused", key
    )


def test_cli_missing_settings() -> None:
    result = runner.invoke(app, ["pull", "--project", "x"], env={"LABEL_STUDIO_URL": "", "LABEL_STUDIO_API_KEY": ""})
    _assert_one_line_error(result, r"Error: LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY not set: .*", "\0")
