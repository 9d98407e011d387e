"""The invoice table the columnar reader hands to the relational engine: its columns and types.

One row per readable invoice of the input, in input order (``seq``). The relational engine owns
the authoritative list (``billing_rules.engines.relational.table``); this copy is the reader's side
of the contract, so that the reader can be built and tested on its own. Polars types are named by
string here and resolved lazily, so importing this module imports nothing columnar.

Where the contract's types lose information the row engine keeps, an exact companion column is
added: ``time_s`` (seconds since midnight: the row engine orders ``09:30:15`` after ``09:30:05``),
``amount_exact`` (the decimal text of the amount, as ``Event.amount`` holds it: ``30.000``; an
amount finer than the cent is an input error, so ``amount_cents`` is NULL only where the amount
is) and ``km_exact`` (the decimal text of ``km``, as ``Event.km`` holds it: ``7.255`` km has no
whole number of hundredths, and ``km_hundredths`` is then NULL). Each ``*_exact`` column is
filled whenever its value is, so that it alone is the exact value (``Decimal(km_exact) ==
Event.km``) and the integer column is the fast path for the usual values.
"""

from __future__ import annotations

from typing import Any

#: (column, polars type name) in table order.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("seq", "Int64"),
    ("file", "Int32"),
    ("line", "Int64"),
    ("origin", "String"),
    ("invoice_id", "String"),
    ("practitioner_id", "String"),
    ("patient_id", "String"),
    ("specialty", "String"),
    ("sector", "String"),
    ("mt_status", "String"),
    ("place", "String"),
    ("status", "String"),
    ("date", "Date"),
    ("birth_date", "Date"),
    ("discharge_date", "Date"),
    ("time_min", "Int32"),
    ("time_s", "Int32"),
    ("referral_at", "Datetime"),
    ("ald", "Boolean"),
    ("palliative", "Boolean"),
    ("neurodegenerative", "Boolean"),
    ("declares_mt", "Boolean"),
    ("homebound", "Boolean"),
    ("regulated", "Boolean"),
    ("codes", "List[String]"),
    ("amount_cents", "Int64"),
    ("amount_exact", "String"),
    ("km_hundredths", "Int64"),
    ("km_exact", "String"),
    ("extras", "String"),
)

#: The columns that find an invoice given twice (SPEC §1) and word the error: what a sink that
#: holds the table (``TableSink.keys``) gives back of a row the duplicate check asks about.
KEY_COLUMNS = ("seq", "line", "file", "practitioner_id", "invoice_id")

#: Value of ``origin`` for the invoices of the input (the ledger's rows say ``ledger``).
ORIGIN_INPUT = "input"


def polars_schema(columns: tuple[tuple[str, str], ...] = COLUMNS) -> dict[str, Any]:
    """The columns (these, or another table's of the same type names) as a polars schema (imports polars)."""
    import polars as pl

    types: dict[str, Any] = {
        "Int64": pl.Int64,
        "Int32": pl.Int32,
        "String": pl.String,
        "Date": pl.Date,
        "Datetime": pl.Datetime("us"),
        "Boolean": pl.Boolean,
        "List[String]": pl.List(pl.String),
        "Decimal": pl.Decimal(24, 6),  # the engines' exact amounts (a prepared file's)
    }
    return {name: types[kind] for name, kind in columns}
