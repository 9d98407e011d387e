"""The engine: runs the rules over invoices in SPEC order, keeping the windows' counts.

Each invoice is handed only to the rules its codes can wake (an index by code), then counted in the
windows it belongs to. Errors and warnings come first; opportunities are looked for only on invoices
with no error, and each suggested coding is itself checked against the error rules, so that an
opportunity is always compliant (SPEC §5).
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import attrs

from billing_rules.dsl.program import CounterSpec, DslRule, RuleSet
from billing_rules.engines.findings import INTERNAL_ERROR as INTERNAL_ERROR
from billing_rules.engines.findings import MalformedResult as MalformedResult
from billing_rules.engines.findings import (
    RuleMeta,
    _crashed,
    _finding,
    _well_formed,
    misses_nothing,
    undeclared,
)
from billing_rules.engines.row.counters import declared_counters
from billing_rules.engines.row.plans import (
    DECIDABLE,
    Counting,
    Gate,
    Plan,
    TextsOnly,
    gate_of,
    in_force,
    judged,
    parts_false,
    period_starts,
    plan_values,
    ruled_out,
)
from billing_rules.engines.row.plans import PLAN_FIELDS as PLAN_FIELDS
from billing_rules.engines.row.windows import WindowStore
from billing_rules.interrupt import reraise_if_real
from billing_rules.model import Event, Finding, Severity, Status, civil_week_of
from billing_rules.rule import Hit, Rule, WindowCount

log = logging.getLogger(__name__)


class Engine:
    """Rules indexed for dispatch; build once per rule set, then open sessions."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.tariffs = ruleset.tariffs
        rules = sorted(ruleset.rules, key=lambda rule: rule.code)
        self._by_code: dict[str, list[Rule]] = {}
        self._always: list[Rule] = []
        for rule in rules:
            if rule.triggers is None:
                self._always.append(rule)
            else:
                for code in rule.triggers:
                    self._by_code.setdefault(code, []).append(rule)
        self.counters: dict[int, CounterSpec] = {}
        for rule in rules:
            frequency = getattr(rule, "frequency", None)
            if frequency is not None:
                self.counters[frequency.counter.id] = frequency.counter
        #: The counter the store keeps for each counter a rule may pass to ``history.count``, by
        #: identity: a DSL rule's is its own; a Python rule's (declared in its ``counters``) is
        #: renumbered, so that its id never shares windows with another counter.
        self.kept: dict[CounterSpec, CounterSpec] = {counter: counter for counter in self.counters.values()}
        next_id = max(self.counters, default=-1) + 1
        for rule in rules:
            for counter in declared_counters(rule):
                if counter not in self.kept:
                    kept = attrs.evolve(counter, id=next_id)
                    next_id += 1
                    self.kept[counter] = self.counters[kept.id] = kept
        self._counters_by_code: dict[str, list[CounterSpec]] = {}
        self._counters_always: list[CounterSpec] = []
        for counter in self.counters.values():
            if counter.triggers is None:
                self._counters_always.append(counter)
            else:
                for code in counter.triggers:
                    self._counters_by_code.setdefault(code, []).append(counter)
        self._dispatch_cache: dict[frozenset[str], tuple[list[Rule], list[Rule], list[Rule]]] = {}
        self._gates = {id(rule): gate_of(rule) for rule in rules}
        #: What each rule's findings carry besides the hit: citation, action, facts, window shape.
        self.meta: dict[int, RuleMeta] = {id(rule): RuleMeta.of(rule) for rule in rules}
        # Validity dates cut the calendar into periods in which the same rules are in force: a plan
        # is made per (codes, period), so rules out of force are not even looked at.
        spans = [(getattr(rule, "valid_from", None), getattr(rule, "valid_until", None)) for rule in rules]
        # Rules that read the dated texts ("texts": tariffs, code validity) are decided once per
        # plan too, so periods also change wherever a tariff or a code's existence does.
        tariffs = ruleset.tariffs
        spans += [(row.start, row.end) for code in tariffs.codes() for row in tariffs.rows(code)]
        spans += [period for info in getattr(ruleset, "codes", {}).values() for period in info.periods]
        self._edges = period_starts(spans)
        self._periods: dict[dt.date, int] = {}
        self._plans: dict[tuple[tuple[str, ...], int, tuple[Any, ...]], Plan] = {}
        self._wakes: dict[tuple[str, ...], bool] = {}
        self._counting: dict[tuple[tuple[str, ...], tuple[Any, ...]], Counting] = {}
        self._counting_by_codes: dict[frozenset[str], Counting] = {}

    def rules_for(self, codes: frozenset[str]) -> tuple[list[Rule], list[Rule], list[Rule]]:
        """(errors, warnings, opportunities) that may apply to an invoice billing ``codes``.

        Cached per combination of codes: a practice bills a few dozen combinations, not thousands.
        """
        cached = self._dispatch_cache.get(codes)
        if cached is not None:
            return cached
        selected: dict[str, Rule] = {rule.code: rule for rule in self._always}
        for code in codes:
            for rule in self._by_code.get(code, ()):
                selected[rule.code] = rule
        ordered = [selected[code] for code in sorted(selected)]
        result = (
            [rule for rule in ordered if rule.severity is Severity.ERROR],
            [rule for rule in ordered if rule.severity is Severity.WARNING],
            [rule for rule in ordered if rule.severity is Severity.OPPORTUNITY],
        )
        if len(self._dispatch_cache) < 4096:
            self._dispatch_cache[codes] = result
        return result

    def counters_for(self, codes: frozenset[str]) -> list[CounterSpec]:
        """Counters an invoice billing ``codes`` may be counted in."""
        found = {counter.id: counter for counter in self._counters_always}
        for code in codes:
            for counter in self._counters_by_code.get(code, ()):
                found[counter.id] = counter
        return list(found.values())

    def wakes(self, codes: tuple[str, ...]) -> bool:
        """Whether an invoice billing ``codes`` can matter to some rule or counter, in some period.

        The readers build no event for the others (most consultations, under a small rule set):
        they are validated and counted, and nothing else would ever read them.
        """
        found = self._wakes.get(codes)
        if found is None:
            code_set = frozenset(codes)
            errors, warnings, opportunities = self.rules_for(code_set)
            found = bool(errors or warnings or opportunities or self.counters_for(code_set))
            if len(self._wakes) < _MEMO_MAX:
                self._wakes[codes] = found
        return found

    def session(self) -> Session:
        """A fresh history (windows) to check invoices against."""
        return Session(self)

    def plan(self, event: Event) -> Plan:
        """What to run for ``event``, cached per (codes as billed, period of validity, plan fields).

        The codes as billed, not their set: a rule decided per plan may count them (AMOUNT-* prices
        VG+MD+VG above VG+MD). ``Event`` keeps them as a tuple, whatever its caller gave.

        The rules its codes wake that are in force on its date, each with its cheap gate, and the
        counters it may be counted in; less those that the plan's fields (:data:`PLAN_FIELDS`)
        already rule out, decided once on the plan's first invoice.
        """
        day = event.date
        period = self._periods.get(day)
        if period is None:
            period = bisect.bisect_right(self._edges, day)
            if len(self._periods) < _MEMO_MAX:
                self._periods[day] = period
        key = (event.codes, period, plan_values(event))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._make_plan(event)
            if len(self._plans) < _MEMO_MAX:
                self._plans[key] = plan
        return plan

    def _make_plan(self, event: Event) -> Plan:
        codes, day = event.code_set, event.date
        errors, warnings, opportunities = self.rules_for(codes)
        view = TextsOnly(self.tariffs)

        def gated(rules: list[Rule]) -> tuple[tuple[Rule, Gate | None], ...]:
            return tuple(
                (rule, self._gates[id(rule)])
                for rule in rules
                if in_force(rule, day) and judged(rule, event) and not ruled_out(rule, event, view)
            )

        return Plan(gated(errors), gated(warnings), gated(opportunities), self.counting(event))

    def counting(self, event: Event) -> Counting:
        """The counters ``event`` may be counted in, cached per codes (as billed) and plan fields.

        Apart from :meth:`plan` because history is only counted, never checked: recording a long
        history must not build a plan per period for each of its invoices.
        """
        codes = event.code_set
        counters = self._counting_by_codes.get(codes)
        if counters is not None:
            return counters  # no counter of these codes has a part the plan fields decide
        key = (event.codes, plan_values(event))
        counters = self._counting.get(key)
        if counters is None:
            candidates = self.counters_for(codes)
            if len(self._counting_by_codes) < _MEMO_MAX and not any(
                reads is not None and reads <= DECIDABLE
                for counter in candidates
                for _, reads in counter.counting_parts
            ):
                counters = tuple((counter, counter.counting) for counter in candidates)
                self._counting_by_codes[codes] = counters
                return counters
            counters = tuple(
                (counter, counter.counting)
                for counter in candidates
                if not parts_false(counter.counting_parts, event)
            )
            if len(self._counting) < _MEMO_MAX:
                self._counting[key] = counters
        return counters


