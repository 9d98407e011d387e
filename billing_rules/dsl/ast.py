"""Syntax tree of a rule file: plain frozen values, each carrying the span it came from.

The parser builds these during the parse; the compiler reads them and never sees lark objects, so
the grammar can change without touching the compiler as long as these nodes stay the same.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Union

import attrs


@attrs.frozen
class Span:
    """Where a node starts (1-based line and column), to locate compile errors."""

    line: int
    column: int


# --- expressions -----------------------------------------------------------------------------


@attrs.frozen
class Name:
    """A field of the event, a ``define``d condition or a function called without arguments."""

    name: str
    span: Span


@attrs.frozen
class Call:
    """A function of the vocabulary (``tariff(IMT)``, ``public_holiday(date)``)."""

    name: str
    args: tuple[Expr, ...]
    span: Span


@attrs.frozen
class CodeLit:
    """An uppercase word: an NGAP code, or a value such as ``PSY`` compared with a field."""

    code: str
    span: Span


@attrs.frozen
class NumberLit:
    """A number, kept exact (money)."""

    value: Decimal
    span: Span


@attrs.frozen
class DateLit:
    """A calendar date written ``YYYY-MM-DD``."""

    value: dt.date
    span: Span


@attrs.frozen
class StringLit:
    """A quoted text."""

    value: str
    span: Span


@attrs.frozen
class DurationLit:
    """``48 hours``, ``12 months``: a number and a period word, checked by ``dsl/check.py``."""

    amount: Decimal
    unit: str
    span: Span


@attrs.frozen
class BinOp:
    """``a + b`` or ``a - b`` (dates plus durations, money)."""

    op: str
    left: Expr
    right: Expr
    span: Span


Expr = Union[Name, Call, CodeLit, NumberLit, DateLit, StringLit, DurationLit, BinOp]


def word_of(node: Expr) -> str | None:
    """The word an expression spells when used as a value (``self``, ``MG``, ``"PSY"``, ``2``).

    Both back ends read the values of enums and texts this way, so they agree on what a word means.
    """
    if isinstance(node, Name):
        return node.name
    if isinstance(node, CodeLit):
        return node.code
    if isinstance(node, StringLit):
        return node.value
    if isinstance(node, NumberLit):
        return str(node.value)
    return None


# --- conditions ------------------------------------------------------------------------------


@attrs.frozen
class CodeRef:
    """An NGAP code named in a code list."""

    code: str
    span: Span


@attrs.frozen
class FamilyRef:
    """A ``family`` of codes named in a code list (``consultation``, ``visit``)."""

    name: str
    span: Span


CodeItem = Union[CodeRef, FamilyRef]


@attrs.frozen
class Billed:
    """True when the invoice bills at least one of the codes."""

    codes: tuple[CodeItem, ...]
    span: Span


@attrs.frozen
class Compare:
    """``left OP right`` with ``OP`` in ``< <= > >= = !=``."""

    op: str
    left: Expr
    right: Expr
    span: Span


@attrs.frozen
class IsValue:
    """``field is value`` / ``field is not value``: equality against a field's vocabulary."""

    left: Expr
    right: Expr
    negated: bool
    span: Span


@attrs.frozen
class InValues:
    """``field in (a, b)`` / ``field not in (a, b)``."""

    left: Expr
    options: tuple[Expr, ...]
    negated: bool
    span: Span


@attrs.frozen
class Given:
    """``field is given`` / ``field is missing`` for optional columns."""

    expr: Expr
    negated: bool
    span: Span


@attrs.frozen
class Truthy:
    """A bare boolean field, define or predicate: ``ald``, ``pdsa_time``."""

    expr: Expr
    span: Span


@attrs.frozen
class Not:
    """Negation."""

    operand: Cond
    span: Span


@attrs.frozen
class And:
    """Conjunction, evaluated left to right and stopping at the first false operand."""

    operands: tuple[Cond, ...]
    span: Span


@attrs.frozen
class Or:
    """Disjunction, evaluated left to right and stopping at the first true operand."""

    operands: tuple[Cond, ...]
    span: Span


