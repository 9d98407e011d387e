"""``--format jsonl``: the SPEC §2 report as JSON Lines, for reports of millions of findings.

One JSON object per line, written as it goes (no document is built in memory, unlike the single
JSON object of ``--format json``), so that a consumer can process findings one by one
(``jq -c``, ``grep``, a database loader) and stop anywhere:

* one line per finding: ``{"type": "finding", ...}`` with exactly the keys of a SPEC §2
  ``findings[]`` entry, in the same order;
* one line per input error: ``{"type": "input_error", "line": ..., "field": ..., "message": ...}``;
* a last line ``{"type": "summary", ...}`` with the keys of SPEC §2 ``summary``. It comes last
  because its totals are known only then; a file without it was cut short.

``type`` is the only key added to SPEC §2's; ``file`` is added as in the JSON report, when several
files were checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TextIO

from billing_rules.model import Finding, InputError, Report
from billing_rules.reporters.json_report import _finding, _input_error, summary_to_dict

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def write_lines(
    findings: Iterable[Finding],
    input_errors: Iterable[InputError],
    summary: dict[str, Any],
    stream: TextIO,
    *,
    with_file: bool = False,
) -> None:
    """Write the findings, then the input errors, then the summary, one object per line.

    For engines that produce findings as a stream: nothing is held beyond the current line.
    """
    write = stream.write
    for finding in findings:
        write(_dumps({"type": "finding", **_finding(finding, with_file)}) + "\n")
    for error in input_errors:
        write(_dumps({"type": "input_error", **_input_error(error, with_file)}) + "\n")
    write(_dumps({"type": "summary", **summary}) + "\n")


class JsonLinesReporter:
    """``--format jsonl``: see the module docstring."""

    name = "jsonl"

    def render(self, report: Report, stream: TextIO, *, color: bool) -> None:
        """Write ``report`` line by line; ``color`` is ignored (machines read this)."""
        del color
        write_lines(
            report.findings,
            report.input_errors,
            summary_to_dict(report),
            stream,
            with_file=report.multiple_files,
        )
