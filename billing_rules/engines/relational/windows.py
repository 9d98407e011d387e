"""Frequency windows as relational statements: count, first and last date of each subject's window.

``at most N`` and ``the Nth`` count the invoices of one key (patient, practitioner, code) in one
window, in SPEC §1 order, the ledger first. Calendar windows and ``ever`` are window functions over
``ROWS`` frames and one explicit sort key (``ord``, :mod:`.order`: a BIGINT of the row's own
columns, hash-partitioned here by the window's scope and sorted within each part only); rolling
windows (``within 12 months``) are a range self-join on the keys, ``ord`` comparing the rows.
Opportunities' suggested codings are counted as a weight-0 row placed just before their own
invoice (the same ``ord``, weight 0 first): they see what came before it, and are nobody's history.
The rules then read their windows' counts in one join of the subjects (:func:`window_hits`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from billing_rules.engines.relational import order
from billing_rules.engines.relational.compile import ROW, billed, col
from billing_rules.engines.relational.plan import CounterPlan, DslPlan
from billing_rules.engines.relational.sql import BASE, SUBJECTS, dsl_condition, union_all, with_python
from billing_rules.engines.relational.sql import column_of as _c


def _counted(counter: CounterPlan, alias: str) -> exp.Expression:
    """Whether the row ``alias`` counts in the window: billed, one of the codes, the condition."""
    parts: list[exp.Expression] = [exp.not_(_c("cancelled", alias))]
    if counter.triggers is not None:
        parts.append(_on_alias(billed(counter.triggers), alias))
    if counter.counting is not None:
        parts.append(_on_alias(counter.counting, alias))
    return exp.and_(*parts, copy=False)


def _on_alias(expression: exp.Expression, alias: str) -> exp.Expression:
    """A condition written over the subject row ``s``, read over ``alias``."""
    copy = expression.copy()
    for column in copy.find_all(exp.Column):
        if column.table == ROW:
            column.set("table", exp.to_identifier(alias))
    return copy


def _keys(counter: CounterPlan, alias: str) -> list[exp.Expression]:
    names = {"patient": "patient_id", "practitioner": "practitioner_id"}
    return [_c(names[part], alias) for part in counter.scope if part != "code"]


def _window_id(counter: CounterPlan, alias: str) -> list[exp.Expression]:
    if counter.window != "calendar":
        return []
    column = {"day": "date", "week": "week_start", "quarter": "quarter_id", "year": "year_id"}[
        counter.period or "day"
    ]
    return [_c(column, alias)]


def _counted_rows(
    counter: CounterPlan, table: str, alias: str, extra: Sequence[exp.Expression], *, packed: bool
) -> exp.Select:
    """The rows of ``table`` the window counts, with their keys (one row per code for ``per code``).

    ``packed``: whether ``ord`` is the packed key or the numbered fallback (:mod:`.order`).
    """
    columns = [
        _c("ord", alias),
        _c("date", alias),
        _c("invoice_id", alias),
        _c("practitioner_id", alias),
        order.first_key(alias, packed=packed).as_("fkey"),
        *(key.as_(f"k{index}") for index, key in enumerate(_keys(counter, alias))),
        *(window.as_("win") for window in _window_id(counter, alias)),
        *extra,
    ]
    # Every tree here is built for this statement alone: assembled without sqlglot's defensive
    # copies (each builder call otherwise copies the whole query built so far).
    query = (
        exp.select(*columns, copy=False)
        .from_(exp.to_table(table).as_(alias), copy=False)
        .where(_counted(counter, alias), copy=False)
    )
    if "code" in counter.scope:
        assert counter.triggers is not None
        codes = exp.Values(
            expressions=[
                exp.Tuple(expressions=[exp.Literal.string(code)]) for code in sorted(counter.triggers)
            ],
            alias=exp.TableAlias(this=exp.to_identifier("tc"), columns=[exp.to_identifier("code")]),
        )
        query = query.select(_c("code", "tc"), copy=False).join(
            codes, on=exp.ArrayContains(this=_c("codes", alias), expression=_c("code", "tc")), copy=False
        )
    else:
        query = query.select(exp.null().as_("code"), copy=False)
    return query


def _partition(counter: CounterPlan, alias: str | None) -> list[exp.Expression]:
    parts = [_c(f"k{index}", alias) for index, _ in enumerate(_keys(counter, "x"))]
    if counter.window == "calendar":
        parts.append(_c("win", alias))
    parts.append(_c("code", alias))
    return parts


def counter_query(
    counter: CounterPlan, *, suggested: bool, only: exp.Expression | None = None, packed: bool = True
) -> exp.Select:
    """Count, first and last date of the window of each subject that counts.

    Subjects are the input rows (``suggested`` false) or the suggested codings (true). A subject
    counts what the history and the input hold before it in the SPEC order, plus itself; a suggested
    coding is never history for anyone (weight 0), and sorts just before its own invoice.

    ``only``: a condition over the subject row ``s`` outside which no rule reads the window (the
    rules' own conditions, ORed); a rolling window is then counted for those subjects only, which
    keeps its self-join small (every row still counts as history).

    A window's first invoice is the one of the earliest date, then the first counted: the
    ``ARG_MIN`` of one BIGINT (:func:`.order.first_key`; ``packed`` says how ``ord`` was made).
    """
    if counter.window == "rolling":
        return _rolling_query(counter, only=only, packed=packed)
    history = _counted_rows(
        counter,
        BASE,
        "b",
        [exp.Literal.number(1).as_("w"), _c("ord", "b").as_("sid"), _c("origin", "b").as_("origin")],
        packed=packed,
    )
    stream: exp.Expression = history
    if suggested:
        own = _counted_rows(
            counter,
            SUBJECTS,
            "s",
            [exp.Literal.number(0).as_("w"), _c("sid", "s"), exp.Literal.string("suggested").as_("origin")],
            packed=packed,
        )
        stream = exp.Union(this=history, expression=own, distinct=False)
    order = exp.Order(
        expressions=[
            exp.Ordered(this=_c("ord"), nulls_first=False),
            exp.Ordered(this=_c("w"), nulls_first=False),
        ]
    )

    def window(function: exp.Expression, end: Any, end_side: str | None) -> exp.Window:
        spec = exp.WindowSpec(
            kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end=end, end_side=end_side
        )
        return exp.Window(
            this=function, partition_by=_partition(counter, None), order=order.copy(), spec=spec
        )

    def earlier_of(name: str) -> exp.Expression:
        test = exp.EQ(this=_c("w"), expression=exp.Literal.number(1))
        return exp.Case(ifs=[exp.If(this=test, true=_c(name))])

    earlier = earlier_of("date")
    preceding = (exp.Literal.number(1), "PRECEDING")
    counted = exp.select(
        _c("sid"),
        _c("code"),
        _c("origin"),
        _c("date"),
        _c("invoice_id"),
        _c("practitioner_id"),
        window(exp.ArgMin(this=earlier_of("invoice_id"), expression=earlier_of("fkey")), *preceding).as_(
            "first_invoice"
        ),
        window(exp.ArgMin(this=earlier_of("practitioner_id"), expression=earlier_of("fkey")), *preceding).as_(
            "first_practitioner"
        ),
        exp.Add(
            this=window(exp.Sum(this=_c("w")), "CURRENT ROW", None),
            expression=exp.Sub(this=exp.Literal.number(1), expression=_c("w")),
        ).as_("cnt"),
        window(exp.Min(this=earlier), exp.Literal.number(1), "PRECEDING").as_("first_date"),
        window(exp.Max(this=earlier.copy()), exp.Literal.number(1), "PRECEDING").as_("last_date"),
        copy=False,
    ).from_(stream.subquery("stream", copy=False), copy=False)
    wanted = exp.Literal.string("suggested" if suggested else "input")
    return (
        exp.select(_c("sid"), _c("code"), _c("cnt"), *_first_or_own(None), copy=False)
        .from_(counted.subquery("c", copy=False), copy=False)
        .where(exp.EQ(this=_c("origin"), expression=wanted), copy=False)
    )


def _first_or_own(alias: str | None) -> list[exp.Expression]:
    """First and last date, first invoice and practitioner: the subject's own when the window was empty."""

    def own(name: str, mine: str) -> exp.Expression:
        return exp.Coalesce(this=_c(name), expressions=[_c(mine, alias)])

    return [
        own("first_date", "date").as_("first_date"),
        own("last_date", "date").as_("last_date"),
        own("first_invoice", "invoice_id").as_("first_invoice"),
        own("first_practitioner", "practitioner_id").as_("first_practitioner"),
    ]


def _rolling_query(counter: CounterPlan, *, only: exp.Expression | None, packed: bool) -> exp.Select:
    """Rolling window ``(start, date]``: a range self-join on the keys, earlier rows only.

    The same join serves both passes: the history is always the base rows.
    """
    subjects_query = _counted_rows(counter, SUBJECTS, "s", [_c("sid", "s")], packed=packed)
    if only is not None:
        subjects_query = subjects_query.where(only.copy())
    subjects = subjects_query.subquery("s")
    history = _counted_rows(counter, BASE, "b", [], packed=packed).subquery("b")
    start = _rolling_start(_c("date", "s"), counter)
    on = [
        exp.EQ(this=a, expression=b)
        for a, b in zip(_partition(counter, "b"), _partition(counter, "s"), strict=True)
        if a.name != "code" or "code" in counter.scope
    ]
    on += [
        exp.LT(this=_c("ord", "b"), expression=_c("ord", "s")),
        exp.GT(this=_c("date", "b"), expression=start),
        exp.LTE(this=_c("date", "b"), expression=_c("date", "s")),
    ]
    grouped = (
        exp.select(
            _c("sid", "s"),
            _c("code", "s"),
            _c("date", "s"),
            _c("invoice_id", "s"),
            _c("practitioner_id", "s"),
            exp.Add(this=exp.Count(this=_c("ord", "b")), expression=exp.Literal.number(1)).as_("cnt"),
            exp.Min(this=_c("date", "b")).as_("first_date"),
            exp.Max(this=_c("date", "b")).as_("last_date"),
            exp.ArgMin(this=_c("invoice_id", "b"), expression=_c("fkey", "b")).as_("first_invoice"),
            exp.ArgMin(this=_c("practitioner_id", "b"), expression=_c("fkey", "b")).as_("first_practitioner"),
        )
        .from_(subjects)
        .join(history, on=exp.and_(*on), join_type="left")
        .group_by(
            _c("sid", "s"),
            _c("code", "s"),
            _c("date", "s"),
            _c("invoice_id", "s"),
            _c("practitioner_id", "s"),
        )
    )
    return exp.select(_c("sid"), _c("code"), _c("cnt"), *_first_or_own(None)).from_(grouped.subquery("g"))


def _rolling_start(day: exp.Expression, counter: CounterPlan) -> exp.Expression:
    """The last day outside the window ending on ``day`` (months clamp to the month's end)."""
    if counter.period in ("days", "weeks"):
        days = counter.span * (7 if counter.period == "weeks" else 1)
        shift = exp.Interval(this=exp.Literal.string(str(days)), unit=exp.var("DAY"))
    else:
        months = counter.span * (12 if counter.period == "years" else 1)
        shift = exp.Interval(this=exp.Literal.string(str(months)), unit=exp.var("MONTH"))
    return exp.cast(exp.Sub(this=day, expression=shift), "DATE")


#: The columns of a hit: the subject, the rule, and the window that makes it fire.
WINDOW_COLUMNS = ("code", "cnt", "first_date", "last_date", "first_invoice", "first_practitioner")


def window_hits(windowed: Sequence[tuple[DslPlan, str, str | None]]) -> exp.Select | None:
    """The subjects on which each DSL rule with a window fires, with the window that makes it fire.

    ``windowed``: (rule, its window's counter table, its Python condition's table or None). Each
    window's rows over the rule's limit are gathered first, then joined to the subjects once for all
    the rules, each tested by its own condition (a ``CASE`` on the rule): one join where there was
    one per rule. On Spark, without broadcast, each join shuffled the subjects again; on DuckDB
    each scanned them again. With ``per code``, the first code (in code order) whose window fires,
    as the row engine does.
    """
    if not windowed:
        return None
    gathered = []
    for plan, counter_table, _ in windowed:
        count, limit = _c("cnt", "w"), exp.Literal.number(plan.limit)
        firing = (
            exp.GT(this=count, expression=limit)
            if plan.kind == "at_most"
            else exp.EQ(this=count, expression=limit)
        )
        gathered.append(
            exp.select(
                _c("sid", "w"),
                exp.Literal.string(plan.code).as_("rule"),
                *(_c(name, "w") for name in WINDOW_COLUMNS),
                copy=False,
            )
            .from_(exp.to_table(counter_table).as_("w"), copy=False)
            .where(firing, copy=False)
        )
    union = union_all(gathered)
    assert union is not None
    applies = exp.Case(
        this=_c("rule", "h"),
        ifs=[
            exp.If(this=exp.Literal.string(plan.code), true=dsl_condition(plan, python_table))
            for plan, _, python_table in windowed
        ],
        default=exp.false(),
    )
    rank = exp.Window(
        this=exp.RowNumber(),
        partition_by=[_c("sid", "h"), _c("rule", "h")],
        order=exp.Order(expressions=[exp.Ordered(this=_c("code", "h"), nulls_first=True)]),
    )
    ranked = (
        exp.select(
            _c("sid", "h"), _c("rule", "h"), *(_c(name, "h") for name in WINDOW_COLUMNS), rank.as_("pick")
        )
        .from_(union.subquery("h", copy=False), copy=False)
        .join(
            exp.to_table(SUBJECTS).as_(ROW),
            on=exp.EQ(this=col("sid"), expression=_c("sid", "h")),
            copy=False,
        )
        .where(applies, copy=False)
    )
    ranked = with_python(ranked, [table for _, _, table in windowed if table is not None])
    return (
        exp.select(_c("sid"), _c("rule"), *(_c(name) for name in WINDOW_COLUMNS))
        .from_(ranked.subquery("r", copy=False), copy=False)
        .where(exp.EQ(this=_c("pick"), expression=exp.Literal.number(1)))
    )
