"""Hits of the relational plan to findings, with the row engine's own texts, amounts and SPEC §5 logic.

The plan decides which (invoice, rule) pairs fire and with which window; the few invoices that have
findings are rebuilt as events and their messages and amounts computed by the rules' own code
(``DslRule`` renders its message, a built-in Python rule its hit), so that both engines word every
finding the same. Opportunities follow the row engine: none on an invoice in error, none whose
suggested coding raises an error, and of two that recode the same act only the better one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import attrs

from billing_rules.engines.findings import _crashed, _finding, _well_formed, undeclared
from billing_rules.engines.relational.plan import DslPlan, Plan, PythonPlan, Unsupported
from billing_rules.interrupt import reraise_if_real
from billing_rules.model import Event, Finding, Severity
from billing_rules.rule import Hit, WindowCount


@attrs.frozen
class SqlHit:
    """One row of the hits query: a rule fires on a subject, with its window when it has one."""

    sid: int
    rule: str
    code: str | None = None
    count: int | None = None
    first_date: dt.date | None = None
    last_date: dt.date | None = None
    first_invoice: str | None = None
    first_practitioner: str | None = None

    @property
    def window(self) -> WindowCount:
        """The window as the row engine's counters give it."""
        return WindowCount(
            self.count or 0,
            self.first_date,
            self.last_date,
            self.code,
            self.first_invoice,
            self.first_practitioner,
        )


class TextsView:
    """The history view of a rule run row by row here: tariffs only, never window counts."""

    def __init__(self, tariffs: Any, window: WindowCount | None = None) -> None:
        self._tariffs = tariffs
        self._window = window

    def count(self, counter: Any, event: Event) -> list[WindowCount]:
        """The plan's window for a DSL rule; for a Python rule, the row engine's answer.

        A Python rule that declares ``counters`` is refused when the plan is made (``make_plan``),
        so one that counts here counts in a window it never declared: as on the row engine, that
        costs the invoice an INTERNAL-ERROR finding naming the rule (:func:`undeclared`), never an
        empty window, and never the run (an :class:`Unsupported` here would stop it mid-way).
        """
        if self._window is not None:
            return [self._window]
        raise undeclared()

    def tariff(self, code: str, day: dt.date) -> Decimal | None:
        """The tariff of ``code`` in force on ``day``."""
        return self._tariffs.on(code, day)


def render(plan: Plan, event: Event, hit: SqlHit | None, view: TextsView) -> list[Hit]:
    """The hits the rule reports on ``event``, computed by the rule's own code.

    Contained as the row engine contains a rule (``Session._run``): whatever it raises, save a real
    Ctrl-C (:func:`~billing_rules.interrupt.reraise_if_real`), and whatever it returns that is not a
    list of well-formed hits (:func:`~billing_rules.engines.findings._well_formed`) costs the invoice
    one INTERNAL-ERROR hit, never the run.
    """
    rule: Any = plan.rule  # a DslRule, a built-in or a plugin's rule (``Rule`` protocol)
    if isinstance(plan, DslPlan):
        # The rule's own check words the finding, its window the one the plan counted: the closure
        # re-tests the condition on this one invoice, and must agree with the plan.
        window = hit.window if hit is not None and plan.counter is not None else None
        view = TextsView(view._tariffs, window)
    try:
        found = rule.check(event, view)
        if not found:
            hits = []
        elif isinstance(plan, PythonPlan):
            hits = _well_formed(rule, list(found))
        else:
            # A DSL rule's hits are built by the project's own ``DslRule.check``, a built-in's by
            # the project's code: well formed by construction (checking 20 000 of them cost 0.2 s).
            hits = list(found)
    except Unsupported:
        raise  # a declared limitation of this engine, not the rule's failure
    except BaseException as exc:  # noqa: BLE001 - one broken rule must not stop the whole check
        reraise_if_real(exc)  # only a real Ctrl-C stops the check, never a plugin's SystemExit
        return [_crashed(rule, exc)]
    if not hits and not isinstance(plan, PythonPlan):
        # The plan said the rule fires here: a DSL rule or a built-in one must agree.
        form = "le plan relationnel" if isinstance(plan, DslPlan) else "la forme relationnelle"
        raise RuntimeError(f"{plan.code} : {form} et la règle diffèrent sur une facture")
    return hits


def findings_of(
    event: Event,
    hits: Iterable[tuple[Plan, Hit]],
    opportunities: list[tuple[Plan, Hit]],
    warnings_if_suggested: dict[str, int],
    meta: dict[str, Any],
) -> list[Finding]:
    """The event's findings in the row engine's order: errors, warnings, then opportunities, by rule.

    ``opportunities`` are the compliant candidates (their suggested coding raises no error);
    ``warnings_if_suggested`` counts the warnings each one's coding would raise, to choose between
    two that recode the same act.
    """
    hits = list(hits)
    found = [_finding(plan.rule, hit, event, meta.get(plan.code)) for plan, hit in hits]
    # As ``RowSession._check``: an error rule's hit, or its crash, blocks the opportunities; a
    # warning rule's crash does not.
    if opportunities and not any(plan.severity is Severity.ERROR for plan, _ in hits):
        kept = _best_of_conflicting(opportunities, event, warnings_if_suggested)
        found += [_finding(plan.rule, hit, event, meta.get(plan.code)) for plan, hit in kept]
    if len(found) > 1:
        found.sort(key=lambda finding: finding.rule)
    return found


def _best_of_conflicting(
    candidates: list[tuple[Plan, Hit]], event: Event, warnings: dict[str, int]
) -> list[tuple[Plan, Hit]]:
    """``Session._best_of_conflicting``: of two suggestions that replace the same codes, the better."""
    replacing = [
        (plan, hit)
        for plan, hit in candidates
        if hit.suggested_codes is not None and any(code not in hit.suggested_codes for code in event.codes)
    ]
    if len(replacing) < 2:
        return candidates

    def rank(plan: Plan, hit: Hit) -> tuple[int, Decimal, str]:
        return (warnings.get(plan.code, 0), -(hit.amount or Decimal(0)), plan.code)

    dropped: set[int] = set()
    for index, (plan_a, hit_a) in enumerate(replacing):
        for plan_b, hit_b in replacing[index + 1 :]:
            removed_a = {code for code in event.codes if code not in (hit_a.suggested_codes or ())}
            removed_b = {code for code in event.codes if code not in (hit_b.suggested_codes or ())}
            if removed_a.isdisjoint(removed_b):
                continue
            dropped.add(id(hit_b) if rank(plan_a, hit_a) <= rank(plan_b, hit_b) else id(hit_a))
    return [(plan, hit) for plan, hit in candidates if id(hit) not in dropped]
