"""The real-time API: a validator session bound to a ledger, for practice software.

The software calls :meth:`LedgerSession.check_one` as the user types an invoice (the same invoice
again and again as it changes), and :meth:`LedgerSession.record` once it is validated. Each check
asks the ledger once for the windows of that invoice's patient and practitioner, adds the invoices
checked earlier in the session (the latest version of each), and runs the rules on a fresh
in-memory history: no history is cached, so a VL recorded a second ago on another workstation
counts (only the conversion of unchanged rows to events is).

    validator = Validator.build()                      # once per process
    with validator.session(ledger="registre.db") as session:
        findings = session.check_one(invoice_values)   # as the user types; nothing stored
        session.record(invoice_values)                 # once the invoice is validated
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from billing_rules.ledger import HistoryRequest, Ledger, WindowQuery, open_ledger
from billing_rules.ledger.common import plan_windows
from billing_rules.model import Event, Finding

if TYPE_CHECKING:
    from billing_rules.validator import Validator


class LedgerSession:
    """Invoices checked one at a time against a ledger and against each other.

    Use it as a context manager when it opened the ledger itself (given a path or URL).
    """

    def __init__(self, validator: Validator, ledger: Ledger | str | Path) -> None:
        self._validator = validator
        self._engine = validator.engine
        self._counters = list(self._engine.counters.values())
        self._owns = not isinstance(ledger, Ledger)
        self.ledger: Ledger = open_ledger(ledger) if not isinstance(ledger, Ledger) else ledger
        # Checked in this session, not recorded: the latest version of each invoice.
        self._pending: dict[tuple[str, str], Event] = {}
        self._plans: dict[dt.date, tuple[WindowQuery, ...]] = {}

    def _event(self, invoice: Event | Mapping[str, Any]) -> Event:
        return invoice if isinstance(invoice, Event) else self._validator.invoice(invoice)

    def _windows(self, day: dt.date) -> tuple[WindowQuery, ...]:
        plan = self._plans.get(day)
        if plan is None:
            if len(self._plans) > 1024:
                self._plans.clear()
            plan = self._plans[day] = plan_windows(self._counters, day, day)
        return plan

    def check_one(self, invoice: Event | Mapping[str, Any]) -> list[Finding]:
        """Findings of ``invoice`` against the ledger and the invoices checked earlier in the session.

        The invoice is not stored, but it counts for the next checks of the session.

        An invoice with the same practitioner and invoice id as a stored or earlier-checked one is
        the same invoice: this version replaces it. Raises
        :class:`billing_rules.validator.InvalidInvoice` for unreadable values,
        :class:`billing_rules.ledger.LedgerError` when the ledger fails.
        """
        event = self._event(invoice)
        request = HistoryRequest(
            patients=frozenset((event.patient_id,)),
            practitioners=frozenset((event.practitioner_id,)),
            windows=self._windows(event.date),
        )
        session = self._engine.session()
        pending = self._pending
        own = event.key
        for past in self.ledger.history(request):
            key = past.key
            if key != own and key not in pending:
                session.record(past)
        # Every pending invoice of the same patient or practitioner: a superset of what the windows
        # need (a window only counts its own key and days), cheaper than matching each window.
        patient, practitioner = event.patient_id, event.practitioner_id
        for key, past in pending.items():
            if key != own and (past.patient_id == patient or past.practitioner_id == practitioner):
                session.record(past)
        findings = self._validator._adjust(session.check(event), event)  # noqa: SLF001 - same package family
        pending.pop(own, None)
        pending[own] = event
        return findings

    def record(self, invoice: Event | Mapping[str, Any]) -> None:
        """Store ``invoice`` in the ledger, replacing a stored copy.

        It leaves the session's pending invoices, since the ledger now holds it.
        """
        event = self._event(invoice)
        self.ledger.record([event])
        self._pending.pop(event.key, None)

    def discard(self, invoice: Event | Mapping[str, Any]) -> None:
        """Forget an invoice checked in this session and never recorded (the user abandoned it)."""
        event = self._event(invoice)
        self._pending.pop(event.key, None)

    @property
    def pending(self) -> tuple[Event, ...]:
        """Invoices checked in this session and not recorded."""
        return tuple(self._pending.values())

    def close(self) -> None:
        """Close the ledger if this session opened it."""
        if self._owns:
            self.ledger.close()

    def __enter__(self) -> LedgerSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
