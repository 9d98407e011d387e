"""Conditions and expressions of the DSL to sqlglot expressions over one invoice row.

The rule tree was already checked by the front end (``dsl.check``, names, kinds, values): this only
translates, node by node, with the row engine's meaning:

* Python's two-valued conditions: every test is wrapped in ``COALESCE(test, FALSE)``, so a missing
  value makes a test false and ``not`` of it true, exactly as the closures do (SQL's NULL would
  make ``NOT`` unknown);
* money and numbers as exact decimals, times as minutes since midnight, timestamps without time zone,
  durations added the calendar way (months clamp to the month's end, as ``_shift_months`` does);
* the built-in functions ``tariff``, ``exists``, ``public_holiday``, ``pdsa_time``, ``weekday`` and
  ``hour`` have relational forms; any other function (a plugin's, ``extra``, ``forfait_mt``) is
  Python: the rule's condition is then evaluated row by row on the rows its codes wake
  (:class:`NeedsPython`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs
from sqlglot import exp

from billing_rules.dsl import ast
from billing_rules.dsl.vocabulary import FIELDS, Kind

#: DSL field -> column of the subject row (see ``sql.SUBJECT_COLUMNS``).
COLUMNS = {
    "date": "date",
    "time": "time_min",
    "act_time": "act_time",
    "birth_date": "birth_date",
    "age": "age",
    "invoice_id": "invoice_id",
    "practitioner_id": "practitioner_id",
    "specialty": "specialty",
    "sector": "sector",
    "ald": "ald",
    "palliative": "palliative",
    "neurodegenerative": "neurodegenerative",
    "mt_status": "mt_status",
    "declares_mt": "declares_mt",
    "place": "place",
    "homebound": "homebound",
    "amount": "amount",
    "regulated": "regulated",
    "referral_at": "referral_at",
    "status": "status",
    "discharge_date": "discharge_date",
    "km": "km",
}
RELATIONAL_FUNCTIONS = frozenset({"tariff", "exists", "public_holiday", "pdsa_time", "weekday", "hour"})
ROW = "s"
#: A timestamp without time zone on every engine (Spark's plain TIMESTAMP follows the session's zone,
#: which would shift ``referral_at + 48 hours`` across a DST change).
TIMESTAMP = exp.DataType.build("TIMESTAMP_NTZ", dialect="spark")
_COMPARE = {"<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE, "=": exp.EQ, "!=": exp.NEQ}
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}
_PDSA_MORNING_END = 8 * 60
_PDSA_EVENING = 20 * 60
_SATURDAY_NOON = 12 * 60


class NeedsPython(Exception):
    """The condition calls a function that only exists in Python: evaluate it row by row.

    Control flow inside the relational compiler (``plan`` catches it); never reaches a user.
    """


@attrs.frozen
class Typed:
    """A translated expression, its kind and (enum fields) its enum type."""

    sql: exp.Expression
    kind: Kind
    enum_type: Any = None
    constant: Any = None
    is_constant: bool = False


def col(name: str) -> exp.Column:
    """A column of the subject row."""
    return exp.column(name, table=ROW)


def false() -> exp.Expression:
    """SQL ``FALSE``."""
    return exp.false()


def decided(test: exp.Expression) -> exp.Expression:
    """``COALESCE(test, FALSE)``: a missing value makes the test false, never unknown."""
    return exp.Coalesce(this=test, expressions=[exp.false()])


def date_literal(day: dt.date) -> exp.Expression:
    """A DATE constant."""
    return exp.cast(exp.Literal.string(day.isoformat()), "DATE")


#: Integer digits and smallest scale of a DECIMAL constant: DECIMAL(24,6) for every literal money
#: and kilometres need; a literal with more decimals keeps them all (``26.4999999`` is
#: DECIMAL(25,7)), as the row engine's ``Decimal`` does, instead of being rounded to six.
_INTEGER_DIGITS = 18
_MIN_SCALE = 6
_MAX_PRECISION = 38


def number_literal(value: Decimal | int) -> exp.Expression:
    """An exact number (a DECIMAL constant when it has decimals, every decimal kept).

    The scale is the literal's own (at least six), the integer digits eighteen: comparing or adding
    it to a column of another scale widens both to the larger scale on DuckDB and Spark, exactly.
    The DSL's numbers have at most 12 digits (``MAX_NUMBER_DIGITS``), far within DECIMAL(38, s).
    """
    text = str(value)
    if "." in text or "E" in text.upper():
        number = Decimal(text)
        exponent = number.as_tuple().exponent
        scale = max(_MIN_SCALE, -exponent if isinstance(exponent, int) else 0)
        scale = min(scale, _MAX_PRECISION - _INTEGER_DIGITS)
        kind = f"DECIMAL({_INTEGER_DIGITS + scale},{scale})"
        return exp.cast(exp.Literal.string(format(number, "f")), kind)
    return exp.Literal.number(text)


class CondCompiler:
    """Translates conditions of one rule set (its families, defines, tariffs)."""

    def __init__(
        self,
        *,
        families: Mapping[str, frozenset[str]],
        defines: Mapping[str, ast.Cond],
        functions: Mapping[str, Any],
        tariff_sql: Any,
        exists_sql: Any = None,
    ) -> None:
        self.families = families
        self.defines = defines
        self.functions = functions
        #: (code, date, sector expressions) -> the tariff in force for the sector (as
        #: ``TariffTable.on``), or NULL
        self.tariff_sql = tariff_sql
        #: code -> whether it exists on the act's date (``exists``; None: the function needs Python)
        self.exists_sql = exists_sql

    # --- conditions ---------------------------------------------------------------------------

    def cond(self, node: ast.Cond) -> exp.Expression:
        """A condition: never NULL."""
        if isinstance(node, ast.And):
            return exp.and_(*(self.cond(item) for item in node.operands))
        if isinstance(node, ast.Or):
            return exp.or_(*(self.cond(item) for item in node.operands))
        if isinstance(node, ast.Not):
            return exp.not_(self.cond(node.operand))
        if isinstance(node, ast.Billed):
            return billed(self.codes(node.codes))
        if isinstance(node, ast.Truthy):
            expr = node.expr
            if isinstance(expr, ast.Name) and expr.name in self.defines and expr.name not in FIELDS:
                return exp.paren(self.cond(self.defines[expr.name]))
            return decided(self.expr(expr).sql)
        if isinstance(node, ast.Given):
            value = self.expr(node.expr).sql
            return (
                exp.Is(this=value, expression=exp.null())
                if node.negated
                else exp.not_(exp.Is(this=value, expression=exp.null()))
            )
        if isinstance(node, ast.IsValue):
            left = self.expr(node.left)
            if left.kind is Kind.ANY:
                raise NeedsPython("comparaison d'une valeur de type inconnu")
            right = self.value_for(left, node.right)
            test = exp.EQ(this=left.sql, expression=right.sql)
            return decided(exp.NEQ(this=left.sql, expression=right.sql) if node.negated else test)
        if isinstance(node, ast.InValues):
            left = self.expr(node.left)
            if left.kind is Kind.ANY:
                raise NeedsPython("comparaison d'une valeur de type inconnu")
            options = [self.value_for(left, option) for option in node.options]
            if all(option.is_constant for option in options):
                test = exp.In(this=left.sql, expressions=[option.sql for option in options])
                return decided(exp.not_(test)) if node.negated else decided(test)
            # As the closures do: any of the equalities; ``not in`` is true when the value is missing.
            tests = exp.or_(*(decided(exp.EQ(this=left.sql, expression=option.sql)) for option in options))
            return exp.not_(exp.paren(tests)) if node.negated else exp.paren(tests)
        if isinstance(node, ast.Compare):
            left = self.expr(node.left)
            right = self.expr(node.right)
            if Kind.ANY in (left.kind, right.kind):
                raise NeedsPython("comparaison d'une valeur de type inconnu")
            return decided(_COMPARE[node.op](this=left.sql, expression=right.sql))
        raise NeedsPython(type(node).__name__)  # pragma: no cover - every node is handled above

    def codes(self, items: tuple[ast.CodeItem, ...]) -> frozenset[str]:
        """Codes and families to a set of codes (already checked by ``dsl.check``)."""
        found: set[str] = set()
        for item in items:
            if isinstance(item, ast.FamilyRef):
                found |= self.families[item.name]
            else:
                found.add(item.code)
        return frozenset(found)

    def value_for(self, left: Typed, node: ast.Expr) -> Typed:
        """The right side of ``is`` / ``in``: a word of the left field's vocabulary where it has one."""
        word = ast.word_of(node)
        if left.kind is Kind.ENUM and left.enum_type is not None and word is not None:
            for member in left.enum_type:
                if member.value == word.lower():
                    literal = exp.Literal.string(member.value)
                    return Typed(literal, Kind.ENUM, constant=member, is_constant=True)
        if (
            left.kind is Kind.TEXT
            and word is not None
            and not (isinstance(node, ast.Name) and node.name in FIELDS)
        ):
            return Typed(exp.Literal.string(word), Kind.TEXT, is_constant=True)
        if left.kind is Kind.BOOL and word in ("true", "false", "oui", "non", "yes", "no"):
            value = exp.true() if word in ("true", "oui", "yes") else exp.false()
            return Typed(value, Kind.BOOL, is_constant=True)
        return self.expr(node)

    # --- expressions --------------------------------------------------------------------------

    def expr(self, node: ast.Expr) -> Typed:
        """An expression; NULL where the row engine's value is None."""
        if isinstance(node, ast.NumberLit):
            value = int(node.value) if node.value == node.value.to_integral_value() else node.value
            return Typed(number_literal(value), Kind.NUMBER, constant=value, is_constant=True)
        if isinstance(node, ast.DateLit):
            return Typed(date_literal(node.value), Kind.DATE, constant=node.value, is_constant=True)
        if isinstance(node, ast.StringLit):
            return Typed(exp.Literal.string(node.value), Kind.TEXT, constant=node.value, is_constant=True)
        if isinstance(node, ast.CodeLit):
            return Typed(exp.Literal.string(node.code), Kind.CODE, constant=node.code, is_constant=True)
        if isinstance(node, ast.DurationLit):
            return Typed(exp.null(), Kind.DURATION, constant=node, is_constant=True)
        if isinstance(node, ast.Name):
            field = FIELDS.get(node.name)
            if field is not None:
                return Typed(col(COLUMNS[field.name]), field.kind, field.enum_type)
            if node.name in self.functions:
                return self.call(node.name, ())
            if node.name in self.defines:
                return Typed(exp.paren(self.cond(self.defines[node.name])), Kind.BOOL)
            raise NeedsPython(node.name)  # pragma: no cover - dsl.check refused it
        if isinstance(node, ast.Call):
            return self.call(node.name, node.args)
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        raise NeedsPython(type(node).__name__)  # pragma: no cover

    def call(self, name: str, args: tuple[ast.Expr, ...]) -> Typed:
        """A built-in function with a relational form; any other one needs Python."""
        function = self.functions.get(name)
        if function is None or name not in RELATIONAL_FUNCTIONS or function.origin != "builtin":
            raise NeedsPython(name)
        if name == "tariff":
            (code,) = args
            assert isinstance(code, ast.CodeLit)
            return Typed(self.tariff_sql(code.code, col("date"), col("sector")), Kind.MONEY)
        if name == "exists":
            (code,) = args
            assert isinstance(code, ast.CodeLit)
            if self.exists_sql is None:
                raise NeedsPython(name)
            return Typed(self.exists_sql(code.code), Kind.BOOL)
        if name == "public_holiday":
            return Typed(col("holiday"), Kind.BOOL)
        if name == "weekday":
            return Typed(col("isodow"), Kind.NUMBER)
        if name == "hour":
            (moment,) = args
            value = self.expr(moment)
            if value.kind is not Kind.DATETIME:
                raise NeedsPython("hour() d'une valeur qui n'est pas une date et heure")
            return Typed(exp.Hour(this=value.sql), Kind.NUMBER)
        return Typed(pdsa_time(), Kind.BOOL)

    def binop(self, node: ast.BinOp) -> Typed:
        """``date ± duration`` (the calendar way) or a sum of numbers."""
        left = self.expr(node.left)
        right = self.expr(node.right)
        sign = 1 if node.op == "+" else -1
        if left.kind in (Kind.DATE, Kind.DATETIME) and right.kind is Kind.DURATION:
            duration: ast.DurationLit = right.constant
            unit = duration.unit.rstrip("s")
            if unit in ("month", "year"):
                months = sign * int(duration.amount) * (12 if unit == "year" else 1)
                shifted = exp.Add(this=left.sql, expression=_interval(months, "MONTH"))
                bounds = _month_bounds(months)
            elif left.kind is Kind.DATE:
                days = (dt.timedelta(seconds=float(duration.amount) * _UNIT_SECONDS[unit]) * sign).days
                step = dt.timedelta(days=days)
                shifted = exp.Add(this=left.sql, expression=_interval(step.days, "DAY"))
                bounds = _step_bounds(step)
            else:
                micro = dt.timedelta(seconds=float(duration.amount) * _UNIT_SECONDS[unit]) * sign
                total = micro.days * 86_400_000_000 + micro.seconds * 1_000_000 + micro.microseconds
                shifted = exp.Add(this=left.sql, expression=_interval(total, "MICROSECOND"))
                bounds = _step_bounds(micro)
            kind_type = "DATE" if left.kind is Kind.DATE else TIMESTAMP
            return Typed(_on_calendar(left, exp.cast(shifted, kind_type), bounds), left.kind)
        if Kind.ANY in (left.kind, right.kind):
            raise NeedsPython("opération sur une valeur de type inconnu")
        cls = exp.Add if node.op == "+" else exp.Sub
        kind = Kind.MONEY if Kind.MONEY in (left.kind, right.kind) else Kind.NUMBER
        return Typed(cls(this=left.sql, expression=right.sql), kind)


