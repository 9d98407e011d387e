"""The dates in which codes exist, as SQL: CODE-DATE, and which rules may judge an invoice.

Beside the statements of ``sql.py``, these two read the code periods of the rule set
(``domain.tariffs.CodeInfo``), as the row engine does through ``DslRule.judges`` and the
built-in CODE-DATE rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from billing_rules.engines.relational.compile import billed, col, date_literal
from billing_rules.model import Severity


def _exists(periods: Sequence[tuple[dt.date, dt.date | None]]) -> exp.Expression:
    """The act's date lies in one of a code's periods."""
    inside = [
        exp.and_(
            exp.GTE(this=col("date"), expression=date_literal(start)),
            *([exp.LTE(this=col("date"), expression=date_literal(end))] if end is not None else []),
        )
        for start, end in periods
    ]
    return exp.paren(exp.or_(*inside))


def exists(info: Any) -> exp.Expression:
    """The DSL's ``exists(CODE)``: the act's date lies in one of the code's periods (none: always)."""
    periods = getattr(info, "periods", ())
    return _exists(periods) if periods else exp.true()


def code_date_condition(periods: dict[str, Sequence[tuple[dt.date, dt.date | None]]]) -> exp.Expression:
    """CODE-DATE: a code of the invoice is billed outside every period in which it exists."""
    tests = [
        exp.and_(billed(frozenset({code})), exp.not_(_exists(periods[code]))) for code in sorted(periods)
    ]
    return exp.or_(*tests) if tests else exp.false()


def judged(rule: Any) -> exp.Expression:
    """A code that wakes ``rule`` is billed, and exists on the act's date (``DslRule.judges``).

    An opportunity is woken by any of its codes billed, whatever their dates.
    """
    codes = getattr(rule.environment, "codes", None) or {}
    if rule.severity is Severity.OPPORTUNITY:
        return billed(rule.triggers)
    dated = {code: codes[code].periods for code in rule.triggers if code in codes and codes[code].periods}
    tests: list[exp.Expression] = []
    always = frozenset(rule.triggers) - set(dated)
    if always:
        tests.append(billed(always))
    tests += [exp.and_(billed(frozenset({code})), _exists(dated[code])) for code in sorted(dated)]
    return exp.paren(exp.or_(*tests)) if len(tests) > 1 else tests[0]
