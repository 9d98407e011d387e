"""The catalogue's checks that are not constraints over events: code table and amount checks.

They read the loaded rule sets' code table and tariffs (``bind``), so a plugin that declares a code
or a tariff extends them without touching this module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

import attrs

from billing_rules.model import Event, Sector, Severity
from billing_rules.money import format_euros, french_date
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
    #: What to do when the finding's hit says nothing more precise (SPEC §2 ``action``).
    action: str | None = None
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
        message = f"{names} n'existe pas à la date du {french_date(event.date)} ({periods})"
        recoded = _recode_absent(event.codes, absent)
        action = (
            f"vérifier la date de l'acte ; si elle est juste, facturer {recoded} au lieu de "
            f"{'+'.join(event.codes)} (codes en vigueur ce jour-là)"
        )
        doubts = [_UNCERTAIN_START[code] for code in absent if code in _UNCERTAIN_START]
        if doubts:
            action += " ; " + " ; ".join(doubts)
        return (Hit(message=message, amount=amount, action=action),)


@attrs.frozen
class CodeUnknownRule(PythonRule):
    """CODE-UNKNOWN: a code none of the loaded rule sets knows (typo, or a plugin not installed)."""

    def check(self, event: Event, history: HistoryView) -> Iterable[Hit]:
        """One warning naming the unknown codes, with the known code each one resembles."""
        knows = self.ruleset.knows  # type: ignore[attr-defined]
        unknown = [code for code in event.codes if not knows(code)]
        if not unknown:
            return ()
        from billing_rules.domain.lookalike import closest_code

        known = self.ruleset.codes  # type: ignore[attr-defined]
        parts = []
        fixes: dict[str, str] = {}
        left: dict[str, str | None] = {}  # unknown code → a code it resembles, absent that day
        for code in unknown:
            # On the act's date: the fix goes into the coding the staff is told to bill.
            hint, fix, absent = closest_code(code, known, day=event.date, doubtful=_DOUBTFUL_FROM)
            parts.append(f"{code} ({hint})" if hint else code)
            if fix is not None:
                fixes[code] = fix
            else:
                left[code] = absent
        message = f"code(s) inconnu(s) de la nomenclature chargée : {', '.join(parts)}"
        return (Hit(message=message, action=_unknown_action(event, fixes, left)),)


def _unknown_action(event: Event, fixes: dict[str, str], left: dict[str, str | None]) -> str | None:
    """What to do with an invoice's unknown codes; None: the rule's own action (check, or install).

    The corrected coding is given only when every unknown code has a fix that exists on the act's
    date: never a code still unknown, nor one the date does not allow (CODE-DATE would follow).
    """
    if not left:
        recoded = "+".join(fixes.get(code, code) for code in event.codes)
        return f"corriger le code : facturer {recoded} au lieu de {'+'.join(event.codes)}"
    dated = {code: absent for code, absent in left.items() if absent is not None}
    if not fixes and not dated:
        return None
    steps = []
    if fixes:
        steps.append("corriger " + ", ".join(f"{code} en {fix}" for code, fix in fixes.items()))
    if dated:
        absent = list(dict.fromkeys(dated.values()))
        cannot = "ne peut pas être facturé" if len(absent) == 1 else "ne peuvent pas être facturés"
        steps.append(
            f"vérifier la date de l'acte et {_the_codes(list(dated))} dans le logiciel de facturation : "
            f"{', '.join(absent)} {cannot} le {french_date(event.date)}"
        )
    others = [code for code, absent in left.items() if absent is None]
    if others:
        install = "s'il est juste, installer l'extension qui le déclare"
        if len(others) > 1:
            install = "s'ils sont justes, installer les extensions qui les déclarent"
        where = "dans le logiciel de facturation"
        steps.append(f"vérifier {_the_codes(others)} {where} ; {install} (billing-rules plugins)")
    return " ; ".join(steps)


def _the_codes(codes: list[str]) -> str:
    """« le code SHR », « les codes QQQQ, ZZZZ »."""
    return ("le code " if len(codes) == 1 else "les codes ") + ", ".join(codes)


def _expected_total(ruleset: object, event: Event) -> Decimal | None:
    """Sum of the tariffs in force for the invoice's codes, or None if one has no tariff (SPEC §5)."""
    tariffs = ruleset.tariffs  # type: ignore[attr-defined]
    return tariffs.remembered_total(event.codes, event.date, sector=event.sector.value, km=event.km)


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
        day = french_date(event.date)
        message = (
            f"montant facturé {format_euros(event.amount)} inférieur aux tarifs en vigueur le "
            f"{day} ({format_euros(expected)})"
        )
        action = (
            f"facturer {format_euros(expected)} pour {'+'.join(event.codes)} (tarifs en vigueur le {day}) "
            "et mettre à jour les tarifs du logiciel de facturation"
        )
        return (Hit(message=message, amount=missing, suggestion=format_euros(expected), action=action),)


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
        action = (
            f"facturer {format_euros(expected)} (tarif opposable) ; si le dépassement est justifié, "
            "le coder DE et en conserver la justification"
        )
        return (Hit(message=message, amount=event.amount - expected, action=action),)