def billed(codes: frozenset[str]) -> exp.Expression:
    """True when the invoice bills one of ``codes`` (never NULL: ``codes`` is never NULL).

    One ``ARRAY_CONTAINS`` per code, ORed: DuckDB runs it about five times faster than an overlap
    with a constant list (which builds that list on every row), and Spark has it too.
    """
    tests = [
        exp.ArrayContains(this=col("codes"), expression=exp.Literal.string(code)) for code in sorted(codes)
    ]
    if not tests:
        return exp.false()
    return exp.paren(exp.or_(*tests)) if len(tests) > 1 else tests[0]


def pdsa_time() -> exp.Expression:
    """SPEC §5 PDSA time: Sundays and holidays all day; otherwise before 08:00, from 20:00, Saturday 12:00."""
    minutes = col("time_min")
    dow = col("isodow")
    timed = exp.or_(
        exp.LT(this=minutes, expression=exp.Literal.number(_PDSA_MORNING_END)),
        exp.GTE(this=minutes, expression=exp.Literal.number(_PDSA_EVENING)),
        exp.and_(
            exp.EQ(this=dow, expression=exp.Literal.number(6)),
            exp.GTE(this=minutes, expression=exp.Literal.number(_SATURDAY_NOON)),
        ),
    )
    return exp.or_(exp.EQ(this=dow, expression=exp.Literal.number(7)), col("holiday"), decided(timed))


