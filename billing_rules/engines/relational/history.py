"""The ledger's invoices loaded into the engine's invoice table in bulk, never event by event.

DuckDB cannot attach the ledger itself on an offline machine (its SQLite and PostgreSQL scanners are
extensions it downloads on first use), so the ledger writes the rows it selects to a CSV file in one
statement (SQLite: one ``SELECT`` streamed by the csv module; PostgreSQL: ``COPY ... TO STDOUT``),
as stored, and DuckDB converts them to the table's columns (:data:`STORED_TO_TABLE`). No
:class:`~billing_rules.model.Event` is built for a row that has no finding.

Which rows: the one history request the row engine would make (:func:`history_request`), computed
on the input already in the table: the windows of the loaded rules from the input's first day
(``ever`` windows unbounded, so "at most once per patient" sees the patients' whole history), for
the input's patients and practitioners. The input's copy of an invoice replaces the ledger's: the
plan's base query leaves such ledger rows out.

Ledger rows take negative ``seq`` (they count before the input, SPEC §1), in the order
(date, timed before untimed, time, practitioner, invoice): the order the row engine records them
in (:func:`billing_rules.ledger.common.history_for`), so that a window's first invoice among ties of
one day is the same on both engines.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from typing import Any

from billing_rules import scratch
from billing_rules.dsl.program import CounterSpec
from billing_rules.engines.relational.table import _HISTORY_SEQ, DUCKDB_TYPES, TABLE
from billing_rules.ledger import HistoryRequest
from billing_rules.ledger.common import COLUMNS, InputScope

#: The CSV the ledgers write: the row's rank (0 when it has none), then the stored columns.
STORED = ("n", *COLUMNS)

#: Stored columns that may be NULL; every other one is NOT NULL (an empty cell there is an empty text).
_NULLABLE = frozenset({"time", "amount", "referral_at", "discharge_date", "km", "extra"})

_BOOLEANS = ("ald", "palliative", "neurodegenerative", "declares_mt", "homebound", "regulated")


def _text(name: str) -> str:
    return name if name in _NULLABLE else f"coalesce({name}, '')"


def _boolean(name: str) -> str:
    # SQLite stores 0/1, PostgreSQL's COPY writes t/f.
    return f"(lower({name}) IN ('1', 't', 'true'))"


def stored_to_table(*, origin: str, seq: str, codes: str = "string_split(coalesce(codes, ''), '+')") -> str:
    """The SELECT list turning the stored columns (all text) into the table's, in :data:`SCHEMA` order.

    ``origin`` and ``seq`` are SQL expressions; ``codes`` the list of codes (the simulation leaves
    out codes that do not exist on its day). The conversions are those of
    :func:`billing_rules.engines.relational.table.record_of` on the event the row engine would read.
    """
    clock = "CAST(time AS TIME)"
    seconds = f"(hour({clock}) * 3600 + minute({clock}) * 60 + second({clock}))"
    values = {
        "seq": seq,
        "file": "CAST(NULL AS INTEGER)",
        "line": "CAST(NULL AS BIGINT)",
        "origin": origin,
        "invoice_id": _text("invoice_id"),
        "practitioner_id": _text("practitioner_id"),
        "patient_id": _text("patient_id"),
        "specialty": _text("specialty"),
        "sector": _text("sector"),
        "mt_status": _text("mt_status"),
        "place": _text("place"),
        "status": _text("status"),
        "date": "CAST(date AS DATE)",
        "birth_date": "CAST(birth_date AS DATE)",
        "discharge_date": "CAST(discharge_date AS DATE)",
        "time_min": f"(hour({clock}) * 60 + minute({clock}))",
        "time_s": seconds,
        "referral_at": "CAST(replace(referral_at, 'T', ' ') AS TIMESTAMP)",
        **{name: _boolean(name) for name in _BOOLEANS},
        "codes": codes,
        "amount_cents": "CAST(CAST(amount AS DECIMAL(38,12)) * 100 AS DECIMAL(24,6))",
        "km_hundredths": "CAST(CAST(km AS DECIMAL(38,12)) * 100 AS DECIMAL(24,6))",
        "extras": "extra",
    }
    return ", ".join(f"CAST({values[name]} AS {kind}) AS {name}" for name, kind in DUCKDB_TYPES.items())


def read_stored(path: str) -> str:
    """A ``read_csv`` of a ledger's CSV file (every column as text: the conversions are explicit)."""
    columns = ", ".join(f"'{name}': 'VARCHAR'" for name in STORED)
    escaped = path.replace("'", "''")
    return (
        f"read_csv('{escaped}', header=false, auto_detect=false, delim=',', quote='\"', escape='\"', "
        f"columns={{{columns}}})"
    )


