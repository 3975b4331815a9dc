"""Writes of a dataset folder are one atomic step: kills, second writers, invalid results, other files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from claimset import transaction
from claimset.cli import app
from claimset.errors import ClaimsetError
from claimset.ingest import import_exports
from claimset.transaction import replace_folder
from lsjson import annotation, claim_with_speaker, region, task

TEXT = "Lavrov accused the West of meddling.\n\nThe spokesperson said nothing."
runner = CliRunner()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def write_export(path: Path, result: list[dict[str, object]], aid: int = 1) -> Path:
    path.write_text(json.dumps([task(1, TEXT, [annotation(aid, result)])]), encoding="utf-8")
    return path


@pytest.fixture
def good(tmp_path: Path) -> Path:
    """A valid dataset folder ``out`` beside its export."""
    export = write_export(tmp_path / "good.json", claim_with_speaker(TEXT, "the West of meddling", "Lavrov"))
    import_exports([export], tmp_path / "out")
    return tmp_path / "out"


def siblings(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.parent.iterdir() if path.name.startswith("."))


def test_a_dataset_folder_has_every_file_of_one_generation(good: Path) -> None:
    assert sorted(snapshot(good)) == ["annotations.parquet", "claims.parquet", "claimset.json", "documents.parquet",
                                      "rejects.parquet", "relations.parquet", "scheme.yaml", "spans.parquet"]
    assert siblings(good) == []  # no staging folder, no lock left


def test_an_invalid_import_leaves_the_old_dataset_and_exits_1(good: Path, tmp_path: Path) -> None:
    before = snapshot(good)
    claim_only = write_export(tmp_path / "invalid.json", [region("c", TEXT, 7, 35, "Claim")], aid=2)  # no quote_type
    result = runner.invoke(app, ["import", str(claim_only), "--out", str(good)])
    assert result.exit_code == 1
    assert "attribute_missing" in result.output and "left as it was" in result.output
    assert snapshot(good) == before and siblings(good) == []
    result = runner.invoke(app, ["import", str(claim_only), "--out", str(good), "--allow-invalid"])
    assert result.exit_code == 1 and "was replaced by this invalid dataset" in result.output
    assert snapshot(good) != before


def test_files_of_other_tools_survive_a_rewrite(good: Path, tmp_path: Path) -> None:
    (good / "NOTES.md").write_text("kept", encoding="utf-8")
    (good / "extra").mkdir()
    (good / "extra" / "x.txt").write_text("kept too", encoding="utf-8")
    (good / "croissant.json").write_text("{}", encoding="utf-8")  # made by claimset: stale beside new tables
    import_exports([tmp_path / "good.json"], good)
    assert not (good / "croissant.json").exists()
    assert (good / "NOTES.md").read_text(encoding="utf-8") == "kept"
    assert (good / "extra" / "x.txt").read_text(encoding="utf-8") == "kept too"


def test_the_two_rename_fallback_gives_the_same_folder(good: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(good)
    monkeypatch.setattr(transaction, "_exchange", lambda a, b: False)
    import_exports([tmp_path / "good.json"], good)
    assert snapshot(good) == before and siblings(good) == []


def test_a_crash_between_the_fallback_renames_is_undone_by_the_next_writer(good: Path) -> None:
    before = snapshot(good)
    old = good.with_name(f".{good.name}.old-abc123")
    good.rename(old)  # what a kill right after the first rename leaves
    stale = good.with_name(f".{good.name}.staging-def456")
    stale.mkdir()
    (good.parent / f".{good.name}.lock").write_text(f"{stale.name}\n{old.name}\n", encoding="utf-8")  # its record
    with replace_folder(good) as staging:
        assert snapshot(good) == before  # restored before anything else
        staging.discard()
    assert snapshot(good) == before and siblings(good) == []


def test_a_second_writer_fails_at_once_with_a_message(good: Path) -> None:
    with replace_folder(good) as staging:
        with pytest.raises(ClaimsetError, match="another claimset process is writing"), replace_folder(good):
            pass
        staging.discard()
    assert siblings(good) == []


def test_a_second_writer_process_gets_a_one_line_error(good: Path, tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from claimset.transaction import replace_folder
            with replace_folder(Path({str(good)!r})) as staging:
                print("holding", flush=True)
                sys.stdin.readline()
                staging.discard()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        result = subprocess.run([str(Path(sys.executable).parent / "claimset"), "import", str(tmp_path / "good.json"),
                                 "--out", str(good)], capture_output=True, text=True, timeout=120)
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1 and "another claimset process is writing this dataset" in result.stderr
    finally:
        holder.communicate("go\n", timeout=60)
    assert holder.returncode == 0


def test_kill_9_mid_write_leaves_the_old_dataset_and_the_next_run_cleans_up(good: Path, tmp_path: Path) -> None:
    before = snapshot(good)
    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        import claimset.dataset
        from claimset.ingest import import_exports

        def die(*args, **kwargs):  # the tables and claims are staged: die before the record and the swap
            os.kill(os.getpid(), signal.SIGKILL)

        claimset.dataset.write_record = die
        import_exports([Path({str(tmp_path / "good.json")!r})], Path({str(good)!r}))
    """)], timeout=120)
    assert killed.returncode == -signal.SIGKILL
    assert snapshot(good) == before
    assert [name.split("-")[0] for name in siblings(good)] == [".out.lock", ".out.staging"]
    import_exports([tmp_path / "good.json"], good)
    assert snapshot(good) == before and siblings(good) == []


