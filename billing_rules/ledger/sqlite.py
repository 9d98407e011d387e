"""The SQLite ledger: one file per practice, shared by its workstations.

- WAL journal: readers (checks) never block the writer (``--record``) nor each other.
- A busy timeout, and every write in ``BEGIN IMMEDIATE``: a writer waits for the other one instead
  of failing with "database is locked" (a deferred transaction that upgrades to a write lock while
  another process writes fails at once, whatever the timeout).
- ``synchronous=FULL``: a recorded day survives a power cut, not only a crash of the process.
- ``secure_delete``: invoices forgotten for retention are overwritten, not left in free pages.
- The file is created owner-only (0600): it holds patient data. SQLite creates the ``-wal`` and
  ``-shm`` files with the database file's permissions.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from billing_rules import interrupt
from billing_rules.ledger.common import (
    COLUMNS,
    EventCache,
    HistorySql,
    chunks,
    export_filter,
    from_row,
    to_row,
    unique_last,
)
from billing_rules.ledger.protocol import HistoryRequest, LedgerError, LedgerStats
from billing_rules.ledger.schema import LATEST, SCHEMA_TABLE, SQLITE, data_step
from billing_rules.ledger.sqlite_damage import (
    IntegrityCheck,
    Salvaged,
    damaged_message,
    error_name,
    failure,
    opening_failure,
    salvage,
    schema_tables,
    undecodable_texts,
)
from billing_rules.ledger.sqlite_files import (
    busy_message,
    french_failure,
    is_busy,
    ledger_file,
    readonly_uri,
    remove_ledger_file,
    remove_private_copy,
)
from billing_rules.model import Event

BUSY_TIMEOUT_SECONDS = 60.0
"""How long a writer waits for another one (a big import holds the lock for a while)."""

CHUNK = 5000
"""Rows per ``executemany`` batch of a recording (the transaction spans all of them)."""

_INLINE_SET = 400
"""Above this many patients (or practitioners), a history query joins a temporary table instead of
listing them in ``IN (...)``."""

_SMALL_REQUEST = 64
"""Up to this many patients and practitioners (the real-time path), rows go through the event cache."""

_UPSERT = (
    f"INSERT INTO invoices ({', '.join(COLUMNS)}, recorded_at) VALUES ({', '.join('?' * len(COLUMNS))}, ?) "
    "ON CONFLICT (practitioner_id, invoice_id) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in COLUMNS[2:])
    + ", recorded_at = excluded.recorded_at"
)
_DELETE_CODES = "DELETE FROM invoice_codes WHERE practitioner_id = ? AND invoice_id = ?"
_INSERT_CODE = (
    "INSERT OR IGNORE INTO invoice_codes (practitioner_id, invoice_id, code, patient_id, date) "
    "VALUES (?, ?, ?, ?, ?)"
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM invoices"
_ORDER = " ORDER BY date, time IS NULL, time, practitioner_id, invoice_id"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _build_new(path: Path) -> None:
    """A new ledger's schema and settings, written into the empty private file at ``path``."""
    SqliteLedger(path, create=False, verify=False, _new=True).close()


