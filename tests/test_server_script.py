"""scripts/label-studio without a server: the port check (TIME_WAIT does not block a restart); backup and restore's
refusals, and a SQLite backup and restore; arguments and settings checked first; the lock; `status` and a second
`start` against a stand-in server (a process that answers /health as Label Studio does)."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from lsserver import free_port, state_folder

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "label-studio"


def port_in_use(port: int) -> bool:
    env = {**os.environ, "LABEL_STUDIO_PORT": str(port)}
    done = subprocess.run([str(SCRIPT), "port-in-use"], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode == 0


def time_wait_port() -> int:
    """A port whose only socket is the server's end of a connection it closed first: in TIME_WAIT.

    The listener sets SO_REUSEADDR as servers do (Label Studio's included); Linux lets a new socket with
    SO_REUSEADDR bind over TIME_WAIT sockets only when their listener had it too.
    """
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = int(listener.getsockname()[1])
        client = socket.create_connection(("127.0.0.1", port))
        served, _ = listener.accept()
        served.close()  # the server closes first (as a stopped server does) ...
        client.recv(1)  # ... the client sees the end of the stream ...
        client.close()  # ... and closes: the server's end is now in TIME_WAIT
    return port


def test_a_port_left_in_time_wait_is_free_for_a_restart() -> None:
    port = time_wait_port()
    # the old check: a bind without SO_REUSEADDR fails
    with socket.socket() as plain, pytest.raises(OSError, match="in use"):
        plain.bind(("127.0.0.1", port))
    assert not port_in_use(port)


def test_a_port_someone_listens_on_is_in_use() -> None:
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert port_in_use(int(listener.getsockname()[1]))


# --- backup and restore, without a server ------------------------------------------------------------


def script(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "POSTGRE_"))}
    base["LABEL_STUDIO_DATA_DIR"] = str(tmp_path / "state" / "data")
    # Never the default ports (8080, 5433): a script that wrongly lets a `start` through starts nothing there.
    base.update(LABEL_STUDIO_PORT=str(free_port()), LABEL_STUDIO_PG_PORT=str(free_port()))
    return subprocess.run([str(SCRIPT), *args], env={**base, **env}, capture_output=True, text=True, timeout=60)


LS_TABLES = ("django_migrations", "htx_user", "organization", "project", "task", "task_completion")  # in 1.23.2
LS_APPS = ("users", "organizations", "projects", "tasks")


def sqlite_file(path: Path, rows: int, tables: Sequence[str] = LS_TABLES, apps: Sequence[str] = LS_APPS,
                users: int = 1) -> Path:
    """A SQLite database shaped like Label Studio's (its tables, Django's record of its apps' migrations), with
    ``rows`` tasks and ``users`` users; ``tables`` and ``apps`` make one that is not."""
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE task (id INTEGER PRIMARY KEY, data TEXT)")
        db.executemany("INSERT INTO task (data) VALUES (?)", [(f"task {i} 🚀",) for i in range(rows)])
        db.execute("CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app TEXT, name TEXT, applied TEXT)")
        db.executemany("INSERT INTO django_migrations (app, name, applied) VALUES (?, '0001_initial', '2026-01-01')",
                       [(app,) for app in apps])
        for table in set(tables) - {"task", "django_migrations"}:
            db.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
        for table in {"task", "django_migrations"} - set(tables):
            db.execute(f"DROP TABLE {table}")
        if "htx_user" in tables:
            db.executemany("INSERT INTO htx_user (id) VALUES (?)", [(i + 1,) for i in range(users)])
    return path


def sqlite_rows(path: Path) -> list[tuple[int, str]]:
    with closing(sqlite3.connect(path)) as db:
        return list(db.execute("SELECT id, data FROM task ORDER BY id"))


def test_sqlite_backup_and_restore_without_a_server(tmp_path: Path) -> None:
    database = tmp_path / "state" / "data" / "label_studio.sqlite3"
    database.parent.mkdir(parents=True)
    sqlite_file(database, 50)
    backup = tmp_path / "ls.backup"
    done = script(tmp_path, "backup", str(backup))
    assert done.returncode == 0, done.stderr
    assert backup.stat().st_mode & 0o077 == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ls.backup", "state"]  # no temporary file left
    fresh = tmp_path / "fresh"
    done = script(fresh, "restore", str(backup))
    assert done.returncode == 0, done.stderr
    assert sqlite_rows(fresh / "state" / "data" / "label_studio.sqlite3") == sqlite_rows(database)
    assert sorted(p.name for p in (fresh / "state" / "data").iterdir()) == ["label_studio.sqlite3"]  # no temp file
    again = script(fresh, "restore", str(backup))
    assert again.returncode == 1 and "exists: restore into a fresh LABEL_STUDIO_DATA_DIR" in again.stderr


@pytest.mark.parametrize(
    ("content", "env", "message"),
    [
        (b"not a backup", {}, r"is neither a pg_dump custom-format file nor a SQLite database"),
        (b"SQLite format 3\0", {"LABEL_STUDIO_DB": "postgres"}, r"is a sqlite backup, but LABEL_STUDIO_DB is postgres"),
        (b"PGDMP\1\16\0", {}, r"is a postgres backup, but LABEL_STUDIO_DB is sqlite"),
        (b"PGDMP\1\16\0", {"LABEL_STUDIO_DB": "mysql"}, r"LABEL_STUDIO_DB must be sqlite or postgres, not 'mysql'"),
    ],
)
def test_restore_refuses_what_does_not_fit(tmp_path: Path, content: bytes, env: dict[str, str], message: str) -> None:
    backup = tmp_path / "backup"
    backup.write_bytes(content)
    done = script(tmp_path, "restore", str(backup), **env)
    assert done.returncode == 1
    assert re.fullmatch(rf"label-studio: .*{message}\n", done.stderr), done.stderr
    assert not (tmp_path / "state").exists()  # nothing made, no cluster started


def _stand_in(*args: str) -> subprocess.Popen[bytes]:
    """A sleeping process whose command line holds ``args`` (as a Label Studio's would)."""
    import sys

    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *args])


