"""Real processes on one ledger: concurrent recordings lose nothing, a SIGKILL in the middle of
``--record`` leaves the ledger as before (or after), never in between. Both back ends."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from billing_rules.ledger import open_ledger

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")]

ROWS = 15000
"""Invoices of the file recorded while killed: enough for a recording that lasts a while."""

HEADER = "invoice_id;date;time;practitioner_id;patient_id;birth_date;codes;mt_status\n"


def write_day(path: Path, prefix: str, count: int, practitioner: str = "10001") -> str:
    lines = [HEADER]
    for number in range(count):
        day = 1 + number * 28 // count  # sorted by date, as exports are
        lines.append(
            f"{prefix}{number:06d};2024-02-{day:02d};{8 + number % 10:02d}:00;{practitioner};"
            f"P{number % 5000:05d};1970-01-01;G;self\n"
        )
    path.write_text("".join(lines), encoding="utf-8")
    return str(path)


def billing_rules(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "billing_rules", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def invoice_count(target: str) -> int:
    ledger = open_ledger(target, create=False)
    try:
        return ledger.stats().invoices
    finally:
        ledger.close()


def consistent(target: str) -> None:
    """Every billed invoice has its code rows and no code row is orphaned (one code G each)."""
    ledger = open_ledger(target, create=False)
    try:
        if target.startswith("postgresql"):
            with ledger._db.cursor() as cursor:  # type: ignore[attr-defined]
                cursor.execute("SELECT count(*) FROM invoices WHERE status = 'billed'")
                billed = cursor.fetchone()[0]
                cursor.execute("SELECT count(*) FROM invoice_codes")
                codes = cursor.fetchone()[0]
        else:
            db = ledger._db  # type: ignore[attr-defined]
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            billed = db.execute("SELECT count(*) FROM invoices WHERE status = 'billed'").fetchone()[0]
            codes = db.execute("SELECT count(*) FROM invoice_codes").fetchone()[0]
        assert billed == codes
    finally:
        ledger.close()


def test_concurrent_recordings_lose_nothing(ledger_target: str, tmp_path: Path) -> None:
    files = [
        [write_day(tmp_path / f"poste{desk}-{part}.csv", f"D{desk}{part}-", 1500) for part in range(2)]
        for desk in range(3)
    ]
    open_ledger(ledger_target).close()  # the schema exists: the processes race on recording
    processes = [
        billing_rules("check", *paths, "--ledger", ledger_target, "--record", "--fail-on", "never")
        for paths in files
    ]
    for process in processes:
        _, err = process.communicate(timeout=180)
        assert process.returncode == 0, err.decode()
        assert b"locked" not in err
    assert invoice_count(ledger_target) == 3 * 2 * 1500
    consistent(ledger_target)


def _writer_active(target: str) -> bool:
    """Whether a billing-rules process is inside a write transaction on the ledger right now."""
    if target.startswith("postgresql"):
        import psycopg

        with psycopg.connect(target, autocommit=True, application_name="ledger-test-probe") as connection:
            row = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'billing-rules' "
                "AND backend_xid IS NOT NULL"
            ).fetchone()
            return bool(row and row[0])
    probe = sqlite3.connect(target, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        return "locked" in str(exc) or "busy" in str(exc)
    finally:
        probe.close()


def test_sigkill_during_record_leaves_ledger_before_or_after(ledger_target: str, tmp_path: Path) -> None:
    base = write_day(tmp_path / "hier.csv", "H-", 200)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "billing_rules",
            "check",
            base,
            "--ledger",
            ledger_target,
            "--record",
            "--fail-on",
            "never",
        ],
        check=True,
        capture_output=True,
    )
    before = invoice_count(ledger_target)
    big = write_day(tmp_path / "jour.csv", "J-", ROWS, practitioner="20002")
    process = billing_rules("check", big, "--ledger", ledger_target, "--record", "--fail-on", "never")
    caught = False
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if _writer_active(ledger_target):
            os.kill(process.pid, signal.SIGKILL)
            caught = True
            break
        time.sleep(0.002)
    process.wait(timeout=60)
    assert caught, "the recording ended before it could be interrupted"
    assert process.returncode == -signal.SIGKILL
    # PostgreSQL rolls back when the client's connection drops; give the server a moment.
    for _ in range(100):
        if not _writer_active(ledger_target):
            break
        time.sleep(0.05)
    after = invoice_count(ledger_target)
    assert after in (before, before + ROWS)
    consistent(ledger_target)
    # And the ledger still works: recording the day again completes.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "billing_rules",
            "check",
            big,
            "--ledger",
            ledger_target,
            "--record",
            "--fail-on",
            "never",
        ],
        capture_output=True,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert invoice_count(ledger_target) == before + ROWS
    consistent(ledger_target)
    summary = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-m",
                "billing_rules",
                "ledger",
                "stats",
                "--ledger",
                ledger_target,
                "--format",
                "json",
            ],
            capture_output=True,
            check=True,
        ).stdout
    )
    assert summary["invoices"] == before + ROWS
