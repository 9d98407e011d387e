"""CSV files as batches of columns, with the row reader's physical line numbers.

The header is read by the row reader itself (:meth:`CsvReader.table`: the same encodings,
delimiter, header checks and errors). The rest of the file is decoded by the same streaming
decoder and cut into chunks of whole lines. A chunk where every line is one record of exactly the
header's width, with no NUL, undecodable byte or lone carriage return, and no quote but around a
whole field (``"x"``), is split by polars (records are then lines, so line numbers are
positions). Any other chunk is split by the csv module exactly as the row reader does (the same
``_blocks``: quoted line breaks, ragged rows, glued quotes, with their messages), then validated
column-wise all the same: correctness never depends on which way a chunk went, only speed does.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import polars as pl

from billing_rules.readers import csv_reader
from billing_rules.readers.base import RawRow
from billing_rules.readers.columnar.validate import Batch
from billing_rules.readers.columns import ValueTranslator, translate_rows
from billing_rules.readers.csv_reader import HEADER_LIMIT, CsvReader, CsvTable, detect_delimiter
from billing_rules.readers.encoding import TextSource
from billing_rules.readers.rows import KNOWN_COLUMNS
from billing_rules.readers.values import READ_COLUMNS, REFERRAL_TIME

#: Characters decoded per chunk (then up to the end of the line): about 140 000 invoices.
CHUNK_CHARS = 16 * 1024 * 1024


class Counter:
    """The running ``seq`` of the input (every record, readable or not, takes the next one)."""

    def __init__(self) -> None:
        self.seq = 0
        #: Chunks split by polars and by the csv module (what the log says).
        self.fast_chunks = 0
        self.csv_chunks = 0

    def take(self, count: int) -> list[int]:
        """The next ``count`` ranks."""
        start = self.seq
        self.seq += count
        return list(range(start, self.seq))

    def take_series(self, count: int) -> pl.Series:
        """The next ``count`` ranks, as a column."""
        start = self.seq
        self.seq += count
        return pl.int_range(start, self.seq, dtype=pl.Int64, eager=True)


def csv_header(open_stream: Callable[[], BinaryIO], path: str, reader: CsvReader | None = None) -> CsvTable:
    """The file's header as the row reader reads it: its checks and errors, its columns resolved.

    ``reader``: the row reader of the check (its practice's ``[columns]`` and ``[values]``
    mapping, SPEC §1b), whose header and value resolution the columnar reading takes as it is.

    Raises:
        ReadError: as the row reader (empty file, header without a required column...).
    """
    with open_stream() as stream:
        return (reader or CsvReader()).table(stream, path)


def csv_batches(
    open_stream: Callable[[], BinaryIO],
    path: str,
    file: int,
    counter: Counter,
    chunk_chars: int | None = None,
    reader: CsvReader | None = None,
    *,
    header: CsvTable | None = None,
    per_act: bool = False,
) -> Iterator[Batch]:
    """The batches of one CSV file; ``open_stream`` gives a fresh byte stream of it.

    ``header``: the file's :func:`csv_header`, read here when not given. ``per_act``: a file of one
    line per act, whose lines :mod:`.per_act` groups (see :class:`_Splitter`).

    Raises:
        ReadError: as the row reader (empty file, header without a required column...).
    """
    if header is None:
        header = csv_header(open_stream, path, reader)
    names = header.names
    # Values mapped onto SPEC ones (SPEC §1b: ``Visite`` is ``domicile`` under ``Lieu``), as the row
    # reader maps them; such files take the csv module's path, where records are lists.
    translators = [(index, ValueTranslator(values)) for index, values in header.resolution.translations()]
    with open_stream() as stream:
        source = TextSource(stream)
        text = source.text
        skipped = 0
        first = text.readline(HEADER_LIMIT)
        while first and not first.strip():
            skipped += 1
            first = text.readline(HEADER_LIMIT)
        delimiter = detect_delimiter(first)
        header_reader = csv.reader(itertools.chain((first,), text), delimiter=delimiter, strict=True)
        next(header_reader)
        line = skipped + header_reader.line_num
        table = CsvTable(names, path, source, iter(()))
        splitter = _Splitter(names, delimiter, path, file, table, translators, per_act=per_act)
        chunk_chars = chunk_chars or CHUNK_CHARS
        while True:
            chunk = text.read(chunk_chars)
            if not chunk:
                return
            if not chunk.endswith("\n"):
                chunk += text.readline()
            lines = batch_lines(chunk)
            batch = splitter.fast(chunk, line, lines, counter)
            if batch is not None:
                counter.fast_chunks += 1
                line += lines
                yield batch
                continue
            while True:  # the csv module: a quoted field may run past the chunk
                blocks, lines_read, open_end = splitter.records(chunk, line)
                if not open_end:
                    break
                more = text.read(chunk_chars)
                if not more:
                    break
                chunk += more + text.readline()
            counter.csv_chunks += 1
            line += lines_read
            yield splitter.batch(blocks, counter)


def extras_json(frame: pl.DataFrame, extra: list[tuple[str, str]]) -> pl.Series:
    """Each row's unknown columns (name, position) as the JSON text of an object, empty cells ``""``."""
    encoded = pl.struct(*(pl.col(position).fill_null("").alias(name) for name, position in extra))
    return frame.select(encoded.struct.json_encode()).to_series()


