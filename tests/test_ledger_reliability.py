"""The ledger under the faults an audit found: a lock, a truncated file, a read-only WAL, a moving input.

- Another program holding an EXCLUSIVE lock while the ledger is opened: "busy, try again", never
  "damaged, rebuild it" (the very first reading of the schema fails then).
- A truncated file (shorter than its header says): ``ledger export`` reads what is still there,
  as the damaged-ledger message promises, instead of refusing the whole file.
- A read-only folder holding the ledger and a ``-wal`` but no ``-shm``: the invoices committed in
  the ``-wal`` are read (``immutable`` alone would skip them without a word).
- ``--record``: exactly the invoices checked are recorded; an input file that changed between the
  check and the recording's reading of it records nothing (exit 2, in French).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import billing_rules.ledger.sqlite as sqlite_ledger
from billing_rules import scratch
from billing_rules.cli import main
from billing_rules.errors import BillingRulesError
from billing_rules.ledger import open_ledger
from billing_rules.ledger.recording import InputFiles, record_by_file
from billing_rules.model import Event

HEADER = "invoice_id;date;practitioner_id;patient_id;birth_date;codes\n"
PAGE = 4096


def _day(folder: Path, count: int, prefix: str, *, first: int = 0) -> Path:
    path = folder / f"jour-{prefix}.csv"
    rows = [
        f"{prefix}{n};2024-02-{1 + n % 28:02d};1;P-{n % 300:04d};1950-01-01;G\n" for n in range(first, count)
    ]
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _count(ledger: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT count(*) FROM invoices").fetchone()[0])


def _recorded(tmp_path: Path, count: int, name: str = "registre.db") -> Path:
    ledger = tmp_path / name
    result = _run("check", str(_day(tmp_path, count, "H")), "--ledger", str(ledger), "--record")
    assert result.exit_code in (0, 1), result.output
    return ledger


# --------------------------------------------------------------------------------------------------
# An EXCLUSIVE lock held while the ledger is opened

_EXCLUSIVE = r"""
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA locking_mode = EXCLUSIVE")
connection.execute("BEGIN EXCLUSIVE")
connection.execute("UPDATE invoices SET codes = codes WHERE rowid = 1")
print("prêt", flush=True)
sys.stdin.readline()
connection.execute("ROLLBACK")
"""


@contextlib.contextmanager
def _exclusive(ledger: Path) -> Iterator[None]:
    """Another process holding an EXCLUSIVE lock on ``ledger`` (``locking_mode=EXCLUSIVE``)."""
    holder = subprocess.Popen(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", _EXCLUSIVE, str(ledger)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "prêt"
        yield
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=60)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


@pytest.mark.slow
def test_an_exclusive_lock_at_opening_is_busy_not_damage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = _recorded(tmp_path, 50)
    day = _day(tmp_path, 60, "N", first=50)
    monkeypatch.setattr(sqlite_ledger, "BUSY_TIMEOUT_SECONDS", 1.0)
    with _exclusive(ledger):
        for args in (
            ("check", str(day), "--ledger", str(ledger), "--record"),  # read-write
            ("check", str(day), "--ledger", str(ledger)),  # read-only
            ("ledger", "export", "--ledger", str(ledger), "--format", "jsonl"),  # read-only, unverified
        ):
            result = _run(*args)
            assert result.exit_code == 2, (args, result.output)
            assert "occupé par un autre poste depuis plus de 1 s ; réessayez" in result.stderr, result.stderr
            assert "endommagé" not in result.stderr and "ledger import" not in result.stderr
            assert result.stdout == ""
    assert _count(ledger) == 50


# --------------------------------------------------------------------------------------------------
# A truncated file


def _truncated(tmp_path: Path) -> tuple[Path, int]:
    """A ledger of 3 000 invoices recorded in six days, then cut a tenth short (its header still
    counts the pages cut: SQLite then refuses the whole file as "malformed")."""
    ledger = tmp_path / "registre.db"
    for part in range(6):  # day after day, as a practice records: the last days' rows end the file
        day = _day(tmp_path, 500 * (part + 1), "H", first=500 * part)
        result = _run("check", str(day), "--ledger", str(ledger), "--record")
        assert result.exit_code in (0, 1), result.output
    with contextlib.closing(sqlite3.connect(ledger)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{ledger}{suffix}").unlink()
    size = ledger.stat().st_size
    with open(ledger, "r+b") as handle:
        handle.truncate(size - (size // PAGE // 10) * PAGE)
    with contextlib.closing(sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)) as db:
        with pytest.raises(sqlite3.DatabaseError, match="malformed"):
            db.execute("SELECT name FROM sqlite_master").fetchall()
    return ledger, 3000


def test_export_of_a_truncated_ledger_reads_what_is_left(tmp_path: Path) -> None:
    ledger, total = _truncated(tmp_path)
    out = tmp_path / "sauvegarde.jsonl"
    result = _run("ledger", "export", "--ledger", str(ledger), "--format", "jsonl", "-o", str(out))
    assert result.exit_code == 1, result.output  # partial, as the damaged-ledger message promises
    assert "export de ce qui est lisible" in result.stderr
    assert "P-0" not in result.output
    exported = out.read_text(encoding="utf-8").splitlines()
    assert total * 0.8 <= len(exported) <= total
    fresh = tmp_path / "neuf.db"
    imported = _run("ledger", "import", str(out), "--ledger", str(fresh))
    assert imported.exit_code == 0, imported.output
    assert _count(fresh) == len(exported)
    # ``ledger check`` says damaged (1), not unreadable (2); ``--record`` is still refused.
    checked = _run("ledger", "check", "--ledger", str(ledger))
    assert checked.exit_code == 1 and "endommagé" in checked.stderr, checked.output
    before = ledger.read_bytes()
    refused = _run("check", str(_day(tmp_path, 5, "N")), "--ledger", str(ledger), "--record")
    assert refused.exit_code == 2 and "ledger export" in refused.stderr, refused.output
    assert ledger.read_bytes() == before


# --------------------------------------------------------------------------------------------------
# A read-only folder with a -wal and no -shm


def _with_wal(tmp_path: Path, folder: Path) -> None:
    """``folder``: a copy of a ledger of 50 invoices whose 20 later ones are committed in its ``-wal``.

    No ``-shm``, as on read-only media where the ledger was copied without it.
    """
    source = _recorded(tmp_path, 50, "source.db")
    keeper = sqlite3.connect(source)  # another connection: the -wal is not folded back at close
    try:
        keeper.execute("SELECT count(*) FROM invoices").fetchone()
        more = _day(tmp_path, 70, "W", first=50)
        ledger = open_ledger(source)
        try:
            from billing_rules.readers import InputStream

            ledger.record(item for item in InputStream([str(more)]) if isinstance(item, Event))
        finally:
            ledger.close()
        folder.mkdir()
        for suffix in ("", "-wal"):
            (folder / f"registre.db{suffix}").write_bytes(Path(f"{source}{suffix}").read_bytes())
    finally:
        keeper.close()
    assert (folder / "registre.db-wal").stat().st_size > 0
    with contextlib.closing(sqlite3.connect(f"file:{folder / 'registre.db'}?immutable=1", uri=True)) as db:
        assert db.execute("SELECT count(*) FROM invoices").fetchone() == (50,)  # what immutable sees


def test_read_only_open_reads_the_invoices_of_the_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the -shm cannot be created (simulated: root ignores permissions), nothing is skipped."""
    folder = tmp_path / "cle-usb"
    _with_wal(tmp_path, folder)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    real_connect = sqlite3.connect

    def connect(target: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        text = str(target)
        if str(folder) in text and "mode=ro" in text:  # what read-only media give in that folder
            error = sqlite3.OperationalError("unable to open database file")
            error.sqlite_errorcode = sqlite3.SQLITE_CANTOPEN  # type: ignore[attr-defined]
            raise error
        return real_connect(target, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    stats = _run("ledger", "stats", "--ledger", str(folder / "registre.db"), "--format", "json")
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.stdout)["invoices"] == 70
    exported = _run("ledger", "export", "--ledger", str(folder / "registre.db"), "--format", "jsonl")
    assert exported.exit_code == 0, exported.output
    assert len(exported.stdout.splitlines()) == 70
    assert sorted(path.name for path in folder.iterdir()) == ["registre.db", "registre.db-wal"]
    # The private copy went to this process's scratch folder, and is gone.
    assert Path(scratch.folder()).parent == tmp_path
    assert not [path for path in Path(scratch.folder()).iterdir() if path.name.startswith("registre-")]


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_read_only_folder_with_a_wal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same in a 0555 folder, read by a process that obeys permissions (see ``test_faults``)."""
    from test_faults import _cli, _without_root_powers

    unprivileged = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        unprivileged = _without_root_powers()
    if unprivileged is None:
        pytest.skip("root without CAP_SETPCAP: test_read_only_open_reads_the_invoices_of_the_wal covers it")
    folder = tmp_path / "cle-usb"
    _with_wal(tmp_path, folder)
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setenv("TMPDIR", str(private))
    for path in folder.iterdir():
        path.chmod(0o444)
    folder.chmod(0o555)
    try:
        stats = _cli(
            "ledger",
            "stats",
            "--ledger",
            str(folder / "registre.db"),
            "--format",
            "json",
            prelude=unprivileged,
        )
        assert stats.returncode == 0, stats.stderr
        assert json.loads(stats.stdout)["invoices"] == 70
        # The history a check counts holds them too: W50's patient has its G of the WAL.
        checked = _cli(
            "check", str(_day(tmp_path, 3, "N")), "--ledger", str(folder / "registre.db"), "--format", "json",
            prelude=unprivileged,
        )  # fmt: skip
        assert checked.returncode in (0, 1), checked.stderr
        assert sorted(path.name for path in folder.iterdir()) == ["registre.db", "registre.db-wal"]
    finally:
        folder.chmod(0o755)
    assert list(private.iterdir()) == []  # the private copy is gone


# --------------------------------------------------------------------------------------------------
# --record: the invoices checked, or nothing


def _grow_after_check(monkeypatch: pytest.MonkeyPatch, engine: str, path: Path, extra: str) -> None:
    """Append ``extra`` to ``path`` once the engine has checked it, before the recording reads it."""
    if engine == "row":
        from billing_rules.api.validator import Validator as Target

        name = "_check_stream"
    else:
        from billing_rules.engines.relational.run import RelationalChecker as Target  # type: ignore[assignment]

        name = "check_table"
    original = getattr(Target, name)

    def checked_then_grown(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        with open(path, "a", encoding="utf-8") as stream:
            stream.write(extra)
        return result

    monkeypatch.setattr(Target, name, checked_then_grown)


def _in_format(day: Path, extra: str, fmt: str) -> tuple[Path, str]:
    """The CSV ``day`` and the CSV lines ``extra`` in ``fmt`` (``csv`` or ``jsonl``)."""
    if fmt == "csv":
        return day, extra
    names = HEADER.strip().split(";")

    def objects(lines: list[str]) -> str:
        return "".join(json.dumps(dict(zip(names, line.split(";"), strict=True))) + "\n" for line in lines)

    converted = day.with_suffix(".jsonl")
    converted.write_text(objects(day.read_text(encoding="utf-8").splitlines()[1:]), encoding="utf-8")
    return converted, objects(extra.splitlines())


@pytest.mark.parametrize(("engine", "fmt"), [("row", "csv"), ("duckdb", "csv"), ("duckdb", "jsonl")])
def test_an_input_changed_during_the_check_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str, fmt: str
) -> None:
    if engine == "duckdb":
        pytest.importorskip("duckdb")
        pytest.importorskip("polars")
    ledger = _recorded(tmp_path, 40)
    extra = "".join(f"X{n};2024-02-{1 + n % 28:02d};1;P-{n:04d};1950-01-01;G\n" for n in range(30))
    day, extra = _in_format(_day(tmp_path, 100, "N", first=40), extra, fmt)
    args = ["check", str(day), "--engine", engine, "--ledger", str(ledger), "--record", "--format", "json"]
    # Unchanged: exactly the invoices checked are recorded.
    baseline = tmp_path / "base.db"
    result = _run(*[str(baseline) if arg == str(ledger) else arg for arg in args])
    assert result.exit_code in (0, 1), result.output
    assert json.loads(result.stdout)["summary"]["events"] == _count(baseline) == 60
    # Grown between the check and the recording: nothing is recorded.
    _grow_after_check(monkeypatch, engine, day, extra)
    result = _run(*args)
    assert result.exit_code == 2, result.output
    assert f"le fichier « {day} » a changé pendant le contrôle : rien n'a été enregistré" in result.stderr
    assert result.stdout == ""
    assert _count(ledger) == 40


def test_an_input_changed_during_the_check_leaves_a_memory_ledger_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, builtin_validator: Any
) -> None:
    """Through the API, with a ledger that has no transaction of its own: nothing is stored either."""
    from billing_rules.ledger.memory import MemoryLedger

    day = _day(tmp_path, 20, "N")
    _grow_after_check(monkeypatch, "row", day, "X1;2024-02-03;1;P-0001;1950-01-01;G\n")
    ledger = MemoryLedger()
    with pytest.raises(BillingRulesError, match="a changé pendant le contrôle : rien n'a été enregistré"):
        builtin_validator.check_paths([str(day)], ledger=ledger, record=True)
    assert list(ledger.events()) == []


def test_a_recording_that_reads_other_invoices_than_checked_is_rolled_back(tmp_path: Path) -> None:
    """The count too: a reading that gives more (or fewer) invoices than the check read stores none."""
    from billing_rules.readers import InputStream

    ledger_path = _recorded(tmp_path, 10)
    day = _day(tmp_path, 15, "N", first=10)
    files = InputFiles.of([str(day)])
    ledger = open_ledger(ledger_path)
    try:
        with pytest.raises(BillingRulesError, match=r"4 factures contrôlées, 5 relues"):
            record_by_file(ledger, InputStream([str(day)]), checked=4, files=files)
    finally:
        ledger.close()
    assert _count(ledger_path) == 10
    day.write_text(
        day.read_text(encoding="utf-8") + "N99;2024-02-03;1;P-0099;1950-01-01;G\n", encoding="utf-8"
    )
    assert files.changed() == str(day)