def test_restore_refuses_while_label_studio_runs(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    server = _stand_in("label-studio", "start", "--data-dir", str(tmp_path / "state" / "data"))
    try:
        (tmp_path / "state" / "label-studio.pid").write_text(f"{server.pid}\n")
        backup = sqlite_file(tmp_path / "backup", 1)
        done = script(tmp_path, "restore", str(backup))
        assert done.returncode == 1 and "Label Studio is running" in done.stderr
        assert not (tmp_path / "state" / "data").exists()
    finally:
        server.kill()
        server.wait()


@pytest.mark.parametrize("pid", ["other", "0", "-1"])
def test_stop_never_signals_a_process_it_did_not_start(tmp_path: Path, pid: str) -> None:
    """A stale pid file whose number belongs to another process (or 0, -1): stop and status leave it alone."""
    (tmp_path / "state").mkdir()
    other = _stand_in("not-the-server")
    try:
        (tmp_path / "state" / "label-studio.pid").write_text(f"{other.pid if pid == 'other' else pid}\n")
        status = script(tmp_path, "status")
        assert status.returncode != 0 and "running" not in status.stdout.replace("not running", "")
        script(tmp_path, "stop")
        assert other.poll() is None  # still alive
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize("target", ["folder", "folder/", "fifo"])
def test_backup_refuses_a_target_that_is_not_a_file(tmp_path: Path, target: str) -> None:
    database = tmp_path / "state" / "data" / "label_studio.sqlite3"
    database.parent.mkdir(parents=True)
    sqlite_file(database, 1)
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")
    done = script(tmp_path, "backup", str(tmp_path / target) + ("/" if target.endswith("/") else ""))
    assert done.returncode == 1 and ("is a folder" in done.stderr or "not a regular file" in done.stderr)
    assert (tmp_path / "fifo").is_fifo() and list((tmp_path / "folder").iterdir()) == []


def test_restored_data_folder_is_the_owners_only(tmp_path: Path) -> None:
    backup = sqlite_file(tmp_path / "backup", 1)
    done = script(tmp_path, "restore", str(backup))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "state" / "data").stat().st_mode & 0o077 == 0


def test_backup_of_nothing_is_an_error(tmp_path: Path) -> None:
    done = script(tmp_path, "backup", str(tmp_path / "b"))
    assert done.returncode == 1 and "no Label Studio database at" in done.stderr
    assert not (tmp_path / "b").exists()


def test_an_existing_postgresql_needs_its_settings(tmp_path: Path) -> None:
    done = script(tmp_path, "backup", str(tmp_path / "b"), LABEL_STUDIO_DB="postgres", POSTGRE_HOST="127.0.0.1")
    assert done.returncode == 1
    assert done.stderr == ("label-studio: with POSTGRE_HOST set, also set POSTGRE_NAME, POSTGRE_USER and "
                           "POSTGRE_PASSWORD\n")


def test_postgresql_that_cannot_start_fails_the_tests_under_ci(tmp_path: Path) -> None:
    """Under CI=true the PostgreSQL tests fail, never skip, when PostgreSQL cannot start (here: no binaries)."""
    pytest.importorskip("label_studio_sdk")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "POSTGRE_"))}
    env.update(CI="true", LABEL_STUDIO_PG_BIN=str(tmp_path))  # a folder without pg_ctl
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_postgres.py", "-k", "loopback"],
        cwd=SCRIPT.parents[1], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert re.match(r"\d+ deselected, 1 error in ", done.stdout.splitlines()[-1]), done.stdout[-2000:]
    assert "cannot start Label Studio with scripts/label-studio" in done.stdout and "holds no pg_ctl" in done.stdout


# --- what restore takes: a Label Studio database, checked before anything is made -----------------------


def _corrupt(path: Path) -> Path:
    sqlite_file(path, 200)
    data = bytearray(path.read_bytes())
    data[4096:8192] = b"\xff" * 4096  # a page of the tables overwritten
    path.write_bytes(bytes(data))
    return path


