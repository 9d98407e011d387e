"""SPE-RPPS-REFERRER, a rule in Python: the DSL has no arithmetic over the digits of a number.

An RPPS number has 11 digits, the last one a Luhn check digit. A mistyped referrer number makes the
CPAM unable to link the MCU to the MT's adressage, so the rule warns before the invoice leaves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from billing_rules import Hit, Severity


def luhn_ok(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check (the last digit is the key)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


@attrs.frozen
class ReferrerRppsRule:
    """SPE-RPPS-REFERRER: the referring doctor's RPPS (extra column ``referrer_rpps``) is invalid."""

    code: str = "SPE-RPPS-REFERRER"
    severity: Severity = Severity.WARNING
    source: str = "specialist"  # the host stamps the plugin's real name over this
    triggers: frozenset[str] | None = frozenset({"MCU", "APC"})
    summary: str = "Numéro RPPS du médecin adresseur invalide (11 chiffres, clé de Luhn)"
    doc: str = (
        "Colonne supplémentaire referrer_rpps. Non évaluée quand la colonne est vide : l'adressage "
        "est alors vérifié par SPE-MCU-REFERRAL."
    )
    citation: str = "RPPS : identifiant à 11 chiffres dont le dernier est une clé de contrôle (Luhn)"
    action: str = "corriger le numéro RPPS du médecin adresseur (colonne referrer_rpps)"

    def check(self, event: Any, history: Any) -> Iterable[Hit]:
        """One warning when the number is given and malformed; the number is not a patient's."""
        value = event.extra.get("referrer_rpps")
        if value is None or not str(value).strip():
            return ()
        text = str(value).strip()
        if len(text) == 11 and text.isdigit() and luhn_ok(text):
            return ()
        return (Hit(message=f"numéro RPPS du médecin adresseur invalide « {text} » (11 chiffres avec clé)"),)
