"""The counters a Python rule declares (its ``counters``), checked when the validator is built.

A DSL rule's window is its compiled ``frequency.counter``; a Python rule that asks
``history.count`` names its :class:`CounterSpec` values in ``counters``, and the engine keeps
them as it keeps the DSL rules' (``Engine.kept``). A counter it does not keep is an error, never
an empty window: that would read as "the patient's first act" on every invoice
(:func:`billing_rules.engines.findings.undeclared`, shared with the relational engine).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from billing_rules.dsl.program import CounterSpec, DslRule
from billing_rules.errors import BillingRulesError
from billing_rules.rule import Rule


def declared_counters(rule: Rule) -> tuple[CounterSpec, ...]:
    """The counters a Python rule declares (its optional ``counters``), checked; () for a DSL rule.

    Raises :class:`BillingRulesError` naming the rule when one is not a well-formed
    :class:`CounterSpec`: refused when the validator is built, not once per invoice.
    """
    declared = None if isinstance(rule, DslRule) else getattr(rule, "counters", None)
    if declared is None:
        return ()
    what = f"règle {rule.code} ({rule.source}) : counters"
    if isinstance(declared, (str, bytes, CounterSpec)) or not isinstance(declared, Iterable):
        raise BillingRulesError(f"{what} attend une suite de CounterSpec, pas {type(declared).__name__}")
    counters = tuple(declared)
    for counter in counters:
        problem = _counter_problem(counter)
        if problem is not None:
            raise BillingRulesError(f"{what} : {problem}")
    return counters


_PERIODS = {"calendar": {"day", "week", "quarter", "year"}, "rolling": {"days", "weeks", "months", "years"}}


def _counter_problem(counter: Any) -> str | None:
    """What makes ``counter`` unusable by the window store, in French; None when it is well formed."""
    if not isinstance(counter, CounterSpec):
        return f"un élément n'est pas un CounterSpec mais un {type(counter).__name__}"
    triggers = counter.triggers
    if triggers is not None and not (
        isinstance(triggers, (set, frozenset)) and all(isinstance(code, str) for code in triggers)
    ):
        return "triggers attend un frozenset de codes, ou None"
    if counter.counting is not None and not callable(counter.counting):
        return "counting attend une fonction de l'événement, ou None"
    if not isinstance(counter.scope, tuple) or not set(counter.scope) <= {"patient", "practitioner", "code"}:
        return "scope attend un tuple de « patient », « practitioner », « code »"
    if "code" in counter.scope and triggers is None:
        return "un compteur « par code » (scope « code ») demande ses codes (triggers)"
    if counter.window == "ever":
        return None
    if counter.window not in _PERIODS:
        return f"window attend « calendar », « rolling » ou « ever », pas {counter.window!r}"
    if counter.period not in _PERIODS[counter.window]:
        return f"period d'une fenêtre {counter.window} : {', '.join(sorted(_PERIODS[counter.window]))}"
    if counter.window == "rolling" and not (isinstance(counter.span, int) and counter.span > 0):
        return "span d'une fenêtre glissante : un nombre entier positif d'unités de period"
    return None
