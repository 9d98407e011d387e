"""Errors the library raises; the CLI turns each into one French message and exit code 2.

Messages never contain a patient identifier: they may end up in logs or in support tickets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from billing_rules.model import InputError


class BillingRulesError(Exception):
    """Base of every error meant for the user rather than for a traceback."""


class ReadError(BillingRulesError):
    """A whole input could not be read (missing file, unknown format, no header...)."""


class RuleFileError(BillingRulesError):
    """A rule file is invalid; ``str()`` is ``path:line:col: message`` plus the line and a caret."""

    def __init__(
        self,
        message: str,
        *,
        path: str = "<rules>",
        line: int | None = None,
        column: int | None = None,
        source_line: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        self.source_line = source_line
        super().__init__(self.render())

    def render(self) -> str:
        """``path:line:col: message``, then the offending line and a caret under the column."""
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {self.message}"
        if self.source_line is not None and self.column is not None:
            line, caret = _line_excerpt(self.source_line.rstrip(), self.column)
            text += f"\n    {line}\n    {' ' * caret}^"
        return text


_EXCERPT_WIDTH = 100


def _line_excerpt(line: str, column: int) -> tuple[str, int]:
    """The part of ``line`` around ``column``, unprintable characters masked one for one.

    A hostile file may hold a megabyte on one line; masking keeps the caret under the right one.
    """
    offset = max(column - 1, 0)
    start = 0
    if len(line) > _EXCERPT_WIDTH:
        start = max(0, min(offset - _EXCERPT_WIDTH // 2, len(line) - _EXCERPT_WIDTH))
    piece = "".join(
        " " if char == "\t" else char if char.isprintable() else "\ufffd"
        for char in line[start : start + _EXCERPT_WIDTH]
    )
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + _EXCERPT_WIDTH < len(line) else ""
    return prefix + piece + suffix, offset - start + len(prefix)


class RuleSyntaxError(RuleFileError):
    """The text does not follow the grammar."""


class RuleCompileError(RuleFileError):
    """The text parses but means nothing: unknown field, code, function, bad date..."""


class PluginLoadError(BillingRulesError):
    """A plugin failed to import or to register; names the plugin so the user knows what to remove."""

    def __init__(self, name: str, version: str | None, cause: BaseException | str) -> None:
        self.name = name
        self.version = version
        self.cause = cause
        label = f"{name} {version}" if version else name
        super().__init__(f"l'extension « {label} » n'a pas pu être chargée : {cause}")


class RuleClashError(BillingRulesError):
    """Two sources define the same rule code; codes are public contract and never silently renamed."""


class RuleFileClashError(RuleCompileError, RuleClashError):
    """A rule file declares what another file (or the same one) already did: located at the second."""


class EngineLimitation(BillingRulesError):
    """The relational engine (``--engine duckdb``) cannot run a rule: the message names it and why.

    A declared limitation, never a silent fallback: ``--engine row`` runs every rule.
    """


class LedgerError(BillingRulesError):
    """The ledger cannot be opened, read or written (the CLI exits 2 with this French message).

    Defined here, with every other error users catch, and re-exported by
    :mod:`billing_rules.ledger` (where the back ends raise it).
    """


class InvalidInvoice(BillingRulesError):
    """An invoice handed to the API has unreadable values; ``errors`` says which fields.

    One :class:`~billing_rules.model.InputError` per bad field, with the messages a file's row
    gets (SPEC §1), so that the user fixes them all at once.
    """

    def __init__(self, errors: Sequence[InputError]) -> None:
        self.errors: tuple[InputError, ...] = tuple(errors)
        fields = ", ".join(f"{error.field} ({error.message})" for error in errors)
        super().__init__(f"facture illisible : {fields}")
