r"""A damaged ledger: found, read for what it still holds, and how to recover, in French.

SQLite's full integrity check runs beside the check of the input, and a damaged file is read row
range by row range for what survives. A stored text that is not valid UTF-8 is damage too, though
SQLite's check does not see it: ``ledger check`` looks for such texts, reading one fails with the
damaged-ledger message, and the salvage reads it with its bad bytes written ``\xNN``.

The recovery recommended is an export in JSON Lines, which reads back exactly (the CSV export is
for spreadsheets: its protective apostrophes would change the values read back).

The messages name pages, indexes, columns and SQLite's error codes, never a stored value (a
patient id).
"""

from __future__ import annotations

import contextlib
import re
import shlex
import sqlite3
import threading
from pathlib import Path

import attrs

from billing_rules.ledger.common import COLUMNS, from_row
from billing_rules.ledger.protocol import LedgerError
from billing_rules.ledger.sqlite_files import busy_message, french_failure, is_busy, uri
from billing_rules.model import Event


def error_name(exc: sqlite3.Error) -> str:
    """SQLite's error code name (``SQLITE_CORRUPT``...), which never holds a stored value."""
    return str(getattr(exc, "sqlite_errorname", None) or type(exc).__name__)


def is_undecodable(exc: sqlite3.Error) -> bool:
    """True for Python's "Could not decode to UTF-8" error: a stored text that is not UTF-8.

    SQLite stores whatever bytes it is given as TEXT (another program, a manual ``UPDATE``, a bit
    flipped inside a value): its integrity check passes, and only reading the value fails. The
    exception's text quotes the value (it may be a patient id): it is never shown.
    """
    return isinstance(exc, sqlite3.OperationalError) and str(exc).startswith("Could not decode")


#: How to rebuild a ledger from what can be read of it. JSON Lines, not CSV: the CSV export puts an
#: apostrophe before cells starting with = + - @ (spreadsheet protection), so it does not read
#: back exactly (``ledger import`` refuses such cells).
RECOVERY = (
    "Pour récupérer ce qui est lisible, exactement : "
    "billing-rules ledger export --ledger {label} --format jsonl --output sauvegarde.jsonl, puis "
    "billing-rules ledger import sauvegarde.jsonl --ledger nouveau-registre.db "
    "(détail : billing-rules ledger check)"
)


def damaged_message(label: str, *, unreadable: bool = False, undecodable: bool = False) -> str:
    """How to recover from a damaged ledger, in French (``ledger export`` reads what it can).

    ``unreadable``: the file cannot be opened as a ledger at all; ``undecodable``: stored texts
    are not valid UTF-8 (which SQLite's integrity check does not see).
    """
    if unreadable:
        what = (
            f"« {label} » n'est pas un registre billing-rules lisible (fichier endommagé ou d'un autre "
            "format)"
        )
    elif undecodable:
        what = f"registre « {label} » endommagé (des textes enregistrés ne sont pas de l'UTF-8 valide)"
    else:
        what = f"registre « {label} » endommagé (le contrôle d'intégrité de SQLite échoue)"
    return f"{what} : rien n'y a été écrit. {RECOVERY.format(label=shlex.quote(label))}"


def opening_failure(exc: sqlite3.Error, label: str, seconds: float) -> str:
    """The French message of a ledger that could not be opened, for what stopped it.

    Another workstation holding the lock (even an EXCLUSIVE one, which fails the very first
    reading of the schema) is said as such: a practice told its ledger is damaged would rebuild a
    sound one. Then the failures a practice can fix (permissions, full disk), then damage.
    """
    if is_busy(exc):
        return busy_message(label, seconds)
    return french_failure(exc, label) or damaged_message(label, unreadable=True)


def failure(exc: Exception, label: str, seconds: float) -> LedgerError:
    """A failure of a ledger in use as a French :class:`LedgerError` that never names a patient.

    ``seconds``: the busy timeout that ran out, when another workstation held the lock.
    """
    if isinstance(exc, sqlite3.OperationalError):
        if is_undecodable(exc):  # a stored text that is not UTF-8: damage SQLite does not see
            return LedgerError(damaged_message(label, undecodable=True))
        known = french_failure(exc, label)
        if known is not None:
            return LedgerError(known)
        if is_busy(exc):
            return LedgerError(busy_message(label, seconds))
        # SQLite's text may quote a stored value (a patient id it could not decode): never shown.
        return LedgerError(f"erreur du registre « {label} » ({error_name(exc)})")
    if isinstance(exc, sqlite3.ProgrammingError):
        # A misuse (a closed ledger...), not a damaged file: never send staff to rebuild it.
        return LedgerError(
            f"registre « {label} » mal utilisé par le programme ({error_name(exc)}, par exemple "
            "un registre déjà fermé) : le fichier n'est pas en cause"
        )
    # Any other SQLite error, or a stored value that is not what this program wrote: damage,
    # never quoted.
    return LedgerError(damaged_message(label))


def schema_tables(db: sqlite3.Connection, label: str, *, salvaging: bool) -> tuple[set[str], bool]:
    """The file's tables, and whether the schema had to be made writable to read them.

    SQLite refuses a whole file whose header counts more pages than it holds (a truncated copy)
    as "malformed", unless the schema is writable: then it reads the pages that are there. Only
    when ``salvaging`` (``ledger export`` and ``ledger check``: read-only, so nothing can be
    written all the same), which then find the damage and read what is still readable.
    """
    query = "SELECT name FROM sqlite_master WHERE type = 'table'"
    try:
        return {row[0] for row in db.execute(query)}, False
    except sqlite3.DatabaseError as exc:
        if not salvaging or is_busy(exc) or french_failure(exc, label) is not None:
            raise
    db.execute("PRAGMA writable_schema = ON")
    return {row[0] for row in db.execute(query)}, True


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


