"""JSON Lines of one object per invoice as batches of columns, decoded by polars where they allow it.

A batch polars decoded (:mod:`.json_decode`) becomes the batch the row reader's objects would
make (:func:`.other_sources.objects_batch`): a column of texts stays a column, as do booleans,
lists of texts and numbers of one type (read as Parquet's typed columns are); integers beside
decimals (``30`` beside ``26.5``) become the list of both, each read as its type; the keys that
are no field go to plugins as JSON text. A batch with a number handed to plugins (JSON text
would write ``30`` as ``30.0``) is the row reader's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import polars as pl

from billing_rules.readers.base import RawRow
from billing_rules.readers.columnar.csv_source import Counter
from billing_rules.readers.columnar.json_decode import Decoded, chunks, json_objects
from billing_rules.readers.columnar.validate import Batch
from billing_rules.readers.json_reader import JsonLinesReader
from billing_rules.readers.rows import SPEC_COLUMNS
from billing_rules.readers.values import READ_COLUMNS, REFERRAL_TIME


def json_lines_batches(
    stream: BinaryIO,
    path: str,
    file: int,
    counter: Counter,
    reader: JsonLinesReader,
    size: int,
    slow: Callable[[list[RawRow]], Batch],
) -> Iterator[Batch]:
    """The batches of a JSON Lines file; ``slow`` makes one of the row reader's rows."""
    for chunk in chunks(stream, path, reader, size):
        batch = None if chunk.decoded is None else _columns(chunk.decoded, file, path, counter)
        if batch is None:
            rows = chunk.rows()
            if rows:
                batch = slow(rows)
        if batch is not None:
            yield batch


def _columns(decoded: Decoded, file: int, path: str, counter: Counter) -> Batch | None:
    """The batch of the lines polars decoded; None where the row reader must read them."""
    columns: dict[str, Any] = {}
    extras: list[pl.Series] = []
    for key, kind, name, values in decoded.fields():
        if name not in READ_COLUMNS:  # for plugins
            if kind == "number":
                return None
            extras.append(values)
        elif name == REFERRAL_TIME:  # empty on every line (json_decode): no column of its own
            continue
        elif kind == "text":
            columns[name] = decoded.translated(values)
        elif kind == "number":
            columns[name] = _numbers(values, decoded.integers(key))
        else:  # booleans, lists of texts: read as Parquet's typed columns are
            columns[name] = values
    count = decoded.frame.height
    for name in SPEC_COLUMNS:
        if name not in columns:
            columns[name] = pl.repeat(None, count, dtype=pl.String, eager=True).alias(name)
    extra = json_objects(extras) if extras else None
    return Batch(file, path, counter.take(count), decoded.lines(), columns, extra)


def _numbers(values: pl.Series, integer: pl.Series) -> pl.Series | list[Any]:
    """A number column as the ``json`` module reads it: an integer where written without a point.

    A column of one type stays a column (read as Parquet's typed columns are); integers beside
    floats (``30`` beside ``26.5``) become the list of both, each read as its type.
    """
    if not integer.any():
        return values
    if (integer | values.is_null()).all():
        return values.cast(pl.Int64)
    return [
        int(value) if whole and value is not None else value
        for value, whole in zip(values.to_list(), integer.to_list(), strict=True)
    ]
