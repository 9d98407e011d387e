"""Hits to findings, the same for both engines: amounts, facts, windows, INTERNAL-ERROR.

A rule (compiled from the DSL, or a plugin's Python class) answers with :class:`~billing_rules.rule.Hit`
values; both back ends (``row/`` and ``relational/``) turn them into :class:`~billing_rules.model.Finding`
values here, so that a report cannot differ by the engine that ran it. A rule that crashes or returns
a malformed result costs its invoice one INTERNAL-ERROR finding, never the run. The findings an
``adjust_findings`` hook returns are checked here too (:func:`finding_problem`), field by field.
"""

from __future__ import annotations

import datetime as dt
import logging
import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs

from billing_rules.dsl.program import DslRule
from billing_rules.model import Event, Finding, FindingWindow, Severity
from billing_rules.money import round_cents
from billing_rules.rule import Hit, Rule, WindowCount

# The row engine's logger, as before this module existed: log configurations name it.
log = logging.getLogger("billing_rules.engines.row.engine")

INTERNAL_ERROR = "INTERNAL-ERROR"


class RuleValueError(ValueError):
    """A value of the input cannot be used where a rule needs it (text compared with a number).

    Its message locates the rule's expression (``file:line:col``) and never quotes the value.
    """


def undeclared() -> RuleValueError:
    """The error of ``history.count`` on a counter the engine does not keep (not in ``counters``).

    Raised in the rule's check, it costs the invoice an INTERNAL-ERROR finding naming the rule and
    saying what to declare (a :class:`RuleValueError` shows its message, which quotes no value).
    Here, beside the findings both engines build, so that both answer such a rule alike.
    """
    return RuleValueError(
        "history.count sur un compteur que la règle ne déclare pas : déclarez-le dans son attribut "
        "counters pour que le moteur le tienne"
    )


@attrs.frozen
class _CrashHit(Hit):
    crashed: bool = True


class MalformedResult(TypeError):
    """A plugin's result is not of the documented shape (a :class:`Hit`, a :class:`Finding`...).

    Its message says which field is wrong, by type names only (``Hit.window attendu WindowCount ou
    None, reçu str``): never the value, which may be the patient's identifier.
    """


@attrs.frozen
class _Field:
    """The documented type of one field: an instance of ``types``, and ``refine`` holds unless None."""

    expected: str
    types: tuple[type, ...]
    refine: Callable[[Any], bool] | None = None
    #: A field whose value is itself a record (a window): checked field by field, named by path.
    record: _Record | None = None


class _Record:
    """Every field of an attrs class ``cls`` checked against its documented type.

    Every field must have a :class:`_Field`, or the module fails to import: a field added to
    :class:`Hit` or :class:`Finding` later cannot go unchecked and reach a reporter with a value of
    any type. :meth:`ok` is the fast test run on every hit; :meth:`problem` says what is wrong.
    """

    def __init__(self, cls: type, fields: dict[str, _Field]) -> None:
        names = {field.name for field in attrs.fields(cls)}
        if names != set(fields):
            raise TypeError(f"{cls.__name__} : champs sans vérification {sorted(names ^ set(fields))}")
        self.cls = cls
        self.fields = fields
        self._tests = tuple(
            (name, spec.types, spec.record.ok if spec.record is not None else spec.refine)
            for name, spec in fields.items()
        )

    def ok(self, value: Any) -> bool:
        """Whether ``value`` is a ``cls`` with every field of its type."""
        if not isinstance(value, self.cls):
            return False
        for name, types, refine in self._tests:
            field = getattr(value, name)
            if not isinstance(field, types) or (
                refine is not None and field is not None and not refine(field)
            ):
                return False
        return True

    def problem(self, value: Any) -> str | None:
        """The first wrong field, by path and type names (``.window.count attendu int, reçu str``)."""
        if not isinstance(value, self.cls):
            return f" attendu {self.cls.__name__}, reçu {type(value).__name__}"
        for name, spec in self.fields.items():
            field = getattr(value, name)
            if spec.record is not None and field is not None and isinstance(field, spec.types):
                nested = spec.record.problem(field)
                if nested is not None:
                    return f".{name}{nested}"
            elif not isinstance(field, spec.types) or (
                spec.refine is not None and field is not None and not spec.refine(field)
            ):
                return f".{name} attendu {spec.expected}, reçu {type(field).__name__}"
        return None

    def described(self, value: Any, label: str) -> str | None:
        """``Hit.window attendu WindowCount ou None, reçu str``, ``résultat attendu Hit, reçu int``."""
        if self.ok(value):
            return None
        problem = self.problem(value) or " mal formé"
        return f"{label}{problem}" if problem.startswith(".") else f"résultat{problem}"


