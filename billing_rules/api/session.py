"""The real-time API: invoices checked one at a time, as practice software writes them.

The software calls :meth:`Session.check_one` as the user types an invoice (the same invoice again
and again as it changes), and :meth:`Session.record` once it is validated. One session type serves
every history: a ledger (an SQLite file, a PostgreSQL server: shared by the workstations of a
practice) or, without one, a history held in memory for software that keeps its own (it records
its past invoices into the session). ::

    validator = Validator.build()                      # once per process
    with validator.session(ledger="registre.db") as session:
        findings = session.check_one(invoice_values)   # as the user types; nothing stored
        session.record(invoice_values)                 # once the invoice is validated

Each check asks the history once for the windows of that invoice's patient and practitioner, adds
the invoices checked earlier in the session and not recorded (the latest version of each), and
runs the rules on a fresh count: nothing is cached, so a VL recorded a second ago on another
workstation counts. An invoice is never counted against itself or twice (SPEC §5): the copy being
checked replaces the history's and the pending one (same practitioner and invoice id).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from billing_rules.errors import InvalidInvoice
from billing_rules.ledger import HistoryRequest, Ledger, WindowQuery
from billing_rules.ledger.common import ordered_history, plan_windows
from billing_rules.ledger.memory import MemoryLedger
from billing_rules.model import Event, Finding
from billing_rules.readers.native import as_event
from billing_rules.readers.rows import readable_text

if TYPE_CHECKING:
    from billing_rules.engines.row.engine import Engine

#: What the validator does to a check's findings afterwards (the plugins' ``adjust_findings``).
Adjust = Callable[[list[Finding], Event], list[Finding]]


class Session:
    """Invoices checked one at a time against a history and against each other.

    Made by :meth:`billing_rules.Validator.session`. Use it as a context manager: it closes the
    ledger it opened itself (given a path or URL); a ledger object it was given stays open.

    Its calls are taken one at a time, so worker threads may share one session. A ledger object is
    one connection: two sessions given the same object must not be used from two threads at once
    (open each from the path or URL instead).

    Every method taking an invoice takes an :class:`~billing_rules.Event` or a mapping of SPEC §1
    columns (text spellings or typed Python values, see :mod:`billing_rules.readers.native`), and
    raises :class:`~billing_rules.InvalidInvoice` for unreadable values before anything is
    checked or stored; a ledger that fails raises :class:`~billing_rules.LedgerError`.
    """

    def __init__(
        self,
        engine: Engine,
        ledger: Ledger | None = None,
        *,
        owns_ledger: bool = False,
        adjust: Adjust | None = None,
    ) -> None:
        self._engine = engine
        self._counters = list(engine.counters.values())
        self._owns = owns_ledger or ledger is None
        self._adjust = adjust
        #: Where recorded invoices go and history comes from (a :class:`MemoryLedger` without one).
        self.ledger: Ledger = MemoryLedger() if ledger is None else ledger
        # Checked in this session and not recorded: the latest version of each invoice.
        self._pending = MemoryLedger()
        self._plans: dict[dt.date, tuple[WindowQuery, ...]] = {}
        # One call at a time: a server's worker threads may share a session (or the validator's
        # own); the pending invoices, the plans and the ledger's connection are not for two at once.
        self._lock = threading.RLock()

    def _windows(self, day: dt.date) -> tuple[WindowQuery, ...]:
        plan = self._plans.get(day)
        if plan is None:
            if len(self._plans) > 1024:
                self._plans.clear()
            plan = self._plans[day] = plan_windows(self._counters, day, day)
        return plan

    def check_one(self, invoice: Event | Mapping[str, object]) -> list[Finding]:
        """Findings of ``invoice`` against the history and the invoices checked earlier in the session.

        The invoice is not stored, but it counts for the next checks of the session until it is
        recorded or discarded. An invoice with the same practitioner and invoice id as a stored
        or earlier-checked one is the same invoice: this version replaces it.
        """
        event = as_event(invoice)
        with self._lock:
            return self._check(event)

    def _check(self, event: Event) -> list[Finding]:
        request = HistoryRequest(
            patients=frozenset((event.patient_id,)),
            practitioners=frozenset((event.practitioner_id,)),
            windows=self._windows(event.date),
        )
        counts = self._engine.session()
        pending = self._pending
        own = event.key
        # In the ledger's order, as a whole file's check counts them (ties of one day: the first named).
        for past in ordered_history(self.ledger, request):
            key = past.key
            if key != own and key not in pending:
                counts.record(past)
        for past in pending.history(request):
            if past.key != own:
                counts.record(past)
        findings = counts.check(event)
        if self._adjust is not None:
            findings = self._adjust(findings, event)
        pending.record((event,))
        return findings

    def record(self, invoice: Event | Mapping[str, object]) -> None:
        """Store ``invoice`` in the history, replacing a stored copy (it never counts twice).

        It leaves the session's pending invoices, since the history now holds it. A cancelled
        invoice (``status`` ``cancelled``) is stored too: it then counts for nothing.
        """
        event = as_event(invoice)
        with self._lock:
            self.ledger.record((event,))
            self._pending.remove(event.key)

    def discard(self, invoice: Event | Mapping[str, object]) -> None:
        """Forget an invoice checked in this session and never recorded (the user abandoned it).

        The version checked last is dropped, whatever the values given now: an invoice left with
        unreadable values is discarded by its practitioner and invoice id.
        """
        if isinstance(invoice, Event):
            with self._lock:
                self._pending.remove(invoice.key)
            return
        try:
            key = as_event(invoice).key
        except InvalidInvoice:
            if not isinstance(invoice, Mapping):
                raise
            practitioner_id = readable_text(invoice, "practitioner_id")
            invoice_id = readable_text(invoice, "invoice_id")
            if practitioner_id is None or invoice_id is None:
                raise
            key = (practitioner_id, invoice_id)
        with self._lock:
            self._pending.remove(key)

    @property
    def pending(self) -> tuple[Event, ...]:
        """Invoices checked in this session and not recorded, latest versions."""
        with self._lock:
            return tuple(self._pending)

    def close(self) -> None:
        """Close the ledger if this session opened it."""
        if self._owns:
            with self._lock:
                self.ledger.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: The name this class had when only a ledger had sessions; kept for existing imports.
LedgerSession = Session
