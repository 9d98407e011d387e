"""SPEC §1 values of whole columns, through the row readers' own parsers, once per distinct spelling.

A billing export repeats a few spellings of most columns (``0``/``1``, ``self``, ``G+SNP``, the
act dates of a year) over millions of rows. Each distinct spelling of a column is read once by
the very function the row readers use (:mod:`billing_rules.readers.values`), which gives its typed
value or its French message, and the result is mapped back onto the rows in native code. The
messages therefore cannot drift from the row readers': they are the same code.

The identifier columns have as many spellings as rows; their only rules are "trimmed" and "not
empty", checked as expressions, with Python's own ``str.strip`` for the few values whose ends are
not printable ASCII (where Python's idea of white space is the one that counts).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import polars as pl

from billing_rules.readers import values as spec_values

#: Message of a required value that is missing (the row readers' words).
MISSING = spec_values.MISSING

#: SPEC §1 columns in the order of a row's input errors, with whether each is required.
SPEC_ORDER: tuple[tuple[str, bool], ...] = tuple((column[0], column[3]) for column in spec_values.COLUMNS)
REQUIRED = frozenset(name for name, required in SPEC_ORDER if required)

#: Identifier columns: as many spellings as rows, read as expressions.
IDENTIFIERS = ("invoice_id", "practitioner_id", "patient_id")

_ENUMS = ("sector", "mt_status", "place", "status")
_BOOLS = ("ald", "palliative", "neurodegenerative", "declares_mt", "homebound", "regulated")

# A value whose first and last characters are printable ASCII is its own str.strip().
_PLAIN = r"(?s)^[!-~](.*[!-~])?$"


#: Results of the spellings already read, per column, across the batches of a run: a year of act
#: dates or birth dates is read once, not once per batch. Bounded: beyond, spellings are re-read.
_SEEN_MAX = 200_000
_seen: dict[str, dict[tuple[type, Any], tuple[Any, str | None]]] = {}


def read_cells(name: str, keys: Sequence[Any]) -> list[tuple[Any, str | None]]:
    """:func:`read_cell` of each of ``keys`` (hashable natives), remembered across batches."""
    seen = _seen.setdefault(name, {})
    results = []
    for key in keys:
        marker = (type(key), key)
        result = seen.get(marker)
        if result is None:
            result = read_cell(name, key)
            if len(seen) < _SEEN_MAX:
                seen[marker] = result
        results.append(result)
    return results


def read_cell(name: str, value: Any) -> tuple[Any, str | None]:
    """``(typed value, None)``, ``(None, None)`` for an empty optional cell, or ``(None, message)``.

    Exactly the row readers' reading of one value (``rows._read_fields``): empty or blank is the
    default (an error if required), anything else goes through the column's parser.
    """
    parse = spec_values.PARSERS[name][0]
    required = name in REQUIRED
    if value is None or (type(value) is str and value == ""):
        return None, MISSING if required else None
    try:
        return parse(value), None
    except spec_values.BlankValue:
        return None, MISSING if required else None
    except spec_values.InvalidValue as exc:
        return None, exc.message


def hundredths(value: Decimal) -> int | None:
    """``value`` × 100 (cents of an amount, hundredths of a kilometre); None if not whole."""
    hundred = value * 100
    return int(hundred) if hundred == hundred.to_integral_value() else None


def _seconds(moment: dt.time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


#: For each SPEC column: the output columns it fills, their polars types, and typed value -> values.
Output = tuple[tuple[str, ...], tuple[Any, ...], Callable[[Any], tuple[Any, ...]]]


def _outputs() -> dict[str, Output]:
    same: Callable[[Any], tuple[Any, ...]] = lambda value: (value,)  # noqa: E731
    table: dict[str, Output] = {
        "invoice_id": (("invoice_id",), (pl.String,), same),
        "practitioner_id": (("practitioner_id",), (pl.String,), same),
        "patient_id": (("patient_id",), (pl.String,), same),
        "specialty": (("specialty",), (pl.String,), same),
        "date": (("date",), (pl.Date,), same),
        "birth_date": (("birth_date",), (pl.Date,), same),
        "time": (
            ("time_min", "time_s"),
            (pl.Int32, pl.Int32),
            lambda moment: (moment.hour * 60 + moment.minute, _seconds(moment)),
        ),
        "codes": (("codes",), (pl.List(pl.String),), lambda codes: (list(codes),)),
        "amount": (
            ("amount_cents", "amount_exact"),
            (pl.Int64, pl.String),
            lambda amount: (hundredths(amount), format(amount, "f")),
        ),
        "referral_at": (("referral_at",), (pl.Datetime("us"),), same),
        "discharge_date": (("discharge_date",), (pl.Date,), same),
        "km": (
            ("km_hundredths", "km_exact"),
            (pl.Int64, pl.String),
            lambda distance: (hundredths(distance), format(distance, "f")),
        ),
    }
    for name in _ENUMS:
        table[name] = ((name,), (pl.String,), lambda member: (member.value,))
    for name in _BOOLS:
        table[name] = ((name,), (pl.Boolean,), same)
    return table


OUTPUTS = _outputs()

#: Value of each output column for a valid row whose cell was empty (the Event defaults).
DEFAULTS: dict[str, Any] = {
    "specialty": "MG",
    "sector": "1",
    "mt_status": "unknown",
    "place": "cabinet",
    "status": "billed",
    **dict.fromkeys(_BOOLS, False),
}


class ColumnResult:
    """A column read: its output columns (NULL where empty or wrong) and its messages (NULL if fine)."""

    __slots__ = ("messages", "values")

    def __init__(self, values: dict[str, pl.Series], messages: pl.Series | None) -> None:
        self.values = values
        self.messages = messages


def _positions(series: pl.Series, keys: list[Any]) -> pl.Series:
    """Each row's position in ``keys`` (its distinct values), NULL for a NULL cell."""
    if series.dtype == pl.String:
        return series.cast(pl.Enum(keys)).to_physical()
    return series.replace_strict(
        keys, pl.int_range(len(keys), dtype=pl.UInt32, eager=True), default=None, return_dtype=pl.UInt32
    )


