"""A bounded concurrent load on a live Label Studio at 127.0.0.1, and what ``claimset pull`` made of it.

Used by ``scripts/loadtest`` (figures for ``docs/performance.md``) and ``tests/test_loadtest.py`` (checks at
a small size). :func:`run_load` pushes ``tasks`` synthetic documents, signs up ``annotators`` accounts
(each with its own API token) and lets them work at the same time, one thread each: every annotator
submits an annotation of every task (in an order of their own) and then updates each of them until it
has ``versions`` versions. Meanwhile ``claimset pull`` runs again and again, each run into a folder of
its own; when the annotators are done, one final pull.

Every version of an annotation has content of its own (its own region ids, its own number of claims),
so the pulled tables tell which version a pull holds. Each request is timed on one monotonic clock:
``sent`` before the request, ``acked`` when the server's answer is back; the server commits it in
between. A pull runs from ``started`` (before the command starts) to ``finished`` (after it exits).

The checks (:func:`check_pull`), for every pull:

* **valid**: the command exits 0 and ``claimset.load`` validates the folder it wrote;
* **reconciles**: every labelled region and relation of the raw export is a row of ``spans`` and
  ``relations`` (nothing rejected, nothing superseded), and the tables hold what the annotators sent:
  each annotation's spans and relations are exactly one whole version of it (never a mix of two), by the
  annotator and on the task it was submitted for, and no annotation appears that nobody submitted;
* **a consistent snapshot**: there is one instant T within the pull (``started <= T <= finished``) at
  which the server could have held exactly what the pull holds. An annotation shown at version v needs
  ``T >= sent(v)`` (it cannot show what was not yet sent) and, if version v+1 was acknowledged,
  ``T <= acked(v+1)`` (it cannot show a version already replaced); an annotation missing from the pull
  needs ``T <= acked(creation)``. The pull is consistent when the largest lower bound is not above the
  smallest upper bound. So a pull holds every annotation acknowledged before it started, in its latest
  acknowledged version or a later one, and nothing sent after it finished;
* the final pull, started after the last acknowledgement, therefore holds every submitted annotation in
  its last version; its counts are compared with what was sent.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from claimset import lsresult
from claimset.errors import ClaimsetError
from claimset.labelstudio import Client, add_annotator, as_user, project_tasks, push

SPEAKERS = ["Olaf Scholz", "Kaja Kallas", "Recep Tayyip Erdoğan", "Maria Zakharova", "José Manuel Albares",
            "Jürgen Müller", "Æsa Þórsdóttir", "the spokesperson"]
CUES = ["said", "claimed", "warned", "insisted", "argued"]
TARGETS = ["NATO", "the Kremlin", "Brussels", "the “coalition”", "Kyiv", "the Élysée", "Ankara"]
PREDICATES = ["has undermined the gas deal 💶", "is preparing the summit 😀", "will never accept the treaty",
              "has lied about the ceasefire", "secretly funds the opposition"]
QUOTE_TYPES = ["indirect", "direct", "mixed"]
WRITE_TIMEOUT = 120.0  # seconds for one request
PULL_TIMEOUT = 600.0  # seconds for one `claimset pull`
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})  # the load test's server is on this machine
NO_RETRY = {"max_retries": 0}  # the SDK retries 5xx and 409 by default: a retried create could double it


@dataclass(frozen=True)
class Plan:
    annotators: int = 5
    tasks: int = 20
    versions: int = 3  # an annotation per annotator and task, then updated until it has this many versions
    seed: int = 0

    @property
    def writes(self) -> int:
        return self.annotators * self.tasks * self.versions


# --- what the annotators send ----------------------------------------------------------------------


@dataclass(frozen=True)
class Sentence:
    claim: tuple[int, int]
    speaker: tuple[int, int]
    cue: tuple[int, int]
    target: tuple[int, int]
    speaker_name: str
    target_name: str


Fingerprint = tuple[frozenset[tuple[Any, ...]], frozenset[tuple[str, str, str]]]


def document_text(rng: random.Random, sentences: int) -> str:
    paragraphs = []
    for _ in range(sentences):
        paragraphs.append(f"{rng.choice(SPEAKERS)} {rng.choice(CUES)} that {rng.choice(TARGETS)} "
                          f"{rng.choice(PREDICATES)}. Observers were not surprised.")
    return "\n\n".join(paragraphs)


def find_sentences(text: str) -> list[Sentence]:
    """The claims of a :func:`document_text`, located in the text as Label Studio holds it (code points)."""
    found = []
    start = 0
    for paragraph in text.split("\n\n"):
        speaker = next(s for s in SPEAKERS if paragraph.startswith(s))
        cue = next(c for c in CUES if paragraph[len(speaker) + 1:].startswith(c + " "))
        after_that = len(speaker) + 1 + len(cue) + len(" that ")
        target = next(t for t in TARGETS if paragraph[after_that:].startswith(t))
        claim_end = paragraph.index(". Observers")
        found.append(Sentence(
            claim=(start + after_that, start + claim_end),
            speaker=(start, start + len(speaker)),
            cue=(start + len(speaker) + 1, start + len(speaker) + 1 + len(cue)),
            target=(start + after_that, start + after_that + len(target)),
            speaker_name=speaker, target_name=target,
        ))
        start += len(paragraph) + 2
    return found


def version_result(text: str, sentences: Sequence[Sentence], version: int) -> tuple[list[dict[str, Any]], Fingerprint]:
    """Version ``version`` (1, 2, ...) of an annotation: the first ``version`` claims, with region ids and a
    quote type of that version; and its fingerprint as the pulled tables show it."""
    items: list[dict[str, Any]] = []
    spans: set[tuple[Any, ...]] = set()
    relations: set[tuple[str, str, str]] = set()
    quote_type = QUOTE_TYPES[(version - 1) % len(QUOTE_TYPES)]
    for n, sentence in enumerate(sentences[:version]):
        ids = {part: f"v{version}-{n}{part}" for part in "csqt"}
        regions = (("c", "Claim", sentence.claim, quote_type, None), ("s", "Speaker", sentence.speaker, None,
                   sentence.speaker_name), ("q", "Cue", sentence.cue, None, None),
                   ("t", "Target", sentence.target, None, sentence.target_name))
        for part, label, (start, end), quote, entity in regions:
            items += lsresult.span(text, start, end, label, ids[part], quote_type=quote, entity=entity)
            spans.add((ids[part], label, start, end, quote, entity))
        for part, kind in (("s", "said_by"), ("q", "cued_by"), ("t", "against")):
            items.append(lsresult.relation(ids["c"], ids[part], kind))
            relations.add((ids["c"], ids[part], kind))
    return items, (frozenset(spans), frozenset(relations))


# --- what happened ----------------------------------------------------------------------------------


@dataclass
class Write:
    annotator: int  # Label Studio user id
    task_id: int
    version: int
    sent: float
    acked: float | None = None  # None: the request failed (the server may or may not have applied it)
    annotation_id: int | None = None
    error: str | None = None


@dataclass
class Pull:
    number: int
    started: float
    finished: float
    returncode: int
    output: str
    out: Path
    raw_dir: Path
    during_load: bool
    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # annotations, spans, relations in the tables


@dataclass
class LoadResult:
    plan: Plan
    url: str
    title: str
    writes: list[Write]
    pulls: list[Pull]
    expected: dict[tuple[int, int, int], Fingerprint] = field(repr=False)  # (user, task, version) -> content
    load_started: float = 0.0
    load_finished: float = 0.0

    @property
    def final(self) -> Pull:
        return self.pulls[-1]

    @property
    def problems(self) -> list[str]:
        failed = [f"write failed: user {w.annotator} task {w.task_id} version {w.version}: {w.error}"
                  for w in self.writes if w.acked is None]
        return failed + [f"pull {p.number}: {problem}" for p in self.pulls for problem in p.problems]


class _Writer(threading.Thread):
    """One annotator: an annotation of every task in an order of its own, then the updates, round by round."""

    def __init__(self, client: Client, user_id: int, tasks: Sequence[tuple[int, str, list[Sentence]]], plan: Plan,
                 rng: random.Random, start: threading.Event) -> None:
        super().__init__(daemon=True)
        self.client, self.user_id, self.tasks, self.plan = client, user_id, list(tasks), plan
        self.rng, self.start_event = rng, start
        self.writes: list[Write] = []

    def run(self) -> None:
        self.start_event.wait()
        ids: dict[int, int] = {}
        for version in range(1, self.plan.versions + 1):
            order = self.tasks[:]
            self.rng.shuffle(order)
            for task_id, text, sentences in order:
                if version > 1 and task_id not in ids:
                    continue  # its creation failed: nothing to update
                result, _ = version_result(text, sentences, version)
                write = Write(self.user_id, task_id, version, sent=time.monotonic())
                try:
                    with self.client.call(f"version {version} on task {task_id}") as ls:
                        if version == 1:
                            answer = ls.annotations.create(id=task_id, result=result, was_cancelled=False,
                                                           lead_time=float(version), request_options=NO_RETRY)
                            ids[task_id] = int(answer.id)
                        else:
                            answer = ls.annotations.update(id=ids[task_id], result=result, lead_time=float(version),
                                                           request_options=NO_RETRY)
                    write.acked, write.annotation_id = time.monotonic(), int(answer.id)
                except ClaimsetError as exc:
                    write.error = str(exc)
                self.writes.append(write)


class _Puller(threading.Thread):
    """``claimset pull`` again and again until told to stop, each run into folders of its own."""

    def __init__(self, command: Sequence[str], env: dict[str, str], title: str, workdir: Path,
                 stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.command, self.env, self.title, self.workdir, self.stop_event = list(command), env, title, workdir, stop
        self.pulls: list[Pull] = []

    def pull(self, during_load: bool) -> Pull:
        number = len(self.pulls) + 1
        raw_dir, out = self.workdir / f"pull-{number:03d}" / "raw", self.workdir / f"pull-{number:03d}" / "dataset"
        args = [*self.command, "pull", "--project", self.title, "--raw-dir", str(raw_dir), "--out", str(out)]
        started = time.monotonic()
        try:
            done = subprocess.run(args, env=self.env, cwd=self.workdir, capture_output=True, text=True,
                                  timeout=PULL_TIMEOUT)
            returncode, output = done.returncode, (done.stdout + done.stderr).strip()
        except subprocess.TimeoutExpired:
            returncode, output = -1, f"timed out after {PULL_TIMEOUT:.0f}s"
        pull = Pull(number, started, time.monotonic(), returncode, output, out, raw_dir, during_load)
        self.pulls.append(pull)
        return pull

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.pull(during_load=True)


def run_load(admin: Client, plan: Plan, workdir: Path, claimset_command: Sequence[str],
             env: dict[str, str]) -> LoadResult:
    """Run ``plan`` against the server of ``admin`` (which must be on this machine) and check every pull.

    ``claimset_command`` runs the claimset CLI (e.g. ``[".venv/bin/claimset"]``); ``env`` is the environment
    for it, without the Label Studio URL and key, which are added here.
    """
    host = urlsplit(admin.conn.url).hostname
    if host not in LOCAL_HOSTS:
        raise ClaimsetError(f"the load test runs against this machine only (127.0.0.1, localhost, ::1), not {host}")
    rng = random.Random(plan.seed)
    title = f"load {uuid.uuid4().hex[:8]}"
    seeds = workdir / "seeds"
    seeds.mkdir(parents=True)
    for n in range(plan.tasks):
        body = document_text(rng, max(plan.versions, 2))
        (seeds / f"load_{n:03d}.txt").write_text(f"date 2026-01-{n % 28 + 1:02d}\n\n{body}\n", encoding="utf-8")
    pushed = push(title, seeds, client=admin)
    tasks = [(int(task.id), task.data["text"], find_sentences(task.data["text"]))
             for task in project_tasks(admin, pushed.project_id)]
    assert len(tasks) == plan.tasks
    expected = {}
    writers = []
    start, stop = threading.Event(), threading.Event()
    for n in range(plan.annotators):
        who = add_annotator(admin, f"annotator{n}-{uuid.uuid4().hex[:6]}@claimset.test", uuid.uuid4().hex)
        for task_id, text, sentences in tasks:
            for version in range(1, plan.versions + 1):
                expected[who.id, task_id, version] = version_result(text, sentences, version)[1]
        writers.append(_Writer(as_user(admin, who.api_key), who.id, tasks, plan, random.Random(rng.random()), start))
    pull_env = {**env, "LABEL_STUDIO_URL": admin.conn.url, "LABEL_STUDIO_API_KEY": admin.conn.api_key}
    puller = _Puller(claimset_command, pull_env, title, workdir, stop)
    for writer in writers:
        writer.start()
    load_started = time.monotonic()
    puller.start()
    start.set()
    for writer in writers:
        writer.join()
    load_finished = time.monotonic()
    stop.set()
    puller.join()
    puller.pull(during_load=False)
    for pull in puller.pulls[:-1]:  # a pull that started after the last write is not one during the load
        pull.during_load = pull.started < load_finished
    writes = sorted((w for writer in writers for w in writer.writes), key=lambda w: w.sent)
    result = LoadResult(plan, admin.conn.url, title, writes, puller.pulls, expected, load_started, load_finished)
    for pull in result.pulls:
        check_pull(pull, result)
    return result


# --- the checks -------------------------------------------------------------------------------------


def _user_id(annotator: str) -> int | None:
    prefix = "ls-user-"
    return int(annotator[len(prefix):]) if annotator.startswith(prefix) and annotator[len(prefix):].isdigit() else None


def _raw_items(raw_dir: Path) -> tuple[Counter[int], Counter[int]]:
    """Labelled regions and relations per annotation id in the pull's raw export."""
    (raw,) = raw_dir.glob("*.json")
    regions: Counter[int] = Counter()
    relations: Counter[int] = Counter()
    for task in json.loads(raw.read_text(encoding="utf-8")):
        for annotation in task.get("annotations", []):
            for item in annotation.get("result", []):
                if item.get("type") == "labels":
                    regions[annotation["id"]] += 1
                elif item.get("type") == "relation":
                    relations[annotation["id"]] += 1
    return regions, relations