def _amount_ok(amount: Any) -> bool:
    if isinstance(amount, bool) or not isinstance(amount, (Decimal, int, float)):
        return False
    return Decimal(amount).is_finite()


def _not_bool(value: Any) -> bool:
    return not isinstance(value, bool)  # an int, not True or False


def _all_text(values: tuple[Any, ...]) -> bool:
    return all(isinstance(value, str) for value in values)


_NONE = type(None)
_TEXT = _Field("str", (str,))
_OPTIONAL_TEXT = _Field("str ou None", (str, _NONE))
_WHOLE = _Field("int", (int,), _not_bool)
_OPTIONAL_WHOLE = _Field("int ou None", (int, _NONE), _not_bool)
_FLAG = _Field("bool", (bool,))
_OPTIONAL_DATE = _Field("date ou None", (dt.date, _NONE))

_WINDOW_COUNT = _Record(
    WindowCount,
    {
        "count": _WHOLE,
        "first_date": _OPTIONAL_DATE,
        "last_date": _OPTIONAL_DATE,
        "code": _OPTIONAL_TEXT,
        "first_invoice_id": _OPTIONAL_TEXT,
        "first_practitioner_id": _OPTIONAL_TEXT,
    },
)

#: A rule's answer: every field of :class:`Hit` of its documented type (docs/plugins.md §7).
_HIT = _Record(
    Hit,
    {
        "message": _TEXT,
        "amount": _Field("Decimal fini ou None", (Decimal, int, float, _NONE), _amount_ok),
        "suggestion": _OPTIONAL_TEXT,
        "suggested_codes": _Field("tuple de str ou None", (tuple, _NONE), _all_text),
        "action": _OPTIONAL_TEXT,
        "window": _Field("WindowCount ou None", (WindowCount, _NONE), record=_WINDOW_COUNT),
        "yearly": _FLAG,
    },
)


def _facts_ok(facts: tuple[Any, ...]) -> bool:
    """``(names, values)``: as many values as names, each name a ``str`` (``Finding.explain``)."""
    return (
        len(facts) == 2
        and all(isinstance(part, tuple) for part in facts)
        and len(facts[0]) == len(facts[1])
        and _all_text(facts[0])
    )


_FINDING_WINDOW = _Record(
    FindingWindow,
    {
        "first_invoice_id": _OPTIONAL_TEXT,
        "first_date": _OPTIONAL_DATE,
        "first_practitioner_id": _OPTIONAL_TEXT,
        "count": _OPTIONAL_WHOLE,
        "limit": _OPTIONAL_WHOLE,
        "period": _OPTIONAL_TEXT,
        "counted": _OPTIONAL_TEXT,
    },
)

#: An ``adjust_findings`` result: every field of :class:`Finding` of the type ``model.py`` gives it.
_FINDING = _Record(
    Finding,
    {
        "rule": _TEXT,
        "severity": _Field("Severity", (Severity,)),
        "message": _TEXT,
        "invoice_id": _TEXT,
        "practitioner_id": _TEXT,
        "patient_id": _TEXT,
        "date": _Field("date", (dt.date,)),
        "line": _OPTIONAL_WHOLE,
        "file": _OPTIONAL_TEXT,
        # Decimal only: the summary adds the amounts to Decimal totals (a float would raise there).
        "amount": _Field("Decimal fini ou None", (Decimal, _NONE), Decimal.is_finite),
        "suggestion": _OPTIONAL_TEXT,
        "source": _TEXT,
        "seq": _WHOLE,
        "citation": _OPTIONAL_TEXT,
        "action": _OPTIONAL_TEXT,
        "window": _Field("FindingWindow ou None", (FindingWindow, _NONE), record=_FINDING_WINDOW),
        "yearly": _FLAG,
        "facts": _Field("tuple (noms, valeurs) ou None", (tuple, _NONE), _facts_ok),
    },
)


