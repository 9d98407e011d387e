"""The scratch folder: what a killed check leaves on the disk is removed by the next one.

Patient data copied to temporary files (an input read once, a ledger's private copy, DuckDB's
tables and spill) must not stay in the temporary folder because a check was killed (``kill -9``,
out of memory). Each process keeps them in one locked folder; the next process sweeps the folders
no process holds.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from billing_rules import scratch
from billing_rules.readers.read_once import copied_inputs

pytestmark = pytest.mark.skipif(os.name != "posix", reason="flock (POSIX)")

#: A child that makes its scratch folder, writes "patient data" in it, says where, then waits or
#: dies by SIGKILL (no atexit, no finally: what a kill -9 does).
_CHILD = """
import os, signal, sys, time
from billing_rules import scratch
path = scratch.folder()
with open(os.path.join(path, "copie.csv"), "w") as handle:
    handle.write("invoice_id;patient_id\\nF1;P-SECRET\\n")
print(path, flush=True)
if sys.argv[1] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
time.sleep(60)
"""


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system's temporary folder, here and in the children: ``tmp_path``."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    return tmp_path


def _child(mode: str) -> tuple[subprocess.Popen[str], Path]:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, mode], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    assert child.stdout is not None
    return child, Path(child.stdout.readline().strip())


def test_the_folder_is_private_locked_and_the_same_for_the_process(temp_root: Path) -> None:
    path = Path(scratch.folder())
    assert path.parent == temp_root
    assert path.name.startswith(f"billing-rules-{os.getpid()}-")
    assert path.stat().st_mode & 0o777 == 0o700
    assert scratch.folder() == str(path)
    # Its own folder is never swept, by itself or by anyone: the lock is held.
    assert scratch.sweep(str(temp_root)) == 0
    assert path.is_dir()


def test_a_killed_process_folder_is_removed_by_the_next(temp_root: Path) -> None:
    child, left = _child("kill")
    assert child.wait(30) == -signal.SIGKILL
    assert (left / "copie.csv").read_text(encoding="utf-8").endswith("P-SECRET\n")  # what kill -9 leaves
    mine = Path(scratch.folder())  # the next process's first use of scratch space sweeps it
    assert not left.exists()
    assert mine.is_dir()


def test_a_running_process_folder_is_left_alone(temp_root: Path) -> None:
    child, held = _child("wait")
    try:
        assert scratch.sweep(str(temp_root)) == 0
        scratch.folder()
        assert (held / "copie.csv").is_file()
    finally:
        child.kill()
        child.wait(30)
    # Once its process is gone (killed: nothing removed it), the next sweep takes it.
    assert held.is_dir()
    assert scratch.sweep(str(temp_root)) == 1
    assert not held.exists()


def test_a_folder_being_created_is_left_alone_unless_old(temp_root: Path) -> None:
    fresh = temp_root / "billing-rules-999999-fresh"
    old = temp_root / "billing-rules-999998-old"
    for folder in (fresh, old):
        folder.mkdir(mode=0o700)
    long_ago = time.time() - 2 * 3600
    os.utime(old, (long_ago, long_ago))
    assert scratch.sweep(str(temp_root)) == 1
    assert fresh.is_dir() and not old.exists()


def test_other_names_and_files_are_never_touched(temp_root: Path) -> None:
    kept = [
        temp_root / "billing-rules-spark-abc",  # a Spark staging folder under a chosen parent
        temp_root / "billing-rules-12-x.csv",  # a file, not a folder
        temp_root / "autre-logiciel-12-abc",
    ]
    kept[0].mkdir()
    kept[1].write_text("x", encoding="utf-8")
    kept[2].mkdir()
    long_ago = time.time() - 2 * 3600
    for path in kept:
        os.utime(path, (long_ago, long_ago))
    assert scratch.sweep(str(temp_root)) == 0
    assert all(path.exists() for path in kept)


def test_a_read_once_copy_lives_in_the_scratch_folder(temp_root: Path) -> None:
    with copied_inputs(["-"], io.BytesIO(b"invoice_id\n")) as copies:
        assert Path(copies["-"]).parent == Path(scratch.folder())


def test_a_killed_check_leaves_nothing_after_the_next_check(temp_root: Path, tmp_path: Path) -> None:
    """End to end: a DuckDB check killed mid-way, then another check: no copy of the input remains."""
    pytest.importorskip("duckdb")
    day = tmp_path / "jour.csv"
    rows = ["invoice_id;date;practitioner_id;patient_id;birth_date;codes"]
    rows += [f"F{index};2025-03-04;10001;P{index % 50};1950-01-01;G" for index in range(20000)]
    day.write_text("\n".join(rows) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "billing_rules", "check", "-", "--engine", "duckdb", "--no-plugins"]
    with open(day, "rb") as stdin:
        child = subprocess.Popen(command, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        folders: list[Path] = []
        while time.monotonic() < deadline and not any(folder.glob("*input*") for folder in folders):
            folders = list(temp_root.glob(f"billing-rules-{child.pid}-*"))
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    assert folders, "the check made no scratch folder"
    leftovers = [folder for folder in folders if folder.exists()]
    assert leftovers  # kill -9: nothing could remove it
    done = subprocess.run(
        [sys.executable, "-m", "billing_rules", "check", "-", "--engine", "duckdb", "--no-plugins"],
        input=day.read_bytes(),
        capture_output=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    assert not [folder for folder in leftovers if folder.exists()]
    assert not list(temp_root.glob("billing-rules-*"))  # and the second check removed its own


def test_spark_staging_goes_to_the_scratch_folder_unless_placed(
    temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("sqlglot")
    from billing_rules.engines.relational import spark

    monkeypatch.delenv("BILLING_RULES_SPARK_STAGING", raising=False)
    staged = Path(spark.staging_dir())
    assert staged.parent == Path(scratch.folder())
    assert staged.stat().st_mode & 0o777 == 0o700
