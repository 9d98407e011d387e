"""Syntax tree to executable rules: every name resolved and type-checked once, then plain closures.

Compilation happens once per process; evaluating a rule is then a few Python calls per event. The
closures are built from the tree's nodes only (``operator`` functions, attribute getters, the
vocabulary's functions): no text of a rule file is ever handed to ``eval`` or ``exec``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import operator
import string
from calendar import monthrange
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import attrs

from billing_rules.domain.tariffs import is_ccam_code
from billing_rules.dsl import ast
from billing_rules.dsl.program import ConditionParts, CounterSpec, DslRule, FrequencySpec, SuggestionSpec
from billing_rules.dsl.reads import facts_read, fields_read
from billing_rules.dsl.vocabulary import FIELDS, Environment, Function, Kind
from billing_rules.engines.findings import RuleValueError
from billing_rules.errors import RuleCompileError
from billing_rules.model import Event, Severity

Getter = Callable[[Event], Any]
Predicate = Callable[[Event], bool]

MESSAGE_PLACEHOLDERS = frozenset(
    {"date", "age", "code", "codes", "first_date", "last_date", "count", "limit", "suggestion", "amount"}
)
#: An action may also name the corrected coding of its ``without`` / ``instead of`` part.
ACTION_PLACEHOLDERS = MESSAGE_PLACEHOLDERS | {"recoded"}
_COMPARATORS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
    "!=": operator.ne,
}
_CALENDAR_PERIODS = {"day", "week", "quarter", "year"}
_ROLLING_UNITS = {"day": "days", "week": "weeks", "month": "months", "year": "years"}
_DURATION_UNITS = {"minute": "minutes", "hour": "hours", "day": "days", "week": "weeks"}
_SCOPE_ORDER = ("patient", "practitioner", "code")
# Nesting of the compiled closures, ``define``s expanded: each level costs a few Python frames when
# an event is checked, so the bound keeps evaluation far from the interpreter's recursion limit.
MAX_COMPILED_DEPTH = 100
# Longest duration or rolling window, in days (about 100 years): beyond, dates leave the calendar.
MAX_DAYS = 36_600
_DAYS_PER_UNIT = {"minute": 1 / 1440, "hour": 1 / 24, "day": 1, "week": 7, "month": 31, "year": 366}
# Kinds in the words of the rule's reader.
KIND_WORDS = {
    Kind.BOOL: "une condition (oui/non)",
    Kind.NUMBER: "un nombre",
    Kind.MONEY: "un montant en euros",
    Kind.DATE: "une date",
    Kind.TIME: "une heure",
    Kind.DATETIME: "une date et heure",
    Kind.TEXT: "un texte",
    Kind.ENUM: "une valeur de liste",
    Kind.DURATION: "une durée",
    Kind.CODE: "un code",
    Kind.ANY: "une valeur",
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
    """Compiles the rules of one rule set against its codes, families, defines and functions."""

    def __init__(
        self,
        *,
        known_codes: frozenset[str],
        families: dict[str, frozenset[str]],
        functions: dict[str, Function],
        environment: Environment,
    ) -> None:
        self.known_codes = known_codes
        self.families = families
        self.functions = functions
        self.environment = environment
        self.defines: dict[str, ast.Cond] = {}
        self._expanding: list[str] = []
        self._counter_ids: dict[tuple[Any, ...], CounterSpec] = {}
        self._path = "<rules>"
        self._text = ""
        self._depth = 0

    # --- entry points --------------------------------------------------------------------------

    def use_file(self, rule_file: ast.RuleFile) -> None:
        """Locate the errors that follow in ``rule_file``."""
        self._path = rule_file.path
        self._text = rule_file.text

    def error(self, message: str, span: ast.Span | None) -> RuleCompileError:
        """A compile error at ``span`` of the current file, with its line and a caret."""
        line = span.line if span else None
        column = span.column if span else None
        lines = self._text.split("\n")  # as Lark counts lines
        source_line = lines[line - 1] if line and 0 < line <= len(lines) else None
        return RuleCompileError(message, path=self._path, line=line, column=column, source_line=source_line)

    def add_define(self, decl: ast.DefineDecl) -> None:
        """Register a named condition; its body is checked where it is first used."""
        if decl.name in FIELDS or decl.name in self.functions:
            raise self.error(f"« {decl.name} » est déjà un champ ou une fonction", decl.span)
        self.defines[decl.name] = decl.cond

    def compile_rule(self, decl: ast.RuleDecl, *, source: str, origin: str) -> DslRule:
        """One ``rule ... end`` block to a :class:`DslRule`."""
        try:
            severity = Severity(decl.severity)
        except ValueError:  # pragma: no cover - the grammar only admits the three words
            raise self.error(f"gravité inconnue « {decl.severity} »", decl.span) from None
        seen: dict[str, ast.Span] = {}
        parts: dict[str, Any] = {"examples": []}
        for kind, value, span in decl.clauses:
            if kind == "example":
                parts["examples"].append(value)
                continue
            if kind in seen:
                raise self.error(f"clause « {_CLAUSE_WORDS[kind]} » répétée dans la règle {decl.code}", span)
            seen[kind] = span
            parts[kind] = (value, span)

        triggers = self._triggers(parts.get("on"))
        condition, condition_parts = self._condition(parts["when"][0]) if "when" in parts else (None, ())
        frequency = self._frequency(parts["frequency"][0], triggers) if "frequency" in parts else None
        suggestion = self._suggestion(parts["suggest"][0]) if "suggest" in parts else None
        if suggestion is not None and severity is not Severity.OPPORTUNITY:
            raise self.error("seule une règle « opportunity » peut suggérer un codage", parts["suggest"][1])
        amount = None
        if "amount" in parts:
            typed = self.compile_expr(parts["amount"][0])
            if typed.kind not in (Kind.MONEY, Kind.NUMBER, Kind.ANY):
                raise self.error("le montant doit être une somme en euros", parts["amount"][1])
            amount = typed.get
        yearly = False
        if "amount_per" in parts:
            period, span = parts["amount_per"]
            if period.rstrip("s") != "year":
                raise self.error(f"« amount ... per {period} » : seul « per year » est possible", span)
            yearly = True
        self._check_message(decl)
        action_text = ""
        recode = None
        if "action" in parts:
            action_node = parts["action"][0]
            action_text = action_node.text
            self._check_text(
                action_text,
                ACTION_PLACEHOLDERS,
                action_node.span,
                ("texte de l'action", "l'action", "une action"),
            )
            if action_node.recode is not None:
                recode = self._suggestion(action_node.recode)
            elif "{recoded}" in action_text:
                raise self.error(
                    '« {recoded} » demande un codage corrigé (action without X "..." ou '
                    'action Y instead of X "...")',
                    action_node.span,
                )
        valid_from = parts["from"][0] if "from" in parts else None
        valid_until = parts["until"][0] if "until" in parts else None
        if valid_from and valid_until and valid_until < valid_from:
            raise self.error("la fin de validité précède son début", parts["until"][1])
        return DslRule(
            code=decl.code,
            severity=severity,
            message=decl.message,
            source=source,
            citation=parts["source"][0] if "source" in parts else "",
            doc=parts["doc"][0] if "doc" in parts else "",
            origin=f"{origin}:{decl.span.line}",
            text=decl.text,
            triggers=triggers,
            valid_from=valid_from,
            valid_until=valid_until,
            condition=condition,
            frequency=frequency,
            suggestion=suggestion,
            amount=amount,
            environment=self.environment,
            examples=tuple(parts["examples"]),
            condition_parts=condition_parts,
            action=action_text,
            recode=recode,
            yearly=yearly,
            explains=self._explains(parts),
            tree=decl,
            defines=self.defines,
        )

    def _explains(self, parts: dict[str, Any]) -> tuple[str, ...]:
        """The invoice fields ``explain`` shows for the rule: what its condition, window and amount read.

        Functions count by what they read (``pdsa_time``: the date and time); the birth date is
        shown as the age it gives (never the date itself).
        """
        nodes = [parts[kind][0] for kind in ("when", "amount") if kind in parts]
        frequency = parts.get("frequency")
        if frequency is not None and frequency[0].counting is not None:
            nodes.append(frequency[0].counting)
        return facts_read(nodes, self.defines)

    # --- clauses -------------------------------------------------------------------------------

    def expand_codes(self, items: Iterable[ast.CodeItem]) -> frozenset[str]:
        """Codes and families to a set of codes, each checked against the loaded rule sets."""
        codes: set[str] = set()
        for item in items:
            if isinstance(item, ast.FamilyRef):
                if item.name not in self.families:
                    raise self.error(
                        f"famille de codes inconnue « {item.name} »{_hint(item.name, self.families)}",
                        item.span,
                    )
                codes |= self.families[item.name]
            else:
                self.check_code(item.code, item.span)
                codes.add(item.code)
        return frozenset(codes)

    def check_code(self, code: str, span: ast.Span | None) -> None:
        """Unknown codes are compile errors: a typo in a rule must not silently never match."""
        if code not in self.known_codes and not is_ccam_code(code):
            raise self.error(f"code inconnu « {code} »{_hint(code, self.known_codes)}", span)

    def _triggers(self, part: tuple[Any, ast.Span] | None) -> frozenset[str] | None:
        if part is None or part[0] is None:
            return None
        return self.expand_codes(part[0])

    def _frequency(self, node: ast.Frequency, triggers: frozenset[str] | None) -> FrequencySpec:
        if node.limit != node.limit.to_integral_value() or node.limit < (1 if node.kind == "nth" else 0):
            raise self.error(f"nombre invalide « {node.limit} » : un entier positif est attendu", node.span)
        if len(set(node.scope)) != len(node.scope):
            repeated = next(part for part in node.scope if node.scope.count(part) > 1)
            raise self.error(f"portée « {repeated} » répétée", node.span)
        if "code" in node.scope and triggers is None:
            raise self.error("« per code » demande une clause « on » qui nomme les codes", node.span)
        scope = tuple(part for part in _SCOPE_ORDER if part in node.scope)
        window = node.window
        period = None
        span_amount = 0
        if window.kind == "calendar":
            if window.period not in _CALENDAR_PERIODS:
                raise self.error(
                    f"période « {window.period} » inconnue ; attendu : day, week, quarter ou year",
                    window.span,
                )
            period = window.period
        elif window.kind == "rolling":
            unit = (window.period or "").rstrip("s")
            if unit not in _ROLLING_UNITS or window.amount is None:
                raise self.error(
                    f"durée « {window.period} » inconnue ; attendu : days, weeks, months ou years",
                    window.span,
                )
            if window.amount != window.amount.to_integral_value() or window.amount < 1:
                raise self.error("la durée doit être un entier positif", window.span)
            if window.amount * _DAYS_PER_UNIT[unit] > MAX_DAYS:
                raise self.error(
                    "fenêtre trop longue (100 ans au plus) ; pour tout l'historique, écrivez « ever »",
                    window.span,
                )
            period = _ROLLING_UNITS[unit]
            span_amount = int(window.amount)
        counting, counting_parts = self._condition(node.counting) if node.counting is not None else (None, ())
        identity = (triggers, scope, window.kind, period, span_amount, _fingerprint(node.counting))
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
        if node.kind == "text":
            return SuggestionSpec(kind="text", code=None, replaced=frozenset(), text=node.text)
        if node.kind == "remove":
            return SuggestionSpec(
                kind="remove", code=None, replaced=self.expand_codes(node.replaced), text=None
            )
        assert node.code is not None
        self.check_code(node.code, node.span)
        replaced = self.expand_codes(node.replaced) if node.kind == "replace" else frozenset()
        return SuggestionSpec(kind=node.kind, code=node.code, replaced=replaced, text=None)

    def _check_message(self, decl: ast.RuleDecl) -> None:
        """Only ``{name}`` of a known fact in a message, without format spec or conversion.

        A format spec could build a huge text (``{date:>999999999}``) when the message is rendered.
        """
        self._check_text(
            decl.message, MESSAGE_PLACEHOLDERS, decl.span, ("message", "le message", "un message")
        )

    def _check_text(
        self, text: str, placeholders: frozenset[str], span: ast.Span, words: tuple[str, str, str]
    ) -> None:
        """``words``: the text's name bare, with a definite and with an indefinite article."""
        noun, what, one = words
        try:
            parts = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(text)]
        except ValueError:
            raise self.error(
                f"{noun} mal formé : accolade sans correspondance (écrivez {{{{ ou }}}} pour une accolade)",
                span,
            ) from None
        allowed = ", ".join(sorted(placeholders))
        for name, spec, conversion in parts:
            if name is None:
                continue
            if name not in placeholders:
                raise self.error(
                    f"variable « {{{name}}} » inconnue dans {what} ; possibles : {allowed}", span
                )
            if spec or conversion:
                raise self.error(f"variable « {{{name}}} » : ni format ni conversion dans {one}", span)

    # --- conditions ----------------------------------------------------------------------------

    def _condition(self, node: ast.Cond) -> tuple[Predicate, ConditionParts]:
        """A clause's condition, and each of its ``and`` parts with the fields it reads.

        The parts let the engine decide once per plan those that read only the plan's fields.
        """
        operands = node.operands if isinstance(node, ast.And) else (node,)
        self._enter(node)
        try:
            parts = tuple(
                (self.compile_cond(operand), fields_read(operand, self.defines, self.functions))
                for operand in operands
            )
        finally:
            self._depth -= 1
        return _all_of(tuple(predicate for predicate, _ in parts)), parts

    def compile_cond(self, node: ast.Cond) -> Predicate:
        """A condition to a predicate over events."""
        self._enter(node)
        try:
            return self._compile_cond(node)
        finally:
            self._depth -= 1

    def _enter(self, node: Any) -> None:
        self._depth += 1
        if self._depth > MAX_COMPILED_DEPTH:
            self._depth -= 1  # the levels below unwind theirs in their ``finally``
            raise self.error(
                f"condition trop imbriquée (plus de {MAX_COMPILED_DEPTH} niveaux, définitions comprises)",
                getattr(node, "span", None),
            )

    def _compile_cond(self, node: ast.Cond) -> Predicate:
        if isinstance(node, ast.And):
            return _all_of(tuple(self.compile_cond(item) for item in node.operands))
        if isinstance(node, ast.Or):
            return _any_of(tuple(self.compile_cond(item) for item in node.operands))
        if isinstance(node, ast.Not):
            inner = self.compile_cond(node.operand)
            return lambda event: not inner(event)
        if isinstance(node, ast.Billed):
            codes = self.expand_codes(node.codes)
            if len(codes) == 1:
                (code,) = codes
                return lambda event: code in event.code_set
            return lambda event: not codes.isdisjoint(event.code_set)
        if isinstance(node, ast.Truthy):
            return self._truthy(node)
        if isinstance(node, ast.Given):
            typed = self.compile_expr(node.expr)
            get = typed.get
            if node.negated:
                return lambda event: get(event) is None
            return lambda event: get(event) is not None
        if isinstance(node, ast.IsValue):
            left = self.compile_expr(node.left)
            right = self._value_for(left, node.right)
            self._check_same_kind(node.left, left, node.right, right)
            return self._equality(left, right, node.negated)
        if isinstance(node, ast.InValues):
            left = self.compile_expr(node.left)
            options = [self._value_for(left, option) for option in node.options]
            for option_node, option in zip(node.options, options, strict=True):
                self._check_same_kind(node.left, left, option_node, option)
            if all(option.is_constant for option in options):
                values = frozenset(option.constant for option in options)
                get = left.get
                if left.kind is Kind.ANY:  # an extra column may hold a list (JSON): not hashable
                    return _tolerant_membership(get, values, node.negated)
                if node.negated:
                    return lambda event: (value := get(event)) is not None and value not in values
                return lambda event: get(event) in values
            tests = [self._equality(left, option, False) for option in options]
            if node.negated:
                return lambda event: not any(test(event) for test in tests)
            return lambda event: any(test(event) for test in tests)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        raise self.error("condition non reconnue", getattr(node, "span", None))  # pragma: no cover

    def _truthy(self, node: ast.Truthy) -> Predicate:
        expr = node.expr
        if isinstance(expr, ast.Name) and expr.name in self.defines:
            if expr.name in self._expanding:
                raise self.error(f"définition récursive de « {expr.name} »", expr.span)
            self._expanding.append(expr.name)
            try:
                return self.compile_cond(self.defines[expr.name])
            finally:
                self._expanding.pop()
        typed = self.compile_expr(expr)
        if typed.kind not in (Kind.BOOL, Kind.ANY):
            raise self.error(
                f"« {_describe(expr)} » n'est pas une condition (oui/non) ; comparez-le à une valeur",
                node.span,
            )
        get = typed.get
        return lambda event: bool(get(event))

    def _value_for(self, left: Typed, node: ast.Expr) -> Typed:
        """The right side of ``is``/``in``: a word of the left field's vocabulary where it has one."""
        if left.kind is Kind.ENUM and left.enum_type is not None:
            word = ast.word_of(node)
            if word is None:
                raise self.error("une valeur est attendue ici", getattr(node, "span", None))
            for member in left.enum_type:
                if member.value == word.lower():
                    return _constant(member, Kind.ENUM)
            allowed = ", ".join(member.value for member in left.enum_type)
            raise self.error(
                f"valeur « {word} » inconnue ; possibles : {allowed}", getattr(node, "span", None)
            )
        if left.kind is Kind.TEXT:
            word = ast.word_of(node)
            if word is not None and not (isinstance(node, ast.Name) and node.name in FIELDS):
                return _constant(word.upper() if isinstance(node, ast.CodeLit) else word, Kind.TEXT)
        if left.kind is Kind.BOOL:
            word = ast.word_of(node)
            if word in ("true", "false", "oui", "non", "yes", "no"):
                return _constant(word in ("true", "oui", "yes"), Kind.BOOL)
        return self.compile_expr(node)

    def _check_same_kind(self, left_node: ast.Expr, left: Typed, right_node: ast.Expr, right: Typed) -> None:
        """``is`` and ``in`` compare values of one kind: a date is never a yes/no."""
        if not _fits(right.kind, left.kind):
            raise self.error(
                f"comparaison impossible entre {KIND_WORDS[left.kind]} (« {_describe(left_node)} ») "
                f"et {KIND_WORDS[right.kind]} (« {_describe(right_node)} »)",
                getattr(right_node, "span", None),
            )

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
        _check_comparable(self, left, right, node)
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
        reader, what = (_as_date, "une date") if other is Kind.DATE else (_as_number, "un nombre")
        if other not in (Kind.ANY, Kind.NUMBER, Kind.MONEY, Kind.DATE):
            reader = None  # text against text: compared as they are
        ordered = node.op not in ("=", "!=")
        span = node.span
        where = f"{self._path}:{span.line}:{span.column}" if span else self._path

        def read(value: Any, side: ast.Expr, kind: Kind) -> Any:
            if kind is not Kind.ANY or reader is None:
                return value
            converted = reader(value)
            if converted is _UNREADABLE:
                if not ordered:
                    return _UNREADABLE
                raise RuleValueError(
                    f"{where}: « {_describe(side)} » ne se lit pas comme {what} : comparaison "
                    f"« {node.op} » impossible (valeur non reproduite)"
                )
            return converted

        get_left, get_right = left.get, right.get
        left_kind, right_kind, left_node, right_node = left.kind, right.kind, node.left, node.right
        tolerant = _tolerant(op, False)

        def test(event: Event) -> bool:
            a = get_left(event)
            if a is None or a == "":
                return False
            b = get_right(event)
            if b is None or b == "":
                return False
            a, b = read(a, left_node, left_kind), read(b, right_node, right_kind)
            if a is _UNREADABLE or b is _UNREADABLE:
                return node.op == "!="
            return bool(tolerant(a, b))

        return test

    # --- expressions ---------------------------------------------------------------------------

    def compile_expr(self, node: ast.Expr) -> Typed:
        """An expression to a typed getter."""
        self._enter(node)
        try:
            return self._compile_expr(node)
        finally:
            self._depth -= 1

    def _compile_expr(self, node: ast.Expr) -> Typed:
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
            return _constant(self._duration(node), Kind.DURATION)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.Call):
            return self._call(node.name, node.args, node.span)
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        raise self.error("expression non reconnue", getattr(node, "span", None))  # pragma: no cover

    def _duration(self, node: ast.DurationLit) -> Any:
        unit = node.unit.rstrip("s")
        if unit in _DAYS_PER_UNIT and node.amount * Decimal(str(_DAYS_PER_UNIT[unit])) > MAX_DAYS:
            raise self.error("durée trop longue (100 ans au plus)", node.span)
        if unit in ("month", "year"):
            if node.amount != node.amount.to_integral_value():
                raise self.error("un nombre entier de mois ou d'années est attendu", node.span)
            return _Months(int(node.amount) * (12 if unit == "year" else 1))
        if unit not in _DURATION_UNITS:
            raise self.error(
                f"durée « {node.unit} » inconnue ; attendu : minutes, hours, days, weeks, months ou years",
                node.span,
            )
        return dt.timedelta(**{_DURATION_UNITS[unit]: float(node.amount)})

    def _name(self, node: ast.Name) -> Typed:
        field = FIELDS.get(node.name)
        if field is not None:
            return Typed(operator.attrgetter(field.name), field.kind, field.enum_type)
        if node.name in self.functions:
            return self._call(node.name, (), node.span)
        if node.name in self.defines:
            predicate = self._truthy(ast.Truthy(node, node.span))
            return Typed(predicate, Kind.BOOL)
        if node.name == "patient_id":
            raise self.error("l'identifiant patient ne peut pas être lu par une règle", node.span)
        names = set(FIELDS) | set(self.functions) | set(self.defines)
        raise self.error(f"champ inconnu « {node.name} »{_hint(node.name, names)}", node.span)

    def _call(self, name: str, args: tuple[ast.Expr, ...], span: ast.Span) -> Typed:
        function = self.functions.get(name)
        if function is None:
            raise self.error(f"fonction inconnue « {name} »{_hint(name, self.functions)}", span)
        if len(args) > len(function.params) or (len(args) < len(function.params)):
            raise self.error(
                f"la fonction « {name} » attend {len(function.params)} argument(s), {len(args)} donné(s)",
                span,
            )
        compiled: list[Any] = []
        for param, arg in zip(function.params, args, strict=True):
            if param is Kind.CODE:
                if not isinstance(arg, ast.CodeLit):
                    raise self.error(
                        f"la fonction « {name} » attend un code (ex. IMT)", getattr(arg, "span", span)
                    )
                self.check_code(arg.code, arg.span)
                compiled.append(_constant(arg.code, Kind.CODE))
            elif param is Kind.TEXT:
                # A word or a quoted text (a column name): a computed value could be anything.
                if not isinstance(arg, (ast.StringLit, ast.Name, ast.CodeLit)):
                    raise self.error(
                        f"la fonction « {name} » attend un nom ou un texte entre guillemets",
                        getattr(arg, "span", span),
                    )
                compiled.append(_constant(ast.word_of(arg) or "", Kind.TEXT))
            else:
                typed = self.compile_expr(arg)
                if not _fits(typed.kind, param):
                    raise self.error(
                        f"la fonction « {name} » attend {KIND_WORDS[param]}, pas {KIND_WORDS[typed.kind]}",
                        getattr(arg, "span", span),
                    )
                compiled.append(typed)
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
        kinds = (left.kind, right.kind)
        numeric = (Kind.NUMBER, Kind.MONEY, Kind.ANY)
        if left.kind in (Kind.DATE, Kind.DATETIME) and right.kind is Kind.DURATION:
            delta = right.constant
            sign = 1 if node.op == "+" else -1
            get = left.get
            if isinstance(delta, _Months):
                months = sign * delta.months
                return Typed(lambda event: _shift_months(get(event), months), left.kind)
            step = delta * sign
            return Typed(lambda event: _shift(get(event), step), left.kind)
        if left.kind in numeric and right.kind in numeric:
            op = operator.add if node.op == "+" else operator.sub
            if Kind.ANY in kinds:
                op = _tolerant(op, None)
            kind = Kind.MONEY if Kind.MONEY in kinds else Kind.NUMBER
            get_left, get_right = left.get, right.get
            return Typed(
                lambda event: (
                    None if (a := get_left(event)) is None or (b := get_right(event)) is None else op(a, b)
                ),
                kind,
            )
        raise self.error(
            f"opération « {node.op} » impossible entre {KIND_WORDS[left.kind]} et {KIND_WORDS[right.kind]}",
            node.span,
        )


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


