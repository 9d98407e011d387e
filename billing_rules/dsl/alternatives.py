"""A rule's alternatives: several ``action`` (or ``suggest``) clauses, each but the last under ``if``.

Some advice depends on the invoice: a VL refused at the practice is recoded G, at the patient's home
VG; an SNP suggested for a SAS request at 19:30 comes with its SHE. So a rule may give its actions
(and its suggestions) in order, each guarded by ``if <condition>`` but the last, the default: the
first whose condition holds on the invoice is the one used. This module holds what the front end
and the displays need about them: the order the check enforces (:func:`order_error`) and the words
``rules show`` prints (:func:`written_condition`, :func:`coding_words`), made from the tree alone so
that no text of a rule file is ever evaluated.
"""

from __future__ import annotations

from collections.abc import Sequence

from billing_rules.dsl import ast

#: Each kind of alternative in the words of its errors.
_NOUNS = {"action": "action", "suggest": "suggestion"}


def order_error(
    rule: str, kind: str, alternatives: Sequence[tuple[ast.Cond | None, ast.Span]]
) -> tuple[str, ast.Span] | None:
    """Why the guards of a rule's ``action`` (or ``suggest``) clauses are out of order, and where.

    Each is ``(guard, span)`` in the order written. Every one but the last must be guarded, and the
    last must not be: an unguarded one earlier would hide those after it, a guarded last one would
    leave the invoices where no condition holds without advice. None when the order is right.
    """
    if not alternatives:
        return None
    noun = _NOUNS[kind]
    last = len(alternatives) - 1
    for index, (guard, span) in enumerate(alternatives):
        if guard is None and index < last:
            return (
                f"règle {rule} : clause « {kind} » sans « if » avant la dernière : seule la dernière "
                f"{noun} de la règle est sans condition (celle des factures où aucune autre ne "
                "s'applique), les suivantes ne seraient jamais choisies",
                span,
            )
    guard, span = alternatives[last]
    if guard is not None:
        return (
            f"règle {rule} : la dernière clause « {kind} » a un « if » : la dernière {noun} est sans "
            "condition, pour les factures où aucune autre ne s'applique (pour ne déclencher la règle "
            "que sous une condition, écrivez-la dans « when »)",
            span,
        )
    return None


def coding_words(node: ast.Suggestion) -> str:
    """A corrected or suggested coding in French words: ``G au lieu de VL, MD``, ``ajouter SNP, SHE``."""
    if node.kind == "remove":
        return f"sans {written_codes(node.replaced)}"
    if node.kind == "replace":
        return f"{node.code} au lieu de {written_codes(node.replaced)}"
    if node.kind == "add":
        return f"ajouter {', '.join(node.added or (node.code or '',))}"
    return node.text or ""


def written_codes(items: Sequence[ast.CodeItem]) -> str:
    """A code list as written: codes and family names, in the author's order."""
    return ", ".join(item.code if isinstance(item, ast.CodeRef) else item.name for item in items)


# Binding strength of each condition node: a weaker operand is written in parentheses.
_OR, _AND, _NOT, _ATOM = 1, 2, 3, 4


def written_condition(node: ast.Cond) -> str:
    """A condition written back in the rule language (``not at_home``, ``hour(referral_at) in (19, 20)``).

    Parentheses only where the grammar needs them, so it reads as the author would have written it.
    """
    return _cond(node)


def _strength(node: ast.Cond) -> int:
    if isinstance(node, ast.Or):
        return _OR
    if isinstance(node, ast.And):
        return _AND
    if isinstance(node, ast.Not):
        return _NOT
    return _ATOM


def _operand(node: ast.Cond, parent: int) -> str:
    text = _cond(node)
    return f"({text})" if _strength(node) < parent else text


def _cond(node: ast.Cond) -> str:
    if isinstance(node, ast.Or):
        return " or ".join(_operand(item, _OR + 1) for item in node.operands)
    if isinstance(node, ast.And):
        return " and ".join(_operand(item, _AND + 1) for item in node.operands)
    if isinstance(node, ast.Not):
        return f"not {_operand(node.operand, _NOT)}"
    if isinstance(node, ast.Billed):
        return f"billed {written_codes(node.codes)}"
    if isinstance(node, ast.Compare):
        return f"{written_expr(node.left)} {node.op} {written_expr(node.right)}"
    if isinstance(node, ast.IsValue):
        return f"{written_expr(node.left)} is {'not ' if node.negated else ''}{written_expr(node.right)}"
    if isinstance(node, ast.InValues):
        options = ", ".join(written_expr(option) for option in node.options)
        return f"{written_expr(node.left)} {'not in' if node.negated else 'in'} ({options})"
    if isinstance(node, ast.Given):
        return f"{written_expr(node.expr)} is {'missing' if node.negated else 'given'}"
    if isinstance(node, ast.Truthy):
        return written_expr(node.expr)
    raise TypeError(f"condition non reconnue : {type(node).__name__}")  # pragma: no cover


def written_expr(node: ast.Expr) -> str:
    """An expression written back in the rule language (a text quoted, a duration with its unit)."""
    if isinstance(node, ast.Name):
        return node.name
    if isinstance(node, ast.Call):
        return f"{node.name}({', '.join(written_expr(arg) for arg in node.args)})"
    if isinstance(node, ast.CodeLit):
        return node.code
    if isinstance(node, (ast.NumberLit, ast.DateLit)):
        return str(node.value)
    if isinstance(node, ast.StringLit):
        escaped = (
            node.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        )
        return f'"{escaped}"'
    if isinstance(node, ast.DurationLit):
        return f"{node.amount} {node.unit}"
    if isinstance(node, ast.BinOp):
        return f"{written_expr(node.left)} {node.op} {written_expr(node.right)}"
    raise TypeError(f"expression non reconnue : {type(node).__name__}")  # pragma: no cover
