"""The fast path from a CSV record to an :class:`Event`, for rows whose values are all ordinary.

A billing export repeats a few hundred combinations of its small columns (specialty, sector, the
flags, ``mt_status``, place, codes, amount, status) over millions of rows. The whole combination
is looked up at once, as one tuple, in a memo of typed values; dates and times go through their
own memos and identifiers are only checked for being present and trimmed. That replaces about
twenty dictionary operations and parser calls per row by four lookups, and builds no dictionary
of named values.

The fast path never decides that a row is wrong. Anything it is not sure of (a value that does
not read, a missing identifier, a duplicate invoice, a birth date after the act, a regulation
after the act) hands the row back to the general path (:func:`~billing_rules.readers.rows.
event_from_row`), which reads it again and words the input errors. Both paths therefore agree on
every row by construction, and the fast one only has to be right about the rows it accepts,
through the same parsers and memos (:func:`~billing_rules.readers.rows.value_of`).

Rows that no loaded rule or counter can be woken by (``wanted``) are validated and counted but
never become events: nothing would read them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import operator
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import attrs

from billing_rules.model import FEW_VALUED_FIELDS, Event
from billing_rules.readers.rows import KNOWN_COLUMNS, UNREADABLE, value_of
from billing_rules.readers.seen import SeenInvoices
from billing_rules.readers.values import READ_COLUMNS, REFERRAL_TIME

#: Returned by :meth:`PositionalDecoder.decode` for a row the general path must read.
FALLBACK = object()

#: Columns of few distinct spellings, read together as one combination.
_SMALL = (*FEW_VALUED_FIELDS, "codes")
#: Optional columns empty on most rows (a discharge date for GL1): only their filled cells are read.
_SPARSE = ("discharge_date",)
#: Bounds of the memos: a file's combinations, days and birth dates fit far below them.
_COMBINATIONS_MAX = 100_000
_DAYS_MAX = 100_000
_END_OF_DAY = dt.time(23, 59, 59)

Wanted = Callable[[tuple[str, ...]], bool]
_WANTED = itemgetter(1)  # of a learnt combination: (values, wanted)


def _defaults() -> dict[str, Any]:
    """Each column's value when its cell is empty: the Event default, or UNREADABLE if required."""
    return {
        field.name: UNREADABLE if field.default is attrs.NOTHING else field.default
        for field in attrs.fields(Event)
        if field.name in KNOWN_COLUMNS
    }