@attrs.frozen
class _Months:
    """A duration in calendar months, added the calendar way (31 March + 1 month = 30 April)."""

    months: int


def _fits(kind: Kind, param: Kind) -> bool:
    """Whether a value of ``kind`` may be passed where a function expects ``param``."""
    if kind is param or Kind.ANY in (kind, param):
        return True
    return {kind, param} <= {Kind.NUMBER, Kind.MONEY}


def _tolerant_membership(get: Getter, values: frozenset[Any], negated: bool) -> Predicate:
    def test(event: Event) -> bool:
        value = get(event)
        if value is None:
            return False
        try:
            return (value not in values) if negated else (value in values)
        except TypeError:
            return negated

    return test


_UNREADABLE = object()
_DIGITS = frozenset("0123456789")


def _as_number(value: Any) -> Any:
    """``value`` as a Decimal (text with a decimal comma or point), or :data:`_UNREADABLE`."""
    if isinstance(value, bool):
        return _UNREADABLE
    if isinstance(value, (int, Decimal)):
        return value
    if isinstance(value, float):
        return Decimal(repr(value)) if value == value and abs(value) != float("inf") else _UNREADABLE
    if isinstance(value, str):
        text = value.strip().replace(",", ".")
        body = text[1:] if text[:1] in ("+", "-") else text
        whole, _, decimals = body.partition(".")
        if (whole or decimals) and set(whole + decimals) <= _DIGITS and len(body) <= 40:
            return Decimal(text)
    return _UNREADABLE