def _well_formed(rule: Rule, hits: list[Any]) -> list[Hit]:
    """``hits`` if each is a :class:`Hit` with every field of its type, else one crash hit.

    A third-party rule may return anything; a wrong shape (``Hit(window="...")``, ``action=123``)
    must cost that invoice one INTERNAL-ERROR finding naming the rule, not abort the whole check
    later, when the finding is built or a reporter writes it.
    """
    ok = _HIT.ok
    for hit in hits:
        if not ok(hit):
            return [_crashed(rule, MalformedResult(_HIT.described(hit, "Hit")))]
    return hits


def finding_problem(finding: Any) -> str | None:
    """What is wrong with a plugin's finding (``adjust_findings``), by type names; ``None``: nothing.

    The reports sort, sum and print every field: one of the wrong type (a severity given as text,
    a rule of ``None``) would stop the whole check, with a message quoting the value.
    """
    return _FINDING.described(finding, "Finding")


def reported_amount(code: str, severity: Severity, amount: Decimal | None) -> Decimal | None:
    """The amount a finding reports: SPEC §2, a warning's is null, except AMOUNT-ABOVE's excess."""
    if severity is Severity.WARNING and code != "AMOUNT-ABOVE":
        return None
    return amount


def misses_nothing(hit: Hit, event: Event) -> bool:
    """Whether an opportunity's hit names no better-paid coding: it is then not reported.

    SPEC §2: an opportunity is a better-paid compliant coding, its amount the euros missed. A
    suggested coding that is the billed one (the same codes, in any order), or euros missed that
    are not above 0 (to the cent: ``TCG instead of G`` is 5 € less), would report a loss as a gain
    and lower ``missed_revenue``. An amount left unknown (a code without tariff that day) keeps the
    hit, as a text-only suggestion does: nothing says the coding is not better paid. Both engines
    drop such hits before choosing between two suggestions for the same act (SPEC §5), so that one
    worth nothing never hides a better-paid one; a crash's hit is never dropped.
    """
    if getattr(hit, "crashed", False):
        return False
    suggested = hit.suggested_codes
    if suggested is not None and sorted(suggested) == sorted(event.codes):
        return True
    return hit.amount is not None and round_cents(Decimal(hit.amount)) <= 0


def _crashed(rule: Rule, exc: BaseException) -> Hit:
    # The log names the rule, its plugin and the kind of error, never the exception's text: a
    # plugin may have put the patient's identifier in it.
    log.error("la règle %s (%s) a échoué : %s", rule.code, rule.source, type(exc).__name__)
    return _crash_hit(rule, exc)


def _crash_hit(rule: Rule, exc: BaseException) -> Hit:
    if isinstance(exc, RuleValueError):  # a located message that quotes no value
        return _CrashHit(
            message=f"règle {rule.code} ({rule.source}) : {exc} ; "
            "cette facture n'a pas été entièrement vérifiée"
        )
    if isinstance(exc, MalformedResult) and exc.args:  # the wrong field, by type names only
        return _CrashHit(
            message=f"erreur interne de la règle {rule.code} ({rule.source}) : MalformedResult ; {exc} ; "
            "cette facture n'a pas été entièrement vérifiée"
        )
    return _CrashHit(
        message=f"erreur interne de la règle {rule.code} ({rule.source}) : {type(exc).__name__} ; "
        "cette facture n'a pas été entièrement vérifiée"
    )