def check_pull(pull: Pull, load: LoadResult) -> None:
    """Fill ``pull.problems`` (empty: the pull is valid, reconciles and is a consistent snapshot) and its counts."""
    import claimset

    if pull.returncode != 0:
        last_line = pull.output.splitlines()[-1] if pull.output else ""
        pull.problems.append(f"exit code {pull.returncode}: {last_line}")
        return
    try:
        dataset = claimset.load(pull.out)
    except ClaimsetError as exc:
        pull.problems.append(f"invalid dataset: {exc}")
        return
    annotations = dataset.table("annotations").to_pylist()
    spans = dataset.table("spans").to_pylist()
    relations = dataset.table("relations").to_pylist()
    pull.counts = {"annotations": len(annotations), "spans": len(spans), "relations": len(relations),
                   "rejects": dataset.table("rejects").num_rows}
    if pull.counts["rejects"]:
        pull.problems.append(f"{pull.counts['rejects']} rejected items")
    raw_regions, raw_relations = _raw_items(pull.raw_dir)
    if (sum(raw_regions.values()), sum(raw_relations.values())) != (len(spans), len(relations)):
        pull.problems.append(f"the raw export holds {sum(raw_regions.values())} regions and "
                             f"{sum(raw_relations.values())} relations, the tables {len(spans)} and {len(relations)}")

    content: dict[int, tuple[set[tuple[Any, ...]], set[tuple[str, str, str]]]] = {
        row["annotation_id"]: (set(), set()) for row in annotations}
    for row in spans:
        content[row["annotation_id"]][0].add((row["region_id"], row["label"], row["start"], row["end"],
                                              row["quote_type"], row["entity"]))
    for row in relations:
        head, tail = (row[f"{end}_span_id"].split(":", 1)[1] for end in ("head", "tail"))
        content[row["annotation_id"]][1].add((head, tail, row["type"]))

    history: dict[tuple[int, int], dict[int, Write]] = {}
    for write in load.writes:
        history.setdefault((write.annotator, write.task_id), {})[write.version] = write
    lower: list[tuple[float, str]] = [(pull.started, "the pull started")]
    upper: list[tuple[float, str]] = [(pull.finished, "the pull finished")]
    seen: set[tuple[int, int]] = set()
    for row in annotations:
        user, task_id, aid = _user_id(row["annotator"]), row["task_id"], row["annotation_id"]
        where = f"annotation {aid} (user {user}, task {task_id})"
        key = (user or -1, task_id)
        if key not in history:
            pull.problems.append(f"{where}: nobody submitted it")
            continue
        if key in seen:
            pull.problems.append(f"{where}: a second annotation of this annotator on this task")
        seen.add(key)
        created = history[key][1]
        if created.annotation_id not in (None, aid):
            pull.problems.append(f"{where}: the server acknowledged this annotation as {created.annotation_id}")
        if row["status"] != "submitted":
            pull.problems.append(f"{where}: status {row['status']}")
        spans_and_relations = (frozenset(content[aid][0]), frozenset(content[aid][1]))
        versions = [v for v in history[key] if load.expected.get((*key, v)) == spans_and_relations]
        if not versions:
            pull.problems.append(f"{where}: its content is none of the versions submitted (a mix, or lost items)")
            continue
        (version,) = versions
        lower.append((history[key][version].sent, f"{where} shows version {version}, sent"))
        newer = history[key].get(version + 1)
        if newer is not None and newer.acked is not None:
            upper.append((newer.acked, f"{where} shows version {version}, but version {version + 1} was acknowledged"))
    for key, versions_sent in history.items():
        created = versions_sent[1]
        if key not in seen and created.acked is not None:
            upper.append((created.acked, f"user {key[0]}'s annotation of task {key[1]} is missing, but was "
                                         "acknowledged"))
    latest_lower, upper_first = max(lower), min(upper)
    if latest_lower[0] > upper_first[0]:
        pull.problems.append(
            f"not a snapshot of one instant: {latest_lower[1]} at {latest_lower[0] - load.load_started:.3f}s, "
            f"after {upper_first[1]} at {upper_first[0] - load.load_started:.3f}s")


