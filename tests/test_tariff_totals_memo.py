"""The totals a tariff table remembers for the AMOUNT rules: the same as computed, per table."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from billing_rules.domain import tariffs as tariffs_module
from billing_rules.domain.tariffs import Tariff, TariffTable

NEW_G = dt.date(2024, 12, 22)


def _table() -> TariffTable:
    return TariffTable(
        [
            Tariff("G", Decimal("26.50"), dt.date(2023, 12, 1)),
            Tariff("G", Decimal("30.00"), NEW_G),
            Tariff("G", Decimal("25.00"), dt.date(2023, 12, 1), sector="2"),
            Tariff("IK", Decimal("0.61"), dt.date(2019, 1, 1), unit="km"),
        ]
    )


def test_remembered_totals_are_the_computed_ones_on_each_key() -> None:
    """Each part of the key counts: the day across the tariff change, the sector, the distance."""
    table = _table()
    cases = [
        (("G",), NEW_G - dt.timedelta(days=1), "1", None, Decimal("26.50")),
        (("G",), NEW_G, "1", None, Decimal("30.00")),
        (("G",), NEW_G, "2", None, Decimal("25.00")),
        (("G", "IK"), NEW_G, "1", Decimal("4"), Decimal("32.44")),
        (("G", "IK"), NEW_G, "1", Decimal("4.5"), Decimal("32.75")),  # 2.745 rounded half up
        (("G", "IK"), NEW_G, "1", None, None),  # IK without its distance: no total
        (("G", "MD"), NEW_G, "1", None, None),  # a code without a tariff: no total
    ]
    for _ in range(2):  # computed, then remembered
        for codes, day, sector, km, expected in cases:
            assert table.remembered_total(codes, day, sector=sector, km=km) == expected
            assert table.total(codes, day, sector=sector, km=km) == expected


def test_each_table_remembers_its_own_totals() -> None:
    old, new = _table(), TariffTable([Tariff("G", Decimal("23.00"), dt.date(2000, 1, 1))])
    assert old.remembered_total(("G",), NEW_G, sector="1") == Decimal("30.00")
    assert new.remembered_total(("G",), NEW_G, sector="1") == Decimal("23.00")


def test_the_memo_is_bounded(monkeypatch: Any) -> None:
    monkeypatch.setattr(tariffs_module, "_TOTALS_MAX", 3)
    table = _table()
    days = [NEW_G + dt.timedelta(days=offset) for offset in range(10)]
    for day in days:
        assert table.remembered_total(("G",), day, sector="1") == Decimal("30.00")
        assert len(table._totals) <= 3
    assert table.remembered_total(("G",), days[0], sector="2") == Decimal("25.00")
