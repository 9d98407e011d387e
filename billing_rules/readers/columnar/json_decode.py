"""JSON Lines decoded by polars, a batch at a time, where the lines allow it.

Decoding JSON in Python (the row reader's decoder, which marks a key given twice and keeps the
numbers a float would change) was most of the time of a large JSON Lines file. Exports write
every line alike: the same keys in the same order, each key's values of one kind. A batch is
decoded by polars when every line of it matches one regular expression built from its first
lines: those keys in that order, and for each key its kind of value or ``null``: a text (its
escapes those polars decodes as the ``json`` module does), a number a float holds exactly (at
most 15 digits, or 16 characters with a point, as ``json_numbers`` reads it), ``true`` or
``false``, or a list of texts. Such a line means the same to polars as to the ``json`` module
and holds no key twice; where a line has an escape, the texts are looked into for what the row
reader would report (NUL, U+FFFD). Any other batch (a broken or blank line, a value of another
kind, a lone half of a UTF-16 pair, a file whose bytes were damaged, a referral's time alone,
which the row reader combines with a date) is decoded line by line by the row reader, as before;
so is one its reader cannot take as polars decoded it: each batch comes with both ways
(:class:`Chunk`).
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import attrs
import polars as pl

from billing_rules.readers.base import RawRow
from billing_rules.readers.columns import ColumnError, ColumnMapping, KeyMapper
from billing_rules.readers.encoding import TextSource
from billing_rules.readers.json_reader import JsonLinesReader, decode_line, key_mapper, physical_lines
from billing_rules.readers.values import REFERRAL_TIME

#: Characters of text read at a time: the lines they end make a batch (about 40 000 invoices).
BLOCK_CHARS = 16 * 1024 * 1024

#: A line longer than this (no invoice is) leaves the rest of the file to the row reader, which
#: bounds what one line may hold (``json_reader.ELEMENT_LIMIT``).
LONG_LINE = 1024 * 1024

_SPACE = r"[ \t\r\n]*"  # JSON's whitespace only: ``\s`` would take a no-break space
_PLAIN = r'"[^"\\\x00-\x1f]*"'  # a text without escapes
# The escapes polars reads as the json module does; a lone half of a UTF-16 pair is left to the
# row reader, which reports it.
_ESCAPE = (
    r'\\(?:["\\/bfnrt]|u(?:[0-9a-cA-Ce-fE-F][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2}'
    r"|[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}))"
)
_TEXT = rf'"(?:[^"\\\x00-\x1f]|{_ESCAPE})*"'
_INTEGER = r"-?(?:0|[1-9][0-9]{0,14})"  # 15 digits: a float holds it exactly
_DECIMAL = r"-?(?:0|[1-9][0-9]{0,8})\.[0-9]{1,5}"  # 16 characters: a float (json_numbers)
_VALUES = {
    "text": f"(?:{_TEXT}|null)",
    "number": f"(?:{_DECIMAL}|{_INTEGER}|null)",
    "bool": "(?:true|false|null)",
    "texts": rf"(?:\[{_SPACE}(?:{_TEXT}(?:{_SPACE},{_SPACE}{_TEXT})*)?{_SPACE}\]|null)",
}
_DTYPES = {"text": pl.String, "number": pl.Float64, "bool": pl.Boolean, "texts": pl.List(pl.String)}
#: What the row reader reports in a text of a line with an escape (``encoding.unreadable_values``).
_UNREADABLE = r"[\x00\x{FFFD}]"
#: Lines of a batch whose values say each key's kind (a key null on all of them: a text).
_SAMPLE = 20
_PLAIN_KEY = re.compile('[^"\\\\\\x00-\\x1f:]*')


@attrs.frozen
class Shape:
    """How lines written alike read: their keys, each key's kind, and the fields they name."""

    keys: tuple[str, ...]
    kinds: tuple[str, ...]
    names: tuple[str, ...]  # each key's field ("": dropped; an unknown key as written)
    translators: tuple[tuple[str, Callable[[Any], Any]], ...]
    pattern: str  # with the escapes of texts read as fields
    plain: str  # the same without escapes: twice as fast where none is written

    @property
    def schema(self) -> dict[str, Any]:
        """What polars reads each key as."""
        return {key: _DTYPES[kind] for key, kind in zip(self.keys, self.kinds, strict=True)}


