"""Checked syntax tree to executable rules: plain closures, built once per process.

The tree was checked by the front end (:mod:`billing_rules.dsl.check`) where the rule set was
assembled: every name resolves, kinds agree, words belong to their vocabulary. This module only
builds; evaluating a rule is then a few Python calls per event. The closures are made from the
tree's nodes only (``operator`` functions, attribute getters, the vocabulary's functions): no text
of a rule file is ever handed to ``eval`` or ``exec``.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from billing_rules.domain.tariffs import is_ccam_code as is_ccam_code  # importable from here, as before
from billing_rules.dsl import ast
from billing_rules.dsl.alternatives import coding_words, written_condition
from billing_rules.dsl.program import (
    ActionSpec,
    ConditionParts,
    CounterSpec,
    DslRule,
    FrequencySpec,
    SuggestionSpec,
)
from billing_rules.dsl.reads import facts_read, fields_read
from billing_rules.dsl.semantics import (
    ACTION_PLACEHOLDERS as ACTION_PLACEHOLDERS,  # importable from here, as before
)
from billing_rules.dsl.semantics import (
    DURATION_UNITS,
    ROLLING_UNITS,
    SCOPE_ORDER,
    arithmetic_kind,
    describe,
    fingerprint,
    is_date_shift,
)
from billing_rules.dsl.semantics import KIND_WORDS as KIND_WORDS  # importable from here, as before
from billing_rules.dsl.semantics import MAX_COMPILED_DEPTH as MAX_COMPILED_DEPTH
from billing_rules.dsl.semantics import MAX_DAYS as MAX_DAYS
from billing_rules.dsl.semantics import MESSAGE_PLACEHOLDERS as MESSAGE_PLACEHOLDERS
from billing_rules.dsl.vocabulary import FIELDS, Environment, Function, Kind
from billing_rules.engines.findings import RuleValueError
from billing_rules.engines.row.values import (
    UNREADABLE,
    Months,
    as_date,
    as_number,
    shift,
    shift_months,
    tolerant,
    tolerant_membership,
)
from billing_rules.model import Event, Severity

Getter = Callable[[Event], Any]
Predicate = Callable[[Event], bool]

_COMPARATORS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
    "!=": operator.ne,
}


@attrs.frozen
class Typed:
    """A compiled expression: its getter, its kind and, for enum fields, the enum type."""

    get: Getter
    kind: Kind
    enum_type: type | None = None
    constant: Any = None
    is_constant: bool = False


class Compiler:
    """Builds the closures of one rule set's rules, from trees the front end's check accepted."""

    def __init__(
        self,
        *,
        families: Mapping[str, frozenset[str]],
        functions: Mapping[str, Function],
        environment: Environment,
        defines: dict[str, ast.Cond],
    ) -> None:
        self.families = families
        self.functions = functions
        self.environment = environment
        self.defines = defines
        self._counter_ids: dict[tuple[Any, ...], CounterSpec] = {}
        self._path = "<rules>"

    def use_file(self, rule_file: ast.RuleFile) -> None:
        """The file of the rules that follow (named by the errors their values raise at run time)."""
        self._path = rule_file.path

    def compile_rule(self, decl: ast.RuleDecl, *, source: str, origin: str) -> DslRule:
        """One checked ``rule ... end`` block to a :class:`DslRule`."""
        parts: dict[str, Any] = {}
        examples = []
        alternatives: dict[str, list[Any]] = {"action": [], "suggest": []}
        for kind, value, _span in decl.clauses:
            if kind == "example":
                examples.append(value)
            elif kind in alternatives:
                alternatives[kind].append(value)
            else:
                parts[kind] = value
        on = parts.get("on")
        triggers = self._codes(on) if on is not None else None
        condition, condition_parts = self._condition(parts["when"]) if "when" in parts else (None, ())
        frequency = self._frequency(parts["frequency"], triggers) if "frequency" in parts else None
        guards = [node.guard for nodes in alternatives.values() for node in nodes if node.guard is not None]
        return DslRule(
            code=decl.code,
            severity=Severity(decl.severity),
            message=decl.message,
            source=source,
            citation=parts.get("source", ""),
            doc=parts.get("doc", ""),
            origin=f"{origin}:{decl.span.line}",
            text=decl.text,
            triggers=triggers,
            valid_from=parts.get("from"),
            valid_until=parts.get("until"),
            condition=condition,
            frequency=frequency,
            suggestions=tuple(self._suggestion(node) for node in alternatives["suggest"]),
            amount=self.compile_expr(parts["amount"]).get if "amount" in parts else None,
            environment=self.environment,
            examples=tuple(examples),
            condition_parts=condition_parts,
            actions=tuple(self._action(node) for node in alternatives["action"]),
            yearly="amount_per" in parts,
            explains=self._explains(parts, guards),
            tree=decl,
            defines=self.defines,
        )

    def _explains(self, parts: dict[str, Any], guards: list[ast.Cond]) -> tuple[str, ...]:
        """The invoice fields ``explain`` shows for the rule: what its condition, window and amount read.

        And what the ``if`` of its alternatives read (``guards``), which chose its advice. Functions
        count by what they read (``pdsa_time``: the date and time; a plugin's function: its
        ``reads``); the birth date is shown as the age it gives (never the date itself).
        """
        nodes = [parts[kind] for kind in ("when", "amount") if kind in parts] + guards
        frequency = parts.get("frequency")
        if frequency is not None and frequency.counting is not None:
            nodes.append(frequency.counting)
        return facts_read(nodes, self.defines, self.functions)

    # --- clauses -------------------------------------------------------------------------------

    def _codes(self, items: Iterable[ast.CodeItem]) -> frozenset[str]:
        """Codes and families to a set of codes."""
        codes: set[str] = set()
        for item in items:
            if isinstance(item, ast.FamilyRef):
                codes |= self.families[item.name]
            else:
                codes.add(item.code)
        return frozenset(codes)

    def _frequency(self, node: ast.Frequency, triggers: frozenset[str] | None) -> FrequencySpec:
        scope = tuple(part for part in SCOPE_ORDER if part in node.scope)
        window = node.window
        period = None
        span_amount = 0
        if window.kind == "calendar":
            period = window.period
        elif window.kind == "rolling":
            assert window.period is not None and window.amount is not None
            period = ROLLING_UNITS[window.period.rstrip("s")]
            span_amount = int(window.amount)
        counting, counting_parts = self._condition(node.counting) if node.counting is not None else (None, ())
        identity = (triggers, scope, window.kind, period, span_amount, fingerprint(node.counting))
        counter = self._counter_ids.get(identity)
        if counter is None:
            counter = CounterSpec(
                id=len(self._counter_ids),
                triggers=triggers,
                counting=counting,
                scope=scope,
                window=window.kind,
                period=period,
                span=span_amount,
                counting_parts=counting_parts,
            )
            self._counter_ids[identity] = counter
        return FrequencySpec(kind=node.kind, limit=int(node.limit), counter=counter)

    def _suggestion(self, node: ast.Suggestion) -> SuggestionSpec:
        """A ``suggest`` alternative, or an action's recoding (never guarded)."""
        return SuggestionSpec(
            kind=node.kind,
            code=node.code,
            replaced=self._codes(node.replaced),
            text=node.text,
            added=node.added,
            guard=self.compile_cond(node.guard) if node.guard is not None else None,
            condition=written_condition(node.guard) if node.guard is not None else "",
            words=coding_words(node),
        )

    def _action(self, node: ast.Action) -> ActionSpec:
        """An ``action`` alternative: its text, its recoding and its ``if``."""
        return ActionSpec(
            text=node.text,
            recode=self._suggestion(node.recode) if node.recode is not None else None,
            guard=self.compile_cond(node.guard) if node.guard is not None else None,
            condition=written_condition(node.guard) if node.guard is not None else "",
        )

    # --- conditions ----------------------------------------------------------------------------

    def _condition(self, node: ast.Cond) -> tuple[Predicate, ConditionParts]:
        """A clause's condition, and each of its ``and`` parts with the fields it reads.

        The parts let the engine decide once per plan those that read only the plan's fields.
        """
        operands = node.operands if isinstance(node, ast.And) else (node,)
        parts = tuple(
            (self.compile_cond(operand), fields_read(operand, self.defines, self.functions))
            for operand in operands
        )
        return _all_of(tuple(predicate for predicate, _ in parts)), parts

    def compile_cond(self, node: ast.Cond) -> Predicate:
        """A condition to a predicate over events."""
        if isinstance(node, ast.And):
            return _all_of(tuple(self.compile_cond(item) for item in node.operands))
        if isinstance(node, ast.Or):
            return _any_of(tuple(self.compile_cond(item) for item in node.operands))
        if isinstance(node, ast.Not):
            inner = self.compile_cond(node.operand)
            return lambda event: not inner(event)
        if isinstance(node, ast.Billed):
            codes = self._codes(node.codes)
            if len(codes) == 1:
                (code,) = codes
                return lambda event: code in event.code_set
            return lambda event: not codes.isdisjoint(event.code_set)
        if isinstance(node, ast.Truthy):
            return self._truthy(node)
        if isinstance(node, ast.Given):
            get = self.compile_expr(node.expr).get
            if node.negated:
                return lambda event: get(event) is None
            return lambda event: get(event) is not None
        if isinstance(node, ast.IsValue):
            left = self.compile_expr(node.left)
            return self._equality(left, self._value_for(left, node.right), node.negated)
        if isinstance(node, ast.InValues):
            return self._membership(node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        raise TypeError(f"condition non reconnue : {type(node).__name__}")  # pragma: no cover

    def _truthy(self, node: ast.Truthy) -> Predicate:
        expr = node.expr
        if isinstance(expr, ast.Name) and expr.name in self.defines:
            return self.compile_cond(self.defines[expr.name])  # never recursive: the check refused it
        get = self.compile_expr(expr).get
        return lambda event: bool(get(event))

    def _value_for(self, left: Typed, node: ast.Expr) -> Typed:
        """The right side of ``is``/``in``: a word of the left field's vocabulary where it has one."""
        word = ast.word_of(node)
        if left.kind is Kind.ENUM and left.enum_type is not None:
            assert word is not None
            member = next(member for member in left.enum_type if member.value == word.lower())
            return _constant(member, Kind.ENUM)
        if (
            left.kind is Kind.TEXT
            and word is not None
            and not (isinstance(node, ast.Name) and node.name in FIELDS)
        ):
            return _constant(word.upper() if isinstance(node, ast.CodeLit) else word, Kind.TEXT)
        if left.kind is Kind.BOOL and word in ("true", "false", "oui", "non", "yes", "no"):
            return _constant(word in ("true", "oui", "yes"), Kind.BOOL)
        return self.compile_expr(node)

    def _membership(self, node: ast.InValues) -> Predicate:
        left = self.compile_expr(node.left)
        options = [self._value_for(left, option) for option in node.options]
        if all(option.is_constant for option in options):
            values = frozenset(option.constant for option in options)
            get = left.get
            if left.kind is Kind.ANY:  # an extra column may hold a list (JSON): not hashable
                return tolerant_membership(get, values, node.negated)
            if node.negated:
                return lambda event: (value := get(event)) is not None and value not in values
            return lambda event: get(event) in values
        tests = [self._equality(left, option, False) for option in options]
        if node.negated:
            return lambda event: not any(test(event) for test in tests)
        return lambda event: any(test(event) for test in tests)

    def _equality(self, left: Typed, right: Typed, negated: bool) -> Predicate:
        get = left.get
        if right.is_constant:
            value = right.constant
            if negated:
                return lambda event: (current := get(event)) is not None and current != value
            return lambda event: get(event) == value
        other = right.get
        if negated:
            return lambda event: (a := get(event)) is not None and (b := other(event)) is not None and a != b
        return lambda event: (a := get(event)) is not None and a == other(event)

    def _compare(self, node: ast.Compare) -> Predicate:
        left = self.compile_expr(node.left)
        right = self.compile_expr(node.right)
        op = _COMPARATORS[node.op]
        if Kind.ANY in (left.kind, right.kind):
            return self._compare_any(node, left, right, op)
        get_left, get_right = left.get, right.get
        if right.is_constant:
            value = right.constant
            return lambda event: (a := get_left(event)) is not None and op(a, value)
        return lambda event: (
            (a := get_left(event)) is not None and (b := get_right(event)) is not None and op(a, b)
        )

    def _compare_any(
        self, node: ast.Compare, left: Typed, right: Typed, op: Callable[[Any, Any], Any]
    ) -> Predicate:
        """A comparison with a value of unknown type (an extra column, text in a CSV file).

        Text that reads as a number (``12``, ``12,5`` in French, ``12.5``) is compared as one
        against a number, and as a date (``2024-03-01``, ``01/03/2024``) against a date; two
        unknown values are read as numbers. For ``<``, ``>``..., a value that does not read is a
        :class:`RuleValueError` located at the comparison (the invoice gets an INTERNAL-ERROR
        finding saying so), never a silently false condition; for ``=``/``!=``, it is just unequal.
        Empty cells are missing values: the condition is false, as for any missing value.
        """
        other = right.kind if left.kind is Kind.ANY else left.kind
        reader, what = (as_date, "une date") if other is Kind.DATE else (as_number, "un nombre")
        if other not in (Kind.ANY, Kind.NUMBER, Kind.MONEY, Kind.DATE):
            reader = None  # text against text: compared as they are
        ordered = node.op not in ("=", "!=")
        span = node.span
        where = f"{self._path}:{span.line}:{span.column}" if span else self._path

        def read(value: Any, side: ast.Expr, kind: Kind) -> Any:
            if kind is not Kind.ANY or reader is None:
                return value
            converted = reader(value)
            if converted is UNREADABLE:
                if not ordered:
                    return UNREADABLE
                raise RuleValueError(
                    f"{where}: « {describe(side)} » ne se lit pas comme {what} : comparaison "
                    f"« {node.op} » impossible (valeur non reproduite)"
                )
            return converted

        get_left, get_right = left.get, right.get
        left_kind, right_kind, left_node, right_node = left.kind, right.kind, node.left, node.right
        tolerant_op = tolerant(op, False)

        def test(event: Event) -> bool:
            a = get_left(event)
            if a is None or a == "":
                return False
            b = get_right(event)
            if b is None or b == "":
                return False
            a, b = read(a, left_node, left_kind), read(b, right_node, right_kind)
            if a is UNREADABLE or b is UNREADABLE:
                return node.op == "!="
            return bool(tolerant_op(a, b))

        return test

    # --- expressions ---------------------------------------------------------------------------

    def compile_expr(self, node: ast.Expr) -> Typed:
        """An expression to a typed getter."""
        if isinstance(node, ast.NumberLit):
            value = int(node.value) if node.value == node.value.to_integral_value() else node.value
            return _constant(value, Kind.NUMBER)
        if isinstance(node, ast.DateLit):
            return _constant(node.value, Kind.DATE)
        if isinstance(node, ast.StringLit):
            return _constant(node.value, Kind.TEXT)
        if isinstance(node, ast.CodeLit):
            return _constant(node.code, Kind.CODE)
        if isinstance(node, ast.DurationLit):
            return _constant(_duration(node), Kind.DURATION)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.Call):
            return self._call(node.name, node.args)
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        raise TypeError(f"expression non reconnue : {type(node).__name__}")  # pragma: no cover

    def _name(self, node: ast.Name) -> Typed:
        field = FIELDS.get(node.name)
        if field is not None:
            return Typed(operator.attrgetter(field.name), field.kind, field.enum_type)
        if node.name in self.functions:
            return self._call(node.name, ())
        return Typed(self._truthy(ast.Truthy(node, node.span)), Kind.BOOL)  # a define (the check knows)

    def _call(self, name: str, args: tuple[ast.Expr, ...]) -> Typed:
        function = self.functions[name]
        compiled: list[Typed] = []
        for param, arg in zip(function.params, args, strict=True):
            if param is Kind.CODE:
                assert isinstance(arg, ast.CodeLit)
                compiled.append(_constant(arg.code, Kind.CODE))
            elif param is Kind.TEXT:
                compiled.append(_constant(ast.word_of(arg) or "", Kind.TEXT))
            else:
                compiled.append(self.compile_expr(arg))
        impl = function.impl
        env = self.environment
        if all(arg.is_constant for arg in compiled):
            constants = tuple(arg.constant for arg in compiled)
            return Typed(lambda event: impl(env, event, *constants), function.returns)
        getters = tuple(arg.get for arg in compiled)
        return Typed(lambda event: impl(env, event, *(get(event) for get in getters)), function.returns)

    def _binop(self, node: ast.BinOp) -> Typed:
        left = self.compile_expr(node.left)
        right = self.compile_expr(node.right)
        if is_date_shift(left.kind, right.kind):
            delta = right.constant
            sign = 1 if node.op == "+" else -1
            get = left.get
            if isinstance(delta, Months):
                months = sign * delta.months
                return Typed(lambda event: shift_months(get(event), months), left.kind)
            step = delta * sign
            return Typed(lambda event: shift(get(event), step), left.kind)
        kind = arithmetic_kind(left.kind, right.kind)
        assert kind is not None  # the check refused any other pair
        op = operator.add if node.op == "+" else operator.sub
        if Kind.ANY in (left.kind, right.kind):
            op = tolerant(op, None)
        get_left, get_right = left.get, right.get
        return Typed(
            lambda event: (
                None if (a := get_left(event)) is None or (b := get_right(event)) is None else op(a, b)
            ),
            kind,
        )


