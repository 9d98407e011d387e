"""The built-in input formats and report formats, registered through the public hooks."""

from __future__ import annotations

from billing_rules.plugins import hookimpl


@hookimpl
def register_readers(register):  # type: ignore[no-untyped-def]
    """CSV, JSON and JSON Lines (SPEC §1)."""
    from billing_rules.readers import BUILTIN_READERS

    for reader in BUILTIN_READERS.values():
        register(reader)


@hookimpl
def register_reporters(register):  # type: ignore[no-untyped-def]
    """Text for people and JSON for programs (SPEC §2)."""
    from billing_rules.reporters import BUILTIN_REPORTERS

    for reporter in BUILTIN_REPORTERS.values():
        register(reporter)
