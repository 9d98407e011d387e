"""A damaged ledger: found, read for what it still holds, and how to recover, in French.

SQLite's full integrity check runs beside the check of the input, and a damaged file is read row
range by row range for what survives.

The messages name pages, indexes and SQLite's error codes, never a stored value (a patient id).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

from billing_rules.ledger.common import COLUMNS, from_row
from billing_rules.ledger.protocol import LedgerError
from billing_rules.ledger.sqlite_files import uri
from billing_rules.model import Event


def error_name(exc: sqlite3.Error) -> str:
    """SQLite's error code name (``SQLITE_CORRUPT``...), which never holds a stored value."""
    return str(getattr(exc, "sqlite_errorname", None) or type(exc).__name__)


def damaged_message(label: str, *, unreadable: bool = False) -> str:
    """How to recover from a damaged ledger, in French (``ledger export`` reads what it can)."""
    what = (
        f"« {label} » n'est pas un registre billing-rules lisible (fichier endommagé ou d'un autre format)"
        if unreadable
        else f"registre « {label} » endommagé (le contrôle d'intégrité de SQLite échoue)"
    )
    return (
        f"{what} : rien n'y a été écrit. Pour récupérer ce qui est lisible : "
        f"billing-rules ledger export --ledger {label} --output sauvegarde.csv, puis "
        "billing-rules ledger import sauvegarde.csv --ledger nouveau-registre.db "
        "(détail : billing-rules ledger check)"
    )


class IntegrityCheck:
    """SQLite's full ``integrity_check`` of a ledger, in a thread of its own (read-only connection).

    ``quick_check`` (run at opening) misses damage where an index no longer matches its table: a
    third of a corpus of damaged ledgers. The full check reads every index too (about 30 µs per
    invoice), so it runs while the input is being checked (sqlite3 releases the GIL) and the first
    write waits for its verdict: a damaged ledger is never written into.
    """

    def __init__(self, path: Path, *, timeout: float) -> None:
        self._intact: bool | None = None
        self._db = sqlite3.connect(uri(path, "mode=ro"), uri=True, timeout=timeout, check_same_thread=False)
        self._thread = threading.Thread(target=self._run, name="billing-rules-integrity", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._intact = self._db.execute("PRAGMA integrity_check(1)").fetchall() == [("ok",)]
        except sqlite3.OperationalError:
            self._intact = None  # interrupted, or the file could not be read this way: no verdict
        except sqlite3.DatabaseError:
            self._intact = False
        finally:
            self._db.close()

    def result(self) -> bool | None:
        """True if intact, False if damaged, None if no verdict (then quick_check's stands)."""
        self._thread.join()
        return self._intact

    def stop(self) -> None:
        """Abandon the check (the ledger is closed without writing)."""
        if self._thread.is_alive():
            with contextlib.suppress(sqlite3.Error):
                self._db.interrupt()
            self._thread.join()


def salvage(db: sqlite3.Connection, label: str) -> tuple[list[Event], int]:
    """What can still be read from a damaged file: (the invoices, the rows that could not be).

    Reads the table alone (no index: a damaged index must not hide rows), by ranges of row ids;
    a range that fails is read again row by row, and a row that still fails, or whose values are
    not what this program writes, is counted as lost. Rows on a page SQLite no longer reaches
    cannot be seen at all: the count of lost rows is a minimum. In storage order, not by date.
    """
    select = f"SELECT {', '.join(COLUMNS)} FROM invoices NOT INDEXED WHERE rowid BETWEEN ? AND ?"
    try:
        top = db.execute("SELECT max(rowid) FROM invoices NOT INDEXED").fetchone()[0] or 0
    except sqlite3.DatabaseError:
        try:
            top = db.execute("SELECT rowid FROM invoices ORDER BY rowid DESC LIMIT 1").fetchone()
            top = top[0] if top else 0
        except sqlite3.DatabaseError:
            raise LedgerError(damaged_message(label, unreadable=True)) from None
    found: list[Event] = []
    lost = 0

    def read(first: int, last: int) -> None:
        nonlocal lost
        try:
            rows = db.execute(select, (first, last)).fetchall()
        except sqlite3.DatabaseError:
            if first == last:
                lost += 1
                return
            middle = (first + last) // 2
            read(first, middle)
            read(middle + 1, last)
            return
        for row in rows:
            try:
                found.append(from_row(row))
            except (KeyError, ValueError, TypeError, ArithmeticError):
                lost += 1

    for first in range(1, top + 1, 1000):
        read(first, min(top, first + 999))
    return found, lost
