"""The engine: runs the rules over invoices in SPEC order, keeping the windows' counts.

Each invoice is handed only to the rules its codes can wake (an index by code), then counted in the
windows it belongs to. Errors and warnings come first; opportunities are looked for only on invoices
with no error, and each suggested coding is itself checked against the error rules, so that an
opportunity is always compliant (SPEC §5).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from decimal import Decimal

import attrs

from billing_rules.dsl.rules import CounterSpec, DslRule
from billing_rules.model import Event, Finding, Severity
from billing_rules.rule import Hit, Rule, WindowCount
from billing_rules.ruleset import RuleSet
from billing_rules.windows import WindowStore

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
INTERNAL_ERROR = "INTERNAL-ERROR"


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
        self._counters_by_code: dict[str, list[CounterSpec]] = {}
        self._counters_always: list[CounterSpec] = []
        for counter in self.counters.values():
            if counter.triggers is None:
                self._counters_always.append(counter)
            else:
                for code in counter.triggers:
                    self._counters_by_code.setdefault(code, []).append(counter)
        self._dispatch_cache: dict[frozenset[str], tuple[list[Rule], list[Rule], list[Rule]]] = {}

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

    def session(self) -> Session:
        """A fresh history (windows) to check invoices against."""
        return Session(self)


@attrs.define
class _View:
    """The read-only history a rule sees (see :class:`billing_rules.rule.HistoryView`)."""

    store: WindowStore
    engine: Engine

    def count(self, counter: CounterSpec, event: Event) -> list[WindowCount]:
        return self.store.count(counter, event)

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
        if event.cancelled:
            return
        for counter in self.engine.counters_for(event.code_set):
            if counter.counts(event):
                self.store.add(counter, event)

    def advance(self, day: dt.date) -> None:
        """Tell the session the input has reached ``day`` (sorted input): old windows are dropped."""
        if self._last_day is None or day > self._last_day:
            if self._last_day is not None and day.isocalendar()[:2] != self._last_day.isocalendar()[:2]:
                self.store.expire(day, self.engine.counters)
            self._last_day = day

    # --- checking ------------------------------------------------------------------------------

    def check(self, event: Event) -> list[Finding]:
        """Findings of ``event`` against the history so far, without recording it."""
        if event.cancelled:
            return []
        errors, warnings, opportunities = self.engine.rules_for(event.code_set)
        findings = self._run(errors, event)
        findings += self._run(warnings, event)
        if not any(finding.severity is Severity.ERROR for finding in findings) and opportunities:
            findings += self._opportunities(opportunities, event)
        findings.sort(key=lambda finding: finding.rule)
        return findings

    def process(self, event: Event) -> list[Finding]:
        """Check then record: the normal path for the invoices of a file, in SPEC order."""
        self.advance(event.date)
        findings = self.check(event)
        self.record(event)
        return findings

    def _run(self, rules: Iterable[Rule], event: Event) -> list[Finding]:
        findings = []
        for rule in rules:
            for hit in self._hits(rule, event):
                findings.append(_finding(rule, hit, event))
        return findings

    def _hits(self, rule: Rule, event: Event) -> list[Hit]:
        try:
            return list(rule.check(event, self._view))
        except Exception as exc:  # noqa: BLE001 - one broken rule must not stop the whole check
            # The message names the rule and its plugin, never the patient.
            # Only the exception's type at default verbosity: its text may quote the invoice's
            # values, patient identifiers included. The traceback is for --debug (DEBUG level).
            log.error("la règle %s (%s) a échoué : %s", rule.code, rule.source, type(exc).__name__)
            log.debug("trace de l'échec de la règle %s", rule.code, exc_info=True)
            return [_crash_hit(rule, exc)]

    def _has_error(self, event: Event) -> bool:
        errors, _, _ = self.engine.rules_for(event.code_set)
        return any(self._hits(rule, event) for rule in errors)

    def _warning_count(self, event: Event) -> int:
        _, warnings, _ = self.engine.rules_for(event.code_set)
        return sum(len(self._hits(rule, event)) for rule in warnings)

    def _opportunities(self, rules: Iterable[Rule], event: Event) -> list[Finding]:
        candidates: list[tuple[Rule, Hit]] = []
        for rule in rules:
            for hit in self._hits(rule, event):
                if getattr(hit, "crashed", False):
                    candidates.append((rule, hit))
                    continue
                if hit.suggested_codes is not None and self._has_error(event.with_codes(hit.suggested_codes)):
                    continue
                candidates.append((rule, hit))
        kept = self._best_of_conflicting(candidates, event)
        return [_finding(rule, hit, event) for rule, hit in kept]

    def _best_of_conflicting(self, candidates: list[tuple[Rule, Hit]], event: Event) -> list[tuple[Rule, Hit]]:
        """Two suggestions that recode the same act (both replace the visit) are alternatives: only
        the better one is reported, so missed revenue is never counted twice (SPEC §5). Better means
        fewer warnings on the suggested coding, then more euros, then the rule code."""
        replacing = [
            (rule, hit)
            for rule, hit in candidates
            if hit.suggested_codes is not None and any(code not in hit.suggested_codes for code in event.codes)
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


@attrs.frozen
class _CrashHit(Hit):
    crashed: bool = True


def _crash_hit(rule: Rule, exc: Exception) -> Hit:
    return _CrashHit(
        message=f"erreur interne de la règle {rule.code} ({rule.source}) : {type(exc).__name__} ; "
        "cette facture n'a pas été entièrement vérifiée"
    )


def _finding(rule: Rule, hit: Hit, event: Event) -> Finding:
    crashed = getattr(hit, "crashed", False)
    amount = hit.amount
    if amount is not None:
        amount = Decimal(amount).quantize(CENT)
    severity = rule.severity
    if severity is Severity.WARNING and rule.code != "AMOUNT-ABOVE":
        amount = None  # SPEC §2: a warning's amount is null, except the excess of AMOUNT-ABOVE
    return Finding(
        rule=INTERNAL_ERROR if crashed else rule.code,
        severity=Severity.ERROR if crashed else severity,
        message=hit.message,
        invoice_id=event.invoice_id,
        practitioner_id=event.practitioner_id,
        patient_id=event.patient_id,
        date=event.date,
        line=event.line,
        file=event.file,
        amount=None if crashed else amount,
        suggestion=hit.suggestion,
        source=rule.source,
        seq=event.seq,
    )


def is_dsl_rule(rule: Rule) -> bool:
    """Whether ``rule`` was compiled from a rule file (``rules show`` prints its text)."""
    return isinstance(rule, DslRule)