def ledger_order(alias: str = "") -> str:
    """The history's order: date, timed before untimed, time, practitioner, invoice (binary text order)."""
    prefix = f"{alias}." if alias else ""
    return (
        f"{prefix}date, {prefix}time_s IS NULL, {prefix}time_s, {prefix}practitioner_id, {prefix}invoice_id"
    )


def input_scope(con: Any) -> InputScope:
    """Whom and which days the input rows of the table are about (the history request's scope)."""
    scope = InputScope()
    first, last = con.execute(
        f"SELECT min(date), max(date) FROM {TABLE} WHERE origin = 'input'"  # noqa: S608
    ).fetchone()
    scope.first, scope.last = first, last
    for column, found in (("patient_id", scope.patients), ("practitioner_id", scope.practitioners)):
        query = f"SELECT DISTINCT {column} FROM {TABLE} WHERE origin = 'input'"  # noqa: S608
        found.update(row[0] for row in con.execute(query).fetchall())
    return scope


def history_request(con: Any, counters: Iterable[CounterSpec]) -> HistoryRequest | None:
    """The ledger rows the input's windows need, or ``None`` when they need none."""
    request = input_scope(con).request(list(counters))
    if request is None or not request.windows:
        return None
    return request


def bulk_capable(ledger: Any) -> bool:
    """Whether ``ledger`` can write its rows in bulk (the SQLite and PostgreSQL ledgers can)."""
    return callable(getattr(ledger, "copy_rows", None))


def load_history(con: Any, ledger: Any, counters: Iterable[CounterSpec]) -> int:
    """Add the ledger's history of the input already in :data:`TABLE`; returns the rows added."""
    request = history_request(con, counters)
    if request is None:
        return 0
    handle = tempfile.NamedTemporaryFile(suffix=".csv", prefix="ledger-", delete=False, dir=scratch.folder())
    handle.close()
    try:
        if ledger.copy_rows(handle.name, request=request) == 0 and os.path.getsize(handle.name) == 0:
            return 0
        staged = "ledger_rows"
        selected = stored_to_table(origin="'ledger'", seq="0")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {staged} AS SELECT {selected} FROM {read_stored(handle.name)}"  # noqa: S608
        )
        con.execute(
            f"INSERT INTO {TABLE} SELECT * REPLACE ({_HISTORY_SEQ} + row_number() OVER (ORDER BY "  # noqa: S608
            f"{ledger_order()}) AS seq) FROM {staged}"
        )
        added = con.execute(f"SELECT count(*) FROM {staged}").fetchone()[0]  # noqa: S608
        con.execute(f"DROP TABLE {staged}")
        return int(added)
    finally:
        os.unlink(handle.name)


class WithLedger:
    """An input table (:class:`~.table.TableWriter` or :class:`~.table.FrameTable`) plus the ledger's history.

    What :meth:`RelationalChecker.check_table` takes: the input table is created first, then the
    history it needs is asked of the ledger and loaded beside it.
    """

    def __init__(self, inputs: Any, ledger: Any, counters: Iterable[CounterSpec]) -> None:
        self._inputs = inputs
        self._ledger = ledger
        self._counters = list(counters)
        self.history = 0

    @property
    def inputs(self) -> int:
        """Rows of the input."""
        return int(self._inputs.inputs)

    def create(self, con: Any) -> None:
        """Create :data:`TABLE` with the input's rows, then the history's."""
        self._inputs.create(con)
        self.history = load_history(con, self._ledger, self._counters)

    def discard(self) -> None:
        """Drop the input's temporary files (idempotent)."""
        self._inputs.discard()