def _empty(path: Path) -> Path:
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA user_version = 1")  # a valid SQLite file with no table
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_empty, r"it has no table django_migrations, htx_user, organization, project, task, task_completion"),
        (lambda path: sqlite_file(path, 3, tables=("notes", "tags"), apps=()),
         r"it has no table django_migrations, htx_user, organization, project, task, task_completion"),
        (lambda path: sqlite_file(path, 3, tables=tuple(t for t in LS_TABLES if t != "task_completion")),
         r"it has no table task_completion"),
        (lambda path: sqlite_file(path, 3, apps=("blog", "users")),
         r"its django_migrations record no migration of organizations, projects, tasks"),
        (_corrupt, r"(it fails PRAGMA integrity_check: .*|database disk image is malformed)"),
        (lambda path: path.write_bytes(b"SQLite format 3\0" + b"\x07" * 5000) and path, r"file is not a database"),
        (lambda path: sqlite_file(path, 3, users=0),
         r"its table htx_user holds no user \(an empty or schema-only database\)"),
    ],
    ids=["empty", "another-app", "no-annotations-table", "other-django-apps", "corrupt", "garbage", "no-user"],
)
def test_restore_takes_only_a_sound_label_studio_sqlite_database(tmp_path: Path, make: Any, message: str) -> None:
    backup = make(tmp_path / "backup.sqlite3")
    done = script(tmp_path, "restore", str(backup))
    assert done.returncode == 1
    # One line, no traceback, naming the file and why.
    assert re.fullmatch(rf"label-studio: {re.escape(str(backup))} is not a sound Label Studio SQLite database: "
                        rf"{message}\n", done.stderr), done.stderr
    assert not (tmp_path / "state").exists()  # nothing made


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_restore"))
    if not found:
        pytest.skip("PostgreSQL is not installed")
    return found[-1].parent


@pytest.mark.parametrize("content", [b"PGDMP\1\16\0" + b"junk" * 100, b"PGDMP"])
def test_restore_checks_a_pg_dump_before_starting_anything(tmp_path: Path, content: bytes) -> None:
    _pg_bin()
    backup = tmp_path / "backup.dump"
    backup.write_bytes(content)
    done = script(tmp_path, "restore", str(backup), LABEL_STUDIO_DB="postgres")
    assert done.returncode == 1
    assert re.fullmatch(rf"label-studio: {re.escape(str(backup))} is not a pg_dump archive pg_restore can read: "
                        r"pg_restore: .*\n", done.stderr), done.stderr
    assert not (tmp_path / "state").exists()  # no cluster made nor started


# --- arguments and settings, checked before anything starts ------------------------------------------------


ACCOUNT = {"LABEL_STUDIO_USERNAME": "lead@claimset.test", "LABEL_STUDIO_PASSWORD": "not-used-123",
           "LABEL_STUDIO_USER_TOKEN": "0" * 40}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LABEL_STUDIO_START_TIMEOUT": "abc"}, "LABEL_STUDIO_START_TIMEOUT must be a whole number from 1 to 86400, "
                                                "not 'abc'"),
        ({"LABEL_STUDIO_START_TIMEOUT": "1.5"}, "LABEL_STUDIO_START_TIMEOUT must be .* not '1.5'"),
        ({"LABEL_STUDIO_START_TIMEOUT": "0"}, "LABEL_STUDIO_START_TIMEOUT must be .* not '0'"),
        ({"LABEL_STUDIO_START_TIMEOUT": "-5"}, "LABEL_STUDIO_START_TIMEOUT must be .* not '-5'"),
        ({"LABEL_STUDIO_PORT": "99999"}, "LABEL_STUDIO_PORT must be a whole number from 1 to 65535, not '99999'"),
        ({"LABEL_STUDIO_PORT": "0"}, "LABEL_STUDIO_PORT must be .* not '0'"),
        ({"LABEL_STUDIO_PORT": "80a"}, "LABEL_STUDIO_PORT must be .* not '80a'"),
        ({"LABEL_STUDIO_PORT": ""}, "LABEL_STUDIO_PORT must be .* not ''"),
        ({"LABEL_STUDIO_PORT": "018000"}, "LABEL_STUDIO_PORT must be .* not '018000'"),
        ({"LABEL_STUDIO_START_TIMEOUT": "0180"}, "LABEL_STUDIO_START_TIMEOUT must be .* not '0180'"),
        ({"LABEL_STUDIO_START_TIMEOUT": "+5"}, "LABEL_STUDIO_START_TIMEOUT must be .* not '\\+5'"),
        ({"LABEL_STUDIO_PG_PORT": "65536", "LABEL_STUDIO_DB": "postgres"}, "LABEL_STUDIO_PG_PORT must be .*"),
        ({"LABEL_STUDIO_PG_PORT": "x", "LABEL_STUDIO_DB": "postgres"}, "LABEL_STUDIO_PG_PORT must be .* not 'x'"),
        ({"LABEL_STUDIO_DB": "postgres", "POSTGRE_HOST": "127.0.0.1", "POSTGRE_PORT": "5432x"},
         "POSTGRE_PORT must be .* not '5432x'"),
    ],
)
@pytest.mark.parametrize("command", ["start", "status", "backup", "restore"])
def test_numbers_are_checked_before_anything_starts(tmp_path: Path, command: str, env: dict[str, str],
                                                    message: str) -> None:
    backup = sqlite_file(tmp_path / "backup", 1)
    args = [str(backup)] if command in ("backup", "restore") else []
    if env == {"LABEL_STUDIO_PORT": ""}:  # empty is unset for the script (the default): as good as 8080
        env = {"LABEL_STUDIO_PORT": " "}
        message = "LABEL_STUDIO_PORT must be .* not ' '"
    done = script(tmp_path, command, *args, **ACCOUNT, **env)
    assert done.returncode == 1
    assert re.fullmatch(rf"label-studio: {message}\n", done.stderr), done.stderr
    assert not (tmp_path / "state").exists()  # nothing launched, nothing written


