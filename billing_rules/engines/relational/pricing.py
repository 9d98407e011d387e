"""What the tariffs make of an invoice's codes in SQL: ``TariffTable.total`` and ``TariffTable.on``.

The tariff table (:data:`TARIFFS`, made from :func:`.plan.tariff_ranges`) holds every tariff row
as a range of days, with its sector ("" for a general row; a sector's row prices the code in place
of the general one for that sector) and whether its code is priced per kilometre.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from billing_rules.engines.relational.compile import date_literal, number_literal
from billing_rules.engines.relational.plan import TariffRange

TARIFFS = "tariff_ranges"


def _c(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table)


def priced_codes(codes: exp.Subquery) -> exp.Subquery:
    """Each code of each key (``u``) with ``price``, its amount (NULL: none), as ``TariffTable.total``.

    Two lookups in the tariff table (:func:`.plan.tariff_ranges`): the general row in force
    (``g``) and the row of the key's sector in force (``s``), which wins. A rate per km times
    ``km`` is rounded half up to the cent as exact decimals: ``km_hundredths`` (never the ``km``
    column, a DOUBLE on DuckDB) times the rate, rounded to the unit, is the amount in cents; no
    ``km``, no amount. The casts keep the product within 38 digits with all its decimals on Spark
    (precision p1 + p2 + 1), as on DuckDB.
    """
    code, day = _c("code", "u"), _c("date", "u")

    def in_force(alias: str, sector: exp.Expression) -> exp.Expression:
        return exp.and_(
            exp.EQ(this=_c("code", alias), expression=code.copy()),
            exp.EQ(this=_c("sector", alias), expression=sector),
            exp.GTE(this=day.copy(), expression=_c("start", alias)),
            exp.LTE(this=day.copy(), expression=_c("stop", alias)),
        )

    rate = exp.Coalesce(this=_c("amount", "s"), expressions=[_c("amount", "g")])
    per_km = exp.Coalesce(this=_c("per_km", "s"), expressions=[_c("per_km", "g")])
    cents = exp.Round(
        this=exp.Mul(
            this=exp.cast(rate.copy(), "DECIMAL(13,6)"),
            expression=exp.cast(_c("km_hundredths", "u"), "DECIMAL(24,6)"),
        ),
        decimals=exp.Literal.number(0),
    )
    cent = exp.cast(exp.Literal.string("0.01"), "DECIMAL(3,2)")
    price = exp.Case(
        ifs=[exp.If(this=per_km, true=exp.Mul(this=exp.cast(cents, "DECIMAL(24,0)"), expression=cent))],
        default=rate,
    )
    sector = exp.cast(_c("sector", "u"), "VARCHAR")
    return (
        exp.select(_c("codes", "u"), _c("date", "u"), _c("sector", "u"), _c("km_hundredths", "u"))
        .select(price.as_("price"))
        .from_(codes)
        .join(exp.to_table(TARIFFS).as_("g"), on=in_force("g", exp.Literal.string("")), join_type="left")
        .join(exp.to_table(TARIFFS).as_("s"), on=in_force("s", sector), join_type="left")
        .subquery("u")
    )


def tariff_case(ranges: Sequence[TariffRange]) -> Any:
    """``tariff(CODE)`` as ``TariffTable.on``: a CASE over that code's ranges (a handful per code).

    The rows of the invoice's sector first (they replace the general row where one is in force),
    then the general rows; the rate of a code priced per km is its tariff (``km`` times it is the
    amount, :func:`with_expected`).
    """

    def lookup(code: str, day: exp.Expression, sector: exp.Expression | None = None) -> exp.Expression:
        sectors: list[exp.Expression] = []
        general: list[exp.Expression] = []
        for row in map(TariffRange._make, ranges):
            if row.code != code or (row.sector and sector is None):
                continue
            test = exp.and_(
                exp.GTE(this=day.copy(), expression=date_literal(row.start)),
                exp.LTE(this=day.copy(), expression=date_literal(row.stop)),
            )
            if not row.sector:
                general.append(exp.If(this=test, true=number_literal(row.amount)))
            else:
                assert sector is not None
                same = exp.EQ(this=sector.copy(), expression=exp.Literal.string(row.sector))
                sectors.append(exp.If(this=exp.and_(same, test), true=number_literal(row.amount)))
        ifs = sectors + general
        return exp.Case(ifs=ifs) if ifs else exp.null()

    return lookup
