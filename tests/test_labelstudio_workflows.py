"""Workflows across commands against a real Label Studio: two annotators to gold through an adjudication
project, and the baseline's predictions uploaded as pre-annotations."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from claimset.adjudicate import adjudicate, review_to_labelstudio, write_review_tasks
from claimset.cli import app
from claimset.ingest import import_exports
from claimset.labelstudio import (
    add_annotator,
    as_user,
    project_tasks,
    pull,
    push,
)
from claimset.lsresult import relation, span
from claimset.seeds import read_seeds
from claimset.tables import read_table

pytestmark = pytest.mark.labelstudio

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"


def _claim(text: str, claim: str, speaker: str, prefix: str, quote_type: str) -> list[dict[str, Any]]:
    cs, ss = text.index(claim), text.index(speaker)
    return [
        *span(text, cs, cs + len(claim), "Claim", f"{prefix}c", quote_type=quote_type),
        *span(text, ss, ss + len(speaker), "Speaker", f"{prefix}s", entity="Sergey Lavrov"),
        relation(f"{prefix}c", f"{prefix}s", "said_by"),
    ]


def test_two_annotators_to_gold_through_an_adjudication_project(label_studio: Any, tmp_path: Path) -> None:
    admin = label_studio.client
    title = f"test multi {uuid.uuid4().hex[:8]}"
    project = push(title, SEEDS, client=admin)
    (task,) = project_tasks(admin, project.project_id)
    text = task.data["text"]
    claim = "the West particularly the USA of trying to undermine Moscow's close and privileged ties with India"
    # The two annotators agree on the speaker but not on the claim's quote type: no majority for the claim.
    for name, quote_type in (("ann1", "indirect"), ("ann2", "direct")):
        who = add_annotator(admin, f"{name}-{uuid.uuid4().hex[:6]}@claimset.test", secrets.token_urlsafe(12))
        with as_user(admin, who.api_key).call(f"{name} submits") as ls:
            ls.annotations.create(id=task.id, result=_claim(text, claim, "Sergey Lavrov", name, quote_type),
                                  was_cancelled=False)
    raw = tmp_path / "raw"
    pull(title, raw, tmp_path / "multi", client=admin)
    first = adjudicate(tmp_path / "multi", tmp_path / "adjudicated")
    assert {(item.kind, item.reason) for item in first.review} >= {("span", "no_majority")}

    review_file = tmp_path / "review.json"
    documents = {doc.doc_id: doc.text for doc in read_seeds(SEEDS)}
    write_review_tasks(review_to_labelstudio(first.review, documents), review_file)
    review_title = f"{title} adjudication"
    pushed = push(review_title, SEEDS, predictions=review_file, client=admin)
    assert pushed.predictions == 1
    (review_task,) = project_tasks(admin, pushed.project_id)
    (prediction,) = label_studio.sdk.predictions.list(task=review_task.id)

    # The adjudicator keeps the indirect reading, submits, and marks it as ground truth.
    with admin.call("the adjudicator submits") as ls:
        accepted = ls.annotations.create(id=review_task.id, was_cancelled=False,
                                         result=_claim(text, claim, "Sergey Lavrov", "adj", "indirect"))
        ls.annotations.update(id=accepted.id, ground_truth=True)
    assert prediction.result, "the review task carries the candidates as a prediction"
    pull(review_title, raw, tmp_path / "adjudication-only", client=admin)
    import_exports(sorted(raw.glob("*.json")), tmp_path / "multi", seeds=read_seeds(SEEDS))
    final = adjudicate(tmp_path / "multi", tmp_path / "gold")
    assert final.review == [] and final.ground_truth == [task.data["doc_id"]]
    spans = read_table(tmp_path / "gold", "spans").to_pylist()
    assert sorted((s["label"], s["text"], s["quote_type"]) for s in spans) == [
        ("Claim", claim, "indirect"), ("Speaker", "Sergey Lavrov", None)]


def test_baseline_predictions_upload_as_pre_annotations(label_studio: Any, tmp_path: Path) -> None:
    runner = CliRunner()
    predictions = tmp_path / "baseline-ls.json"
    result = runner.invoke(app, ["extract", "--format", "labelstudio", "--out", str(predictions)])
    assert result.exit_code == 0, result.output
    title = f"test baseline {uuid.uuid4().hex[:8]}"
    pushed = push(title, SEEDS, predictions=predictions, client=label_studio.client)
    assert pushed.predictions == 1
    (task,) = project_tasks(label_studio.client, pushed.project_id)
    (prediction,) = label_studio.sdk.predictions.list(task=task.id)
    regions = [item for item in prediction.result if item["type"] == "labels"]
    assert regions and all(task.data["text"][r["value"]["start"]:r["value"]["end"]] == r["value"]["text"]
                           for r in regions)


def test_only_predicted_pushes_just_the_documents_under_review(label_studio: Any, tmp_path: Path) -> None:
    """An adjudication project holds only the documents with review tasks; with none, nothing is created."""
    title = f"test review {uuid.uuid4().hex[:8]}"
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for path in SEEDS.glob("*.txt"):
        (seeds / path.name).write_bytes(path.read_bytes())
    (seeds / "001_other.txt").write_text("date 2020-12-13\n\nAnother article, not under review.\n", encoding="utf-8")
    empty = tmp_path / "empty.json"
    write_review_tasks([], empty)
    result = CliRunner().invoke(app, ["push", "--project", title, "--seeds", str(seeds), "--predictions", str(empty),
                                      "--only-predicted"], env={"LABEL_STUDIO_URL": label_studio.url,
                                                                "LABEL_STUDIO_API_KEY": label_studio.api_key})
    assert result.exit_code == 0, result.output
    assert "nothing to review" in result.stdout and "not created or changed" in result.stdout
    assert title not in {p.title for p in label_studio.sdk.projects.list()}
    (document,) = [d for d in read_seeds(seeds) if not d.doc_id.startswith("001")]
    review = [{"data": {"doc_id": document.doc_id, "text": document.text},
               "predictions": [{"model_version": "review", "result": span(document.text, 0, 4, "Claim", "r1",
                                                                           quote_type="direct")}]}]
    review_file = tmp_path / "review.json"
    write_review_tasks(review, review_file)
    pushed = push(title, seeds, predictions=review_file, only_predicted=True, client=label_studio.client)
    assert pushed.created == 1 and pushed.predictions == 1
    assert [t.data["doc_id"] for t in project_tasks(label_studio.client, pushed.project_id)] == [document.doc_id]
