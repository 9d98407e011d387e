"""Which invoice fields a condition reads: what lets the engine decide a condition once per plan.

A condition that reads only fields the engine's plan is keyed by (the codes, the practitioner's
sector and specialty, the patient's flags, ``mt_status``, place, amount...) has the same value for
every invoice of that plan. The engine evaluates such a part of a rule's condition once, on the
first invoice of the plan, and drops the rule from the plan when it is false.

The analysis is conservative: a function call (``tariff``, ``pdsa_time``, ``extra``...) or a node
it does not know makes the answer None, "cannot tell", and the condition is then evaluated on
every invoice as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from billing_rules.dsl import ast
from billing_rules.dsl.vocabulary import FIELDS

#: Recursion bound of the walk (the compiler refuses deeper conditions anyway).
_MAX_DEPTH = 200


def fields_read(
    node: object, defines: Mapping[str, ast.Cond], functions: Mapping[str, object]
) -> frozenset[str] | None:
    """The event fields ``node`` (a condition or an expression) reads; None if it cannot tell.

    ``codes`` stands for ``billed ...`` tests. Words that are values (``self``, ``domicile``) read
    nothing; a name that is a definition reads what the definition reads.
    """
    found: set[str] = set()
    return frozenset(found) if _walk(node, defines, functions, found, (), 0) else None


def _walk(
    node: object,
    defines: Mapping[str, ast.Cond],
    functions: Mapping[str, object],
    found: set[str],
    expanding: tuple[str, ...],
    depth: int,
) -> bool:
    if depth > _MAX_DEPTH:
        return False

    def walk(child: object) -> bool:
        return _walk(child, defines, functions, found, expanding, depth + 1)

    if isinstance(node, (ast.And, ast.Or)):
        return all(walk(item) for item in node.operands)
    if isinstance(node, ast.Not):
        return walk(node.operand)
    if isinstance(node, ast.Billed):
        found.add("codes")
        return True
    if isinstance(node, (ast.Truthy, ast.Given)):
        return walk(node.expr)
    if isinstance(node, (ast.Compare, ast.BinOp)):
        return walk(node.left) and walk(node.right)
    if isinstance(node, ast.IsValue):
        return walk(node.left) and walk(node.right)
    if isinstance(node, ast.InValues):
        return walk(node.left) and all(walk(option) for option in node.options)
    if isinstance(node, (ast.NumberLit, ast.DateLit, ast.StringLit, ast.CodeLit, ast.DurationLit)):
        return True
    if isinstance(node, ast.Name):
        if node.name in FIELDS:
            found.add(FIELDS[node.name].name)
            return True
        if node.name in functions:
            return False
        if node.name in defines:
            if node.name in expanding:
                return False
            return _walk(defines[node.name], defines, functions, found, (*expanding, node.name), depth + 1)
        return True  # a value word (self, domicile, MG...)
    return False  # a function call, or anything this walk does not know


# --------------------------------------------------------------------------------------------------
# What ``explain`` shows: every fact a rule reads, functions included


#: The invoice fields the built-in functions read: ``explain`` shows these for a call.
FUNCTION_FACTS: dict[str, tuple[str, ...]] = {
    "pdsa_time": ("date", "time"),
    "public_holiday": ("date",),
    "weekday": ("date",),
    "tariff": ("date",),
    "exists": ("date",),
    "forfait_mt": ("age", "ald", "neurodegenerative"),
}

#: Fields never shown: the patient's identity. The birth date is shown as the age it gives.
_HIDDEN = {"patient_id": None, "birth_date": "age"}


def facts_read(
    nodes: Iterable[object], defines: Mapping[str, ast.Cond], functions: Mapping[str, object] | None = None
) -> tuple[str, ...]:
    """The fields an explanation of a rule shows, in the vocabulary's order, ``codes`` first.

    Unlike :func:`fields_read` this never gives up: a function shows what it reads (its known
    facts, those its ``Function.reads`` declares, or its arguments'), ``extra("col")`` shows
    ``extra:col``. The patient's id is never among them and the birth date becomes the age.
    """
    found: set[str] = set()
    facts = dict(FUNCTION_FACTS)
    for name, function in (functions or {}).items():
        declared = getattr(function, "reads", None)
        if declared and not isinstance(declared, str):
            facts[name] = tuple(
                item.lower() if item.startswith("extra:") else item
                for item in declared
                if isinstance(item, str)
            )
    for node in nodes:
        _collect(node, defines, found, (), 0, facts)
    shown: set[str] = set()
    for name in found:
        replaced = _HIDDEN.get(name, name)
        if replaced is not None:
            shown.add(replaced)
    order = ["codes", *FIELDS]
    known = [name for name in order if name in shown]
    return (*known, *sorted(name for name in shown if name not in order))


def _collect(
    node: object,
    defines: Mapping[str, ast.Cond],
    found: set[str],
    expanding: tuple[str, ...],
    depth: int,
    facts: Mapping[str, tuple[str, ...]] = FUNCTION_FACTS,
) -> None:
    if depth > _MAX_DEPTH:
        return

    def collect(child: object) -> None:
        _collect(child, defines, found, expanding, depth + 1, facts)

    if isinstance(node, (ast.And, ast.Or)):
        for item in node.operands:
            collect(item)
    elif isinstance(node, ast.Not):
        collect(node.operand)
    elif isinstance(node, ast.Billed):
        found.add("codes")
    elif isinstance(node, (ast.Truthy, ast.Given)):
        collect(node.expr)
    elif isinstance(node, (ast.Compare, ast.BinOp, ast.IsValue)):
        collect(node.left)
        collect(node.right)
    elif isinstance(node, ast.InValues):
        collect(node.left)
        for option in node.options:
            collect(option)
    elif isinstance(node, ast.Name):
        if node.name in FIELDS:
            found.add(FIELDS[node.name].name)
        elif node.name in defines and node.name not in expanding:
            _collect(defines[node.name], defines, found, (*expanding, node.name), depth + 1, facts)
        else:
            found.update(facts.get(node.name, ()))
    elif isinstance(node, ast.Call):
        if node.name == "extra" and node.args:
            word = node.args[0]
            column = (
                getattr(word, "value", None) or getattr(word, "name", None) or getattr(word, "code", None)
            )
            if column:
                found.add(f"extra:{str(column).lower()}")
            return
        found.update(facts.get(node.name, ()))
        for arg in node.args:
            collect(arg)
