"""The SPEC §1 order key ``ord`` of the invoice table: one BIGINT computed from each row's own columns.

The order: ledger rows before input rows, then date, then the timed acts of a day before its untimed
ones, then time (seconds), then ``seq`` (file order). Every frequency window sorts on it, the
rolling ones compare it, and a subject's ``sid`` is it: it has to be one integer that sorts exactly
so. A ROW_NUMBER over that sort would give one, at the price of a global sort: Spark computes it in a
single task (then had to spread the rows again), DuckDB sorts the whole table (0.18 s of the 0.8 s
that builds ``base`` from 1 M rows, and a sort that spills at 10 M). The key here is arithmetic on
the row alone (no window, no sort, each row in the partition it was read into), in mixed radix
over the signed 64 bits:

``ord = (major × 86 401 + second) × SEQ_SPAN + (seq − first seq of the row's origin)``

* ``major``: the days since 1900-01-01 for an input row, the same minus :data:`DAY_SPAN` for a
  ledger row: every ledger row is negative, every input row non-negative, whatever the dates;
* ``second``: ``time_s`` (0 to 86 399), or 86 400 when the act has no time, after every timed act
  of its day (and after 23:59:59);
* the ``seq`` offset: ``seq`` minus the smallest ``seq`` of the row's origin (history rows start at
  ``table._HISTORY_SEQ``, input rows at 0, a simulated period's at its rank in the ledger's export:
  the offset makes the three alike).

A BIGINT and not a DECIMAL(38,0): DuckDB holds DECIMAL(38) as a 128-bit integer and Spark as a Java
BigDecimal object, slower to sort, hash and compare than a long on both; and the ``sid`` it becomes
travels through Python and the small tables as a BIGINT. The ranges fit: the days run over the
readers' act dates (1900-01-01 to 2199-12-31, :data:`DAY_SPAN` = 109 573 days, ``values.ACT_DATE_MIN``
/ ``ACT_DATE_MAX``), so ``SEQ_SPAN`` = ⌊2⁶³ / (109 573 × 86 401)⌋ = 974 243 249 rows per origin
(``seq`` offsets 0 to 974 243 248) and ``ord`` lies in [−109 573 × :data:`DAY_WIDTH`, 109 573 ×
:data:`DAY_WIDTH`), within 2⁶³ − 9 × 10⁹ of the BIGINT's ends. Each partial result of the
computation stays in that range too, in the order the engines really run it (see :func:`_minus`):
an overflow is an error on both (Spark in ANSI mode, DuckDB always), never a wrong order.

What is read before ``base`` is built (:func:`bounds_query`, one aggregate scan) decides: when a
date lies outside that range (an API caller's own events are not all read through the readers) or
an origin's ``seq`` values span more than ``SEQ_SPAN``, the key falls back to the ROW_NUMBER over
the same sort (:attr:`OrderKey.packed` false): the same order and findings, the global sort back.
``seq`` is unique in the table (every producer numbers it so; ``base`` already joined on it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
from sqlglot import exp

from billing_rules.engines.relational.compile import date_literal
from billing_rules.engines.relational.table import _HISTORY_SEQ, TABLE
from billing_rules.readers.values import ACT_DATE_MAX, ACT_DATE_MIN

#: Day 0 of the key: the readers' first act date.
EPOCH = ACT_DATE_MIN
#: Days from :data:`EPOCH` to the readers' last act date, both included.
DAY_SPAN = (ACT_DATE_MAX - ACT_DATE_MIN).days + 1
#: A timed act's second of the day (0 to 86 399), or :data:`UNTIMED`.
SECOND_SPAN = 86_401
UNTIMED = 86_400
#: ``seq`` offsets of one origin: 0 to ``SEQ_SPAN - 1``.
SEQ_SPAN = 2**63 // (DAY_SPAN * SECOND_SPAN)
#: One day of the key.
DAY_WIDTH = SECOND_SPAN * SEQ_SPAN
#: Numbered fallback: the first key is days since 1970 × this + ``ord`` (``ord`` ≤ the rows).
_NUMBERED_DAY_WIDTH = 10**12

_EPOCH_1970 = dt.date(1970, 1, 1)


def _col(name: str, table: str | None) -> exp.Column:
    return exp.column(name, table=table)


def from_input(alias: str | None = None) -> exp.Expression:
    """The row is one of the input's (not the ledger's history)."""
    return exp.EQ(this=_col("origin", alias), expression=exp.Literal.string("input"))


def _days(alias: str | None, since: dt.date) -> exp.Expression:
    """Days from ``since`` to the row's date, as a BIGINT (Spark's DATEDIFF is an INT)."""
    return exp.cast(
        exp.DateDiff(this=_col("date", alias), expression=date_literal(since), unit=exp.var("DAY")), "BIGINT"
    )


def _minus(value: exp.Expression, constant: int) -> exp.Expression:
    """``value − (constant)``: a subtraction even when ``constant`` is negative, never an addition.

    Spark's optimizer flattens a chain of additions and adds the constants last
    (``ReorderAssociativeOperator``): ``key + (seq + 10¹⁵)`` would run as ``(key + seq) + 10¹⁵``,
    whose first sum overflows at the smallest ledger keys. A subtraction is not part of the chain.
    """
    literal = exp.Literal.number(abs(constant))
    return exp.Sub(this=value, expression=exp.paren(exp.Neg(this=literal)) if constant < 0 else literal)


@attrs.frozen
class OrderKey:
    """How ``ord`` is computed for one check.

    ``packed``: from each row's columns (the module docstring), with ``seq`` offsets counted from
    ``input_seq`` and ``ledger_seq`` (each origin's smallest ``seq``); else a ROW_NUMBER.
    """

    packed: bool
    input_seq: int = 0
    ledger_seq: int = 0

    def ord(self, alias: str | None) -> exp.Expression:
        """The packed key of the row ``alias`` (packed keys only; see :func:`numbered`)."""
        assert self.packed
        second = exp.Coalesce(this=_col("time_s", alias), expressions=[exp.Literal.number(UNTIMED)])

        def key(major: exp.Expression, first_seq: int) -> exp.Expression:
            within = exp.Add(
                this=exp.Mul(this=exp.paren(major), expression=exp.Literal.number(SECOND_SPAN)),
                expression=second.copy(),
            )
            return exp.Add(
                this=exp.Mul(this=exp.paren(within), expression=exp.Literal.number(SEQ_SPAN)),
                expression=exp.paren(_minus(_col("seq", alias), first_seq)),
            )

        days = _days(alias, EPOCH)
        ledger_major = exp.Sub(this=days.copy(), expression=exp.Literal.number(DAY_SPAN))
        return exp.Case(
            ifs=[exp.If(this=from_input(alias), true=key(days, self.input_seq))],
            default=key(ledger_major, self.ledger_seq),
        )


#: The packed key of a table numbered as :class:`.table.TableWriter` numbers it (input from 0,
#: history from ``_HISTORY_SEQ``): what a statement built outside a check is generated with.
WRITER_KEY = OrderKey(packed=True, input_seq=0, ledger_seq=_HISTORY_SEQ)


def numbered(alias: str) -> exp.Window:
    """The fallback: ROW_NUMBER over the SPEC §1 sort of the rows ``alias`` (NULLs placed by hand)."""
    seconds = _col("time_s", alias)
    return exp.Window(
        this=exp.RowNumber(),
        order=exp.Order(
            expressions=[
                exp.Ordered(this=from_input(alias), nulls_first=False),
                exp.Ordered(this=_col("date", alias), nulls_first=False),
                exp.Ordered(this=exp.Is(this=seconds, expression=exp.null()), nulls_first=False),
                exp.Ordered(this=seconds.copy(), nulls_first=False),
                exp.Ordered(this=_col("seq", alias), nulls_first=False),
            ]
        ),
    )


def first_key(alias: str, *, packed: bool) -> exp.Expression:
    """A BIGINT that orders rows by date, then ``ord``: which invoice opens a window (``ARG_MIN``).

    Packed, it is ``ord`` with its day and origin swapped: the same offset within the day, under
    ``(2 × days + origin − DAY_SPAN) × DAY_WIDTH``, computed from ``ord`` and the date only (no
    ``seq`` offset, so the statement does not depend on the check's data); ``ord + (days −
    origin × (DAY_SPAN − 1)) × DAY_WIDTH`` adds a non-negative term to a ledger row's negative
    key and a non-positive one to an input row's non-negative key: never an overflow. Numbered,
    ``ord`` is at most the number of rows: days since 1970 × 10¹² + ``ord``.
    """
    ord_ = _col("ord", alias)
    if not packed:
        return exp.Add(
            this=exp.Mul(this=_days(alias, _EPOCH_1970), expression=exp.Literal.number(_NUMBERED_DAY_WIDTH)),
            expression=ord_,
        )
    days = _days(alias, EPOCH)
    shift = exp.Case(
        ifs=[
            exp.If(
                this=from_input(alias),
                true=exp.Sub(this=days, expression=exp.Literal.number(DAY_SPAN - 1)),
            )
        ],
        default=days.copy(),
    )
    return exp.Add(
        this=ord_, expression=exp.Mul(this=exp.paren(shift), expression=exp.Literal.number(DAY_WIDTH))
    )


# --- the bounds that decide ------------------------------------------------------------------------


@attrs.frozen
class TableBounds:
    """What one aggregate scan of the invoice table tells before ``base`` is built."""

    first_date: dt.date | None
    last_date: dt.date | None
    first_second: int | None
    last_second: int | None
    input_seqs: tuple[int, int] | None
    ledger_seqs: tuple[int, int] | None

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> TableBounds:
        """From the row :func:`bounds_query` returns."""
        first_date, last_date, first_second, last_second, in_lo, in_hi, led_lo, led_hi = row
        return cls(
            first_date=first_date,
            last_date=last_date,
            first_second=first_second,
            last_second=last_second,
            input_seqs=None if in_lo is None else (int(in_lo), int(in_hi)),
            ledger_seqs=None if led_lo is None else (int(led_lo), int(led_hi)),
        )

    @property
    def history(self) -> bool:
        """Whether the table holds ledger rows."""
        return self.ledger_seqs is not None

    def order_key(self) -> OrderKey:
        """The packed key when every row fits its ranges, else the numbered fallback."""
        dates_fit = self.first_date is None or (
            self.first_date >= EPOCH
            and self.last_date is not None
            and (self.last_date - EPOCH).days < DAY_SPAN
        )
        seconds_fit = self.first_second is None or (
            self.first_second >= 0 and self.last_second is not None and self.last_second < UNTIMED
        )
        seqs_fit = all(
            seqs is None or seqs[1] - seqs[0] < SEQ_SPAN for seqs in (self.input_seqs, self.ledger_seqs)
        )
        if not (dates_fit and seconds_fit and seqs_fit):
            return OrderKey(packed=False)
        return OrderKey(
            packed=True,
            input_seq=self.input_seqs[0] if self.input_seqs is not None else 0,
            ledger_seq=self.ledger_seqs[0] if self.ledger_seqs is not None else 0,
        )


def bounds_query() -> exp.Select:
    """Smallest and largest date, ``time_s``, and ``seq`` of each origin, of the invoice table."""

    def seq_of(input_rows: bool) -> exp.Expression:
        test = from_input(None) if input_rows else exp.not_(from_input(None))
        return exp.Case(ifs=[exp.If(this=test, true=_col("seq", None))])

    return exp.select(
        exp.Min(this=_col("date", None)),
        exp.Max(this=_col("date", None)),
        exp.Min(this=_col("time_s", None)),
        exp.Max(this=_col("time_s", None)),
        exp.Min(this=seq_of(True)),
        exp.Max(this=seq_of(True)),
        exp.Min(this=seq_of(False)),
        exp.Max(this=seq_of(False)),
    ).from_(exp.to_table(TABLE))
