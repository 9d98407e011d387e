"""What ``rules list`` and ``rules show`` print about one rule, whichever way it was written."""

from __future__ import annotations

from typing import Any

import attrs

from billing_rules.dsl.program import DslRule
from billing_rules.model import Severity


@attrs.frozen(kw_only=True)
class Alternative:
    """One of a DSL rule's ``action`` or ``suggest`` alternatives, as ``rules show`` prints it."""

    #: The ``if`` that selects it, in the rule language; empty for the default (the last).
    condition: str = ""
    #: The corrected (action) or suggested coding in French words (``G au lieu de VL, MD``).
    coding: str = ""
    #: An action's text, with its ``{placeholders}``; empty for a suggestion.
    text: str = ""
    #: The majorations this action's recoding may take off with their codes, each with its codes.
    falling_majorations: tuple[tuple[str, tuple[str, ...]], ...] = ()


@attrs.frozen(kw_only=True)
class RuleInfo:
    """What ``rules list`` and ``rules show`` print about one rule."""

    code: str
    severity: Severity
    source: str
    summary: str
    doc: str = ""
    citation: str = ""
    #: What to do about a finding (a DSL rule's text keeps its ``{placeholders}``); for a rule with
    #: several, the default one (``actions`` has them all).
    action: str = ""
    valid_from: str | None = None
    valid_until: str | None = None
    origin: str | None = None
    text: str = ""
    examples: tuple[Any, ...] = ()
    #: The majorations a DSL rule's recoding may take off with their codes, each with its codes.
    falling_majorations: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: A DSL rule's ``action`` alternatives in order, the first whose condition holds being used.
    actions: tuple[Alternative, ...] = ()
    #: A DSL opportunity's ``suggest`` alternatives, in the same way.
    suggestions: tuple[Alternative, ...] = ()


def rule_info(rule: Any) -> RuleInfo:
    """The description of a compiled DSL rule or a plugin's Python rule (missing parts empty)."""
    valid_from = getattr(rule, "valid_from", None)
    valid_until = getattr(rule, "valid_until", None)
    actions, suggestions = _alternatives(rule)
    return RuleInfo(
        code=rule.code,
        severity=rule.severity,
        source=rule.source,
        summary=getattr(rule, "summary", "") or (rule.__doc__ or "").strip().splitlines()[0:1][0]
        if getattr(rule, "summary", "") or rule.__doc__
        else "",
        doc=getattr(rule, "doc", "") or "",
        citation=getattr(rule, "citation", "") or "",
        action=getattr(rule, "action", "") or "",
        valid_from=valid_from.isoformat() if valid_from else None,
        valid_until=valid_until.isoformat() if valid_until else None,
        origin=getattr(rule, "origin", None),
        text=getattr(rule, "text", "") or "",
        examples=tuple(getattr(rule, "examples", ()) or ()),
        falling_majorations=tuple(getattr(rule, "falling_majorations", ()) or ()),
        actions=actions,
        suggestions=suggestions,
    )


def _alternatives(rule: Any) -> tuple[tuple[Alternative, ...], tuple[Alternative, ...]]:
    """A DSL rule's action and suggestion alternatives; none for a rule written in Python."""
    if not isinstance(rule, DslRule):
        return (), ()
    majorations = getattr(rule.environment, "majorations", None) or {}
    actions = tuple(
        Alternative(
            condition=action.condition,
            coding=action.recode.words if action.recode is not None else "",
            text=action.text,
            falling_majorations=action.falling_majorations(majorations),
        )
        for action in rule.actions
    )
    suggestions = tuple(
        Alternative(condition=suggestion.condition, coding=suggestion.words)
        for suggestion in rule.suggestions
    )
    return actions, suggestions