def _help(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0 and done.stderr == ""
    assert "Wrong arguments exit 2 (with this usage); a wrong setting exits 1" in done.stdout
    assert done.stdout.startswith("usage: scripts/label-studio install|start|stop|status|backup FILE|restore FILE")
    for command in ("install", "start", "stop", "status", "backup FILE", "restore FILE"):
        assert re.search(rf"^  {command}  ", done.stdout, re.MULTILINE), command


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["start", "--help"], ["restore", "-h"]])
def test_help_prints_the_usage_and_exits_0(tmp_path: Path, args: list[str]) -> None:
    _help(script(tmp_path, *args, **ACCOUNT))
    assert not (tmp_path / "state").exists()  # `start --help` starts nothing


def test_the_usage_names_every_setting_the_script_reads(tmp_path: Path) -> None:
    text = script(tmp_path, "--help").stdout
    read = set(re.findall(r"\$\{((?:LABEL_STUDIO|POSTGRE)_[A-Z_]+)", SCRIPT.read_text()))
    assert read >= {"LABEL_STUDIO_PORT", "LABEL_STUDIO_DATA_DIR", "LABEL_STUDIO_DB", "LABEL_STUDIO_PG_PORT"}
    assert [name for name in sorted(read) if name not in text] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "now"], "status takes no arguments (got: now)"),
        (["stop", "-f"], "stop takes no arguments (got: -f)"),
        (["start", "8081"], "start takes no arguments (got: 8081)"),
        (["backup"], "backup takes one argument, FILE"),
        (["backup", "a", "b"], "backup takes one argument, FILE"),
        (["restore", ""], "restore takes one argument, FILE"),
        ([], "no command given"),
        (["restart"], "unknown command 'restart'"),
    ],
)
def test_wrong_arguments_exit_2_with_the_usage(tmp_path: Path, args: list[str], message: str) -> None:
    done = script(tmp_path, *args, **ACCOUNT)
    assert done.returncode == 2 and done.stdout == ""
    first, usage = done.stderr.splitlines()
    assert first == f"label-studio: {message}"
    assert usage.startswith("usage: scripts/label-studio install|start|stop|status|backup FILE|restore FILE")
    assert not (tmp_path / "state").exists()


