"""JSON, JSON Lines and Parquet files as batches of columns.

JSON is parsed by the row readers themselves (:class:`JsonReader`, :class:`JsonLinesReader`: the
same streaming, encodings, line numbers and syntax errors); only the reading of values is done
column-wise. Parquet is read by polars, a slice at a time, its typed columns first brought to the
values JSON would give (:func:`parquet_values`), which the row reader of Parquet uses too.
"""

from __future__ import annotations

import functools
import io
import json
import os
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import polars as pl

from billing_rules.readers.base import RawRow
from billing_rules.readers.columnar.csv_source import Counter
from billing_rules.readers.columnar.json_lines import json_lines_batches
from billing_rules.readers.columnar.validate import Batch
from billing_rules.readers.json_numbers import as_json_value
from billing_rules.readers.json_reader import JsonLinesReader, JsonReader
from billing_rules.readers.lines import Grouped
from billing_rules.readers.rows import KNOWN_COLUMNS, SPEC_COLUMNS
from billing_rules.readers.values import READ_COLUMNS, REFERRAL_TIME

#: The types of a column of JSON values that is plain text (a missing key is None).
_TEXT_OR_NONE = frozenset({str, type(None)})

#: Rows per batch of JSON objects or Parquet rows.
BATCH_ROWS = 50_000


def json_batches(
    stream: BinaryIO,
    path: str,
    file: int,
    counter: Counter,
    lines: bool,
    batch_rows: int | None = None,
    reader: JsonReader | JsonLinesReader | None = None,
) -> Iterator[Batch]:
    """The batches of a JSON array (``lines`` False) or a JSON Lines file.

    ``reader``: the row reader of the check, whose keys and values mapping (SPEC §1b) the objects
    are read through; the built-in one by default.
    """
    if reader is None:
        reader = JsonLinesReader() if lines else JsonReader()
    size = batch_rows or BATCH_ROWS  # the module's value when called (tests make it small)
    if isinstance(reader, JsonLinesReader):
        slow = functools.partial(_json_batch, path=path, file=file, counter=counter)
        yield from json_lines_batches(stream, path, file, counter, reader, size, slow)
        return
    pending: list[RawRow] = []
    for raw in reader.rows(stream, path):
        pending.append(raw)
        if len(pending) == size:
            yield _json_batch(pending, path, file, counter)
            pending = []
    if pending:
        yield _json_batch(pending, path, file, counter)


def _json_batch(raws: list[RawRow], path: str, file: int, counter: Counter) -> Batch:
    return objects_batch(list(zip(counter.take(len(raws)), raws, strict=True)), path, file)


def objects_batch(
    numbered: list[tuple[int, RawRow]],
    path: str,
    file: int,
    grouped: list[tuple[int, Grouped]] | None = None,
    rows_read: int | None = None,
) -> Batch:
    """A batch of rows of native values (JSON objects, Parquet rows, a plugin's), each with its ``seq``.

    ``grouped``: invoices of a per-act file whose lines do not make one, with their errors;
    ``rows_read``: the file's rows the batch stands for, when not one per row (a per-act file).
    """
    seqs: list[int] = []
    line_numbers: list[int | None] = []
    objects: list[dict[str, Any]] = []
    fallback: list[tuple[int, RawRow]] = []
    for seq, raw in numbered:
        if read_alone(raw):
            fallback.append((seq, raw))
        else:
            seqs.append(seq)
            line_numbers.append(raw.line)
            objects.append(raw.values)
    columns: dict[str, Any] = {}
    # Objects to columns by C-level iteration (``map``, ``zip``): a comprehension per column was
    # most of the time of building a batch.
    rows = [tuple(map(values.get, SPEC_COLUMNS)) for values in objects]
    cells = zip(*rows, strict=True) if rows else [()] * len(SPEC_COLUMNS)
    for name, column in zip(SPEC_COLUMNS, cells, strict=True):
        values = list(column)
        if _TEXT_OR_NONE.issuperset(map(type, values)):
            columns[name] = pl.Series(name, values, dtype=pl.String)
        else:
            columns[name] = values
    extras = None
    if any(not values.keys() <= READ_COLUMNS for values in objects):
        extras = pl.Series("extras", [extras_text(values) for values in objects], dtype=pl.String)
    return Batch(file, path, seqs, line_numbers, columns, extras, fallback, grouped or [], rows_read)


def read_alone(raw: RawRow) -> bool:
    """Whether a row of native values is read by the row reader alone, not column-wise.

    A row the format reader found damaged, and one that gives a referral's time alone (the row
    reader combines it with a date, ``rows._referral_with_time``).
    """
    return bool(raw.problems) or raw.values.get(REFERRAL_TIME) not in (None, "")


def extras_text(values: dict[str, Any], read: frozenset[str] = READ_COLUMNS) -> str | None:
    """A row's keys that are not ``read`` (for plugins: ``Event.extra``) as JSON text; None if none.

    Their values as the ``json`` module reads them (:func:`as_json_value`), in the row's order.
    """
    if values.keys() <= read:
        return None
    return json.dumps(
        {key: as_json_value(value) for key, value in values.items() if key not in read},
        ensure_ascii=False,
        default=str,
    )


# --- Parquet --------------------------------------------------------------------------------------


