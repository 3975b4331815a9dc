"""claimset as users get it: the sdist and wheel built by `python -m build`, installed (not editable) in a
fresh virtual environment, run from a folder outside this checkout. Nothing may come from the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from claimset import __version__
from synthetic import write_export

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seeds" / "000_666aa4b0ee0165a8.txt"
RAW = next((ROOT / "annotations" / "raw").glob("*.json"))
PACKAGE_DATA = ("claimset/data/scheme.yaml", "claimset/data/predictions.schema.json",
                "claimset/templates/project/dot-pre-commit-config.yaml",
                "claimset/templates/project/dot-github/workflows/claimset.yml", "claimset/py.typed")


# the import with a worker process (every task a list of its own), from the installed wheel: the worker must find
# the same claimset; prints whether the tables equal those of one process, and what the worker did
WORKERS_CHECK = """
import sys
from pathlib import Path
import pyarrow.parquet as pq
import claimset.ingest as ingest
import claimset.workers as workers
made = []
class Counting(workers.Workers):
    def __init__(self, *args):
        super().__init__(*args)
        made.append(self)
workers.Workers = Counting
ingest.CHUNK_BYTES = 1
tables = []
for jobs in (1, 2):
    ingest.import_exports([Path(sys.argv[1])], Path(f"jobs-{jobs}"), jobs=jobs)
    tables.append({p.name: pq.read_table(p) for p in sorted(Path(f"jobs-{jobs}").glob("*.parquet"))})
print("same" if tables[0].keys() == tables[1].keys() and all(tables[0][k].equals(tables[1][k]) for k in tables[0])
      else "differ", "answered" if made[-1].answered else "none", f"redone={made[-1].redone}")
"""


def run(args: list[str | Path], cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check:
        assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    source = tmp_path_factory.mktemp("source") / "claimset"  # a copy, so that the build writes nothing here
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv*", ".git", ".labelstudio", "*.egg-info",
                                                                "__pycache__", ".*_cache", "build", "dist"))
    run([sys.executable, "-m", "build", "--outdir", out, source], cwd=out, env=dict(os.environ))
    return out


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh venv with the wheel installed, and an environment that knows nothing of this checkout."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not key.startswith("PYTEST")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    run([sys.executable, "-m", "venv", venv], cwd=venv.parent, env=env)
    wheel = next(dist.glob("claimset-*.whl"))
    run([venv / "bin" / "python", "-m", "pip", "install", "-q", wheel], cwd=venv.parent, env=env)
    yield venv, env


def test_sdist_and_wheel_carry_the_package_data_and_license(dist: Path) -> None:
    wheel = next(dist.glob(f"claimset-{__version__}-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(PACKAGE_DATA) <= names
    metadata = zipfile.ZipFile(wheel).read(f"claimset-{__version__}.dist-info/METADATA").decode()
    assert "License-Expression: MIT" in metadata
    with tarfile.open(next(dist.glob(f"claimset-{__version__}.tar.gz"))) as sdist:
        members = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {f"src/{name}" for name in PACKAGE_DATA} | {"LICENSE", "pyproject.toml"} <= members


def test_the_installed_wheel_runs_the_loop_from_outside_the_checkout(installed: tuple[Path, dict[str, str]],
                                                                     tmp_path: Path) -> None:
    venv, env = installed
    claimset = venv / "bin" / "claimset"
    where = run([venv / "bin" / "python", "-c", "import claimset; print(claimset.__file__)"], cwd=tmp_path, env=env)
    assert where.stdout.startswith(str(venv)) and str(ROOT) not in where.stdout
    assert run([claimset, "--version"], cwd=tmp_path, env=env).stdout.strip() == f"claimset {__version__}"
    run([claimset, "init", "team"], cwd=tmp_path, env=env)
    project = tmp_path / "team"
    shutil.copy(SEED, project / "seeds")
    shutil.copy(RAW, project / "annotations" / "raw")
    for step in (["scheme", "--check"], ["export", "--out", "tasks"],
                 ["import", f"annotations/raw/{RAW.name}", "--out", "annotations/annotators", "--seeds", "seeds"],
                 ["agree", "annotations/annotators"], ["build"],
                 ["validate", "annotations/gold", "--seeds", "seeds"], ["extract", "--out", "baseline.jsonl"],
                 ["evaluate", "--pred", "baseline.jsonl"], ["extract", "--format", "quotes", "--out", "quotes.jsonl"],
                 ["evaluate", "--pred", "quotes.jsonl"], ["stats"]):
        run([claimset, *step], cwd=project, env=env)
    write_export(project / "synthetic.json", 20, seed=3, annotators=2, chars=400)
    workers = run([venv / "bin" / "python", "-c", WORKERS_CHECK, "synthetic.json"], cwd=project, env=env)
    assert workers.stdout.split() == ["same", "answered", "redone=0"], workers.stdout + workers.stderr
    schema = run([venv / "bin" / "python", "-c", "from claimset.predictions import published_json_schema as s; "
                  "print(s()['title'])"], cwd=tmp_path, env=env)
    assert schema.stdout.strip() == "claimset predictions record"
    plant = ("import pyarrow as pa, pyarrow.parquet as pq; t = pq.read_table('annotations/gold/spans.parquet'); "
             "i = t.schema.get_field_index('start'); "
             "pq.write_table(t.set_column(i, 'start', pa.array([v + 1 for v in t.column('start').to_pylist()])), "
             "'annotations/gold/spans.parquet')")
    run([venv / "bin" / "python", "-c", plant], cwd=project, env=env)
    flawed = run([claimset, "validate", "annotations/gold"], cwd=project, env=env, check=False)
    assert flawed.returncode == 1 and "span_text_mismatch" in flawed.stdout
    assert "Traceback" not in flawed.stdout + flawed.stderr