class PositionalDecoder:
    """Turns the records of one CSV file (``names``: its header) into events, when it can.

    Args:
        names: the header's column names, normalised; an empty name is a column that carries
            nothing.
        file: the path, copied into events.
        wanted: whether an invoice billing these codes can wake a rule or a counter; None: every
            invoice is wanted.
    """

    def __init__(self, names: Sequence[str], file: str, wanted: Wanted | None = None) -> None:
        position = {name: index for index, name in enumerate(names) if name}
        self._file = file
        self._wanted = wanted
        self._defaults = _defaults()
        self._small = tuple(name for name in _SMALL if name in position)
        getter = itemgetter(*(position[name] for name in self._small))
        # itemgetter of one index returns the value itself, not a 1-tuple.
        self._small_of: Callable[[list[str]], tuple[str, ...]] = (
            getter if len(self._small) > 1 else lambda fields: (getter(fields),)
        )
        self._absent = {name: self._defaults[name] for name in _SMALL if name not in position}
        self._combinations: dict[tuple[str, ...], tuple[dict[str, Any], bool] | bool] = {}
        self._column = {name: itemgetter(index) for name, index in position.items()}
        self._time = position.get("time")
        self._referral = position.get("referral_at")
        self._sparse = tuple(name for name in _SPARSE if name in position)
        self._dates: dict[str, dt.date] = {}
        self._births: dict[str, dt.date] = {}
        self._times: dict[str, dt.time | None] = {"": None}
        self._extra = tuple((name, index) for name, index in position.items() if name not in READ_COLUMNS)
        #: A referral's time alone: a row that gives one is combined by the general path.
        self._referral_time = self._column.get(REFERRAL_TIME)

    def decode(self, line: int, fields: list[str], seq: int, seen: SeenInvoices) -> Any:
        """One record: its event; None for a readable row nothing needs; FALLBACK for the general path.

        A row accepted (event or None) is remembered in ``seen``; a row handed back is not, so that
        the general path flags duplicates exactly as it always does.
        """
        events = self.decode_block([line], [fields], seq, seen)
        if events is None:
            return FALLBACK
        return events[0] if events else None

    def decode_block(
        self, lines: list[int], rows: list[list[str]], seq: int, seen: SeenInvoices
    ) -> list[Event] | None:
        """The wanted events of a run of records, or None when one of them needs a closer look.

        Each step works on the whole run at once (``map`` over the rows, set operations), so that
        the cost per row is a few C-level lookups. None leaves ``seen`` untouched: the caller then
        takes the rows one by one, in order, so that the first of two duplicates stays the first.
        """
        column = self._column
        if self._referral_time is not None and any(map(self._referral_time, rows)):
            return None
        smalls = list(map(self._small_of, rows))
        combinations = list(map(self._combinations.get, smalls))
        if None in combinations:
            for small in {small for small, found in zip(smalls, combinations, strict=True) if found is None}:
                self._learn(small)
            combinations = [self._combinations.get(small) for small in smalls]
        if False in combinations or None in combinations:
            return None
        days = self._dates_of(list(map(column["date"], rows)), self._dates, "date")
        births = self._dates_of(list(map(column["birth_date"], rows)), self._births, "birth_date")
        if days is None or births is None or any(map(operator.gt, births, days)):
            return None
        moments: list[Any] = [None] * len(rows)
        if self._time is not None:
            texts = list(map(column["time"], rows))
            moments = list(map(self._times.get, texts, itertools.repeat(FALLBACK)))
            if FALLBACK in moments:
                for text in {text for text, found in zip(texts, moments, strict=True) if found is FALLBACK}:
                    self._clock(text)
                moments = [self._times.get(text, FALLBACK) for text in texts]
                if FALLBACK in moments:
                    return None
        referrals: list[Any] = [None] * len(rows)
        if self._referral is not None:
            texts = list(map(column["referral_at"], rows))
            for index in itertools.compress(range(len(rows)), texts):  # the regulated acts only
                referral = value_of("referral_at", texts[index], None)
                if referral is UNREADABLE:
                    return None
                if referral is not None and referral > dt.datetime.combine(
                    days[index], moments[index] or _END_OF_DAY
                ):
                    return None
                referrals[index] = referral
        sparse: list[dict[str, Any]] = [{} for _ in rows] if self._sparse else []
        for name in self._sparse:
            texts = list(map(column[name], rows))
            for index in itertools.compress(range(len(rows)), texts):
                value = value_of(name, texts[index], None)
                if value is UNREADABLE:
                    return None
                if value is not None:
                    sparse[index][name] = value
        invoices = list(map(str.strip, map(column["invoice_id"], rows)))
        practitioners = list(map(str.strip, map(column["practitioner_id"], rows)))
        patients = list(map(str.strip, map(column["patient_id"], rows)))
        if "" in invoices or "" in practitioners or "" in patients:
            return None
        if not seen.claim_all(practitioners, invoices, lines, self._file):
            return None
        wanted = list(map(_WANTED, combinations))
        if not any(wanted):
            return []
        events = []
        file = self._file
        extra_columns = self._extra
        for index in itertools.compress(range(len(rows)), wanted):
            extra = {name: rows[index][where] for name, where in extra_columns} if extra_columns else {}
            events.append(
                Event(
                    invoice_id=invoices[index],
                    date=days[index],
                    time=moments[index],
                    practitioner_id=practitioners[index],
                    patient_id=patients[index],
                    birth_date=births[index],
                    referral_at=referrals[index],
                    extra=extra,
                    line=lines[index],
                    file=file,
                    seq=seq + index,
                    **combinations[index][0],  # type: ignore[index]
                    **(sparse[index] if sparse else {}),
                )
            )
        return events

    @staticmethod
    def _dates_of(texts: list[str], memo: dict[str, dt.date], column: str) -> list[dt.date] | None:
        """The dates of a column of cells, through ``memo``; None if one does not read."""
        days = list(map(memo.get, texts))
        if None in days:
            for text in {text for text, day in zip(texts, days, strict=True) if day is None}:
                if _day(text, memo, column) is None:
                    return None
            days = list(map(memo.get, texts))
            if None in days:  # the memo is full: read the rest one by one
                days = [memo.get(text) or _day(text, memo, column) for text in texts]
        return days  # type: ignore[return-value]

    def _learn(self, small: tuple[str, ...]) -> tuple[dict[str, Any], bool] | bool:
        """Read a combination never seen in this file; False if one of its values does not read."""
        values = dict(self._absent)
        for name, text in zip(self._small, small, strict=True):
            value = value_of(name, text, self._defaults[name])
            if value is UNREADABLE:
                result: tuple[dict[str, Any], bool] | bool = False
                break
            values[name] = value
        else:
            codes = values["codes"]
            result = (values, self._wanted is None or self._wanted(codes))
        if len(self._combinations) < _COMBINATIONS_MAX:
            self._combinations[small] = result
        return result

    def _clock(self, text: str) -> Any:
        moment = value_of("time", text, None)
        if moment is UNREADABLE:
            return FALLBACK
        if len(self._times) < _DAYS_MAX:
            self._times[text] = moment
        return moment


def _day(text: str, memo: dict[str, dt.date], column: str) -> dt.date | None:
    """A date cell not in its memo yet; None when it does not read (or is out of the act range)."""
    day = value_of(column, text, UNREADABLE)
    if day is UNREADABLE:
        return None
    if len(memo) < _DAYS_MAX:
        memo[text] = day
    return day  # type: ignore[no-any-return]
