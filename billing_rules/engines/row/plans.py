"""What the row engine runs for one invoice: its plan, decided once per codes, period and plan fields.

Apart from the engine's loop (``engine.py``) because it is the part that decides, before any rule is
called, which rules cannot apply to a whole class of invoices: those out of force on the date, those
that judge none of the codes billed (``DslRule.judges``), those whose condition the plan's few-valued
fields already make false. Most invoices then stop at a rule's cheap gate.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import attrs

from billing_rules.dsl.program import CounterSpec, DslRule
from billing_rules.interrupt import reraise_if_real
from billing_rules.model import FEW_VALUED_FIELDS, Event
from billing_rules.rule import Rule, WindowCount

Gate = Callable[[Event], Any]
Counting = tuple[tuple[CounterSpec, "Gate | None"], ...]


@attrs.frozen
class Plan:
    """The rules (with their gates) and counters for one combination of codes and period."""

    errors: tuple[tuple[Rule, Gate | None], ...]
    warnings: tuple[tuple[Rule, Gate | None], ...]
    opportunities: tuple[tuple[Rule, Gate | None], ...]
    counters: tuple[tuple[CounterSpec, Gate | None], ...]


def gate_of(rule: Rule) -> Gate | None:
    """A cheap necessary condition of a compiled rule: its ``when`` and its counter's condition.

    Most invoices fail it, so the rule's full check (window counts, message) runs only where it
    may fire. Rules written in Python have no gate: they are always asked.
    """
    if not isinstance(rule, DslRule):
        return None
    condition = rule.condition
    if rule.frequency is None:
        return condition
    counts = rule.frequency.counter.counts
    if condition is None:
        return counts
    return lambda event: condition(event) and counts(event)


#: The invoice fields a plan is made for, besides its codes and period: the few-valued ones. A
#: condition part reading only these has one value per plan (see ``dsl/reads.py``).
PLAN_FIELDS = FEW_VALUED_FIELDS
plan_values = operator.attrgetter(*PLAN_FIELDS)
#: What a plan decides: its fields, the codes (in its key) and the texts of its period.
DECIDABLE = frozenset({*PLAN_FIELDS, "codes", "texts"})


def parts_false(parts: Any, event: Event) -> bool:
    """Whether one ``and`` part that reads only plan fields is false for ``event``."""
    for predicate, reads in parts:
        if reads is not None and reads <= DECIDABLE:
            try:
                if not predicate(event):
                    return True
            except BaseException as exc:  # noqa: BLE001 - left to the normal path, which reports it
                reraise_if_real(exc)
                continue
    return False


def ruled_out(rule: Rule, event: Event, view: Any) -> bool:
    """Whether the plan's fields alone show that ``rule`` cannot fire for any of its invoices."""
    if isinstance(rule, DslRule):
        if parts_false(rule.condition_parts, event):
            return True
        frequency = rule.frequency
        if frequency is None:
            return False
        counter = frequency.counter
        if counter.triggers is not None and counter.triggers.isdisjoint(event.code_set):
            return True
        return parts_false(counter.counting_parts, event)
    reads = getattr(rule, "reads", None)
    if reads is None or not reads <= DECIDABLE:
        return False
    try:
        return not any(True for _ in rule.check(event, view))
    except BaseException as exc:  # noqa: BLE001 - left to the normal path, which reports it
        reraise_if_real(exc)
        return False


class TextsOnly:
    """The history view of a rule decided per plan: tariffs only, never window counts."""

    def __init__(self, tariffs: Any) -> None:
        self._tariffs = tariffs

    def count(self, counter: CounterSpec, event: Event) -> list[WindowCount]:
        """Refused: a rule decided per plan reads no window (``Rule.reads`` says it does not)."""
        raise RuntimeError("a rule that declares what it reads must not count windows")

    def tariff(self, code: str, day: dt.date) -> Decimal | None:
        """The tariff of ``code`` in force on ``day``: the same for every invoice of the plan."""
        return self._tariffs.on(code, day)


def period_starts(spans: Iterable[tuple[dt.date | None, dt.date | None]]) -> list[dt.date]:
    """Where the calendar is cut: each span's first day and the day after its last (None: open)."""
    edges: set[dt.date] = set()
    for start, end in spans:
        if start is not None:
            edges.add(start)
        if end is not None and end < dt.date.max:
            edges.add(end + dt.timedelta(days=1))
    return sorted(edges)


def in_force(rule: Rule, day: dt.date) -> bool:
    """Whether ``day`` lies within the rule's ``valid_from`` / ``valid_until``, when it has them."""
    valid_from = getattr(rule, "valid_from", None)
    valid_until = getattr(rule, "valid_until", None)
    return (valid_from is None or day >= valid_from) and (valid_until is None or day <= valid_until)


def judged(rule: Rule, event: Event) -> bool:
    """Whether ``rule`` judges the invoices of ``event``'s plan (``DslRule.judges``; others: always).

    Decided per plan, before any condition is evaluated: an error or warning rule stays silent on a
    code billed where it does not exist (CODE-DATE alone speaks), so its condition must not run there
    either, where it could only fail (an extra column compared as a date) and cost the invoice an
    INTERNAL-ERROR. The plan's key holds the codes billed, and its period changes wherever a code's
    existence does, so one answer holds for every invoice of the plan.
    """
    return not isinstance(rule, DslRule) or rule.judges(event)
