"""The pre-commit hook, run by the real `pre-commit` in a scratch dataset repository, the way users run it.

The hook repository is a git snapshot of this working tree (so uncommitted changes are tested too);
pre-commit clones it at that commit and installs claimset from it the normal, non-editable way."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT / "annotations" / "gold"
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.org", *args], cwd=cwd,
                            capture_output=True, text=True, check=True)
    return result.stdout.strip()


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A git repository holding this working tree's tracked and new files, and its commit."""
    repo = tmp_path_factory.mktemp("hook") / "claimset"
    files = git("ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=ROOT).split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    git("init", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "snapshot", cwd=repo)
    return repo, git("rev-parse", "HEAD", cwd=repo)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One pre-commit cache for the module: the hook's environment is built once."""
    clean = {key: value for key, value in os.environ.items()
             if key not in ("PYTHONPATH", "VIRTUAL_ENV") and not key.startswith("PYTEST")}
    return {**clean, "PRE_COMMIT_HOME": str(tmp_path_factory.mktemp("pre-commit-home"))}


def dataset_repo(root: Path, hook_repo: tuple[Path, str], folder: str, args: list[str] | None) -> Path:
    repo_path, rev = hook_repo
    shutil.copytree(GOLD, root / folder)
    hook: dict[str, object] = {"id": "claimset-validate"}
    if args is not None:
        hook["args"] = args
    config = {"repos": [{"repo": str(repo_path), "rev": rev, "hooks": [hook]}]}
    (root / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    git("init", "-q", cwd=root)
    git("add", "-A", cwd=root)
    return root


def plant_flaw(folder: Path) -> None:
    spans = pq.read_table(folder / "spans.parquet")
    index = spans.schema.get_field_index("start")
    moved = pa.array([value + 1 for value in spans.column("start").to_pylist()], type=pa.int64())
    pq.write_table(spans.set_column(index, "start", moved), folder / "spans.parquet")


def pre_commit(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PRE_COMMIT), "run", "--all-files"], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=900)


def test_valid_dataset_passes_and_a_flaw_fails_naming_it(tmp_path: Path, hook_repo: tuple[Path, str],
                                                         env: dict[str, str]) -> None:
    repo = dataset_repo(tmp_path, hook_repo, "annotations/gold", None)
    passed = pre_commit(repo, env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "claimset validate" in passed.stdout and "Passed" in passed.stdout
    git("commit", "-q", "-m", "valid dataset", cwd=repo)
    plant_flaw(repo / "annotations" / "gold")
    failed = pre_commit(repo, env)
    assert failed.returncode == 1
    assert "Failed" in failed.stdout and "span_text_mismatch" in failed.stdout
    assert "Traceback" not in failed.stdout


def test_the_installed_hook_refuses_the_commit(tmp_path: Path, hook_repo: tuple[Path, str],
                                               env: dict[str, str]) -> None:
    repo = dataset_repo(tmp_path, hook_repo, "annotations/gold", None)
    subprocess.run([str(PRE_COMMIT), "install"], cwd=repo, env=env, check=True, capture_output=True)
    git("commit", "-q", "-m", "valid dataset", cwd=repo)
    plant_flaw(repo / "annotations" / "gold")
    git("add", "-A", cwd=repo)
    refused = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-m", "flaw"],
                             cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    assert refused.returncode != 0 and "span_text_mismatch" in refused.stdout + refused.stderr
    assert git("rev-list", "--count", "HEAD", cwd=repo) == "1"


def test_a_dataset_under_another_path_works_through_args(tmp_path: Path, hook_repo: tuple[Path, str],
                                                         env: dict[str, str]) -> None:
    repo = dataset_repo(tmp_path, hook_repo, "data/claims", ["data/claims"])
    passed = pre_commit(repo, env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    plant_flaw(repo / "data" / "claims")
    failed = pre_commit(repo, env)
    assert failed.returncode == 1 and "data/claims" in failed.stdout and "span_text_mismatch" in failed.stdout
