"""The PostgreSQL ledger (psycopg 3), for a practice server or a vendor hosting many practices.

Same tables and semantics as the SQLite ledger. Differences that matter:

- recording goes through ``COPY`` into a temporary staging table, then one ``INSERT ... ON
  CONFLICT DO UPDATE`` (re-recording replaces) and one set-based insert of the code rows: bulk
  imports run at COPY speed, and the whole file is one transaction;
- migrations take a transaction-scoped advisory lock, so workstations opening a fresh database at
  the same moment apply them once;
- patients and practitioners of a history query are passed as arrays (``= ANY(%s)``), whatever
  their number.

``options=-csearch_path=...`` in the URL puts the ledger in a schema of its own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Iterator
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
from billing_rules.ledger.schema import LATEST, POSTGRES, SCHEMA_TABLE, data_step
from billing_rules.ledger.secrets import driver_reason, public_label, quiet_driver_log
from billing_rules.ledger.sqlite import BUSY_TIMEOUT_SECONDS
from billing_rules.ledger.sqlite_files import busy_message
from billing_rules.model import Event

CHUNK = 20000
"""Rows per COPY batch of a recording (the transaction spans all of them)."""

_SMALL_REQUEST = 64
"""Up to this many patients and practitioners, a history query fetches its rows in one round trip."""

_APPLICATION = "billing-rules"
_LOCK_KEY = 0x6269_6C6C  # advisory lock of the migrations ("bill")

_COLUMN_LIST = ", ".join(COLUMNS)
_MERGE = (
    f"INSERT INTO invoices ({_COLUMN_LIST}, recorded_at) SELECT {_COLUMN_LIST}, now() FROM staging_invoices "
    "ORDER BY practitioner_id, invoice_id "  # one lock order for every writer: no deadlock
    "ON CONFLICT (practitioner_id, invoice_id) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in COLUMNS[2:])
    + ", recorded_at = excluded.recorded_at"
)
_DELETE_CODES = (
    "DELETE FROM invoice_codes AS c USING staging_invoices AS s "
    "WHERE c.practitioner_id = s.practitioner_id AND c.invoice_id = s.invoice_id"
)
_INSERT_CODES = (
    "INSERT INTO invoice_codes (practitioner_id, invoice_id, code, patient_id, date) "
    "SELECT DISTINCT s.practitioner_id, s.invoice_id, c.code, s.patient_id, s.date "
    "FROM staging_invoices AS s, unnest(string_to_array(s.codes, '+')) AS c(code) "
    "WHERE s.status = 'billed' AND c.code <> '' ON CONFLICT DO NOTHING"
)
_SELECT = f"SELECT {_COLUMN_LIST} FROM invoices"
_ORDER = " ORDER BY date, time IS NULL, time, practitioner_id, invoice_id"


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise LedgerError(
            "un registre PostgreSQL demande le module psycopg : pip install 'billing-rules[postgres]'"
        ) from None
    return psycopg


class PostgresLedger:
    """:class:`billing_rules.ledger.Ledger` on a PostgreSQL database."""

    lock_timeout: float = BUSY_TIMEOUT_SECONDS
    """Seconds a statement waits for another session's lock before giving up (as SQLite's ledger)."""

    def __init__(self, url: str, *, create: bool = True, lock_timeout: float | None = None) -> None:
        """``create``: a database without the ledger's tables gets them; otherwise « introuvable »."""
        self.url = url
        self.label = public_label(url)
        if lock_timeout is not None:
            self.lock_timeout = lock_timeout
        self._pg = _psycopg()
        self._db = self._connect()
        self._cache = EventCache()
        self._sql = HistorySql(
            placeholder="%s", in_set=_any, day=_same, billed="status = 'billed'", cache_limit=1 << 30
        )
        try:
            self._migrate(create=create)
        except BaseException:
            self._db.close()
            raise

    def _connect(self) -> Any:
        quiet_driver_log()
        try:
            connection = self._pg.connect(
                self.url, autocommit=True, application_name=_APPLICATION, connect_timeout=10
            )
            return self._session(connection)
        except self._pg.Error as exc:
            # The driver's text may quote the URL or its password: scrubbed of every secret.
            reason = driver_reason(exc, self.url)
        # Raised outside the handler: the driver's exception (and its text) is not even its context.
        raise LedgerError(f"impossible de se connecter au registre {self.label} : {reason}") from None

    def _session(self, connection: Any) -> Any:
        """``connection`` set up: waiting for another session's lock is bounded (``lock_timeout``)."""
        try:
            # Not in the URL's options: that would replace the user's own (``-csearch_path=...``).
            milliseconds = max(int(self.lock_timeout * 1000), 1)
            connection.execute("SELECT set_config('lock_timeout', %s, false)", (f"{milliseconds}ms",))
        except BaseException:
            connection.close()
            raise
        return connection

    # --- plumbing --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except LedgerError:
            raise
        except self._pg.errors.LockNotAvailable:
            message = busy_message(self.label, self.lock_timeout)
        except self._pg.Error as exc:
            message = f"erreur du registre {self.label} : {driver_reason(exc, self.url)}"
        else:
            return
        raise LedgerError(message) from None

    @contextlib.contextmanager
    def _write(self, *, note: bool = True) -> Iterator[Any]:
        with self._guard(), self._db.cursor() as cursor:
            transaction = self._db.transaction()
            transaction.__enter__()
            try:
                yield cursor
            except BaseException as exc:
                transaction.__exit__(type(exc), exc, exc.__traceback__)  # rolls back
                raise
            # The commit and its note with Ctrl-C held: the message must say what was recorded.
            with interrupt.deferred():
                transaction.__exit__(None, None, None)
                if note:
                    interrupt.note_commit(self.label)

    def _version(self, cursor: Any) -> int:
        # Not to_regclass(): it answers from the session's catalog cache, which may not have seen
        # the tables another workstation created while this one waited for the migration lock (it
        # would then create them again and fail). pg_tables is read with the statement's snapshot.
        cursor.execute(
            "SELECT count(*) FILTER (WHERE name = %s), count(*) FILTER (WHERE name <> %s) FROM ("
            "SELECT tablename AS name, schemaname FROM pg_catalog.pg_tables "
            "UNION ALL SELECT viewname, schemaname FROM pg_catalog.pg_views "
            "UNION ALL SELECT matviewname, schemaname FROM pg_catalog.pg_matviews) AS relations "
            "WHERE schemaname = ANY(current_schemas(false)) AND name IN (%s, 'invoices', 'invoice_codes')",
            (SCHEMA_TABLE, SCHEMA_TABLE, SCHEMA_TABLE),
        )
        schema_table, foreign = cursor.fetchone()
        if not schema_table:
            if foreign:  # a table or view of the ledger's names, without the ledger's version table
                raise LedgerError(
                    f"la base {self.label} contient une table « invoices » ou « invoice_codes » d'une "
                    "autre application ; "
                    "utilisez une base ou un schéma (options=-csearch_path=...) dédié"
                )
            return 0
        cursor.execute(f"SELECT max(version) FROM {SCHEMA_TABLE}")
        return int(cursor.fetchone()[0] or 0)

    def _migrate(self, *, create: bool = True) -> None:
        with self._guard(), self._db.cursor() as cursor:
            version = self._version(cursor)
        if version == LATEST:
            return
        if version == 0 and not create:
            # As the SQLite ledger: a read-only use never creates the tables in some database.
            raise LedgerError(
                f"registre introuvable : « {self.label} » (aucune table du registre dans cette base)"
            )
        with self._write(note=False) as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            version = self._version(cursor)
            if version > LATEST:
                raise LedgerError(
                    f"le registre {self.label} a été écrit par une version plus récente de billing-rules "
                    f"(schéma {version}, celle-ci connaît le schéma {LATEST}) : mettez à jour"
                )
            for number in range(version + 1, LATEST + 1):
                for statement in POSTGRES[number]:
                    cursor.execute(statement)
                data_step(number, cursor.execute, placeholder="%s", native=True)
                cursor.execute(
                    f"INSERT INTO {SCHEMA_TABLE} (version, applied_at) VALUES (%s, now())", (number,)
                )

    @property
    def schema_version(self) -> int:
        """The schema version of the database."""
        with self._guard(), self._db.cursor() as cursor:
            return self._version(cursor)

    # --- the Ledger protocol ----------------------------------------------------------------------

    def history(self, request: HistoryRequest) -> Iterator[Event]:
        """See :meth:`billing_rules.ledger.Ledger.history`."""
        statement = self._sql.statement(request)
        if statement is None:
            return
        if len(request.patients) + len(request.practitioners) <= _SMALL_REQUEST:
            # The real-time path (one invoice): one round trip.
            with self._guard(), self._db.cursor() as cursor:
                cursor.execute(*statement)
                rows = cursor.fetchall()
            yield from map(self._cache.event, rows)
            return
        # A whole file's history: a server-side cursor, so it never sits in memory at once.
        with self._guard(), self._db.transaction(), self._db.cursor(name="billing_rules_history") as cursor:
            cursor.itersize = 2000
            cursor.execute(*statement)
            for row in cursor:
                yield from_row(row)

    def copy_rows(
        self, path: str, *, request: HistoryRequest | None = None, end: dt.date | None = None
    ) -> int:
        """Stored rows as a CSV file at ``path`` through ``COPY ... TO STDOUT``: no event, no row in Python.

        Same contract as :meth:`billing_rules.ledger.sqlite.SqliteLedger.copy_rows` (booleans are
        ``t``/``f`` here, dates and times ISO: the session's ``DateStyle`` is set for the copy).
        """
        if request is not None:
            statement = self._sql.statement(request)
            if statement is None:
                return 0
            sql, params = f"SELECT 0, k.* FROM ({statement[0]}) AS k", statement[1]
        else:
            order = _ORDER.removeprefix(" ")
            sql = f"SELECT row_number() OVER ({order}), {_COLUMN_LIST} FROM invoices"
            params = []
            if end is not None:
                sql += " WHERE date <= %s"
                params.append(end)
            sql += _ORDER
        with (
            self._guard(),
            open(path, "wb") as stream,
            self._db.transaction(),
            self._db.cursor() as cursor,
        ):
            cursor.execute("SET LOCAL DateStyle = 'ISO, YMD'")
            cursor.execute("SET LOCAL client_encoding = 'UTF8'")
            with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
                for data in copy:
                    stream.write(data)
            return max(int(cursor.rowcount), 0)

    def record(self, events: Iterable[Event]) -> int:
        """See :meth:`billing_rules.ledger.Ledger.record`."""
        stored = 0
        with self._write() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS staging_invoices ON COMMIT DELETE ROWS AS "
                f"SELECT {_COLUMN_LIST} FROM invoices WITH NO DATA"
            )
            for chunk in chunks(events, CHUNK):
                chunk = unique_last(chunk)
                cursor.execute("DELETE FROM staging_invoices")
                with cursor.copy(f"COPY staging_invoices ({_COLUMN_LIST}) FROM STDIN") as copy:
                    for event in chunk:
                        copy.write_row(to_row(event, native=True))
                # The upsert first: it locks the invoices' rows, waiting for another recording of
                # the same invoices to commit; only then is the code index rewritten, by statements
                # that see that commit. Deleting the codes first would miss the code rows another
                # transaction inserted meanwhile (READ COMMITTED), leaving codes of an old version.
                cursor.execute(_MERGE)
                cursor.execute(_DELETE_CODES)
                cursor.execute(_INSERT_CODES)
                stored += len(chunk)
        return stored

    def events(
        self, *, practitioner_id: str | None = None, start: dt.date | None = None, end: dt.date | None = None
    ) -> Iterator[Event]:
        """See :meth:`billing_rules.ledger.Ledger.events`."""
        where, params = export_filter(practitioner_id, start, end, placeholder="%s", day=lambda value: value)
        # Its own connection and a server-side cursor: the caller may write while iterating, and a
        # million rows never sit in memory at once.
        reader = self._connect()
        try:
            with self._guard(), reader.transaction(), reader.cursor(name="billing_rules_export") as cursor:
                cursor.itersize = 2000
                cursor.execute(_SELECT + where + _ORDER, params)
                for row in cursor:
                    yield from_row(row)
        finally:
            reader.close()

    def forget(self, before: dt.date) -> int:
        """See :meth:`billing_rules.ledger.Ledger.forget`."""
        with self._write() as cursor:
            cursor.execute("DELETE FROM invoice_codes WHERE date < %s", (before,))
            cursor.execute("DELETE FROM invoices WHERE date < %s", (before,))
            return int(cursor.rowcount)

    def stats(self) -> LedgerStats:
        """See :meth:`billing_rules.ledger.Ledger.stats`."""
        with self._write(note=False) as cursor:
            # One snapshot for every figure (READ COMMITTED would take one per statement: totals
            # that are not the sum of the months while another workstation records).
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute(
                "SELECT count(*), count(*) FILTER (WHERE status = 'cancelled'), min(date), max(date) "
                "FROM invoices"
            )
            total, cancelled, first, last = cursor.fetchone()
            cursor.execute(
                "SELECT practitioner_id, to_char(date, 'YYYY-MM'), count(*) FROM invoices "
                "GROUP BY 1, 2 ORDER BY 1, 2"
            )
            per_month = cursor.fetchall()
            version = self._version(cursor)
        return LedgerStats(
            invoices=int(total),
            cancelled=int(cancelled),
            first_date=first,
            last_date=last,
            schema_version=version,
            per_month=tuple((str(p), str(m), int(n)) for p, m, n in per_month),
        )

    def close(self) -> None:
        """See :meth:`billing_rules.ledger.Ledger.close`."""
        self._db.close()

    def __enter__(self) -> PostgresLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _any(column: str, values: frozenset[str]) -> tuple[str, list[Any]]:
    return f"{column} = ANY(%s)", [list(values)]


def _same(day: dt.date) -> dt.date:
    return day