def test_a_relative_data_dir_is_the_callers(tmp_path: Path) -> None:
    backup = sqlite_file(tmp_path / "backup", 2)
    caller = tmp_path / "caller"
    caller.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "POSTGRE_"))}
    done = subprocess.run([str(SCRIPT), "restore", str(backup)], cwd=caller, capture_output=True, text=True,
                          env={**env, "LABEL_STUDIO_DATA_DIR": "./ls/../ls/data"}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert sqlite_rows(caller / "ls" / "data" / "label_studio.sqlite3") == sqlite_rows(backup)
    assert done.stdout == f"restored {backup} into the sqlite database of {caller / 'ls'}; scripts/label-studio " \
                          "start serves it\n"
    assert not (SCRIPT.parents[1] / "ls").exists()  # not the repository's


# --- one start, stop, backup or restore at a time ----------------------------------------------------------


@contextmanager
def _locked(state: Path) -> Iterator[None]:
    """This data dir's lock, held as a running start, stop, backup or restore holds it."""
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "label-studio.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield


@pytest.mark.parametrize("command", ["start", "stop", "backup", "restore"])
def test_a_second_command_on_a_busy_data_dir_fails_at_once(tmp_path: Path, command: str) -> None:
    backup = sqlite_file(tmp_path / "backup", 1)
    if command == "backup":
        sqlite_file((tmp_path / "state" / "data").mkdir(parents=True) or tmp_path / "state" / "data" /
                    "label_studio.sqlite3", 1)
    args = [str(tmp_path / "new-backup" if command == "backup" else backup)] if command in ("backup", "restore") else []
    with _locked(tmp_path / "state"):
        done = script(tmp_path, command, *args, **ACCOUNT)
        assert done.returncode == 1
        assert re.fullmatch(r"label-studio: busy: another start, stop, backup or restore of .*/state/data is under "
                            r"way; try again when it is done\n", done.stderr), done.stderr
        assert not (tmp_path / "new-backup").exists()
        assert command == "backup" or not (tmp_path / "state" / "data").exists()
        assert script(tmp_path, "status").returncode == 3  # status only reads: never busy
    done = script(tmp_path, command, *args, **ACCOUNT) if command in ("backup", "restore", "stop") else None
    assert done is None or done.returncode == 0, done.stderr  # the lock released, it goes through


def test_two_restores_at_once_one_wins(tmp_path: Path) -> None:
    backup = sqlite_file(tmp_path / "backup", 200_000)  # big enough for the copies to overlap
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "POSTGRE_"))}
    base["LABEL_STUDIO_DATA_DIR"] = str(tmp_path / "state" / "data")
    runs = [subprocess.Popen([str(SCRIPT), "restore", str(backup)], env=base, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = sorted((run.wait(timeout=120), run.communicate()[1]) for run in runs)
    assert [code for code, _ in results] == [0, 1], results
    assert "busy: " in results[1][1] or "exists: restore into a fresh" in results[1][1]
    assert sqlite_rows(tmp_path / "state" / "data" / "label_studio.sqlite3") == sqlite_rows(backup)


# --- status and a second start, against a stand-in server ----------------------------------------------------

STAND_IN = """
import http.server, sys
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b'{"status": "UP"}')
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""


@contextmanager
def stand_in_server(state: Path, port: int, record: dict[str, str] | None) -> Iterator[subprocess.Popen[bytes]]:
    """A process that answers /health on ``port`` with a command line like the server's (the script tells its own
    Label Studio by that), its pid file, and (``record``) the port and database a `start` records beside it."""
    data = state / "data"
    data.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen([sys.executable, "-c", STAND_IN, str(port), "label-studio", "start", "--data-dir",
                               str(data)])
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        (state / "label-studio.pid").write_text(f"{server.pid}\n")
        if record is not None:
            (state / "label-studio.state").write_text("".join(f"{k}={v}\n" for k, v in record.items()))
        yield server
    finally:
        server.kill()
        server.wait()


def _sqlite_record(state: Path, port: int) -> dict[str, str]:
    return {"port": str(port), "db": f"SQLite ({state / 'data' / 'label_studio.sqlite3'})", "kind": "sqlite",
            "db_host": "", "db_port": ""}


def test_status_checks_the_database_too(tmp_path: Path) -> None:
    port, pg_port = free_port(), free_port()
    with state_folder() as state:
        record = {"port": str(port), "db": f"PostgreSQL at 127.0.0.1:{pg_port} ({state / 'postgres' / 'data'})",
                  "kind": "postgres-local", "db_host": "127.0.0.1", "db_port": str(pg_port)}
        env = {"LABEL_STUDIO_DATA_DIR": str(state / "data")}
        with stand_in_server(state, port, record) as server:
            # Label Studio answers, its PostgreSQL is not there (killed, or its folder gone): not "running".
            _pg_bin()
            (state / "postgres" / "data").mkdir(parents=True)
            done = script(tmp_path, "status", **env)
            assert done.returncode == 1, done.stdout
            assert done.stdout == (f"degraded: Label Studio (pid {server.pid}) at http://127.0.0.1:{port}: its "
                                   f"PostgreSQL at 127.0.0.1:{pg_port} ({state / 'postgres' / 'data'}) is down\n")
            # On SQLite: up while its database file is there.
            (state / "label-studio.state").write_text("".join(f"{k}={v}\n" for k, v in
                                                              _sqlite_record(state, port).items()))
            assert script(tmp_path, "status", **env).returncode == 1
            sqlite_file(state / "data" / "label_studio.sqlite3", 1)
            done = script(tmp_path, "status", **env)
            assert (done.returncode, done.stdout) == (0, f"running (pid {server.pid}) at http://127.0.0.1:{port} on "
                                                         f"SQLite ({state / 'data' / 'label_studio.sqlite3'})\n")
        # Label Studio gone without a `stop` (its pid file is still there): it crashed.
        done = script(tmp_path, "status", **env)
        assert (done.returncode, done.stdout) == (1, f"crashed (pid {server.pid} is gone; see "
                                                     f"{state / 'label-studio.log'})\n")
        assert script(tmp_path, "stop", **env).returncode == 0
        done = script(tmp_path, "status", **env)
        assert (done.returncode, done.stdout) == (3, "stopped\n")


def test_status_names_a_server_that_does_not_answer(tmp_path: Path) -> None:
    port = free_port()
    with stand_in_server(tmp_path / "state", port, _sqlite_record(tmp_path / "state", port)) as server:
        sqlite_file(tmp_path / "state" / "data" / "label_studio.sqlite3", 1)
        server.send_signal(signal.SIGSTOP)  # alive, but answers nothing
        try:
            done = script(tmp_path, "status")
        finally:
            server.send_signal(signal.SIGCONT)
    assert done.returncode == 1
    assert done.stdout == (f"degraded: Label Studio (pid {server.pid}) at http://127.0.0.1:{port}: Label Studio does "
                           f"not answer http://127.0.0.1:{port}/health\n")


@pytest.mark.parametrize("record", [True, False], ids=["recorded", "not-recorded"])
def test_a_second_start_refuses_another_port_or_database(tmp_path: Path, record: bool) -> None:
    state, port = tmp_path / "state", free_port()
    with stand_in_server(state, port, _sqlite_record(state, port) if record else None) as server:
        sqlite_file(state / "data" / "label_studio.sqlite3", 1)
        for other in ({"LABEL_STUDIO_PORT": str(free_port(port))}, {"LABEL_STUDIO_DB": "postgres"}):
            done = script(tmp_path, "start", **ACCOUNT, **{"LABEL_STUDIO_PORT": str(port), **other})
            assert done.returncode == 1, done.stdout
            how = f"stop it first: LABEL_STUDIO_DATA_DIR={state / 'data'} scripts/label-studio stop"
            if record:
                assert re.fullmatch(rf"label-studio: Label Studio of {state / 'data'} is already running \(pid "
                                    rf"{server.pid}\) on port {port} with SQLite \(.*\), not port \d+ with .*; "
                                    rf"{re.escape(how)}\n", done.stderr), done.stderr
            else:
                assert done.stderr == (f"label-studio: Label Studio of {state / 'data'} is already running (pid "
                                       f"{server.pid}), on a port and database not recorded; {how}\n")
        same = script(tmp_path, "start", **ACCOUNT, LABEL_STUDIO_PORT=str(port))
        if record:  # the same port and database: fine, says so, and that the account given is not applied
            assert same.returncode == 0, same.stderr
            assert same.stdout == (f"Label Studio is already running (pid {server.pid}) at http://127.0.0.1:{port} on "
                                   f"SQLite ({state / 'data' / 'label_studio.sqlite3'})\n")
            assert same.stderr == ("label-studio: note: the running server keeps its own admin account and token; "
                                   "the LABEL_STUDIO_USERNAME, LABEL_STUDIO_PASSWORD and LABEL_STUDIO_USER_TOKEN of "
                                   "this start are not applied\n")

        else:
            assert same.returncode == 1
        assert server.poll() is None


# --- the data dir by any path: symlinks resolved -------------------------------------------------------------


@pytest.mark.parametrize("started_by", ["link", "real"])
def test_any_path_to_the_data_dir_names_the_same_server(tmp_path: Path, started_by: str) -> None:
    """A data dir reached through a symlinked folder, or by a relative path from inside one, is the same data dir:
    `status` sees its server, `stop` stops it (before, `stop` said "not running", removed the pid and state files
    and left the server running)."""
    real, link = tmp_path / "real", tmp_path / "link"
    (real / "state").mkdir(parents=True)
    link.symlink_to(real)
    state, port = real / "state", free_port()
    with stand_in_server(link / "state" if started_by == "link" else state, port, _sqlite_record(state, port)) \
            as server:
        sqlite_file(state / "data" / "label_studio.sqlite3", 1)
        given = real if started_by == "link" else link
        for env, cwd in (({"LABEL_STUDIO_DATA_DIR": str(given / "state" / "data")}, None),
                         ({"LABEL_STUDIO_DATA_DIR": "data"}, link / "state"),
                         ({"LABEL_STUDIO_DATA_DIR": "./state/../state/data"}, link)):
            done = _run(tmp_path, ["status"], env, cwd)
            assert (done.returncode, done.stdout.split(" at ")[0]) == (0, f"running (pid {server.pid})"), done.stdout
        done = _run(tmp_path, ["stop"], {"LABEL_STUDIO_DATA_DIR": str(given / "state" / "data")}, None)
        assert (done.returncode, done.stdout) == (0, f"Label Studio stopped (pid {server.pid})\n"), done.stderr
        assert server.wait(timeout=30) is not None
        assert not (state / "label-studio.pid").exists()


def _run(tmp_path: Path, args: list[str], env: dict[str, str], cwd: Path | None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "POSTGRE_"))}
    base.update(LABEL_STUDIO_PORT=str(free_port()), LABEL_STUDIO_PG_PORT=str(free_port()))
    return subprocess.run([str(SCRIPT), *args], env={**base, **env}, cwd=cwd or tmp_path, capture_output=True,
                          text=True, timeout=60)


def test_a_server_the_pid_file_does_not_name_is_never_orphaned(tmp_path: Path) -> None:
    """A Label Studio serving the data dir that the pid file does not name (pid file lost, or started by hand):
    `stop` keeps the state file and refuses, `status` names it, `start` and `restore` refuse."""
    state, port = tmp_path / "state", free_port()
    with stand_in_server(state, port, _sqlite_record(state, port)) as server:
        (state / "label-studio.pid").unlink()
        done = script(tmp_path, "stop")
        assert done.returncode == 1 and (state / "label-studio.state").exists()
        assert done.stderr == (f"label-studio: a Label Studio (pid {server.pid}) serves {state / 'data'} but "
                               f"{state / 'label-studio.pid'} does not name it; nothing is stopped or removed (stop it "
                               f"yourself: kill {server.pid})\n")
        status = script(tmp_path, "status")
        assert status.returncode == 1 and status.stdout.startswith(f"degraded: a Label Studio (pid {server.pid}) "
                                                                   f"serves {state / 'data'} but ")
        started = script(tmp_path, "start", **ACCOUNT, LABEL_STUDIO_PORT=str(free_port(port)))
        assert started.returncode == 1 and "does not name it; not starting another" in started.stderr
        restored = script(tmp_path, "restore", str(sqlite_file(tmp_path / "backup", 1)))
        assert restored.returncode == 1 and "does not name it; not restoring under it" in restored.stderr
        assert server.poll() is None


def test_a_crashed_server_is_not_stopped(tmp_path: Path) -> None:
    state, port = tmp_path / "state", free_port()
    with stand_in_server(state, port, _sqlite_record(state, port)) as server:
        pass  # killed: its pid and state files stay, as after a crash
    done = script(tmp_path, "status")
    assert (done.returncode, done.stdout) == (1, f"crashed (pid {server.pid} is gone; see "
                                                 f"{state / 'label-studio.log'})\n")


def test_status_of_a_server_without_a_state_file(tmp_path: Path) -> None:
    state, port = tmp_path / "state", free_port()
    with stand_in_server(state, port, None) as server:
        sqlite_file(state / "data" / "label_studio.sqlite3", 1)
        done = script(tmp_path, "status", LABEL_STUDIO_PORT=str(port))
        assert (done.returncode, done.stdout) == (0, f"running (pid {server.pid}) at http://127.0.0.1:{port} on an "
                                                     "unknown database (no state file)\n")
        (state / "label-studio.state").write_text("garbage\n")
        done = script(tmp_path, "status", LABEL_STUDIO_PORT=str(port))
        assert done.stdout.endswith(f"on an unknown database ({state / 'label-studio.state'} names none)\n")


# --- the admin token, checked before anything starts -----------------------------------------------------------


@pytest.mark.parametrize("token", ["0" * 41, "12345", "has a space 1234", "tökenäöü1234", "tab\there123"],
                         ids=["41-chars", "5-chars", "space", "non-ascii", "tab"])
def test_a_token_label_studio_would_not_apply_is_refused_first(tmp_path: Path, token: str) -> None:
    """A 41-character token failed Label Studio's start half-way (varchar(40)) and left an admin behind."""
    done = script(tmp_path, "start", **{**ACCOUNT, "LABEL_STUDIO_USER_TOKEN": token})
    assert done.returncode == 1
    assert re.fullmatch(rf"label-studio: LABEL_STUDIO_USER_TOKEN must be 6 to 40 printable ASCII characters without "
                        rf"spaces \(it has {len(token)}\): .*\n", done.stderr), done.stderr
    assert token not in done.stderr
    assert not (tmp_path / "state").exists()


# --- paths that are not what they should be ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["folder", "fifo", "dangling-symlink", "symlink-to-file"])
@pytest.mark.parametrize("command", ["stop", "backup"])
def test_a_lock_file_that_is_not_a_regular_file_is_refused(tmp_path: Path, kind: str, command: str) -> None:
    database = tmp_path / "state" / "data" / "label_studio.sqlite3"
    database.parent.mkdir(parents=True)
    sqlite_file(database, 1)
    lock, elsewhere = tmp_path / "state" / "label-studio.lock", tmp_path / "elsewhere"
    if kind == "folder":
        lock.mkdir()
    elif kind == "fifo":
        os.mkfifo(lock)
    else:
        if kind == "symlink-to-file":
            elsewhere.write_text("")
        lock.symlink_to(elsewhere)
    args = [str(tmp_path / "b")] if command == "backup" else []
    done = subprocess.run([str(SCRIPT), command, *args], env={
        **{k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "POSTGRE_"))},
        "LABEL_STUDIO_DATA_DIR": str(tmp_path / "state" / "data")}, capture_output=True, text=True, timeout=20)
    assert done.returncode == 1
    assert done.stderr == (f"label-studio: the lock file {lock} is not a regular file (a symlink, folder or pipe); "
                           "remove it\n")
    assert kind == "symlink-to-file" or not elsewhere.exists()
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("command", ["start", "stop", "status", "backup", "restore"])
def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path, command: str) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "data").write_text("a file")
    args = [str(sqlite_file(tmp_path / "backup", 1))] if command in ("backup", "restore") else []
    done = script(tmp_path, command, *args, **ACCOUNT)
    assert (done.returncode, done.stderr) == (1, f"label-studio: LABEL_STUDIO_DATA_DIR {tmp_path / 'state' / 'data'} "
                                                 "exists and is not a folder\n")