# --- figures ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    writes: int
    failed: int
    seconds: float
    per_second: float
    latency_ms: tuple[float, float, float]  # median, 95th percentile, maximum
    pulls_during_load: int
    partial_pulls: int  # pulls during the load that hold less than the final pull: they saw work in progress
    pull_seconds: tuple[float, float]  # median, maximum
    invalid_pulls: int
    inconsistent_pulls: int
    final_counts: dict[str, int]
    expected_counts: dict[str, int]


def figures(load: LoadResult) -> Figures:
    acked = [w for w in load.writes if w.acked is not None]
    latencies = sorted(1000 * (w.acked - w.sent) for w in acked if w.acked is not None)
    seconds = load.load_finished - load.load_started
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else 0.0
    durations = [p.finished - p.started for p in load.pulls]
    last: dict[tuple[int, int], int] = {}
    for write in acked:
        last[write.annotator, write.task_id] = max(write.version, last.get((write.annotator, write.task_id), 0))
    expected_spans = sum(len(load.expected[(*key, version)][0]) for key, version in last.items())
    expected_relations = sum(len(load.expected[(*key, version)][1]) for key, version in last.items())
    return Figures(
        writes=len(acked), failed=len(load.writes) - len(acked), seconds=seconds,
        per_second=len(acked) / seconds if seconds else 0.0,
        latency_ms=(statistics.median(latencies) if latencies else 0.0, p95, latencies[-1] if latencies else 0.0),
        pulls_during_load=sum(p.during_load for p in load.pulls),
        partial_pulls=sum(1 for p in load.pulls if p.during_load and p.counts and p.counts != load.final.counts),
        pull_seconds=(statistics.median(durations), max(durations)),
        invalid_pulls=sum(1 for p in load.pulls if p.returncode != 0 or not p.counts),
        inconsistent_pulls=sum(1 for p in load.pulls if p.problems),
        final_counts=load.final.counts,
        expected_counts={"annotations": len(last), "spans": expected_spans, "relations": expected_relations,
                         "rejects": 0},
    )
