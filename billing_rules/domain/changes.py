"""What the texts changed over time: the rule pack's changelog, read from its dated declarations.

Every rule (``from``/``until``), tariff row and code validity period carries its dates, so the list
of what started, ended or changed since a date is derived, never written a second time: a changelog
kept by hand would drift from the rule files it describes. The same list gives the pack's version:
the date of its latest text.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

import attrs

from billing_rules.domain.forfait.tables import RATE_CODES, format_rate
from billing_rules.domain.tariffs import Tariff, TariffTable
from billing_rules.money import format_euros


class ChangeKind(enum.Enum):
    """What changed: a rule, a tariff row or a code's validity."""

    RULE = "rule"
    TARIFF = "tariff"
    CODE = "code"


class ChangeWhat(enum.Enum):
    """How it changed on that day."""

    STARTS = "starts"
    ENDS = "ends"
    CHANGES = "changes"


@attrs.frozen(kw_only=True)
class Change:
    """One dated change of the texts, as ``rules changes`` prints it."""

    day: dt.date
    kind: ChangeKind
    what: ChangeWhat
    subject: str
    #: In French, for people: ``26,50 € → 30,00 €``, the rule's summary, the code's label.
    description: str
    #: The text behind it (the rule's citation, the tariff's source), when the declaration gives one.
    source: str | None = None
    #: Who declared it: ``builtin`` or the plugin's name.
    origin: str = "builtin"
    #: A tariff's amount from that day on (None when it ends), in ``unit``.
    amount: Decimal | None = None
    #: A tariff's amount until the day before (None when it starts).
    previous_amount: Decimal | None = None
    #: What a tariff's amounts are: :data:`EUROS`, :data:`EUROS_PER_KM` or :data:`RATE`.
    unit: str | None = None
    #: The convention sector a tariff row is for (None: every sector).
    sector: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The entry of ``rules changes --format json``: English keys, ISO dates.

        A tariff's entry also carries its amounts as numbers (``amount``, ``previous_amount``,
        ``unit``, ``sector``): a program should not parse them back from the French description,
        where a rate reads ``+10 %`` and euros ``26,50 €``.
        """
        entry: dict[str, Any] = {
            "date": self.day.isoformat(),
            "kind": self.kind.value,
            "change": self.what.value,
            "code": self.subject,
            "description": self.description,
            "source": self.source,
            "origin": self.origin,
        }
        if self.kind is ChangeKind.TARIFF:
            entry["amount"] = _number(self.amount)
            entry["previous_amount"] = _number(self.previous_amount)
            entry["unit"] = self.unit
            entry["sector"] = self.sector
        return entry


EUROS = "EUR"
"""A tariff in euros per act."""
EUROS_PER_KM = "EUR/km"
"""A tariff in euros per kilometre billed (IK)."""
RATE = "rate"
"""A rate applied to a total (the forfait's majorations): 0.1 is +10 %."""


def _number(amount: Decimal | None) -> float | None:
    return None if amount is None else float(amount)


def changes(ruleset: Any, since: dt.date, until: dt.date | None = None) -> list[Change]:
    """Every change of the loaded texts dated from ``since`` to ``until`` (both included).

    An end is dated by the first day the text no longer applies (the day after its last day), the
    day an invoice is judged differently. Sorted by day, then rules, tariffs, codes, then code.
    """
    found = [
        *_rule_changes(ruleset.rules),
        *_tariff_changes(ruleset.tariffs, ruleset.codes),
        *_code_changes(ruleset.codes),
    ]
    order = {ChangeKind.RULE: 0, ChangeKind.TARIFF: 1, ChangeKind.CODE: 2}
    selected = [change for change in found if change.day >= since and (until is None or change.day <= until)]
    return sorted(selected, key=lambda change: (change.day, order[change.kind], change.subject))


def texts_date(ruleset: Any) -> dt.date | None:
    """The date of the latest text the loaded rule sets hold: the version of the rule pack."""
    days = [change.day for change in changes(ruleset, dt.date.min)]
    return max(days) if days else None


def _rule_changes(rules: Iterable[Any]) -> Iterator[Change]:
    for rule in rules:
        source = getattr(rule, "citation", None) or None
        summary = getattr(rule, "summary", "") or rule.code
        origin = getattr(rule, "source", "builtin")
        valid_from = getattr(rule, "valid_from", None)
        valid_until = getattr(rule, "valid_until", None)
        if valid_from is not None:
            yield Change(
                day=valid_from,
                kind=ChangeKind.RULE,
                what=ChangeWhat.STARTS,
                subject=rule.code,
                description=f"nouvelle règle : {summary}",
                source=source,
                origin=origin,
            )
        if valid_until is not None:
            yield Change(
                day=valid_until + dt.timedelta(days=1),
                kind=ChangeKind.RULE,
                what=ChangeWhat.ENDS,
                subject=rule.code,
                description=f"fin de la règle (dernier jour : {valid_until:%d/%m/%Y}) : {summary}",
                source=source,
                origin=origin,
            )


def _unit(row: Tariff) -> str:
    if row.code in RATE_CODES:
        return RATE
    return EUROS_PER_KM if row.unit == "km" else EUROS


def _amount(row: Tariff) -> str:
    """The row's amount as people read it: ``26,50 €``, ``0,67 € / km``, or ``+10 %`` for a rate."""
    if row.code in RATE_CODES:
        amount = format_rate(row.amount)
    else:
        amount = format_euros(row.amount) + (" / km" if row.unit == "km" else "")
    return amount + (f" en secteur {row.sector}" if row.sector is not None else "")


def _tariff_changes(table: TariffTable, codes: dict[str, Any]) -> Iterator[Change]:
    for code in sorted(table.codes()):
        series: dict[str | None, list[Tariff]] = {}
        for row in table.rows(code):
            series.setdefault(row.sector, []).append(row)
        label = getattr(codes.get(code), "label", None)
        for rows in series.values():
            yield from _series_changes(code, rows, f"{label} : " if label else "")


def _follows(previous: Tariff, row: Tariff) -> bool:
    """``row`` takes over from ``previous`` with no day between: one change, not an end and a start.

    A row left open runs until the next one starts; a row with an explicit end is followed when
    the next starts on the day after it (6 € until 31/12/2025, then 15 € from 01/01/2026).
    """
    return previous.end is None or previous.end + dt.timedelta(days=1) >= row.start


def _series_changes(code: str, rows: list[Tariff], label: str) -> Iterator[Change]:
    """The changes of one code's rows for one sector, oldest first (each runs until the next)."""
    word = "taux" if code in RATE_CODES else "tarif"
    previous: Tariff | None = None
    for index, row in enumerate(rows):
        following = rows[index + 1] if index + 1 < len(rows) else None
        if previous is not None and _follows(previous, row):
            description = f"{label}{_amount(previous)} → {_amount(row)}"
            what = ChangeWhat.CHANGES
            before: Decimal | None = previous.amount
        else:
            description = f"{label}nouveau {word} {_amount(row)}"
            what = ChangeWhat.STARTS
            before = None
        yield Change(
            day=row.start,
            kind=ChangeKind.TARIFF,
            what=what,
            subject=code,
            description=description,
            source=row.source,
            origin=row.origin,
            amount=row.amount,
            previous_amount=before,
            unit=_unit(row),
            sector=row.sector,
        )
        if row.end is not None and (following is None or not _follows(row, following)):
            yield Change(
                day=row.end + dt.timedelta(days=1),
                kind=ChangeKind.TARIFF,
                what=ChangeWhat.ENDS,
                subject=code,
                description=f"{label}fin du {word} {_amount(row)} (dernier jour : {row.end:%d/%m/%Y})",
                source=row.source,
                origin=row.origin,
                previous_amount=row.amount,
                unit=_unit(row),
                sector=row.sector,
            )
        previous = row


def _code_changes(codes: dict[str, Any]) -> Iterator[Change]:
    for code, info in sorted(codes.items()):
        label = info.label or code
        origin = str(info.origin).split(":", 1)[0]
        for start, end in info.periods:
            yield Change(
                day=start,
                kind=ChangeKind.CODE,
                what=ChangeWhat.STARTS,
                subject=code,
                description=f"code en vigueur : {label}",
                origin=origin,
            )
            if end is not None:
                yield Change(
                    day=end + dt.timedelta(days=1),
                    kind=ChangeKind.CODE,
                    what=ChangeWhat.ENDS,
                    subject=code,
                    description=f"code supprimé (dernier jour : {end:%d/%m/%Y}) : {label}",
                    origin=origin,
                )
