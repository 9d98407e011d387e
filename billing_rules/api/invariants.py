"""What the validator restores after the engines and the plugins: SPEC invariants, whoever broke them.

Kept apart from :mod:`billing_rules.api.validator` so that module stays readable (and within the
project's size limit); nothing here depends on how a check is run.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from billing_rules.engines.findings import reported_amount
from billing_rules.model import Event, Finding


def without_copies(history: Iterable[Event], events: Iterable[Event]) -> list[Event]:
    """The history minus the invoices the input carries again (same practitioner and invoice id).

    Re-checking an already recorded day must not count its invoices twice (SPEC §1, §3).
    """
    history = list(history)
    if not history:
        return history
    keys = {(event.practitioner_id, event.invoice_id) for event in events}
    return [event for event in history if (event.practitioner_id, event.invoice_id) not in keys]


def as_reported(findings: list[Finding]) -> list[Finding]:
    """The adjusted findings with SPEC §2's invariants back: whatever a plugin changed or added.

    A warning carries no amount (except AMOUNT-ABOVE's excess): an error a plugin turned into a
    warning must not keep its euros at risk in the reports' and statistics' totals. And an
    invoice's findings are in rule-code order, an added one (or an adjuster's INTERNAL-ERROR)
    included.
    """
    kept = [
        item
        if (amount := reported_amount(item.rule, item.severity, item.amount)) is item.amount
        else attrs.evolve(item, amount=amount)
        for item in findings
    ]
    if len(kept) > 1:
        kept.sort(key=lambda finding: finding.rule)
    return kept
