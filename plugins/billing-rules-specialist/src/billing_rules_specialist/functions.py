"""Functions the plugin's rule file calls: values the DSL cannot compute by itself."""

from __future__ import annotations

import datetime as dt
from typing import Any

from billing_rules import Function, Kind

_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M", "%Y-%m-%dT%H:%M:%S")


def mt_referral_at(env: Any, event: Any) -> dt.datetime | None:
    """When the MT sent the patient (extra column ``mt_referral_at``), or None if absent or unreadable.

    A date alone means the end of that day, the reading most favourable to the practitioner (as
    the core does for an act without time).
    """
    value = event.extra.get("mt_referral_at")
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    for pattern in _FORMATS:
        try:
            return dt.datetime.strptime(text, pattern)
        except ValueError:
            continue
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.combine(dt.datetime.strptime(text, pattern).date(), dt.time(23, 59, 59))
        except ValueError:
            continue
    return None


FUNCTIONS = (
    Function(
        "mt_referral_at",
        (),
        Kind.DATETIME,
        mt_referral_at,
        "date et heure de l'adressage par le médecin traitant (colonne mt_referral_at)",
        reads=("extra:mt_referral_at",),  # what ``explain`` shows of a finding decided on it
    ),
)
