"""The invoice table the relational engine scans: one schema, built from events or by a columnar reader.

One row per readable invoice, of the input and of the history (ledger). Columns:

=================  ==================  ==========================================================
column             type                meaning
=================  ==================  ==========================================================
``seq``            BIGINT              global order: ledger rows first (negative), then the input
                                       (files in the order given, then file order)
``file``           INTEGER             index in the list of input files; NULL for the ledger
``line``           BIGINT NULL         the row's line in its file (SPEC §2 ``line``)
``origin``         VARCHAR             ``ledger`` or ``input``
``invoice_id``,    VARCHAR             SPEC §1 text fields, as read
``practitioner_id``,
``patient_id``,
``specialty``
``sector``         VARCHAR             ``1``, ``2``, ``optam``
``mt_status``,     VARCHAR             the SPEC §1 words (``self``, ``domicile``, ``billed``...)
``place``,
``status``
``date``,          DATE                act date, birth date, latest hospital discharge
``birth_date``,
``discharge_date``
``time_min``       INTEGER NULL        act time in minutes since midnight (no TIME type: Spark
                                       has none)
``time_s``         INTEGER NULL        act time in seconds since midnight: what orders the acts
                                       (the row engine orders ``09:30:15`` after ``09:30:05``)
``referral_at``    TIMESTAMP NULL      without time zone (a session zone would shift 48 h
                                       across a DST change)
``ald``...         BOOLEAN             ``ald``, ``palliative``, ``neurodegenerative``,
                                       ``declares_mt``, ``homebound``, ``regulated``
``codes``          VARCHAR[]           the invoice's codes, in file order
``amount_cents``   BIGINT NULL         amount in cents (a DECIMAL is accepted too, for amounts
                                       finer than the cent: the engine casts it to DECIMAL)
``km_hundredths``  BIGINT NULL         kilometres × 100 (a DECIMAL is accepted too, as for amounts)
``extras``         VARCHAR NULL        the extra columns for plugins, as a JSON object
=================  ==================  ==========================================================

DuckDB stores ``origin``, ``sector``, ``mt_status``, ``place`` and ``status`` as ENUMs (:data:`DUCKDB_TYPES`).

Input errors are not rows of this table: they stay :class:`billing_rules.model.InputError` values
of the reader. :func:`load_events` fills the table from the project's own events (the row readers,
the ledger, the API); a columnar reader may build the same table directly.

The ledger's rows are read through Python (``history_for``) and written here with the input's:
DuckDB's SQLite extension is downloaded on first use, which an offline machine cannot do.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import attrs

from billing_rules import scratch
from billing_rules.model import Event, MtStatus, Place, Sector, Status

TABLE = "invoices"

#: Column name -> SQL type, in table order (the contract with the columnar readers).
SCHEMA: dict[str, str] = {
    "seq": "BIGINT",
    "file": "INTEGER",
    "line": "BIGINT",
    "origin": "VARCHAR",
    "invoice_id": "VARCHAR",
    "practitioner_id": "VARCHAR",
    "patient_id": "VARCHAR",
    "specialty": "VARCHAR",
    "sector": "VARCHAR",
    "mt_status": "VARCHAR",
    "place": "VARCHAR",
    "status": "VARCHAR",
    "date": "DATE",
    "birth_date": "DATE",
    "discharge_date": "DATE",
    "time_min": "INTEGER",
    "time_s": "INTEGER",
    "referral_at": "TIMESTAMP",
    "ald": "BOOLEAN",
    "palliative": "BOOLEAN",
    "neurodegenerative": "BOOLEAN",
    "declares_mt": "BOOLEAN",
    "homebound": "BOOLEAN",
    "regulated": "BOOLEAN",
    "codes": "VARCHAR[]",
    "amount_cents": "DECIMAL(24,6)",
    "km_hundredths": "DECIMAL(24,6)",
    "extras": "VARCHAR",
}

_BOOLS = ("ald", "palliative", "neurodegenerative", "declares_mt", "homebound", "regulated")


def _enum(values: Sequence[str]) -> str:
    return "ENUM(" + ", ".join("'" + value.replace("'", "''") + "'" for value in values) + ")"


#: The types DuckDB stores: :data:`SCHEMA`'s, but the closed vocabularies as ENUMs, one byte a row
#: where a text takes sixteen (at 10 M rows, 750 MB less for DuckDB to hold or spill). Queries
#: are unchanged: an ENUM compares with a text, and reads back as one. The empty text is in each
#: vocabulary because a ledger row read back as text turns a missing value into it
#: (``history.stored_to_table``); Spark has no ENUM and keeps the texts.
DUCKDB_TYPES: dict[str, str] = {
    **SCHEMA,
    "origin": _enum(("ledger", "input")),
    "sector": _enum(("", *(member.value for member in Sector))),
    "mt_status": _enum(("", *(member.value for member in MtStatus))),
    "place": _enum(("", *(member.value for member in Place))),
    "status": _enum(("", *(member.value for member in Status))),
}


_TEXT = frozenset(name for name, kind in SCHEMA.items() if kind == "VARCHAR") | {"codes"}
#: Text cells are written with this prefix, so that an empty text is never an empty cell: an empty
#: cell is NULL, whatever the column's type (the staging file is CSV, which has no NULL of its own).
_MARK = "~"


def record_of(event: Event, *, seq: int, origin: str, file: int | None) -> list[Any]:
    """One table row for ``event``, in :data:`SCHEMA` order (text cells marked, NULL as None)."""
    time = event.time
    amount = event.amount
    extra = event.extra
    referral = event.referral_at
    discharge = getattr(event, "discharge_date", None)
    km = getattr(event, "km", None)
    return [
        seq,
        file,
        event.line,
        _MARK + origin,
        _MARK + event.invoice_id,
        _MARK + event.practitioner_id,
        _MARK + event.patient_id,
        _MARK + event.specialty,
        _MARK + event.sector.value,
        _MARK + event.mt_status.value,
        _MARK + event.place.value,
        _MARK + event.status.value,
        event.date.isoformat(),
        event.birth_date.isoformat(),
        None if discharge is None else discharge.isoformat(),
        None if time is None else time.hour * 60 + time.minute,
        None if time is None else time.hour * 3600 + time.minute * 60 + time.second,
        None if referral is None else referral.isoformat(sep=" "),
        event.ald,
        event.palliative,
        event.neurodegenerative,
        event.declares_mt,
        event.homebound,
        event.regulated,
        _MARK + "+".join(event.codes),
        None if amount is None else amount * 100,
        None if km is None else Decimal(km) * 100,
        _MARK + json.dumps(dict(extra), ensure_ascii=False, default=str) if extra else None,
    ]


class TableWriter:
    """Rows written as they come (CSV in a temporary file), then read by DuckDB as one table.

    Input rows first, in input order; history rows may follow (they take negative ``seq``: they
    count before any input row, SPEC §1, whatever their place in the file).
    """

    def __init__(self, files: Sequence[str] = ()) -> None:
        self._files = {name: index for index, name in enumerate(files)}
        self._handle = tempfile.NamedTemporaryFile(
            "w", suffix=".csv", delete=False, encoding="utf-8", newline="", dir=scratch.folder()
        )
        self._write = csv.writer(self._handle, lineterminator="\n").writerow
        self.inputs = 0
        self._history = 0

    def add_input(self, event: Event) -> None:
        """One invoice of the input, after those already added."""
        file = self._files.get(event.file) if event.file is not None else None
        self._write(record_of(event, seq=self.inputs, origin="input", file=file))
        self.inputs += 1

    def add_history(self, event: Event) -> None:
        """One invoice of the history (the ledger, or the API's ``history``)."""
        self._write(record_of(event, seq=_HISTORY_SEQ + self._history, origin="ledger", file=None))
        self._history += 1

    def create(self, con: Any) -> None:
        """Create :data:`TABLE` in the DuckDB connection ``con``, and drop the temporary file."""
        self._handle.close()
        staged = {name: "VARCHAR" if name in _TEXT else kind for name, kind in SCHEMA.items()}
        columns = ", ".join(f"'{name}': '{kind}'" for name, kind in staged.items())
        selected = ", ".join(_unmarked(name) for name in SCHEMA)
        try:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {TABLE} AS SELECT {selected} FROM read_csv(?, header=false, "  # noqa: S608
                f"auto_detect=false, delim=',', quote='\"', escape='\"', columns={{{columns}}})",
                [self._handle.name],
            )
        finally:
            self.discard()

    def discard(self) -> None:
        """Drop the temporary file (idempotent)."""
        self._handle.close()
        try:
            os.unlink(self._handle.name)
        except FileNotFoundError:
            pass


class FrameTable:
    """The columnar reader's table (:mod:`billing_rules.readers.columnar.schema`) as :data:`TABLE`.

    The one place where the reader's columns meet the engine's: the exact companions replace the
    integer columns (``amount_cents`` / ``km_hundredths`` are NULL for a value finer than the cent,
    while ``amount_exact`` / ``km_exact`` always hold the exact decimal text), every other column
    is taken as it is. The frame goes to DuckDB through the Arrow C stream interface, chunk by
    chunk and without a copy in Python (DuckDB reads any object with ``__arrow_c_stream__``;
    handing it the polars frame itself would need pyarrow, which the ``batch`` extra does not bring).
    """

    def __init__(self, frame: Any) -> None:
        self._frame = frame
        self.inputs = frame.height

    def create(self, con: Any) -> None:
        """Create :data:`TABLE` in the DuckDB connection ``con`` from the frame."""
        frame_stream = _ArrowStream(self._frame)
        self._frame = None
        selected = ", ".join(_from_frame(name, kind) for name, kind in DUCKDB_TYPES.items())
        try:
            con.register("frame_stream", frame_stream)
            con.execute(f"CREATE OR REPLACE TEMP TABLE {TABLE} AS SELECT {selected} FROM frame_stream")  # noqa: S608
        finally:
            con.unregister("frame_stream")
            frame_stream.frame = None

    def discard(self) -> None:
        """Let the frame go (idempotent)."""
        self._frame = None


class StreamedTable:
    """:data:`TABLE` filled while the columnar reader reads the input, a few batches at a time.

    ``read`` is :func:`billing_rules.readers.columnar.read_invoices` with everything but its
    ``sink``: the validated batches go into DuckDB through the Arrow C stream as soon as
    :data:`FLUSH_ROWS` rows have come, so no whole-input frame is held and DuckDB may spill what
    does not fit its memory limit. (Not every batch alone: each statement that scans a stream cost
    about 0.2 s of CPU whatever its size, measured on 150 000-row batches.) The invoices found
    repeated at the end of the reading are then deleted. :attr:`read` is the reader's result
    (input errors, events) once :meth:`create` has run.
    """

    #: Rows gathered before they go into DuckDB in one statement.
    FLUSH_ROWS = 2_000_000

    def __init__(self, read: Any) -> None:
        self._read = read
        self.read: Any = None
        self.inputs = 0

    def create(self, con: Any) -> None:
        """Read the input into :data:`TABLE` of the DuckDB connection ``con``."""
        sink = _DuckDbSink(con, self.FLUSH_ROWS)
        self.read = self._read(sink)
        sink.flush()
        if self.read.dropped:
            sink.delete(self.read.dropped)
        self.inputs = self.read.events
        # What served the reader's duplicate check, now done (a hash and a rank a row): not to be
        # held for the rest of the check beside DuckDB's memory limit.
        self.read = attrs.evolve(self.read, table=self.read.table.clear())

    def discard(self) -> None:
        """Nothing is held outside the database."""


class _DuckDbSink:
    """The columnar reader's sink (``TableSink``): its batches into :data:`TABLE`, a few at a time."""

    def __init__(self, con: Any, flush_rows: int) -> None:
        self.con = con
        self.flush_rows = flush_rows
        self.pending: list[Any] = []
        self.created = False

    def __call__(self, frame: Any) -> None:
        self.pending.append(frame)
        if sum(part.height for part in self.pending) >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        """The rows gathered into the table in one statement (which creates it the first time)."""
        import polars as pl

        if not self.pending:
            if self.created:
                return
            from billing_rules.readers.columnar.schema import polars_schema

            self.pending.append(pl.DataFrame(schema=polars_schema()))
        frame = pl.concat(self.pending, rechunk=False) if len(self.pending) > 1 else self.pending[0]
        self.pending.clear()
        selected = ", ".join(_from_frame(name, kind) for name, kind in DUCKDB_TYPES.items())
        if self.created:
            statement = f"INSERT INTO {TABLE} SELECT {selected} FROM frame_stream"  # noqa: S608
        else:
            statement = f"CREATE OR REPLACE TEMP TABLE {TABLE} AS SELECT {selected} FROM frame_stream"  # noqa: S608
        self._with_stream("frame_stream", frame, statement)
        self.created = True

    def keys(self, seqs: Any) -> Any:
        """The key columns of the rows of ``seqs`` (the reader's candidates for a duplicate)."""
        import polars as pl

        from billing_rules.readers.columnar.schema import KEY_COLUMNS

        self.flush()
        wanted = pl.DataFrame({"seq": seqs}, schema={"seq": pl.Int64})
        statement = (
            f"SELECT {', '.join(KEY_COLUMNS)} FROM {TABLE} "  # noqa: S608
            "WHERE seq IN (SELECT seq FROM wanted_stream)"
        )
        return self._with_stream("wanted_stream", wanted, statement, fetch=True)

    def delete(self, seqs: Sequence[int]) -> None:
        """Delete the rows of ``seqs`` (the invoices found repeated at the end of the reading)."""
        import polars as pl

        dropped = pl.DataFrame({"seq": list(seqs)}, schema={"seq": pl.Int64})
        self._with_stream(
            "dropped_stream",
            dropped,
            f"DELETE FROM {TABLE} WHERE seq IN (SELECT seq FROM dropped_stream)",  # noqa: S608
        )

    def _with_stream(self, name: str, frame: Any, statement: str, *, fetch: bool = False) -> Any:
        """Run ``statement``, which reads ``frame`` under ``name``; if ``fetch``, its rows as a frame.

        The rows come back through the Arrow C stream too: a million repeated invoices (a file
        given twice under two names) are asked back in native code, not as Python tuples.
        """
        import polars as pl

        stream = _ArrowStream(frame)
        del frame
        self.con.register(name, stream)
        try:
            if fetch:
                return pl.DataFrame(self.con.sql(statement))
            self.con.execute(statement)
            return None
        finally:
            self.con.unregister(name)
            stream.frame = None


class _ArrowStream:
    """A polars frame seen only through ``__arrow_c_stream__`` (so DuckDB does not ask for pyarrow)."""

    def __init__(self, frame: Any) -> None:
        self.frame = frame

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self.frame.__arrow_c_stream__(requested_schema)


#: Engine column -> the reader's exact column it is computed from (× 100).
_EXACT = {"amount_cents": "amount_exact", "km_hundredths": "km_exact"}


def _from_frame(name: str, kind: str) -> str:
    if name in _EXACT:
        # The integer column when the value is whole cents (almost always: no text to parse), else
        # the exact text × 100 before narrowing to the column's scale, as :func:`record_of` does.
        exact = f"CAST(CAST({_EXACT[name]} AS DECIMAL(38,12)) * 100 AS {kind})"
        return f"CASE WHEN {name} IS NOT NULL THEN CAST({name} AS {kind}) ELSE {exact} END AS {name}"
    return f"CAST({name} AS {kind}) AS {name}"


def _unmarked(name: str) -> str:
    if name == "codes":
        return "string_split(substr(codes, 2), '+') AS codes"
    if name in _TEXT:
        kind = DUCKDB_TYPES[name]
        text = f"substr({name}, 2)"
        return f"CAST({text} AS {kind}) AS {name}" if kind != "VARCHAR" else f"{text} AS {name}"
    return name


#: First ``seq`` of history rows: below any input row's.
_HISTORY_SEQ = -(10**15)


class PreparedTable:
    """A prepared file (:mod:`billing_rules.readers.prepared`) as :data:`TABLE`: read, not validated again.

    The file holds the table as :class:`StreamedTable` or :class:`TableWriter` made it, checked by
    :func:`~billing_rules.readers.prepared.verify` before it is loaded.
    """

    def __init__(self, path: str, events: int) -> None:
        #: The file, which Spark may read itself (it holds what Spark's staging file would).
        self.parquet_path = path
        self.inputs = events

    def create(self, con: Any) -> None:
        """Create :data:`TABLE` in the DuckDB connection ``con`` from the file."""
        selected = ", ".join(f"CAST({name} AS {kind}) AS {name}" for name, kind in DUCKDB_TYPES.items())
        statement = f"CREATE OR REPLACE TEMP TABLE {TABLE} AS SELECT {selected} FROM read_parquet(?)"  # noqa: S608
        con.execute(statement, [self.parquet_path])

    def discard(self) -> None:
        """Nothing is held outside the database."""
