"""The command line: every command has help and is in the README; success and failure paths."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from claimset.cli import app
from lsjson import annotation, claim_with_speaker, task

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
COMMANDS = sorted(get_command(app).commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_and_is_in_the_readme(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"`claimset {command}\b", readme), f"claimset {command} is not in the README"


def test_readme_lists_only_real_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    mentioned = set(re.findall(r"`claimset ([a-z]+)\b", readme))
    assert mentioned <= set(COMMANDS)


@pytest.fixture
def export_file(tmp_path: Path) -> Path:
    seed = (ROOT / "seeds" / "000_666aa4b0ee0165a8.txt")
    from claimset.seeds import read_seed

    doc = read_seed(seed)
    result = claim_with_speaker(doc.text, "the West particularly the USA", "Sergey Lavrov")
    path = tmp_path / "export.json"
    path.write_text(json.dumps([task(1, doc.text, [annotation(5, result)], doc_id=doc.doc_id)]), encoding="utf-8")
    return path


def test_import_validate_stats_succeed(tmp_path: Path, export_file: Path) -> None:
    out = tmp_path / "data"
    result = runner.invoke(app, ["import", str(export_file), "--out", str(out), "--seeds", str(ROOT / "seeds")])
    assert result.exit_code == 0, result.output
    assert "regions: read 2 = written 2 + rejected 0 + superseded 0" in result.output
    assert "counts reconcile" in result.output
    result = runner.invoke(app, ["validate", str(out), "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.output)["valid"] is True
    result = runner.invoke(app, ["stats", str(out), "--format", "json"])
    assert json.loads(result.output)["per_speaker"] == {"Sergey Lavrov": 1}


def test_validate_reports_failures_and_exits_1(tmp_path: Path, export_file: Path) -> None:
    out = tmp_path / "data"
    runner.invoke(app, ["import", str(export_file), "--out", str(out)])
    (out / "relations.parquet").unlink()
    result = runner.invoke(app, ["validate", str(out)])
    assert result.exit_code == 1
    assert "relations: table_missing: relations.parquet not found" in result.output
    assert "INVALID: 1 failure(s)" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate", "/nonexistent"], "Error: /nonexistent: dataset directory not found"),
        (["import", "/nonexistent.json", "--out", "OUT"], "Error: /nonexistent.json: cannot read export"),
        (["export", "--out", "OUT", "--seeds", "/nonexistent"], "Error: /nonexistent: seeds directory not found"),
        (["stats", "/nonexistent"], "Error: /nonexistent: dataset directory not found"),
        (["build", "--raw", "/nonexistent"], "Error: /nonexistent: no *.json Label Studio exports"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(tmp_path: Path, args: list[str], message: str) -> None:
    args = [str(tmp_path / a) if a == "OUT" else a for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.output.strip().startswith(message), result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_bad_export_leaves_no_output(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"data": {"text": "x"}, "annotations": [', encoding="utf-8")
    result = runner.invoke(app, ["import", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "truncated or invalid JSON" in result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bad.json"]  # no folder, staging or lock


def test_export_writes_tasks_and_config(tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", "--out", str(tmp_path), "--seeds", str(ROOT / "seeds")])
    assert result.exit_code == 0, result.output
    (one,) = json.loads((tmp_path / "tasks.json").read_text(encoding="utf-8"))
    assert set(one["data"]) == {"text", "doc_id", "published", "text_sha256"}
    assert (tmp_path / "label-config.xml").read_text() == (ROOT / "schema" / "label-config.xml").read_text()


def test_scheme_check_passes_on_the_committed_config() -> None:
    result = runner.invoke(app, ["scheme", "--check"])
    assert result.exit_code == 0, result.output


def test_build_on_a_copy_of_the_repository_data(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(ROOT / "annotations" / "raw", raw)
    result = runner.invoke(app, ["build", "--raw", str(raw), "--out", str(tmp_path / "gold"),
                                 "--seeds", str(ROOT / "seeds"), "--croissant"])
    assert result.exit_code == 0, result.output
    assert ": valid (" in result.output
    assert "adjudicated" in result.output and "0 item(s) left for review" in result.output
    written = sorted(path.name for path in (tmp_path / "gold").iterdir())
    assert written == ["annotations.parquet", "claims.parquet", "claimset.json", "croissant.json", "documents.parquet",
                       "rejects.parquet", "relations.parquet", "review.jsonl", "review.parquet", "scheme.yaml",
                       "span_provenance.parquet", "spans.parquet"]
    annotators = sorted(path.name for path in (tmp_path / "annotators").iterdir())
    assert annotators == ["annotations.parquet", "claims.parquet", "claimset.json", "documents.parquet",
                          "rejects.parquet", "relations.parquet", "scheme.yaml", "spans.parquet"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["annotators", "gold", "raw"]  # the default layout


def test_push_without_the_sdk_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "label_studio_sdk", None)  # import fails as if not installed
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "0" * 40)
    result = runner.invoke(app, ["push", "--project", "x"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: label-studio-sdk is not installed; install it with: pip install 'claimset[labelstudio]'")


def test_build_into_its_own_raw_folder_is_refused(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(ROOT / "annotations" / "raw", raw)
    before = sorted(p.name for p in raw.iterdir())
    result = runner.invoke(app, ["build", "--raw", str(raw), "--out", str(raw), "--seeds", str(ROOT / "seeds")])
    assert result.exit_code == 1 and "holds files but no claimset dataset" in result.output
    assert sorted(p.name for p in raw.iterdir()) == before


@pytest.mark.parametrize("output_format", ["text", "markdown"])
def test_user_text_in_reports_is_printed_as_text(tmp_path: Path, output_format: str) -> None:
    """Quotes that look like rich markup or hold terminal escapes are shown literally, escaped, on one line."""
    pred = tmp_path / "pred.jsonl"
    doc = "000_666aa4b0ee0165a8"
    records = [{"doc_id": doc, "claim": {"quote": "the West [/sic]"}},
               {"doc_id": doc, "claim": {"quote": "[bold]India[/bold] zz"}},
               {"doc_id": doc, "claim": {"quote": "\x1b]0;pwned\x07\x1b[2J zz\u202e"}}]
    pred.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "--gold", str(ROOT / "annotations" / "gold"), "--pred", str(pred),
                                 "-f", output_format])
    assert result.exit_code == 0, result.output
    assert "the West [/sic]" in result.stdout and "[bold]India[/bold] zz" in result.stdout
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    assert "\\x1b]0;pwned\\x07\\x1b[2J zz\\u202e" in result.stdout


def test_import_names_replaced_and_skipped_versions_and_shortens_long_lists(tmp_path: Path) -> None:
    text = "Sergei Lavrov accused the West of meddling."
    result = claim_with_speaker(text, "the West of meddling", "Lavrov")
    newer = [annotation(aid, result, updated="2026-11-26T00:00:00Z") for aid in range(1, 26)]
    older = [annotation(aid, result, updated="2026-11-25T00:00:00Z") for aid in range(1, 26)]
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps([task(1, text, older[:3])]), encoding="utf-8")
    second.write_text(json.dumps([task(1, text, newer), task(1, text, older[3:])]), encoding="utf-8")
    done = runner.invoke(app, ["import", str(first), str(second), "--out", str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    assert "annotations whose version read replaced an older one: 1, 2, 3\n" in done.stdout
    assert ("annotations whose version read was the same as or older than the one kept: "
            + ", ".join(map(str, range(4, 24))) + " and 2 more (--format json lists them all)") in done.stdout
    as_json = runner.invoke(app, ["import", str(first), str(second), "--out", str(tmp_path / "out"), "--format",
                                  "json"])
    assert json.loads(as_json.stdout)["import"]["duplicate_annotations"] == list(range(4, 26))
