"""Annotators writing at once while `claimset pull` runs, on SQLite and on PostgreSQL (tests/concurrent_load.py).

A small bounded load per database (5 annotators, 4 tasks, 2 versions each: 40 writes), every pull checked;
then the checks are shown to catch what they are meant to catch, on copies of a real result; and
``scripts/loadtest`` runs end to end against the PostgreSQL session server, stops the servers it started when it is
stopped itself, and sends its key to this machine only.
"""

from __future__ import annotations

import copy
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from concurrent_load import LoadResult, Plan, Write, check_pull, figures, run_load
from lsserver import state_folder

ROOT = Path(__file__).resolve().parents[1]
PLAN = Plan(annotators=5, tasks=4, versions=2)
CLAIMSET = [str(Path(sys.executable).parent / "claimset")]


@pytest.fixture(scope="module")
def load(any_label_studio: Any, tmp_path_factory: pytest.TempPathFactory) -> LoadResult:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    return run_load(any_label_studio.client, PLAN, tmp_path_factory.mktemp("load"), CLAIMSET, env)


@pytest.mark.labelstudio
def test_every_write_lands_and_every_pull_is_a_valid_consistent_snapshot(load: LoadResult) -> None:
    assert load.problems == []
    f = figures(load)
    assert (f.writes, f.failed) == (PLAN.writes, 0)
    assert f.pulls_during_load >= 1 and len(load.pulls) == f.pulls_during_load + 1
    assert 0 <= f.partial_pulls <= f.pulls_during_load
    assert f.invalid_pulls == f.inconsistent_pulls == 0
    # The final pull holds every annotation in its last version: 4 spans and 3 relations per claim.
    assert f.final_counts == f.expected_counts == {
        "annotations": PLAN.annotators * PLAN.tasks,
        "spans": PLAN.annotators * PLAN.tasks * 4 * PLAN.versions,
        "relations": PLAN.annotators * PLAN.tasks * 3 * PLAN.versions,
        "rejects": 0,
    }


def _recheck(load: LoadResult, number: int, **changes: Any) -> list[str]:
    """The problems of pull ``number`` of a copy of ``load`` with ``changes`` made to that pull."""
    changed = copy.deepcopy(load)
    pull = changed.pulls[number]
    for name, value in changes.items():
        setattr(pull, name, value)
    pull.problems, pull.counts = [], {}
    check_pull(pull, changed)
    return pull.problems


@pytest.mark.labelstudio
def test_a_pull_cannot_show_what_was_sent_after_it_finished(load: LoadResult) -> None:
    before_the_load = load.load_started - 1
    problems = _recheck(load, -1, started=before_the_load - 1, finished=before_the_load)
    assert problems and all(re.match(r"not a snapshot of one instant: .* shows version \d, sent", p)
                            for p in problems), problems


@pytest.mark.labelstudio
def test_a_pull_must_show_every_version_acknowledged_before_it_started(load: LoadResult) -> None:
    # As if the final pull had been taken after one more update was acknowledged.
    changed = copy.deepcopy(load)
    last = changed.writes[-1]
    changed.writes.append(Write(last.annotator, last.task_id, last.version + 1, sent=last.acked or 0.0,
                                acked=(last.acked or 0.0) + 0.001, annotation_id=last.annotation_id))
    final = changed.final
    final.problems = []
    check_pull(final, changed)
    assert len(final.problems) == 1
    assert re.fullmatch(rf"not a snapshot of one instant: the pull started .* after annotation "
                        rf"{last.annotation_id} .* shows version {last.version}, but version {last.version + 1} "
                        r"was acknowledged .*", final.problems[0]), final.problems


@pytest.mark.labelstudio
def test_a_pull_must_hold_every_annotation_acknowledged_before_it_started(load: LoadResult) -> None:
    changed = copy.deepcopy(load)
    changed.writes.append(Write(10**9, changed.writes[0].task_id, 1, sent=0.0, acked=0.0, annotation_id=10**9))
    final = changed.final
    final.problems = []
    check_pull(final, changed)
    assert any("annotation of task" in p and "is missing, but was acknowledged" in p for p in final.problems)


@pytest.mark.labelstudio
def test_mixed_or_unknown_content_is_found(load: LoadResult) -> None:
    changed = copy.deepcopy(load)
    key = next(iter(changed.expected))
    for version in range(1, PLAN.versions + 1):  # what this annotator sent is now something else
        spans, relations = changed.expected[(*key[:2], version)]
        changed.expected[(*key[:2], version)] = (spans - {next(iter(spans))}, relations)
    final = changed.final
    final.problems = []
    check_pull(final, changed)
    assert len(final.problems) == 1
    assert re.fullmatch(rf"annotation \d+ \(user {key[0]}, task {key[1]}\): its content is none of the versions "
                        r"submitted \(a mix, or lost items\)", final.problems[0]), final.problems

    changed.writes = [w for w in changed.writes if (w.annotator, w.task_id) != key[:2]]
    final.problems = []
    check_pull(final, changed)
    assert len(final.problems) == 1
    assert re.fullmatch(rf"annotation \d+ \(user {key[0]}, task {key[1]}\): nobody submitted it", final.problems[0])