def _duration(node: ast.DurationLit) -> Any:
    """A checked duration: calendar months, or a fixed length."""
    unit = node.unit.rstrip("s")
    if unit in ("month", "year"):
        return Months(int(node.amount) * (12 if unit == "year" else 1))
    return dt.timedelta(**{DURATION_UNITS[unit]: float(node.amount)})


def _all_of(parts: tuple[Predicate, ...]) -> Predicate:
    """``a and b and ...`` as nested two-way closures, without a generator per event.

    A balanced tree: the depth of closures grows as log2 of the operands; short-circuits like ``and``.
    """
    if len(parts) == 1:
        return parts[0]
    middle = len(parts) // 2
    left, right = _all_of(parts[:middle]), _all_of(parts[middle:])
    return lambda event: left(event) and right(event)


def _any_of(parts: tuple[Predicate, ...]) -> Predicate:
    """``a or b or ...``, built like :func:`_all_of`."""
    if len(parts) == 1:
        return parts[0]
    middle = len(parts) // 2
    left, right = _any_of(parts[:middle]), _any_of(parts[middle:])
    return lambda event: left(event) or right(event)


def _constant(value: Any, kind: Kind) -> Typed:
    return Typed(lambda event: value, kind, constant=value, is_constant=True)


# The date helpers' former private names, still importable from here.
_shift, _shift_months = shift, shift_months
