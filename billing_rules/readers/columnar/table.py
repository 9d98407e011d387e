"""Input files to one invoice table and the input errors, as the row readers would give them.

The files are read in the order given, batch after batch (:mod:`.csv_source`,
:mod:`.other_sources`), each batch validated column-wise (:mod:`.validate`). What no single batch
can know is settled at the end, over the whole input: an invoice (``practitioner_id``,
``invoice_id``) already seen earlier, readable row or not (SPEC §1), becomes an input error on its
row and leaves the table. Only keys seen twice come back to Python, to be worded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, BinaryIO, Protocol

import attrs
import polars as pl

from billing_rules.model import InputError
from billing_rules.readers.columnar.csv_source import Counter, csv_batches, csv_header
from billing_rules.readers.columnar.grouped_rows import grouped_batches, per_act_rows
from billing_rules.readers.columnar.json_per_act import per_act_json_batches
from billing_rules.readers.columnar.other_sources import json_batches, opener, parquet_batches
from billing_rules.readers.columnar.per_act import native_per_act, parquet_per_act_batches, per_act_batches
from billing_rules.readers.columnar.prefetch import Prefetched
from billing_rules.readers.columnar.schema import KEY_COLUMNS, polars_schema
from billing_rules.readers.columnar.validate import Batch, Located, read_batch
from billing_rules.readers.columns import CODE
from billing_rules.readers.csv_reader import CsvReader
from billing_rules.readers.json_reader import JsonLinesReader, JsonReader
from billing_rules.readers.parquet_reader import ParquetReader
from billing_rules.readers.stream import STDIN, _duplicate_message, _open_failure, reader_for

#: Rank of a duplicate's error among its row's errors: after every other.
_DUPLICATE_RANK = 1 << 20


class TableSink(Protocol):
    """Where validated batches go when no whole-input table is held (the engine's own table)."""

    def __call__(self, frame: pl.DataFrame) -> None:
        """Take one batch's rows (every column of :mod:`.schema`), in input order."""

    def keys(self, seqs: pl.Series) -> pl.DataFrame:
        """The key columns of the rows taken so far whose ``seq`` is one of ``seqs``, in any order.

        Asked once, at the end of the reading, for the few rows whose invoice's hash was seen
        twice: the sink holds their texts, which the reader then need not keep for every row.
        """


@attrs.frozen
class ColumnarInput:
    """What :func:`read_invoices` read.

    Attributes:
        table: one row per readable invoice, in input order (columns: :mod:`.schema`).
        input_errors: the row readers' input errors, in their order.
        events: SPEC §2 ``summary.events`` (readable rows, duplicates excluded).
        files: the paths as given (``table.file`` indexes them).
        notes: how the input was read, for the log (chunks split by the csv module...).
        dropped: ``seq`` of the rows handed to a ``sink`` that turned out to repeat an earlier
            invoice: the sink's owner deletes them (without a sink they are already out of ``table``).
    """

    table: pl.DataFrame
    input_errors: list[InputError]
    events: int
    files: tuple[str, ...]
    notes: tuple[str, ...] = ()
    dropped: tuple[int, ...] = ()


def read_invoice_table(
    paths: Sequence[str], input_format: str | None = None, *, stdin: BinaryIO | None = None
) -> tuple[pl.DataFrame, list[InputError], int]:
    """``(table, input errors, summary.events)`` of the input files; see :func:`read_invoices`."""
    result = read_invoices(paths, input_format, stdin=stdin)
    return result.table, result.input_errors, result.events


def read_invoices(
    paths: Sequence[str],
    input_format: str | None = None,
    *,
    stdin: BinaryIO | None = None,
    readers: Mapping[str, Any] | None = None,
    sink: TableSink | None = None,
    counting: Any = None,
) -> ColumnarInput:
    """Read every input file into one table, with exactly the row readers' input errors.

    Args:
        paths: files in input order; ``-`` is standard input (spooled to a temporary file).
        input_format: ``--input-format`` (``csv``, ``json``, ``jsonl``, ``parquet``); else extensions.
        stdin: what ``-`` reads (default ``sys.stdin.buffer``).
        readers: the formats by name, when plugins add some; a format the columnar reader does
            not know is read by its own reader's rows, then validated column-wise.
        sink: called with each batch's rows as soon as they are validated, in input order (the
            engine's table is filled as the files are read, and no whole-input frame is held);
            ``table`` then holds only each row's ``seq`` and the hash of its invoice's key
            (``key_hash``), and ``dropped`` the rows the sink must delete. The few rows whose hash
            is seen twice are asked back from the sink (:meth:`TableSink.keys`) to be compared
            and worded: 16 bytes a row held, where the key's texts took some 65 (0.65 GB at 10 M).
        counting: what counts the bytes and rows read, for a progress line: its ``counted(stream)``
            wraps each file's byte stream, its ``advance(rows=n)`` hears of each batch.

    Raises:
        ReadError: an unreadable file, as the row readers raise it.
    """
    from billing_rules.readers.stream import BUILTIN_READERS

    available = dict(readers) if readers is not None else dict(BUILTIN_READERS)
    formats = [reader_for(path, input_format, available) for path in paths]
    counter = Counter()
    tables: list[pl.DataFrame] = []
    errors: list[Located] = []
    keys: list[pl.DataFrame] = []
    spooled = None
    try:
        for index, (path, reader) in enumerate(zip(paths, formats, strict=True)):
            if path == STDIN:
                spooled = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115
                shutil.copyfileobj(stdin if stdin is not None else sys.stdin.buffer, spooled)
                open_stream = _reopen(spooled)
            else:
                open_stream = _checked_opener(path)
            advance = None
            uncounted = open_stream
            if counting is not None:
                open_stream, advance = _counted(open_stream, counting, reader, path)
            with _cut(reader, _batches(reader, open_stream, path, index, counter, uncounted)) as batches:
                _read_batches(batches, index, sink, tables, errors, keys, advance)
    finally:
        if spooled is not None:
            spooled.close()
    if tables:
        table = pl.concat(tables, rechunk=False)
    else:
        table = pl.DataFrame(schema=polars_schema())
        if sink is not None:
            sink(table)
            table = table.select(_KEYED)
    rows_of: Callable[[pl.Series], pl.DataFrame]
    if sink is None:
        hashes, rows_of = table.select(_KEYED), _rows_among(table)
    else:
        hashes, rows_of = table, sink.keys
    repeated, duplicates = _duplicates(hashes, keys, list(paths), rows_of)
    dropped: tuple[int, ...] = ()
    if repeated.len():
        drop = pl.col("seq").is_in(repeated.implode())
        if sink is not None:
            dropped = tuple(table.filter(drop)["seq"].to_list())
        table = table.filter(~drop)
    errors += duplicates
    errors.sort(key=lambda located: (located[0], located[1]))
    notes = ()
    if counter.csv_chunks:
        total = counter.csv_chunks + counter.fast_chunks
        notes = (
            f"lecture en colonnes : {counter.csv_chunks} bloc(s) CSV sur {total} découpé(s) par le module "
            "csv (guillemets, lignes irrégulières ou octets illisibles)",
        )
    return ColumnarInput(table, [error for _, _, error in errors], table.height, tuple(paths), notes, dropped)


def _read_batches(
    batches: Iterable[Batch],
    index: int,
    sink: TableSink | None,
    tables: list[pl.DataFrame],
    errors: list[Located],
    keys: list[pl.DataFrame],
    advance: Callable[[int], None] | None = None,
) -> None:
    """Validate one file's batches in order: rows to ``sink`` (or ``tables``), errors to ``errors``."""
    for batch in batches:
        result = read_batch(batch)
        if advance is not None:
            advance(batch.read)
        if sink is not None:
            sink(result.table)
            tables.append(result.table.select(_KEYED).rechunk())
        else:
            # Its own buffers: a slice of the batch's text columns would keep them all alive.
            tables.append(result.table.rechunk())
        errors += result.errors
        if result.error_keys:
            keys.append(
                pl.DataFrame(
                    result.error_keys,
                    schema={
                        "seq": pl.Int64,
                        "line": pl.Int64,
                        "practitioner_id": pl.String,
                        "invoice_id": pl.String,
                    },
                    orient="row",
                ).with_columns(pl.lit(index, dtype=pl.Int32).alias("file"))
            )


def _cut(reader: Any, batches: Iterator[Batch]) -> Any:
    """The batches of one file, cut ahead by a thread where that pays.

    CSV, Parquet and JSON Lines are cut in native code that releases the GIL (JSON Lines decoded
    by polars, :mod:`.json_decode`): a thread cuts the next batch while this one is validated
    (1 M JSON Lines invoices: a whole check in 6.8-7.0 s, against 8.1 s one after the other). A
    JSON array and a plugin's rows are parsed in Python, which holds the GIL: a thread parsing
    beside the validation made each of its many short polars calls wait for the GIL (a whole
    check of 1 M JSON Lines invoices parsed so: 16.8-17.1 s against 15.1-15.4 s). JSON Lines
    that polars cannot decode are parsed so too, yet they did not lose by the thread when
    measured: a per-act file of 1.1 M lines 21.8-22.1 s against 22.8 s, 1 M invoices whose every
    line holds a nested object 26.4-26.7 s against 27.0-27.2 s.
    """
    if isinstance(reader, (CsvReader, ParquetReader, JsonLinesReader)):
        return Prefetched(batches)
    return contextlib.closing(batches)


def _batches(
    reader: Any,
    open_stream: Callable[[], BinaryIO],
    path: str,
    index: int,
    counter: Counter,
    first_pass: Callable[[], BinaryIO] | None = None,
) -> Iterator[Batch]:
    # The built-in formats, configured or not (their ``[columns]`` and ``[values]`` mapping is
    # the reader's own, and the batches read through it); any other reader by its rows.
    # ``first_pass``: the file opened without the progress line's counting (a look ahead, or the
    # first of two readings of a per-act file); ``open_stream`` by default.
    first_pass = first_pass or open_stream
    try:
        if isinstance(reader, CsvReader):
            header = csv_header(open_stream, path, reader)
            if header.resolution.per_act:  # one line per act: grouped into invoices first
                yield from per_act_batches(open_stream, header, path, index, counter)
            else:
                yield from csv_batches(open_stream, path, index, counter, header=header)
        elif isinstance(reader, ParquetReader):
            schema = _parquet_schema(path, first_pass)
            if native_per_act(schema):  # one row per act, its key and code as texts: column-wise
                with open_stream() as stream:
                    yield from parquet_per_act_batches(stream, path, index, counter)
            elif CODE in schema:  # one row per act otherwise written: the row readers group it
                yield from grouped_batches(reader, open_stream, first_pass, path, index, counter)
            else:
                with open_stream() as stream:
                    yield from parquet_batches(stream, path, index, counter)
        elif isinstance(reader, (JsonReader, JsonLinesReader)):
            if per_act_rows(reader, first_pass, path):  # one row per act
                yield from per_act_json_batches(reader, open_stream, first_pass, path, index, counter)
            else:
                lines = isinstance(reader, JsonLinesReader)
                with open_stream() as stream:
                    yield from json_batches(stream, path, index, counter, lines=lines, reader=reader)
        else:  # a plugin's format: its rows, validated column-wise
            from billing_rules.readers.columnar.other_sources import raw_row_batches

            with open_stream() as stream:
                yield from raw_row_batches(reader.rows(stream, path), path, index, counter)
    except OSError as exc:
        from billing_rules.errors import ReadError
        from billing_rules.readers.base import file_label

        reason = exc.strerror or type(exc).__name__
        raise ReadError(f"{file_label(path)} : lecture interrompue ({reason})") from None


def _parquet_schema(path: str, open_stream: Callable[[], BinaryIO]) -> dict[str, pl.DataType]:
    """A Parquet file's columns and their types, from its footer; none when it cannot be read.

    A file of one row per act has a ``code`` column (the row readers decide on its first row's
    keys, which are all the columns). Read by its path where it has one: from a stream, polars
    reads the whole file for its footer.
    """
    try:
        if path != STDIN and os.path.isfile(path):
            return dict(pl.read_parquet_schema(path))
        with open_stream() as stream:
            return dict(pl.read_parquet_schema(stream))
    except (pl.exceptions.PolarsError, OSError, ValueError):
        return {}  # its reading says why


def _counted(
    open_stream: Callable[[], BinaryIO], counting: Any, reader: Any, path: str
) -> tuple[Callable[[], BinaryIO], Callable[[int], None]]:
    """One file's opener whose streams count their bytes, and what hears of each batch's rows.

    Parquet is read by polars from the file itself (its footer says where), not through the
    stream: each batch then counts its share of the file's bytes.
    """
    if not isinstance(reader, ParquetReader) or path == STDIN:
        return (lambda: counting.counted(open_stream())), (lambda rows: counting.advance(rows=rows))
    from billing_rules.readers.parquet_reader import parquet_footer

    footer = parquet_footer(path)
    per_row = os.path.getsize(path) / footer[1] if footer is not None and footer[1] else 0.0
    return open_stream, (lambda rows: counting.advance(rows=rows, size=int(rows * per_row)))


def _checked_opener(path: str) -> Callable[[], BinaryIO]:
    try:
        open(path, "rb").close()
    except OSError as exc:
        raise _open_failure(path, exc) from None
    return opener(path)


class _Unclosed:
    """A spooled standard input, handed out again and again (closing it only rewinds)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __enter__(self) -> Any:
        self._stream.seek(0)
        return self._stream

    def __exit__(self, *exc: object) -> None:
        self._stream.seek(0)

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)  # type: ignore[no-any-return]


def _reopen(spooled: Any) -> Callable[[], Any]:
    return lambda: _Unclosed(spooled)


#: The key columns' types, as the reader writes them (a sink's answer is cast to them).
_KEY_TYPES = {name: kind for name, kind in polars_schema().items() if name in KEY_COLUMNS}
#: A 64-bit hash of a row's invoice (NULL without an invoice number): what is held of every row
#: until the end of the reading, where the texts themselves took four times as much.
_KEY_HASH = (
    pl.when(pl.col("invoice_id").is_not_null())
    .then(pl.struct("practitioner_id", "invoice_id").hash())
    .alias("key_hash")
)
#: What the duplicate check holds of each row of the table.
_KEYED = ("seq", _KEY_HASH)


def _rows_among(table: pl.DataFrame) -> Callable[[pl.Series], pl.DataFrame]:
    """What a sink's ``keys`` answers, when the reading holds the whole table itself."""

    def rows(seqs: pl.Series) -> pl.DataFrame:
        return table.filter(pl.col("seq").is_in(seqs.implode()))

    return rows


def _duplicates(
    hashes: pl.DataFrame,
    error_keys: list[pl.DataFrame],
    paths: list[str],
    rows_of: Callable[[pl.Series], pl.DataFrame],
) -> tuple[pl.Series, list[Located]]:
    """The ``seq`` of the rows whose invoice was seen earlier in the input, and their errors.

    ``hashes``: ``seq`` and ``key_hash`` of the table's rows; ``error_keys``: the key columns of
    the unreadable rows that name an invoice (which counts as seen all the same, SPEC §1);
    ``rows_of``: the key columns of the table's rows of the given ``seq``. The hashes find the few
    candidates, whose exact texts then decide (two invoices may share a hash).
    """
    none = pl.Series("seq", [], dtype=pl.Int64)
    unreadable = [frame.select(KEY_COLUMNS) for frame in error_keys]
    frames = [hashes, *(frame.select(_KEYED) for frame in unreadable)]
    every = pl.concat(frames, rechunk=False) if len(frames) > 1 else hashes
    seen_twice = every.filter(pl.col("key_hash").is_not_null() & pl.col("key_hash").is_duplicated())
    if seen_twice.is_empty():
        return none, []
    wanted = seen_twice["seq"]
    parts = [rows_of(wanted).select(KEY_COLUMNS).cast(_KEY_TYPES)]
    parts += [frame.filter(pl.col("seq").is_in(wanted.implode())) for frame in unreadable]
    candidates = pl.concat(parts, rechunk=False)
    candidates = candidates.filter(pl.struct("practitioner_id", "invoice_id").is_duplicated())
    if candidates.is_empty():
        return none, []
    candidates = candidates.sort("seq")
    first = candidates.group_by("practitioner_id", "invoice_id", maintain_order=True).agg(
        pl.col("seq").first().alias("first_seq"),
        pl.col("line").first().alias("first_line"),
        pl.col("file").first().alias("first_file"),
    )
    repeated = candidates.join(first, on=["practitioner_id", "invoice_id"]).filter(
        pl.col("seq") != pl.col("first_seq")
    )
    errors: list[Located] = []
    for seq, line, file, invoice_id, first_line, first_file in repeated.select(
        "seq", "line", "file", "invoice_id", "first_line", "first_file"
    ).iter_rows():
        source = paths[file]
        message = _duplicate_message(invoice_id, (first_line, paths[first_file]), source)
        error = InputError(line=line, field="invoice_id", message=message, file=source, invoice_id=invoice_id)
        errors.append((seq, _DUPLICATE_RANK, error))
    return repeated["seq"], errors
