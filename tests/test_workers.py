"""Worker processes for the import's fast path (claimset.workers): the same tables with any number of
processes, and with workers that die, fail or never start; no process left behind on an error."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from claimset import ingest, workers
from claimset.cli import app
from claimset.errors import ClaimsetError
from claimset.ingest import import_exports
from claimset.tables import TABLES
from synthetic import generate_tasks, write_export

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 tasks, with a later version of one annotation and a doc_id met twice with another text."""
    tasks = list(generate_tasks(40, seed=11, annotators=3, chars=800))
    later = json.loads(json.dumps(tasks[3]["annotations"][0]))
    later["updated_at"] = "2030-01-01T00:00:00Z"
    tasks[30]["annotations"].append(later)
    tasks[30]["id"] = tasks[3]["id"]
    tasks[31]["data"]["doc_id"] = tasks[5]["data"]["doc_id"]
    path = tmp_path_factory.mktemp("export") / "export.json"
    path.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    return path


def _every_workers(monkeypatch: pytest.MonkeyPatch) -> list[workers.Workers]:
    """Every Workers made from now on, to read its counts afterwards."""
    made: list[workers.Workers] = []
    real = workers.Workers.__init__

    def init(self: workers.Workers, *args: Any) -> None:
        real(self, *args)
        made.append(self)

    monkeypatch.setattr(workers.Workers, "__init__", init)
    return made


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[workers.Workers]:
    """Every Workers made, to read its counts afterwards; every task a list of its own."""
    made = _every_workers(monkeypatch)
    monkeypatch.setattr(ingest, "CHUNK_BYTES", 1)
    monkeypatch.setattr(ingest, "available_cores", lambda: 4)  # so that jobs=3 is 3 processes on any machine
    return made


def _tables(out: Path) -> dict[str, Any]:
    return {name: pq.read_table(out / f"{name}.parquet") for name in TABLES}


def _outcome(paths: list[Path], out: Path, jobs: int) -> dict[str, Any]:
    try:
        summary = import_exports(paths, out, jobs=jobs)
    except ClaimsetError as exc:
        return {"error": str(exc)}
    return {"summary": summary.to_dict(), "tables": _tables(out)}


def _children() -> list[int]:
    """This process's child processes (Linux)."""
    found: list[int] = []
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        with open(f"/proc/{os.getpid()}/task/{task}/children") as handle:
            found += [int(pid) for pid in handle.read().split()]
    return found


def test_workers_convert_lists_and_the_tables_do_not_change(export: Path, tmp_path: Path,
                                                           counted: list[workers.Workers],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "QUEUED", 1)  # a second worker starts as soon as the first holds a list
    one = _outcome([export], tmp_path / "one", jobs=1)
    three = _outcome([export], tmp_path / "three", jobs=3)
    assert one == three
    assert one["summary"]["replaced_annotations"] and one["summary"]["rejects_by_reason"]
    assert counted[0].workers == [] and counted[1].answered > 0 and counted[1].redone == 0
    assert len(counted[1].workers) == 2
    assert _children() == []


def test_every_fixture_imports_the_same_with_workers(tmp_path: Path, counted: list[workers.Workers]) -> None:
    exports = sorted(FIXTURES.rglob("*.json"))
    assert len(exports) > 40
    for number, path in enumerate(exports):
        assert _outcome([path], tmp_path / f"{number}a", jobs=1) == _outcome([path], tmp_path / f"{number}b", jobs=2)
    assert sum(pool.answered for pool in counted) > 0


# a worker that ... : the code it runs instead of workers._START
_DIES_AT_ONCE = "import sys; sys.exit(3)"
_DIES_AFTER_TWO = ("import sys, json, os; sys.path[:] = json.loads(sys.argv[1]); import claimset.workers as w; "
                   "real = w._send; sent = []\n"
                   "def send(stream, message):\n"
                   "    real(stream, message); sent.append(1)\n"
                   "    if len(sent) == 2: os._exit(9)\n"
                   "w._send = send; w.serve()")
