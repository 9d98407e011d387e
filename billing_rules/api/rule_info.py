"""What ``rules list`` and ``rules show`` print about one rule, whichever way it was written."""

from __future__ import annotations

from typing import Any

import attrs

from billing_rules.model import Severity


@attrs.frozen(kw_only=True)
class RuleInfo:
    """What ``rules list`` and ``rules show`` print about one rule."""

    code: str
    severity: Severity
    source: str
    summary: str
    doc: str = ""
    citation: str = ""
    #: What to do about a finding (a DSL rule's text keeps its ``{placeholders}``).
    action: str = ""
    valid_from: str | None = None
    valid_until: str | None = None
    origin: str | None = None
    text: str = ""
    examples: tuple[Any, ...] = ()
    #: The majorations a DSL rule's recoding may take off with their codes, each with its codes.
    falling_majorations: tuple[tuple[str, tuple[str, ...]], ...] = ()


def rule_info(rule: Any) -> RuleInfo:
    """The description of a compiled DSL rule or a plugin's Python rule (missing parts empty)."""
    valid_from = getattr(rule, "valid_from", None)
    valid_until = getattr(rule, "valid_until", None)
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
    )
