"""What both back ends share: the stored columns, event ⇄ row conversion, and the window queries.

The engine's compiled counters say which windows exist (codes, keyed by patient and/or
practitioner, calendar/rolling/ever). :func:`plan_windows` turns them, for the days of one input,
into a few :class:`WindowQuery` (one per kind of window, never one per event), and
:class:`HistorySql` writes the single statement that fetches them. Fetching a superset is always
safe (a window only counts its own key and days), so ranges are widened to whole calendar windows
and merged freely; fetching less is never allowed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import attrs

from billing_rules.domain.calendar import rolling_start
from billing_rules.dsl.program import CounterSpec
from billing_rules.ledger.protocol import HistoryRequest, WindowQuery
from billing_rules.model import Event, MtStatus, Place, Sector, Status
from billing_rules.readers.rows import SPEC_COLUMNS as _READER_COLUMNS

#: SPEC §1 columns in the order of the SPEC table (the order of ``ledger export``).
SPEC_COLUMNS = _READER_COLUMNS

#: Stored columns: the unique key (practitioner first, it leads the index), the other SPEC §1
#: columns in SPEC order, then the extra columns as JSON.
_KEY = ("practitioner_id", "invoice_id")
COLUMNS = _KEY + tuple(column for column in SPEC_COLUMNS if column not in _KEY) + ("extra",)


def export_filter(
    practitioner_id: str | None,
    start: dt.date | None,
    end: dt.date | None,
    *,
    placeholder: str,
    day: Callable[[dt.date], Any],
) -> tuple[str, list[Any]]:
    """The WHERE clause and parameters of ``Ledger.events`` for both back ends.

    ``placeholder`` is the driver's parameter mark and ``day`` how it stores a date.
    """
    conditions: list[str] = []
    params: list[Any] = []
    if practitioner_id is not None:
        conditions.append(f"practitioner_id = {placeholder}")
        params.append(practitioner_id)
    if start is not None:
        conditions.append(f"date >= {placeholder}")
        params.append(day(start))
    if end is not None:
        conditions.append(f"date <= {placeholder}")
        params.append(day(end))
    return (f" WHERE {' AND '.join(conditions)}" if conditions else ""), params


_SECTORS = {item.value: item for item in Sector}
_MT = {item.value: item for item in MtStatus}
_PLACES = {item.value: item for item in Place}
_STATUSES = {item.value: item for item in Status}
_EMPTY: dict[str, Any] = {}


def extra_json(event: Event) -> str | None:
    """Extra columns as JSON text (plugins may count on them), ``None`` when there are none."""
    if not event.extra:
        return None
    return json.dumps(dict(event.extra), ensure_ascii=False, sort_keys=True, default=str)


def to_row(event: Event, *, native: bool) -> tuple[Any, ...]:
    """The stored values of ``event`` in :data:`COLUMNS` order.

    ``native``: dates, times, booleans and decimals as Python values (PostgreSQL adapts them);
    otherwise ISO text, 0/1 and decimal text (SQLite, where text dates sort correctly and a decimal
    stored as text keeps its cents exactly).
    """
    if native:
        return (
            event.practitioner_id,
            event.invoice_id,
            event.date,
            event.time,
            event.specialty,
            event.sector.value,
            event.patient_id,
            event.birth_date,
            event.ald,
            event.palliative,
            event.neurodegenerative,
            event.mt_status.value,
            event.declares_mt,
            event.place.value,
            event.homebound,
            "+".join(event.codes),
            event.amount,
            event.regulated,
            event.referral_at,
            event.status.value,
            event.discharge_date,
            event.km,
            extra_json(event),
        )
    return (
        event.practitioner_id,
        event.invoice_id,
        event.date.isoformat(),
        event.time.isoformat() if event.time is not None else None,
        event.specialty,
        event.sector.value,
        event.patient_id,
        event.birth_date.isoformat(),
        int(event.ald),
        int(event.palliative),
        int(event.neurodegenerative),
        event.mt_status.value,
        int(event.declares_mt),
        event.place.value,
        int(event.homebound),
        "+".join(event.codes),
        str(event.amount) if event.amount is not None else None,
        int(event.regulated),
        event.referral_at.isoformat() if event.referral_at is not None else None,
        event.status.value,
        event.discharge_date.isoformat() if event.discharge_date is not None else None,
        str(event.km) if event.km is not None else None,
        extra_json(event),
    )


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def from_row(row: Sequence[Any]) -> Event:
    """The :class:`Event` of a stored row (either back end's types); ``seq`` -1: history."""
    (
        practitioner_id,
        invoice_id,
        date,
        time,
        specialty,
        sector,
        patient_id,
        birth_date,
        ald,
        palliative,
        neurodegenerative,
        mt_status,
        declares_mt,
        place,
        homebound,
        codes,
        amount,
        regulated,
        referral_at,
        status,
        discharge_date,
        km,
        extra,
    ) = row
    if time is not None and not isinstance(time, dt.time):
        time = dt.time.fromisoformat(time)
    if referral_at is not None and not isinstance(referral_at, dt.datetime):
        referral_at = dt.datetime.fromisoformat(referral_at)
    if amount is not None and not isinstance(amount, Decimal):
        amount = Decimal(amount)
    if km is not None and not isinstance(km, Decimal):
        km = Decimal(km)
    return Event(
        invoice_id=invoice_id,
        date=_as_date(date),
        time=time,
        practitioner_id=practitioner_id,
        specialty=specialty,
        sector=_SECTORS[sector],
        patient_id=patient_id,
        birth_date=_as_date(birth_date),
        ald=bool(ald),
        palliative=bool(palliative),
        neurodegenerative=bool(neurodegenerative),
        mt_status=_MT[mt_status],
        declares_mt=bool(declares_mt),
        place=_PLACES[place],
        homebound=bool(homebound),
        codes=tuple(codes.split("+")) if codes else (),
        amount=amount,
        regulated=bool(regulated),
        referral_at=referral_at,
        status=_STATUSES[status],
        discharge_date=_as_date(discharge_date) if discharge_date is not None else None,
        km=km,
        extra=json.loads(extra) if extra else _EMPTY,
        seq=-1,
    )


class EventCache:
    """Events of recently read rows, keyed by the whole stored row.

    The real-time path reads the same rows again and again (the practitioner's SNP of the week,
    the patient's visits) while the user types; building an :class:`Event` costs more than the
    query. The key is every stored value, so a changed row is a new entry: never stale.
    """

    def __init__(self, size: int = 8192) -> None:
        self._size = size
        self._events: dict[tuple[Any, ...], Event] = {}

    def event(self, row: Sequence[Any]) -> Event:
        """The event of ``row``, built once."""
        key = tuple(row)
        event = self._events.get(key)
        if event is None:
            if len(self._events) >= self._size:
                self._events.clear()
            event = self._events[key] = from_row(key)
        return event


def chunks(events: Iterable[Event], size: int) -> Iterator[list[Event]]:
    """``events`` in lists of ``size`` (the last one shorter): one write per list, streaming."""
    chunk: list[Event] = []
    for event in events:
        chunk.append(event)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def unique_last(events: Iterable[Event]) -> list[Event]:
    """``events`` with one invoice per (practitioner, invoice id): the last copy wins."""
    by_key: dict[tuple[str, str], Event] = {}
    for event in events:
        by_key.pop(event.key, None)
        by_key[event.key] = event
    return list(by_key.values())


# --------------------------------------------------------------------------------------------------
# Which history the windows need


def _calendar_bounds(period: str | None, first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
    if period == "week":
        return first - dt.timedelta(days=first.weekday()), last + dt.timedelta(days=6 - last.weekday())
    if period == "quarter":
        start = dt.date(first.year, 3 * ((first.month - 1) // 3) + 1, 1)
        end_month = 3 * ((last.month - 1) // 3) + 3
        following = dt.date(last.year + (end_month == 12), end_month % 12 + 1, 1)
        return start, following - dt.timedelta(days=1)
    if period == "year":
        return dt.date(first.year, 1, 1), dt.date(last.year, 12, 31)
    return first, last  # "day"


def plan_windows(counters: Iterable[CounterSpec], first: dt.date, last: dt.date) -> tuple[WindowQuery, ...]:
    """The window queries that cover every counter for input events dated ``first`` to ``last``.

    The history counts before every input event whatever its date (SPEC §1), so a calendar window
    is fetched whole (a later invoice of the same quarter counts too); a rolling window ends on the
    act's date, and an ``ever`` window has no bounds. Queries on the same codes and keys are
    merged into one covering both ranges.
    """
    merged: dict[tuple[frozenset[str] | None, bool, bool], tuple[dt.date | None, dt.date | None]] = {}
    for counter in counters:
        start: dt.date | None
        end: dt.date | None
        if counter.window == "ever":
            start, end = None, None
        elif counter.window == "rolling":
            start = rolling_start(first, counter.period or "days", counter.span) + dt.timedelta(days=1)
            end = last
        else:
            start, end = _calendar_bounds(counter.period, first, last)
        shape = (counter.triggers, "patient" in counter.scope, "practitioner" in counter.scope)
        if shape in merged:
            old_start, old_end = merged[shape]
            start = None if start is None or old_start is None else min(start, old_start)
            end = None if end is None or old_end is None else max(end, old_end)
        merged[shape] = (start, end)
    return tuple(
        WindowQuery(codes=codes, by_patient=by_patient, by_practitioner=by_practitioner, start=start, end=end)
        for (codes, by_patient, by_practitioner), (start, end) in merged.items()
    )


@attrs.define
class InputScope:
    """Who and when an input is about: gathered in one pass, it makes the one history request."""

    patients: set[str] = attrs.field(factory=set)
    practitioners: set[str] = attrs.field(factory=set)
    keys: set[tuple[str, str]] = attrs.field(factory=set)
    first: dt.date | None = None
    last: dt.date | None = None

    def add(self, event: Event) -> None:
        """Take ``event`` into account."""
        self.patients.add(event.patient_id)
        self.practitioners.add(event.practitioner_id)
        self.keys.add(event.key)
        if self.first is None or event.date < self.first:
            self.first = event.date
        if self.last is None or event.date > self.last:
            self.last = event.date

    @classmethod
    def of(cls, events: Iterable[Event]) -> InputScope:
        """The scope of ``events``."""
        scope = cls()
        for event in events:
            scope.add(event)
        return scope

    def request(self, counters: Iterable[CounterSpec]) -> HistoryRequest | None:
        """The history request for this input, ``None`` when there is nothing to ask."""
        if self.first is None or self.last is None:
            return None
        return HistoryRequest(
            patients=frozenset(self.patients),
            practitioners=frozenset(self.practitioners),
            windows=plan_windows(counters, self.first, self.last),
        )


def history_for(ledger: Any, counters: Iterable[CounterSpec], scope: InputScope) -> Iterator[Event]:
    """The ledger's history for an input, minus the invoices the input carries again.

    The input's copy of an invoice replaces the ledger's (SPEC §1, §3). The rows come in the order
    of :func:`ledger_order`: of two invoices of one window on one day, the first counted is the one
    the window names (SPEC §2 ``window``), and the relational engine counts them in that order too.
    """
    request = scope.request(list(counters))
    if request is None or not request.windows:
        return
    keys = scope.keys
    yield from (event for event in ordered_history(ledger, request) if event.key not in keys)


def ordered_history(ledger: Any, request: HistoryRequest) -> list[Event]:
    """``ledger.history(request)`` in :func:`ledger_order`, the order every engine counts it in.

    Sorted here, once for every store (SQLite, PostgreSQL, memory, an embedder's own), rather than
    trusting each store's SQL to order untimed acts and ties the same way.
    """
    return sorted(ledger.history(request), key=ledger_order)


def ledger_order(event: Event) -> tuple[Any, ...]:
    """The order of the ledger's invoices: date, timed before untimed, time, practitioner, invoice."""
    time = event.time
    return (event.date, time is None, time or dt.time.min, event.practitioner_id, event.invoice_id)


# --------------------------------------------------------------------------------------------------
# The history statement


_FEW_CODES = 3
"""Above this many codes, a patient's window is read from the invoices (by patient and date)."""


@attrs.frozen
class HistorySql:
    """Writes the one statement that fetches a :class:`HistoryRequest`, in a back end's dialect.

    ``placeholder`` is the parameter marker; ``in_set(column, values)`` returns the SQL condition
    "column in values" and its parameters (a list for SQLite, an array for PostgreSQL); ``day``
    converts a date to the stored type.
    """

    placeholder: str
    in_set: Callable[[str, frozenset[str]], tuple[str, list[Any]]]
    day: Callable[[dt.date], Any]
    billed: str
    #: How to keep the planner off an index for a column (SQLite: ``+column``): a window keyed by
    #: patient *and* practitioner must use the patient index, far more selective than the
    #: practitioner prefix of the primary key, whatever the statistics say.
    unindexed: Callable[[str], str] = str

    #: Requests with at most this many patients and practitioners have their SQL text cached (the
    #: real-time path asks the same shape of statement for every invoice); ``in_set`` must then
    #: be free of side effects.
    cache_limit: int = 0
    _texts: dict[Any, tuple[str, tuple[Any, ...]]] = attrs.field(factory=dict, init=False, eq=False)

    def statement(self, request: HistoryRequest) -> tuple[str, list[Any]] | None:
        """``(sql, params)``, or ``None`` when no window can match anything."""
        patients, practitioners = request.patients, request.practitioners
        if len(patients) > self.cache_limit or len(practitioners) > self.cache_limit:
            built = self._build(request)
            return None if built is None else (built[0], built[2])
        key = (request.windows, len(patients), len(practitioners))
        cached = self._texts.get(key)
        if cached is None:
            built = self._build(request)
            if built is None:
                return None
            if len(self._texts) > 512:
                self._texts.clear()
            cached = self._texts[key] = (built[0], built[1])
        sql, recipe = cached
        params: list[Any] = []
        for item in recipe:
            if item.__class__ is _SetSlot:
                params.extend(self.in_set(item.column, patients if item.patients else practitioners)[1])
            else:
                params.append(item)
        return sql, params

    def _build(self, request: HistoryRequest) -> tuple[str, tuple[Any, ...], list[Any]] | None:
        """The SQL text, its parameter recipe (values and set slots), and the parameters."""
        parts: list[str] = []
        recipe: list[Any] = []
        params: list[Any] = []
        ph = self.placeholder
        for window in request.windows:
            if window.by_patient and not request.patients:
                continue
            if window.by_practitioner and not request.practitioners:
                continue
            conditions: list[str] = []
            if window.codes is None or (window.by_patient and len(window.codes) > _FEW_CODES):
                # A patient's invoices of the period, whatever their codes: one index range instead
                # of one per code (a superset, which is always safe: windows filter by code).
                table = "invoices"
                conditions.append(self.billed)
            else:
                table = "invoice_codes"
                codes = sorted(window.codes)
                if len(codes) == 1:
                    conditions.append(f"code = {ph}")
                else:
                    conditions.append(f"code IN ({', '.join([ph] * len(codes))})")
                recipe.extend(codes)
                params.extend(codes)
            if window.by_patient:
                sql, values = self.in_set("patient_id", request.patients)
                conditions.append(sql)
                recipe.append(_SetSlot("patient_id", True))
                params.extend(values)
            if window.by_practitioner:
                column = self.unindexed("practitioner_id") if window.by_patient else "practitioner_id"
                sql, values = self.in_set(column, request.practitioners)
                conditions.append(sql)
                recipe.append(_SetSlot(column, False))
                params.extend(values)
            for bound, operator in ((window.start, ">="), (window.end, "<=")):
                if bound is not None:
                    conditions.append(f"date {operator} {ph}")
                    recipe.append(self.day(bound))
                    params.append(self.day(bound))
            parts.append(f"SELECT practitioner_id, invoice_id FROM {table} WHERE {' AND '.join(conditions)}")
        if not parts:
            return None
        columns = ", ".join(f"i.{column}" for column in COLUMNS)
        union = " UNION ".join(parts)
        sql = (
            f"SELECT {columns} FROM ({union}) AS k JOIN invoices AS i "
            "ON i.practitioner_id = k.practitioner_id AND i.invoice_id = k.invoice_id"
        )
        return sql, tuple(recipe), params


@attrs.frozen
class _SetSlot:
    """In a cached statement's recipe: the parameters of "column in (the request's set)"."""

    column: str
    patients: bool
