"""Former home of the real-time API, kept so that ``LedgerSession`` imports keep working.

There is one session type, with or without a ledger: :class:`billing_rules.Session`, made by
:meth:`billing_rules.Validator.session`.
"""

from __future__ import annotations

from billing_rules.session import Session as LedgerSession

__all__ = ["LedgerSession"]