#: A text column of at most this many spellings in one batch (flags, kinds of place...) is
#: first tried, in the next batch, against those spellings by plain comparisons, which cost less
#: than finding its distinct values and hashing every row into them. The memory is the process's,
#: shared by every read and thread: an entry is replaced whole, never edited, and a row outside it
#: sends the column back to the general path, so a stale or foreign entry only costs comparisons.
_FEW = 8
_few_spellings: dict[str, list[str]] = {}


def _positions_among(series: pl.Series, keys: list[str]) -> pl.Series | None:
    """Each row's position in ``keys`` by comparisons; None if some row is none of them."""
    position: Any = pl.lit(None, dtype=pl.UInt32)
    for index in reversed(range(len(keys))):
        position = (
            pl.when(pl.col("value") == keys[index]).then(pl.lit(index, dtype=pl.UInt32)).otherwise(position)
        )
    found = series.alias("value").to_frame().select(position.alias("position")).to_series()
    return None if found.null_count() else found


def _mapped(
    name: str,
    series: pl.Series,
    keys: list[Any],
    results: Sequence[tuple[Any, str | None]],
    positions: pl.Series | None = None,
) -> ColumnResult:
    """Map the rows of ``series`` through the results of its distinct ``keys``."""
    out_names, out_types, convert = OUTPUTS[name]
    width = len(out_names)
    converted = [convert(typed) if typed is not None else (None,) * width for typed, _ in results]
    if positions is None:
        positions = _positions(series, keys)
    values = {
        out: pl.Series(out, [row[index] for row in converted], dtype=kind).gather(positions)
        for index, (out, kind) in enumerate(zip(out_names, out_types, strict=True))
    }
    messages = [message for _, message in results]
    found = None
    if any(message is not None for message in messages):
        found = pl.Series(messages, dtype=pl.String).gather(positions)
    if series.null_count():
        _, empty_message = read_cell(name, None)
        if empty_message is not None:
            size = len(series)
            base = found if found is not None else pl.Series([None] * size, dtype=pl.String)
            found = pl.Series([empty_message] * size, dtype=pl.String).zip_with(series.is_null(), base)
    return ColumnResult(values, found)


