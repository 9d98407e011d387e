"""The plugin's extra tariff: a specialist majoration the general-practice tables do not carry."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from billing_rules import Tariff

# UNCERTAIN: MCS (majoration de coordination spécialiste) at 5 € is the commonly quoted value; the
# start date is that of the 2016 convention's measures (2018-01-01). Check ameli before relying on
# it: this is an example plugin.
TARIFFS = (
    Tariff(
        "MCS",
        Decimal("5.00"),
        dt.date(2018, 1, 1),
        source="Convention médicale 2016 (exemple, à vérifier sur ameli)",
    ),
)
