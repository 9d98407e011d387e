"""Several input files as one stream of events and input errors, with duplicates flagged.

This is what the validator consumes: it picks each file's reader, numbers the rows across files
(``Event.seq``, the file order of SPEC §1), converts them, and flags the same
(``practitioner_id``, ``invoice_id``) seen earlier in the input, readable row or not (SPEC §1).
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import BinaryIO

from billing_rules.errors import ReadError
from billing_rules.model import Event, InputError
from billing_rules.readers.base import STDIN, RawRow, Reader, file_label, unwrapped
from billing_rules.readers.columns import CODE, ColumnMapping
from billing_rules.readers.csv_reader import CsvReader, CsvTable
from billing_rules.readers.json_reader import JsonLinesReader, JsonReader
from billing_rules.readers.lines import Grouped, LastRows, group_lines, last_rows
from billing_rules.readers.parquet_reader import ParquetReader, parquet_rows
from billing_rules.readers.positional import FALLBACK, PositionalDecoder, Wanted
from billing_rules.readers.prepared import PreparedInfo, prepared_events, prepared_info, verify
from billing_rules.readers.read_once import read_once
from billing_rules.readers.rows import event_from_row, row_identity
from billing_rules.readers.seen import SeenInvoices

#: The formats of SPEC §1, by ``--input-format`` name.
BUILTIN_READERS: Mapping[str, Reader] = {
    "csv": CsvReader(),
    "json": JsonReader(),
    "jsonl": JsonLinesReader(),
    "parquet": ParquetReader(),
}


#: Rows read ahead, at most, to find a readable one that tells a per-act file (JSON, plugins).
_LOOK_AHEAD = 100


def reader_for(
    path: str, input_format: str | None = None, readers: Mapping[str, Reader] = BUILTIN_READERS
) -> Reader:
    """The reader of one input: ``input_format`` if given, else the file's extension.

    Standard input (``-``) has no extension and is CSV unless ``input_format`` says otherwise.

    Raises:
        ReadError: unknown ``input_format``, or an extension no reader claims.
    """
    if input_format is not None:
        reader = readers.get(input_format.lower())
        if reader is None:
            names = ", ".join(sorted(readers))
            raise ReadError(f"format d'entrée inconnu « {input_format} » (formats : {names})")
        return reader
    if path == STDIN:
        reader = readers.get("csv")
        if reader is None:
            raise ReadError("l'entrée standard demande --input-format (aucun lecteur CSV n'est chargé)")
        return reader
    extension = os.path.splitext(path)[1].lower()
    for reader in readers.values():
        if extension and extension in reader.extensions:
            return reader
    known = sorted({ext for reader in readers.values() for ext in reader.extensions})
    raise ReadError(
        f"{file_label(path)} : extension « {extension or '(aucune)'} » inconnue "
        f"(extensions reconnues : {', '.join(known)} ; sinon --input-format)"
    )


def with_columns(readers: Mapping[str, Reader], columns: ColumnMapping | None) -> dict[str, Reader]:
    """``readers`` reading headers and values through ``columns`` (SPEC §1b).

    The built-in formats take the mapping; a plugin's reader (no ``with_columns``) is left as it
    is: its keys are its own business, it already maps its vendor's format.
    """
    if columns is None or columns.is_default:
        return dict(readers)
    configured: dict[str, Reader] = {}
    for name, reader in readers.items():
        configure = getattr(reader, "with_columns", None)
        configured[name] = configure(columns) if configure is not None else reader
    return configured


def _open_failure(path: str, exc: OSError) -> ReadError:
    if isinstance(exc, FileNotFoundError):
        reason = "fichier introuvable"
    elif isinstance(exc, IsADirectoryError):
        reason = "c'est un dossier, pas un fichier"
    elif isinstance(exc, PermissionError):
        reason = "lecture non autorisée"
    else:
        reason = f"erreur de lecture ({exc.strerror or type(exc).__name__})"
    return ReadError(f"impossible de lire {file_label(path)} : {reason}")


class InputStream:
    """The input files of one check, read in the order given, as ``Event`` and ``InputError`` items.

    Iterate it once. While it runs, :attr:`events` counts the readable rows (SPEC §2
    ``summary.events``, cancelled invoices included) and :attr:`input_errors` the errors yielded.
    A row with several bad fields gives several consecutive errors. A file that cannot be read
    at all raises :class:`ReadError` when its turn comes; readers are chosen, and extensions
    checked, when the stream is created, so a wrong extension fails before anything is read.
    A prepared file (:mod:`.prepared`) gives the input errors and invoices of the reading that
    wrote it, its original files in :attr:`files`; it is read alone, never beside another file.

    Args:
        sources: paths, or ``-`` for standard input, in input order.
        input_format: ``--input-format``: the format of every source, instead of extensions.
        readers: the available formats by name (the built-in ones unless extended).
        stdin: what ``-`` reads (default ``sys.stdin.buffer``); tests pass a byte stream.
        wanted: which codings the consumer needs as events (see
            :class:`~billing_rules.readers.positional.PositionalDecoder`): the others are still
            read, validated, counted and checked for duplicates, but not yielded. None: all.
        columns: the practice's header and value mapping (SPEC §1b), for the built-in formats.
        lines: every file has one line per act (``--lines``); without it, only files with a
            ``code`` column are grouped into invoices (:mod:`billing_rules.readers.lines`).
        copies: private copies of inputs that can be read once only (standard input, a FIFO),
            by source name (:func:`~billing_rules.readers.read_once.copied_inputs`): read instead,
            under the source's own name, so that the stream can be iterated again.
    """

    def __init__(
        self,
        sources: Sequence[str],
        *,
        input_format: str | None = None,
        readers: Mapping[str, Reader] = BUILTIN_READERS,
        stdin: BinaryIO | None = None,
        wanted: Wanted | None = None,
        columns: ColumnMapping | None = None,
        lines: bool = False,
        copies: Mapping[str, str] | None = None,
    ) -> None:
        self.sources = tuple(sources)
        self._copies = dict(copies or {})
        self._wanted = wanted
        self._lines = lines
        readers = with_columns(readers, columns)
        self._readers = [reader_for(source, input_format, readers) for source in self.sources]
        self._stdin = stdin
        self._prepared = prepared_sources(self.sources, self._readers, self._copies)
        #: The files a report names: a prepared file's original files, else :attr:`sources`.
        self.files = next(iter(self._prepared.values())).files if self._prepared else self.sources
        self.events = 0
        self.input_errors = 0
        self._seq = 0
        self._seen = SeenInvoices()

    def __iter__(self) -> Iterator[Event | InputError]:
        """Yield the items of every source in order; see the class docstring."""
        self.events = 0
        self.input_errors = 0
        self._seq = 0
        self._seen.close()
        self._seen = SeenInvoices()
        try:
            for source, reader in zip(self.sources, self._readers, strict=True):
                yield from self._read_source(source, reader)
        finally:
            self._seen.close()

    def _read_source(self, source: str, reader: Reader) -> Iterator[Event | InputError]:
        prepared = self._prepared.get(source)
        if prepared is not None:
            yield from self._read_prepared(source, prepared)
            return
        copy = self._copies.get(source)
        if copy is not None:
            with open(copy, "rb") as stream:
                yield from self._convert(reader, stream, source)
            return
        if source == STDIN:
            stream = self._stdin if self._stdin is not None else sys.stdin.buffer
            yield from self._convert(reader, stream, source)
            return
        try:
            stream = open(source, "rb")  # closed by the with below, once read
        except OSError as exc:
            raise _open_failure(source, exc) from None
        with stream:
            yield from self._convert(reader, stream, source)

    def _read_prepared(self, source: str, info: PreparedInfo) -> Iterator[Event | InputError]:
        """A prepared file: the input errors of its reading, then its invoices (already validated)."""
        verify(source, info)
        self.input_errors += len(info.input_errors)
        yield from info.input_errors
        wanted = self._wanted
        for event in prepared_events(source, info):
            self.events += 1
            self._seq = event.seq + 1
            if wanted is None or wanted(event.codes):
                yield event

    def _convert(self, reader: Reader, stream: BinaryIO, source: str) -> Iterator[Event | InputError]:
        try:
            open_table = getattr(reader, "table", None)
            table = open_table(stream, source) if open_table is not None else None
            if table is None:
                rows: Iterator[RawRow] = iter(reader.rows(stream, source))
                ahead = rows_ahead(rows)
                rows = itertools.chain(ahead, rows)
                if self._lines or per_act(ahead):
                    passes = _passes(stream, rows, lambda: reader.rows(stream, source), reader)
                    yield from self._grouped(*passes, source)
                    return
                for raw in rows:
                    yield from self._items(raw, source)
                return
            if self._lines or CODE in table.names:
                passes = _passes(stream, _table_rows(table), lambda: _table_rows(open_table(stream, source)))
                yield from self._grouped(*passes, source)
                return
            yield from self._blocks(table, source)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ReadError(f"{file_label(source)} : lecture interrompue ({reason})") from None

    def _blocks(self, table: CsvTable, source: str) -> Iterator[Event | InputError]:
        """CSV: runs of records through the fast path; what it is unsure of, row by row."""
        decoder = PositionalDecoder(table.names, source, self._wanted)
        decode_block, decode = decoder.decode_block, decoder.decode
        seen = self._seen
        for lines, rows, problems in table.blocks:
            # Checked once the run is read: damaged bytes in it would have been seen by now.
            suspicious = table.suspicious()
            if not problems and not suspicious:
                events = decode_block(lines, rows, self._seq, seen)
                if events is not None:
                    self._seq += len(rows)
                    self.events += len(rows)
                    yield from events
                    continue
            for line, fields in zip(lines, rows, strict=True):
                if not problems and not suspicious:
                    event = decode(line, fields, self._seq, seen)
                    if event is not FALLBACK:
                        self._seq += 1
                        self.events += 1
                        if event is not None:
                            yield event
                        continue
                yield from self._items(table.raw_row(line, fields, problems), source)

    def _grouped(
        self, rows: Iterable[RawRow], last: LastRows | None, source: str
    ) -> Iterator[Event | InputError]:
        """A per-act file: its lines grouped into invoices, each then read like a row (SPEC §1b)."""
        for item in group_lines(rows, last):
            if isinstance(item, RawRow):
                yield from self._items(item, source)
            elif item.errors:
                yield from self._group_errors(item, source)
            else:
                yield from self._items(item.raw, source)

    def _group_errors(self, item: Grouped, source: str) -> Iterator[Event | InputError]:
        """The errors of an invoice whose lines do not make one; it still claims its number."""
        self._seq += 1
        self.input_errors += len(item.errors)
        yield from item.errors
        key = item.key
        earlier = self._seen.get(key)
        if earlier is None:
            self._seen.add(key, (item.raw.line, source))
            return
        self.input_errors += 1
        yield InputError(
            line=item.raw.line,
            field="invoice_id",
            message=_duplicate_message(key[1], earlier, source),
            file=source,
            invoice_id=key[1],
        )

    def _items(self, raw: RawRow, source: str) -> Iterator[Event | InputError]:
        """The general path: the row's event or its input errors, then a duplicate's error."""
        result = event_from_row(raw, self._seq)
        self._seq += 1
        if isinstance(result, Event):
            key: tuple[str, str] | None = result.key
            invoice_id: str | None = result.invoice_id
        else:
            self.input_errors += len(result)  # a duplicate's error comes on top, below
            # Rows in error still claim their invoice number (SPEC §1: "readable or not").
            key = row_identity(raw)
            invoice_id = key[1] if key is not None else None
        seen = self._seen
        earlier = seen.get(key) if key is not None else None
        if earlier is None:
            if key is not None:
                seen.add(key, (raw.line, source))
            if isinstance(result, Event):
                self.events += 1
                if self._wanted is None or self._wanted(result.codes):
                    yield result
            else:
                yield from result
            return
        if not isinstance(result, Event):
            yield from result
        self.input_errors += 1
        yield InputError(
            line=raw.line,
            field="invoice_id",
            message=_duplicate_message(invoice_id or "", earlier, source),
            file=source,
            invoice_id=invoice_id,
        )


def prepared_sources(
    sources: Sequence[str], readers: Sequence[Reader], copies: Mapping[str, str] | None = None
) -> dict[str, PreparedInfo]:
    """The prepared files among the sources (their footers read), refused beside any other file.

    ``readers``: each source's reader. A prepared file is the reading of its own files, duplicates
    and order settled: another file beside it would need that reading done again. Prepare them
    together instead. An input that can be read once only (standard input, a FIFO, or its copy)
    is not looked at: its footer would be consumed.

    Raises:
        ReadError: a prepared file among several sources, or one this version cannot read.
    """
    prepared = {}
    copied = copies or {}
    for source, reader in zip(sources, readers, strict=True):
        if isinstance(unwrapped(reader), ParquetReader) and source not in copied and not read_once(source):
            info = prepared_info(source)
            if info is not None:
                prepared[source] = info
    if prepared and len(sources) > 1:
        source = next(iter(prepared))
        raise ReadError(
            f"{file_label(source)} : un fichier préparé se contrôle seul ; pour y ajouter d'autres "
            "fichiers, préparez-les ensemble (billing-rules prepare)"
        )
    return prepared


#: A per-act file from this size on is read twice when it can be (:func:`read_twice`). Below, it
#: is held whole: at most some 2 GB for a CSV file (1 KB an invoice), 0.7 GB for JSON Lines. The
#: second reading costs time: 1.1 M per-act CSV lines on the row engine took 41.1 s instead of
#: 34.4 s, and 0.38 GiB of peak RSS instead of 1.14; 600 000 JSON Lines objects 27.5-28.0 s instead
#: of 22.1-22.7 s, and 0.45 GiB instead of 0.67-0.74.
TWICE_BYTES = 256 * 1024 * 1024
#: The same for Parquet, by its rows: compressed, its size says little of them (1.1 M per-act rows
#: of text fit in 14 MB). About the invoices 256 MiB of CSV lines hold.
TWICE_ROWS = 2_000_000


def read_twice(stream: BinaryIO, reader: Reader | None = None) -> bool:
    """Whether a per-act file is read twice, so that its invoices can go as soon as complete.

    The first pass (:func:`~billing_rules.readers.lines.last_rows`) costs a reading of the file,
    and spares holding every invoice to its end (about 1 KB each): worth it for a large file that
    can be read again (standard input and pipes are, through their private copies, when the check
    made them). A stream that cannot seek, or a small file, is read once, as before. ``reader``:
    the file's format; a Parquet file is large by its rows (:data:`TWICE_ROWS`).
    """
    try:
        if not stream.seekable():
            return False
        if isinstance(unwrapped(reader), ParquetReader):
            rows = parquet_rows(stream)
            return rows is not None and rows >= TWICE_ROWS
        return os.fstat(stream.fileno()).st_size >= TWICE_BYTES
    except (OSError, AttributeError, ValueError):  # no file number: a stream in memory
        return False


def _passes(
    stream: BinaryIO,
    rows: Iterable[RawRow],
    again: Callable[[], Iterable[RawRow]],
    reader: Reader | None = None,
) -> tuple[Iterable[RawRow], LastRows | None]:
    """A per-act file's rows to group, and its first pass when it is read twice (:func:`read_twice`).

    ``rows``: the file's rows as read; ``again``: the same rows read anew, from the stream rewound.
    """
    if not read_twice(stream, reader):
        return rows, None
    last = last_rows(rows)
    stream.seek(0)
    return again(), last


def _table_rows(table: CsvTable) -> Iterator[RawRow]:
    return (table.raw_row(*record) for record in table.records)


def rows_ahead(rows: Iterator[RawRow]) -> list[RawRow]:
    """The first rows of a file without header, up to its first readable one (or a hundred)."""
    ahead: list[RawRow] = []
    for raw in rows:
        ahead.append(raw)
        if not raw.broken or len(ahead) >= _LOOK_AHEAD:
            break
    return ahead


def per_act(ahead: list[RawRow]) -> bool:
    """Whether a file without header is one row per act: the first readable row's keys say."""
    return any(CODE in raw.values for raw in ahead)


def _duplicate_message(invoice_id: str, earlier: tuple[int | None, str], source: str) -> str:
    line, file = earlier
    where = f"ligne {line}" if line is not None else "plus haut"
    if file != source:
        where += f" de {file_label(file)}" if line is not None else f" dans {file_label(file)}"
    return f"facture « {invoice_id} » en double pour ce praticien : déjà vue {where}"