def test_import_out_pointing_at_a_file_is_one_line(tmp_path: Path) -> None:
    export = write_export(tmp_path / "good.json", claim_with_speaker(TEXT, "the West of meddling", "Lavrov"))
    target = tmp_path / "a-file"
    target.write_text("x", encoding="utf-8")
    result = runner.invoke(app, ["import", str(export), "--out", str(target)])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "exists and is not a folder" in result.output and target.read_text(encoding="utf-8") == "x"


def test_lock_file_is_unlinked_by_its_holder_only(good: Path) -> None:
    lock = good.with_name(f".{good.name}.lock")
    with replace_folder(good) as staging:
        assert lock.exists()
        staging.discard()
    assert not lock.exists()
    os.close(os.open(lock, os.O_CREAT | os.O_RDWR))  # a stale lock file a killed writer left
    with replace_folder(good) as staging:  # is not held by anyone: taken over
        staging.discard()
    assert not lock.exists()


@pytest.mark.parametrize("where", ["/", "home"])
def test_a_folder_that_is_not_a_dataset_is_refused_before_anything_is_written(tmp_path: Path, where: str) -> None:
    """The root folder, or a home folder given by mistake, is neither copied nor replaced."""
    export = write_export(tmp_path / "good.json", claim_with_speaker(TEXT, "the West of meddling", "Lavrov"))
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("mine", encoding="utf-8")
    out = "/" if where == "/" else str(home)
    root_before = sorted(os.listdir("/"))
    result = runner.invoke(app, ["import", str(export), "--out", out])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert ("is the root folder" if where == "/" else "holds files but no claimset dataset") in result.output
    assert sorted(os.listdir("/")) == root_before
    assert sorted(p.name for p in home.iterdir()) == ["thesis.tex"] and siblings(home) == []


