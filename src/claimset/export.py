"""Label Studio tasks and labeling config, written from the seeds and the scheme."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claimset.scheme import Scheme, label_config_xml
from claimset.seeds import Document
from claimset.tables import atomic_path


def task_data(document: Document) -> dict[str, Any]:
    """The ``data`` of the Label Studio task for one document."""
    return {
        "text": document.text,
        "doc_id": document.doc_id,
        "published": document.published.isoformat(),
        "text_sha256": document.text_sha256,
    }


@dataclass(frozen=True)
class ExportResult:
    tasks_path: Path
    config_path: Path
    n_tasks: int


def export_tasks(documents: list[Document], scheme: Scheme, out_dir: Path) -> ExportResult:
    """Write ``tasks.json`` (one task per document) and ``label-config.xml`` into ``out_dir``."""
    tasks = [{"data": task_data(doc)} for doc in documents]
    tasks_path = out_dir / "tasks.json"
    config_path = out_dir / "label-config.xml"
    with atomic_path(tasks_path) as tmp:
        tmp.write_text(json.dumps(tasks, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    with atomic_path(config_path) as tmp:
        tmp.write_text(label_config_xml(scheme), encoding="utf-8")
    return ExportResult(tasks_path=tasks_path, config_path=config_path, n_tasks=len(tasks))
