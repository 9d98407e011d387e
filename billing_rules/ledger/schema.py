"""The ledger's schema, as numbered forward migrations for each back end.

A ledger records, in ``billing_rules_schema``, every migration applied to it. Opening a ledger
applies the missing ones in one transaction (never a downgrade: a ledger written by a newer
release is refused rather than damaged). Released migrations are never edited, only appended.

Design of the tables:

- ``invoices``: one row per (practitioner_id, invoice_id), the SPEC §1 columns, cancelled ones
  included (stored as cancelled, exported, counted nowhere).
- ``invoice_codes``: one row per billed code of each *billed* invoice, with the patient,
  practitioner and date copied in, so that every window query (codes × patient or practitioner ×
  days) is a range scan of one covering index. Cancelled invoices have no code rows, which is how
  they are counted nowhere without a filter in every query.

A migration is its statements (``SQLITE[n]``, ``POSTGRES[n]``), then, for the numbers in
:data:`PROMOTED`, a data step both back ends run in the same transaction: extra values named like
a column that a later SPEC added are moved into that column (see :data:`PROMOTED`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from billing_rules.readers.values import read_value

#: The version a fresh ledger is migrated to; a ledger above it was written by a newer release.
LATEST = 4

SCHEMA_TABLE = "billing_rules_schema"

SQLITE: dict[int, tuple[str, ...]] = {
    1: (
        f"CREATE TABLE {SCHEMA_TABLE} (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
        """CREATE TABLE invoices (
            id INTEGER PRIMARY KEY,
            practitioner_id TEXT NOT NULL,
            invoice_id TEXT NOT NULL,
            date TEXT NOT NULL,
            time TEXT,
            specialty TEXT NOT NULL,
            sector TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            birth_date TEXT NOT NULL,
            ald INTEGER NOT NULL,
            palliative INTEGER NOT NULL,
            neurodegenerative INTEGER NOT NULL,
            mt_status TEXT NOT NULL,
            declares_mt INTEGER NOT NULL,
            place TEXT NOT NULL,
            homebound INTEGER NOT NULL,
            codes TEXT NOT NULL,
            amount TEXT,
            regulated INTEGER NOT NULL,
            referral_at TEXT,
            status TEXT NOT NULL CHECK (status IN ('billed', 'cancelled')),
            extra TEXT,
            recorded_at TEXT NOT NULL,
            UNIQUE (practitioner_id, invoice_id)
        )""",
        """CREATE TABLE invoice_codes (
            practitioner_id TEXT NOT NULL,
            invoice_id TEXT NOT NULL,
            code TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            date TEXT NOT NULL,
            PRIMARY KEY (practitioner_id, invoice_id, code)
        ) WITHOUT ROWID""",
    ),
    # The window queries (measured with EXPLAIN QUERY PLAN in tests/test_ledger_sql.py): per code and
    # patient (IMT, VL, GL, consultations), per code and practitioner (SNP of the week), and per
    # patient for counters without an ``on`` clause.
    2: (
        "CREATE INDEX invoice_codes_by_patient ON invoice_codes (code, patient_id, date)",
        "CREATE INDEX invoice_codes_by_practitioner ON invoice_codes (code, practitioner_id, date)",
        "CREATE INDEX invoices_by_patient ON invoices (patient_id, date)",
    ),
    # SPEC §1 gained two optional columns in 2026: the latest hospital discharge (GL1) and the
    # kilometres billed as IK. Older rows have neither, which is what NULL says.
    3: (
        "ALTER TABLE invoices ADD COLUMN discharge_date TEXT",
        "ALTER TABLE invoices ADD COLUMN km TEXT",
    ),
    # No statement: the data step of PROMOTED[4].
    4: (),
}

POSTGRES: dict[int, tuple[str, ...]] = {
    1: (
        f"CREATE TABLE {SCHEMA_TABLE} (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)",
        """CREATE TABLE invoices (
            id BIGSERIAL PRIMARY KEY,
            practitioner_id TEXT NOT NULL,
            invoice_id TEXT NOT NULL,
            date DATE NOT NULL,
            time TIME,
            specialty TEXT NOT NULL,
            sector TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            birth_date DATE NOT NULL,
            ald BOOLEAN NOT NULL,
            palliative BOOLEAN NOT NULL,
            neurodegenerative BOOLEAN NOT NULL,
            mt_status TEXT NOT NULL,
            declares_mt BOOLEAN NOT NULL,
            place TEXT NOT NULL,
            homebound BOOLEAN NOT NULL,
            codes TEXT NOT NULL,
            amount NUMERIC,
            regulated BOOLEAN NOT NULL,
            referral_at TIMESTAMP,
            status TEXT NOT NULL CHECK (status IN ('billed', 'cancelled')),
            extra TEXT,
            recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            UNIQUE (practitioner_id, invoice_id)
        )""",
        """CREATE TABLE invoice_codes (
            practitioner_id TEXT NOT NULL,
            invoice_id TEXT NOT NULL,
            code TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            date DATE NOT NULL,
            PRIMARY KEY (practitioner_id, invoice_id, code)
        )""",
    ),
    2: (
        "CREATE INDEX invoice_codes_by_patient ON invoice_codes (code, patient_id, date)",
        "CREATE INDEX invoice_codes_by_practitioner ON invoice_codes (code, practitioner_id, date)",
        "CREATE INDEX invoices_by_patient ON invoices (patient_id, date)",
    ),
    3: (
        "ALTER TABLE invoices ADD COLUMN discharge_date DATE",
        "ALTER TABLE invoices ADD COLUMN km NUMERIC",
    ),
    4: (),
}

#: The data step of a migration: the stored columns whose name an older release kept as an extra
#: column (in ``invoices.extra``), and whose extra values are moved into the column.
#:
#: Migration 3 added ``discharge_date`` and ``km`` but left a v1/v2 row's extra values of those
#: names where they were: hidden behind the empty column (``ledger export`` wrote the name twice,
#: or dropped the value). Migration 4 moves them, on ledgers migrated through 3 as on older ones,
#: with :func:`promote_extra`'s rules. In short, no value is lost:
#:
#: - a value the reader reads today (``2026-01-01``, ``01/01/2026``, ``12,5``, a JSON number) goes
#:   into the empty column, stored as a recorded invoice's would be, and leaves the extras;
#: - a value equal to the column's, or blank, leaves the extras (nothing to keep);
#: - anything else stays in the extras as it is: a value the reader refuses (``hier``), or one
#:   that differs from a column already set (the column wins: it is what the rules have counted,
#:   and what ``ledger export`` writes). Never guessed, never dropped.
PROMOTED: dict[int, tuple[str, ...]] = {
    4: ("discharge_date", "km"),
}


# --------------------------------------------------------------------------------------------------
# The data steps


def data_step(number: int, execute: Callable[..., Any], *, placeholder: str, native: bool) -> int:
    """Run the data step of migration ``number``, if it has one; the rows it changed.

    ``execute(sql, params)`` runs one statement in the migration's transaction and returns a
    cursor (both drivers' ``execute``); ``placeholder`` is the driver's parameter mark; ``native``:
    dates and decimals are stored as Python values (PostgreSQL), else as ISO and decimal text
    (SQLite), as :func:`billing_rules.ledger.common.to_row` stores them.
    """
    columns = PROMOTED.get(number)
    if columns is None:
        return 0
    ph = placeholder
    # Rows are read by ranges of id, only those whose extras may name a column (LIKE is a
    # superset: "_" matches any character), so a ledger without such extras is one quick scan.
    maybe = " OR ".join(f"extra LIKE {ph}" for _ in columns)
    select = (
        f"SELECT id, extra, {', '.join(columns)} FROM invoices WHERE id > {ph} AND ({maybe}) "  # noqa: S608
        "ORDER BY id LIMIT 2000"
    )
    patterns = [f'%"{column}"%' for column in columns]
    changed = last = 0
    while rows := execute(select, [last, *patterns]).fetchall():
        for row in rows:
            last = row[0]
            promoted = promote_extra(row[1], dict(zip(columns, row[2:], strict=True)), columns)
            if promoted is None:
                continue
            values, text = promoted
            stored = [value if native else _as_text(value) for value in values.values()]
            assignments = ", ".join([f"extra = {ph}", *(f"{column} = {ph}" for column in values)])
            execute(f"UPDATE invoices SET {assignments} WHERE id = {ph}", [text, *stored, last])  # noqa: S608
            changed += 1
    return changed


def _as_text(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


#: A stored value of a promoted column as the reader's Python value (either back end's type).
_STORED_AS: dict[str, Callable[[Any], Any]] = {
    "discharge_date": lambda value: value if isinstance(value, dt.date) else dt.date.fromisoformat(value),
    "km": lambda value: value if isinstance(value, Decimal) else Decimal(value),
}


def promote_extra(
    extra: str | None, stored: dict[str, Any], columns: Iterable[str]
) -> tuple[dict[str, Any], str | None] | None:
    """What a data step changes in one row, ``None`` when nothing.

    ``extra`` is the row's stored extras (JSON text), ``stored`` its values of ``columns`` (as
    either back end stores them). Returns the values to write into empty columns (the reader's
    Python values: ``date``, ``Decimal``) and the new extras text (``None`` when none are left).

    No value is lost (see :data:`PROMOTED`): an extra value of a column's name leaves the extras
    only when the column then holds it (moved into an empty column, or equal to the column's
    value) or when it is blank; a value the reader refuses, or one that differs from a column
    already set, stays in the extras as it is.
    """
    if not extra:
        return None
    try:
        values = json.loads(extra)
    except ValueError:
        return None  # not a text this program wrote: left as it is
    if not isinstance(values, dict):
        return None
    changes: dict[str, Any] = {}
    dropped = False
    for column in columns:
        if column not in values:
            continue
        try:
            parsed, error = read_value(column, values[column])
        except Exception:  # noqa: BLE001 - a value of a shape no reader gives: kept as it is
            continue
        if error is not None:
            continue
        current = stored.get(column)
        if parsed is not None and current is not None:
            try:
                same = _STORED_AS[column](current) == parsed
            except (ValueError, ArithmeticError):
                same = False
            if not same:
                continue  # the column wins; the other value stays in the extras
        elif parsed is not None:
            changes[column] = parsed
        del values[column]
        dropped = True
    if not dropped:
        return None
    text = json.dumps(values, ensure_ascii=False, sort_keys=True, default=str) if values else None
    return changes, text
