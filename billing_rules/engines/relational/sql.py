"""The statements of the relational engine, built as sqlglot syntax trees (never as SQL text).

Tables, in the order the engine makes them:

* ``base``: the invoice table with its derived columns: ``ord`` (the SPEC §1 order: ledger first,
  then date, timed before untimed of the same day, time, input order, as one BIGINT computed from
  the row's own columns, :mod:`.order`), ``age`` from year/month/day (29 February), ``week_start``
  (the Monday of the civil week, never (year, weekofyear)), ``quarter_id``, ``act_time``
  (timestamp without time zone; end of the day when untimed), ``isodow``, ``holiday``, ``amount``,
  ``expected`` (the tariff total of the row's codes on its date, for its sector and ``km``:
  ``TariffTable.total``, :mod:`.pricing`);
* ``subjects``: a view of the rows rules are asked about, each with ``sid`` and ``expected``: the
  input's rows of ``base``, or (for opportunities) the same rows coded as suggested, a small table;
* ``rows_with_hits``: the input's subjects some rule fired on (a few percent of them), copied once
  when their invoices are fetched to be rebuilt as events; the suggested codings are made from
  these rows, not from ``base`` (at 10 M rows, a join with ``base`` scanned every column of it);
* ``counter_N``: one per frequency window (``windows``): the count, first and last date of the
  window each subject falls in;
* the hits: the rules without window as one yes/no column each, in one scan of the subjects; the
  rules with a window joined to their counter, one row per (subject, rule) that fires.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlglot import exp

from billing_rules.engines.relational import order as order_key
from billing_rules.engines.relational import validity
from billing_rules.engines.relational.compile import (
    ROW,
    TIMESTAMP,
    billed,
    col,
    date_literal,
    decided,
    number_literal,
)
from billing_rules.engines.relational.order import OrderKey, from_input
from billing_rules.engines.relational.plan import DslPlan
from billing_rules.engines.relational.pricing import TARIFFS as TARIFFS
from billing_rules.engines.relational.pricing import priced_codes
from billing_rules.engines.relational.pricing import tariff_case as tariff_case
from billing_rules.engines.relational.table import SCHEMA, TABLE

BASE = "base"
SUBJECTS = "subjects"
#: The suggested codings' rows, a table (few rows) that the ``subjects`` view shows in their pass.
SUGGESTED_SUBJECTS = "suggested_subjects"
#: The input's subjects with a hit, every column of them (the suggested codings' source).
ROWS_WITH_HITS = "rows_with_hits"
HOLIDAYS = "holidays"
SUGGESTED = "suggested"
END_OF_DAY_SECONDS = 23 * 3600 + 59 * 60 + 59
_A_MONDAY = dt.date(1900, 1, 1)


def column_of(name: str, table: str | None = None) -> exp.Column:
    """A column, optionally of a table alias."""
    return exp.column(name, table=table)


_c = column_of


def _lit(value: Any) -> exp.Expression:
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.true() if value else exp.false()
    if isinstance(value, dt.date):
        return date_literal(value)
    if isinstance(value, (int,)):
        return exp.Literal.number(value)
    if isinstance(value, str):
        return exp.Literal.string(value)
    return number_literal(value)


def create(name: str, query: exp.Expression, *, kind: str = "TABLE") -> exp.Create:
    """``CREATE OR REPLACE TEMPORARY TABLE name AS query`` (``kind="VIEW"``: a view)."""
    return exp.Create(
        this=exp.to_table(name),
        kind=kind,
        expression=query,
        replace=True,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )


def create_view(name: str, query: exp.Expression) -> exp.Create:
    """``CREATE OR REPLACE TEMPORARY VIEW name AS query`` (Spark caches it like a table: ``spark.py``)."""
    return create(name, query, kind="VIEW")


def values_table(name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> exp.Create:
    """A small constant table (tariffs, holidays, suggestions) from Python values."""
    tuples = [exp.Tuple(expressions=[_lit(value) for value in row]) for row in rows]
    alias = exp.TableAlias(this=exp.to_identifier("v"), columns=[exp.to_identifier(c) for c in columns])
    source = exp.Values(expressions=tuples, alias=alias)
    return create(name, exp.select(*(exp.column(c) for c in columns)).from_(source))


def union_all(queries: Sequence[exp.Expression]) -> exp.Expression | None:
    """``q1 UNION ALL q2 ...`` without copying the trees (sqlglot's helper copies at each step)."""
    if not queries:
        return None
    union = queries[0]
    for query in queries[1:]:
        union = exp.Union(this=union, expression=query, distinct=False)
    return union


# --- base -------------------------------------------------------------------------------------


def base_query(*, history: bool = True, order: OrderKey = order_key.WRITER_KEY) -> exp.Select:
    """The invoice table with the derived columns every rule reads (see the module docstring).

    ``history``: whether the table may hold ledger rows (without any, the input's rows are the
    table itself and the anti-join that drops the ledger's copies of input invoices is not built).
    ``order``: how ``ord`` is computed (:meth:`.order.TableBounds.order_key` decides). Packed, it
    is arithmetic on the row: no window, no sort, each row where it stands. Numbered (the
    fallback), the ROW_NUMBER runs in a narrow query (the sort columns and ``seq`` only) joined
    back on ``seq``: over the whole row it would carry every column through the sort.
    """
    day = _c("date", "i")
    birth = _c("birth_date", "i")
    seconds = _c("time_s", "i")
    year, month, dom = (exp.Year(this=day), exp.Month(this=day), exp.Day(this=day))
    before_birthday = exp.or_(
        exp.LT(this=month, expression=exp.Month(this=birth)),
        exp.and_(
            exp.EQ(this=month, expression=exp.Month(this=birth)),
            exp.LT(this=dom, expression=exp.Day(this=birth)),
        ),
    )
    age = exp.Sub(
        this=exp.Sub(this=year, expression=exp.Year(this=birth)),
        expression=exp.Case(
            ifs=[exp.If(this=before_birthday, true=exp.Literal.number(1))], default=exp.Literal.number(0)
        ),
    )
    # ISO day of week (Monday 1) from the days since a Monday: DAYOFWEEK counts from Sunday on
    # Spark and ISODOW does not exist there; ``%`` keeps the dividend's sign on both engines.
    since_monday = exp.Mod(
        this=exp.paren(
            exp.Add(
                this=exp.Mod(
                    this=exp.cast(
                        exp.DateDiff(this=day, expression=date_literal(_A_MONDAY), unit=exp.var("DAY")), "INT"
                    ),
                    expression=exp.Literal.number(7),
                ),
                expression=exp.Literal.number(7),
            )
        ),
        expression=exp.Literal.number(7),
    )
    isodow = exp.Add(this=since_monday, expression=exp.Literal.number(1))
    week_start = exp.DateAdd(
        this=day.copy(), expression=exp.Neg(this=since_monday.copy()), unit=exp.var("DAY")
    )
    act_time = exp.Add(
        this=exp.cast(day.copy(), TIMESTAMP),
        expression=exp.Mul(
            this=exp.Coalesce(
                this=seconds,
                expressions=[exp.Literal.number(END_OF_DAY_SECONDS)],
            ),
            expression=exp.Interval(this=exp.Literal.string("1"), unit=exp.var("SECOND")),
        ),
    )
    quarter = exp.Add(
        this=exp.Mul(this=year.copy(), expression=exp.Literal.number(10)),
        expression=exp.Quarter(this=day.copy()),
    )
    amount = exp.Div(
        this=exp.cast(_c("amount_cents", "i"), "DECIMAL(24,6)"), expression=exp.Literal.number(100)
    )
    # An input invoice replaces the history's copy (same practitioner and invoice id, SPEC §5).
    copies = (
        exp.select(exp.Literal.number(1))
        .from_(exp.to_table(TABLE).as_("x"))
        .where(
            exp.and_(
                from_input("x"),
                exp.EQ(this=_c("practitioner_id", "x"), expression=_c("practitioner_id", "i")),
                exp.EQ(this=_c("invoice_id", "x"), expression=_c("invoice_id", "i")),
            )
        )
    )
    # Two plain filters joined by UNION ALL (an OR around the EXISTS would not become an anti-join).
    inputs = exp.select(exp.Star()).from_(exp.to_table(TABLE).as_("i")).where(from_input("i"))
    history_rows = history
    history = (
        exp.select(exp.Star())
        .from_(exp.to_table(TABLE).as_("i"))
        .where(
            exp.and_(
                exp.EQ(this=_c("origin", "i"), expression=exp.Literal.string("ledger")),
                exp.not_(exp.Exists(this=copies)),
            )
        )
    )

    def rows(alias: str) -> exp.Expression:
        if not history_rows:
            return exp.to_table(TABLE).as_(alias)
        return exp.Union(this=inputs.copy(), expression=history.copy(), distinct=False).subquery(alias)

    ord_ = order.ord("i") if order.packed else _c("ord", "o")
    query = (
        exp.select(
            exp.column(exp.Star(), table="i"),
            ord_.as_("ord"),
            age.as_("age"),
            isodow.as_("isodow"),
            week_start.as_("week_start"),
            quarter.as_("quarter_id"),
            exp.Year(this=day.copy()).as_("year_id"),
            act_time.as_("act_time"),
            exp.not_(exp.Is(this=_c("day", "h"), expression=exp.null())).as_("holiday"),
            exp.EQ(this=_c("status", "i"), expression=exp.Literal.string("cancelled")).as_("cancelled"),
            amount.as_("amount"),
            exp.Div(
                this=exp.cast(_c("km_hundredths", "i"), "DECIMAL(24,6)"), expression=exp.Literal.number(100)
            ).as_("km"),
        )
        .from_(rows("i"))
        .join(
            exp.to_table(HOLIDAYS).as_("h"),
            on=exp.EQ(this=_c("day", "h"), expression=day.copy()),
            join_type="left",
        )
    )
    if not order.packed:
        numbered = (
            exp.select(_c("seq", "i"), order_key.numbered("i").as_("ord")).from_(rows("i")).subquery("o")
        )
        query = query.join(numbered, on=exp.EQ(this=_c("seq", "o"), expression=_c("seq", "i")))
    return query


def base_table(*, history: bool = True, order: OrderKey = order_key.WRITER_KEY) -> exp.Select:
    """:func:`base_query` with ``expected``, the tariff total of each row's own codes.

    Computed here, once, so that the input's subjects are a view of ``base`` rather than a copy of
    it (the copy was a second table as wide as the input, spilled at 10 M rows). The (codes, date)
    pairs are read from the invoice table itself: the base query is not run twice for them.
    """
    return with_expected(base_query(history=history, order=order), pairs_from=exp.to_table(TABLE))


def billed_codes() -> exp.Select:
    """Each code ``base`` bills, and whether an input row bills it (1) or only the history (0)."""
    exploded = exp.select(
        exp.Explode(this=exp.column("codes")).as_("code"),
        exp.Case(
            ifs=[exp.If(this=from_input(), true=exp.Literal.number(1))], default=exp.Literal.number(0)
        ).as_("on_input"),
    ).from_(BASE)
    return (
        exp.select(exp.column("code"), exp.Max(this=exp.column("on_input")).as_("on_input"))
        .from_(exploded.subquery("c"))
        .group_by(exp.column("code"))
    )


#: The columns :func:`base_query` adds to the invoice table's, in its order (:func:`base_table`
#: adds ``expected`` after them, which the suggested codings compute again for their own codes).
BASE_DERIVED = (
    "ord", "age", "isodow", "week_start", "quarter_id", "year_id", "act_time", "holiday", "cancelled",
    "amount", "km",
)  # fmt: skip


# --- subjects -----------------------------------------------------------------------------------


def input_subjects() -> exp.Select:
    """The input's rows, each its own subject (``sid``: its place in the order; ``expected``: base's)."""
    return (
        exp.select(exp.column(exp.Star(), table="b"), _c("ord", "b").as_("sid"), exp.null().as_("variant"))
        .from_(exp.to_table(BASE).as_("b"))
        .where(from_input("b"))
    )


def suggested_subjects() -> exp.Select:
    """The input's rows coded as each opportunity suggests (table :data:`SUGGESTED`).

    Every opportunity is a hit, so its row is in :data:`ROWS_WITH_HITS`: joined there, the few
    suggestions read a few thousand rows rather than probe the whole of ``base``.
    """
    # Every column but the base's codes, named (Spark has no ``* EXCEPT``).
    kept = [_c(name, "b") for name in (*SCHEMA, *BASE_DERIVED) if name != "codes"]
    return (
        exp.select(
            *kept,
            _c("codes", "g"),
            _c("sid", "g"),
            _c("variant", "g"),
        )
        .from_(exp.to_table(SUGGESTED).as_("g"))
        .join(
            exp.to_table(ROWS_WITH_HITS).as_("b"), on=exp.EQ(this=_c("ord", "b"), expression=_c("ord", "g"))
        )
    )


def with_expected(query: exp.Select, pairs_from: exp.Expression | None = None) -> exp.Select:
    """``query``'s rows with ``expected``: ``TariffTable.total`` of their codes, NULL if it has none.

    Each code is priced by its sector's row in force on the date if it has one, else by its general
    row; a code priced per kilometre counts ``km`` times its rate, rounded to the cent (and has no
    amount without ``km``); NULL as soon as one code has no amount (SPEC §1, §5).

    Computed once per distinct (codes, date, sector, km) key, a few tens of thousands whatever the
    volume (``km`` is given on few rows), then joined back on the key: grouping the rows themselves
    by subject made a group and a hash-join build side as large as the input, which spilled
    (superlinear from a few million rows). ``pairs_from``: a table holding at least the query's keys,
    read for them instead of running the query a second time.
    """
    inner = query.subquery("q")
    source = pairs_from.as_("q") if pairs_from is not None else query.subquery("q")
    keys = ("codes", "date", "sector", "km_hundredths")
    pairs = exp.select(*(_c(name, "q") for name in keys)).distinct().from_(source).subquery("p")
    codes = (
        exp.select(*(_c(name, "p") for name in keys), exp.Explode(this=_c("codes", "p")).as_("code"))
        .from_(pairs)
        .subquery("u")
    )
    totals = (
        exp.select(
            *(_c(name, "u") for name in keys),
            exp.Case(
                ifs=[
                    exp.If(
                        this=exp.EQ(this=exp.Count(this=_c("price")), expression=exp.Count(this=exp.Star())),
                        true=exp.Sum(this=_c("price")),
                    )
                ]
            ).as_("expected"),
        )
        .from_(priced_codes(codes))
        .group_by(*(_c(name, "u") for name in keys))
        .subquery("e")
    )
    km_q, km_e = _c("km_hundredths", "q"), _c("km_hundredths", "e")
    same_key = exp.and_(
        *(exp.EQ(this=_c(name, "e"), expression=_c(name, "q")) for name in ("codes", "date", "sector")),
        # ``km`` is part of the key, NULL included (an equality never holds on NULL).
        exp.EQ(
            this=exp.Coalesce(this=km_e, expressions=[exp.Literal.number(0)]),
            expression=exp.Coalesce(this=km_q, expressions=[exp.Literal.number(0)]),
        ),
        exp.EQ(
            this=exp.paren(exp.Is(this=km_e.copy(), expression=exp.null())),
            expression=exp.paren(exp.Is(this=km_q.copy(), expression=exp.null())),
        ),
    )
    return (
        exp.select(exp.column(exp.Star(), table="q"), _c("expected", "e"))
        .from_(inner)
        .join(totals, on=same_key, join_type="left")
    )


# --- hits -------------------------------------------------------------------------------------


def in_force(rule: Any) -> list[exp.Expression]:
    """The conditions on ``date`` that keep a rule to the acts of its dates (none: always).

    Any rule: a DSL rule's ``from`` / ``until``, or a plugin's Python rule with ``valid_from`` /
    ``valid_until`` (the row engine honours them on every rule that has them).
    """
    start = getattr(rule, "valid_from", None)
    end = getattr(rule, "valid_until", None)
    found: list[exp.Expression] = []
    if start is not None:
        found.append(exp.GTE(this=col("date"), expression=date_literal(start)))
    if end is not None:
        found.append(exp.LTE(this=col("date"), expression=date_literal(end)))
    return found


def dsl_condition(plan: DslPlan, python_table: str | None) -> exp.Expression:
    """Whether the DSL rule applies to the subject row: dispatch, validity, condition (no window)."""
    rule = plan.rule
    parts: list[exp.Expression] = [exp.not_(col("cancelled"))]
    if rule.triggers is not None:
        parts.append(validity.judged(rule))
    parts += in_force(rule)
    if plan.condition is not None:
        parts.append(plan.condition.copy())
    if python_table is not None:
        # The table is LEFT JOINed by :func:`with_python` (Spark refuses IN (subquery) in a projection).
        parts.append(exp.not_(exp.Is(this=_c("sid", python_table), expression=exp.null())))
    return exp.and_(*parts, copy=False)


def with_python(query: exp.Select, python_tables: Sequence[str]) -> exp.Select:
    """``query`` over the subjects, LEFT JOINed to each table of sids a Python condition kept."""
    for name in python_tables:
        query = query.join(
            exp.to_table(name), on=exp.EQ(this=_c("sid", name), expression=col("sid")), join_type="left"
        )
    return query


#: Rules' flags packed into one BIGINT column of :func:`flag_hits` (62 bits: the sign bit unused).
FLAGS_PER_MASK = 62


def flag_hits(flags: Sequence[exp.Expression], python_tables: Sequence[str] = ()) -> exp.Select:
    """The rules without window in one scan: for the rows where one fires, which ones, as bits.

    Rule ``i``'s flag is bit ``i % FLAGS_PER_MASK`` of column ``m{i // FLAGS_PER_MASK}``: each row
    fetched is a sid and a number or two, not a yes/no value per rule (a file with many findings
    brought back tens of thousands of rows × dozens of rules as Python booleans). A NULL flag is
    no hit, as in the ``WHERE``.
    """
    names = [f"r{index}" for index in range(len(flags))]
    # The flags are this statement's own trees: aliased and selected without copies.
    aliased = [exp.alias_(flag, name, copy=False) for flag, name in zip(flags, names, strict=True)]
    inner = exp.select(col("sid"), *aliased, copy=False).from_(exp.to_table(SUBJECTS).as_(ROW), copy=False)
    inner = with_python(inner, python_tables)
    bigint = exp.DataType.build("BIGINT")
    masks = []
    for group, start in enumerate(range(0, len(names), FLAGS_PER_MASK)):
        # Every term a BIGINT, so that no engine adds them in a narrower type.
        terms = [
            exp.Case(
                ifs=[exp.If(this=exp.column(name), true=exp.cast(exp.Literal.number(1 << bit), bigint))]
            ).else_(exp.cast(exp.Literal.number(0), bigint), copy=False)
            for bit, name in enumerate(names[start : start + FLAGS_PER_MASK])
        ]
        bits = terms[0]
        for term in terms[1:]:
            bits = exp.Add(this=bits, expression=term)
        masks.append(exp.alias_(bits, f"m{group}", copy=False))
    return (
        exp.select(exp.column("sid"), *masks, copy=False)
        .from_(inner.subquery("f", copy=False), copy=False)
        .where(exp.or_(*(exp.column(name) for name in names), copy=False), copy=False)
    )


def fired_flags(masks: Sequence[int]) -> Iterator[int]:
    """The indices of the rules whose bits are set in one row's masks (:func:`flag_hits`), in order."""
    for group, mask in enumerate(masks):
        first = group * FLAGS_PER_MASK
        while mask:
            low = mask & -mask  # the lowest bit set: the earliest rule left
            yield first + low.bit_length() - 1
            mask ^= low


def code_unknown_condition(unknown: Sequence[str]) -> exp.Expression:
    """CODE-UNKNOWN: the invoice bills one of the codes no loaded rule set knows."""
    return billed(frozenset(unknown)) if unknown else exp.false()


def amount_condition(kind: str) -> exp.Expression:
    """AMOUNT-BELOW / AMOUNT-ABOVE against ``expected`` (NULL when a code has no tariff)."""
    amount, expected = col("amount"), col("expected")
    if kind == "amount_below":
        return decided(exp.LT(this=amount, expression=expected))
    overrun = billed(frozenset({"DE", "DA"}))
    return exp.and_(
        exp.EQ(this=col("sector"), expression=exp.Literal.string("1")),
        exp.not_(overrun),
        decided(exp.GT(this=amount, expression=expected)),
    )
