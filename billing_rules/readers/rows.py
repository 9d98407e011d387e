"""Raw row to :class:`~billing_rules.model.Event`: the one place where SPEC §1 rows are read.

Every format reader hands its rows here, so CSV strings and JSON natives follow the same rules and
give the same French input errors. Each value is read by its column's parser and memo
(:mod:`billing_rules.readers.values`); this module reads the row: the hot loop over the columns,
the checks between values (a birth after the act, a regulation after it), damaged values reported
as such, and the errors labelled with their invoice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from billing_rules.model import Event, InputError
from billing_rules.readers.base import RawRow
from billing_rules.readers.json_numbers import as_json_value
from billing_rules.readers.values import (
    COLUMNS,
    MEMO_MAX,
    MISSING,
    READ_COLUMNS,
    REFERRAL_TIME,
    UNSET,
    BlankValue,
    InvalidValue,
    read_date,
    read_datetime,
    read_text,
    read_time,
)

# Importable from here, as before this module was split: the column names and the single-value reads.
from billing_rules.readers.values import KNOWN_COLUMNS as KNOWN_COLUMNS
from billing_rules.readers.values import REQUIRED_COLUMNS as REQUIRED_COLUMNS
from billing_rules.readers.values import SPEC_COLUMNS as SPEC_COLUMNS
from billing_rules.readers.values import UNREADABLE as UNREADABLE
from billing_rules.readers.values import read_value as read_value
from billing_rules.readers.values import value_of as value_of

# Same as Event.act_time without a time: the end of the act's day (SPEC §5, SNP-48H).
_END_OF_DAY = dt.time(23, 59, 59)


def row_identity(raw: RawRow) -> tuple[str, str] | None:
    """The (``practitioner_id``, ``invoice_id``) a row claims, even if the row is in error.

    SPEC §1 flags a duplicate "readable or not", so this is read from the raw values; a value the
    format reader found damaged (undecodable bytes) identifies nothing.
    """
    values = _undamaged(raw)
    practitioner_id = readable_text(values, "practitioner_id")
    invoice_id = readable_text(values, "invoice_id")
    if practitioner_id and invoice_id:
        return (practitioner_id, invoice_id)
    return None


def _undamaged(raw: RawRow) -> Mapping[str, Any]:
    """The row's values without those the format reader reported as damaged."""
    if not raw.problems:
        return raw.values
    damaged = {field for field, _ in raw.problems}
    return {key: value for key, value in raw.values.items() if key not in damaged}


def readable_text(values: Mapping[str, Any], column: str) -> str | None:
    """The value of an identifier column if it can be read, else None (no error raised).

    Used to flag duplicates even among rows that have other errors, and to label input errors
    with their invoice.
    """
    value = values.get(column)
    if value is None:
        return None
    try:
        return read_text(value)
    except (BlankValue, InvalidValue):
        return None


def _errors(raw: RawRow, found: list[tuple[str, str]], invoice_id: str | None) -> list[InputError]:
    return [
        InputError(line=raw.line, field=field, message=message, file=raw.file, invoice_id=invoice_id)
        for field, message in found
    ]