#: Tables whose texts :func:`undecodable_texts` reads.
_TEXT_TABLES = ("invoices", "invoice_codes")


def undecodable_texts(db: sqlite3.Connection) -> dict[str, int]:
    """``table.column`` -> rows whose text there is not valid UTF-8 (empty when there are none).

    Reads every stored text as bytes (``db.text_factory`` is set to ``bytes`` for the scan and
    restored), about a microsecond per row. Names columns, never values.
    """
    found: dict[str, int] = {}
    tables = {
        table: [str(row[1]) for row in db.execute(f"PRAGMA table_info({table})")] for table in _TEXT_TABLES
    }
    previous = db.text_factory
    db.text_factory = bytes
    try:
        for table, names in tables.items():
            cursor = db.execute(f"SELECT {', '.join(names)} FROM {table}")  # noqa: S608
            while True:
                rows = cursor.fetchmany(5000)
                if not rows:
                    break
                for row in rows:
                    # One decoding per row: NUL separators keep a bad end of one value from
                    # pairing with the start of the next into a valid character.
                    try:
                        b"\0".join(value for value in row if type(value) is bytes).decode("utf-8")
                    except UnicodeDecodeError:
                        for name, value in zip(names, row, strict=True):
                            if type(value) is bytes and not _utf8(value):
                                found[f"{table}.{name}"] = found.get(f"{table}.{name}", 0) + 1
    finally:
        db.text_factory = previous
    return found


def _utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _Transcribed(str):
    """A stored text whose bytes were not all UTF-8, as :func:`_tolerant` wrote it."""

    __slots__ = ()


def _tolerant(value: bytes) -> str:
    r"""A stored text as ``str``; bytes that are not UTF-8 are written ``\xff`` (salvage only)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return _Transcribed(value.decode("utf-8", "backslashreplace"))


@attrs.frozen
class Salvaged:
    r"""What :func:`salvage` could read.

    Attributes:
        events: the invoices read, in storage order.
        lost: rows that could not be read at all (a minimum: unreachable pages are not seen).
        transcribed: invoices read whose texts held bytes that are not UTF-8, written ``\xNN``
            (a patient id so damaged matches no real patient: its windows no longer count it).
    """

    events: list[Event]
    lost: int
    transcribed: int


def salvage(db: sqlite3.Connection, label: str) -> Salvaged:
    r"""What can still be read from a damaged file (see :class:`Salvaged`).

    Reads the table alone (no index: a damaged index must not hide rows), by ranges of row ids;
    a range that fails is read again row by row, and a row that still fails, or whose values are
    not what this program writes, is counted as lost. Rows on a page SQLite no longer reaches
    cannot be seen at all: the count of lost rows is a minimum. In storage order, not by date.

    A text that is not valid UTF-8 (which SQLite's integrity check does not see) is read with its
    bad bytes written ``\xNN``: the invoice keeps its date, codes and practitioner for the
    windows, the text stays importable and tells the original bytes, and the count is reported.
    """
    previous = db.text_factory
    db.text_factory = _tolerant
    try:
        return _salvage(db, label)
    finally:
        db.text_factory = previous


def _last_rowid(db: sqlite3.Connection) -> int | None:
    """The highest row id of the invoices that can still be found, ``None`` when none can.

    The table's own end first. When its last pages are gone (a truncated file), every way to that
    end fails: the indexes hold every row id too, and a forward scan of the table reaches the rows
    before its first missing page; the highest of what they give is taken.
    """
    for sql in (
        "SELECT max(rowid) FROM invoices NOT INDEXED",
        "SELECT rowid FROM invoices NOT INDEXED ORDER BY rowid DESC LIMIT 1",
    ):
        try:
            row = db.execute(sql).fetchone()
        except sqlite3.DatabaseError:
            continue
        return int(row[0] or 0) if row else 0
    found: list[int] = []
    indexes = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'invoices'"
    try:
        names = [str(row[0]) for row in db.execute(indexes)]
    except sqlite3.DatabaseError:
        names = []
    for name in names:
        if not re.fullmatch(r"\w+", name):
            continue  # a damaged schema's name is never put into a statement
        with contextlib.suppress(sqlite3.DatabaseError):
            top = db.execute(f"SELECT max(rowid) FROM invoices INDEXED BY {name}").fetchone()  # noqa: S608
            if top and top[0] is not None:
                found.append(int(top[0]))
    last = None
    with contextlib.suppress(sqlite3.DatabaseError):
        # Row by row: a batch that meets the first missing page is lost whole, rows read included.
        for (rowid,) in db.execute("SELECT rowid FROM invoices NOT INDEXED"):
            last = rowid
    if last is not None:
        found.append(int(last))
    return max(found) if found else None


def _salvage(db: sqlite3.Connection, label: str) -> Salvaged:
    select = f"SELECT {', '.join(COLUMNS)} FROM invoices NOT INDEXED WHERE rowid BETWEEN ? AND ?"
    top = _last_rowid(db)
    if top is None:
        raise LedgerError(damaged_message(label, unreadable=True))
    found: list[Event] = []
    lost = 0
    transcribed = 0

    def read(first: int, last: int) -> None:
        nonlocal lost, transcribed
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
            damaged = any(type(value) is _Transcribed for value in row)
            if damaged:
                row = tuple(str(value) if type(value) is _Transcribed else value for value in row)
            try:
                found.append(from_row(row))
            except (KeyError, ValueError, TypeError, ArithmeticError):
                lost += 1
                continue
            transcribed += damaged

    for first in range(1, top + 1, 1000):
        read(first, min(top, first + 999))
    return Salvaged(found, lost, transcribed)