def read_series(name: str, series: pl.Series) -> ColumnResult:
    """Read a column of one native type (text for CSV; any type for Parquet)."""
    if series.dtype == pl.List(pl.String):
        return _text_lists(name, series)  # Parquet codes as lists
    if series.dtype.is_nested() or series.dtype == pl.Object:
        return read_objects(name, series.to_list())  # other lists, and structures
    if series.dtype == pl.String:
        series = series.fill_null("")
        if name in IDENTIFIERS:
            return _identifiers(name, series)
        if name in _ISO:
            return _iso_column(name, series)
    return _spellings(name, series)


def _text_lists(name: str, series: pl.Series) -> ColumnResult:
    """A column of lists of texts: each distinct list read once, as :func:`read_objects` reads it.

    Lists of codes without a hole are read as their text joined by ``+`` (the same codes).

    A list's JSON text tells the lists apart exactly (texts and NULL elements have one writing
    each, a NULL cell is ``null``), so the rows are mapped through it; each distinct list is read
    as the Python list the row reader of Parquet gets, by the same :func:`read_cell`.
    """
    if name == "codes" and not series.explode().null_count():  # no NULL, no empty list, no NULL code
        # Joined by ``+``, a list reads as its text does (``_codes`` splits each element on ``+``
        # too); unless a message comes, which would quote the text, not the list.
        joined = _spellings(name, series.list.join("+"))
        if joined.messages is None:
            return joined
    encoded = series.alias("value").to_frame().select(pl.struct("value").struct.json_encode()).to_series()
    firsts = (
        encoded.alias("key")
        .to_frame()
        .with_row_index("row")
        .group_by("key", maintain_order=True)
        .agg(pl.col("row").first())
    )
    keys = firsts["key"].to_list()
    results = [read_cell(name, value) for value in series.gather(firsts["row"]).to_list()]
    return _mapped(name, encoded, keys, results)


def _spellings(name: str, series: pl.Series) -> ColumnResult:
    """Each distinct spelling read by the row readers' parser, mapped back onto the rows."""
    text = series.dtype == pl.String and not series.null_count()
    if text and name in _few_spellings:
        keys = _few_spellings[name]
        positions = _positions_among(series, keys)
        if positions is not None:
            return _mapped(name, series, keys, read_cells(name, keys), positions)
    keys = series.drop_nulls().unique(maintain_order=True).to_list()
    if text and len(keys) <= _FEW:
        _few_spellings[name] = keys
    else:
        _few_spellings.pop(name, None)
    return _mapped(name, series, keys, read_cells(name, keys))