def _interval(amount: int, unit: str) -> exp.Expression:
    return exp.Interval(this=exp.Literal.string(str(amount)), unit=exp.var(unit))


#: A shift leaving the calendar everywhere: NULL on every row.
_NEVER = "never"
_MONTHS_END = 12 * (dt.MAXYEAR + 1)  # months from January of year 0 to just after December 9999


def _month_start(index: int) -> dt.datetime | None:
    """The first instant of month ``index`` (months since January of year 0), None off the calendar."""
    year, month = divmod(index, 12)
    return dt.datetime(year, month + 1, 1) if dt.MINYEAR <= year <= dt.MAXYEAR else None


def _month_bounds(months: int) -> tuple[Any, Any]:
    """Where a shift by ``months`` stays on the calendar: from the first moment to the second.

    The first is included, the second excluded; None for no bound.

    The row engine's ``shift_months`` gives nothing when the year leaves 1-9999; DuckDB and Spark
    would compute a date of year 0 or before (or fail): the relational form is NULL outside.
    """
    if months < 0:
        low = _month_start(12 - months)
        return (low, None) if low is not None else (_NEVER, None)
    return (None, _month_start(_MONTHS_END - months)) if months else (None, None)


def _step_bounds(step: dt.timedelta) -> tuple[Any, Any]:
    """Where ``+ step`` stays on the calendar (the row engine's ``shift`` gives nothing outside)."""
    tick = dt.timedelta(microseconds=1)
    try:
        if step < dt.timedelta():
            return (dt.datetime.min - step, None)
        return (None, dt.datetime.max - step + tick) if step else (None, None)
    except OverflowError:
        return (_NEVER, None) if step < dt.timedelta() else (None, None)


