"""CSV billing files: header row, ``;`` or ``,`` (detected), UTF-8 or Windows-1252 (SPEC §1).

The file is streamed: only its first 64 KiB are looked at before rows start coming out. Every row
problem (too many or too few fields, an unclosed quote running into a huge field, undecodable
bytes) becomes an input error on that row's line and reading goes on; only a header that lacks a
required column makes the whole file unreadable, since then no row could be checked.
"""

from __future__ import annotations

import collections
import csv
import itertools
from collections.abc import Generator, Iterable, Iterator
from typing import Any, BinaryIO

from billing_rules.errors import ReadError
from billing_rules.model import Event
from billing_rules.readers.base import ROW_FIELD, RawRow, file_label
from billing_rules.readers.columns import (
    CODE,
    DEFAULT_MAPPING,
    ColumnError,
    ColumnMapping,
    HeaderResolution,
    ValueTranslator,
    extra_name,
    translate_rows,
)
from billing_rules.readers.csv_messages import (
    FIELD_SIZE_LIMIT,
    csv_error_message,
    skipped_message,
    too_few_message,
    too_many_message,
    unclosed_message,
)
from billing_rules.readers.encoding import TextSource, unreadable_values
from billing_rules.readers.rows import event_from_row
from billing_rules.readers.values import MISSING

#: Longest header line read: ten thousand columns of long names fit easily.
HEADER_LIMIT = 4 * 1024 * 1024

# Candidates in order of preference when the header has as many of each: ``;`` is what French
# spreadsheets write; a tab comes from Excel's "texte Unicode" export.
_DELIMITERS = (";", ",", "\t")


def detect_delimiter(header_line: str) -> str:
    """The delimiter of a CSV file, from its header line alone.

    Counting only outside double quotes lets a quoted column name contain a comma. The whole file
    is not sniffed: it would have to be read, and data rows (``26,50`` decimals, commas in free
    text) mislead guessers; header names contain neither.
    """
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(_DELIMITERS, key=lambda d: counts[d])  # max keeps the first of equal counts
    return best if counts[best] else ";"


def normalize_header(name: str) -> str:
    """Column name without BOM nor surrounding spaces, in lower case (the key of an extra column)."""
    return extra_name(name)


def _delimiter_label(delimiter: str) -> str:
    return "tabulation" if delimiter == "\t" else f"« {delimiter} »"


