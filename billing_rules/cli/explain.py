"""``billing-rules explain FILE INVOICE_ID``: why each finding of one invoice, in French.

For each finding: the facts the rule read on the invoice (age on the act's date, ALD, MT status,
place...), for a frequency rule its window and every invoice counted in it (from the file and the
ledger), the legal reference and what to do. The patient's id and birth date are never printed.
"""

from __future__ import annotations

import click

from billing_rules.cli.group import (
    EXIT_OK,
    _debug_option,
    _require_files,
    _rules_option,
    _stop_on_error,
    main,
)
from billing_rules.cli.options import PluginSelection, column_options, plugin_options
from billing_rules.cli.output import (
    check_output,
    describe_inputs,
    output_option,
    report_output,
    verbosity_options,
)


@main.command()
@click.argument("file", metavar="FICHIER")
@click.argument("invoice_id", metavar="FACTURE")
@click.option(
    "--ledger",
    "ledger_target",
    default=None,
    metavar="FICHIER|URL",
    help="Registre des factures passées (SQLite ou postgresql://...) : ses factures comptent dans les "
    "fenêtres et sont listées.",
)
@click.option(
    "--practitioner",
    "practitioner_id",
    default=None,
    metavar="RPPS",
    help="Le praticien de la facture, quand plusieurs praticiens ont une facture de ce numéro.",
)
@click.option(
    "--input-format", default=None, metavar="FORMAT", help="Format du fichier (csv, json, jsonl...)."
)
@column_options
@_rules_option
@output_option
@verbosity_options
@plugin_options
@_debug_option
def explain(
    file: str,
    invoice_id: str,
    ledger_target: str | None,
    practitioner_id: str | None,
    input_format: str | None,
    columns: dict[str, str],
    lines: bool,
    rule_files: tuple[str, ...],
    output: str | None,
    debug: bool,
    selection: PluginSelection,
) -> None:
    """Explique les constats d'une facture.

    Pour chaque constat : ce que la règle a lu (âge le jour de l'acte, ALD, médecin traitant,
    lieu...), la fenêtre et ses factures pour une règle de fréquence, la référence et ce qu'il faut
    faire. Exemple : billing-rules explain jour.csv F-2026-0044 --ledger cabinet.sqlite
    """
    with _stop_on_error(debug):
        _require_files((file, *rule_files))
        check_output(output)
        # The file read as ``check`` reads it: the same --column and --lines as the check it explains.
        validator = selection.build(rule_files, columns=columns, lines=lines)
        describe_inputs([file])
        if ledger_target is None:
            explanations = validator.explain(
                [file], invoice_id, input_format=input_format, practitioner_id=practitioner_id
            )
        else:
            from billing_rules.ledger import open_ledger

            ledger = open_ledger(ledger_target, create=False, readonly=True)  # never created here
            try:
                explanations = validator.explain(
                    [file],
                    invoice_id,
                    input_format=input_format,
                    ledger=ledger,
                    practitioner_id=practitioner_id,
                )
            finally:
                ledger.close()
        from billing_rules.reporters.terminal import printable, printable_lines

        with report_output(output) as stream:
            if not explanations:
                stream.write(printable(f"Aucun constat sur la facture {invoice_id}.") + "\n")
            heading = None
            for index, explanation in enumerate(explanations):
                finding = explanation.finding
                if index:
                    stream.write("\n")
                # Two practitioners may number an invoice alike: each one's findings under its heading.
                current = (finding.practitioner_id, finding.invoice_id, finding.date)
                if current != heading:
                    heading = current
                    day = finding.date.strftime("%d/%m/%Y")
                    who = f"Facture {finding.invoice_id} du {day} — praticien {finding.practitioner_id}"
                    stream.write(printable(who) + "\n\n")
                stream.write("\n".join(printable_lines(str(explanation).split("\n"))) + "\n")
    raise click.exceptions.Exit(EXIT_OK)
