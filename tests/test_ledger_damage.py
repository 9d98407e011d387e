"""Damaged, empty and read-only SQLite ledgers (issue 16 points 7, 8 and 11).

A corpus of damaged copies of one ledger (truncated, bytes flipped in pages): none is written into
by ``--record``; each is either refused with a French message saying how to recover, or SQLite's
own ``integrity_check`` finds nothing wrong (damage inside a stored value, invisible to SQLite).
Messages never quote a stored value (a patient id SQLite could not decode).
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_rules import cli
from billing_rules.ledger import LedgerError, open_ledger
from billing_rules.ledger.sqlite import SqliteLedger

HEADER = "invoice_id;date;practitioner_id;patient_id;birth_date;codes\n"
PAGE = 4096


def _day(folder: Path, count: int, prefix: str = "F") -> Path:
    path = folder / f"jour-{prefix}.csv"
    rows = [
        f"{prefix}{n};2024-02-{1 + n % 28:02d};1;DUPONT-JEAN-{n:04d};1950-01-01;G\n" for n in range(count)
    ]
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.main, list(args))
    return result.exit_code, result.output


def _base(tmp_path: Path) -> Path:
    ledger = tmp_path / "base.db"
    code, output = _run("check", str(_day(tmp_path, 1500)), "--ledger", str(ledger), "--record")
    assert code in (0, 1), output
    with contextlib.closing(sqlite3.connect(ledger)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return ledger


def _damaged_copies(base: Path, folder: Path) -> list[Path]:
    data = base.read_bytes()
    pages = len(data) // PAGE
    generator = random.Random(20261202)
    copies: dict[str, bytes] = {
        "half": data[: len(data) // 2],
        "one-page-short": data[: len(data) - PAGE],
        "mid-page": data[: len(data) - PAGE // 2],
        "header-only": data[:100],
    }
    for number in range(26):
        damaged = bytearray(data)
        page = generator.randrange(1, pages)
        for _ in range(generator.choice((1, 8, 64))):
            offset = page * PAGE + generator.randrange(PAGE)
            damaged[offset] ^= 1 << generator.randrange(8)
        copies[f"flip-{number}-page-{page}"] = bytes(damaged)
    paths = []
    for name, content in copies.items():
        path = folder / f"{name}.db"
        path.write_bytes(content)
        paths.append(path)
    return paths


def _integrity_ok(path: Path) -> bool:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    except sqlite3.DatabaseError:
        return False


def test_no_damaged_ledger_is_written_into(tmp_path: Path) -> None:
    base = _base(tmp_path)
    day = _day(tmp_path, 20, prefix="N")
    refused = undetectable = 0
    for path in _damaged_copies(base, tmp_path):
        before = path.read_bytes()
        intact = _integrity_ok(path)
        code, output = _run("check", str(day), "--ledger", str(path), "--record")
        assert "DUPONT" not in output, (path.name, output)
        assert "Traceback" not in output
        if code == 2:
            refused += 1
            assert "ledger export" in output, (path.name, output)  # says how to recover
            assert path.read_bytes() == before, path.name  # nothing written
            assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
        else:
            # Used: only when SQLite itself sees nothing wrong (damage inside a stored value).
            assert intact, (path.name, code, output)
            undetectable += 1
    assert refused >= 20
    assert refused + undetectable == 30


def test_ledger_check_command(tmp_path: Path) -> None:
    base = _base(tmp_path)
    code, output = _run("ledger", "check", "--ledger", str(base))
    assert code == 0 and "intact" in output
    damaged = tmp_path / "abime.db"
    data = bytearray(base.read_bytes())
    for offset in range(3 * PAGE + 8, 3 * PAGE + 200):
        data[offset] ^= 0x5A
    damaged.write_bytes(bytes(data))
    code, output = _run("ledger", "check", "--ledger", str(damaged))
    assert code == 1, output
    assert "endommagé" in output and "ledger export" in output
    assert "DUPONT" not in output


def test_export_recovers_what_is_readable(tmp_path: Path) -> None:
    """Every damaged copy: the export says it is partial (exit 1) and re-imports cleanly."""
    base = _base(tmp_path)
    recovered = []
    for path in _damaged_copies(base, tmp_path):
        if _integrity_ok(path):
            continue
        out = tmp_path / f"{path.stem}.csv"
        code, output = _run("ledger", "export", "--ledger", str(path), "--raw", "--output", str(out))
        assert "DUPONT" not in output and "Traceback" not in output
        if code == 2:  # nothing readable at all (the header page is gone)
            assert "n'est pas un registre" in output or "endommagé" in output, output
            continue
        assert code == 1 and "export de ce qui est lisible" in output, (path.name, code, output)
        fresh = tmp_path / f"{path.stem}-neuf.db"
        code, output = _run("ledger", "import", str(out), "--ledger", str(fresh))
        assert code in (0, 1), output
        recovered.append(out.read_text(encoding="utf-8").count("\n") - 1)
    assert len(recovered) >= 15
    assert sorted(recovered)[len(recovered) // 2] >= 1000  # most copies give back most of their 1 500


def test_empty_file_is_not_a_new_ledger(tmp_path: Path) -> None:
    empty = tmp_path / "registre.db"
    empty.write_bytes(b"")
    code, output = _run("check", str(_day(tmp_path, 3)), "--ledger", str(empty), "--record")
    assert code == 2
    assert "fichier vide" in output
    assert empty.read_bytes() == b""


def test_undecodable_value_is_never_quoted(tmp_path: Path) -> None:
    ledger = tmp_path / "registre.db"
    _run("check", str(_day(tmp_path, 3)), "--ledger", str(ledger), "--record")
    with contextlib.closing(sqlite3.connect(ledger)) as db:
        db.execute("PRAGMA ignore_check_constraints = ON")
        db.execute("UPDATE invoices SET patient_id = CAST(X'4455504F4E542D4A45414E2D3132FF34' AS TEXT)")
        db.execute("UPDATE invoices SET status = 'DUPONT-STATUS' WHERE invoice_id = 'F1'")
        db.commit()
    # The export salvages what it can (exit 1: incomplete): the row with a foreign status is lost,
    # the undecodable patient ids are written with their bad byte as \xff; messages quote none.
    out = tmp_path / "sauvegarde.jsonl"
    result = CliRunner().invoke(
        cli.main, ["ledger", "export", "--ledger", str(ledger), "--format", "jsonl", "-o", str(out)]
    )
    assert result.exit_code == 1, result.output
    assert "DUPONT" not in result.output and "\ufffd" not in result.output, result.output
    assert "au moins 1 illisibles" in result.stderr and "2 d'entre elles" in result.stderr
    assert out.read_text(encoding="utf-8").count("DUPONT-JEAN-12\\\\xff4") == 2
    # A check whose patients are those of the damaged rows reads them too.
    day = tmp_path / "meme-patient.csv"
    day.write_text(
        HEADER + "N1;2024-02-09;1;DUPONT-JEAN-12\udcff4;1950-01-01;G\n",
        encoding="utf-8",
        errors="surrogateescape",
    )
    code, output = _run("check", str(day), "--ledger", str(ledger))
    assert "DUPONT" not in output and "\ufffd" not in output, output


# -- read-only: check without --record, export and stats never write ---------------------------


def test_read_only_open_uses_sqlite_read_only_mode(tmp_path: Path) -> None:
    """Whatever the permissions (root ignores them), a read-only open cannot write."""
    ledger = tmp_path / "registre.db"
    _run("check", str(_day(tmp_path, 3)), "--ledger", str(ledger), "--record")
    opened = open_ledger(ledger, readonly=True)
    try:
        assert isinstance(opened, SqliteLedger)
        event = next(iter(opened.events()))
        with pytest.raises(LedgerError, match="lecture seule"):
            opened.record([event])
    finally:
        opened.close()


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_read_only_media(tmp_path: Path) -> None:
    """A 0444 ledger in a 0555 folder, read by a process that obeys permissions (root loses the
    capabilities that bypass them, as in ``test_faults``)."""
    from test_faults import _cli, _without_root_powers

    unprivileged = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        unprivileged = _without_root_powers()
    if unprivileged is None:
        pytest.skip("root without CAP_SETPCAP: test_read_only_open_uses_sqlite_read_only_mode covers it")
    folder = tmp_path / "cle-usb"
    folder.mkdir()
    ledger = folder / "registre.db"
    day = _day(tmp_path, 3)
    _run("check", str(day), "--ledger", str(ledger), "--record")
    for suffix in ("-wal", "-shm"):
        assert not Path(f"{ledger}{suffix}").exists()  # closed cleanly
    before = ledger.read_bytes()
    ledger.chmod(0o444)
    folder.chmod(0o555)
    try:
        checked = _cli("check", str(day), "--ledger", str(ledger), "--format", "json", prelude=unprivileged)
        assert checked.returncode in (0, 1), checked.stderr
        exported = _cli("ledger", "export", "--ledger", str(ledger), prelude=unprivileged)
        assert exported.returncode == 0, exported.stderr
        assert "DUPONT-JEAN-0001" in exported.stdout
        stats = _cli("ledger", "stats", "--ledger", str(ledger), prelude=unprivileged)
        assert stats.returncode == 0, stats.stderr
        assert sorted(path.name for path in folder.iterdir()) == ["registre.db"]
    finally:
        folder.chmod(0o755)
        ledger.chmod(0o600)
    assert ledger.read_bytes() == before


def test_read_only_open_falls_back_to_immutable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where even the -shm index cannot be created (read-only media), the file is read immutable."""
    ledger = tmp_path / "registre.db"
    _run("check", str(_day(tmp_path, 3)), "--ledger", str(ledger), "--record")
    real_connect = sqlite3.connect
    seen: list[str] = []

    def connect(target, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append(str(target))
        if "mode=ro" in str(target):
            error = sqlite3.OperationalError("unable to open database file")  # what ro media give
            error.sqlite_errorcode = sqlite3.SQLITE_CANTOPEN
            raise error
        return real_connect(target, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    code, output = _run("ledger", "export", "--ledger", str(ledger))
    assert code == 0, output
    assert any("immutable=1" in target for target in seen)


def test_the_corpus_holds_damage_only_the_full_check_sees(tmp_path: Path) -> None:
    """Why ``--record`` waits for the full integrity_check: quick_check misses some of this corpus."""
    base = _base(tmp_path)
    missed = 0
    for path in _damaged_copies(base, tmp_path):
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                quick = db.execute("PRAGMA quick_check(1)").fetchall() == [("ok",)]
        except sqlite3.DatabaseError:
            quick = False
        missed += quick and not _integrity_ok(path)
    assert missed >= 3
