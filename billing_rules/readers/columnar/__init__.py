"""Columnar reading: whole input files to one typed invoice table, for the relational engine.

The row readers' results exactly (the same input errors, word for word, the same values, line
numbers and duplicates), at columnar speed: each column's distinct spellings are read once by the
row readers' own parsers, and the rows are mapped in native code (polars). Needs the ``batch``
extra (``pip install 'billing-rules[batch]'``); importing this package imports nothing columnar,
only calling :func:`read_invoice_table` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from billing_rules.readers.columnar.table import ColumnarInput

__all__ = ["MISSING_BATCH", "read_invoice_table", "read_invoices"]

#: The French error when polars is not installed.
MISSING_BATCH = (
    "la lecture en colonnes (et le format Parquet) demande l'extension batch : "
    "pip install 'billing-rules[batch]'"
)


def _require_polars() -> None:
    from billing_rules.errors import ReadError

    try:
        import polars  # noqa: F401
    except ImportError:
        raise ReadError(MISSING_BATCH) from None


def read_invoice_table(paths: Any, input_format: str | None = None, **options: Any) -> Any:
    """``(polars DataFrame, list of InputError, summary.events)``: see :mod:`.table`."""
    _require_polars()
    from billing_rules.readers.columnar.table import read_invoice_table as read

    return read(paths, input_format, **options)


def read_invoices(paths: Any, input_format: str | None = None, **options: Any) -> ColumnarInput:
    """The table, errors, event count and reading notes: see :func:`.table.read_invoices`."""
    _require_polars()
    from billing_rules.readers.columnar.table import read_invoices as read

    return read(paths, input_format, **options)