def _kind(value: Any) -> str | None:
    """The kind of a value that the lines' regular expression can hold (not null); None: none."""
    kind = type(value)
    if kind is str:
        return "text"
    if kind is bool:
        return "bool"
    if kind is int and abs(value) < 10**15:
        return "number"
    if kind is float:
        return "number"
    if kind is list and all(type(item) is str for item in value):
        return "texts"
    return None  # an object, a list of other values, a number a float would change


class _Shapes:
    """The shapes of one file's batches, each worked out once (keys, kinds, their fields)."""

    def __init__(self, columns: ColumnMapping | None, path: str) -> None:
        self._mapper = KeyMapper(columns, path) if columns is not None else None
        self._known: dict[tuple[tuple[str, ...], tuple[str, ...]], Shape | None] = {}

    def of(self, lines: list[str]) -> Shape | None:
        """The shape of ``lines`` (a batch's first ones): the same keys, each of one kind or null."""
        keys: tuple[str, ...] | None = None
        seen: list[set[str | None]] = []
        for line in lines:
            value, message = decode_line(line)
            if message is not None or type(value) is not dict:  # a key twice marks the object
                return None
            if keys is None:
                keys = tuple(value)
                if not all(_PLAIN_KEY.fullmatch(key) for key in keys):
                    return None
                seen = [set() for _ in keys]
            elif tuple(value) != keys:
                return None
            for kinds, item in zip(seen, value.values(), strict=True):
                if item is not None:
                    kinds.add(_kind(item))
        if keys is None:
            return None
        if any(len(kinds) > 1 or None in kinds for kinds in seen):  # (the expression would refuse)
            return None
        index = (keys, tuple(kinds.pop() if kinds else "text" for kinds in seen))
        if index not in self._known:
            self._known[index] = self._shape(*index)
        return self._known[index]

    def _shape(self, keys: tuple[str, ...], kinds: tuple[str, ...]) -> Shape | None:
        try:
            plan = self._mapper.plan(keys) if self._mapper is not None else None
        except ColumnError:  # the row reader says so, at its line
            return None
        names, translators = plan if plan is not None else (keys, ())
        pairs = f"{_SPACE},{_SPACE}".join(
            f'"{pl.escape_regex(key)}"{_SPACE}:{_SPACE}{_VALUES[kind]}'
            for key, kind in zip(keys, kinds, strict=True)
        )
        pattern = f"^{_SPACE}\\{{{_SPACE}{pairs}{_SPACE}\\}}{_SPACE}$"
        return Shape(keys, kinds, names, translators, pattern, pattern.replace(_TEXT, _PLAIN))


@attrs.frozen
class Decoded:
    """A batch of lines as polars decoded them: a column per key, read as ``shape`` says."""

    frame: pl.DataFrame
    shape: Shape
    texts: pl.Series  # the lines, for what the columns do not say (a number without a point)
    first: int  # the number of its first line

    def fields(self) -> Iterator[tuple[str, str, str, pl.Series]]:
        """Each key's kind, field (or key, if none: ``Shape.names``) and column, but dropped keys."""
        for key, kind, name in zip(self.shape.keys, self.shape.kinds, self.shape.names, strict=True):
            if name:
                yield key, kind, name, self.frame[key].alias(name)

    def lines(self) -> list[int]:
        """The lines' numbers."""
        return list(range(self.first, self.first + self.frame.height))

    def translated(self, values: pl.Series) -> pl.Series:
        """A text column through its field's value table (SPEC §1b), once per spelling."""
        for field, translate in self.shape.translators:
            if field == values.name:
                table = {text: translate(text) for text in values.drop_nulls().unique().to_list()}
                table = {text: spec for text, spec in table.items() if spec != text}
                if table:
                    values = values.replace(table)
        return values

    def integers(self, key: str) -> pl.Series:
        """Which lines write the number of ``key`` as an integer (the json module reads an int)."""
        return self.texts.str.contains(f'"{pl.escape_regex(key)}"{_SPACE}:{_SPACE}{_INTEGER}{_SPACE}[,}}]')


def json_objects(columns: list[pl.Series]) -> pl.Series:
    """Each row of ``columns`` as the JSON text of an object: the keys handed to plugins."""
    return pl.DataFrame(columns).select(pl.struct(pl.all()).struct.json_encode()).to_series()


