"""scripts/label-studio against the session's real servers (no server started here): `status` and a second
`start` read the port and database the running server recorded."""

from __future__ import annotations

import re

import pytest

from conftest import LiveLabelStudio
from lsserver import ScriptServer, free_port

pytestmark = pytest.mark.labelstudio


def _started_server(live: LiveLabelStudio) -> ScriptServer:
    if live.server is None:
        pytest.skip("the Label Studio of LABEL_STUDIO_URL was not started here")
    return live.server


def test_a_second_start_must_ask_for_the_running_server(any_label_studio: LiveLabelStudio) -> None:
    server = _started_server(any_label_studio)
    port = server.env["LABEL_STUDIO_PORT"]
    status = server.run("status")
    assert status.returncode == 0 and status.stdout.startswith("running (pid "), status.stdout + status.stderr
    same = server.run("start")
    assert same.returncode == 0, same.stderr
    assert re.fullmatch(rf"Label Studio is already running \(pid \d+\) at http://127\.0\.0\.1:{port} on "
                        rf"{'PostgreSQL' if server.db == 'postgres' else 'SQLite'} .*\n", same.stdout), same.stdout
    other_db = "sqlite" if server.db == "postgres" else "postgres"
    for other in ({"LABEL_STUDIO_PORT": str(free_port(int(port)))}, {"LABEL_STUDIO_DB": other_db}):
        refused = ScriptServer({**server.env, **other}).run("start")
        assert refused.returncode == 1
        assert re.fullmatch(rf"label-studio: Label Studio of \S+ is already running \(pid \d+\) on port {port} with "
                            r".*; stop it first: LABEL_STUDIO_DATA_DIR=\S+ scripts/label-studio stop\n",
                            refused.stderr), refused.stderr
    assert server.run("status").returncode == 0  # still the same server
