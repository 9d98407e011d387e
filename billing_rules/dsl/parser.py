"""Text of a rule file to its syntax tree (``dsl.ast``), with errors located and in plain French.

The Lark parser is built lazily, once per process: ``import billing_rules`` never pays for it, and
``cache=True`` is deliberately not used (it unpickles a file from the shared temp directory).
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from billing_rules.dsl import ast
from billing_rules.dsl.grammar import GRAMMAR_NAME as GRAMMAR_NAME
from billing_rules.dsl.grammar import build_parser, grammar_text, load_parser
from billing_rules.errors import RuleSyntaxError

# Bounds that keep a hostile or broken file from exhausting time, memory or the Python stack: the
# whole built-in catalogue is under 30 000 characters (its largest file under 8 000) and nests less
# than 15 levels deep. Parsing costs grow with the number of words (20 to 60 µs each), so the size
# bound is also the bound on parse time: a few seconds for the worst 100 000 characters.
MAX_RULE_FILE_CHARS = 100_000
MAX_NESTING = 64
MAX_NUMBER_DIGITS = 12
# Longest excerpt of an unexpected token quoted in a message.
_TOKEN_EXCERPT = 40


@functools.cache
def _parser():  # type: ignore[no-untyped-def]
    # The tables shipped with the package when they match this grammar and Lark, else built here.
    grammar = grammar_text()
    return load_parser(grammar, {"propagate_positions": True}) or build_parser(grammar)


@functools.cache
def _transformer():  # type: ignore[no-untyped-def]
    # Lark cannot pass positions (``meta``) to a transformer applied during the parse, and every
    # node needs its span for located compile errors: the tree is transformed right after.
    return _make_transformer_class()()


def parse(text: str, path: str = "<rules>") -> ast.RuleFile:
    """Parse a rule file; raises :class:`RuleSyntaxError` located at ``path:line:col``."""
    import lark

    if len(text) > MAX_RULE_FILE_CHARS:
        raise RuleSyntaxError(
            f"fichier de règles trop grand ({len(text)} caractères, maximum {MAX_RULE_FILE_CHARS})",
            path=path,
            line=1,
            column=1,
            source_line=_line_of(text, 1),
        )
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark, as Windows editors write: invisible, so not an error
    _check_nesting(text, path)
    try:
        raw = _parser().parse(text)
    except lark.exceptions.UnexpectedInput as exc:
        raise _syntax_error(exc, text, path) from None
    # The transformer and the compiler recurse once per level of the tree: bound it before either
    # runs, so that ``not not not ...`` or ``1 + 1 + ...`` is a located error, not a RecursionError.
    _check_depth(raw, text, path)
    try:
        tree = _transformer().transform(raw)
    except lark.exceptions.VisitError as exc:
        original = exc.orig_exc
        if isinstance(original, RuleSyntaxError):
            raise RuleSyntaxError(
                original.message,
                path=path,
                line=original.line,
                column=original.column,
                source_line=_line_of(text, original.line),
            ) from None
        raise
    declarations = tuple(_with_text(item, text) for item in tree)
    return ast.RuleFile(path=path, text=text, declarations=declarations)


def _with_text(item: ast.Declaration, text: str) -> ast.Declaration:
    """Attach to each rule its exact source text, which ``rules show`` prints."""
    if isinstance(item, ast.RuleDecl) and None not in item.offsets:
        start, end = item.offsets
        return attrs.evolve(item, text=text[start:end])
    return item


def _line_of(text: str, line: int | None) -> str | None:
    if line is None:
        return None
    # Lark counts lines by "\n" only; ``splitlines`` would also split on form feeds and the like.
    lines = text.split("\n")
    return lines[line - 1] if 0 < line <= len(lines) else None


def _check_nesting(text: str, path: str) -> None:
    """Refuse absurd parenthesis nesting before parsing, pointing at the first parenthesis too many.

    Parentheses inside quoted texts and comments do not count: a message may say "(((".
    """
    depth = 0
    line = 1
    column = 0
    in_string = in_comment = escaped = False
    for char in text:
        column += 1
        if char == "\n":
            line += 1
            column = 0
            in_string = in_comment = escaped = False
        elif in_comment:
            continue
        elif in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "#":
            in_comment = True
        elif char == "(":
            depth += 1
            if depth > MAX_NESTING:
                raise RuleSyntaxError(
                    f"parenthèses trop imbriquées (plus de {MAX_NESTING} niveaux)",
                    path=path,
                    line=line,
                    column=column,
                    source_line=_line_of(text, line),
                )
        elif char == ")":
            depth = max(0, depth - 1)


def _check_depth(tree: Any, text: str, path: str) -> None:
    """Bound the depth of the parse tree, walking it without recursion."""
    import lark

    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            line, column = _tree_position(node)
            raise RuleSyntaxError(
                f"condition ou expression trop imbriquée (plus de {MAX_NESTING} niveaux)",
                path=path,
                line=line,
                column=column,
                source_line=_line_of(text, line),
            )
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, lark.Tree))


def _tree_position(node: Any) -> tuple[int, int]:
    meta = node.meta
    if getattr(meta, "empty", True):
        return 1, 1
    return meta.line, meta.column


# Plain words for the terminals a user may be expected to type next.
_TERMINAL_WORDS = {
    "CODE": "un code en majuscules (ex. IMT, VL-QUARTER)",
    "NAME": "un nom en minuscules (champ, fonction ou famille)",
    "STRING": 'un texte entre guillemets ("...")',
    "DATE": "une date AAAA-MM-JJ",
    "NUMBER": "un nombre",
    "ORDINAL": "un rang (ex. 3rd)",
    "PERIOD": "une période (day, week, quarter, year, months...)",
    "SEVERITY": "une gravité (error, warning, opportunity)",
    "SCOPE_PART": "patient, practitioner ou code",
    "COMPARATOR": "une comparaison (<, <=, >, >=, =, !=)",
    "EXAMPLE_KIND": "fires ou passes",
    "$END": "la fin du fichier",
}


def _describe_expected(expected: set[str]) -> str:
    from lark.exceptions import UnexpectedInput  # noqa: F401  (keeps lark lazy)

    terminals = {t.name: t for t in _parser().terminals}
    words = []
    for name in sorted(expected):
        if name in _TERMINAL_WORDS:
            words.append(_TERMINAL_WORDS[name])
            continue
        terminal = terminals.get(name)
        pattern = getattr(terminal, "pattern", None)
        if pattern is not None and pattern.type == "str":
            words.append(f"« {pattern.value} »")
        else:
            words.append(name.lower())
    unique = sorted(set(words))
    if len(unique) > 8:
        unique = unique[:8] + ["..."]
    return ", ".join(unique)


# Words that start a declaration: met inside a rule, the rule before probably lacks its "end".
_DECLARATION_WORDS = frozenset({"rule", "family", "code", "tariff", "define"})


def _syntax_error(exc: object, text: str, path: str) -> RuleSyntaxError:
    import lark

    line = getattr(exc, "line", None)
    column = getattr(exc, "column", None)
    if isinstance(exc, lark.exceptions.UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            found = "fin du fichier inattendue"
            line, column = _end_position(text)
        else:
            found = f"« {_excerpt(str(token))} » inattendu"
        message = f"{found} ; attendu : {_describe_expected(set(exc.expected))}"
        if "END" in exc.expected and (token.type == "$END" or str(token) in _DECLARATION_WORDS):
            message += " (il manque peut-être « end » à la règle)"
    elif isinstance(exc, lark.exceptions.UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "?"
        if char == '"':
            message = "texte entre guillemets non fermé (le guillemet fermant doit être sur la même ligne)"
        else:
            message = f"caractère inattendu {_show_char(char)}"
            allowed = getattr(exc, "allowed", None)
            if allowed:
                message += f" ; attendu : {_describe_expected(set(allowed))}"
    else:
        message = "fin de fichier inattendue (une règle n'est pas terminée par « end » ?)"
        line, column = _end_position(text)
    return RuleSyntaxError(message, path=path, line=line, column=column, source_line=_line_of(text, line))


def _excerpt(token: str) -> str:
    """A token as quoted in a message: control characters shown by their code, long ones cut."""
    shown = "".join(char if char.isprintable() else f"U+{ord(char):04X}" for char in token)
    return shown if len(shown) <= _TOKEN_EXCERPT else shown[: _TOKEN_EXCERPT - 1] + "…"


def _show_char(char: str) -> str:
    """An unexpected character: itself when it can be seen, else its Unicode code point."""
    if char.isprintable() and not char.isspace():
        return f"« {char} »"
    return f"U+{ord(char):04X}"


def _end_position(text: str) -> tuple[int, int]:
    lines = text.rstrip("\n").splitlines() or [""]
    return len(lines), len(lines[-1]) + 1


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


_SECTOR_VALUES = frozenset({"1", "2", "optam"})


def _make_transformer_class():  # type: ignore[no-untyped-def]
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
            for part in rest:
                if isinstance(part, ast.Period):
                    periods.append(part)
                else:
                    label = _unquote(str(part))
            return ast.CodeDecl(str(code), label, tuple(periods), _span(meta))

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

        def suggest_add(self, meta, code):
            return ("suggest", ast.Suggestion("add", str(code), (), None, _span(meta)), _span(meta))

        def suggest_replace(self, meta, code, replaced):
            return ("suggest", ast.Suggestion("replace", str(code), replaced, None, _span(meta)), _span(meta))

        def suggest_text(self, meta, text):
            suggestion = ast.Suggestion("text", None, (), _unquote(str(text)), _span(meta))
            return ("suggest", suggestion, _span(meta))

        def amount_clause(self, meta, expr, period=None):
            # ``amount X per year``: two clauses, so that the amount's own clause keeps its shape.
            if period is None:
                return ("amount", expr, _span(meta))
            return [("amount", expr, _span(meta)), ("amount_per", str(period), _token_span(period))]

        def action_clause(self, meta, *parts):
            recode = parts[0] if len(parts) == 2 else None
            action = ast.Action(_unquote(str(parts[-1])), recode, _span(meta))
            return ("action", action, _span(meta))

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