def _ceil_day(moment: dt.datetime) -> dt.date | None:
    """The first day starting at or after ``moment`` (None beyond the calendar)."""
    if moment.time() == dt.time():
        return moment.date()
    return moment.date() + dt.timedelta(days=1) if moment.date() < dt.date.max else None


def _on_calendar(left: Typed, shifted: exp.Expression, bounds: tuple[Any, Any]) -> exp.Expression:
    """``shifted`` where ``left`` is within ``bounds``, else NULL (as the row engine's missing value)."""
    low, high = bounds
    kind_type = "DATE" if left.kind is Kind.DATE else TIMESTAMP
    if low == _NEVER:
        return exp.cast(exp.null(), kind_type)
    tests: list[exp.Expression] = []
    for bound, compare in ((low, exp.GTE), (high, exp.LT)):
        if bound is None:
            continue
        if left.kind is Kind.DATE:
            day = _ceil_day(bound)
            if day is None:  # no day starts at or after the bound
                if compare is exp.GTE:
                    return exp.cast(exp.null(), kind_type)
                continue
            literal = date_literal(day)
        else:
            literal = exp.cast(exp.Literal.string(bound.isoformat(sep=" ")), TIMESTAMP)
        tests.append(compare(this=left.sql.copy(), expression=literal))
    if not tests:
        return shifted
    return exp.Case(ifs=[exp.If(this=exp.and_(*tests), true=shifted)])
