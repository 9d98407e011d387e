"""What each loaded rule becomes in the relational engine: the engine-neutral plan.

A rule of the DSL becomes a :class:`DslPlan`: its dispatch codes, validity dates, its condition as a
sqlglot expression (or, when the condition calls a function that only exists in Python, the
row engine's closure run on just the rows its codes wake), and its window (:class:`CounterPlan`).
The built-in Python rules of the catalogue (CODE-DATE, CODE-UNKNOWN, AMOUNT-BELOW, AMOUNT-ABOVE)
have relational forms (:class:`BuiltinPlan`); any other Python rule runs row by row on the rows
its ``triggers`` wake (:class:`PythonPlan`), and the report says so; one that declares window
counters of its own (``counters``, for ``history.count``) cannot run here.

What cannot be compiled is a :class:`Unsupported` error raised when the plan is made, with the
rule's code: never a silent fallback to the row engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple

import attrs
from sqlglot import exp

from billing_rules.builtin.ngap.python_rules import (
    AmountAboveRule,
    AmountBelowRule,
    CodeDateRule,
    CodeUnknownRule,
)
from billing_rules.dsl import ast
from billing_rules.dsl.program import DslRule, RuleSet
from billing_rules.engines.relational import validity
from billing_rules.engines.relational.compile import CondCompiler, NeedsPython
from billing_rules.errors import EngineLimitation as Unsupported
from billing_rules.model import Sector, Severity

_BUILTIN_KINDS = {
    CodeDateRule: "code_date",
    CodeUnknownRule: "code_unknown",
    AmountBelowRule: "amount_below",
    AmountAboveRule: "amount_above",
}


@attrs.frozen
class CounterPlan:
    """A frequency window: which invoices count, grouped by which keys, over which period."""

    id: int
    triggers: frozenset[str] | None
    counting: exp.Expression | None
    scope: tuple[str, ...]
    window: str  # "calendar", "ever" or "rolling"
    period: str | None
    span: int


class _RulePlan:
    """What every plan answers from its rule: the public code and the severity."""

    rule: Any

    @property
    def code(self) -> str:
        """The rule's public code."""
        return self.rule.code

    @property
    def severity(self) -> Severity:
        """The rule's severity."""
        return self.rule.severity


@attrs.frozen
class DslPlan(_RulePlan):
    """A DSL rule: dispatch, validity, condition (SQL, or Python closure), window."""

    rule: DslRule
    condition: exp.Expression | None
    python_condition: bool
    counter: CounterPlan | None
    kind: str | None  # "at_most" or "nth"
    limit: int


@attrs.frozen
class BuiltinPlan(_RulePlan):
    """A built-in Python rule with a relational form (``kind`` says which)."""

    rule: Any
    kind: str


@attrs.frozen
class PythonPlan(_RulePlan):
    """A third-party Python rule: run row by row on the rows its ``triggers`` wake."""

    rule: Any


Plan = DslPlan | BuiltinPlan | PythonPlan


@attrs.frozen
class RulesPlan:
    """Every rule of a rule set, planned; rules sorted by code as the row engine runs them."""

    rules: tuple[Plan, ...]
    counters: tuple[CounterPlan, ...]
    compiler: CondCompiler

    @property
    def python_rules(self) -> tuple[str, ...]:
        """Codes of the rules (or conditions) evaluated row by row in Python: the report names them."""
        return tuple(
            plan.code
            for plan in self.rules
            if isinstance(plan, PythonPlan) or (isinstance(plan, DslPlan) and plan.python_condition)
        )


def make_plan(ruleset: RuleSet, tariff_sql: Any) -> RulesPlan:
    """Plan every rule of ``ruleset``; raises :class:`Unsupported` naming the first rule it cannot run."""
    defines: dict[str, ast.Cond] = {}
    for rule in ruleset.rules:
        if isinstance(rule, DslRule) and rule.defines:
            defines.update(rule.defines)
    compiler = CondCompiler(
        families=ruleset.families,
        defines=defines,
        functions=ruleset.functions,
        tariff_sql=tariff_sql,
        exists_sql=lambda code: validity.exists(ruleset.codes.get(code)),
    )
    counters: dict[int, CounterPlan] = {}
    plans: list[Plan] = []
    for rule in sorted(ruleset.rules, key=lambda item: item.code):
        if isinstance(rule, DslRule):
            plans.append(_dsl_plan(rule, compiler, counters))
        elif type(rule) in _BUILTIN_KINDS and rule.source == "builtin":
            plans.append(BuiltinPlan(rule, _BUILTIN_KINDS[type(rule)]))
        else:
            if getattr(rule, "counters", None):
                raise Unsupported(
                    f"règle {rule.code} ({rule.source}) : règle Python qui déclare des compteurs "
                    "(counters) ; le moteur relationnel ne fournit pas de comptes de fenêtre (history.count) "
                    "aux règles Python (utilisez --engine row)"
                )
            plans.append(PythonPlan(rule))
    return RulesPlan(rules=tuple(plans), counters=tuple(counters.values()), compiler=compiler)


