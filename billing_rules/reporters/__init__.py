"""Reporters turn a :class:`~billing_rules.model.Report` into text for a stream.

A reporter only formats: the report already holds the findings in SPEC order and its own totals, so
every reporter of the same check tells the same story. Plugins will add reporters through the same
:class:`Reporter` protocol; the built-ins are listed in :data:`BUILTIN_REPORTERS`.
"""

from __future__ import annotations

from typing import Protocol, TextIO, runtime_checkable

from billing_rules.model import Report
from billing_rules.reporters.csv_report import CsvReporter
from billing_rules.reporters.html_report import HtmlReporter
from billing_rules.reporters.json_report import JsonReporter
from billing_rules.reporters.jsonl_report import JsonLinesReporter
from billing_rules.reporters.text_report import TextReporter

__all__ = [
    "BUILTIN_REPORTERS",
    "CsvReporter",
    "HtmlReporter",
    "JsonLinesReporter",
    "JsonReporter",
    "Reporter",
    "TextReporter",
    "get_reporter",
]


@runtime_checkable
class Reporter(Protocol):
    """An output format for ``billing-rules check --format NAME``.

    A protocol rather than a base class, so a plugin's reporter needs no import from us to qualify.
    """

    name: str
    """The value of ``--format`` that selects this reporter."""

    def render(self, report: Report, stream: TextIO, *, color: bool) -> None:
        """Write the whole report to ``stream``.

        Args:
            report: the result of one check, already in SPEC order.
            stream: where to write; the caller owns it (encoding, flushing, closing).
            color: whether ANSI colours are welcome; the CLI passes True only for a terminal without
                ``NO_COLOR``. Machine formats ignore it.
        """
        ...


BUILTIN_REPORTERS: dict[str, Reporter] = {
    "json": JsonReporter(),
    "jsonl": JsonLinesReporter(),
    "text": TextReporter(),
    "csv": CsvReporter(),
    "html": HtmlReporter(),
}
"""Reporters shipped with billing-rules, by ``--format`` name."""


def get_reporter(name: str) -> Reporter:
    """The built-in reporter called ``name``.

    Raises:
        KeyError: no such reporter; the CLI prevents it with a choice list.
    """
    return BUILTIN_REPORTERS[name]
