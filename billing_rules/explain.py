"""Why a finding: the facts its rule read on the invoice, its window, its reference, what to do.

``Finding.explain()`` works from the finding alone: the facts were captured when the rule fired
(values only, the names shared by the rule) and the window names its first invoice. The
``explain`` command (``Validator.explain``) adds every invoice of the window, read again from the
input and the ledger. Nothing here prints the patient's id or birth date: the age is enough.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from billing_rules.money import format_euros, french_date

if TYPE_CHECKING:  # model imports this module lazily (Finding.explain): no circle at run time
    from billing_rules.model import Finding, FindingWindow

#: How each fact is named for billing staff.
FACT_LABELS: dict[str, str] = {
    "codes": "codes facturés",
    "date": "date de l'acte",
    "time": "heure de l'acte",
    "act_time": "date et heure de l'acte",
    "age": "âge le jour de l'acte",
    "invoice_id": "facture",
    "practitioner_id": "praticien",
    "specialty": "spécialité",
    "sector": "secteur",
    "ald": "en ALD",
    "palliative": "en soins palliatifs",
    "neurodegenerative": "en ALD pour une maladie neurodégénérative",
    "mt_status": "médecin traitant déclaré avant l'acte",
    "declares_mt": "vous déclare médecin traitant lors de l'acte",
    "place": "lieu",
    "homebound": "ne peut se déplacer",
    "amount": "montant facturé",
    "regulated": "adressé par la régulation (SAS / centre 15)",
    "referral_at": "adressage par la régulation",
    "status": "statut",
    "discharge_date": "date de sortie d'hospitalisation",
    "km": "kilomètres facturés (IK)",
}

# The model's enums in words, keyed by (enum name, value): this module reads the model's values
# without importing it, since ``Finding.explain`` imports this module.
_ENUM_WORDS = {
    ("MtStatus", "self"): "vous (le praticien qui facture)",
    ("MtStatus", "other"): "un autre médecin",
    ("MtStatus", "none"): "aucun",
    ("MtStatus", "unknown"): "inconnu",
    ("Place", "cabinet"): "cabinet",
    ("Place", "domicile"): "domicile",
    ("Place", "ehpad"): "EHPAD",
    ("Place", "tele"): "téléconsultation",
    ("Sector", "1"): "1",
    ("Sector", "2"): "2",
    ("Sector", "optam"): "2 (OPTAM)",
}
_PERIOD_WORDS = {
    "quarter": "du trimestre",
    "week": "de la semaine",
    "year": "de l'année",
    "day": "du jour",
    "ever": "de tout l'historique",
}
_ROLLING_WORDS = {
    "days": ("jour", "derniers jours"),
    "weeks": ("semaine", "dernières semaines"),
    "months": ("mois", "derniers mois"),
    "years": ("an", "dernières années"),
}


def ordinal(number: int) -> str:
    """French ordinal of a rank, feminine (« la 1re facture », « la 2e »)."""
    return "1re" if number == 1 else f"{number}e"


def period_words(period: str | None) -> str:
    """« du trimestre », « de la semaine », « des 12 derniers mois »..."""
    if period is None:
        return ""
    if period in _PERIOD_WORDS:
        return _PERIOD_WORDS[period]
    amount, _, unit = period.partition(" ")
    singular, plural = _ROLLING_WORDS.get(unit, (unit, unit))
    if amount == "1":
        return f"du dernier {singular}" if unit in ("months", "days") else f"de la dernière {singular}"
    return f"des {amount} {plural}"


def fact_text(name: str, value: Any) -> str:
    """A fact's value in words: oui/non, French dates and euros, the MT status spelled out."""
    if value is None:
        return "non renseigné"
    if isinstance(value, bool):
        return "oui" if value else "non"
    if name == "age":
        return f"{value} ans"
    if isinstance(value, enum.Enum):
        return _ENUM_WORDS.get((type(value).__name__, value.value), str(value.value))
    if isinstance(value, dt.datetime):
        return f"{french_date(value.date())} à {value:%H:%M}"
    if isinstance(value, dt.date):
        return french_date(value)
    if isinstance(value, dt.time):
        return f"{value:%H:%M}"
    if isinstance(value, Decimal):
        return format_euros(value)
    if isinstance(value, tuple):
        return "+".join(str(item) for item in value)
    return str(value)


