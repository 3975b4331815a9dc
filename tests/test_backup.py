"""Back up a live Label Studio's database and restore it into a fresh server, on SQLite and on PostgreSQL.

``scripts/label-studio backup FILE`` while the server runs, ``restore FILE`` into a new state folder,
``start``: a pull from the restored server gives the same dataset as a pull before the backup, table
for table and byte for byte; what was written after the backup is not there; the restored server
keeps working (its id sequences were restored too).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from claimset.labelstudio import Annotator, Client, add_annotator, as_user, create_draft, project_tasks, pull, push
from claimset.lsresult import relation, span
from claimset.tables import read_table
from conftest import LiveLabelStudio, running
from lsserver import ScriptServer, state_folder
from multiannotator import at

pytestmark = pytest.mark.labelstudio

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
DATASET_FILES = ("documents.parquet", "annotations.parquet", "spans.parquet", "relations.parquet",
                 "rejects.parquet", "claims.parquet", "claimset.json", "scheme.yaml")


def _claim(text: str, claim: str, speaker: str, prefix: str) -> list[dict[str, Any]]:
    return [
        *span(text, *at(text, claim), "Claim", f"{prefix}c", quote_type="indirect"),
        *span(text, *at(text, speaker), "Speaker", f"{prefix}s", entity=speaker),
        relation(f"{prefix}c", f"{prefix}s", "said_by"),
    ]


@dataclass
class Project:
    title: str
    task: Any
    annotator: Annotator
    annotation_ids: list[int]


def _annotated_project(admin: Client) -> Project:
    """One task with a submitted annotation of each of two annotators, a skipped one and a draft."""
    title = f"test backup {uuid.uuid4().hex[:8]}"
    pushed = push(title, SEEDS, client=admin)
    (task,) = project_tasks(admin, pushed.project_id)
    text = task.data["text"]
    ids = []
    for name, claim in (("ann1", "trying to undermine Moscow"), ("ann2", "close and privileged ties")):
        who = add_annotator(admin, f"{name}-{uuid.uuid4().hex[:6]}@claimset.test", secrets.token_urlsafe(12))
        with as_user(admin, who.api_key).call(f"{name} submits") as ls:
            ids.append(ls.annotations.create(id=task.id, result=_claim(text, claim, "Sergey Lavrov", name),
                                             was_cancelled=False, lead_time=12.5).id)
    with as_user(admin, who.api_key).call("ann2 skips") as ls:
        ids.append(ls.annotations.create(id=task.id, result=[], was_cancelled=True).id)
    create_draft(as_user(admin, who.api_key), task.id, _claim(text, "India", "Sergey Lavrov", "draft"), 3.0)
    return Project(title, task, who, ids)


def _dataset_bytes(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in DATASET_FILES if name != "documents.parquet"}


def _documents(folder: Path, raw: Path) -> list[dict[str, Any]]:
    """The documents table with the raw export's name (the snapshot's time) taken out of ``source_file``."""
    rows = read_table(folder, "documents").to_pylist()
    for row in rows:
        assert row["source_file"].startswith(f"{raw.name}#task-")
        row["source_file"] = row["source_file"].removeprefix(raw.name)
    return rows


def _kill_cluster(state: Path) -> None:
    """SIGKILL to the local cluster's postmaster, and wait for its processes to end."""
    postmaster = int((state / "postgres" / "data" / "postmaster.pid").read_text().split()[0])
    os.kill(postmaster, signal.SIGKILL)
    for _ in range(300):
        if _processes_under(state / "postgres") == []:
            return
        time.sleep(0.1)
    raise AssertionError(f"PostgreSQL in {state} did not end after SIGKILL")


def _processes_under(folder: Path) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "pid,stat,args"], capture_output=True, text=True, timeout=30, check=True).stdout
    return [line for line in ps.splitlines() if str(folder) in line and " Z" not in line]


def _started_server(live: LiveLabelStudio) -> ScriptServer:
    if live.server is None:
        pytest.skip("the Label Studio of LABEL_STUDIO_URL was not started here: no database to back up")
    return live.server


def test_a_restored_backup_pulls_the_same_dataset(any_label_studio: LiveLabelStudio, tmp_path: Path) -> None:
    server = _started_server(any_label_studio)
    admin = any_label_studio.client
    project = _annotated_project(admin)
    before = pull(project.title, tmp_path / "raw-before", tmp_path / "before", client=admin)
    assert before.validation.valid and before.imported.annotations == 3

    backup = tmp_path / f"label-studio.{server.db}.backup"
    assert server.check("backup", str(backup)).startswith(f"backed up the {server.db} database")
    assert backup.stat().st_mode & 0o077 == 0  # tokens and password hashes: the owner's only
    # Written after the backup: must not come back with the restore.
    with as_user(admin, project.annotator.api_key).call("ann2 submits after the backup") as ls:
        late = ls.annotations.create(id=project.task.id, result=[], was_cancelled=True)

    with state_folder() as state:
        fresh = server.elsewhere(state)
        restored_message = fresh.check("restore", str(backup))
        assert restored_message.startswith(f"restored {backup} into the {server.db} database")
        refused = fresh.run("restore", str(backup), timeout=180)  # the database now holds data: refused
        assert refused.returncode == 1 and "restore into a fresh" in refused.stderr, refused.stderr
        with running(fresh) as restored:
            assert restored.url != any_label_studio.url
            after = pull(project.title, tmp_path / "raw-after", tmp_path / "after", client=restored.client)
            ids = read_table(tmp_path / "after", "annotations").column("annotation_id").to_pylist()
            assert sorted(ids) == sorted(project.annotation_ids) and late.id not in ids
            # Byte-identical tables, apart from the snapshot's time in the documents' source_file.
            assert _dataset_bytes(tmp_path / "after") == _dataset_bytes(tmp_path / "before")
            assert _documents(tmp_path / "after", after.raw_path) == _documents(tmp_path / "before", before.raw_path)
            # The restored server goes on: new annotations get new ids (sequences restored with the data).
            with as_user(restored.client, project.annotator.api_key).call("ann2 submits on the restored server") as ls:
                new = ls.annotations.create(id=project.task.id, result=[], was_cancelled=True)
            assert new.id > max(project.annotation_ids)
            if server.db == "postgres":  # its PostgreSQL killed: `status` is not "running", and says what is down
                _kill_cluster(state)
                status = fresh.run("status")
                assert status.returncode == 1, status.stdout
                down = rf"its PostgreSQL at 127\.0\.0\.1:\d+ \({state}/postgres/data\) is down"
                assert re.fullmatch(rf"degraded: Label Studio \(pid \d+\) at {restored.url}: (.*; )?{down}\n",
                                    status.stdout), status.stdout
        assert fresh.run("status").returncode == 3
        assert _processes_under(state) == []  # `stop` stopped Label Studio (and PostgreSQL)
        # A stopped server backs up too (PostgreSQL: its cluster is started for the dump and stopped again).
        cold = tmp_path / "cold.backup"
        fresh.check("backup", str(cold))
        assert cold.read_bytes()[:5] == backup.read_bytes()[:5] and cold.stat().st_size > 10_000
        assert not (state / "postgres" / "data" / "postmaster.pid").exists()
