"""The front end's check of a rule tree: every name, kind, word, window and text, before any back end.

A rule set is checked once, where it is assembled (``api/ruleset.py``); both back ends then build
from a tree they can trust (the row engine's closures, the relational engine's SQL) and raise no
error of the rule's author of their own. The walk follows the order in which a reader meets the
clauses, so the first mistake of a rule is the one reported, at its file, line and column, in
French. ``define``s are checked where they are used, expanded (a recursive one is refused there).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billing_rules.domain.tariffs import is_ccam_code
from billing_rules.dsl import ast
from billing_rules.dsl.alternatives import order_error
from billing_rules.dsl.semantics import (
    ACTION_PLACEHOLDERS,
    CALENDAR_PERIODS,
    CLAUSE_WORDS,
    DAYS_PER_UNIT,
    DURATION_UNITS,
    KIND_WORDS,
    MAX_COMPILED_DEPTH,
    MAX_DAYS,
    MESSAGE_PLACEHOLDERS,
    ROLLING_UNITS,
    Kinded,
    always_empty,
    arithmetic_kind,
    comparable,
    describe,
    fits,
    hint,
    text_problem,
)
from billing_rules.dsl.vocabulary import FIELDS, Function, Kind
from billing_rules.errors import RuleCompileError
from billing_rules.model import Severity


class Checker:
    """Checks the families, defines and rules of one rule set against its codes and functions."""

    def __init__(
        self,
        *,
        known_codes: frozenset[str],
        families: dict[str, frozenset[str]],
        functions: dict[str, Function],
    ) -> None:
        self.known_codes = known_codes
        self.families = families
        self.functions = functions
        self.defines: dict[str, ast.Cond] = {}
        self._expanding: list[str] = []
        self._path = "<rules>"
        self._text = ""
        self._depth = 0

    # --- entry points --------------------------------------------------------------------------

    def use_file(self, rule_file: ast.RuleFile) -> None:
        """Locate the errors that follow in ``rule_file``."""
        self._path = rule_file.path
        self._text = rule_file.text

    def error(self, message: str, span: ast.Span | None) -> RuleCompileError:
        """An error at ``span`` of the current file, with its line and a caret."""
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

    def check_define(self, decl: ast.DefineDecl) -> None:
        """A ``define``'s body, checked where it is declared, used or not.

        The same check a rule's condition gets (codes, families, fields, functions, kinds): a typo
        in a ``define`` no rule uses yet is an error now, not on the day a rule uses it. Call once
        every family and define of the rule set is known (a define may name a later one).
        """
        self._expanding.append(decl.name)  # a define that names itself is recursive
        try:
            self.cond(decl.cond)
        finally:
            self._expanding.pop()

    def check_rule(self, decl: ast.RuleDecl) -> None:
        """One ``rule ... end`` block; raises :class:`RuleCompileError` at its first mistake."""
        try:
            severity = Severity(decl.severity)
        except ValueError:  # pragma: no cover - the grammar only admits the three words
            raise self.error(f"gravité inconnue « {decl.severity} »", decl.span) from None
        seen: set[str] = set()
        parts: dict[str, Any] = {}
        # ``action`` and ``suggest`` may repeat: alternatives, each but the last under ``if``.
        alternatives: dict[str, list[tuple[Any, ast.Span]]] = {"action": [], "suggest": []}
        for kind, value, span in decl.clauses:
            if kind == "example":
                continue
            if kind in alternatives:
                alternatives[kind].append((value, span))
                continue
            if kind in seen:
                raise self.error(f"clause « {CLAUSE_WORDS[kind]} » répétée dans la règle {decl.code}", span)
            seen.add(kind)
            parts[kind] = (value, span)

        on = parts.get("on")
        triggers = on[0] if on is not None else None  # ``on any``: no codes
        if triggers is not None:
            self.expand_codes(triggers)
        has_triggers = triggers is not None
        if "when" in parts:
            self._condition(parts["when"][0])
        if "frequency" in parts:
            self._frequency(parts["frequency"][0], has_triggers)
        for suggestion, span in alternatives["suggest"]:
            self._suggestion(suggestion)
            if severity is not Severity.OPPORTUNITY:
                raise self.error("seule une règle « opportunity » peut suggérer un codage", span)
        self._alternatives(decl.code, "suggest", alternatives["suggest"])
        if "amount" in parts and self.expr(parts["amount"][0]).kind not in (
            Kind.MONEY,
            Kind.NUMBER,
            Kind.ANY,
        ):
            raise self.error("le montant doit être une somme en euros", parts["amount"][1])
        if "amount_per" in parts:
            period, span = parts["amount_per"]
            if period.rstrip("s") != "year":
                raise self.error(f"« amount ... per {period} » : seul « per year » est possible", span)
            if severity is not Severity.OPPORTUNITY:
                # SPEC §2: a yearly amount is a forfait missed, summed apart; never euros at risk.
                raise self.error(
                    "« amount ... per year » : seule une règle « opportunity » a un montant annuel "
                    "(un forfait manqué, compté à part des montants de l'acte)",
                    span,
                )
        empty = always_empty(
            window="frequency" in parts,
            suggests=bool(alternatives["suggest"]),
            amount="amount" in parts,
            severity=severity.value,
            codes=has_triggers,
        )
        self._check_text(
            decl.message, MESSAGE_PLACEHOLDERS, decl.span, ("message", "le message", "un message"), empty
        )
        for action, _span in alternatives["action"]:
            self._action(action, empty)
        self._alternatives(decl.code, "action", alternatives["action"])
        valid_from = parts["from"][0] if "from" in parts else None
        valid_until = parts["until"][0] if "until" in parts else None
        if valid_from and valid_until and valid_until < valid_from:
            raise self.error("la fin de validité précède son début", parts["until"][1])

    # --- clauses -------------------------------------------------------------------------------

    def expand_codes(self, items: Any) -> frozenset[str]:
        """Codes and families to a set of codes, each checked against the loaded rule sets."""
        codes: set[str] = set()
        for item in items:
            if isinstance(item, ast.FamilyRef):
                if item.name not in self.families:
                    raise self.error(
                        f"famille de codes inconnue « {item.name} »{hint(item.name, self.families)}",
                        item.span,
                    )
                codes |= self.families[item.name]
            else:
                self.check_code(item.code, item.span)
                codes.add(item.code)
        return frozenset(codes)

    def check_majoration(self, decl: ast.CodeDecl) -> frozenset[str]:
        """The codes ``decl`` is a majoration of (``majoration of SNP, MRT``), families expanded.

        Each is checked like any code a rule names; a code is no majoration of itself. Call once
        every family of the rule set is known.
        """
        bases = self.expand_codes(decl.majorates)
        if decl.code in bases:
            item = next(
                item
                for item in decl.majorates
                if (
                    item.code == decl.code
                    if isinstance(item, ast.CodeRef)
                    else decl.code in self.families[item.name]
                )
            )
            raise self.error(f"« {decl.code} » ne peut pas être une majoration de lui-même", item.span)
        return bases

    def check_code(self, code: str, span: ast.Span | None) -> None:
        """Unknown codes are errors: a typo in a rule must not silently never match."""
        if code not in self.known_codes and not is_ccam_code(code):
            raise self.error(f"code inconnu « {code} »{hint(code, self.known_codes)}", span)

    def _frequency(self, node: ast.Frequency, has_triggers: bool) -> None:
        if node.limit != node.limit.to_integral_value() or node.limit < (1 if node.kind == "nth" else 0):
            raise self.error(f"nombre invalide « {node.limit} » : un entier positif est attendu", node.span)
        if len(set(node.scope)) != len(node.scope):
            repeated = next(part for part in node.scope if node.scope.count(part) > 1)
            raise self.error(f"portée « {repeated} » répétée", node.span)
        if "code" in node.scope and not has_triggers:
            raise self.error("« per code » demande une clause « on » qui nomme les codes", node.span)
        window = node.window
        if window.kind == "calendar" and window.period not in CALENDAR_PERIODS:
            raise self.error(
                f"période « {window.period} » inconnue ; attendu : day, week, quarter ou year", window.span
            )
        if window.kind == "rolling":
            unit = (window.period or "").rstrip("s")
            if unit not in ROLLING_UNITS or window.amount is None:
                raise self.error(
                    f"durée « {window.period} » inconnue ; attendu : days, weeks, months ou years",
                    window.span,
                )
            if window.amount != window.amount.to_integral_value() or window.amount < 1:
                raise self.error("la durée doit être un entier positif", window.span)
            if window.amount * DAYS_PER_UNIT[unit] > MAX_DAYS:
                raise self.error(
                    "fenêtre trop longue (100 ans au plus) ; pour tout l'historique, écrivez « ever »",
                    window.span,
                )
        if node.counting is not None:
            self._condition(node.counting)

    def _alternatives(self, rule: str, kind: str, items: list[tuple[Any, ast.Span]]) -> None:
        """A rule's ``action`` (or ``suggest``) clauses: each guard checked, then their order."""
        for node, _span in items:
            if node.guard is not None:
                self._condition(node.guard)
        wrong = order_error(rule, kind, [(node.guard, span) for node, span in items])
        if wrong is not None:
            raise self.error(*wrong)

    def _suggestion(self, node: ast.Suggestion) -> None:
        if node.kind == "text":
            return
        if node.kind == "remove":
            self.expand_codes(node.replaced)
            return
        assert node.code is not None
        for code in node.added or (node.code,):
            self.check_code(code, node.span)
            if node.added.count(code) > 1:
                raise self.error(f"code « {code} » répété dans la suggestion", node.span)
        if node.kind == "replace":
            self.expand_codes(node.replaced)

    def _action(self, node: ast.Action, empty: dict[str, str]) -> None:
        self._check_text(
            node.text, ACTION_PLACEHOLDERS, node.span, ("texte de l'action", "l'action", "une action"), empty
        )
        if node.recode is not None:
            self._suggestion(node.recode)
        elif "{recoded}" in node.text:
            raise self.error(
                '« {recoded} » demande un codage corrigé (action without X "..." ou '
                'action Y instead of X "...")',
                node.span,
            )

    def _check_text(
        self,
        text: str,
        placeholders: frozenset[str],
        span: ast.Span,
        words: tuple[str, str, str],
        empty: dict[str, str],
    ) -> None:
        """A message or action text: its variables known, fillable, plain (``text_problem``)."""
        problem = text_problem(text, placeholders, words, empty)
        if problem is not None:
            raise self.error(problem, span)

    # --- conditions ----------------------------------------------------------------------------

    def _condition(self, node: ast.Cond) -> None:
        """A clause's condition: its ``and`` parts one level below the clause (as the back ends split it)."""
        operands = node.operands if isinstance(node, ast.And) else (node,)
        self._enter(node)
        try:
            for operand in operands:
                self.cond(operand)
        finally:
            self._depth -= 1

    def cond(self, node: ast.Cond) -> None:
        """A condition, one level of nesting deeper."""
        self._enter(node)
        try:
            self._cond(node)
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

    def _cond(self, node: ast.Cond) -> None:
        if isinstance(node, (ast.And, ast.Or)):
            for item in node.operands:
                self.cond(item)
        elif isinstance(node, ast.Not):
            self.cond(node.operand)
        elif isinstance(node, ast.Billed):
            self.expand_codes(node.codes)
        elif isinstance(node, ast.Truthy):
            self._truthy(node)
        elif isinstance(node, ast.Given):
            self.expr(node.expr)
        elif isinstance(node, ast.IsValue):
            left = self.expr(node.left)
            right = self._value_for(left, node.right)
            self._check_same_kind(node.left, left, node.right, right)
        elif isinstance(node, ast.InValues):
            left = self.expr(node.left)
            options = [self._value_for(left, option) for option in node.options]
            for option_node, option in zip(node.options, options, strict=True):
                self._check_same_kind(node.left, left, option_node, option)
        elif isinstance(node, ast.Compare):
            left, right = self.expr(node.left), self.expr(node.right)
            if not comparable(node.op, left.kind, right.kind):
                raise self.error(
                    f"comparaison impossible entre {KIND_WORDS[left.kind]} (« {describe(node.left)} ») "
                    f"et {KIND_WORDS[right.kind]} (« {describe(node.right)} »)",
                    node.span,
                )
        else:  # pragma: no cover - every condition node is named above
            raise self.error("condition non reconnue", getattr(node, "span", None))

    def _truthy(self, node: ast.Truthy) -> None:
        expr = node.expr
        if isinstance(expr, ast.Name) and expr.name in self.defines:
            if expr.name in self._expanding:
                raise self.error(f"définition récursive de « {expr.name} »", expr.span)
            self._expanding.append(expr.name)
            try:
                self.cond(self.defines[expr.name])
            finally:
                self._expanding.pop()
            return
        if self.expr(expr).kind not in (Kind.BOOL, Kind.ANY):
            raise self.error(
                f"« {describe(expr)} » n'est pas une condition (oui/non) ; comparez-le à une valeur",
                node.span,
            )

    def _value_for(self, left: Kinded, node: ast.Expr) -> Kinded:
        """The right side of ``is``/``in``: a word of the left field's vocabulary where it has one."""
        if left.kind is Kind.ENUM and left.enum_type is not None:
            word = ast.word_of(node)
            if word is None:
                raise self.error("une valeur est attendue ici", getattr(node, "span", None))
            if any(member.value == word.lower() for member in left.enum_type):
                return Kinded(Kind.ENUM)
            allowed = ", ".join(member.value for member in left.enum_type)
            raise self.error(
                f"valeur « {word} » inconnue ; possibles : {allowed}", getattr(node, "span", None)
            )
        word = ast.word_of(node)
        if (
            left.kind is Kind.TEXT
            and word is not None
            and not (isinstance(node, ast.Name) and node.name in FIELDS)
        ):
            return Kinded(Kind.TEXT)
        if left.kind is Kind.BOOL and word in ("true", "false", "oui", "non", "yes", "no"):
            return Kinded(Kind.BOOL)
        return self.expr(node)

    def _check_same_kind(
        self, left_node: ast.Expr, left: Kinded, right_node: ast.Expr, right: Kinded
    ) -> None:
        """``is`` and ``in`` compare values of one kind: a date is never a yes/no."""
        if not fits(right.kind, left.kind):
            raise self.error(
                f"comparaison impossible entre {KIND_WORDS[left.kind]} (« {describe(left_node)} ») "
                f"et {KIND_WORDS[right.kind]} (« {describe(right_node)} »)",
                getattr(right_node, "span", None),
            )

    # --- expressions ---------------------------------------------------------------------------

    def expr(self, node: ast.Expr) -> Kinded:
        """An expression's kind, one level of nesting deeper."""
        self._enter(node)
        try:
            return self._expr(node)
        finally:
            self._depth -= 1

    def _expr(self, node: ast.Expr) -> Kinded:
        if isinstance(node, ast.NumberLit):
            return Kinded(Kind.NUMBER)
        if isinstance(node, ast.DateLit):
            return Kinded(Kind.DATE)
        if isinstance(node, ast.StringLit):
            return Kinded(Kind.TEXT)
        if isinstance(node, ast.CodeLit):
            return Kinded(Kind.CODE)
        if isinstance(node, ast.DurationLit):
            self._duration(node)
            return Kinded(Kind.DURATION)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.Call):
            return self._call(node.name, node.args, node.span)
        if isinstance(node, ast.BinOp):
            left, right = self.expr(node.left), self.expr(node.right)
            kind = arithmetic_kind(left.kind, right.kind)
            if kind is None:
                raise self.error(
                    f"opération « {node.op} » impossible entre {KIND_WORDS[left.kind]} et "
                    f"{KIND_WORDS[right.kind]}",
                    node.span,
                )
            return Kinded(kind)
        raise self.error("expression non reconnue", getattr(node, "span", None))  # pragma: no cover

    def _duration(self, node: ast.DurationLit) -> None:
        unit = node.unit.rstrip("s")
        if unit in DAYS_PER_UNIT and node.amount * Decimal(str(DAYS_PER_UNIT[unit])) > MAX_DAYS:
            raise self.error("durée trop longue (100 ans au plus)", node.span)
        if unit in ("month", "year"):
            if node.amount != node.amount.to_integral_value():
                raise self.error("un nombre entier de mois ou d'années est attendu", node.span)
        elif unit not in DURATION_UNITS:
            raise self.error(
                f"durée « {node.unit} » inconnue ; attendu : minutes, hours, days, weeks, months ou years",
                node.span,
            )

    def _name(self, node: ast.Name) -> Kinded:
        field = FIELDS.get(node.name)
        if field is not None:
            return Kinded(field.kind, field.enum_type)
        if node.name in self.functions:
            return self._call(node.name, (), node.span)
        if node.name in self.defines:
            self._truthy(ast.Truthy(node, node.span))
            return Kinded(Kind.BOOL)
        if node.name == "patient_id":
            raise self.error("l'identifiant patient ne peut pas être lu par une règle", node.span)
        names = set(FIELDS) | set(self.functions) | set(self.defines)
        raise self.error(f"champ inconnu « {node.name} »{hint(node.name, names)}", node.span)

    def _call(self, name: str, args: tuple[ast.Expr, ...], span: ast.Span) -> Kinded:
        function = self.functions.get(name)
        if function is None:
            raise self.error(f"fonction inconnue « {name} »{hint(name, self.functions)}", span)
        if len(args) != len(function.params):
            raise self.error(
                f"la fonction « {name} » attend {len(function.params)} argument(s), {len(args)} donné(s)",
                span,
            )
        for param, arg in zip(function.params, args, strict=True):
            if param is Kind.CODE:
                if not isinstance(arg, ast.CodeLit):
                    raise self.error(
                        f"la fonction « {name} » attend un code (ex. IMT)", getattr(arg, "span", span)
                    )
                self.check_code(arg.code, arg.span)
            elif param is Kind.TEXT:
                # A word or a quoted text (a column name): a computed value could be anything.
                if not isinstance(arg, (ast.StringLit, ast.Name, ast.CodeLit)):
                    raise self.error(
                        f"la fonction « {name} » attend un nom ou un texte entre guillemets",
                        getattr(arg, "span", span),
                    )
            else:
                kind = self.expr(arg).kind
                if not fits(kind, param):
                    raise self.error(
                        f"la fonction « {name} » attend {KIND_WORDS[param]}, pas {KIND_WORDS[kind]}",
                        getattr(arg, "span", span),
                    )
        return Kinded(function.returns)