@attrs.frozen(eq=False)
class RuleMeta:
    """A rule's part of its findings, worked out once per rule (not once per finding)."""

    citation: str | None
    action: str | None
    #: The fields ``Finding.explain`` shows, and a getter of their values on an event.
    facts: tuple[str, ...]
    getter: Callable[[Event], tuple[Any, ...]] | None
    limit: int | None = None
    period: str | None = None
    counted: str | None = None

    @classmethod
    def of(cls, rule: Rule) -> RuleMeta:
        """The meta of ``rule``, from its optional ``citation``, ``action`` and what it reads."""
        citation = _text_or_none(getattr(rule, "citation", None))
        # A compiled rule's action is a template: its hits carry the rendered text.
        action = None if isinstance(rule, DslRule) else _text_or_none(getattr(rule, "action", None))
        facts = _facts_of(rule)
        limit = period = counted = None
        frequency = getattr(rule, "frequency", None) if isinstance(rule, DslRule) else None
        if frequency is not None:
            counter = frequency.counter
            limit = frequency.limit if frequency.kind == "at_most" else None
            if counter.window == "rolling":
                period = f"{counter.span} {counter.period}"
            elif counter.window == "ever":
                period = "ever"
            else:
                period = counter.period
            if counter.triggers is not None and len(counter.triggers) == 1:
                counted = next(iter(counter.triggers))
        return cls(citation, action, facts, _facts_getter(facts), limit, period, counted)


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _facts_of(rule: Rule) -> tuple[str, ...]:
    """What a rule reads, for ``explain``: a compiled rule knows; others say it with ``reads``."""
    if isinstance(rule, DslRule):
        # The invoice's codes and date always: they locate the act in its texts and windows.
        return ("codes", "date", *(name for name in rule.explains if name not in ("codes", "date")))
    reads = getattr(rule, "reads", None)
    names = ["codes", "date"]
    if reads:
        names += [name for name in ("amount", "sector", "age", "mt_status", "place") if name in reads]
        names += sorted(name for name in reads if name not in (*names, "texts", "birth_date", "patient_id"))
    return tuple(names)


def _facts_getter(names: tuple[str, ...]) -> Callable[[Event], tuple[Any, ...]] | None:
    if not names:
        return None
    columns = tuple(name.split(":", 1)[1] for name in names if name.startswith("extra:"))
    plain = tuple(name for name in names if not name.startswith("extra:"))
    if plain and not columns:
        get = operator.attrgetter(*plain)
        if len(plain) == 1:
            return lambda event: (get(event),)
        return get  # type: ignore[no-any-return]

    def facts(event: Event) -> tuple[Any, ...]:
        values = tuple(getattr(event, name, None) for name in plain)
        return values + tuple(event.extra.get(column) for column in columns)

    return facts


def _finding(rule: Rule, hit: Hit, event: Event, meta: RuleMeta | None = None) -> Finding:
    crashed = getattr(hit, "crashed", False)
    amount = hit.amount
    if amount is not None:
        amount = round_cents(Decimal(amount))  # half up, as every amount of the project
    severity = rule.severity
    amount = reported_amount(rule.code, severity, amount)
    if crashed:
        return Finding.about(
            event,
            rule=INTERNAL_ERROR,
            severity=Severity.ERROR,
            message=hit.message,
            source=rule.source,
            suggestion=hit.suggestion,
        )
    if meta is None:
        meta = RuleMeta.of(rule)
    window = None
    counted = hit.window
    if counted is not None:
        window = FindingWindow(
            first_invoice_id=counted.first_invoice_id,
            first_date=counted.first_date,
            first_practitioner_id=counted.first_practitioner_id,
            count=counted.count,
            limit=meta.limit,
            period=meta.period,
            counted=counted.code or meta.counted,
        )
    values = ()
    if meta.getter is not None:
        try:
            values = meta.getter(event)
        except Exception:  # noqa: BLE001 - an explanation must never cost a finding
            values = ()
    facts_names = meta.facts if len(values) == len(meta.facts) else ()
    return Finding.about(
        event,
        rule=rule.code,
        severity=severity,
        message=hit.message,
        source=rule.source,
        amount=amount,
        suggestion=hit.suggestion,
        citation=meta.citation,
        action=hit.action if hit.action is not None else meta.action,
        window=window,
        yearly=bool(hit.yearly) and amount is not None,
        facts=(facts_names, tuple(values)) if facts_names else None,
    )
