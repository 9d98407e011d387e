"""The embedding API: build a validator once, then check files, event streams or single invoices.

(Contract stub: bodies are being written; signatures are fixed.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

from billing_rules.model import Event, Finding, Report, Severity


@attrs.frozen(kw_only=True)
class RuleInfo:
    """What ``rules list`` and ``rules show`` print about one rule."""

    code: str
    severity: Severity
    source: str
    summary: str
    doc: str = ""
    valid_from: str | None = None
    valid_until: str | None = None
    origin: str | None = None
    text: str = ""


class Validator:
    """Compiled rules, tariffs and readers, built once per process and reused for every check."""

    @classmethod
    def build(
        cls,
        *,
        rule_files: Sequence[str | Path] = (),
        entry_points: bool = True,
    ) -> Validator:
        """Builtin rules + installed plugins + extra rule files; raises BillingRulesError subclasses."""
        raise NotImplementedError

    @property
    def rules(self) -> tuple[RuleInfo, ...]:
        """Every loaded rule, sorted by code."""
        raise NotImplementedError

    def check_paths(self, paths: Sequence[str], *, input_format: str | None = None) -> Report:
        """Check files (``-`` is stdin) as one stream of events, SPEC order."""
        raise NotImplementedError

    def check_events(self, events: Iterable[Event]) -> Report:
        """Check already-built events (any order; they are sorted as SPEC §1 says)."""
        raise NotImplementedError

    def check_one(self, event: Event) -> list[Finding]:
        """Findings of one invoice against the history this validator holds, without recording it."""
        raise NotImplementedError