@attrs.frozen
class Chunk:
    """A batch of lines: as polars decoded them (None: it could not), and as the row reader does."""

    decoded: Decoded | None
    _rows: Callable[[], list[RawRow]]

    def rows(self) -> list[RawRow]:
        """The row reader's rows of the batch's lines (blank lines have none)."""
        return self._rows()


def chunks(stream: BinaryIO, path: str, reader: JsonLinesReader, size: int) -> Iterator[Chunk]:
    """A JSON Lines file's batches, some 16 MB of lines each (``size`` rows once a line is too long)."""
    source = TextSource(stream, newline="\n", file=path)
    mapper = key_mapper(reader.columns, path)
    shapes = _Shapes(reader.columns, path)
    number = 0
    for item in _chunks(source.text):
        if isinstance(item, _Long):  # the row reader reads that line and the rest of the file
            rest = physical_lines(_Rest(item.head, source.text).readline, number)
            rows = JsonLinesReader.rows_of_lines(rest, source, path, mapper)
            while pending := list(itertools.islice(rows, size)):
                yield Chunk(None, lambda pending=pending: pending)
            return
        text, ended = item
        lines = text.split("\n")
        decoded = None if source.suspicious() else _decoded(text, lines, number, shapes)

        def rows(lines: list[str] = lines, number: int = number, ended: bool = ended) -> list[RawRow]:
            return list(JsonLinesReader.rows_of_lines(_numbered(lines, number, ended), source, path, mapper))

        yield Chunk(decoded, rows)
        number += len(lines)


@attrs.frozen
class _Long:
    """The text so far of a line longer than :data:`LONG_LINE`."""

    head: str


def _chunks(text: Any) -> Iterator[tuple[str, bool] | _Long]:
    """The file's whole lines, a block at a time, without the last one's end; and whether it had one.

    A line longer than :data:`LONG_LINE` stops the reading: its text so far comes instead.
    """
    pending = ""
    while True:
        block = text.read(BLOCK_CHARS)
        if not block:
            if pending:
                yield pending, False  # the last line, without a line end
            return
        block = pending + block
        end = block.rfind("\n")
        if end < 0:
            pending = block
        else:
            pending = block[end + 1 :]
            yield block[:end], True
        if len(pending) > LONG_LINE:
            yield _Long(pending)
            return


def _numbered(lines: list[str], number: int, ended: bool) -> Iterator[tuple[int, str]]:
    """``lines`` with their ends given back (the row reader locates errors with them), numbered."""
    last = len(lines) - 1
    for index, line in enumerate(lines):
        yield number + index + 1, line + "\n" if ended or index < last else line


class _Rest:
    """A line's text already read, then the rest of the file."""

    def __init__(self, head: str, text: Any) -> None:
        self._head = io.StringIO(head, newline="\n")
        self._text = text

    def readline(self, limit: int) -> str:
        """At most ``limit`` characters, up to the end of a line (``io.TextIOBase.readline``)."""
        line = self._head.readline(limit)
        if line.endswith("\n") or len(line) == limit:
            return line
        return line + self._text.readline(limit - len(line))


def _decoded(text: str, lines: list[str], number: int, shapes: _Shapes) -> Decoded | None:
    """``lines`` (of ``text``) as polars decodes them; None: not all of one shape."""
    shape = shapes.of(lines[:_SAMPLE])
    if shape is None:
        return None
    texts = pl.Series(lines, dtype=pl.String)
    escaped = texts.str.contains("\\", literal=True).any()
    if not texts.str.contains(shape.pattern if escaped else shape.plain).all():
        return None
    frame = pl.read_ndjson(io.BytesIO(text.encode("utf-8")), schema=shape.schema)
    for key, name in zip(shape.keys, shape.names, strict=True):
        if name == REFERRAL_TIME:  # a time alone: the row reader combines it with a date
            values = frame[key]
            empty = values.is_null() | (values == "") if values.dtype == pl.String else values.is_null()
            if not empty.all():
                return None
    if escaped:  # the row reader looks into the texts of a line with an escape
        for key, kind in zip(shape.keys, shape.kinds, strict=True):
            values = frame[key].explode() if kind == "texts" else frame[key]
            if kind in ("text", "texts") and values.str.contains(_UNREADABLE).any():
                return None
    return Decoded(frame, shape, texts, number + 1)