def _dsl_plan(rule: DslRule, compiler: CondCompiler, counters: dict[int, CounterPlan]) -> DslPlan:
    if rule.tree is None:
        raise Unsupported(f"règle {rule.code} : arbre de la règle absent (compilée sans son texte)")
    clauses = {kind: value for kind, value, _span in rule.tree.clauses if kind != "example"}
    condition = None
    python_condition = False
    if "when" in clauses:
        try:
            condition = compiler.cond(clauses["when"])
        except NeedsPython:
            python_condition = True
    counter = None
    kind = None
    limit = 0
    if rule.frequency is not None:
        spec = rule.frequency.counter
        node: ast.Frequency = clauses["frequency"]
        counting = None
        if node.counting is not None:
            try:
                counting = compiler.cond(node.counting)
            except NeedsPython as exc:
                raise Unsupported(
                    f"règle {rule.code} : la condition « counting » appelle une fonction Python ({exc}) ; "
                    "le moteur relationnel ne sait pas encore compter sur une telle condition "
                    "(utilisez --engine row)"
                ) from None
        counter = counters.get(spec.id)
        if counter is None:
            counter = counters[spec.id] = CounterPlan(
                id=spec.id,
                triggers=spec.triggers,
                counting=counting,
                scope=spec.scope,
                window=spec.window,
                period=spec.period,
                span=spec.span,
            )
        kind = rule.frequency.kind
        limit = rule.frequency.limit
    return DslPlan(rule, condition, python_condition, counter, kind, limit)


#: The sectors an invoice can have: a sector row of any other is never in force.
_SECTORS = frozenset(member.value for member in Sector)
#: The columns of the tariff table (:data:`.pricing.TARIFFS`), as :class:`TariffRange` has them.
TARIFF_COLUMNS = ("code", "sector", "per_km", "start", "stop", "amount")


class TariffRange(NamedTuple):
    """One row of the tariff table: a tariff row as a range of days, ending where the next begins."""

    code: str
    #: The sector a sector row prices in place of the general row ("": a general row).
    sector: str
    #: The code is priced per kilometre: its amount counts ``km`` times, rounded to the cent.
    per_km: bool
    start: dt.date
    stop: dt.date
    amount: Any


def tariff_ranges(ruleset: RuleSet) -> list[TariffRange]:
    """Every tariff row as a range of days, each ending where the next of its series begins.

    A series is a code's general rows, or its rows for one sector. ``TariffTable.on`` takes, in
    the invoice's sector's own series if it has a row in force that day, else in the general one,
    the last row started on the day and honours its explicit end: the same as a range test on
    these rows, the sector's tested first.
    """
    ranges = []
    table = ruleset.tariffs
    for code in sorted(table.codes()):
        series: dict[str, list[Any]] = {}
        for row in table.rows(code):
            series.setdefault(row.sector or "", []).append(row)
        for sector in sorted(series):
            if sector and sector not in _SECTORS:
                continue
            ranges += _series_ranges(code, sector, table.per_km(code), series[sector])
    return ranges


def _series_ranges(code: str, sector: str, per_km: bool, rows: Sequence[Any]) -> list[TariffRange]:
    """The rows of one series (oldest first) as ranges: each stops at its end or the next start."""
    ranges = []
    for index, row in enumerate(rows):
        stop = row.end
        if index + 1 < len(rows):
            before_next = rows[index + 1].start - dt.timedelta(days=1)
            stop = before_next if stop is None else min(stop, before_next)
        if stop is None:
            stop = dt.date.max
        if stop >= row.start:
            ranges.append(TariffRange(code, sector, per_km, row.start, stop, row.amount))
    return ranges


def code_periods(ruleset: RuleSet) -> dict[str, Sequence[tuple[dt.date, dt.date | None]]]:
    """The codes that exist only in some periods (CODE-DATE), with those periods."""
    return {code: info.periods for code, info in ruleset.codes.items() if info.periods}
