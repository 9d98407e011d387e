"""The built-in NGAP catalogue for general practice, registered like any third-party plugin."""

from __future__ import annotations

from billing_rules.plugins import hookimpl, rule_file_paths


@hookimpl
def register_rule_sets(register):  # type: ignore[no-untyped-def]
    """The catalogue's rule files: codes, tariffs, forfaits, then one file per family of acts."""
    for path in rule_file_paths(__name__):
        register(path)


@hookimpl
def register_rules(register):  # type: ignore[no-untyped-def]
    """The checks that are not constraints over events (code table, amounts)."""
    from billing_rules.builtin.ngap.python_rules import PYTHON_RULES

    for rule in PYTHON_RULES:
        register(rule)
