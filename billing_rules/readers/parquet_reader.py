"""Parquet billing files (``.parquet``), for the row engine: the data format at large volumes.

Read by polars (the ``batch`` extra), a slice at a time. Typed columns are first brought to the
values a JSON file would hold (:func:`~billing_rules.readers.columnar.other_sources.
parquet_values`: dates as ``2024-03-04``, booleans and numbers as they are), so Parquet obeys
the same value rules as JSON, and the columnar reader gives exactly the same results. A row's
``line`` is its 1-based number in the file, like a JSON Lines line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import BinaryIO

from billing_rules.readers.base import RawRow

#: The French error when polars is not installed; the same words as the columnar reader's
#: ``MISSING_BATCH`` (a test compares them). Defined here so that this row reader imports only
#: the columnar reader's leaf modules, never its package (which imports the row readers' stream).
MISSING_POLARS = (
    "la lecture en colonnes (et le format Parquet) demande l'extension batch : "
    "pip install 'billing-rules[batch]'"
)


def parquet_footer(path: str) -> tuple[tuple[str, ...], int] | None:
    """A Parquet file's column names and row count, read from its footer alone.

    None when polars is missing or the file is not readable Parquet: the reader then says why, in
    its own words. What decides a check's route (its engine, its reader) without reading the rows.
    """
    try:
        import polars as pl
    except ImportError:
        return None
    try:
        lazy = pl.scan_parquet(path)
        return tuple(lazy.collect_schema().names()), int(lazy.select(pl.len()).collect().item())
    except (pl.exceptions.PolarsError, OSError):
        return None


def parquet_rows(stream: BinaryIO) -> int | None:
    """The rows of the Parquet file ``stream`` reads, from its footer; its position is kept.

    None when polars is missing or the stream is not readable Parquet (its reading says why).
    """
    try:
        import polars as pl
    except ImportError:
        return None
    name = getattr(stream, "name", None)
    if isinstance(name, str) and os.path.isfile(name):
        footer = parquet_footer(name)  # the footer alone, where a stream would be read whole
        return footer[1] if footer is not None else None
    start = stream.tell()
    try:
        return int(pl.scan_parquet(stream).select(pl.len()).collect().item())
    except (pl.exceptions.PolarsError, OSError, ValueError):
        return None
    finally:
        stream.seek(start)


class ParquetReader:
    """The ``parquet`` format (``.parquet``); needs polars (``billing-rules[batch]``)."""

    name = "parquet"
    extensions = (".parquet",)

    def rows(self, stream: BinaryIO, file: str) -> Iterator[RawRow]:
        """Yield one raw row per row of the file, numbered from 1.

        Raises:
            ReadError: polars is not installed, or the file is not Parquet.
        """
        try:
            import polars  # noqa: F401
        except ImportError:
            from billing_rules.errors import ReadError

            raise ReadError(MISSING_POLARS) from None
        from billing_rules.readers.columnar.other_sources import parquet_slices

        return self._rows(parquet_slices(stream, file), file)

    @staticmethod
    def _rows(slices: Iterator[tuple[int, object]], file: str) -> Iterator[RawRow]:
        for start, frame in slices:
            for number, values in enumerate(frame.iter_rows(named=True), start + 1):  # type: ignore[attr-defined]
                yield RawRow(number, values, file)