def _as_date(value: Any) -> Any:
    """``value`` as a date (``AAAA-MM-JJ`` or ``JJ/MM/AAAA``), or :data:`_UNREADABLE`."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        parts = text.split("/")
        numeric = len(parts) == 3 and all(part and set(part) <= _DIGITS for part in parts)
        try:
            if numeric and len(parts[2]) == 4:
                return dt.date(int(parts[2]), int(parts[1]), int(parts[0]))
            if len(text) == 10:
                return dt.date.fromisoformat(text)
        except ValueError:
            return _UNREADABLE
    return _UNREADABLE


def _tolerant(op: Callable[[Any, Any], Any], fallback: Any) -> Callable[[Any, Any], Any]:
    """``op`` for a value of unknown type (an extra column), giving ``fallback`` on a type mismatch.

    A text where a number was expected makes the condition false (or the value missing) instead of
    a TypeError in the middle of a check.
    """

    def apply(left: Any, right: Any) -> Any:
        try:
            return op(left, right)
        except TypeError:
            return fallback

    return apply


def _shift(value: Any, step: dt.timedelta) -> Any:
    """``value + step``, or nothing when it leaves the calendar (a date near year 1 or 9999)."""
    if value is None:
        return None
    try:
        return value + step
    except OverflowError:
        return None


def _shift_months(value: Any, months: int) -> Any:
    if value is None:
        return None
    total = value.year * 12 + (value.month - 1) + months
    year, month = divmod(total, 12)
    month += 1
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        return None
    day = min(value.day, _days_in_month(year, month))
    return value.replace(year=year, month=month, day=day)


def _days_in_month(year: int, month: int) -> int:
    return monthrange(year, month)[1]


def _constant(value: Any, kind: Kind) -> Typed:
    return Typed(lambda event: value, kind, constant=value, is_constant=True)


def _describe(node: ast.Expr) -> str:
    """An expression as a reader would recognise it in an error message."""
    word = ast.word_of(node)
    if word is not None:
        return word
    if isinstance(node, ast.Call):
        if len(node.args) == 1 and isinstance(node.args[0], ast.StringLit):
            return f'{node.name}("{node.args[0].value}")'  # extra("centre"): which column
        return f"{node.name}(…)"
    if isinstance(node, ast.DateLit):
        return node.value.isoformat()
    if isinstance(node, ast.DurationLit):
        return f"{node.amount} {node.unit}"
    if isinstance(node, ast.BinOp):
        return f"{_describe(node.left)} {node.op} {_describe(node.right)}"
    return "?"  # pragma: no cover - every expression node is named above


def _hint(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=3)
    return f" ; vouliez-vous dire : {', '.join(close)} ?" if close else ""


def _fingerprint(node: Any) -> Any:
    """A hashable identity of a condition's tree, ignoring positions, to share equal counters."""
    if node is None:
        return None
    if isinstance(node, ast.Span):
        return None
    if attrs.has(type(node)):
        return (type(node).__name__,) + tuple(
            _fingerprint(getattr(node, field.name))
            for field in attrs.fields(type(node))
            if field.name != "span"
        )
    if isinstance(node, tuple):
        return tuple(_fingerprint(item) for item in node)
    return node


