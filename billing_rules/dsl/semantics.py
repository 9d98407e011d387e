"""What the rule language means, apart from any engine: kinds, units, windows and message variables.

The front end's check (:mod:`billing_rules.dsl.check`) refuses a rule with these tables and rules;
the back ends read the same ones when they build, so a value accepted by the check is one every
back end knows how to run (a window period, a duration unit, the kind of ``a + b``).
"""

from __future__ import annotations

import difflib
import string
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from billing_rules.dsl import ast
from billing_rules.dsl.vocabulary import Kind

#: The variables a rule's message may name, filled in when a finding is reported.
MESSAGE_PLACEHOLDERS = frozenset(
    {"date", "age", "code", "codes", "first_date", "last_date", "count", "limit", "suggestion", "amount"}
)
#: An action may also name the corrected coding of its ``without`` / ``instead of`` part.
ACTION_PLACEHOLDERS = MESSAGE_PLACEHOLDERS | {"recoded"}
#: The variables only a frequency window fills (``at most N ...``, ``the Nth ...``).
WINDOW_PLACEHOLDERS = frozenset({"count", "first_date", "last_date", "limit"})
#: The comparison operators of the grammar.
COMPARISONS = ("<", "<=", ">", ">=", "=", "!=")
#: ``at most N per <period>``: calendar periods.
CALENDAR_PERIODS = frozenset({"day", "week", "quarter", "year"})
#: ``in any N <unit>``: rolling window units (singular word -> the window's period name).
ROLLING_UNITS = {"day": "days", "week": "weeks", "month": "months", "year": "years"}
#: Duration units counted as a fixed length (singular word -> ``timedelta`` argument); months and
#: years are calendar months instead (31 March + 1 month = 30 April).
DURATION_UNITS = {"minute": "minutes", "hour": "hours", "day": "days", "week": "weeks"}
#: The order in which a counter's scope parts are kept, whatever order the rule names them in.
SCOPE_ORDER = ("patient", "practitioner", "code")
#: Nesting of a condition, ``define``s expanded: each level costs a few Python frames when an event
#: is checked by closures, so the bound keeps evaluation far from the interpreter's recursion limit.
MAX_COMPILED_DEPTH = 100
#: Longest duration or rolling window, in days (about 100 years): beyond, dates leave the calendar.
MAX_DAYS = 36_600
#: The longest a unit can last, in days, to bound a duration before it is built.
DAYS_PER_UNIT = {"minute": 1 / 1440, "hour": 1 / 24, "day": 1, "week": 7, "month": 31, "year": 366}
#: Kinds in the words of the rule's reader.
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
#: Each clause as the rule's author writes it (to name a repeated one).
CLAUSE_WORDS = {
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

_NUMERIC = (Kind.NUMBER, Kind.MONEY, Kind.ANY)
_ORDERED = {Kind.NUMBER, Kind.MONEY, Kind.DATE, Kind.TIME, Kind.DATETIME, Kind.ANY}
_COMPATIBLE = [{Kind.NUMBER, Kind.MONEY, Kind.ANY}, {Kind.DATE, Kind.ANY}, {Kind.DATETIME, Kind.ANY}]


@attrs.frozen
class Kinded:
    """The kind of a checked expression and, for an enum field, its enum type."""

    kind: Kind
    enum_type: type | None = None


def fits(kind: Kind, param: Kind) -> bool:
    """Whether a value of ``kind`` may be passed (or compared with ``is``) where ``param`` is expected."""
    if kind is param or Kind.ANY in (kind, param):
        return True
    return {kind, param} <= {Kind.NUMBER, Kind.MONEY}


def comparable(op: str, left: Kind, right: Kind) -> bool:
    """Whether ``left <op> right`` compares two values that can be compared."""
    if op in ("=", "!=") and (left is right or Kind.ANY in (left, right)):
        return True
    if left in _ORDERED and right in _ORDERED:
        if left is Kind.ANY or right is Kind.ANY:
            return True
        if any(left in group and right in group for group in _COMPATIBLE):
            return True
        if left is Kind.TIME and right is Kind.TIME:
            return True
    return False


def is_date_shift(left: Kind, right: Kind) -> bool:
    """``date + duration`` (or ``-``): a date moved in the calendar."""
    return left in (Kind.DATE, Kind.DATETIME) and right is Kind.DURATION


def arithmetic_kind(left: Kind, right: Kind) -> Kind | None:
    """The kind of ``left + right`` (or ``-``), or None where the operation means nothing."""
    if is_date_shift(left, right):
        return left
    if left in _NUMERIC and right in _NUMERIC:
        return Kind.MONEY if Kind.MONEY in (left, right) else Kind.NUMBER
    return None


def describe(node: ast.Expr) -> str:
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
        return f"{describe(node.left)} {node.op} {describe(node.right)}"
    return "?"  # pragma: no cover - every expression node is named above


def always_empty(*, window: bool, suggests: bool, amount: bool, severity: str, codes: bool) -> dict[str, str]:
    """The variables a rule's texts may not name, each with why: they could only ever be empty.

    ``{count}`` in a rule without a window, ``{suggestion}`` in one that suggests nothing, ``{amount}``
    in one that never has euros: every finding would read « e G », « facturer  » or « ( ) », a
    mistake of the rule's author that ``rules check`` can tell, rather than the billing staff
    reading the report. Without an ``amount`` clause, a finding's euros are the tariffs at stake:
    an error's codes billed (none under ``on any``), an opportunity's suggested coding; a warning
    has none (``RuleProgram._amount``).
    """
    empty: dict[str, str] = {}
    if not window:
        reason = "la règle n'a pas de fenêtre (« at most N ... » ou « the Nth ... »)"
        empty.update(dict.fromkeys(WINDOW_PLACEHOLDERS, reason))
    if not suggests:
        empty["suggestion"] = "la règle ne suggère aucun codage (« suggest »)"
    if not amount:
        if severity == "warning":
            empty["amount"] = "un avertissement n'a pas de montant sans clause « amount »"
        elif severity == "error" and not codes:
            empty["amount"] = "la règle ne porte sur aucun code (« on any ») et n'a pas de clause « amount »"
        elif severity == "opportunity" and not suggests:
            empty["amount"] = "la règle ne suggère aucun codage et n'a pas de clause « amount »"
    return empty


def text_problem(
    text: str, placeholders: frozenset[str], words: tuple[str, str, str], empty: Mapping[str, str]
) -> str | None:
    """What is wrong with a message or an action's text, in French; None: nothing.

    Only ``{name}`` of a known fact that the rule can fill (not one of ``empty``), without format
    spec or conversion: a format spec could build a huge text (``{date:>999999999}``) when the
    message is rendered. ``words``: the text's name bare, with a definite and with an indefinite
    article.
    """
    noun, what, one = words
    try:
        parts = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(text)]
    except ValueError:
        return f"{noun} mal formé : accolade sans correspondance (écrivez {{{{ ou }}}} pour une accolade)"
    allowed = ", ".join(sorted(placeholders))
    for name, spec, conversion in parts:
        if name is None:
            continue
        if name not in placeholders:
            return f"variable « {{{name}}} » inconnue dans {what} ; possibles : {allowed}"
        if spec or conversion:
            return f"variable « {{{name}}} » : ni format ni conversion dans {one}"
        if name in empty:
            return f"variable « {{{name}}} » toujours vide dans {what} : {empty[name]}"
    return None


def hint(word: str, candidates: Iterable[str]) -> str:
    """`` ; vouliez-vous dire : ...`` with the names closest to a misspelt one, or nothing."""
    close = difflib.get_close_matches(word, list(candidates), n=3)
    return f" ; vouliez-vous dire : {', '.join(close)} ?" if close else ""


def fingerprint(node: Any) -> Any:
    """A hashable identity of a condition's tree, ignoring positions, to share equal counters.

    Two conditions with the same fingerprint select the same invoices, whatever file or line they
    were written at.
    """
    if node is None:
        return None
    if isinstance(node, ast.Span):
        return None
    if attrs.has(type(node)):
        return (type(node).__name__,) + tuple(
            fingerprint(getattr(node, field.name))
            for field in attrs.fields(type(node))
            if field.name != "span"
        )
    if isinstance(node, tuple):
        return tuple(fingerprint(item) for item in node)
    return node
