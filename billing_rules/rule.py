"""The interface every rule implements, whether compiled from the DSL or written in Python.

Plugins that need more than the DSL can say implement :class:`Rule` and register it through the
``register_rules`` hook; the engine treats them exactly like compiled rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import attrs

from billing_rules.model import Event, Severity


@attrs.frozen
class Hit:
    """What a rule says about one invoice; the engine turns it into a :class:`Finding`.

    ``suggested_codes`` is the invoice's full coding an opportunity proposes: the engine checks
    that this coding would raise no error before reporting the opportunity (SPEC §5).

    ``action`` is what to do, in French, when it depends on the invoice (the corrected coding);
    without it the finding takes the rule's own ``action``. ``window`` is the count that made a
    frequency rule fire (the first invoice of the window goes to the report). ``yearly``: the
    amount is a yearly forfait, summed apart from the day's missed revenue (SPEC §2).
    """

    message: str
    amount: Decimal | None = None
    suggestion: str | None = None
    suggested_codes: tuple[str, ...] | None = None
    action: str | None = None
    window: WindowCount | None = None
    yearly: bool = False


@attrs.frozen
class WindowCount:
    """How many counted invoices a window holds for one key, this invoice included if it counts.

    ``first_invoice_id`` and ``first_practitioner_id`` name the earliest invoice counted (its date
    is ``first_date``): the one a frequency finding points to.
    """

    count: int
    first_date: dt.date | None
    last_date: dt.date | None
    code: str | None = None
    first_invoice_id: str | None = None
    first_practitioner_id: str | None = None


class HistoryView(Protocol):
    """Read-only access to the history a rule may need: counts in windows, and tariffs."""

    def count(self, counter: Any, event: Event) -> list[WindowCount]:
        """Counts of ``counter`` for the event's keys (one per code with a ``per code`` scope).

        ``counter`` is a :class:`~billing_rules.dsl.program.CounterSpec` the engine keeps: a DSL
        rule's own, or one a Python rule declares in its ``counters``. Any other raises (the
        invoice gets an INTERNAL-ERROR finding naming the rule), never an empty count.
        """

    def tariff(self, code: str, day: dt.date) -> Decimal | None:
        """The tariff of ``code`` in force on ``day``."""


@runtime_checkable
class Rule(Protocol):
    """A rule: its public code, how serious its findings are, which codes wake it up."""

    code: str
    severity: Severity
    source: str
    #: Codes that make the rule apply; ``None`` means every invoice.
    triggers: frozenset[str] | None
    # Optional, recommended: ``citation``, the legal text behind the rule (article, decision,
    # date), and ``action``, what to do in French (the corrected coding, the proof to keep). Every
    # finding of the rule carries them (SPEC §2); a rule without them gets ``null`` in the report
    # and a warning from ``billing-rules rules check``. A :class:`Hit` may carry its own action.
    # Optional: ``reads``, a frozenset of the invoice fields the rule's result depends on, for a
    # rule that reads no history ("texts" stands for the tariffs and codes in force on the act's
    # date). When they are all among the engine's plan fields (``engine.PLAN_FIELDS``, ``codes``,
    # ``texts``), the engine asks the rule once per plan and skips it for the plan's other invoices
    # when it found nothing. Leave it out when unsure: the rule is then asked for every invoice.
    # Optional: ``counters``, the window counters (``CounterSpec``) the rule asks ``history.count``
    # for. The engine keeps them like the DSL rules' (the input's invoices and the ledger's history
    # counted in them); a rule declaring them runs on the row engine only.

    def check(self, event: Event, history: HistoryView) -> Iterable[Hit]:
        """The rule's findings for ``event``; empty when compliant."""
        ...