def _read_fields(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Parse every SPEC §1 column of a row: (the values read, the (field, message) errors).

    The hot loop of the readers: a memo lookup for most values, a parser call for the others.
    """
    fields: dict[str, Any] = {}
    found: list[tuple[str, str]] = []
    get = values.get
    for name, parse, memo, required in COLUMNS:
        value = get(name)
        if value is None or value == "":
            if required:
                found.append((name, MISSING))
            continue
        if memo is not None:
            try:
                parsed = memo.get(value, UNSET)
            except TypeError:  # a JSON list or object: never memoized
                parsed = UNSET
            if parsed is not UNSET:
                fields[name] = parsed
                continue
        try:
            parsed = parse(value)
        except BlankValue:
            if required:
                found.append((name, MISSING))
            continue
        except InvalidValue as exc:
            found.append((name, exc.message))
            continue
        fields[name] = parsed
        if memo is not None and type(value) is str and len(memo) < MEMO_MAX:
            memo[value] = parsed
    return fields, found


def event_from_row(raw: RawRow, seq: int) -> Event | list[InputError]:
    """Read one row into an :class:`Event`, or say everything that is wrong with it.

    Empty or missing optional values take their SPEC §1 default; columns SPEC §1 does not define
    are kept as they are in ``Event.extra``. A row is either fully readable or not at all (SPEC §1:
    a row with any bad value is not checked), so the result is the event or one input error per
    bad field, never both.

    Args:
        raw: the row as a format reader produced it; its ``problems`` are reported as they are.
        seq: the row's rank in the whole input (``Event.seq``), which orders same-time invoices.

    Returns:
        The event, or a non-empty list of input errors located by line, field and file.
    """
    values = raw.values
    problems = raw.problems
    if problems:
        # Values with undecodable bytes are reported as such, not parsed (nor quoted as the
        # invoice's number): read the row without them, then replace whatever their absence
        # caused ("missing") by the real problem.
        values = _undamaged(raw)
        if raw.broken:
            return _errors(raw, list(problems), readable_text(values, "invoice_id"))
        damaged = {field for field, _ in problems}
        fields, found = _read_fields(values)
        found = [(field, message) for field, message in found if field not in damaged]
        found.extend(problems)
    else:
        fields, found = _read_fields(values)
    clock = values.get(REFERRAL_TIME)
    if clock is not None and not (type(clock) is str and not clock.strip()):
        if not (problems and {REFERRAL_TIME, "referral_at"} & {field for field, _ in problems}):
            _referral_with_time(fields, found, values, clock)
    day = fields.get("date")
    if day is not None:
        birth = fields.get("birth_date")
        if birth is not None and birth > day:
            found.append(("birth_date", birth_after_act(day)))
        referral = fields.get("referral_at")
        if referral is not None and "time" not in _fields_of(found):
            moment = fields.get("time")
            act = dt.datetime.combine(day, moment or _END_OF_DAY)
            if referral > act:
                found.append(("referral_at", referral_after_act(referral, day, moment)))
    if found:
        return _errors(raw, found, fields.get("invoice_id") or readable_text(values, "invoice_id"))
    if not values.keys() <= KNOWN_COLUMNS:
        extra = {key: as_json_value(value) for key, value in values.items() if key not in READ_COLUMNS}
        if extra:
            fields["extra"] = extra
    return Event(**fields, line=raw.line, file=raw.file, seq=seq)


_MIDNIGHT = dt.time(0, 0)
_ONE_DAY = dt.timedelta(days=1)
_REFERRAL_RANK = SPEC_COLUMNS.index("referral_at")


def _referral_with_time(
    fields: dict[str, Any], found: list[tuple[str, str]], values: Mapping[str, Any], clock_value: Any
) -> None:
    """``referral_at`` from a time-only referral column (``Heure de régulation``), in place.

    Some exports give the regulation's referral as a time of day (``09:30``), beside the act or
    beside a ``Date de régulation`` that holds a date only. ``referral_at`` is a moment (SPEC §1:
    SNP-48H counts hours from it, SHE wants it from 19:00 to 20:59), so the time is combined with:

    * the ``referral_at`` cell when it holds a date (or a date at midnight, or at this very time:
      exports write dates as date-times at 00:00); another time there is an error, never a guess;
    * else the act's date: the referral precedes the act (SPEC §1), so it is the latest moment at
      that time not after the act, the day before when the time is later than the act's own
      (a referral at 22:00 for an act at 08:00). Without the act's time (end of its day, SPEC §5),
      that is the act's day. A referral two days before is then read as within 24 hours: SNP-48H
      cannot fire on such a row (a missed error, never a false one); SHE's hours are exact.

    Errors go where ``referral_at``'s would (SPEC order); the columnar reader reads such rows
    through this function (its fallback), so both readers agree by construction.
    """
    errors: list[tuple[str, str]] = []
    fields.pop("referral_at", None)
    found[:] = [(field, message) for field, message in found if field != "referral_at"]
    cell = values.get("referral_at")
    try:
        clock: dt.time | None = read_time(clock_value)
    except InvalidValue as exc:
        moment = _moment_or_none(clock_value)
        if moment is not None and (cell is None or (type(cell) is str and not cell.strip())):
            # Some exports write the whole moment under « Heure de régulation »: it is the referral.
            fields["referral_at"] = moment
            return
        errors.append((REFERRAL_TIME, exc.message))
        clock = None
    base: dt.date | None = None
    if cell is not None and not (type(cell) is str and not cell.strip()):
        base = _referral_day(cell, clock, errors)
    if clock is not None and not errors:
        day = fields.get("date")
        if base is not None:
            fields["referral_at"] = dt.datetime.combine(base, clock)
        elif day is not None:
            referral = dt.datetime.combine(day, clock)
            act = dt.datetime.combine(day, fields.get("time") or _END_OF_DAY)
            fields["referral_at"] = referral - _ONE_DAY if referral > act else referral
    if errors:
        errors.sort(key=lambda error: error[0] != "referral_at")
        at = next(
            (
                index
                for index, (field, _) in enumerate(found)
                if field in SPEC_COLUMNS and SPEC_COLUMNS.index(field) > _REFERRAL_RANK
            ),
            len(found),
        )
        found[at:at] = errors


def _moment_or_none(value: Any) -> dt.datetime | None:
    """``value`` read as a date and time (``2026-01-06T19:00``), or None when it is not one."""
    try:
        return read_datetime(value)
    except InvalidValue:
        return None


def _referral_day(cell: Any, clock: dt.time | None, errors: list[tuple[str, str]]) -> dt.date | None:
    """The date of a ``referral_at`` cell read beside a referral time; errors go to ``errors``."""
    try:
        moment = read_datetime(cell)
    except InvalidValue:
        try:
            return read_date(cell)
        except InvalidValue as exc:
            errors.append(("referral_at", exc.message))
            return None
    if clock is None or moment.time() in (_MIDNIGHT, clock):
        return moment.date()
    errors.append(
        (
            REFERRAL_TIME,
            f"heure de régulation ({clock:%H:%M}) différente de celle de referral_at "
            f"({moment:%d/%m/%Y %H:%M})",
        )
    )
    return None


def birth_after_act(day: dt.date) -> str:
    """The message of a birth date after the act (also worded by the columnar reader)."""
    return f"date de naissance postérieure à la date de l'acte ({day:%d/%m/%Y})"


def referral_after_act(referral: dt.datetime, day: dt.date, moment: dt.time | None) -> str:
    """The message of a regulation after the act (also worded by the columnar reader)."""
    when = f"{day:%d/%m/%Y} {moment:%H:%M}" if moment else f"{day:%d/%m/%Y}, fin de journée"
    return f"régulation ({referral:%d/%m/%Y %H:%M}) postérieure à l'acte ({when})"


def _fields_of(found: list[tuple[str, str]]) -> set[str]:
    return {field for field, _ in found}
