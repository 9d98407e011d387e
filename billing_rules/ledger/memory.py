"""A ledger held in memory: the history of a session without a ledger, and a session's pending invoices.

It keeps the :class:`~billing_rules.ledger.Ledger` protocol, so that one session type serves
software that keeps its history itself and software that keeps it in SQLite or PostgreSQL: the
same replacement of an invoice by its newer copy (same practitioner and invoice id), the same
history requests. It keeps the invoices themselves (a window count cannot forget the copy an
invoice replaces), indexed the ways the windows ask for them: by patient, and by practitioner
and day. A history of millions of invoices belongs in an SQLite file instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

from billing_rules.ledger.protocol import HistoryRequest, LedgerStats, WindowQuery
from billing_rules.model import Event

Key = tuple[str, str]


class MemoryLedger:
    """Invoices by (practitioner, invoice id), in this process only; nothing to open or close."""

    label = "mémoire"

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self._events: dict[Key, Event] = {}
        self._by_patient: dict[str, dict[Key, Event]] = {}
        self._by_practitioner: dict[str, dict[dt.date, dict[Key, Event]]] = {}
        self.record(events)

    def __len__(self) -> int:
        return len(self._events)

    def __contains__(self, key: object) -> bool:
        """Whether an invoice of that (practitioner, invoice id) is held, cancelled or not."""
        return key in self._events

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events.values())

    # --- the Ledger protocol ------------------------------------------------------------------

    def history(self, request: HistoryRequest) -> Iterator[Event]:
        """Billed invoices matching ``request``, each once (the in-memory twin of the SQL)."""
        seen: set[Key] = set()
        patients, practitioners = request.patients, request.practitioners
        for window in request.windows:
            for event in self._candidates(window, patients, practitioners):
                key = event.key
                if key not in seen and window.matches(event, patients, practitioners):
                    seen.add(key)
                    yield event

    def _candidates(
        self, window: WindowQuery, patients: frozenset[str], practitioners: frozenset[str]
    ) -> Iterator[Event]:
        """A superset of the invoices ``window`` selects, from the narrowest index that has them."""
        if window.by_patient:
            for patient in patients:
                yield from self._by_patient.get(patient, {}).values()
        elif window.by_practitioner:
            for practitioner in practitioners:
                days = self._by_practitioner.get(practitioner)
                if not days:
                    continue
                start, end = window.start, window.end
                if start is not None and end is not None and (end - start).days < len(days):
                    # A week or a quarter: a look-up per day beats a walk through years of days.
                    for offset in range((end - start).days + 1):
                        invoices = days.get(start + dt.timedelta(days=offset))
                        if invoices:
                            yield from invoices.values()
                else:
                    for invoices in days.values():
                        yield from invoices.values()
        else:
            yield from self._events.values()

    def record(self, events: Iterable[Event]) -> int:
        """Store ``events``; an invoice already held (same practitioner and invoice id) is replaced.

        All or nothing, as the protocol's one transaction: ``events`` is read whole before anything
        is stored, so a stream that fails (an unreadable file, an input that changed since its
        check, a Ctrl-C) leaves the history as it was.
        """
        events = list(events)
        stored = 0
        for event in events:
            self.remove(event.key)
            key = event.key
            self._events[key] = event
            self._by_patient.setdefault(event.patient_id, {})[key] = event
            days = self._by_practitioner.setdefault(event.practitioner_id, {})
            days.setdefault(event.date, {})[key] = event
            stored += 1
        return stored

    def remove(self, key: Key) -> Event | None:
        """Forget the invoice of ``key`` (practitioner id, invoice id); returns it, if it was held."""
        event = self._events.pop(key, None)
        if event is None:
            return None
        patient = self._by_patient[event.patient_id]
        del patient[key]
        if not patient:
            del self._by_patient[event.patient_id]
        days = self._by_practitioner[event.practitioner_id]
        day = days[event.date]
        del day[key]
        if not day:
            del days[event.date]
            if not days:
                del self._by_practitioner[event.practitioner_id]
        return event

    def events(
        self, *, practitioner_id: str | None = None, start: dt.date | None = None, end: dt.date | None = None
    ) -> Iterator[Event]:
        """Every invoice held (cancelled ones too), by date, optionally for one practitioner/period."""
        selected = [
            event
            for event in self._events.values()
            if (practitioner_id is None or event.practitioner_id == practitioner_id)
            and (start is None or event.date >= start)
            and (end is None or event.date <= end)
        ]
        return iter(sorted(selected, key=lambda event: event.sort_key))

    def forget(self, before: dt.date) -> int:
        """Delete the invoices dated before ``before``; returns how many."""
        old = [key for key, event in self._events.items() if event.date < before]
        for key in old:
            self.remove(key)
        return len(old)

    def stats(self) -> LedgerStats:
        """Volumes held; ``schema_version`` is 0: nothing is stored on disk."""
        events = list(self._events.values())
        months: dict[tuple[str, str], int] = {}
        for event in events:
            month = (event.practitioner_id, f"{event.date:%Y-%m}")
            months[month] = months.get(month, 0) + 1
        dates = [event.date for event in events]
        return LedgerStats(
            invoices=len(events),
            cancelled=sum(1 for event in events if event.cancelled),
            first_date=min(dates, default=None),
            last_date=max(dates, default=None),
            schema_version=0,
            per_month=tuple((who, month, count) for (who, month), count in sorted(months.items())),
        )

    def close(self) -> None:
        """Nothing to release; the invoices stay readable."""
