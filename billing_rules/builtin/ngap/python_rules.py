"""The catalogue's checks that are not constraints over events: code table and amount checks.

They read the loaded rule sets' code table and tariffs (``bind``), so a plugin that declares a code
or a tariff extends them without touching this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import attrs

from billing_rules.model import Event, Sector, Severity
from billing_rules.money import format_euros
from billing_rules.rule import HistoryView, Hit

# Dépassement codes: their amount is free, so they count as 0 and allow an amount above the tariffs.
OVERRUN_CODES = frozenset({"DE", "DA"})


@attrs.frozen
class PythonRule:
    """Shared fields of the built-in Python rules; ``bind`` hands them the compiled rule set."""

    code: str
    severity: Severity
    summary: str
    citation: str
    doc: str = ""
    source: str = "builtin"
    triggers: frozenset[str] | None = None
    ruleset: object = None
    #: What the result depends on ("texts": the tariffs and codes in force on the act's date):
    #: the engine then decides the rule once per plan (see ``Rule.reads``).
    reads: frozenset[str] | None = None

    def bind(self, ruleset: object) -> PythonRule:
        """A copy that can read the rule set's code table and tariffs."""
        return attrs.evolve(self, ruleset=ruleset)


@attrs.frozen
class CodeDateRule(PythonRule):
    """CODE-DATE: a code billed on a date where the texts say it does not exist."""

    def check(self, event: Event, history: HistoryView) -> Iterable[Hit]:
        """One finding listing every code of the invoice that does not exist on its date."""
        codes = self.ruleset.codes  # type: ignore[attr-defined]
        absent = [code for code in event.codes if code in codes and not codes[code].exists_on(event.date)]
        if not absent:
            return ()
        tariffs = self.ruleset.tariffs  # type: ignore[attr-defined]
        amounts = [tariffs.nearest(code, event.date) for code in absent]
        amount = sum((value for value in amounts if value is not None), Decimal("0"))
        periods = "; ".join(_periods(codes[code]) for code in absent)
        names = ", ".join(absent)
        message = f"{names} n'existe pas à la date du {event.date.isoformat()} ({periods})"
        return (Hit(message=message, amount=amount),)


@attrs.frozen
class CodeUnknownRule(PythonRule):
    """CODE-UNKNOWN: a code none of the loaded rule sets knows (typo, or a plugin not installed)."""

    def check(self, event: Event, history: HistoryView) -> Iterable[Hit]:
        """One warning naming the unknown codes."""
        unknown = [code for code in event.codes if not self.ruleset.knows(code)]  # type: ignore[attr-defined]
        if not unknown:
            return ()
        return (Hit(message=f"code(s) inconnu(s) de la nomenclature chargée : {', '.join(unknown)}"),)


# Both AMOUNT rules need the expected total of every invoice, and a file bills a few dozen codings
# over a few hundred days: remembered per (tariff table, codes, day), in a bounded memo.
_TOTALS: dict[tuple[object, tuple[str, ...], object], Decimal | None] = {}
_TOTALS_MAX = 100_000


def _expected_total(ruleset: object, event: Event) -> Decimal | None:
    """Sum of the tariffs in force for the invoice's codes, or None if one has no tariff (SPEC §5)."""
    tariffs = ruleset.tariffs  # type: ignore[attr-defined]
    key = (tariffs, event.codes, event.date)
    try:
        return _TOTALS[key]
    except KeyError:
        pass
    total = tariffs.total(event.codes, event.date)
    if len(_TOTALS) >= _TOTALS_MAX:
        _TOTALS.clear()
    _TOTALS[key] = total
    return total


@attrs.frozen
class AmountBelowRule(PythonRule):
    """AMOUNT-BELOW: billed less than the tariffs in force (an old tariff kept in the software)."""

    def check(self, event: Event, history: HistoryView) -> Iterable[Hit]:
        """An opportunity worth the difference."""
        if event.amount is None:
            return ()
        expected = _expected_total(self.ruleset, event)
        if expected is None or event.amount >= expected:
            return ()
        missing = expected - event.amount
        message = (
            f"montant facturé {format_euros(event.amount)} inférieur aux tarifs en vigueur le "
            f"{event.date.isoformat()} ({format_euros(expected)})"
        )
        return (Hit(message=message, amount=missing, suggestion=f"{expected:.2f}"),)


@attrs.frozen
class AmountAboveRule(PythonRule):
    """AMOUNT-ABOVE: a sector 1 practitioner billed above the tariffs without a dépassement code."""

    def check(self, event: Event, history: HistoryView) -> Iterable[Hit]:
        """A warning whose amount is the excess (SPEC §2)."""
        if event.amount is None or event.sector is not Sector.ONE:
            return ()
        if not OVERRUN_CODES.isdisjoint(event.code_set):
            return ()
        expected = _expected_total(self.ruleset, event)
        if expected is None or event.amount <= expected:
            return ()
        message = (
            f"montant facturé {format_euros(event.amount)} supérieur aux tarifs en vigueur "
            f"({format_euros(expected)}) sans dépassement DE/DA, en secteur 1"
        )
        return (Hit(message=message, amount=event.amount - expected),)


def _periods(info: object) -> str:
    parts = []
    for start, end in info.periods:  # type: ignore[attr-defined]
        since = start.isoformat()
        parts.append(f"du {since} au {end.isoformat()}" if end else f"à partir du {since}")
    return f"{info.code} : " + ", ".join(parts)  # type: ignore[attr-defined]


PYTHON_RULES = (
    CodeDateRule(
        code="CODE-DATE",
        reads=frozenset({"codes", "texts"}),
        severity=Severity.ERROR,
        summary="code facturé à une date où il n'existe pas",
        citation="Dates d'entrée en vigueur des codes (NGAP, règlement arbitral 2023, convention 2024-2029)",
    ),
    CodeUnknownRule(
        code="CODE-UNKNOWN",
        reads=frozenset({"codes"}),
        severity=Severity.WARNING,
        summary="code inconnu des règles chargées",
        citation="Nomenclature chargée (règles intégrées et extensions)",
    ),
    AmountBelowRule(
        code="AMOUNT-BELOW",
        reads=frozenset({"codes", "texts", "amount"}),
        severity=Severity.OPPORTUNITY,
        summary="montant inférieur aux tarifs en vigueur",
        citation="Tarifs en vigueur à la date de l'acte (ngap-facts.md §0)",
        doc="Non évaluée quand un code de la facture n'a pas de tarif chargé ; DE et DA comptent pour 0.",
    ),
    AmountAboveRule(
        code="AMOUNT-ABOVE",
        reads=frozenset({"codes", "texts", "amount", "sector"}),
        severity=Severity.WARNING,
        summary="montant supérieur aux tarifs sans dépassement (secteur 1)",
        citation="Tarif opposable du secteur 1",
        doc="Le montant de l'alerte est l'excédent.",
    ),
)