@attrs.define
class _View:
    """The read-only history a rule sees (see :class:`billing_rules.rule.HistoryView`)."""

    store: WindowStore
    engine: Engine

    def count(self, counter: CounterSpec, event: Event) -> list[WindowCount]:
        kept = self.engine.kept.get(counter)
        if kept is None:  # never a count of windows nobody kept: it would silently read as empty
            raise undeclared()
        return self.store.count(kept, event)

    def tariff(self, code: str, day: dt.date) -> Decimal | None:
        return self.engine.tariffs.on(code, day)


class Session:
    """Invoices checked one after the other against a growing history."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = WindowStore()
        self._view = _View(self.store, engine)
        self._last_day: dt.date | None = None

    # --- history -------------------------------------------------------------------------------

    def record(self, event: Event) -> None:
        """Count ``event`` in its windows (it becomes history for the invoices that follow)."""
        if event.status is not _CANCELLED:
            self._record(event, self.engine.counting(event))

    def _record(self, event: Event, counters: Counting) -> None:
        add = self.store.add
        for counter, counting in counters:
            # The plan holds the counters whose codes the invoice bills: only the condition is left.
            if counting is None or counting(event):
                add(counter, event)

    def advance(self, day: dt.date) -> None:
        """Tell the session the input has reached ``day`` (sorted input): old windows are dropped."""
        last = self._last_day
        if last is None or day > last:
            if last is not None and civil_week_of(day) != civil_week_of(last):
                self.store.expire(day, self.engine.counters)
            self._last_day = day

    # --- checking ------------------------------------------------------------------------------

    def check(self, event: Event) -> list[Finding]:
        """Findings of ``event`` against the history so far, without recording it."""
        if event.status is _CANCELLED:
            return []
        return self._check(event, self.engine.plan(event))

    def process(self, event: Event) -> list[Finding]:
        """Check then record: the normal path for the invoices of a file, in SPEC order."""
        self.advance(event.date)
        if event.status is _CANCELLED:
            return []
        plan = self.engine.plan(event)
        findings = self._check(event, plan)
        self._record(event, plan.counters)
        return findings

    def _check(self, event: Event, plan: Plan) -> list[Finding]:
        findings = self._run(plan.errors, event) if plan.errors else []
        # An error rule's finding, or its crash, leaves the invoice not known compliant: no
        # opportunity then (SPEC §5). A warning rule's crash (an INTERNAL-ERROR too) says nothing
        # of compliance: it must not cost the invoice the other rules' opportunities.
        compliant = not findings
        if plan.warnings:
            findings += self._run(plan.warnings, event)
        if plan.opportunities and compliant:
            findings += self._opportunities(plan.opportunities, event)
        if len(findings) > 1:
            findings.sort(key=_by_rule)
        return findings

    def _run(self, checks: Iterable[tuple[Rule, Gate | None]], event: Event) -> list[Finding]:
        """Findings of the rules ``checks`` (the hot loop: most invoices stop at the gates)."""
        findings = []
        view = self._view
        for rule, gate in checks:
            try:
                if gate is not None and not gate(event):
                    continue
                hits = rule.check(event, view)
                if not hits:
                    continue
                hits = _well_formed(rule, list(hits))
            except BaseException as exc:  # noqa: BLE001 - one broken rule must not stop the whole check
                reraise_if_real(exc)  # only a real Ctrl-C stops the check, never a plugin's SystemExit
                hits = [_crashed(rule, exc)]
            for hit in hits:
                findings.append(_finding(rule, hit, event, self.engine.meta.get(id(rule))))
        return findings

    def _hits(self, rule: Rule, gate: Gate | None, event: Event) -> list[Hit]:
        """The rule's hits; the gate (its condition, compiled) spares the call on most invoices."""
        try:
            if gate is not None and not gate(event):
                return _NO_HITS
            hits = rule.check(event, self._view)
            return _well_formed(rule, list(hits)) if hits else _NO_HITS
        except BaseException as exc:  # noqa: BLE001 - one broken rule must not stop the whole check
            reraise_if_real(exc)
            return [_crashed(rule, exc)]

    def _has_error(self, event: Event) -> bool:
        return any(self._hits(rule, gate, event) for rule, gate in self.engine.plan(event).errors)

    def _warning_count(self, event: Event) -> int:
        return sum(len(self._hits(rule, gate, event)) for rule, gate in self.engine.plan(event).warnings)

    def _opportunities(self, rules: Iterable[tuple[Rule, Gate | None]], event: Event) -> list[Finding]:
        candidates: list[tuple[Rule, Hit]] = []
        for rule, gate in rules:
            try:
                if gate is not None and not gate(event):
                    continue  # most invoices stop here
            except BaseException as exc:  # noqa: BLE001 - one broken rule must not stop the whole check
                reraise_if_real(exc)
                candidates.append((rule, _crashed(rule, exc)))
                continue
            for hit in self._hits(rule, None, event):  # the gate passed: not asked twice
                if getattr(hit, "crashed", False):
                    candidates.append((rule, hit))
                    continue
                # Worth nothing: dropped before it can hide a better-paid one (``misses_nothing``).
                if misses_nothing(hit, event) or (
                    hit.suggested_codes is not None and self._has_error(event.with_codes(hit.suggested_codes))
                ):
                    continue
                candidates.append((rule, hit))
        if not candidates:
            return []
        kept = self._best_of_conflicting(candidates, event)
        meta = self.engine.meta
        return [_finding(rule, hit, event, meta.get(id(rule))) for rule, hit in kept]

    def _best_of_conflicting(
        self, candidates: list[tuple[Rule, Hit]], event: Event
    ) -> list[tuple[Rule, Hit]]:
        """Of two suggestions that recode the same act (both replace the visit), the better one.

        Only it is reported, so missed revenue is never counted twice (SPEC §5). Better means
        fewer warnings on the suggested coding, then more euros, then the rule code.
        """
        replacing = [
            (rule, hit)
            for rule, hit in candidates
            if hit.suggested_codes is not None
            and any(code not in hit.suggested_codes for code in event.codes)
        ]
        if len(replacing) < 2:
            return candidates
        dropped: set[int] = set()
        for i, (rule_a, hit_a) in enumerate(replacing):
            for rule_b, hit_b in replacing[i + 1 :]:
                removed_a = {code for code in event.codes if code not in (hit_a.suggested_codes or ())}
                removed_b = {code for code in event.codes if code not in (hit_b.suggested_codes or ())}
                if removed_a.isdisjoint(removed_b):
                    continue
                rank_a = self._rank(rule_a, hit_a, event)
                rank_b = self._rank(rule_b, hit_b, event)
                dropped.add(id(hit_b) if rank_a <= rank_b else id(hit_a))
        return [(rule, hit) for rule, hit in candidates if id(hit) not in dropped]

    def _rank(self, rule: Rule, hit: Hit, event: Event) -> tuple[int, Decimal, str]:
        suggested = event.with_codes(hit.suggested_codes or event.codes)
        return (self._warning_count(suggested), -(hit.amount or Decimal(0)), rule.code)


_CANCELLED = Status.CANCELLED
_NO_HITS: list[Hit] = []
_MEMO_MAX = 100_000


def _by_rule(finding: Finding) -> str:
    return finding.rule


def is_dsl_rule(rule: Rule) -> bool:
    """Whether ``rule`` was compiled from a rule file (``rules show`` prints its text)."""
    return isinstance(rule, DslRule)