class CsvReader:
    """The ``csv`` format (``.csv``, ``.txt``).

    Args:
        columns: how headers and values are understood (SPEC §1b): the built-in aliases, plus
            the practice's mapping when one is given.
    """

    name = "csv"
    extensions = (".csv", ".txt")

    def __init__(self, columns: ColumnMapping = DEFAULT_MAPPING) -> None:
        self.columns = columns

    def with_columns(self, columns: ColumnMapping) -> CsvReader:
        """The same format, reading headers and values through ``columns``."""
        return CsvReader(columns)

    def rows(self, stream: BinaryIO, file: str) -> Iterator[RawRow]:
        """Yield one raw row per data record, located by its first physical line (header = 1).

        Raises:
            ReadError: the file is empty, or its header lacks a required column or repeats one.
        """
        table = self.table(stream, file)
        return (table.raw_row(*record) for record in table.records)

    def table(self, stream: BinaryIO, file: str) -> CsvTable:
        """The file as a header and positional records: what the fast conversion path reads.

        Raises:
            ReadError: as :meth:`rows`.
        """
        header, delimiter, source, reader, skipped = self._open(stream, file)
        resolution = self._check_header(header, file, delimiter)
        first_data_line = reader.line_num + skipped + 1
        blocks = _blocks(source.text, delimiter, len(header), first_data_line)
        table = CsvTable(resolution.names, file, source, blocks)
        table.resolution = resolution
        translators = [(index, ValueTranslator(values)) for index, values in resolution.translations()]
        if translators:
            table.blocks = _translated(table.blocks, translators)
        table.blocks = table.settled(table.blocks)  # once translated: the values read as the row's
        return table

    def header(
        self, stream: BinaryIO, file: str, problems: list[ColumnError] | None = None
    ) -> tuple[list[str], HeaderResolution]:
        """The header cells as written, and how they are understood (``billing-rules columns``).

        ``problems``: where an ambiguous header's clashes go instead of being raised (see
        :meth:`ColumnMapping.resolve`), so that the command can still show the table.

        Raises:
            ReadError: the file is empty or its header unreadable; ColumnError: an ambiguous header
            (without ``problems``).
        """
        header, _delimiter, _source, _reader, _skipped = self._open(stream, file)
        return header, self.columns.resolve(header, file, problems)

    def _open(self, stream: BinaryIO, file: str) -> tuple[list[str], str, TextSource, Any, int]:
        if csv.field_size_limit() < FIELD_SIZE_LIMIT:
            csv.field_size_limit(FIELD_SIZE_LIMIT)
        source = TextSource(stream, file=file)
        text = source.text
        # Blank lines before the header are tolerated; they still count as lines.
        skipped = 0
        first = text.readline(HEADER_LIMIT)
        while first and not first.strip():
            skipped += 1
            first = text.readline(HEADER_LIMIT)
        if len(first) == HEADER_LIMIT and first[-1] not in "\r\n":
            # Not a header: a binary file, or a device that never ends a line.
            raise ReadError(
                f"{file_label(file)} : ligne d'en-tête interminable (plus de 4 millions de caractères)"
            )
        if not first:
            raise ReadError(f"{file_label(file)} : fichier vide, la ligne d'en-tête manque")
        delimiter = detect_delimiter(first)
        # strict: a quote left open at the end of the file, or text glued after a closing quote,
        # is an error on that record instead of silently swallowing the following rows.
        reader = csv.reader(itertools.chain((first,), text), delimiter=delimiter, strict=True)
        try:
            header = next(reader)
        except csv.Error as exc:
            raise ReadError(f"{file_label(file)} : ligne d'en-tête illisible ({exc})") from None
        return header, delimiter, source, reader, skipped

    def _check_header(self, header: list[str], file: str, delimiter: str) -> HeaderResolution:
        seen: set[str] = set()
        for name in map(normalize_header, header):
            if name and name in seen:
                raise ReadError(
                    f"{file_label(file)} : la colonne « {name} » apparaît deux fois dans l'en-tête"
                )
            seen.add(name)
        resolution = self.columns.resolve(header, file)
        self.columns.check_present(resolution, file)
        missing = resolution.missing()
        if missing:
            hint = ""
            if len(header) == 1:
                hint = f" (une seule colonne lue avec le séparateur {_delimiter_label(delimiter)})"
            target = "FICHIER (l'entrée enregistrée dans un fichier)" if file == "-" else _shell_word(file)
            raise ReadError(
                f"{file_label(file)} : colonne(s) obligatoire(s) absente(s) de l'en-tête : "
                f"{', '.join(missing)}{hint} ; pour voir comment chaque colonne a été comprise et la "
                f"configuration à ajouter : billing-rules columns {target}"
            )
        return resolution


def _shell_word(text: str) -> str:
    """``text`` as one word of a shell command line (quoted when it needs to be)."""
    import shlex

    return shlex.quote(text)


def _translated(blocks: Iterator[Block], translators: list[tuple[int, ValueTranslator]]) -> Iterator[Block]:
    """The blocks with the mapped columns' values replaced by their SPEC values (SPEC §1b)."""
    for block in blocks:
        translate_rows(block[1], translators)
        yield block


