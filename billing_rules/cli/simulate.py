"""``billing-rules simulate``: the ledger's activity of a period under the texts of another day (SPEC §7)."""

from __future__ import annotations

import contextlib
import json

import click

from billing_rules.cli.group import _debug_option, _require_files, _stop_on_error, main
from billing_rules.cli.options import PluginSelection, parse_day, plugin_options
from billing_rules.cli.output import check_output, output_option, report_output, verbosity_options

SIMULATE_FORMATS = ("text", "json", "html")


@main.command("simulate")
@click.option("--ledger", "ledger_path", required=True, metavar="FICHIER|URL", help="Le registre à relire.")
@click.option("--from", "start", required=True, metavar="DATE", help="Premier jour de la période.")
@click.option("--to", "end", required=True, metavar="DATE", help="Dernier jour de la période.")
@click.option("--as-of", "as_of", required=True, metavar="DATE", help="Les textes en vigueur ce jour-là.")
@click.option("--practitioner", default=None, metavar="ID", help="Un seul praticien (défaut : tous).")
@click.option(
    "--rules",
    "draft_files",
    multiple=True,
    metavar="FICHIER",
    help="Projet de texte (règles DSL) ajouté à la seconde lecture seulement (répétable).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(SIMULATE_FORMATS),
    default="text",
    help="Format : text (par défaut), json ou html.",
)
@output_option
@verbosity_options
@plugin_options
@_debug_option
def simulate_command(
    ledger_path: str,
    start: str,
    end: str,
    as_of: str,
    practitioner: str | None,
    draft_files: tuple[str, ...],
    output_format: str,
    output: str | None,
    debug: bool,
    selection: PluginSelection,
) -> None:
    """Relit l'activité d'une période sous les textes d'une autre date.

    Les factures du registre du --from au --to sont contrôlées deux fois : selon les textes en
    vigueur à la date de chaque facture, puis selon ceux du --as-of (règles, tarifs, codes et
    forfait). Le rapport donne, par règle et par praticien, les constats et les euros de chaque
    lecture, leur écart, et le forfait médecin traitant de chacune.

    Exemple : billing-rules simulate --ledger cabinet.sqlite --from 2025-01-01 --to 2025-12-31
    --as-of 2026-01-01
    """
    first, last, day = parse_day(start), parse_day(end), parse_day(as_of)
    if last < first:
        raise click.BadParameter("la fin de la période précède son début", param_hint="--to")
    with _stop_on_error(debug):
        check_output(output)
        from billing_rules.api.simulation import simulate
        from billing_rules.api.validator import Validator
        from billing_rules.ledger import open_ledger

        _require_files(draft_files)
        config = selection.config()
        entry_points = selection.entry_points(config)
        now = Validator.build(entry_points=entry_points, config=config)
        then = Validator.build(
            entry_points=entry_points, config=config, rule_files=list(draft_files), texts_as_of=day
        )
        with contextlib.closing(open_ledger(ledger_path, create=False)) as ledger:
            events = list(ledger.events(end=last))
        result = simulate(
            events,
            start=first,
            end=last,
            as_of=day,
            now=now,
            then=then,
            practitioner_id=practitioner,
            facts=_facts_of(config),
            draft_files=draft_files,
        )
        with report_output(output) as stream:
            if output_format == "json":
                from billing_rules.reporters.simulation_report import to_dict

                json.dump(to_dict(result), stream, ensure_ascii=False, indent=2)
                stream.write("\n")
            elif output_format == "html":
                from billing_rules.reporters.html_report import render_simulation

                stream.write(render_simulation(result))
            else:
                from billing_rules.reporters.simulation_report import text_lines

                for line in text_lines(result):
                    stream.write(line + "\n")


def _facts_of(config: object) -> object:
    """Each practitioner's facts for the FMT majorations, from the configuration."""
    if config is None:
        return None
    from billing_rules.cli.forfait import _facts

    return lambda practitioner_id: _facts(config, practitioner_id)