_FAILS_ON_THE_SECOND = ("import sys, json; sys.path[:] = json.loads(sys.argv[1]); import claimset.workers as w; "
                        "real = w.typed.convert_tasks; calls = []\n"
                        "def convert(*args):\n"
                        "    calls.append(1)\n"
                        "    if len(calls) == 2: raise MemoryError('no room')\n"
                        "    return real(*args)\n"
                        "w.typed.convert_tasks = convert; w.serve()")
_ANSWERS_GARBAGE = ("import sys, struct\n"
                    "def take():\n"
                    "    size = struct.unpack('<Q', sys.stdin.buffer.read(8))[0]; sys.stdin.buffer.read(size)\n"
                    "take(); take()\n"  # the scheme, then a list: it answers that with junk
                    "sys.stdout.buffer.write(struct.pack('<Q', 5) + b'junk!'); sys.stdout.flush()\n"
                    "sys.stdin.buffer.read()")


@pytest.mark.parametrize(("start", "answered", "redone"), [
    (_DIES_AT_ONCE, False, None),  # whether a list was out when it died depends on timing
    (_DIES_AFTER_TWO, True, True), (_FAILS_ON_THE_SECOND, True, True), (_ANSWERS_GARBAGE, False, True),
], ids=["dies-at-once", "dies-after-two", "fails-on-the-second", "answers-garbage"])
def test_a_lost_or_failing_worker_costs_only_time(start: str, answered: bool, redone: bool | None, export: Path,
                                                  tmp_path: Path, counted: list[workers.Workers],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _outcome([export], tmp_path / "one", jobs=1)
    monkeypatch.setattr(workers, "_START", start)
    assert _outcome([export], tmp_path / "two", jobs=2) == expected
    pool = counted[-1]
    assert (pool.answered > 0) is answered
    if redone is not None:
        assert (pool.redone > 0) is redone
    assert _children() == []


@pytest.mark.parametrize("why", ["missing", "frozen"])
def test_no_worker_when_the_interpreter_cannot_be_started(why: str, export: Path, tmp_path: Path,
                                                          counted: list[workers.Workers],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _outcome([export], tmp_path / "one", jobs=1)
    if why == "missing":
        monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))
    else:  # a PyInstaller-style application: sys.executable is the application itself
        monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert _outcome([export], tmp_path / "two", jobs=2) == expected
    assert counted[-1].workers == []