class CsvTable:
    """A CSV file read as positional records: ``records`` yields ``(line, fields, problems)``.

    ``fields`` has exactly one value per header name; ``problems`` only says what is wrong with the
    record's shape (too many or too few fields, unreadable CSV). Damaged bytes are looked for by
    :meth:`raw_row`, which a fast consumer calls for the records it cannot take as they are
    (see :meth:`suspicious`).
    """

    def __init__(self, names: list[str], file: str, source: TextSource, blocks: Iterator[Block]) -> None:
        self.names = names
        self.file = file
        #: Runs of well-shaped records ``(lines, rows, ())``, and each misshapen record alone as
        #: ``([line], [fields], problems)``: what the block-wise fast path reads.
        self.blocks = blocks
        self._source = source
        self._unnamed = "" in names  # trailing delimiter in the header: those columns carry nothing
        self._scan = False
        #: Empty cells the file's rows carry beyond the header's (:meth:`settled`); None: not known.
        self._surplus: int | None = None
        #: How the header was understood (set by :meth:`CsvReader.table`).
        self.resolution: HeaderResolution | None = None

    @property
    def records(self) -> Iterator[Record]:
        """The records one by one, as ``(line, fields, problems)``."""
        for lines, rows, problems in self.blocks:
            if problems:
                yield (lines[0], rows[0], problems)
            else:
                yield from zip(lines, rows, itertools.repeat(problems))

    def suspicious(self) -> bool:
        """True once undecodable bytes or a NUL were read: every record must then be scanned."""
        if not self._scan:
            self._scan = self._source.suspicious()
        return self._scan

    def settled(self, blocks: Iterable[Block]) -> Iterator[Block]:
        """``blocks`` with each record of empty surplus cells either kept or a row-width error.

        Many exports end every row with a separator their header lacks: the surplus is empty,
        the values stand under their columns. But an unquoted separator in a value (``DUPONT;
        JEAN``) also makes a row a cell too long, and with its last value empty (no amount) the
        surplus is empty too: dropped, the values would be read shifted, the errors name wrong
        fields and quote a value under another column's name (a birth date as an « heure »).
        So the empty surplus is dropped when the row then reads with no input error but missing
        values (a missing value quotes nothing, and per-act lines leave the patient's cells
        empty after the first; a ``code`` reads as the line's codes), or when it is the file's
        habit, set by its first record in no doubt: one of the header's width sets none; one
        with empty surplus cells that reads sets that many (the export writes them on every
        row: a later bad value is reported as such, « date invalide »). Otherwise the row gets,
        as its only error, the one a non-empty surplus gets (« N champs au lieu des M de
        l'en-tête (séparateur dans une valeur non entourée de guillemets ?) »). Both readers
        settle their records here, in file order (the columnar one calls :meth:`full_width`
        for the records it splits itself): they agree by construction.
        """
        for lines, rows, problems in blocks:
            if problems and problems[0][0] == _SURPLUS:
                problems = self._settle(lines[0], rows[0], problems[0][1])
            elif not problems and self._surplus is None:
                self._surplus = 0
            yield (lines, rows, problems)

    def full_width(self) -> None:
        """Records of the header's width were read (by a consumer that splits lines itself)."""
        if self._surplus is None:
            self._surplus = 0

    def _settle(self, line: int, fields: list[str], message: str) -> tuple[tuple[str, str], ...]:
        """The problems of a record of empty surplus cells (see :meth:`settled`); drops them."""
        surplus = len(fields) - len(self.names)
        del fields[len(self.names) :]
        if surplus == self._surplus:
            return ()
        raw = self.raw_row(line, fields, ())
        values = {"codes": raw.values[CODE], **raw.values} if CODE in raw.values else raw.values
        read = event_from_row(RawRow(line, values, self.file, raw.problems), 0)
        if not isinstance(read, Event) and any(error.message != MISSING for error in read):
            return ((ROW_FIELD, message),)
        if self._surplus is None:
            self._surplus = surplus
        return ()

    def raw_row(self, line: int, fields: list[str], problems: tuple[tuple[str, str], ...]) -> RawRow:
        """The record as a :class:`RawRow` of named values, its damaged values reported."""
        if not fields:  # a record the csv module could not read: nothing to name
            return RawRow(line, {}, self.file, problems)
        if self._unnamed:
            values = {name: value for name, value in zip(self.names, fields, strict=True) if name}
        else:
            values = dict(zip(self.names, fields, strict=True))
        if self.suspicious():
            problems += unreadable_values(values)
        return RawRow(line, values, self.file, problems)


Record = tuple[int, list[str], tuple[tuple[str, str], ...]]
Block = tuple[list[int], list[list[str]], tuple[tuple[str, str], ...]]
#: Records per block: large enough for per-block work to vanish, small enough to stay in cache.
BLOCK_SIZE = 256


def _blocks(
    text: Iterator[str], delimiter: str, width: int, first_line: int, open_end: list[bool] | None = None
) -> Iterator[Block]:
    """The data records of ``text`` (positioned after the header) in blocks, resynchronising.

    An unclosed quote makes the csv module read on, across line ends, until the next quote or the
    end of the file: one record that swallows the rows after it. Such a record (spanning several
    lines and not of the header's width, or unreadable) is reported on its first line, and reading
    resumes at the first of its other lines that parses alone as a row of the header's width; the
    lines before that one are reported as skipped. A well-formed multi-line record (a quoted value
    holding a line break) is kept as it is.

    The physical lines are kept by a lagging ``tee`` branch, drained block by block (C speed), so
    the usual path pays nothing for it.

    ``open_end`` gets ``True`` when the text ends inside a quoted field: for a whole file, that
    is where the file ends; for a part of it (the columnar reader's chunks), the quote may close
    further on and make one well-formed record of what reads here as a broken one, so the part
    must be read again with more of the file.
    """
    pending: list[str] = []
    base = first_line  # physical line number of the reader's first line
    while True:
        feed, lagging = itertools.tee(itertools.chain(pending, text) if pending else text)
        pending = []
        reader = csv.reader(feed, delimiter=delimiter, strict=True)
        state = _ReaderState(reader, lagging, base)
        resync = yield from _read_until_swallowed(state, width)
        if state.open_end and open_end is not None:
            open_end.append(True)
        if resync is None:
            return
        start, end, exc = resync
        swallowed = state.lines(start, end)  # the record's physical lines
        rest = swallowed[1:]
        resume = next(
            (index for index, line in enumerate(rest) if _parses_as_row(line, delimiter, width)), len(rest)
        )
        first = base + start - 1
        yield ([first], [[]], ((ROW_FIELD, unclosed_message(exc, first, resume, len(rest))),))
        for offset in range(resume):
            line = first + 1 + offset
            yield ([line], [[]], ((ROW_FIELD, skipped_message(first)),))
        pending = rest[resume:]
        base = first + 1 + resume
        # ``text`` is where the reader stopped, and the lagging branch caught up with it.