#: Date columns whose usual spellings polars parses itself: the shapes (a pattern that only ASCII
#: ISO values match, and its format), then the range in which the row readers accept such a value.
#: Only where spellings are many: a birth date has about one per patient, and mapping them one by
#: one was half of the reader's time; a regulation's date and time is nearly unique to its
#: invoice. Act dates and times (a few hundred spellings) map faster than they parse. A typed
#: Parquet date-time comes with its seconds (``parquet_values``), hence the second shape; its
#: seconds stop at 59, where polars would take 60 for a leap second and the row readers refuse it.
_ISO: dict[str, tuple[tuple[tuple[str, str], ...], Any, Any]] = {
    "birth_date": ((("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "%Y-%m-%d"),), dt.date.min, dt.date.max),
    "referral_at": (
        (
            ("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}$", "%Y-%m-%dT%H:%M"),
            ("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-5][0-9]$", "%Y-%m-%dT%H:%M:%S"),
        ),
        dt.datetime.min,
        dt.datetime(9999, 12, 31, 23, 59),
    ),
}


def _iso_column(name: str, series: pl.Series) -> ColumnResult:
    """A date column: plain ISO values parsed by polars, every other spelling as :func:`_spellings`.

    Only values of one of the column's exact shapes (``YYYY-MM-DD``; ``YYYY-MM-DDTHH:MM``, with or
    without ``:SS``), in ASCII digits, that name a real day (and time) within the column's range,
    take the polars path: for those the row readers' parser (``fromisoformat``, its range check)
    gives the same value and no message. Anything else, including an impossible day such as
    ``2024-02-30``, ``24:00`` or an empty cell, is read by the row readers' parser, so its message
    is theirs. A later shape is tried only when the earlier ones left values unread.
    """
    shapes, low, high = _ISO[name]
    (out,), (kind,), _ = OUTPUTS[name]
    parsed: Any = None
    plain: Any = None
    for pattern, layout in shapes:
        if kind == pl.Date:
            value = series.str.to_date(layout, strict=False)
        else:
            value = series.str.to_datetime(layout, time_unit="us", strict=False)
        shaped = (series.str.contains(pattern) & value.is_between(low, high)).fill_null(False)
        if parsed is None:
            parsed, plain = value, shaped
        else:
            parsed, plain = value.zip_with(shaped, parsed), plain | shaped
        if plain.all():
            return ColumnResult({out: parsed.alias(out)}, None)
    others = (~plain).arg_true()
    rest = _spellings(name, series.gather(others))
    values = parsed.set(~plain, None).alias(out).scatter(others, rest.values[out])
    messages = None
    if rest.messages is not None:
        messages = pl.Series([None] * len(series), dtype=pl.String).scatter(others, rest.messages)
    return ColumnResult({out: values}, messages)


def _identifiers(name: str, series: pl.Series) -> ColumnResult:
    """Identifiers as expressions: a plain value is itself, the others are read one by one."""
    plain = series.str.contains(_PLAIN)
    odd = series.filter(~plain).unique(maintain_order=True).to_list()
    values = series
    messages = None
    if odd:
        results = read_cells(name, odd)
        mapped = series.replace_strict(
            odd, [typed for typed, _ in results], default=None, return_dtype=pl.String
        )
        values = series.zip_with(plain, mapped)
        if any(message is not None for _, message in results):
            messages = pl.Series([None] * len(series), dtype=pl.String).zip_with(
                plain,
                series.replace_strict(
                    odd, [message for _, message in results], default=None, return_dtype=pl.String
                ),
            )
    return ColumnResult({name: values.alias(name)}, messages)


def read_objects(name: str, values: list[Any]) -> ColumnResult:
    """Read a column of mixed JSON values (strings, numbers, booleans, lists, objects, None).

    Distinct values are told apart by type too (``1``, ``1.0``, ``true`` and ``"1"`` read
    differently); lists and objects are read one by one.
    """
    out_names, out_types, convert = OUTPUTS[name]
    seen: dict[tuple[type, Any], tuple[Any, str | None]] = {}
    typed_rows: list[tuple[Any, ...]] = []
    messages: list[str | None] = []
    width = len(out_names)
    for value in values:
        kind = type(value)
        if kind in (list, dict):
            result = read_cell(name, value)
        else:
            key = (kind, value)
            result = seen.get(key)  # type: ignore[assignment]
            if result is None:
                result = seen[key] = read_cell(name, value)
        typed, message = result
        typed_rows.append(convert(typed) if typed is not None else (None,) * width)
        messages.append(message)
    columns = {
        out: pl.Series(out, [row[index] for row in typed_rows], dtype=kind)
        for index, (out, kind) in enumerate(zip(out_names, out_types, strict=True))
    }
    found = pl.Series(messages, dtype=pl.String) if any(message is not None for message in messages) else None
    return ColumnResult(columns, found)
