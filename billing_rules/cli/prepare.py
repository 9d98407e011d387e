"""``billing-rules prepare FILE... -o FILE.parquet``: billing files read and validated once, for later checks.

At scale the reading is a third of a check; a prepared file (:mod:`billing_rules.readers.prepared`)
is checked again and again (other rules, other texts, a Spark cluster) without it, and its reports
are those of the files themselves.
"""

from __future__ import annotations

import click

from billing_rules.cli.group import (
    EXIT_FINDINGS,
    EXIT_OK,
    _debug_option,
    _require_files,
    _stop_on_error,
    main,
)
from billing_rules.cli.options import PluginSelection, column_options, input_format_option, plugin_options
from billing_rules.cli.output import check_output, describe_inputs, verbosity, verbosity_options


@main.command()
@click.argument("files", nargs=-1, required=True, metavar="FICHIER...")
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="FICHIER.parquet",
    help="Le fichier préparé à écrire (Parquet, lisible par son seul propriétaire).",
)
@input_format_option
@verbosity_options
@column_options
@plugin_options
@_debug_option
def prepare(
    files: tuple[str, ...],
    output: str,
    input_format: str | None,
    columns: dict[str, str],
    lines: bool,
    debug: bool,
    selection: PluginSelection,
) -> None:
    """Lit et vérifie des fichiers de facturation une fois, pour les contrôler ensuite plus vite.

    Le fichier préparé (Parquet) garde les factures lisibles, leurs lignes d'origine et les lignes
    illisibles : « billing-rules check FICHIER.parquet » en donne le même rapport que les fichiers
    eux-mêmes, sans les relire (règles, textes ou moteur au choix, Spark compris). Demande
    billing-rules[batch]. Code de sortie : 0 si toutes les lignes sont lisibles, 1 sinon (le fichier
    est écrit quand même), 2 si rien n'a pu être préparé.
    """
    from billing_rules.api.prepare import prepare_files
    from billing_rules.cli.check import _input_files
    from billing_rules.cli.inputs import refuse_overwriting
    from billing_rules.model import Report
    from billing_rules.reporters.text_report import input_error_lines

    with _stop_on_error(debug):
        _require_files((), folders=files)
        check_output(output)
        if not output.lower().endswith(".parquet"):
            raise click.UsageError(
                f"-o « {output} » : le fichier préparé est du Parquet, son nom doit finir par .parquet "
                "(check le reconnaît ainsi)"
            )
        validator = selection.build((), columns=columns, lines=lines)
        paths = _input_files(validator, files, input_format)
        refuse_overwriting(output, paths)
        describe_inputs(paths)
        from billing_rules.cli import progress

        # Rows, rows/s and time left on stderr, only for a person at a terminal and a large input.
        bar = progress.start(validator, paths) if verbosity() >= 0 else None
        try:
            info = prepare_files(validator, paths, output, input_format=input_format, progress=bar)
        finally:
            if bar is not None:
                bar.close()
    invoices = "facture lisible" if info.events < 2 else "factures lisibles"
    sources = "fichier" if len(info.files) < 2 else "fichiers"
    click.echo(f"{info.events} {invoices} de {len(info.files)} {sources}, préparées dans « {output} ».")
    if info.input_errors:
        report = Report(events=info.events, findings=(), input_errors=info.input_errors, files=info.files)
        for line in input_error_lines(report):
            click.echo(line)
        click.echo("Ces lignes figureront dans le rapport de chaque contrôle du fichier préparé.")
    raise click.exceptions.Exit(EXIT_FINDINGS if info.input_errors else EXIT_OK)