def _periods(info: object) -> str:
    """The periods in which a code exists, in French.

    A code the texts applied lack on every date (a simulation's texts of one day,
    ``CodeInfo.fixed_on``) has one empty period: it is said to be absent from them.
    """
    from billing_rules.domain.lookalike import periods_in_french

    parts = periods_in_french(info)
    if not parts:
        return f"{info.code} : absent des textes appliqués"  # type: ignore[attr-defined]
    return f"{info.code} : " + ", ".join(parts)  # type: ignore[attr-defined]


#: Start dates that ngap-facts.md marks UNCERTAIN: CODE-DATE keeps the error (the facts' recommendation,
#: SPEC §5) and says the doubt in its action and its documentation.
_UNCERTAIN_START = {
    "MVR": (
        "la date d'entrée en vigueur de MVR (01/01/2026) est INCERTAINE, une seule source secondaire : "
        "en cas de doute, interroger la CPAM"
    ),
}


#: Codes whose validity ngap-facts.md marks UNCERTAIN from a date on (§1.6: « GS disparu » on
#: 2024-12-22, UNCERTAIN whether still accepted). The rule files keep GS valid, as the facts
#: recommend; CODE-UNKNOWN only avoids suggesting it for a typo from that date (``GX`` → G).
_DOUBTFUL_FROM = {"GS": dt.date(2024, 12, 22)}


#: What a code that does not exist yet on the act's date was billed as before it (ngap-facts.md
#: §0, §1): IMT and GL1-3 were plain consultations, the palliative VSP was a VL; a majoration that
#: did not exist (SNP, MOP, SHE...) is simply left out.
_BEFORE = {"IMT": "G", "GL1": "G", "GL2": "G", "GL3": "G", "VSP": "VL"}


def _recode_absent(codes: tuple[str, ...], absent: list[str]) -> str:
    """The invoice's coding with each absent code replaced by its predecessor, or left out."""
    kept: list[str] = []
    for code in codes:
        if code in absent:
            code = _BEFORE.get(code, "")
        if code and code not in kept:
            kept.append(code)
    return "+".join(kept) if kept else "aucun code NGAP"


