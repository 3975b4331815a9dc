"""scripts/label-studio without a server: the port check (TIME_WAIT does not block a restart); backup and restore's
refusals, and a SQLite backup and restore."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

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
    return subprocess.run([str(SCRIPT), *args], env={**base, **env}, capture_output=True, text=True, timeout=60)


def sqlite_file(path: Path, rows: int) -> Path:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE task (id INTEGER PRIMARY KEY, data TEXT)")
        db.executemany("INSERT INTO task (data) VALUES (?)", [(f"task {i} 🚀",) for i in range(rows)])
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