def batch_lines(chunk: str) -> int:
    """Physical lines of a chunk without lone carriage returns."""
    return chunk.count("\n") + (0 if chunk.endswith("\n") else 1)


def _blank_lines(chunk: str) -> int | None:
    """Blank lines of a chunk without quotes or lone carriage returns; None if runs of them.

    Runs of three or more line breaks are not counted here (``count`` does not overlap): such a
    chunk goes to the csv module.
    """
    if "\n\n\n" in chunk:
        return None
    empties = chunk.count("\n\n") + (1 if chunk.startswith(("\n", "\r\n")) else 0)
    if "\r" in chunk:
        if "\n\r\n\r\n" in chunk:
            return None
        empties += chunk.count("\n\r\n")
    return empties


def _unquoted(frame: pl.DataFrame, positions: list[str]) -> pl.DataFrame | None:
    """Fields split without quoting, read as the csv module reads them; None where it may differ.

    The frame was split on the delimiter alone, and has as many records as lines and as many fields
    as the header, the delimiters all counted: no quoted field held a delimiter or a line break.
    A field written ``"x"``, ``x`` without a quote, is then ``x`` for the csv module too (``""`` an
    empty cell); a quote anywhere else (doubled, glued, alone) is read in ways of its own, and the
    chunk is left to the csv module. Practice software often quotes every field: such files keep
    the fast path (a check of 1 M rows, every field quoted: 8.0-8.3 s by the csv module, 4.7-4.9 s
    so).
    """
    unwrapped = []
    for name in positions:
        field = pl.col(name)
        wrapped = field.str.starts_with('"') & field.str.ends_with('"') & (field.str.len_chars() >= 2)
        inner = field.str.slice(1, field.str.len_chars() - 2)
        unwrapped.append(pl.when(wrapped).then(inner).otherwise(field).alias(name))
    read = frame.select(*unwrapped)
    if read.select(pl.any_horizontal(pl.col(positions).str.contains('"', literal=True)).any()).item():
        return None
    return read.with_columns(pl.col(positions).replace("", None))


