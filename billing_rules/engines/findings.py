"""Hits to findings, the same for both engines: amounts, facts, windows, INTERNAL-ERROR.

A rule (compiled from the DSL, or a plugin's Python class) answers with :class:`~billing_rules.rule.Hit`
values; both back ends (``row/`` and ``relational/``) turn them into :class:`~billing_rules.model.Finding`
values here, so that a report cannot differ by the engine that ran it. A rule that crashes or returns
a malformed result costs its invoice one INTERNAL-ERROR finding, never the run.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs

from billing_rules.dsl.program import DslRule
from billing_rules.model import Event, Finding, FindingWindow, Severity
from billing_rules.money import round_cents
from billing_rules.rule import Hit, Rule

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
    """A rule returned something that is not an iterable of well-formed :class:`Hit`."""


def _well_formed(rule: Rule, hits: list[Any]) -> list[Hit]:
    """``hits`` if each is a :class:`Hit` with values of the right types, else one crash hit.

    A third-party rule may return anything; a wrong shape must cost that invoice one INTERNAL-ERROR
    finding, not abort the whole check when the finding is built.
    """
    for hit in hits:
        if not (
            isinstance(hit, Hit)
            and isinstance(hit.message, str)
            and (hit.suggestion is None or isinstance(hit.suggestion, str))
            and _amount_ok(hit.amount)
            and (
                hit.suggested_codes is None
                or (
                    isinstance(hit.suggested_codes, tuple)
                    and all(isinstance(code, str) for code in hit.suggested_codes)
                )
            )
        ):
            return [_crashed(rule, MalformedResult())]
    return hits


def _amount_ok(amount: Any) -> bool:
    if amount is None:
        return True
    if isinstance(amount, bool) or not isinstance(amount, (Decimal, int, float)):
        return False
    return Decimal(amount).is_finite()


def reported_amount(code: str, severity: Severity, amount: Decimal | None) -> Decimal | None:
    """The amount a finding reports: SPEC §2, a warning's is null, except AMOUNT-ABOVE's excess."""
    if severity is Severity.WARNING and code != "AMOUNT-ABOVE":
        return None
    return amount


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
