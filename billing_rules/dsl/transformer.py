"""Lark's parse tree to the rule file's syntax tree (``dsl.ast``): every node with its span.

The parser (:mod:`.parser`) runs Lark, then this transformer: Lark cannot pass positions to a
transformer applied during the parse. Values are checked here as they are read (dates, amounts of
at most :data:`MAX_NUMBER_DIGITS` digits, tariff units and sectors), so a bad one is a located
French :class:`~billing_rules.errors.RuleSyntaxError`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from billing_rules.dsl import ast
from billing_rules.errors import RuleSyntaxError

MAX_NUMBER_DIGITS = 12
# Longest excerpt of an unexpected token quoted in a message.
_TOKEN_EXCERPT = 40


def _excerpt(token: str) -> str:
    """A token as quoted in a message: control characters shown by their code, long ones cut."""
    shown = "".join(char if char.isprintable() else f"U+{ord(char):04X}" for char in token)
    return shown if len(shown) <= _TOKEN_EXCERPT else shown[: _TOKEN_EXCERPT - 1] + "…"


def _span(meta: object) -> ast.Span:
    return ast.Span(getattr(meta, "line", 0) or 0, getattr(meta, "column", 0) or 0)


def _token_span(token: object) -> ast.Span:
    return ast.Span(getattr(token, "line", 0) or 0, getattr(token, "column", 0) or 0)


def _unquote(token: str) -> str:
    r"""Turn ``"a \"b\""`` into ``a "b"`` without evaluating anything."""
    body = token[1:-1]
    out = []
    chars = iter(body)
    for char in chars:
        if char == "\\":
            nxt = next(chars, "")
            out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
        else:
            out.append(char)
    return "".join(out)


def _date(token: object) -> dt.date:
    try:
        return dt.date.fromisoformat(str(token))
    except ValueError:
        raise RuleSyntaxError(
            f"date invalide « {token} »",
            line=getattr(token, "line", None),
            column=getattr(token, "column", None),
        ) from None


def _number(token: object, value: str | None = None) -> Decimal:
    """A number of the text (``value`` when the token carries more, as ``3rd``), kept small.

    More than ``MAX_NUMBER_DIGITS`` digits is an error, not a huge value that would overflow a
    date or a window later.
    """
    value = str(token) if value is None else value
    digits = sum(char.isdigit() for char in value)
    if digits > MAX_NUMBER_DIGITS:
        raise RuleSyntaxError(
            f"nombre trop grand « {_excerpt(str(token))} » ({MAX_NUMBER_DIGITS} chiffres au plus)",
            line=getattr(token, "line", None),
            column=getattr(token, "column", None),
        )
    try:
        return Decimal(value)
    except InvalidOperation:  # pragma: no cover - the grammar only lets digits through
        raise RuleSyntaxError(f"nombre invalide « {token} »") from None


def _flatten(clauses: tuple[Any, ...]) -> list[Any]:
    """A rule's clauses, the pairs some clauses stand for (``amount X per year``) spread out."""
    flat: list[Any] = []
    for clause in clauses:
        if isinstance(clause, list):
            flat.extend(clause)
        else:
            flat.append(clause)
    return flat


@attrs.frozen
class _TariffUnit:
    """The ``per km`` part of a tariff row, on its way to :class:`ast.TariffDecl`."""

    unit: str


@attrs.frozen
class _TariffSector:
    """The ``for sector 2`` part of a tariff row, on its way to :class:`ast.TariffDecl`."""

    sector: str


@attrs.frozen
class _Guard:
    """The ``if <condition>`` of an ``action`` or ``suggest`` alternative, on its way to its node."""

    cond: Any


def _guard_of(parts: tuple[Any, ...]) -> tuple[tuple[Any, ...], Any]:
    """A clause's parts without its trailing or inner ``if``, and that condition (None: unguarded)."""
    guards = [part for part in parts if isinstance(part, _Guard)]
    rest = tuple(part for part in parts if not isinstance(part, _Guard))
    return rest, guards[0].cond if guards else None


@attrs.frozen
class _Majorates:
    """The ``majoration of SNP, MRT`` part of a code declaration, on its way to :class:`ast.CodeDecl`."""

    codes: tuple[Any, ...]


_SECTOR_VALUES = frozenset({"1", "2", "optam"})


