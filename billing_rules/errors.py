"""Errors the library raises; the CLI turns each into one French message and exit code 2.

Messages never contain a patient identifier: they may end up in logs or in support tickets.
"""

from __future__ import annotations


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
            text += f"\n    {self.source_line.rstrip()}\n    {' ' * (self.column - 1)}^"
        return text


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


class LedgerError(BillingRulesError):
    """The history store cannot be opened, read or written."""