@attrs.frozen
class WindowInvoice:
    """One invoice counted in a window: enough to find it in the practice's software."""

    invoice_id: str
    date: dt.date
    practitioner_id: str
    from_ledger: bool = False


@attrs.frozen
class Explanation:
    """What ``explain`` says about one finding; ``str()`` gives the French text."""

    finding: Finding
    facts: tuple[tuple[str, str], ...]
    #: Every invoice of the window, oldest first (``Validator.explain``); empty: only the first is known.
    invoices: tuple[WindowInvoice, ...] = ()

    @property
    def window(self) -> FindingWindow | None:
        """The window of a frequency finding."""
        return self.finding.window

    def window_line(self) -> str | None:
        """« 2e VL du trimestre : la 1re est la facture F-12 du 03/01/2026, Dr B », or None."""
        return window_sentence(self.finding)

    def lines(self) -> Iterator[str]:
        """The explanation line by line."""
        finding = self.finding
        severity = _SEVERITY_WORDS.get(finding.severity.value, finding.severity.value)
        yield f"{finding.rule} ({severity}) : {finding.message}"
        if self.facts:
            yield "  Ce que la règle a lu sur la facture :"
            for label, text in self.facts:
                yield f"    - {label} : {text}"
        sentence = self.window_line()
        if sentence:
            yield f"  Fenêtre : {sentence}"
        if self.invoices:
            yield f"  Factures comptées dans la fenêtre ({len(self.invoices)}) :"
            for item in self.invoices:
                where = " (registre)" if item.from_ledger else ""
                this = " (cette facture)" if _is_finding_invoice(item, finding) else ""
                yield (
                    f"    - facture {item.invoice_id} du {french_date(item.date)}, "
                    f"Dr {item.practitioner_id}{where}{this}"
                )
        if finding.amount is not None:
            yield f"  Montant : {format_euros(finding.amount)}{' par an' if finding.yearly else ''}"
        if finding.citation:
            yield f"  Référence : {finding.citation}"
        if finding.action:
            yield f"  À faire : {finding.action}"

    def __str__(self) -> str:
        return "\n".join(self.lines())


_SEVERITY_WORDS = {"error": "erreur", "warning": "alerte", "opportunity": "opportunité"}


def _is_finding_invoice(item: WindowInvoice, finding: Finding) -> bool:
    return item.invoice_id == finding.invoice_id and item.practitioner_id == finding.practitioner_id


def window_sentence(finding: Finding) -> str | None:
    """The first invoice of a frequency finding's window, in one French sentence."""
    window = finding.window
    if window is None:
        return None
    counted = window.counted or "facture comptée"
    head = f"{ordinal(window.count)} {counted}" if window.count else counted
    period = period_words(window.period)
    if period:
        head += f" {period}"
    if window.limit is not None:
        head += f" (au plus {window.limit})"
    if window.first_invoice_id is None or window.first_date is None:
        return head
    first = f"la facture {window.first_invoice_id} du {french_date(window.first_date)}"
    if window.first_practitioner_id is not None:
        first += f", Dr {window.first_practitioner_id}"
    if window.first_invoice_id == finding.invoice_id and window.first_practitioner_id in (
        None,
        finding.practitioner_id,
    ):
        first = "cette facture"
    return f"{head} : la 1re est {first}"


def facts_of(finding: Finding) -> tuple[tuple[str, str], ...]:
    """The captured facts of ``finding`` as (label, text) pairs, in the rule's order."""
    if finding.facts is None:
        return ()
    names, values = finding.facts
    pairs = []
    for name, value in zip(names, values, strict=False):
        if name in ("patient_id", "birth_date"):
            continue  # never shown, whatever captured them
        if name.startswith("extra:"):
            label = f"colonne « {name.split(':', 1)[1]} »"
        else:
            label = FACT_LABELS.get(name, name)
        pairs.append((label, fact_text(name, value)))
    return tuple(pairs)


def explain_finding(finding: Finding, invoices: Sequence[WindowInvoice] = ()) -> Explanation:
    """The explanation of ``finding``; ``invoices``: every invoice of its window, when known."""
    return Explanation(finding=finding, facts=facts_of(finding), invoices=tuple(invoices))