class SqliteLedger:
    """:class:`billing_rules.ledger.Ledger` on an SQLite file.

    ``readonly``: nothing will be written (``check`` without ``--record``, ``ledger export`` and
    ``stats``): the file is opened with SQLite's ``mode=ro``, so a ledger on read-only media, or
    in a folder the user cannot write to, can still be read. When even the ``-shm`` index cannot
    be created beside it, the file is opened ``immutable`` (nobody can be writing to it then), or,
    when a ``-wal`` holds invoices, a private copy of both is read (see :func:`readonly_uri`).
    ``verify``: run ``PRAGMA quick_check`` on an existing file before using it, so that a damaged
    ledger is never written into or silently counted from (``ledger export`` skips it: it is the
    way to recover what is readable, and then reads even a file shorter than its header says).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        create: bool = True,
        readonly: bool = False,
        verify: bool = True,
        _new: bool = False,
    ) -> None:
        self.path = Path(path)
        self.label = str(path)
        #: Whether this opening created the file (see :meth:`discard_if_new`).
        self.created = created = ledger_file(self.path, self.label, create=create, new=_new, build=_build_new)
        self.readonly = readonly
        self._uri: str | None = None
        self._copy: Path | None = None  # the private copy read instead (see ``readonly_uri``)
        #: Read-only and unverified (``ledger export``, ``ledger check``): a damaged file is read as
        #: far as it can be; lenient: even one shorter than its header says (see :func:`schema_tables`).
        self._salvaging = readonly and not verify
        self._lenient = False
        self._integrity: IntegrityCheck | None = None
        try:
            self._db = self._connect()
        except sqlite3.Error as exc:
            remove_private_copy(self._copy)
            if is_busy(exc):
                raise LedgerError(busy_message(self.label, BUSY_TIMEOUT_SECONDS)) from None
            known = french_failure(exc, self.label)
            raise LedgerError(known or f"impossible d'ouvrir le registre « {self.label} »") from None
        except BaseException:
            remove_private_copy(self._copy)
            raise
        try:
            if verify and not created and not readonly:
                # The full check (index contents too, which quick_check skips) runs beside the
                # check of the input; the first write waits for its verdict.
                self._integrity = IntegrityCheck(self.path, timeout=BUSY_TIMEOUT_SECONDS)
            self._setup(verify=verify and not created)
        except sqlite3.DatabaseError as exc:
            self.close()
            # Locked by another workstation (even EXCLUSIVE, which fails this first reading) is
            # not damage: the busy message, never the one that sends staff to rebuild the ledger.
            raise LedgerError(opening_failure(exc, self.label, BUSY_TIMEOUT_SECONDS)) from None
        except BaseException:
            self.close()
            raise
        self._cache = EventCache()
        #: The set each temporary ``wanted_*`` table holds (see :meth:`_in_set`).
        self._wanted: dict[str, frozenset[str]] = {}
        self._sql = HistorySql(
            placeholder="?",
            in_set=self._in_set,
            day=dt.date.isoformat,
            billed="status = 'billed'",
            unindexed=lambda column: f"+{column}",
            cache_limit=_INLINE_SET,
        )

    def _connect(self) -> sqlite3.Connection:
        """A connection: read-write, or ``mode=ro`` (``immutable`` on media nobody can write)."""
        # Not bound to the opening thread: a session serialises its calls (a lock), so a server
        # may check from its worker threads; sqlite3 is built thread-safe (serialized mode).
        options: dict[str, Any] = {
            "timeout": BUSY_TIMEOUT_SECONDS,
            "isolation_level": None,
            "check_same_thread": False,
        }
        if not self.readonly:
            return sqlite3.connect(self.path, cached_statements=256, **options)
        if self._uri is None:
            self._uri, self._copy = readonly_uri(self.path, options, self.label)
        db = sqlite3.connect(self._uri, uri=True, cached_statements=256, **options)
        if self._lenient:
            db.execute("PRAGMA writable_schema = ON")  # see ``schema_tables``; read-only all the same
        return db

    # --- opening -------------------------------------------------------------------------------

    def _setup(self, *, verify: bool) -> None:
        db = self._db
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        # Reading the schema first: a foreign or damaged file fails here, before anything is written.
        tables, self._lenient = schema_tables(db, self.label, salvaging=self._salvaging)
        if tables and SCHEMA_TABLE not in tables:
            raise LedgerError(
                f"« {self.label} » est une base SQLite d'une autre application, pas un registre billing-rules"
            )
        if verify:
            problems = db.execute("PRAGMA quick_check(1)").fetchall()
            if problems != [("ok",)]:
                raise LedgerError(damaged_message(self.label))
        if self.readonly:
            if self._version() != LATEST:
                self._upgrade_then_read()
            return
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise LedgerError(f"le registre « {self.label} » ne peut pas passer en mode WAL ({mode})")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA secure_delete = ON")
        # 64 MiB of page cache (default 2 MiB): a big import keeps the index pages it updates in memory.
        db.execute("PRAGMA cache_size = -65536")
        db.execute("PRAGMA foreign_keys = OFF")
        self._migrate()

    def _upgrade_then_read(self) -> None:
        """An older schema opened read-only: migrate it once with a writable connection."""
        try:
            writer = SqliteLedger(self.path, create=False, verify=False)
        except LedgerError:
            raise LedgerError(
                f"le registre « {self.label} » doit être mis à jour (schéma plus ancien) mais ne peut "
                "pas être écrit : ouvrez-le une fois là où il peut l'être"
            ) from None
        writer.close()

    def integrity(self) -> list[str]:
        """SQLite's full ``integrity_check``: an empty list when the file is intact (``ledger check``).

        The messages name pages and indexes, never a stored value.
        """
        try:
            rows = [str(row[0]) for row in self._db.execute("PRAGMA integrity_check(100)")]
        except sqlite3.OperationalError:
            with self._guard():
                raise
        except sqlite3.DatabaseError as exc:  # so damaged that the check itself stops
            return [error_name(exc)]
        return [] if rows == ["ok"] else rows

    def _version(self) -> int:
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if SCHEMA_TABLE not in tables:
            return 0
        row = self._db.execute(f"SELECT max(version) FROM {SCHEMA_TABLE}").fetchone()
        return int(row[0] or 0)

    def _migrate(self, target: int = LATEST) -> None:
        if self._version() == target:
            return
        with self._write(note=False):  # a schema is not a recording
            version = self._version()  # again, inside the lock: another process may have migrated
            if version > LATEST:
                raise LedgerError(
                    f"le registre « {self.label} » a été écrit par une version plus récente de "
                    f"billing-rules (schéma {version}, celle-ci connaît le schéma {LATEST}) : mettez à jour"
                )
            for number in range(version + 1, target + 1):
                for statement in SQLITE[number]:
                    self._db.execute(statement)
                data_step(number, self._db.execute, placeholder="?", native=False)
                self._db.execute(
                    f"INSERT INTO {SCHEMA_TABLE} (version, applied_at) VALUES (?, ?)", (number, _now())
                )

    @property
    def schema_version(self) -> int:
        """The schema version of the file."""
        with self._guard():
            return self._version()

    # --- plumbing --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """SQLite errors as French :class:`LedgerError` (they never name a patient; see :func:`failure`)."""
        try:
            yield
        except LedgerError:
            raise
        except (sqlite3.DatabaseError, KeyError, ValueError, TypeError, ArithmeticError) as exc:
            raise failure(exc, self.label, BUSY_TIMEOUT_SECONDS) from None

    @contextlib.contextmanager
    def _write(self, *, note: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (``IMMEDIATE``) so the busy timeout applies."""
        if self._integrity is not None:
            intact = self._integrity.result()
            if intact is False:
                raise LedgerError(damaged_message(self.label))
            self._integrity = None  # checked once per opening
        with self._guard():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                with interrupt.deferred():  # a Ctrl-C now must not say "nothing was recorded"
                    self._db.execute("COMMIT")
                    if note:
                        interrupt.note_commit(self.label)
            except BaseException:
                # SQLite may already have rolled back by itself (disk full, I/O error): a second
                # ROLLBACK would fail and hide the real error behind "no transaction is active".
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise

    def _in_set(self, column: str, values: frozenset[str]) -> tuple[str, list[Any]]:
        if len(values) <= _INLINE_SET:
            return f"{column} IN ({', '.join('?' * len(values))})", list(values)
        # ``column`` may be written ``+practitioner_id`` (kept off the index): the table is named
        # after the column itself. One statement may name the same set twice (two windows): the
        # table is filled once.
        name = f"wanted_{column.lstrip('+')}"
        if self._wanted.get(name) is not values:
            self._db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} (id TEXT PRIMARY KEY) WITHOUT ROWID")
            self._db.execute(f"DELETE FROM temp.{name}")
            self._db.executemany(
                f"INSERT OR IGNORE INTO temp.{name} (id) VALUES (?)", ((value,) for value in values)
            )
            self._wanted[name] = values
        return f"{column} IN (SELECT id FROM temp.{name})", []

    # --- the Ledger protocol ----------------------------------------------------------------------

    def history(self, request: HistoryRequest) -> Iterator[Event]:
        """See :meth:`billing_rules.ledger.Ledger.history`."""
        with self._guard():
            statement = self._sql.statement(request)
            if statement is None:
                return
            cursor = self._db.execute(*statement)
            small = len(request.patients) + len(request.practitioners) <= _SMALL_REQUEST
            convert = self._cache.event if small else from_row
            while rows := cursor.fetchmany(1000):
                yield from map(convert, rows)

    def history_rows(self, request: HistoryRequest) -> tuple[str, list[Any]] | None:
        """The statement :meth:`history` runs (for ``EXPLAIN QUERY PLAN`` in the tests)."""
        return self._sql.statement(request)

    def copy_rows(
        self, path: str, *, request: HistoryRequest | None = None, end: dt.date | None = None
    ) -> int:
        """Stored rows as a CSV file at ``path``, no event built: the relational engine's bulk read.

        ``request``: the rows :meth:`history` would return; otherwise every invoice dated up to
        ``end``, in the order of ``ledger export``. Each line is the row's rank in that order (0 for
        a history request, which has none) then the :data:`COLUMNS` as stored; NULL is an empty cell.
        """
        with self._guard():
            if request is not None:
                statement = self._sql.statement(request)
                if statement is None:
                    return 0
                sql, params = f"SELECT 0, * FROM ({statement[0]})", statement[1]  # noqa: S608
            else:
                order = _ORDER.removeprefix(" ")
                sql = f"SELECT row_number() OVER ({order}), {', '.join(COLUMNS)} FROM invoices"  # noqa: S608
                params = []
                if end is not None:
                    sql += " WHERE date <= ?"
                    params.append(end.isoformat())
                sql += _ORDER
            cursor = self._db.execute(sql, params)
            count = 0
            with open(path, "w", encoding="utf-8", newline="") as stream:
                write = csv.writer(stream, lineterminator="\n").writerows
                while rows := cursor.fetchmany(5000):
                    write(rows)
                    count += len(rows)
            return count

    def explain(self, sql: str, params: list[Any]) -> list[str]:
        """SQLite's plan of a statement, one line per step."""
        with self._guard():
            return [row[3] for row in self._db.execute(f"EXPLAIN QUERY PLAN {sql}", params)]

    def record(self, events: Iterable[Event]) -> int:
        """See :meth:`billing_rules.ledger.Ledger.record`."""
        stored = 0
        with self._write() as db:
            stamp = _now()
            for chunk in chunks(events, CHUNK):
                chunk = unique_last(chunk)
                db.executemany(_DELETE_CODES, [event.key for event in chunk])
                db.executemany(_UPSERT, [(*to_row(event, native=False), stamp) for event in chunk])
                db.executemany(
                    _INSERT_CODE,
                    [
                        (
                            event.practitioner_id,
                            event.invoice_id,
                            code,
                            event.patient_id,
                            event.date.isoformat(),
                        )
                        for event in chunk
                        if not event.cancelled
                        for code in event.code_set
                    ],
                )
                stored += len(chunk)
        return stored

    def salvage(self) -> Salvaged:
        """What can still be read from a damaged file (see :func:`.sqlite_damage.salvage`)."""
        return salvage(self._db, self.label)

    def undecodable(self) -> dict[str, int]:
        """``table.column`` -> rows whose stored text is not valid UTF-8 (``ledger check``).

        SQLite's integrity check does not look into values; such a text only fails when read.
        Names columns, never values.
        """
        with self._guard():
            return undecodable_texts(self._db)

    def events(
        self, *, practitioner_id: str | None = None, start: dt.date | None = None, end: dt.date | None = None
    ) -> Iterator[Event]:
        """See :meth:`billing_rules.ledger.Ledger.events`."""
        where, params = export_filter(practitioner_id, start, end, placeholder="?", day=dt.date.isoformat)
        # A separate connection: the caller may record while iterating (export into import...).
        with self._guard():
            reader = self._connect()
        try:
            with self._guard():
                cursor = reader.execute("BEGIN")
                cursor = reader.execute(_SELECT + where + _ORDER, params)
                while rows := cursor.fetchmany(2000):
                    yield from map(from_row, rows)
                reader.execute("COMMIT")
        finally:
            reader.close()

    def forget(self, before: dt.date) -> int:
        """See :meth:`billing_rules.ledger.Ledger.forget`."""
        with self._write() as db:
            db.execute("DELETE FROM invoice_codes WHERE date < ?", (before.isoformat(),))
            deleted = db.execute("DELETE FROM invoices WHERE date < ?", (before.isoformat(),)).rowcount
        with self._guard():
            # Old pages of the deleted rows may still sit in the WAL file: copy back and truncate it.
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return deleted

    def stats(self) -> LedgerStats:
        """See :meth:`billing_rules.ledger.Ledger.stats`."""
        with self._guard():
            self._db.execute("BEGIN")
            try:
                total, cancelled, first, last = self._db.execute(
                    "SELECT count(*), coalesce(sum(status = 'cancelled'), 0), min(date), max(date) "
                    "FROM invoices"
                ).fetchone()
                per_month = self._db.execute(
                    "SELECT practitioner_id, substr(date, 1, 7), count(*) FROM invoices "
                    "GROUP BY 1, 2 ORDER BY 1, 2"
                ).fetchall()
                version = self._version()
            finally:
                self._db.execute("COMMIT")
        return LedgerStats(
            invoices=int(total),
            cancelled=int(cancelled),
            first_date=dt.date.fromisoformat(first) if first else None,
            last_date=dt.date.fromisoformat(last) if last else None,
            schema_version=version,
            per_month=tuple((str(p), str(m), int(n)) for p, m, n in per_month),
        )

    def discard_if_new(self) -> bool:
        """Close; delete the file if this opening created it and it holds no invoice (a failed import).

        A file that existed before, or that holds an invoice (another workstation may have recorded
        into it meanwhile), is only closed. Returns whether the file was deleted.
        """
        empty = False
        with contextlib.suppress(LedgerError, sqlite3.Error), self._guard():
            empty = self.created and not self._db.execute("SELECT 1 FROM invoices LIMIT 1").fetchone()
        self.close()
        if empty:
            remove_ledger_file(self.path)
        return empty

    def close(self) -> None:
        """See :meth:`billing_rules.ledger.Ledger.close` (a private copy read instead is removed)."""
        if self._integrity is not None:
            self._integrity.stop()
        self._db.close()
        remove_private_copy(self._copy)
        self._copy = None

    def __enter__(self) -> SqliteLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
