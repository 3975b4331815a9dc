"""claimset init: a project for another team, whose commands work inside it and never reach back here."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from claimset import __version__
from claimset.cli import app

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seeds" / "000_666aa4b0ee0165a8.txt"
RAW = next((ROOT / "annotations" / "raw").glob("*.json"))
runner = CliRunner()

EXPECTED = [".github/workflows/claimset.yml", ".gitignore", ".pre-commit-config.yaml", "README.md",
            "annotations/raw/.gitkeep", "docs/guidelines.md", "schema/label-config.xml", "schema/scheme.yaml",
            "seeds/README.md"]


def test_init_writes_the_project(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "team"), "--hook-repo", "/srv/claimset"])
    assert result.exit_code == 0, result.output
    written = sorted(str(p.relative_to(tmp_path / "team")) for p in (tmp_path / "team").rglob("*") if p.is_file())
    assert written == EXPECTED
    config = yaml.safe_load((tmp_path / "team" / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    assert config["repos"] == [{"repo": "/srv/claimset", "rev": f"v{__version__}",
                                "hooks": [{"id": "claimset-validate", "args": ["annotations/gold"]}]}]
    readme = (tmp_path / "team" / "README.md").read_text(encoding="utf-8")
    assert "# team" in readme and "$" not in readme.replace("${", "")
    for step in ("claimset push", "claimset pull", "claimset build", "claimset validate"):
        assert step in readme
    assert (tmp_path / "team" / "schema" / "scheme.yaml").read_bytes() == (ROOT / "schema" / "scheme.yaml").read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["team"]  # no staging folder left


@pytest.mark.parametrize("existing", ["file", "non-empty folder"])
def test_init_refuses_to_overwrite(tmp_path: Path, existing: str) -> None:
    target = tmp_path / "team"
    if existing == "file":
        target.write_text("x", encoding="utf-8")
    else:
        target.mkdir()
        (target / "keep.txt").write_text("x", encoding="utf-8")
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "exists and is not an empty folder" in result.output


def test_the_loop_runs_inside_the_project_without_this_repository(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.invoke(app, ["init", str(tmp_path / "team")]).exit_code == 0
    monkeypatch.chdir(tmp_path / "team")
    shutil.copy(SEED, "seeds/")
    shutil.copy(RAW, "annotations/raw/")
    steps = [["scheme", "--check"], ["export", "--out", "tasks"], ["build"], ["validate"], ["stats"],
             ["extract", "--out", "baseline.jsonl"], ["evaluate", "--pred", "baseline.jsonl", "-f", "json"]]
    for step in steps:
        result = runner.invoke(app, step)
        assert result.exit_code == 0, (step, result.output)
    assert Path("annotations/gold/claims.parquet").is_file() and Path("annotations/gold/claimset.json").is_file()


def test_a_project_with_its_own_scheme_makes_datasets_that_record_it(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.invoke(app, ["init", str(tmp_path / "team")]).exit_code == 0
    monkeypatch.chdir(tmp_path / "team")
    scheme = Path("schema/scheme.yaml")
    data = yaml.safe_load(scheme.read_text(encoding="utf-8"))
    data["version"] = 7
    scheme.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert runner.invoke(app, ["scheme", "--check"]).exit_code == 0  # the version is not in the config
    shutil.copy(SEED, "seeds/")
    shutil.copy(RAW, "annotations/raw/")
    assert runner.invoke(app, ["build"]).exit_code == 0
    manifest = yaml.safe_load(Path("annotations/gold/claimset.json").read_text(encoding="utf-8"))
    assert manifest["scheme"]["version"] == 7
    result = runner.invoke(app, ["validate", "--scheme", str(ROOT / "schema" / "scheme.yaml")])
    assert result.exit_code == 1 and "version 7" in result.output and "version 1" in result.output


def test_init_fills_the_empty_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    result = runner.invoke(app, ["init", "."])
    assert result.exit_code == 0, result.output
    assert Path("schema/scheme.yaml").is_file() and Path(".pre-commit-config.yaml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here"]


@pytest.mark.parametrize("where", ["dangling link", "link to a new folder", "under /proc"])
def test_init_into_odd_places_is_one_line(tmp_path: Path, where: str) -> None:
    target = tmp_path / "team"
    if where == "dangling link":
        target.symlink_to(tmp_path / "gone")
    elif where == "link to a new folder":
        target.symlink_to(tmp_path / "later")
    else:
        target = Path("/proc/claimset-team")
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "Traceback" not in result.output
    assert result.output.startswith(f"Error: {target}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if where == "under /proc" else ["team"])