def make_transformer_class():  # type: ignore[no-untyped-def]
    """The transformer class, built on first use so that importing this module never loads Lark."""
    from lark import Transformer, v_args

    @v_args(inline=True, meta=True)
    class ToAst(Transformer):
        """Builds ``dsl.ast`` nodes during the LALR parse; method names are the grammar's aliases."""

        def start(self, meta, *items):
            return list(items)

        # declarations
        def family(self, meta, name, code_list):
            return ast.FamilyDecl(str(name), code_list, _span(meta))

        def code_decl(self, meta, code, *rest):
            label = None
            periods = []
            majorates: tuple[Any, ...] = ()
            for part in rest:
                if isinstance(part, ast.Period):
                    periods.append(part)
                elif isinstance(part, _Majorates):
                    majorates = part.codes
                else:
                    label = _unquote(str(part))
            return ast.CodeDecl(str(code), label, tuple(periods), _span(meta), majorates=majorates)

        def majoration(self, meta, codes):
            return _Majorates(codes)

        def period(self, meta, start, end=None):
            return ast.Period(_date(start), _date(end) if end is not None else None)

        def tariff(self, meta, code, amount, *rest):
            unit = sector = None
            dates = []
            source = None
            for part in rest:
                if isinstance(part, _TariffUnit):
                    unit = part.unit
                elif isinstance(part, _TariffSector):
                    sector = part.sector
                elif part.type == "DATE":
                    dates.append(_date(part))
                else:
                    source = _unquote(str(part))
            end = dates[1] if len(dates) > 1 else None
            return ast.TariffDecl(
                str(code), _number(amount), dates[0], end, source, _span(meta), unit=unit, sector=sector
            )

        def tariff_unit(self, meta, name):
            if str(name) != "km":
                raise RuleSyntaxError(
                    f"unité de tarif inconnue « {_excerpt(str(name))} » (seule « per km » existe)",
                    line=getattr(name, "line", None),
                    column=getattr(name, "column", None),
                )
            return _TariffUnit("km")

        def tariff_sector(self, meta, value):
            sector = str(value).lower()
            if sector not in _SECTOR_VALUES:
                raise RuleSyntaxError(
                    f"secteur inconnu « {_excerpt(str(value))} » (1, 2 ou optam)",
                    line=getattr(value, "line", None),
                    column=getattr(value, "column", None),
                )
            return _TariffSector(sector)

        def define(self, meta, name, cond):
            return ast.DefineDecl(str(name), cond, _span(meta))

        def rule(self, meta, code, severity, message, *clauses):
            return ast.RuleDecl(
                code=str(code),
                severity=str(severity),
                message=_unquote(str(message)),
                span=_span(meta),
                clauses=tuple(_flatten(clauses)),
                offsets=(getattr(meta, "start_pos", None), getattr(meta, "end_pos", None)),
            )

        # clauses: (kind, value, span)
        def source_clause(self, meta, text):
            return ("source", _unquote(str(text)), _span(meta))

        def doc_clause(self, meta, text):
            return ("doc", _unquote(str(text)), _span(meta))

        def from_clause(self, meta, date):
            return ("from", _date(date), _span(meta))

        def until_clause(self, meta, date):
            return ("until", _date(date), _span(meta))

        def on_clause(self, meta, triggers):
            return ("on", triggers, _span(meta))

        def on_any(self, meta):
            return None

        def on_codes(self, meta, *codes):
            return tuple(codes)

        def when_clause(self, meta, cond):
            return ("when", cond, _span(meta))

        def at_most_clause(self, meta, limit, scope, window, counting=None):
            return (
                "frequency",
                ast.Frequency("at_most", _number(limit), scope, window, counting, _span(meta)),
                _span(meta),
            )

        def nth_clause(self, meta, ordinal, scope, window, counting=None):
            rank = _number(ordinal, str(ordinal)[:-2])
            frequency = ast.Frequency("nth", rank, scope, window, counting, _span(meta))
            return ("frequency", frequency, _span(meta))

        def suggest_add(self, meta, *parts):
            codes, guard = _guard_of(parts)
            added = tuple(str(code) for code in codes)
            suggestion = ast.Suggestion("add", added[0], (), None, _span(meta), added=added, guard=guard)
            return ("suggest", suggestion, _span(meta))

        def suggest_replace(self, meta, code, replaced, *guarded):
            _, guard = _guard_of(guarded)
            suggestion = ast.Suggestion("replace", str(code), replaced, None, _span(meta), guard=guard)
            return ("suggest", suggestion, _span(meta))

        def suggest_text(self, meta, text, *guarded):
            _, guard = _guard_of(guarded)
            suggestion = ast.Suggestion("text", None, (), _unquote(str(text)), _span(meta), guard=guard)
            return ("suggest", suggestion, _span(meta))

        def amount_clause(self, meta, expr, period=None):
            # ``amount X per year``: two clauses, so that the amount's own clause keeps its shape.
            if period is None:
                return ("amount", expr, _span(meta))
            return [("amount", expr, _span(meta)), ("amount_per", str(period), _token_span(period))]

        def action_clause(self, meta, *parts):
            parts, guard = _guard_of(parts)
            recode = parts[0] if len(parts) == 2 else None
            action = ast.Action(_unquote(str(parts[-1])), recode, _span(meta), guard=guard)
            return ("action", action, _span(meta))

        def guard(self, meta, cond):
            return _Guard(cond)

        def recode_without(self, meta, codes):
            return ast.Suggestion("remove", None, codes, None, _span(meta))

        def recode_instead(self, meta, code, replaced):
            return ast.Suggestion("replace", str(code), replaced, None, _span(meta))

        def example_clause(self, meta, kind, row, *history):
            example = ast.Example(str(kind) == "fires", row, tuple(history), _span(meta))
            return ("example", example, _span(meta))

        def fields(self, meta, *pairs):
            return tuple(pair for pair in pairs if pair is not None)

        def field_value(self, meta, name, value):
            return (str(name), value)

        def word(self, meta, token):
            return str(token)

        # code lists and windows
        def code_ref(self, meta, token):
            return ast.CodeRef(str(token), _token_span(token))

        def family_ref(self, meta, token):
            return ast.FamilyRef(str(token), _token_span(token))

        def code_list(self, meta, *items):
            return tuple(items)

        def scope(self, meta, *parts):
            return tuple(str(part) for part in parts)

        def calendar_window(self, meta, period):
            return ast.Window("calendar", str(period), None, _span(meta))

        def ever_window(self, meta):
            return ast.Window("ever", None, None, _span(meta))

        def rolling_window(self, meta, amount, period):
            return ast.Window("rolling", str(period), _number(amount), _span(meta))

        def counting(self, meta, cond):
            return cond

        # conditions
        def or_(self, meta, *operands):
            return operands[0] if len(operands) == 1 else ast.Or(tuple(operands), _span(meta))

        def and_(self, meta, *operands):
            return operands[0] if len(operands) == 1 else ast.And(tuple(operands), _span(meta))

        def not_(self, meta, operand):
            return ast.Not(operand, _span(meta))

        def billed(self, meta, codes):
            return ast.Billed(codes, _span(meta))

        def compare(self, meta, left, op, right):
            return ast.Compare(str(op), left, right, _span(meta))

        def is_(self, meta, left, right):
            return ast.IsValue(left, right, False, _span(meta))

        def is_not(self, meta, left, right):
            return ast.IsValue(left, right, True, _span(meta))

        def is_given(self, meta, expr):
            return ast.Given(expr, False, _span(meta))

        def is_missing(self, meta, expr):
            return ast.Given(expr, True, _span(meta))

        def in_(self, meta, left, *options):
            return ast.InValues(left, tuple(options), False, _span(meta))

        def not_in(self, meta, left, *options):
            return ast.InValues(left, tuple(options), True, _span(meta))

        def truthy(self, meta, expr):
            return ast.Truthy(expr, _span(meta))

        # expressions
        def add(self, meta, left, right):
            return ast.BinOp("+", left, right, _span(meta))

        def sub(self, meta, left, right):
            return ast.BinOp("-", left, right, _span(meta))

        def name(self, meta, token):
            return ast.Name(str(token), _token_span(token))

        def call(self, meta, name, *args):
            return ast.Call(str(name), tuple(args), _token_span(name))

        def code_lit(self, meta, token):
            return ast.CodeLit(str(token), _token_span(token))

        def duration(self, meta, amount, period):
            return ast.DurationLit(_number(amount), str(period), _token_span(amount))

        def number(self, meta, token):
            return ast.NumberLit(_number(token), _token_span(token))

        def date(self, meta, token):
            return ast.DateLit(_date(token), _token_span(token))

        def string(self, meta, token):
            return ast.StringLit(_unquote(str(token)), _token_span(token))

    return ToAst