class _ReaderState:
    """A csv reader with the physical lines it read, kept by a lagging iterator until drained."""

    def __init__(self, reader: Any, lagging: Iterator[str], base: int) -> None:
        self.reader = reader
        self.base = base
        self.previous_end = 0  # reader lines consumed by the records already handled
        #: The text ended inside a quoted field (the csv module's "unexpected end of data").
        self.open_end = False
        self._lagging = lagging
        self._drained = 0

    def drain(self) -> None:
        """Forget the lines of the records already handled."""
        count = self.previous_end - self._drained
        if count > 0:
            collections.deque(itertools.islice(self._lagging, count), maxlen=0)
            self._drained = self.previous_end

    def lines(self, start: int, end: int) -> list[str]:
        """Reader lines ``start`` to ``end`` (1-based, relative to this reader)."""
        skip = start - 1 - self._drained
        if skip > 0:
            collections.deque(itertools.islice(self._lagging, skip), maxlen=0)
        taken = list(itertools.islice(self._lagging, end - start + 1))
        self._drained = end
        return taken


def _read_until_swallowed(
    state: _ReaderState, width: int
) -> Generator[Block, None, tuple[int, int, csv.Error | None] | None]:
    """Blocks of the reader's records; returns the span of a swallowing record, or None at the end."""
    reader = state.reader
    lines: list[int] = []
    rows: list[list[str]] = []
    while True:
        try:
            for fields in reader:
                start = state.previous_end + 1
                state.previous_end = reader.line_num
                if len(fields) == width and (fields[0] or any(fields)):
                    lines.append(state.base + start - 1)  # the usual record, kept as cheap as possible
                    rows.append(fields)
                    if len(rows) == BLOCK_SIZE:
                        yield (lines, rows, ())
                        lines, rows = [], []
                        state.drain()
                elif fields and any(fields):  # else: blank line, or ";;;;" left by a spreadsheet
                    if rows:
                        yield (lines, rows, ())
                        lines, rows = [], []
                    if state.previous_end > start:  # several lines, the wrong width: swallowed
                        return (start, state.previous_end, None)
                    first = state.base + start - 1
                    line, cells, problems = _misshapen(fields, width, first, first)
                    yield ([line], [cells], problems)
                    state.drain()
            if rows:
                yield (lines, rows, ())
            return None
        except csv.Error as exc:
            state.open_end = state.open_end or "unexpected end of data" in str(exc)
            if rows:
                yield (lines, rows, ())
                lines, rows = [], []
            start = state.previous_end + 1
            state.previous_end = reader.line_num
            if state.previous_end > start:
                return (start, state.previous_end, exc)
            first = state.base + start - 1
            yield ([first], [[]], ((ROW_FIELD, csv_error_message(exc, first, first)),))
            state.drain()


def _parses_as_row(line: str, delimiter: str, width: int) -> bool:
    """Whether ``line`` alone reads as one record of ``width`` fields (where reading may resume)."""
    try:
        records = list(csv.reader([line], delimiter=delimiter, strict=True))
    except csv.Error:
        return False
    return len(records) == 1 and len(records[0]) == width and any(records[0])


#: The mark of a record whose surplus cells are all empty, until :meth:`CsvTable.settled` says
#: whether they are dropped or the row is too wide (the message is then the error's).
_SURPLUS = "_surplus"


def _misshapen(fields: list[str], width: int, start: int, end: int) -> Record:
    """A record of too many or too few fields (or a full one), with the problem it has.

    Empty surplus cells are kept and marked: :meth:`CsvTable.settled` reads the values to decide.
    """
    count = len(fields)
    problems: tuple[tuple[str, str], ...] = ()
    if count > width:
        message = too_many_message(count, width, start, end)
        if not any(fields[width:]):
            return (start, fields, ((_SURPLUS, message),))
        problems = ((ROW_FIELD, message),)
        del fields[width:]
    elif count < width:
        # Values would sit under the wrong column if a separator went missing mid-row:
        # the row is not read (its identifiers still count for duplicates).
        problems = ((ROW_FIELD, too_few_message(count, width, start, end)),)
        fields.extend([""] * (width - count))
    return (start, fields, problems)