def test_a_symlinked_output_is_followed_and_keeps_pointing_at_the_dataset(good: Path, tmp_path: Path) -> None:
    link = tmp_path / "current"
    link.symlink_to(good)
    export = write_export(tmp_path / "two.json", claim_with_speaker(TEXT, "the West of meddling", "Lavrov"), aid=9)
    assert runner.invoke(app, ["import", str(export), "--out", str(link)]).exit_code == 0
    assert link.is_symlink() and link.resolve() == good.resolve()
    import pyarrow.parquet as pq

    assert pq.read_table(good / "annotations.parquet").column("annotation_id").to_pylist() == [9]
    assert siblings(good) == [] and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_the_current_folder_as_output(good: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(good)
    result = runner.invoke(app, ["import", str(tmp_path / "good.json"), "--out", "."])
    assert result.exit_code == 0, result.output
    assert siblings(good) == []


def test_permissions_follow_the_folder_and_the_umask(good: Path, tmp_path: Path) -> None:
    good.chmod(0o2775)
    import_exports([tmp_path / "good.json"], good)
    assert good.stat().st_mode & 0o7777 == 0o2775
    old = os.umask(0o022)
    try:
        import_exports([tmp_path / "good.json"], tmp_path / "fresh")
    finally:
        os.umask(old)
    assert (tmp_path / "fresh").stat().st_mode & 0o777 == 0o755
    assert {path.name: path.stat().st_mode & 0o777 for path in (tmp_path / "fresh").iterdir()} == dict.fromkeys(
        sorted(path.name for path in (tmp_path / "fresh").iterdir()), 0o644)


def test_an_empty_export_does_not_replace_a_dataset(good: Path, tmp_path: Path) -> None:
    before = snapshot(good)
    empty = tmp_path / "empty.json"
    empty.write_text("[]", encoding="utf-8")
    result = runner.invoke(app, ["import", str(empty), "--out", str(good)])
    assert result.exit_code == 1
    assert result.output == "Error: empty.json: nothing imported: the export holds no task\n"
    assert snapshot(good) == before and siblings(good) == []


def test_build_takes_both_locks_before_changing_either_folder(tmp_path: Path) -> None:
    """A writer holding the gold's lock makes `build` fail before annotators/ changes (it holds both first)."""
    import fcntl
    import shutil

    from claimset.gold import build
    from claimset.scheme import load_scheme

    root = Path(__file__).resolve().parents[1]
    shutil.copytree(root / "annotations" / "raw", tmp_path / "raw")
    scheme = load_scheme(root / "schema" / "scheme.yaml")
    build(tmp_path / "raw", tmp_path / "gold", root / "seeds", scheme, annotators_dir=tmp_path / "annotators")
    before = {p.name: p.read_bytes() for p in (tmp_path / "annotators").iterdir()}
    fd = os.open(tmp_path / ".gold.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(ClaimsetError, match="another claimset process is writing"):
            build(tmp_path / "raw", tmp_path / "gold", root / "seeds", scheme, annotators_dir=tmp_path / "annotators")
    finally:
        os.close(fd)
    assert {p.name: p.read_bytes() for p in (tmp_path / "annotators").iterdir()} == before
    build(tmp_path / "raw", tmp_path / "gold", root / "seeds", scheme, annotators_dir=tmp_path / "annotators")


def test_a_read_only_dataset_folder_is_refused_in_one_line(good: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A user without write access to the folder (root has it anyway, so the check is made to say no)."""
    before = snapshot(good)
    monkeypatch.setattr(transaction, "_can_write", lambda folder: folder != good.resolve())
    result = runner.invoke(app, ["import", str(tmp_path / "good.json"), "--out", str(good)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().endswith("this user cannot write the folder (read-only, or another user's); make it "
                                          "writable to replace it")
    assert snapshot(good) == before


def test_a_read_only_mode_is_kept_and_applied_only_when_the_folder_is_complete(good: Path, tmp_path: Path) -> None:
    good.chmod(0o555)  # root may still write: the new generation gets the mode once it is written
    try:
        import_exports([tmp_path / "good.json"], good)
        assert good.stat().st_mode & 0o777 == 0o555 and (good / "spans.parquet").is_file()
    finally:
        good.chmod(0o755)


def test_validation_of_a_folder_replaced_meanwhile_starts_again_on_one_generation(
        good: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer swaps in a new generation after validation read the record, before it opened the tables."""
    from claimset import validate

    other = write_export(tmp_path / "other.json", claim_with_speaker(TEXT, "said nothing", "The spokesperson"), aid=2)
    real_open = validate._open_tables
    opened: list[int] = []

    def open_after_a_swap(directory: Path, report: validate.ValidationReport) -> dict[str, object]:
        opened.append(1)
        if len(opened) == 1:
            import_exports([other], good)  # the concurrent writer
        return real_open(directory, report)  # type: ignore[return-value]

    monkeypatch.setattr(validate, "_open_tables", open_after_a_swap)
    report = validate.validate_dataset(good)
    assert len(opened) == 2 and report.valid, report.failures[:3]
    assert validate.validate_dataset(good).rows == report.rows  # the rows of the generation now in place

    def always_swapping(directory: Path, report: validate.ValidationReport) -> dict[str, object]:
        import_exports([other], good)
        return real_open(directory, report)  # type: ignore[return-value]

    monkeypatch.setattr(validate, "_open_tables", always_swapping)
    with pytest.raises(ClaimsetError, match="replaced while it was being validated, 3 times running"):
        validate.validate_dataset(good)


def test_validation_reads_one_generation_even_when_the_folder_is_swapped_back(
        good: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A -> B -> A while the tables are opened (a symbolic link flipped back, a blue/green swap undone)."""
    from claimset import validate

    other = tmp_path / "other.json"
    other.write_text(json.dumps([task(1, TEXT, [
        annotation(2, claim_with_speaker(TEXT, "said nothing", "The spokesperson")),
        annotation(3, claim_with_speaker(TEXT, "the West of meddling", "Lavrov"), user=2)])]), encoding="utf-8")
    import_exports([other], tmp_path / "b")
    expected = validate.validate_dataset(good).rows
    assert validate.validate_dataset(tmp_path / "b").rows != expected
    real_open = validate._open_tables
    opened: list[int] = []

    def open_while_b_is_in_place(directory: Path, report: validate.ValidationReport) -> dict[str, object]:
        opened.append(1)
        good.rename(tmp_path / "a-aside")
        (tmp_path / "b").rename(good)
        try:
            return real_open(directory, report)  # type: ignore[return-value]
        finally:
            good.rename(tmp_path / "b")
            (tmp_path / "a-aside").rename(good)

    monkeypatch.setattr(validate, "_open_tables", open_while_b_is_in_place)
    report = validate.validate_dataset(good)
    assert opened == [1] and report.valid and report.rows == expected and report.directory == str(good)


def test_an_output_that_is_a_loop_of_symbolic_links_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "loopa").symlink_to(tmp_path / "loopb")
    (tmp_path / "loopb").symlink_to(tmp_path / "loopa")
    export = write_export(tmp_path / "good.json", claim_with_speaker(TEXT, "the West of meddling", "Lavrov"))
    result = runner.invoke(app, ["import", str(export), "--out", str(tmp_path / "loopa")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "loopa: cannot find the folder it names" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_validation_without_any_writable_work_folder_is_one_line(good: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only parent and no usable temporary folder (a container with a read-only file system)."""
    import tempfile

    def nowhere(*args: object, **kwargs: object) -> str:
        raise OSError(30, "Read-only file system")

    def no_temporary_folder() -> str:
        raise FileNotFoundError(2, "No usable temporary directory found")

    monkeypatch.setattr(tempfile, "mkdtemp", nowhere)
    monkeypatch.setattr(tempfile, "gettempdir", no_temporary_folder)
    result = runner.invoke(app, ["validate", str(good)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().endswith("no folder to write work files in: not beside the dataset (Read-only file "
                                          "system), nor in the temporary folder (No usable temporary directory "
                                          "found); set TMPDIR to a writable folder")


def test_a_lock_path_that_is_not_a_file_is_named_in_the_error(good: Path, tmp_path: Path) -> None:
    (tmp_path / ".out.lock").mkdir()
    result = runner.invoke(app, ["import", str(tmp_path / "good.json"), "--out", str(good)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().endswith(f"cannot write here: {tmp_path / '.out.lock'}: Is a directory")


def test_folders_of_the_users_named_like_leftovers_are_never_removed(good: Path, tmp_path: Path) -> None:
    """Only the folders a killed writer recorded in the lock file are cleaned; a user's backup is not."""
    backup = tmp_path / ".out.old-2026-11-25"
    shutil.copytree(good, backup)
    (backup / "NOTES.txt").write_text("my notes", encoding="utf-8")
    (tmp_path / ".out.staging-manual").mkdir()
    (tmp_path / ".out.staging-manual" / "keep.txt").write_text("keep", encoding="utf-8")
    import_exports([tmp_path / "good.json"], good)
    assert (backup / "NOTES.txt").read_text(encoding="utf-8") == "my notes"
    assert (tmp_path / ".out.staging-manual" / "keep.txt").is_file()


def test_a_lock_path_that_is_a_symbolic_link_is_refused_not_followed(good: Path, tmp_path: Path) -> None:
    (tmp_path / ".out.lock").symlink_to(tmp_path / "elsewhere")
    result = runner.invoke(app, ["import", str(tmp_path / "good.json"), "--out", str(good)])
    assert result.exit_code == 1 and "Traceback" not in result.output and ".out.lock" in result.stderr
    assert not (tmp_path / "elsewhere").exists()


def _disk_full(*args: object, **kwargs: object) -> None:
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("where", ["parquet", "lock"])
def test_a_full_disk_is_one_line_and_leaves_nothing_behind(good: Path, tmp_path: Path, where: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The tables cannot be written, or the lock file cannot record the leftovers: the old dataset stays."""
    import pyarrow.parquet as pq

    before = snapshot(good)
    if where == "parquet":
        monkeypatch.setattr(pq.ParquetWriter, "write_table", _disk_full)
    else:
        monkeypatch.setattr(transaction, "_record_leftovers", _disk_full)
    result = runner.invoke(app, ["import", str(tmp_path / "good.json"), "--out", str(good)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert result.output.startswith(f"Error: {good}: the dataset was not written: No space left on device")
    assert snapshot(good) == before and [name.split("-")[0] for name in siblings(good)] in ([], [".out.lock"])


def test_a_system_error_outside_a_dataset_write_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import claimset.validate

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(5, "Input/output error", str(tmp_path / "x.parquet"))

    monkeypatch.setattr(claimset.validate, "validate_dataset", broken)
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output == f"Error: {tmp_path / 'x.parquet'}: Input/output error\n"
