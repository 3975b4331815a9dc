"""Label Studio on PostgreSQL (``LABEL_STUDIO_DB=postgres``): the script's own cluster, what it holds, no leaks."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from claimset.labelstudio import push
from conftest import running
from lsserver import ScriptServer, state_folder

pytestmark = [pytest.mark.labelstudio, pytest.mark.postgres]

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def pg_sql(server: ScriptServer, sql: str, database: str = "labelstudio") -> list[str]:
    """Rows of ``sql`` on the server's own cluster, as its superuser over the cluster's Unix socket."""
    pg_dir = server.state / "postgres"
    port = (pg_dir / "data" / "postmaster.pid").read_text().splitlines()[3]
    command = ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", str(pg_dir), "-p", port, "-d", database,
               "-c", sql]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=pg_dir, check=True)
    return done.stdout.splitlines()


@pytest.fixture(scope="module")
def pg_server(label_studio_pg: Any) -> ScriptServer:
    server: ScriptServer = label_studio_pg.server
    return server


def test_projects_are_stored_in_postgres(label_studio_pg: Any, pg_server: ScriptServer) -> None:
    title = f"test postgres {uuid.uuid4().hex[:8]}"
    pushed = push(title, SEEDS, client=label_studio_pg.client)
    assert pg_sql(pg_server, f"SELECT id FROM project WHERE title = '{title}'") == [str(pushed.project_id)]
    assert pg_sql(pg_server, f"SELECT count(*) FROM task WHERE project_id = {pushed.project_id}") == ["1"]
    assert not (pg_server.state / "data" / "label_studio.sqlite3").exists()


def test_cluster_listens_on_loopback_only(pg_server: ScriptServer) -> None:
    assert pg_sql(pg_server, "SHOW listen_addresses") == ["127.0.0.1"]
    assert pg_sql(pg_server, "SHOW port") == [pg_server.env["LABEL_STUDIO_PG_PORT"]]
    data = pg_server.state / "postgres" / "data"
    assert pg_sql(pg_server, "SHOW data_directory") == [str(data)]
    if os.geteuid() == 0:  # PostgreSQL refuses root: the script runs it as postgres
        import pwd

        assert pwd.getpwuid(data.stat().st_uid).pw_name == "postgres"
        assert pg_sql(pg_server, "SELECT current_user") == ["postgres"]


def test_label_studio_connects_as_its_own_role(pg_server: ScriptServer) -> None:
    # Label Studio made its tables (migrations at start) as the role the script created, not as a superuser.
    assert pg_sql(pg_server, "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'") == [
        "labelstudio"]
    assert pg_sql(pg_server, "SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = 'labelstudio'") == ["f|f"]


def test_passwords_are_in_no_file_and_no_command_line(pg_server: ScriptServer) -> None:
    secrets = [pg_server.env[name].encode() for name in ("POSTGRE_PASSWORD", "LABEL_STUDIO_PASSWORD")]
    checked = 0
    for path in pg_server.state.rglob("*"):
        if path.is_file() and not path.is_socket():
            content = path.read_bytes()
            assert not any(secret in content for secret in secrets), path
            checked += 1
    assert checked > 100  # the cluster's files, Label Studio's and PostgreSQL's logs
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, timeout=30, check=True).stdout
    assert not any(secret in processes for secret in secrets)
    # PostgreSQL runs with a clean environment: none of the secrets the script was given reach it.
    postmaster = (pg_server.state / "postgres" / "data" / "postmaster.pid").read_text().splitlines()[0]
    environment = Path(f"/proc/{postmaster}/environ").read_bytes()
    assert b"PATH=" in environment
    assert not any(secret in environment for secret in [*secrets, pg_server.token.encode()])


def test_an_existing_postgresql_server(label_studio_pg: Any, pg_server: ScriptServer, tmp_path: Path) -> None:
    """POSTGRE_HOST set: no cluster of the script's own; backup, restore and start use that server.

    The "existing server" is the session's cluster, reached over TCP as the role Label Studio uses,
    with a database of its own created by the superuser, as an administrator would.
    """
    title = f"test existing {uuid.uuid4().hex[:8]}"
    push(title, SEEDS, client=label_studio_pg.client)
    database = f"existing_{uuid.uuid4().hex[:8]}"
    pg_sql(pg_server, f"CREATE DATABASE {database} OWNER labelstudio", database="postgres")
    existing = {"POSTGRE_HOST": "127.0.0.1", "POSTGRE_PORT": pg_server.env["LABEL_STUDIO_PG_PORT"],
                "POSTGRE_USER": "labelstudio", "POSTGRE_PASSWORD": pg_server.env["POSTGRE_PASSWORD"]}
    source = ScriptServer({**pg_server.env, **existing, "POSTGRE_NAME": "labelstudio"})
    backup = tmp_path / "existing.backup"
    source.check("backup", str(backup))
    with state_folder() as state:
        target = pg_server.elsewhere(state)
        target = ScriptServer({**target.env, **existing, "POSTGRE_NAME": database})
        target.check("restore", str(backup))
        assert "already holds" in target.run("restore", str(backup)).stderr
        with running(target) as restored:
            titles = {p.title for p in restored.sdk.projects.list()}
            assert title in titles and titles == {p.title for p in label_studio_pg.sdk.projects.list()}
        assert not (state / "postgres").exists()  # no cluster of the script's own
    assert pg_sql(pg_server, "SELECT count(*) FROM project", database=database) == [str(len(titles))]
    pg_sql(pg_server, f"DROP DATABASE {database} WITH (FORCE)", database="postgres")



def test_restore_refuses_a_dump_of_another_database(pg_server: ScriptServer, tmp_path: Path) -> None:
    """A sound pg_dump file of a database that is not Label Studio's: refused before a cluster is made."""
    database = f"other_{uuid.uuid4().hex[:8]}"
    pg_sql(pg_server, f"CREATE DATABASE {database}", database="postgres")
    try:
        pg_sql(pg_server, "CREATE TABLE task (id int PRIMARY KEY, note text); INSERT INTO task VALUES (1, 'x')",
               database=database)
        pg_dir = pg_server.state / "postgres"
        port = (pg_dir / "data" / "postmaster.pid").read_text().splitlines()[3]
        command = ["pg_dump", "--format=custom", "-h", str(pg_dir), "-p", port, "-d", database]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        dump = tmp_path / "other.dump"
        dump.write_bytes(subprocess.run(command, capture_output=True, timeout=60, cwd=pg_dir, check=True).stdout)
    finally:
        pg_sql(pg_server, f"DROP DATABASE {database} WITH (FORCE)", database="postgres")
    with state_folder() as state:
        done = pg_server.elsewhere(state).run("restore", str(dump))
        assert done.returncode == 1
        assert done.stderr == (f"label-studio: {dump} is not a dump of a Label Studio database: it has no table "
                               "django_migrations htx_user organization project task_completion\n")
        assert list(state.iterdir()) == []  # no cluster made, nothing started
