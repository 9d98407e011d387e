"""Text of a rule file to its syntax tree (``dsl.ast``), with errors located and in plain French.

This module drives Lark and words its errors; :mod:`.transformer` turns Lark's tree into ``dsl.ast``.

The Lark parser is built lazily, once per process: ``import billing_rules`` never pays for it, and
``cache=True`` is deliberately not used (it unpickles a file from the shared temp directory).
"""

from __future__ import annotations

import functools
import re
from typing import Any

import attrs

from billing_rules.dsl import ast
from billing_rules.dsl.grammar import GRAMMAR_NAME as GRAMMAR_NAME
from billing_rules.dsl.grammar import build_parser, grammar_text, load_parser
from billing_rules.dsl.transformer import MAX_NUMBER_DIGITS as MAX_NUMBER_DIGITS
from billing_rules.dsl.transformer import _excerpt, make_transformer_class
from billing_rules.errors import RuleSyntaxError

# Bounds that keep a hostile or broken file from exhausting time, memory or the Python stack: the
# whole built-in catalogue is under 30 000 characters (its largest file under 8 000) and nests less
# than 15 levels deep. Parsing costs grow with the number of words (20 to 60 µs each), so the size
# bound is also the bound on parse time: a few seconds for the worst 100 000 characters.
MAX_RULE_FILE_CHARS = 100_000
MAX_NESTING = 64


@functools.cache
def _parser():  # type: ignore[no-untyped-def]
    # The tables shipped with the package when they match this grammar and Lark, else built here.
    grammar = grammar_text()
    return load_parser(grammar, {"propagate_positions": True}) or build_parser(grammar)


@functools.cache
def _transformer():  # type: ignore[no-untyped-def]
    # Lark cannot pass positions (``meta``) to a transformer applied during the parse, and every
    # node needs its span for located compile errors: the tree is transformed right after.
    return make_transformer_class()()


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
        if "NAME" in exc.expected and _is_reserved(str(token)):
            message, line, column = _reserved_word(exc, token)
        elif "END" in exc.expected and (token.type == "$END" or str(token) in _DECLARATION_WORDS):
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


def _is_reserved(word: str) -> bool:
    """Whether ``word`` is one of the language's own words, which the grammar keeps from ``NAME``."""
    return re.fullmatch(r"[a-z_][a-z0-9_]*", word) is not None and re.fullmatch(_name_regexp(), word) is None


@functools.cache
def _name_regexp() -> str:
    # Read from the grammar rather than repeated here: the list of reserved words lives there.
    name = next(terminal for terminal in _parser().terminals if terminal.name == "NAME")
    return str(name.pattern.to_regexp())


def _reserved_word(exc: Any, token: Any) -> tuple[str, int | None, int | None]:
    """A keyword met where a name is expected: the message, its line and its column.

    Most often what comes before is incomplete (``when age >=`` and then ``end`` on the next line):
    the error is then placed right after the last word read, on the line to complete, and names
    the keyword's own line. A keyword on the same line (``define on = ...``) is pointed at itself.
    """
    expected = _describe_expected(set(exc.expected))
    reserved = "est un mot réservé du langage, il ne peut pas servir de nom"
    history = getattr(exc, "token_history", None) or []
    previous = history[-1] if history else None
    end_line = getattr(previous, "end_line", None)
    if previous is None or end_line is None or end_line >= token.line:
        return f"« {token} » {reserved} ; attendu : {expected}", token.line, token.column
    return (
        f"il manque la suite après « {_excerpt(str(previous))} » : « {token} » (ligne {token.line}) "
        f"{reserved} ; attendu : {expected}",
        end_line,
        previous.end_column,
    )


def _show_char(char: str) -> str:
    """An unexpected character: itself when it can be seen, else its Unicode code point."""
    if char.isprintable() and not char.isspace():
        return f"« {char} »"
    return f"U+{ord(char):04X}"


def _end_position(text: str) -> tuple[int, int]:
    lines = text.rstrip("\n").splitlines() or [""]
    return len(lines), len(lines[-1]) + 1
