"""The same activity under other texts (SPEC §7): "your 2025 activity under the 2026 texts".

The ledger's invoices of a period are checked twice, with the same history before them: once by
the texts in force on each invoice's date (what happened), once by the texts in force on one day
(``as_of``: its rules, tariffs and forfait rows, applied to every invoice). A code that does not
exist on ``as_of`` counts for nothing in the second run: it is left out of the invoices (no tariff,
no finding, no count), and an invoice left with no code is left out. The two runs are then tallied
per rule and per practitioner, and the forfait médecin traitant of the period's last year is priced
under each.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

import attrs

from billing_rules.model import Event, Finding, Severity

if TYPE_CHECKING:
    from billing_rules.api.validator import Validator
    from billing_rules.domain.forfait.estimate import ForfaitEstimate
    from billing_rules.domain.forfait.tables import PractitionerFacts

_ZERO = Decimal("0")


@attrs.frozen
class Tally:
    """Findings of one run for one rule or practitioner, and their euros by kind."""

    errors: int = 0
    warnings: int = 0
    opportunities: int = 0
    at_risk: Decimal = _ZERO
    missed: Decimal = _ZERO
    yearly_missed: Decimal = _ZERO

    @property
    def findings(self) -> int:
        """All findings, whatever their severity."""
        return self.errors + self.warnings + self.opportunities

    def add(self, finding: Finding) -> Tally:
        """This tally with one more finding."""
        amount = finding.amount or _ZERO
        if finding.severity is Severity.ERROR:
            return attrs.evolve(self, errors=self.errors + 1, at_risk=self.at_risk + amount)
        if finding.severity is Severity.WARNING:
            return attrs.evolve(self, warnings=self.warnings + 1)
        counted = self.opportunities + 1
        if finding.yearly:  # a forfait per year (OPP-MT-DECLARE), not money of the day (SPEC §2)
            return attrs.evolve(self, opportunities=counted, yearly_missed=self.yearly_missed + amount)
        return attrs.evolve(self, opportunities=counted, missed=self.missed + amount)


@attrs.frozen
class Comparison:
    """One line of the simulation: a rule, a practitioner or the whole period, before and after."""

    key: str
    before: Tally
    after: Tally

    @property
    def at_risk_change(self) -> Decimal:
        """Euros at risk under the ``as_of`` texts minus those under the texts of each date."""
        return self.after.at_risk - self.before.at_risk

    @property
    def missed_change(self) -> Decimal:
        """Euros missed under the ``as_of`` texts minus those under the texts of each date."""
        return self.after.missed - self.before.missed


@attrs.frozen
class ForfaitComparison:
    """One practitioner's forfait médecin traitant under each run's texts."""

    practitioner_id: str
    year: int
    #: None where no forfait table is in force (before 2017, the start of the tables held).
    before: ForfaitEstimate | None
    after: ForfaitEstimate | None

    @property
    def change(self) -> Decimal:
        """Euros per year the ``as_of`` texts add (negative: take away)."""
        return (self.after.total if self.after else _ZERO) - (self.before.total if self.before else _ZERO)


@attrs.frozen
class Simulation:
    """What ``billing-rules simulate`` prints."""

    start: dt.date
    end: dt.date
    as_of: dt.date
    practitioner_id: str | None
    invoices: int
    #: Codes that do not exist on ``as_of`` and how many invoices billed them (left out after).
    dropped_codes: tuple[tuple[str, int], ...]
    by_rule: tuple[Comparison, ...]
    by_practitioner: tuple[Comparison, ...]
    total: Comparison
    forfaits: tuple[ForfaitComparison, ...]
    draft_files: tuple[str, ...] = ()
    #: The engine that checked the invoices (``row``, or ``duckdb`` for the relational one).
    engine: str = "row"


def simulate(
    events: Iterable[Event],
    *,
    start: dt.date,
    end: dt.date,
    as_of: dt.date,
    now: Validator,
    then: Validator,
    practitioner_id: str | None = None,
    facts: Callable[[str], PractitionerFacts | None] | None = None,
    draft_files: Sequence[str] = (),
) -> Simulation:
    """Check the invoices dated ``start`` to ``end`` under each run's texts, and compare.

    ``events`` are the ledger's invoices up to ``end``: those before ``start`` are the history both
    runs count first. ``now`` judges by each invoice's date; ``then`` was built with
    ``texts_as_of=as_of`` (and the draft rule files). Findings and forfaits are those of
    ``practitioner_id`` when given, of every practitioner otherwise (the windows count every
    practitioner's invoices either way: a VL of the quarter counts whoever billed it).
    """
    ordered = [attrs.evolve(event, seq=index) for index, event in enumerate(events) if event.date <= end]
    history = [event for event in ordered if event.date < start]
    period = [event for event in ordered if event.date >= start]
    exists = _exists_on(now, as_of)
    dropped: dict[str, int] = {}
    history_then = _without_absent(history, exists, {})
    period_then = _without_absent(period, exists, dropped)
    before = now.check_events(period, history=history).findings
    after = then.check_events(period_then, history=history_then).findings
    return compared(
        before,
        after,
        start=start,
        end=end,
        as_of=as_of,
        now=now,
        then=then,
        practitioners={event.practitioner_id for event in period},
        invoices=lambda chosen: sum(1 for event in period if event.practitioner_id in chosen),
        invoices_of=lambda who: ordered,
        dropped=dropped,
        practitioner_id=practitioner_id,
        facts=facts,
        draft_files=draft_files,
    )


def compared(
    before: Iterable[Finding],
    after: Iterable[Finding],
    *,
    start: dt.date,
    end: dt.date,
    as_of: dt.date,
    now: Validator,
    then: Validator,
    practitioners: Iterable[str],
    invoices: Callable[[Sequence[str]], int],
    invoices_of: Callable[[str], list[Event]],
    dropped: dict[str, int],
    practitioner_id: str | None,
    facts: Callable[[str], PractitionerFacts | None] | None,
    draft_files: Sequence[str],
    engine: str = "row",
) -> Simulation:
    """The two runs' findings compared, and each practitioner's forfaits, whichever engine checked.

    Both engines end here so that the report cannot differ by how it is tallied: ``practitioners``
    are those who billed in the period, ``invoices`` counts the period's invoices of the chosen
    ones, ``invoices_of`` gives the invoices a practitioner's forfait estimate may look at.
    """
    if practitioner_id is not None:
        before = tuple(finding for finding in before if finding.practitioner_id == practitioner_id)
        after = tuple(finding for finding in after if finding.practitioner_id == practitioner_id)
    chosen = sorted(practitioners) if practitioner_id is None else [practitioner_id]
    (total,) = _compare(before, after, lambda finding: "total") or (Comparison("total", Tally(), Tally()),)
    return Simulation(
        start=start,
        end=end,
        as_of=as_of,
        practitioner_id=practitioner_id,
        invoices=invoices(chosen),
        dropped_codes=tuple(sorted(dropped.items())),
        by_rule=_compare(before, after, lambda finding: finding.rule),
        by_practitioner=_compare(before, after, lambda finding: finding.practitioner_id),
        total=total,
        forfaits=tuple(
            _forfaits(invoices_of(who), who, end.year, now, then, facts(who) if facts is not None else None)
            for who in chosen
        ),
        draft_files=tuple(draft_files),
        engine=engine,
    )


def _exists_on(validator: Validator, day: dt.date) -> Callable[[str], bool]:
    codes = validator.ruleset.codes

    def exists(code: str) -> bool:
        info = codes.get(code)
        return info is None or info.exists_on(day)

    return exists


def _without_absent(
    events: list[Event], exists: Callable[[str], bool], dropped: dict[str, int]
) -> list[Event]:
    """The invoices with the codes that do not exist on ``as_of`` left out (see the module doc)."""
    kept = []
    for event in events:
        absent = [code for code in event.codes if not exists(code)]
        if not absent:
            kept.append(event)
            continue
        for code in absent:
            dropped[code] = dropped.get(code, 0) + 1
        codes = tuple(code for code in event.codes if exists(code))
        if codes:
            kept.append(event.with_codes(codes))
    return kept


def _compare(
    before: Iterable[Finding], after: Iterable[Finding], key: Callable[[Finding], str]
) -> tuple[Comparison, ...]:
    tallies: dict[str, list[Tally]] = {}
    for index, findings in enumerate((before, after)):
        for finding in findings:
            pair = tallies.setdefault(key(finding), [Tally(), Tally()])
            pair[index] = pair[index].add(finding)
    return tuple(Comparison(name, pair[0], pair[1]) for name, pair in sorted(tallies.items()))


def _forfaits(
    events: list[Event],
    practitioner_id: str,
    year: int,
    now: Validator,
    then: Validator,
    facts: PractitionerFacts | None,
) -> ForfaitComparison:
    """The practitioner's forfait of ``year`` (patientèle on 31 December) under each run's tables."""
    from billing_rules.domain.forfait.estimate import EstimateError, estimate
    from billing_rules.domain.forfait.levers import mt_patientele

    patients = mt_patientele(events, practitioner_id, year)
    estimates: list[ForfaitEstimate | None] = []
    for validator in (now, then):
        try:
            tables = validator.ruleset.environment.forfaits
            estimates.append(estimate(tables, patients, year, practitioner=facts))
        except EstimateError:  # no forfait table in force that year
            estimates.append(None)
    before, after = estimates
    return ForfaitComparison(practitioner_id=practitioner_id, year=year, before=before, after=after)
