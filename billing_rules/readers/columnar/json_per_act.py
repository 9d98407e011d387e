"""JSON and JSON Lines files of one row per act, grouped into invoices column-wise, as per-act CSV is.

The row reader decodes the rows (its line numbers, keys mapping, syntax and encoding errors), or
polars a batch of JSON Lines written alike whose every field is of its column's type
(:mod:`.json_decode`, :func:`_decoded_columns`); the rows are then put in columns and grouped as a
per-act Parquet file's are
(:func:`.per_act.group_columnwise`), instead of one by one in Python
(:func:`~billing_rules.readers.lines.group_lines`: most of the time of such a file, 33 s of a
whole check of 1.1 M lines read twice). A JSON array's objects have no line (SPEC §2): their
ranks in the array order them instead, and are reported nowhere (:func:`ranked_rows`).

A column holds one JSON type, fixed by the file's first rows (:func:`column_kinds`): text,
unless they write it as booleans, integers or numbers; amounts written as numbers are numbers,
whole or not (``30`` beside ``26.5``). A value of another type goes in as the value of the
column's type that reads exactly as it does (:func:`_as_kind`: a flag ``1`` beside ``true``),
its writing kept for the row readers. A row that columns cannot hold as the row reader reads it
goes to the row readers' grouping, and takes its invoice along (as a damaged CSV line does): a
row the reader found damaged or broken, a referral's time alone, no ``code`` key (or ``codes``
beside it), a value no value of its column's type reads as (an amount ``"30.00"`` in a column of
numbers, whose exact digits no float keeps; an invalid value...). A missing key reads as NULL:
the row readers read an absent key and a ``null`` alike. The keys that are no SPEC field
(plugins' columns: ``Event.extra``) go as the row's JSON text in one column, as a per-invoice
JSON row's do (:func:`.other_sources.extras_text`).

When more than a tenth of the first rows are such, the file goes to the row readers' grouping whole
(:mod:`.grouped_rows`, which reads a large file twice to hold few invoices at a time): the rows
held back here stay in memory until the last line is read. So does a file that holds back more
than a tenth of the rows read, or :data:`HELD_LIMIT`, further on (:class:`_Unfitting`: two exports
joined, say).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

import polars as pl

from billing_rules.readers.base import RawRow
from billing_rules.readers.columnar import cells, json_decode
from billing_rules.readers.columnar.csv_source import Counter
from billing_rules.readers.columnar.grouped_rows import grouped_batches
from billing_rules.readers.columnar.json_decode import Decoded, json_objects
from billing_rules.readers.columnar.other_sources import extras_text, read_alone
from billing_rules.readers.columnar.per_act import Layout, group_columnwise
from billing_rules.readers.columnar.validate import Batch
from billing_rules.readers.columns import CODE
from billing_rules.readers.json_reader import JsonLinesReader
from billing_rules.readers.lines import codes_text
from billing_rules.readers.values import READ_COLUMNS, REFERRAL_TIME, SPEC_COLUMNS

#: The fields a row's columns hold, in column order; its other keys are extras (for plugins).
FIELDS: tuple[str, ...] = (*(name for name in SPEC_COLUMNS if name != "codes"), CODE, REFERRAL_TIME)
#: The column of each row's extras as JSON text. No row of the grouping has this key: a key
#: holding NUL is damaged (``encoding.unreadable_values``), and its row goes to the row readers.
EXTRAS = "\0extras"
#: The column of the values as written of a row's fields held as values of another type
#: (:func:`_as_kind`), as JSON text; no row's key either.
ORIGINALS = "\0originals"
NAMES: tuple[str, ...] = (*FIELDS, EXTRAS, ORIGINALS)
#: The keys that are no extra: SPEC's, and ``code``.
_READ = frozenset(READ_COLUMNS | {CODE})
#: Columns grouping reads as texts (the invoice's key, the code): never typed otherwise (a value
#: of another type may still go in as its text, :func:`_as_kind`).
_TEXT_ONLY = frozenset({"practitioner_id", "invoice_id", CODE, REFERRAL_TIME})
#: JSON's types a column may hold, and the column's type. A subclass (an exact number kept as
#: its digits, an integer too long for Python) is none of them: its row goes to the row readers.
_KINDS: dict[type, pl.DataType] = {str: pl.String(), bool: pl.Boolean(), int: pl.Int64(), float: pl.Float64()}
_INT64 = range(-(2**63), 2**63)
#: Columns of numbers where an integer is read as its float is (JSON writers put ``30`` beside
#: ``26.5``): any integer of this range is exact as a float and a valid amount, so no message
#: quotes it, and its cents are the same (the engines read an amount by its cents when whole; only
#: its exact text, which they then leave, says ``30.0``). Any other integer there goes to the row
#: readers, to be worded as written. Not distances: a distance is kept as written (``km_exact``),
#: and a whole one beside decimals is read by :func:`_as_kind`, which holds it back.
_WHOLE_AS_NUMBER = frozenset({"amount"})
_WHOLE = range(10_000)
#: Rows of the file's beginning that decide the columns' types and the route.
SAMPLE_ROWS = 10_000
#: The share of the sampled rows beyond which the file goes to the row readers' grouping whole:
#: the rows held back stay in memory until the last line is read (a file whose flags are
#: ``true`` on some lines and ``1`` on others holds one kind back: it is better read twice there).
HELD_AT_MOST = 0.1
#: Rows held back beyond which a file is grouped by the row readers after all (:class:`_Unfitting`):
#: some 500 MB of decoded JSON objects.
HELD_LIMIT = 200_000
#: Rows decoded before being put in columns.
CHUNK_ROWS = 50_000


class _Unfitting(Exception):  # noqa: N818 - a signal between two readings, never an error shown
    """Past its first rows, too many of the file's rows are held back: the row readers group it.

    A file whose writing changes after its first rows (two exports joined, say) would otherwise
    hold them all in memory. Raised while the file is read, before any invoice has been handed
    out: the file is then read again by the row readers' grouping (:mod:`.grouped_rows`).
    """


def column_kinds(rows: Iterable[RawRow]) -> dict[str, type] | None:
    """Each column's JSON type, the most frequent among ``rows`` (text when none or a tie).

    An empty text does not count: it reads as nothing in a column of any type (the amount of an
    invoice's later lines, say).

    None when more than :data:`HELD_AT_MOST` of the rows would go to the row readers: the file is
    better grouped by them whole (see the module's docstring).
    """
    sample = list(rows)
    counts: dict[str, dict[type, int]] = {name: {} for name in FIELDS}
    for raw in sample:
        for name, value in raw.values.items():
            kind = type(value)
            # An empty text is nothing in a column of any type: it does not vote for text.
            if name in counts and kind in _KINDS and value != "":
                counts[name][kind] = counts[name].get(kind, 0) + 1
    kinds = {name: str for name in FIELDS}
    for name, seen in counts.items():
        if name in _WHOLE_AS_NUMBER and int in seen:  # numbers, whole or not (30, later 26.5)
            seen[float] = seen.get(float, 0) + seen.pop(int)
        if seen and name not in _TEXT_ONLY:
            kinds[name] = max(seen, key=lambda kind: (seen[kind], kind is str))
    held = sum(1 for raw in sample if not _fits(raw, kinds))
    return kinds if held <= HELD_AT_MOST * len(sample) else None


def _fits(raw: RawRow, kinds: dict[str, type]) -> bool:
    """Whether the row reads the same from columns of ``kinds`` as by the row reader."""
    return _plain(raw) and all(
        _fits_value(value, kinds.get(name, object), name) for name, value in raw.values.items()
    )


def _plain(raw: RawRow) -> bool:
    """What :func:`_fits` asks of the row as a whole, before its values' types."""
    values = raw.values
    return raw.line is not None and CODE in values and "codes" not in values and not read_alone(raw)


def _fits_value(value: Any, kind: type, name: str) -> bool:
    """Whether column ``name`` of ``kind`` holds ``value`` (any value fits ``object``: an extra's)."""
    if value is None or kind is object or value == "":  # empty: the row readers read it as a null
        return True
    if type(value) is kind:
        return kind is not int or value in _INT64
    if _whole_as_number(value, kind, name):
        return value in _WHOLE
    return _as_kind(value, kind, name) is not _UNFIT


def _whole_as_number(value: Any, kind: type, name: str) -> bool:
    """Whether ``value`` is an integer in a column of numbers that reads integers as floats."""
    return kind is float and type(value) is int and name in _WHOLE_AS_NUMBER


#: What :func:`_as_kind` says of a value no value of its column's type stands for.
_UNFIT = object()
#: :func:`_as_kind`'s answers, by (column, column's type, value's type, value).
_as_kind_seen: dict[tuple[str, type, type, Any], Any] = {}
_AS_KIND_MAX = 100_000


def _as_kind(value: Any, kind: type, name: str) -> Any:
    """The value of type ``kind`` that reads exactly as ``value`` does, or :data:`_UNFIT`.

    A program may write a field in two JSON types (a flag ``true`` on some lines, ``1`` on
    others; a sector ``1`` or ``"1"``; an invoice number ``12`` or ``"12"``; a code ``"G"`` or
    ``["G"]``). Such a value goes into its column as the value of the
    column's type whose reading is the same: both read without a message, to equal typed values
    of one type, and to the same output columns (``cells.OUTPUTS``: an amount's exact text too,
    so ``"41.50"`` stays apart from ``41.5``). The row readers compare an invoice's lines by
    their readings (``lines._canonical``), so lines whose values read alike stay alike. Any other
    value, an invalid one above all (its message quotes it as written), is held back.
    """
    if name == CODE:
        return _codes_as_text(value)
    if name == REFERRAL_TIME or type(value) not in _KINDS:  # an exact number, an overlong integer
        return _UNFIT
    try:
        key = (name, kind, type(value), value)
        found = _as_kind_seen.get(key)
    except TypeError:  # a list or an object: never a column's value
        return _UNFIT
    if found is None:
        found = _UNFIT
        read = cells.read_cell(name, value)
        if read[0] is not None and read[1] is None:
            for candidate in _candidates(value, kind):
                if _reads_as(name, candidate, read):
                    found = candidate
                    break
        if len(_as_kind_seen) < _AS_KIND_MAX:
            _as_kind_seen[key] = found
    return found


def _codes_as_text(value: Any) -> Any:
    """A line's codes written as a list of texts, as the text the row readers make of it.

    That text (:func:`~billing_rules.readers.lines.codes_text`: the codes stripped, joined by
    ``+``) is what they group and read for such a line. One that does not read sends its invoice
    to them as any bad code does (``per_act._keyed``), the list as written (its writing is kept).
    """
    if type(value) is not list or not all(type(item) is str for item in value):
        return _UNFIT
    text = codes_text(value)
    return _UNFIT if text is None else text


def _candidates(value: Any, kind: type) -> tuple[Any, ...]:
    """Values of type ``kind`` that may read as ``value`` does (:func:`_reads_as` decides)."""
    if kind is bool:
        return (True, False)
    if kind is str:
        if type(value) is bool:
            return ("1" if value else "0", "true" if value else "false")
        return (str(value) if type(value) is int else repr(value),)
    try:
        number = float(value) if kind is float else int(value)
    except (TypeError, ValueError, OverflowError):
        return ()
    return (number,) if kind is float or number in _INT64 else ()


def _reads_as(name: str, candidate: Any, read: tuple[Any, str | None]) -> bool:
    """Whether ``candidate`` reads as ``read`` (a valid reading), to the same output columns."""
    typed, message = cells.read_cell(name, candidate)
    if message is not None or type(typed) is not type(read[0]) or typed != read[0]:
        return False
    convert = cells.OUTPUTS[name][2]
    return bool(convert(typed) == convert(read[0]))


def per_act_json_batches(
    reader: Any,
    open_stream: Callable[[], BinaryIO],
    first_pass: Callable[[], BinaryIO],
    path: str,
    file: int,
    counter: Counter,
) -> Iterator[Batch]:
    """The invoices of a per-act JSON or JSON Lines file: column-wise when its rows fit columns.

    Else (more than a tenth of its rows that columns cannot hold: amounts written as texts beside
    numbers, say) grouped by the row readers (:mod:`.grouped_rows`).
    ``open_stream`` opens the file for the counted reading (a progress line's), ``first_pass``
    uncounted.
    """
    kinds = sampled_kinds(reader, first_pass, path)
    batches_from = open_stream
    if kinds is not None:
        try:
            yield from json_columnwise_batches(reader, open_stream, kinds, path, file, counter)
            return
        except _Unfitting:  # raised before any batch went: read again, uncounted (the progress
            batches_from = first_pass  # line's bytes stay where they were, never counted twice)
    yield from grouped_batches(reader, batches_from, first_pass, path, file, counter)


def json_columnwise_batches(
    reader: Any,
    open_stream: Callable[[], BinaryIO],
    kinds: dict[str, type],
    path: str,
    file: int,
    counter: Counter,
    chunk_rows: int | None = None,
) -> Iterator[Batch]:
    """The invoices of a per-act JSON or JSON Lines file, in the order of their first rows.

    ``kinds``: the columns' types (:func:`column_kinds`). A row's ``line`` is its line in a JSON
    Lines file; an array's objects have none, and are ordered by their ranks (:func:`ranked_rows`).

    Raises:
        _Unfitting: too many rows held back (before the first batch).
    """
    lineless = not isinstance(reader, JsonLinesReader)
    layout = Layout(
        list(NAMES), native=True, encoded_extras=EXTRAS, encoded_originals=ORIGINALS, lineless=lineless
    )
    size = chunk_rows or CHUNK_ROWS  # the module's value when called (tests make it small)

    read = held = 0

    def counted(chunk: tuple[pl.DataFrame, list[RawRow]]) -> tuple[pl.DataFrame, list[RawRow]]:
        nonlocal read, held
        read += chunk[0].height + len(chunk[1])
        held += len(chunk[1])
        if held > HELD_LIMIT or (read >= SAMPLE_ROWS and held > HELD_AT_MOST * read):
            raise _Unfitting
        return chunk

    def chunks() -> Iterator[tuple[pl.DataFrame, list[RawRow]]]:
        with open_stream() as stream:
            if not lineless:  # JSON Lines: decoded by polars where a batch's lines allow it
                for chunk in json_decode.chunks(stream, path, reader, size):
                    frame = None if chunk.decoded is None else _decoded_columns(chunk.decoded, kinds, layout)
                    yield counted((frame, []) if frame is not None else _columns(chunk.rows(), kinds, layout))
                return
            rows = ranked_rows(reader, stream, path)
            while True:  # a last chunk shorter than the others, empty if need be
                pending = list(itertools.islice(rows, size))
                yield counted(_columns(pending, kinds, layout))
                if len(pending) < size:
                    break

    yield from group_columnwise(chunks(), layout, path, file, counter)


def _columns(raws: list[RawRow], kinds: dict[str, type], layout: Layout) -> tuple[pl.DataFrame, list[RawRow]]:
    """The rows that fit (:func:`_fits`), under their positions with their ``line``; the others.

    Each column's types are looked at once, by C-level iteration (``map``, ``set``): a row
    whose values are looked at one by one is only one of a column that holds another type.
    """
    fitting: list[RawRow] = []
    held: list[RawRow] = []
    for raw in raws:
        (fitting if _plain(raw) else held).append(raw)
    rows = [tuple(map(raw.values.get, FIELDS)) for raw in fitting]
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(FIELDS)
    unfit: set[int] = set()
    mixed: set[str] = set()  # columns holding some value of another type than theirs
    for name, column in zip(FIELDS, columns, strict=True):
        kind = kinds[name]
        if not {kind, type(None)}.issuperset(map(type, column)):
            mixed.add(name)
        if name in mixed or (kind is int and _beyond_int64(column)):
            unfit.update(index for index, value in enumerate(column) if not _fits_value(value, kind, name))
    if unfit:
        held = sorted([*held, *(fitting[index] for index in unfit)], key=lambda raw: raw.line or 0)
        kept = [index for index in range(len(fitting)) if index not in unfit]
        fitting = [fitting[index] for index in kept]
        columns = [tuple(column[index] for index in kept) for column in columns]
    series = []
    written: dict[int, dict[str, Any]] = {}
    for name, position, column in zip(FIELDS, layout.positions[: len(FIELDS)], columns, strict=True):
        values, rewritten = _of_kind(column, kinds[name], name) if name in mixed else (list(column), [])
        series.append(pl.Series(position, values, dtype=_KINDS[kinds[name]]))
        for index in rewritten:
            written.setdefault(index, {})[name] = column[index]
    extras = [extras_text(raw.values, _READ) for raw in fitting]
    series.append(pl.Series(layout.where[EXTRAS], extras, dtype=pl.String))
    originals = [None] * len(fitting)
    for index, as_written in written.items():
        originals[index] = json.dumps(as_written, ensure_ascii=False)
    series.append(pl.Series(layout.where[ORIGINALS], originals, dtype=pl.String))
    lines = pl.Series("line", [raw.line for raw in fitting], dtype=pl.Int64)
    return pl.DataFrame([*series, lines]), held


def _decoded_columns(decoded: Decoded, kinds: dict[str, type], layout: Layout) -> pl.DataFrame | None:
    """The lines polars decoded (:mod:`.json_decode`), as :func:`_columns` puts them; None: its way.

    Only where every line fits its columns as written: each field of its column's type (an
    amount's integers within :data:`_WHOLE`, as :func:`_fits` lets them in), the ``code`` a text,
    no ``codes``, no number for plugins (JSON text would write ``30``
    as ``30.0``). Nothing is then held back, nor written otherwise.
    """
    columns: dict[str, pl.Series] = {}
    extras: list[pl.Series] = []
    for key, kind, name, values in decoded.fields():
        if name not in _READ:
            if kind == "number":
                return None
            extras.append(values)
            continue
        wanted = kinds.get(name)
        if wanted is not None and values.null_count() == values.len():  # null on every line
            columns[name] = pl.repeat(None, values.len(), dtype=_KINDS[wanted], eager=True)
        elif kind == "text" and wanted is str:
            columns[name] = decoded.translated(values)
        elif kind == "bool" and wanted is bool:
            columns[name] = values
        elif kind == "number" and wanted in (int, float):
            integer = decoded.integers(key)
            if wanted is int and not (integer | values.is_null()).all():
                return None
            if wanted is float and integer.any():
                whole = values.filter(integer)
                if name not in _WHOLE_AS_NUMBER or not whole.is_between(_WHOLE.start, _WHOLE.stop - 1).all():
                    return None
            columns[name] = values.cast(_KINDS[wanted])
        else:  # ``codes``, a list, a type its column does not hold
            return None
    if CODE not in columns:
        return None
    height = decoded.frame.height
    series = [
        (columns[name] if name in columns else pl.repeat(None, height, dtype=_KINDS[kinds[name]], eager=True))
        .cast(_KINDS[kinds[name]])
        .alias(position)
        for name, position in zip(FIELDS, layout.positions[: len(FIELDS)], strict=True)
    ]
    nothing = pl.repeat(None, height, dtype=pl.String, eager=True)
    encoded = json_objects(extras) if extras else nothing
    series += [encoded.alias(layout.where[EXTRAS]), nothing.alias(layout.where[ORIGINALS])]
    return pl.DataFrame([*series, pl.Series("line", decoded.lines(), dtype=pl.Int64)])


def _beyond_int64(column: tuple[Any, ...]) -> bool:
    numbers = [value for value in column if type(value) is int]
    return bool(numbers) and (min(numbers) not in _INT64 or max(numbers) not in _INT64)


def sampled_kinds(reader: Any, open_stream: Callable[[], BinaryIO], path: str) -> dict[str, type] | None:
    """:func:`column_kinds` of the file's first :data:`SAMPLE_ROWS` rows (opened by ``open_stream``).

    Raises:
        ReadError, OSError: the file cannot be read (as its reading would raise).
    """
    with open_stream() as stream:
        rows = ranked_rows(reader, stream, path)
        try:
            return column_kinds(itertools.islice(rows, SAMPLE_ROWS))
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()


def ranked_rows(reader: Any, stream: BinaryIO, path: str) -> Iterator[RawRow]:
    """``reader``'s rows; a JSON array's objects, which have no line, with their ranks as lines.

    Grouping orders rows and numbers invoices by their lines: an array's ranks do that as lines
    do, and :attr:`.per_act.Layout.lineless` keeps them out of what is reported.
    """
    rows = reader.rows(stream, path)
    if isinstance(reader, JsonLinesReader):
        return rows
    return _ranked(rows)


def _ranked(rows: Iterable[RawRow]) -> Iterator[RawRow]:
    try:
        for rank, raw in enumerate(rows, 1):
            yield RawRow(rank, raw.values, raw.file, raw.problems)
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()


def _of_kind(column: tuple[Any, ...], kind: type, name: str) -> tuple[list[Any], list[int]]:
    """A mixed column's values as its type holds them (:func:`_fits`), and the rows whose writing to keep.

    An empty text is NULL in a column that is not text; an integer is its float in a column of
    numbers; a value of another type, the value of the column's type that reads as it does
    (:func:`_as_kind`). The writing of a value so replaced is kept unless the two are equal in
    Python (``1`` and ``true``, ``30`` and ``30.0``): the row readers compare an invoice's lines
    by ``==`` first, then by their readings, which are the same; for those equal values both
    steps give the same answer.
    """
    values: list[Any] = []
    rewritten: list[int] = []
    for index, value in enumerate(column):
        if value is None or type(value) is kind:
            values.append(value)
        elif type(value) is str and value == "":
            values.append(None)  # kind is not text: an empty text reads as nothing
        else:
            if _whole_as_number(value, kind, name):
                held = float(value)  # within _WHOLE: the rows beyond it were held back
            else:
                held = _as_kind(value, kind, name)
            values.append(held)
            if held != value:
                rewritten.append(index)
    return values, rewritten