Cond = Union[Billed, Compare, IsValue, InValues, Given, Truthy, Not, And, Or]

# --- declarations ----------------------------------------------------------------------------


@attrs.frozen
class Period:
    """A validity period; ``end`` is the last day included, ``None`` for open-ended."""

    start: dt.date
    end: dt.date | None


@attrs.frozen
class FamilyDecl:
    """``family consultation = G, GS, ...``."""

    name: str
    codes: tuple[CodeItem, ...]
    span: Span


@attrs.frozen
class CodeDecl:
    """``code IMT "label" valid from ... until ...``: a known code and when it exists.

    ``majorates``: the codes and families of ``majoration of SNP, MRT``, the codes it is billed on
    top of (empty: none declared).
    """

    code: str
    label: str | None
    periods: tuple[Period, ...]
    span: Span
    majorates: tuple[CodeItem, ...] = ()


@attrs.frozen
class TariffDecl:
    """``tariff G 30.00 from 2024-12-22 source "..."`` (``per km``, ``for sector 2`` optional)."""

    code: str
    amount: Decimal
    start: dt.date
    end: dt.date | None
    source: str | None
    span: Span
    #: ``"km"`` for a rate per kilometre billed (IK); None for a flat amount.
    unit: str | None = None
    #: The sector this row is for (``"1"``, ``"2"``, ``"optam"``); None: every sector.
    sector: str | None = None


@attrs.frozen
class DefineDecl:
    """``define name = condition``: a named condition, expanded where it is used."""

    name: str
    cond: Cond
    span: Span


@attrs.frozen
class Window:
    """``per quarter``, ``ever``, ``within 12 months``."""

    kind: str  # "calendar", "ever" or "rolling"
    period: str | None
    amount: Decimal | None
    span: Span


@attrs.frozen
class Frequency:
    """``at most N per SCOPE WINDOW`` (fires beyond N) or ``the Nth ...`` (fires on exactly the Nth)."""

    kind: str  # "at_most" or "nth"
    limit: Decimal
    scope: tuple[str, ...]
    window: Window
    counting: Cond | None
    span: Span


@attrs.frozen
class Suggestion:
    """What an opportunity proposes: add codes, replace codes by one, or a text.

    ``added``: every code of ``suggest add SNP, SHE`` in order (``code`` is the first); empty for
    the other kinds. ``guard``: the ``if`` of a ``suggest`` clause, the invoices this alternative is
    for (None: the rule's default suggestion; always None on an action's recoding).
    """

    kind: str  # "add", "replace", "text", or "remove" (an action's recoding only)
    code: str | None
    replaced: tuple[CodeItem, ...]
    text: str | None
    span: Span
    added: tuple[str, ...] = ()
    guard: Cond | None = None


@attrs.frozen
class Action:
    """What to do about a finding, in French; ``recode`` names the corrected coding (``{recoded}``).

    ``recode`` is a :class:`Suggestion` of kind ``remove`` (``without SNP``) or ``replace``
    (``VG instead of VL``), or ``None``. ``guard``: the ``if`` of this alternative, the invoices it
    is for (None: the rule's default action, its last).
    """

    text: str
    recode: Suggestion | None
    span: Span
    guard: Cond | None = None


@attrs.frozen
class Example:
    """A one-invoice example beside a rule, with optional earlier invoices (``after``)."""

    fires: bool
    row: tuple[tuple[str, object], ...]
    history: tuple[tuple[tuple[str, object], ...], ...]
    span: Span


@attrs.frozen
class RuleDecl:
    """One ``rule ... end`` block, with its clauses gathered by kind."""

    code: str
    severity: str
    message: str
    span: Span
    clauses: tuple[tuple[str, object, Span], ...] = ()
    offsets: tuple[int | None, int | None] = (None, None)
    text: str = ""


Declaration = Union[FamilyDecl, CodeDecl, TariffDecl, DefineDecl, RuleDecl]


@attrs.frozen
class RuleFile:
    """A parsed file: its declarations in order, and the text for error rendering."""

    path: str
    text: str
    declarations: tuple[Declaration, ...]
