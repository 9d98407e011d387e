"""``billing-rules rules changes``: what the texts changed since a date, from the rule files' dates.

For the people who follow the texts (a practice's billing lead, a vendor's support): before a new
convention applies, which rules, tariffs and codes start, end or change, with their sources.
"""

from __future__ import annotations

import json

import click

from billing_rules.cli.group import (
    _debug_option,
    _require_files,
    _rules_option,
    _stop_on_error,
)
from billing_rules.cli.options import PluginSelection, parse_period, plugin_options, text_or_json_option
from billing_rules.cli.output import check_output, output_option, report_output, verbosity_options
from billing_rules.cli.rules import rules

_KIND_WORDS = {"rule": "règle", "tariff": "tarif", "code": "code"}
_CODE_WIDTH = 20
"""Least width of the code column of the text output."""


@rules.command("changes")
@click.option("--since", "since", required=True, metavar="DATE", help="Depuis cette date (incluse).")
@click.option("--until", "until", metavar="DATE", help="Jusqu'à cette date (incluse).")
@text_or_json_option()
@_rules_option
@output_option
@verbosity_options
@plugin_options
@_debug_option
def rules_changes(
    since: str,
    until: str | None,
    output_format: str,
    rule_files: tuple[str, ...],
    output: str | None,
    debug: bool,
    selection: PluginSelection,
) -> None:
    """Liste les règles, tarifs et codes qui commencent, finissent ou changent depuis une date.

    Tiré des dates des fichiers de règles (intégrées, extensions, --rules) : le journal des
    changements de la nomenclature chargée, avec la source de chaque texte.
    """
    from billing_rules.domain.changes import changes, texts_date

    start, end = parse_period(since, until)
    assert start is not None  # --since is required
    with _stop_on_error(debug):
        check_output(output)
        _require_files(rule_files)
        ruleset = selection.build(rule_files).ruleset
        found = changes(ruleset, start, end)
        latest = texts_date(ruleset)
        with report_output(output) as stream:
            if output_format == "json":
                document = {
                    "since": start.isoformat(),
                    "until": end.isoformat() if end else None,
                    "texts_date": latest.isoformat() if latest else None,
                    "changes": [change.to_json() for change in found],
                }
                json.dump(document, stream, ensure_ascii=False, indent=2)
                stream.write("\n")
                return
            period = f"du {start:%d/%m/%Y} au {end:%d/%m/%Y}" if end else f"depuis le {start:%d/%m/%Y}"
            version = f" ; textes à jour au {latest:%d/%m/%Y}" if latest else ""
            stream.write(f"Changements des textes {period} ({len(found)}{version})\n")
            # The code column is as wide as the longest code listed (FORFAIT-NOT-SEEN-2-YEARS),
            # so every description, and every source under it, starts in one column.
            width = max([_CODE_WIDTH, *(len(change.subject) for change in found)])
            for change in found:
                origin = "" if change.origin == "builtin" else f" [{change.origin}]"
                stream.write(
                    f"{change.day:%d/%m/%Y}  {_KIND_WORDS[change.kind.value]:<6} {change.subject:<{width}} "
                    f"{change.description}{origin}\n"
                )
                if change.source:
                    stream.write(f"{'':{20 + width}}Source : {change.source}\n")