def test_an_error_mid_import_stops_the_workers(export: Path, tmp_path: Path, counted: list[workers.Workers]) -> None:
    truncated = tmp_path / "truncated.json"
    truncated.write_bytes(export.read_bytes()[: export.stat().st_size * 2 // 3])
    expected = _outcome([truncated], tmp_path / "one", jobs=1)
    assert expected["error"].endswith("truncated or invalid JSON: the file ends inside task 26")
    assert _outcome([truncated], tmp_path / "two", jobs=2) == expected
    assert not (tmp_path / "two").exists()
    assert _children() == []


def test_an_interrupt_mid_import_stops_the_workers(export: Path, tmp_path: Path, counted: list[workers.Workers],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    real = ingest._Importer.add_read_task
    seen: list[int] = []

    def interrupt_at_the_tenth(self: Any, *args: Any) -> None:
        seen.append(1)
        if len(seen) == 10:
            raise KeyboardInterrupt("stop")
        real(self, *args)

    monkeypatch.setattr(ingest._Importer, "add_read_task", interrupt_at_the_tenth)
    with pytest.raises(KeyboardInterrupt, match=r"^stop$"):
        import_exports([export], tmp_path / "out", jobs=2)
    assert len(counted[-1].workers) == 1 and _children() == []
    assert not (tmp_path / "out").exists()


def test_jobs_of_any_integer_type(export: Path, tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    expected = _outcome([export], tmp_path / "one", jobs=1)
    assert _outcome([export], tmp_path / "two", jobs=np.int64(2)) == expected


@pytest.mark.parametrize("jobs", [0, -1, 2.5, 2.0, "2", True, None.__class__])
def test_jobs_must_be_a_whole_number_one_or_more(jobs: Any, export: Path, tmp_path: Path) -> None:
    with pytest.raises(ClaimsetError, match=r"^jobs must be a whole number, 1 or more, not "):
        import_exports([export], tmp_path / "out", jobs=jobs)
    assert not (tmp_path / "out").exists()


def test_jobs_zero_on_the_command_line_is_a_usage_error(export: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["import", str(export), "--out", str(tmp_path / "cli"), "--jobs", "0"])
    assert result.exit_code == 2 and "--jobs" in result.output


def test_the_default_is_a_worker_for_large_exports_on_two_cores(export: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    size = export.stat().st_size
    monkeypatch.setattr(ingest, "PARALLEL_BYTES", size + 1)
    monkeypatch.setattr(ingest, "available_cores", lambda: 2)
    assert ingest.default_jobs([export]) == 1
    assert ingest.default_jobs([export, export]) == 2
    assert ingest.default_jobs([export, tmp_path / "missing.json"]) == 1
    monkeypatch.setattr(ingest, "available_cores", lambda: 1)
    assert ingest.default_jobs([export, export]) == 1


def test_the_cli_imports_the_same_with_jobs(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    write_export(path, 30, seed=4, annotators=2, chars=500)
    runner = CliRunner()
    outputs = []
    for jobs in ("1", "2"):
        result = runner.invoke(app, ["import", str(path), "--out", str(tmp_path / jobs), "--jobs", jobs,
                                     "--format", "json"])
        assert result.exit_code == 0, result.output
        output = json.loads(result.output)
        assert output["validation"].pop("directory") == str(tmp_path / jobs)
        outputs.append(output)
    assert outputs[0] == outputs[1]
    assert _tables(tmp_path / "1") == _tables(tmp_path / "2")


def test_never_more_processes_than_cores(export: Path, tmp_path: Path, counted: list[workers.Workers],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "available_cores", lambda: 2)
    monkeypatch.setattr(workers, "QUEUED", 1)
    assert _outcome([export], tmp_path / "many", jobs=16) == _outcome([export], tmp_path / "one", jobs=1)
    assert counted[0].count == 1 and len(counted[0].workers) == 1


def test_an_export_of_one_list_starts_no_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = _every_workers(monkeypatch)
    path = tmp_path / "small.json"
    write_export(path, 5, seed=2, annotators=2, chars=400)
    assert _outcome([path], tmp_path / "two", jobs=2) == _outcome([path], tmp_path / "one", jobs=1)
    assert made[0].workers == []


def test_a_worker_never_imports_the_current_folders_files(export: Path, tmp_path: Path,
                                                         counted: list[workers.Workers],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The importer's sys.path holds '' (python -c, a notebook) and it changed folder: '' is that folder now."""
    expected = _outcome([export], tmp_path / "one", jobs=1)
    trap = tmp_path / "trap"
    trap.mkdir()
    trapping = "open({marker!r}, 'w').close()\nraise SystemExit(7)\n"
    for name in ("claimset", "msgspec", "pyarrow", "orjson"):
        (trap / f"{name}.py").write_text(trapping.format(marker=str(trap / f"IMPORTED-{name}")))
    (trap / "src" / "claimset").mkdir(parents=True)  # what a relative entry 'src' names there
    (trap / "src" / "claimset" / "__init__.py").write_text(trapping.format(marker=str(trap / "IMPORTED-src")))
    monkeypatch.setattr(sys, "path", ["", "src", *sys.path])
    monkeypatch.chdir(trap)
    assert _outcome([export], tmp_path / "two", jobs=2) == expected
    assert sorted(path.name for path in trap.iterdir()) == ["claimset.py", "msgspec.py", "orjson.py", "pyarrow.py",
                                                           "src"]
    assert counted[-1].answered > 0 and counted[-1].redone == 0


def test_a_worker_that_finds_another_claimset_ends_at_once(export: Path, tmp_path: Path,
                                                          counted: list[workers.Workers],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _outcome([export], tmp_path / "one", jobs=1)
    monkeypatch.setattr(workers, "_package_root", lambda: str(tmp_path / "another-claimset"))
    assert _outcome([export], tmp_path / "two", jobs=2) == expected
    assert counted[-1].answered == 0 and _children() == []