@pytest.mark.parametrize("target", ["data/label_studio.sqlite3", "data/new.backup", "link-to-db", "postgres/x",
                                    "label-studio.pid", "link-to-data/x"])
def test_backup_never_writes_into_the_live_database(tmp_path: Path, target: str) -> None:
    state = tmp_path / "state"
    database = state / "data" / "label_studio.sqlite3"
    database.parent.mkdir(parents=True)
    (state / "postgres").mkdir()
    sqlite_file(database, 5)
    (state / "label-studio.pid").write_text("1\n")
    (state / "link-to-db").symlink_to(database)
    (state / "link-to-data").symlink_to(state / "data")
    before = database.read_bytes()
    done = script(tmp_path, "backup", str(state / target))
    assert done.returncode == 1
    assert re.fullmatch(rf"label-studio: {re.escape(str(state / target))} is (inside .* \(the live database's "
                        r"folder\)|.*label-studio\.pid, a file of the script's own); write the backup elsewhere\n",
                        done.stderr), done.stderr
    assert database.read_bytes() == before and sorted(p.name for p in database.parent.iterdir()) == [database.name]
    assert (state / "label-studio.pid").read_text() == "1\n"


def test_restore_removes_stale_wal_and_shm_files(tmp_path: Path) -> None:
    data = tmp_path / "state" / "data"
    data.mkdir(parents=True)
    for suffix in ("-wal", "-shm", "-journal"):
        (data / f"label_studio.sqlite3{suffix}").write_bytes(b"stale " * 100)
    backup = sqlite_file(tmp_path / "backup", 7)
    done = script(tmp_path, "restore", str(backup))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in data.iterdir()) == ["label_studio.sqlite3"]
    assert sqlite_rows(data / "label_studio.sqlite3") == sqlite_rows(backup)