@pytest.mark.labelstudio
def test_a_failed_pull_is_reported(load: LoadResult) -> None:
    assert _recheck(load, -1, returncode=1, output="Error: something broke") == [
        "exit code 1: Error: something broke"]
    broken = load.final.out / "spans.parquet"
    saved = broken.read_bytes()
    try:
        broken.write_bytes(saved[: len(saved) // 2])
        (problem,) = _recheck(load, -1)
        assert problem.startswith("invalid dataset: ")
    finally:
        broken.write_bytes(saved)


@pytest.mark.labelstudio
def test_the_script_prints_the_figures(label_studio_pg: Any) -> None:
    # Once, against the PostgreSQL session server: the script does the same on either database.
    env = {**os.environ, "LABEL_STUDIO_URL": label_studio_pg.url, "LABEL_STUDIO_API_KEY": label_studio_pg.api_key}
    db = "postgres"
    done = subprocess.run([str(ROOT / "scripts" / "loadtest"), "--db", db, "--annotators", "2", "--tasks", "2",
                           "--versions", "2"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith(f"| {db} |")]
    assert re.fullmatch(rf"\| {db} \| 2 × 2 × 2 \| 8 / 0 \| .* \| \d+ \(\d+\) \| .* \| 0 \| 0 \| "
                        r"4, 32, 24 \(4, 32, 24\) \|", line), line
    assert label_studio_pg.api_key not in done.stdout + done.stderr


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie nobody reaped is gone too


def _processes_under(folder: Path) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, timeout=30, check=True).stdout
    return [line for line in ps.splitlines() if str(folder) in line]


@pytest.mark.labelstudio
@pytest.mark.parametrize(("db", "stop_signal"), [pytest.param("postgres", signal.SIGTERM, marks=pytest.mark.postgres),
                                                 ("sqlite", signal.SIGINT)])
def test_a_stopped_load_test_stops_the_servers_it_started(db: str, stop_signal: signal.Signals) -> None:
    """SIGTERM (or SIGINT) while the script's Label Studio starts: it and its PostgreSQL are stopped, nothing left."""
    with state_folder("claimset-loadtest-") as tmp:  # the script's state folders go here (postgres can reach it)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "POSTGRE_"))}
        run = subprocess.Popen([str(ROOT / "scripts" / "loadtest"), "--db", db, "--annotators", "1", "--tasks", "1",
                                "--versions", "1"], env={**env, "TMPDIR": str(tmp)}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        try:
            pid_file = None
            for _ in range(600):  # Label Studio launched (after its PostgreSQL), not answering yet
                pid_file = next(iter(tmp.glob("claimset-ls-*/label-studio.pid")), None)
                if pid_file is not None and pid_file.read_text().strip():
                    break
                assert run.poll() is None, run.communicate()
                time.sleep(0.1)
            assert pid_file is not None
            server = int(pid_file.read_text())
            postmaster = pid_file.parent / "postgres" / "data" / "postmaster.pid"
            assert _alive(server) and (db == "sqlite" or _alive(int(postmaster.read_text().split()[0])))
            time.sleep(1)
            run.send_signal(stop_signal)
            out, err = run.communicate(timeout=180)
        finally:
            if run.poll() is None:
                run.kill()
        assert run.returncode == 128 + stop_signal, out + err
        assert err.splitlines()[-1] == (f"loadtest: stopped by {stop_signal.name}; the servers it started are "
                                        "stopped"), err
        assert not _alive(server)
        assert _processes_under(tmp) == []  # no Label Studio, no PostgreSQL
        assert list(tmp.iterdir()) == []  # their state folders removed


@pytest.mark.parametrize("url", ["http://example.invalid:8080", "https://localhost@example.invalid/",
                                 "http://127.0.0.1.example.invalid", "ftp://127.0.0.1/", "http://10.0.0.1:8080"])
def test_the_script_sends_the_key_to_this_machine_only(url: str) -> None:
    key = "k" * 40
    env = {**os.environ, "LABEL_STUDIO_URL": url, "LABEL_STUDIO_API_KEY": key}
    done = subprocess.run([str(ROOT / "scripts" / "loadtest"), "--db", "sqlite"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert re.fullmatch(r"loadtest: LABEL_STUDIO_URL must be http\(s\) to a server on this machine \(127\.0\.0\.1, "
                        r"localhost or \[::1\]\), not \S+: the load test sends the API key there\n", done.stderr), \
        done.stderr
    assert key not in done.stdout + done.stderr


def test_a_server_that_is_down_is_one_line() -> None:
    from lsserver import free_port

    key = "k" * 40
    env = {**os.environ, "LABEL_STUDIO_URL": f"http://127.0.0.1:{free_port()}", "LABEL_STUDIO_API_KEY": key}
    done = subprocess.run([str(ROOT / "scripts" / "loadtest"), "--db", "sqlite"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert re.fullmatch(r"loadtest: cannot reach Label Studio at http://127\.0\.0\.1:\d+: connection refused\n",
                        done.stderr), done.stderr


@pytest.mark.parametrize("args", [["--annotators", "0"], ["--tasks", "201"], ["--versions", "-1"]])
def test_the_bounds_of_the_load_are_named(args: list[str]) -> None:
    done = subprocess.run([str(ROOT / "scripts" / "loadtest"), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].endswith("a bounded load: --annotators 1-20, --tasks 1-200, --versions 1-10 "
                                                 f"(got {'0' if args[0] == '--annotators' else '5'}, "
                                                 f"{'201' if args[0] == '--tasks' else '20'}, "
                                                 f"{'-1' if args[0] == '--versions' else '3'})"), done.stderr