class _Splitter:
    """Cuts chunks of one file into records, by polars when plain, else by the csv module.

    ``per_act``: the batches hold every column as written, under its position (``c0``...), for
    the lines to be grouped into invoices; else the SPEC §1 columns by name and the extras.
    """

    def __init__(
        self,
        names: list[str],
        delimiter: str,
        path: str,
        file: int,
        table: CsvTable,
        translators: list[tuple[int, ValueTranslator]] | None = None,
        *,
        per_act: bool = False,
    ) -> None:
        self.names = names
        self.translators = translators or []
        self.width = len(names)
        self.delimiter = delimiter
        self.path = path
        self.file = file
        self.table = table
        self.positions = [f"c{index}" for index in range(self.width)]
        self.columns = {
            name: self.positions[index] for index, name in enumerate(names) if name in KNOWN_COLUMNS
        }
        self.extra = [
            (name, self.positions[index])
            for index, name in enumerate(names)
            if name and name not in READ_COLUMNS
        ]
        if per_act:
            # Lines to be grouped into invoices (:mod:`.per_act`): every column as written.
            self.columns = {position: position for position in self.positions}
            self.extra = []
        #: The column of a referral's time alone: a record that fills it is read by the row
        #: reader (``rows._referral_with_time`` combines it with a date), like a damaged one
        #: (:meth:`_referral_rows`).
        self.referral_time = names.index(REFERRAL_TIME) if REFERRAL_TIME in names else None

    # --- plain chunks ----------------------------------------------------------------------------

    def fast(self, chunk: str, line: int, lines: int, counter: Counter) -> Batch | None:
        """The chunk as one batch if every line is a record of the header's width, else None.

        ``lines``: the chunk's physical lines (:func:`batch_lines`), counted once by the caller.
        """
        # Single characters only: ``in`` and ``count`` of one character run at memory speed,
        # a search for a run of line breaks is several times slower (blank lines are looked for
        # only when the parse found an empty record).
        if "\0" in chunk or "\ufffd" in chunk:
            return None
        if "\r" in chunk and chunk.count("\r") != chunk.count("\r\n"):
            return None
        try:
            frame = pl.read_csv(
                chunk.encode("utf-8", "surrogatepass"),
                has_header=False,
                separator=self.delimiter,
                quote_char=None,
                infer_schema=False,
                new_columns=self.positions,
                raise_if_empty=False,
            )
        except (pl.exceptions.PolarsError, UnicodeError):
            return None
        if frame.height != lines or frame.width != self.width:
            return None
        if '"' in chunk:
            frame = _unquoted(frame, self.positions)
            if frame is None:
                return None
        if self.translators:
            frame = self._translated(frame)
        filled = pl.any_horizontal(pl.col(self.positions).is_not_null())
        empties = 0
        plain = frame.select(filled.all()).item() is True
        if not plain:  # blank lines, or records of empty fields (skipped as the row reader does)
            blank = _blank_lines(chunk)
            if blank is None:
                return None
            empties = blank
        if chunk.count(self.delimiter) != (self.width - 1) * (lines - empties):
            return None
        frame = frame.with_columns(pl.int_range(line + 1, line + 1 + lines, dtype=pl.Int64).alias("line"))
        if not plain:
            frame = frame.filter(filled)
        if frame.height:
            self.table.full_width()  # the file's rows have no trailing separator (CsvTable.settled)
        seqs = counter.take_series(frame.height)
        if self.referral_time is None:
            return self._batch(frame, seqs, [])
        return self._batch(*self._referral_rows(frame, seqs))

    def _referral_rows(
        self, frame: pl.DataFrame, seqs: pl.Series
    ) -> tuple[pl.DataFrame, pl.Series, list[tuple[int, RawRow]]]:
        """The records without a referral's time alone, and the others as the row reader's rows.

        A referral's time (``Heure de régulation``) is combined with a date by the row reader,
        record by record (``rows._referral_with_time``): the records that fill it are read that
        way (as the csv module's path does), the rest of the chunk column-wise. Such exports fill
        it on the regulated acts only, a few in a hundred.
        """
        given = frame[self.positions[self.referral_time]].fill_null("") != ""  # type: ignore[index]
        if not given.any():
            return frame, seqs, []
        picked = frame.filter(given)
        fallback = [
            (seq, self.table.raw_row(line, [cell or "" for cell in cells], ()))
            for seq, line, cells in zip(
                seqs.filter(given).to_list(),
                picked["line"].to_list(),
                picked.select(self.positions).iter_rows(),
                strict=True,
            )
        ]
        return frame.filter(~given), seqs.filter(~given), fallback

    def _translated(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Values mapped onto SPEC ones (SPEC §1b) by the row reader's own translators.

        What ``translate_rows`` does to every record, done once per distinct spelling.
        """
        replaced = []
        for index, translate in self.translators:
            name = self.positions[index]
            spellings = frame[name].drop_nulls().unique().to_list()
            changed = {value: found for value in spellings if (found := translate(value)) != value}
            if changed:
                replaced.append(pl.col(name).replace(changed))
        return frame.with_columns(replaced) if replaced else frame

    def _batch(self, frame: pl.DataFrame, seqs: Any, fallback: list[tuple[int, RawRow]]) -> Batch:
        columns = {name: frame[position] for name, position in self.columns.items()}
        extras = extras_json(frame, self.extra) if self.extra else None
        lines = frame["line"] if isinstance(seqs, pl.Series) else frame["line"].to_list()
        return Batch(self.file, self.path, seqs, lines, columns, extras, fallback)

    # --- other chunks: the csv module, as the row reader ------------------------------------------

    def records(self, chunk: str, line: int) -> tuple[list[csv_reader.Block], int, bool]:
        """The row reader's blocks of the chunk, located in the file, and the lines read.

        Third: whether the chunk ends inside a quoted field (it is then read again with more of
        the file: the quote may close further on, as the row reader, reading on, would find).
        """
        # Physical lines as the row reader counts them (``\n``, ``\r\n`` or a lone ``\r``).
        physical = io.StringIO(chunk, newline="").readlines()
        open_end: list[bool] = []
        blocks = list(csv_reader._blocks(iter(physical), self.delimiter, self.width, line + 1, open_end))
        return blocks, len(physical), bool(open_end)

    def batch(self, blocks: list[csv_reader.Block], counter: Counter) -> Batch:
        """One batch of the records: the well-shaped ones as columns, the others one by one."""
        table = self.table
        scan = table.suspicious()
        lines: list[int] = []
        records: list[list[str]] = []
        seqs: list[int] = []
        fallback: list[tuple[int, RawRow]] = []
        if self.translators:
            for _, rows, _ in blocks:
                translate_rows(rows, self.translators)
        # Empty surplus cells dropped or the row too wide, as the row reader settles them.
        for block_lines, rows, problems in table.settled(blocks):
            for record_line, fields in zip(block_lines, rows, strict=True):
                seq = counter.take(1)[0]
                if (
                    problems
                    or (scan and any(("\ufffd" in field or "\0" in field) for field in fields))
                    or (self.referral_time is not None and fields[self.referral_time])
                ):
                    fallback.append((seq, table.raw_row(record_line, fields, problems)))
                else:
                    lines.append(record_line)
                    records.append(fields)
                    seqs.append(seq)
        frame = pl.DataFrame(
            records or None, schema=dict.fromkeys(self.positions, pl.String), orient="row"
        ).with_columns(pl.Series("line", lines, dtype=pl.Int64))
        frame = frame.with_columns(pl.col(self.positions).replace("", None))
        return self._batch(frame, seqs, fallback)
