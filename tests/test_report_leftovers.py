"""A report's temporary file left by a killed writer is removed by the next write of that report.

``private_file`` writes beside the target, then renames; a ``kill -9`` in between leaves
``.<name>.<random>.tmp``, a report (patient data). The next writer of the same report removes it,
unless a running writer holds it or it was made moments ago; nothing else is ever touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from billing_rules.reporters import leftovers
from billing_rules.reporters.files import private_file

pytestmark = pytest.mark.skipif(os.name != "posix", reason="flock (POSIX)")

#: A writer of ``argv[1]`` that says where its temporary file is, then dies by SIGKILL (``kill``) or
#: waits to be killed (``wait``): no ``finally``, no rename.
_WRITER = """
import os, signal, sys, time
from pathlib import Path
from billing_rules.reporters.files import private_file
target = Path(sys.argv[1])
with private_file(target) as stream:
    stream.write('{"findings": [{"patient_id": "P-SECRET"}]}')
    stream.flush()
    print([p.name for p in target.parent.iterdir() if p.name.endswith(".tmp")][0], flush=True)
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)
"""


def _writer(target: Path, mode: str) -> tuple[subprocess.Popen[str], Path]:
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(target), mode], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    return child, target.parent / child.stdout.readline().strip()


def _age(path: Path, seconds: float = 3600) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past), follow_symlinks=False)


def _write(target: Path, text: str) -> None:
    with private_file(target) as stream:
        stream.write(text)


def test_a_killed_writers_file_goes_with_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "rapport.json"
    child, temporary = _writer(target, "kill")
    assert child.wait(30) == -signal.SIGKILL
    assert "P-SECRET" in temporary.read_text(encoding="utf-8")  # what kill -9 leaves
    assert not target.exists()
    _age(temporary)
    _write(target, "{}")
    assert target.read_text(encoding="utf-8") == "{}"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["rapport.json"]


def test_a_running_writers_file_is_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "rapport.json"
    child, temporary = _writer(target, "wait")
    try:
        _age(temporary)
        _write(target, "{}")
        assert temporary.exists()  # its writer still holds it
    finally:
        child.kill()
        child.wait(30)
    _write(target, "{}")  # the writer gone, its file goes with the next write
    assert not temporary.exists()


def test_a_file_made_moments_ago_is_left_for_a_later_write(tmp_path: Path) -> None:
    target = tmp_path / "rapport.json"
    fresh = tmp_path / ".rapport.json.abcd1234.tmp"  # unlocked: a writer may be about to lock it
    fresh.write_text("partiel", encoding="utf-8")
    _write(target, "{}")
    assert fresh.exists()
    _age(fresh, leftovers.GRACE + 1)
    _write(target, "{}")
    assert not fresh.exists()


def test_nothing_else_is_touched(tmp_path: Path) -> None:
    target = tmp_path / "rapport.json"
    outside = tmp_path / "ailleurs.txt"
    outside.write_text("à garder", encoding="utf-8")
    kept = [
        tmp_path / ".autre.json.abcd1234.tmp",  # another report's
        tmp_path / ".rapport.json.abc.tmp",  # not a name mkstemp makes
        tmp_path / "rapport.json.abcd1234.tmp",
        tmp_path / ".rapport.json.abcd1234.bak",
    ]
    for path in kept:
        path.write_text("x", encoding="utf-8")
    link = tmp_path / ".rapport.json.zyxw9876.tmp"
    link.symlink_to(outside)
    folder = tmp_path / ".rapport.json.dossier1.tmp"
    folder.mkdir()
    for path in [*kept, link, folder, outside]:
        _age(path)
    _write(target, "{}")
    assert all(path.exists() for path in kept)
    assert link.is_symlink() and outside.read_text(encoding="utf-8") == "à garder"
    assert folder.is_dir()


def test_an_unreadable_folder_does_not_stop_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(path: object) -> object:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "scandir", refused)
    assert leftovers.sweep(tmp_path, "rapport.json") == 0
    _write(tmp_path / "rapport.json", "{}")
    assert (tmp_path / "rapport.json").read_text(encoding="utf-8") == "{}"
