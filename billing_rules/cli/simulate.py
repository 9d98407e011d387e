"""``billing-rules simulate``: the ledger's activity of a period under the texts of another day (SPEC §7)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import click

from billing_rules.cli.group import _debug_option, _require_files, _stop_on_error, main
from billing_rules.cli.options import PluginSelection, describe_validator, parse_day, plugin_options
from billing_rules.cli.output import check_output, detail, output_option, report_output, verbosity_options
from billing_rules.errors import BillingRulesError

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
@click.option(
    "--engine",
    type=click.Choice(("auto", "row", "duckdb")),
    default="auto",
    show_default=True,
    help="Moteur : row (ligne à ligne), duckdb (relationnel, extra batch) ; auto choisit duckdb "
    "pour un grand registre.",
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
    engine: str,
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
    first, last, day = parse_day(start, "--from"), parse_day(end, "--to"), parse_day(as_of, "--as-of")
    if last < first:
        raise click.BadParameter("la fin de la période précède son début", param_hint="--to")
    with _stop_on_error(debug):
        check_output(output)
        from billing_rules.api.simulation import simulate
        from billing_rules.api.validator import Validator
        from billing_rules.ledger import open_ledger

        _require_files(draft_files)
        config = selection.config()
        selection.announce(config)
        entry_points = selection.entry_points(config)
        now = Validator.build(entry_points=entry_points, config=config)
        describe_validator(now)
        then = Validator.build(
            entry_points=entry_points, config=config, rule_files=list(draft_files), texts_as_of=day
        )
        options: dict[str, Any] = {
            "start": first,
            "end": last,
            "as_of": day,
            "now": now,
            "then": then,
            "practitioner_id": practitioner,
            "facts": _facts_of(config),
            "draft_files": draft_files,
        }
        with contextlib.closing(open_ledger(ledger_path, create=False)) as ledger:
            chosen = _engine_for(engine, ledger, now, then)
            detail(f"moteur : {chosen}")
            if chosen == "duckdb":
                from billing_rules.api import batch_simulation as period

                result = period.simulate(ledger, **options)
            else:
                result = simulate(list(ledger.events(end=last)), **options)
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
                from billing_rules.reporters.terminal import printable_lines

                for line in printable_lines(text_lines(result)):  # ids from the ledger, as input
                    stream.write(line + "\n")


def _engine_for(engine: str, ledger: Any, *validators: Any) -> str:
    """``--engine``: the one asked for, or (``auto``) the relational one for a large ledger it can run.

    An explicit ``duckdb`` that cannot run (extra missing, a rule it cannot plan, a ledger that
    cannot write its rows in bulk) is an error naming the reason; ``auto`` then keeps the row engine.
    """
    from billing_rules.engines.choice import relational_installed

    if engine == "row":
        return engine
    if not relational_installed():
        if engine == "auto":
            return "row"
        raise BillingRulesError("--engine duckdb demande l'extra batch : pip install 'billing-rules[batch]'")
    from billing_rules.api import batch_simulation as period
    from billing_rules.engines.relational.api import checker_for
    from billing_rules.engines.relational.history import bulk_capable
    from billing_rules.engines.relational.plan import Unsupported

    if not bulk_capable(ledger):
        if engine == "auto":
            return "row"
        raise BillingRulesError("--engine duckdb : ce registre ne sait pas fournir ses factures en bloc")
    if engine == "auto" and period.ledger_rows(ledger) < period.AUTO_ROWS:
        return "row"
    try:
        for validator in validators:
            checker_for(validator)
    except Unsupported:
        if engine == "auto":
            return "row"
        raise
    return "duckdb"


def _facts_of(config: object) -> object:
    """Each practitioner's facts for the FMT majorations, from the configuration."""
    if config is None:
        return None
    from billing_rules.cli.forfait import _facts

    return lambda practitioner_id: _facts(config, practitioner_id)
