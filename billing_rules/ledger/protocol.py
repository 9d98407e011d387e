"""What every ledger store implements: the :class:`Ledger` protocol and the queries it answers.

Kept apart from the package's ``__init__`` (which opens a store) so that the SQLite and PostgreSQL
stores import the protocol without importing the module that imports them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

import attrs

from billing_rules.errors import LedgerError
from billing_rules.model import Event

__all__ = [
    "HistoryRequest",
    "Ledger",
    "LedgerError",
    "LedgerStats",
    "WindowQuery",
    "is_url",
]


@attrs.frozen
class WindowQuery:
    """One kind of window the engine needs: which codes, keyed by whom, over which days.

    ``codes`` ``None`` means every billed invoice; ``start``/``end`` ``None`` mean unbounded (an
    ``ever`` window). Both bounds are inclusive.
    """

    codes: frozenset[str] | None
    by_patient: bool
    by_practitioner: bool
    start: dt.date | None
    end: dt.date | None

    def matches(self, event: Event, patients: frozenset[str], practitioners: frozenset[str]) -> bool:
        """Whether ``event`` is one of the invoices this query selects (the in-memory twin of the SQL)."""
        if event.cancelled:
            return False
        if self.codes is not None and self.codes.isdisjoint(event.code_set):
            return False
        if self.by_patient and event.patient_id not in patients:
            return False
        if self.by_practitioner and event.practitioner_id not in practitioners:
            return False
        if self.start is not None and event.date < self.start:
            return False
        return self.end is None or event.date <= self.end


@attrs.frozen
class HistoryRequest:
    """What one check needs from the ledger: the billed invoices matching any of ``windows``."""

    patients: frozenset[str]
    practitioners: frozenset[str]
    windows: tuple[WindowQuery, ...]

    def matches(self, event: Event) -> bool:
        """Whether ``event`` would be returned by a ledger asked this request."""
        return any(window.matches(event, self.patients, self.practitioners) for window in self.windows)


@attrs.frozen
class LedgerStats:
    """What ``ledger stats`` prints: volumes, date range, invoices per practitioner and month."""

    invoices: int
    cancelled: int
    first_date: dt.date | None
    last_date: dt.date | None
    schema_version: int
    #: (practitioner_id, "YYYY-MM", invoices of that month, cancelled ones included)
    per_month: tuple[tuple[str, str, int], ...]


@runtime_checkable
class Ledger(Protocol):
    """Storage of past invoices; every method is atomic, and safe with other processes at once."""

    #: Where the ledger lives, for messages (a path, or a URL without its password).
    label: str

    def history(self, request: HistoryRequest) -> Iterator[Event]:
        """Billed (never cancelled) invoices matching ``request``, each once, in no particular order."""
        ...

    def record(self, events: Iterable[Event]) -> int:
        """Store ``events`` in one transaction; returns the number stored.

        An invoice already there (same practitioner and invoice id) is replaced, never doubled.
        """
        ...

    def events(
        self, *, practitioner_id: str | None = None, start: dt.date | None = None, end: dt.date | None = None
    ) -> Iterator[Event]:
        """Every stored invoice (cancelled ones too), by date, optionally for one practitioner/period."""
        ...

    def forget(self, before: dt.date) -> int:
        """Delete the invoices dated before ``before`` (retention); returns how many."""
        ...

    def stats(self) -> LedgerStats:
        """Volumes of the ledger."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def is_url(target: str) -> bool:
    """Whether ``--ledger`` names a PostgreSQL server rather than a file."""
    return target.strip().lower().startswith(("postgresql://", "postgres://"))
