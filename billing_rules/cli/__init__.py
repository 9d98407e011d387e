"""The ``billing-rules`` command line: one module per command, all on the group of ``group``.

``main`` (the console script) is defined in :mod:`.group`, with what every command shares (exit
codes, error handling, options). Each command module adds itself to ``main`` when imported; this
module imports them all (:mod:`.commands`) and re-exports the names scripts and tests use. No command
module imports this package, so there is no import circle.
"""

from billing_rules.cli import commands as _commands  # noqa: F401  (registers every command on main)
from billing_rules.cli.group import (
    EXIT_BROKEN_PIPE,
    EXIT_ERROR,
    EXIT_FINDINGS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    FAIL_ON_CHOICES,
    REPORT_FORMATS,
    exit_code,
    main,
    use_color,
)

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_ERROR",
    "EXIT_FINDINGS",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "FAIL_ON_CHOICES",
    "REPORT_FORMATS",
    "exit_code",
    "main",
    "use_color",
]