PYTHON_RULES = (
    CodeDateRule(
        code="CODE-DATE",
        reads=frozenset({"codes", "texts"}),
        severity=Severity.ERROR,
        summary="code facturé à une date où il n'existe pas",
        citation=(
            "Dates d'entrée en vigueur des codes : Décision UNCAM, JO 14/05/2023 (IMT, NGAP art. 18.2, "
            "et SNP, art. 14.1.3, au 15/05/2023) ; arrêtés SNP 2022 ; règlement arbitral, arrêté du "
            "28/04/2023 (VSP au 01/11/2023, MOP au 01/01/2024) ; convention médicale 2024-2029, arrêté du "
            "20/06/2024 (SHE au 22/12/2024, GL1-3 au 01/01/2026, art. 78-1) ; fiche de cotations "
            "RecoMédicales 2026 (MVR au 01/01/2026, INCERTAIN)"
        ),
        action="vérifier la date de l'acte, puis coder l'acte avec les codes en vigueur ce jour-là",
        doc=(
            "Les périodes d'existence des codes sont celles des déclarations « code ... valid » des fichiers "
            "de règles. INCERTAIN (ngap-facts.md §5b) : la date d'entrée en vigueur de MVR, le 01/01/2026, "
            "et son montant (10 €, une autre source dit 15 €) reposent sur une seule source secondaire "
            "(fiche de cotations RecoMédicales 2026) ; comme le recommandent les faits, la règle retient "
            "cette date : une MVR antérieure est une erreur, et l'action de la constatation rappelle le "
            "doute."
        ),
    ),
    CodeUnknownRule(
        code="CODE-UNKNOWN",
        reads=frozenset({"codes"}),
        severity=Severity.WARNING,
        summary="code inconnu des règles chargées",
        citation=(
            "NGAP et CCAM : seuls les codes de la nomenclature en vigueur sont facturables "
            "(codes des règles chargées)"
        ),
        action=(
            "vérifier le code dans le logiciel de facturation ; s'il est juste, installer l'extension "
            "qui le déclare (billing-rules plugins)"
        ),
        doc=(
            "Le code proposé (« vouliez-vous dire … ? » et la cotation corrigée) est un code connu à une "
            "faute de frappe près qui existe à la date de l'acte : la cotation corrigée ne contient jamais "
            "un code qui n'existe pas à la date de l'acte (CODE-DATE suivrait), ni un code encore inconnu. "
            "Si le code le plus proche n'existe pas à la date de l'acte (SHR le 05/06/2024 : SHE n'existe "
            "qu'à partir du 22/12/2024), la constatation le nomme avec ses dates et demande de vérifier la "
            "date de l'acte, sans cotation corrigée. S'il y a plusieurs codes proches, la règle préfère, "
            "dans l'ordre : un code dont la validité n'est pas INCERTAINE ce jour-là (ngap-facts.md §1.6 : "
            "GS, « disparu » le 22/12/2024, INCERTAIN ensuite : dès cette date, GX donne G et non GS) ; le "
            "code obtenu en retirant une lettre doublée (GG → G, MDD → MD) ; un code qui garde la première "
            "lettre de la saisie, sauf deux lettres interverties, qui gardent toutes les lettres tapées "
            "(DM → MD) : les correcteurs d'orthographe se fient à la première lettre, rarement fautive, et "
            "en NGAP elle dit la nature de l'acte (G, C consultations ; V visites ; M majorations), si bien "
            "que GL donne G, une consultation, et non VL, une visite à domicile ; la faute la plus probable "
            "(deux lettres interverties, une lettre fausse, une lettre en trop ou en moins) ; l'ordre "
            "alphabétique."
        ),
    ),
    AmountBelowRule(
        code="AMOUNT-BELOW",
        reads=frozenset({"codes", "texts", "amount", "sector", "km"}),
        severity=Severity.OPPORTUNITY,
        summary="montant inférieur aux tarifs en vigueur",
        citation=(
            "Tarifs NGAP en vigueur à la date de l'acte : convention médicale 2016 (G 25 € au 01/05/2017), "
            "règlement arbitral, arrêté du 28/04/2023 (G 26,50 € au 01/11/2023), convention médicale "
            "2024-2029, arrêté du 20/06/2024 (G 30 € au 22/12/2024)"
        ),
        action="facturer les tarifs en vigueur à la date de l'acte et mettre à jour ceux du logiciel",
        doc="Non évaluée quand un code de la facture n'a pas de tarif chargé ; DE et DA comptent pour 0.",
    ),
    AmountAboveRule(
        code="AMOUNT-ABOVE",
        reads=frozenset({"codes", "texts", "amount", "sector", "km"}),
        severity=Severity.WARNING,
        summary="montant supérieur aux tarifs sans dépassement (secteur 1)",
        citation=(
            "Convention médicale 2024-2029 (arrêté du 20/06/2024) : en secteur 1, tarifs opposables ; "
            "dépassement seulement avec DE (exceptionnel) ou DA (autorisé)"
        ),
        action="facturer le tarif opposable, ou coder le dépassement (DE) et en conserver la justification",
        doc="Le montant de l'alerte est l'excédent.",
    ),
)
