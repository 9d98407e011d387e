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

from collections.abc import Mapping

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