def parquet_values(frame: pl.DataFrame) -> pl.DataFrame:
    """Typed Parquet columns as JSON would hold them: dates, times and decimals as their text.

    Dates become ``2024-03-04``, date-times ``2024-03-04T09:30:00`` (a fraction of a second, or a
    time zone, is written out, and is then an input error: SPEC §1 has neither), times
    ``09:30:00``, decimals their digits; booleans, integers, floats and lists of texts stay as
    they are, as in JSON.
    """
    columns = []
    for name, kind in frame.schema.items():
        column = pl.col(name)
        if kind == pl.Date:
            column = column.dt.to_string("%Y-%m-%d")
        elif isinstance(kind, pl.Datetime):
            fraction = bool((frame[name].dt.microsecond().fill_null(0) != 0).any()) if frame.height else False
            pattern = "%Y-%m-%dT%H:%M:%S" + ("%.6f" if fraction else "") + ("%:z" if kind.time_zone else "")
            column = column.dt.to_string(pattern)
        elif kind == pl.Time:
            column = column.dt.to_string("%H:%M:%S")
        elif isinstance(kind, (pl.Decimal, pl.Categorical, pl.Enum)) or kind == pl.Null:
            column = column.cast(pl.String)
        columns.append(column.alias(name))
    return frame.select(columns)


def parquet_slices(
    source: Any, path: str, batch_rows: int | None = None
) -> Iterator[tuple[int, pl.DataFrame]]:
    """``(first row number, slice)`` of a Parquet file, each slice brought to JSON's values.

    ``source`` is the path or an open binary stream; ``path`` names it in messages.

    Raises:
        ReadError: the file is not Parquet (or cannot be read).
    """
    from billing_rules.errors import ReadError
    from billing_rules.readers.base import file_label
    from billing_rules.readers.prepared import KEY

    try:
        if not isinstance(source, (str, os.PathLike)) and not source.seekable():
            source = io.BytesIO(source.read())  # a pipe: polars reads it whole all the same
        start = None if isinstance(source, (str, os.PathLike)) else source.tell()
        prepared = KEY in pl.read_parquet_metadata(source)
        if start is not None:
            source.seek(start)
        lazy = pl.scan_parquet(source)
        total = lazy.select(pl.len()).collect().item()
    except (pl.exceptions.PolarsError, OSError, ValueError):
        raise ReadError(
            f"{file_label(path)} : pas un fichier Parquet lisible (abîmé ou d'un autre format)"
        ) from None
    if prepared:
        # Its columns are the engine's, not SPEC §1's: read as an ordinary Parquet file, its
        # invoices would lose their amounts and codes without a word. Given by its path, a
        # prepared file is checked as such (``readers.prepared``); on standard input or through a
        # pipe, it is refused.
        raise ReadError(
            f"{file_label(path)} : fichier préparé par billing-rules prepare : donnez son chemin "
            "(billing-rules check FICHIER.parquet), il ne se lit ni sur l'entrée standard ni par un tube"
        )
    size = batch_rows or BATCH_ROWS  # the module's value when called (tests make it small)
    for start in range(0, total, size):
        try:
            frame = lazy.slice(start, size).collect()
        except (pl.exceptions.PolarsError, OSError):
            raise ReadError(
                f"{file_label(path)} : pas un fichier Parquet lisible (abîmé ou d'un autre format)"
            ) from None
        yield start, parquet_values(frame)


def parquet_batches(
    source: Any, path: str, file: int, counter: Counter, batch_rows: int | None = None
) -> Iterator[Batch]:
    """The batches of a Parquet file; ``line`` is the row's 1-based number in the file."""
    for start, frame in parquet_slices(source, path, batch_rows):
        offset = counter.seq - start - 1  # a row's seq: its number plus this
        counter.take(frame.height)
        frame, numbers, held = referral_time_apart(frame, start, path)
        seqs = (numbers + offset).to_list()
        lines = numbers.to_list()
        fallback = [(raw.line + offset, raw) for raw in held if raw.line is not None]
        columns: dict[str, Any] = {name: frame[name] for name in frame.columns if name in KNOWN_COLUMNS}
        extra_names = [name for name in frame.columns if name not in READ_COLUMNS]
        extras = None
        if extra_names:
            extras = frame.select(pl.struct(*extra_names).struct.json_encode()).to_series()
        yield Batch(file, path, seqs, lines, columns, extras, fallback)


def referral_time_apart(
    frame: pl.DataFrame, start: int, path: str
) -> tuple[pl.DataFrame, pl.Series, list[RawRow]]:
    """A Parquet slice without its rows that give a referral's time alone, and those rows apart.

    (the other rows, their 1-based numbers in the file; those rows, as the row reader's). ``start``:
    the slice's first row in the file, from 0. The row reader combines such a time with a date
    (``rows._referral_with_time``): those rows are read by it, the others column-wise.
    """
    numbers = pl.int_range(start + 1, start + 1 + frame.height, dtype=pl.Int64, eager=True)
    if REFERRAL_TIME not in frame.columns:
        return frame, numbers, []
    flags = frame.select(pl.col(REFERRAL_TIME).cast(pl.String).fill_null("") != "").to_series()
    rows = frame.filter(flags).iter_rows(named=True)
    held = [RawRow(line, values, path) for line, values in zip(numbers.filter(flags), rows, strict=True)]
    return frame.filter(~flags), numbers.filter(~flags), held


def opener(path: str) -> Callable[[], BinaryIO]:
    """A function opening ``path`` for reading, afresh at each call."""
    return lambda: open(path, "rb")  # noqa: SIM115 - the caller closes it


def raw_row_batches(raws: Iterator[RawRow], path: str, file: int, counter: Counter) -> Iterator[Batch]:
    """Batches of any reader's raw rows (a plugin's format), read like JSON objects."""
    pending: list[RawRow] = []
    for raw in raws:
        pending.append(raw)
        if len(pending) == BATCH_ROWS:
            yield _json_batch(pending, path, file, counter)
            pending = []
    if pending:
        yield _json_batch(pending, path, file, counter)