# --- pg_dump files: restore needs data, and undoes a restore that fails ----------------------------------------


def _as_postgres(command: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, cwd=cwd, capture_output=True, timeout=120, check=True, **kwargs)


@pytest.fixture(scope="module")
def pg_dumps() -> Iterator[dict[str, Path]]:
    """pg_dump files of a database shaped like Label Studio's, made on a throw-away cluster: ``full`` (with users,
    and enough annotations to truncate), ``schema-only``, ``no-user`` (tables, no htx_user row), ``truncated``
    (``full`` cut inside the data of its last table: its table of contents still reads)."""
    pg_bin = _pg_bin()
    with state_folder("claimset-pgdump-") as folder:
        cluster, out = folder / "cluster", folder / "dumps"
        cluster.mkdir()
        out.mkdir()
        if os.geteuid() == 0:
            os.chown(cluster, *[getattr(__import__("pwd").getpwnam("postgres"), f) for f in ("pw_uid", "pw_gid")])
        port = str(free_port())
        _as_postgres([str(pg_bin / "initdb"), "-D", str(cluster / "data"), "--auth-local=peer"], cluster)
        _as_postgres([str(pg_bin / "pg_ctl"), "start", "-w", "-D", str(cluster / "data"), "-l", str(cluster / "log"),
                      "-o", f"-p {port} -k {cluster} -c listen_addresses=''"], cluster)
        try:
            def sql(text: str, db: str = "ls") -> None:
                _as_postgres([str(pg_bin / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(cluster), "-p",
                              port, "-d", db, "-c", text], cluster)

            def dump(db: str, *options: str) -> bytes:
                return _as_postgres([str(pg_bin / "pg_dump"), "--format=custom", *options, "-h", str(cluster), "-p",
                                     port, "-d", db], cluster).stdout

            for db in ("ls", "nouser"):
                sql(f"CREATE DATABASE {db}", db="postgres")
                sql("CREATE TABLE django_migrations (id serial PRIMARY KEY, app text, name text);"
                    "INSERT INTO django_migrations (app, name) SELECT a, '0001' FROM unnest(ARRAY['users', "
                    "'organizations', 'projects', 'tasks']) AS a;"
                    "CREATE TABLE htx_user (id serial PRIMARY KEY, email text);"
                    "CREATE TABLE organization (id serial PRIMARY KEY); CREATE TABLE project (id serial PRIMARY KEY);"
                    "CREATE TABLE task (id serial PRIMARY KEY, data text);"
                    "CREATE TABLE task_completion (id serial PRIMARY KEY, result text);"
                    "INSERT INTO task (data) SELECT 'task ' || i FROM generate_series(1, 50) AS i;"
                    "INSERT INTO task_completion (result) SELECT md5(i::text) || md5((i * 7)::text) "
                    "FROM generate_series(1, 20000) AS i;", db=db)
            sql("INSERT INTO htx_user (email) VALUES ('lead@claimset.test'), ('ann1@claimset.test')")
            full = dump("ls")
            dumps = {"full": full, "schema-only": dump("ls", "--schema-only"), "no-user": dump("nouser"),
                     "truncated": full[: len(full) - len(full) // 4], "cut-in-toc": full[:600]}
        finally:
            _as_postgres([str(pg_bin / "pg_ctl"), "stop", "-m", "immediate", "-D", str(cluster / "data")], cluster)
        paths = {}
        for name, content in dumps.items():
            paths[name] = out / f"{name}.dump"
            paths[name].write_bytes(content)
        yield paths


@pytest.mark.parametrize(("dump", "message"), [
    ("schema-only", "is not a backup of a Label Studio database with data: its table htx_user holds no user "
                    r"\(a --schema-only dump\?\)"),
    ("no-user", "is not a backup of a Label Studio database with data: its table htx_user holds no user "
                r"\(a --schema-only dump\?\)"),
    ("cut-in-toc", "is not a pg_dump archive pg_restore can read: pg_restore: error: .+"),
])
@pytest.mark.postgres
def test_restore_takes_only_a_pg_dump_with_data(tmp_path: Path, pg_dumps: dict[str, Path], dump: str,
                                                message: str) -> None:
    done = script(tmp_path, "restore", str(pg_dumps[dump]), LABEL_STUDIO_DB="postgres")
    assert done.returncode == 1
    assert re.fullmatch(rf"label-studio: {re.escape(str(pg_dumps[dump]))} {message}\n", done.stderr), done.stderr
    assert not (tmp_path / "state").exists()  # nothing made, no cluster started


@pytest.mark.postgres
def test_a_restore_that_fails_part_way_removes_what_it_made(pg_dumps: dict[str, Path]) -> None:
    """A truncated dump passes the checks (its table of contents and users read) and fails in pg_restore: the
    cluster it made is removed, so that the restore of a sound dump goes through afterwards."""
    with state_folder() as state:
        env = {"LABEL_STUDIO_DB": "postgres", "LABEL_STUDIO_PG_PORT": str(free_port()),
               "LABEL_STUDIO_DATA_DIR": str(state / "data")}
        done = script(state, "restore", str(pg_dumps["truncated"]), **env)
        assert done.returncode == 1
        assert re.fullmatch(rf"label-studio: pg_restore of {re.escape(str(pg_dumps['truncated']))} failed \(the "
                            r"cluster it made is removed\): pg_restore: error: .+\n", done.stderr), done.stderr
        assert not (state / "postgres").exists()
        done = script(state, "restore", str(pg_dumps["full"]), **env)
        assert done.returncode == 0, done.stderr
        assert (state / "postgres" / "data" / "PG_VERSION").exists()
        assert not (state / "postgres" / "data" / "postmaster.pid").exists()  # stopped again


def test_a_pg_restore_that_fails_without_a_word_is_still_named(tmp_path: Path) -> None:
    """pg_restore failing with nothing on stderr: the message still says what failed (it ended with a colon)."""
    bin_dir = tmp_path / "pgbin"
    bin_dir.mkdir()
    for name, body in (("pg_ctl", "exit 0"), ("pg_restore", "echo ';' ; exit 1")):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    backup = tmp_path / "backup.dump"
    backup.write_bytes(b"PGDMP" + b"\0" * 100)
    done = script(tmp_path, "restore", str(backup), LABEL_STUDIO_DB="postgres", LABEL_STUDIO_PG_BIN=str(bin_dir))
    assert (done.returncode, done.stderr) == (1, f"label-studio: {backup} is not a pg_dump archive pg_restore can "
                                                 "read: pg_restore --list failed\n")