_ORDERED = {Kind.NUMBER, Kind.MONEY, Kind.DATE, Kind.TIME, Kind.DATETIME, Kind.ANY}
_COMPATIBLE = [{Kind.NUMBER, Kind.MONEY, Kind.ANY}, {Kind.DATE, Kind.ANY}, {Kind.DATETIME, Kind.ANY}]


def _check_comparable(compiler: Compiler, left: Typed, right: Typed, node: ast.Compare) -> None:
    if node.op in ("=", "!=") and (left.kind is right.kind or Kind.ANY in (left.kind, right.kind)):
        return
    if left.kind in _ORDERED and right.kind in _ORDERED:
        if left.kind is Kind.ANY or right.kind is Kind.ANY:
            return
        if any(left.kind in group and right.kind in group for group in _COMPATIBLE):
            return
        if left.kind is Kind.TIME and right.kind is Kind.TIME:
            return
    raise compiler.error(
        f"comparaison impossible entre {KIND_WORDS[left.kind]} (« {_describe(node.left)} ») "
        f"et {KIND_WORDS[right.kind]} (« {_describe(node.right)} »)",
        node.span,
    )


_CLAUSE_WORDS = {
    "action": "action",
    "amount_per": "amount ... per",
    "source": "source",
    "doc": "doc",
    "from": "from",
    "until": "until",
    "on": "on",
    "when": "when",
    "frequency": "at most / the Nth",
    "suggest": "suggest",
    "amount": "amount",
}
