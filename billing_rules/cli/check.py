"""``billing-rules check FILE...``: the command billing staff run (SPEC §4), and its engine choice."""

from __future__ import annotations

import errno
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from billing_rules.cli.group import (
    REPORT_FORMATS,
    FailOn,
    _debug_option,
    _require_files,
    _rules_option,
    _say,
    _stop_on_error,
    exit_code,
    main,
    use_color,
)
from billing_rules.cli.inputs import refuse_overwriting
from billing_rules.cli.options import (
    FormatName,
    PluginSelection,
    column_options,
    incomplete_notice,
    input_format_option,
    plugin_options,
    plugin_reporter,
    rule_selection_options,
)
from billing_rules.cli.output import (
    check_output,
    color_option,
    describe_inputs,
    detail,
    output_option,
    report_output,
    verbosity,
    verbosity_options,
)
from billing_rules.engines.collector import batch_gc
from billing_rules.errors import BillingRulesError

if TYPE_CHECKING:
    from billing_rules.api.validator import Validator


def _engine_for(
    engine: str,
    validator: Validator,
    files: list[str],
    master: str | None = None,
    input_format: str | None = None,
) -> str:
    """``--engine``: the one asked for, or (``auto``) DuckDB for a large input when it can run the rules.

    An explicit ``--engine duckdb`` that cannot run (extra not installed, a rule it cannot compile)
    is an error naming the reason; ``auto`` then keeps the row engine, and the report says which ran.
    """
    from billing_rules.engines.choice import choose, relational_installed, spark_installed

    chosen = choose(engine, files, input_format)
    if chosen == "row":
        return chosen
    if chosen == "spark" and not spark_installed():
        raise BillingRulesError("--engine spark demande l'extra spark : pip install 'billing-rules[spark]'")
    if not relational_installed():
        raise BillingRulesError("--engine duckdb demande l'extra batch : pip install 'billing-rules[batch]'")
    from billing_rules.engines.relational.api import checker_for
    from billing_rules.engines.relational.plan import Unsupported

    try:
        checker_for(validator, chosen, master)
    except Unsupported:
        if engine == "auto":
            return "row"
        raise
    return chosen


@main.command()
@click.argument("files", nargs=-1, required=True, metavar="FICHIER...")
@click.option(
    "--format",
    "report_format",
    type=FormatName(REPORT_FORMATS),
    default="text",
    show_default=True,
    help="Format du rapport : text (lisible, en français), json (pour les programmes), jsonl (un constat "
    "par ligne, puis le résumé : pour les très gros rapports), csv (tableur, une "
    "ligne par constat) ou html (page autonome avec graphiques ; demande billing-rules[report]), ou le "
    "format d'une extension installée.",
)
@_rules_option
@click.option(
    "--fail-on",
    type=FailOn(),
    default="error",
    show_default=True,
    help="Gravité la plus basse qui donne le code de sortie 1 (en anglais ou en français : erreur, "
    "alerte, opportunité) ; never (jamais) : toujours 0.",
)
@input_format_option
@click.option(
    "--ledger",
    "ledger_target",
    default=None,
    metavar="FICHIER|URL",
    help="Registre des factures passées : fichier SQLite (créé s'il manque) ou URL postgresql://... ; "
    "ses factures comptent dans toutes les fenêtres (trimestre, semaine, année...).",
)
@click.option(
    "--record",
    is_flag=True,
    help="Après le contrôle, enregistre les factures lisibles dans le registre (une seule transaction "
    "pour tous les fichiers ; une facture déjà enregistrée est remplacée, jamais comptée deux fois).",
)
@click.option(
    "--statistics",
    is_flag=True,
    help="Au lieu des constats, un tableau par règle : nombre de constats et montant en euros "
    "(formats text, json ou csv).",
)
@output_option
@color_option
@verbosity_options
@column_options
@click.option(
    "--engine",
    type=click.Choice(("auto", "row", "duckdb", "spark")),
    default="auto",
    show_default=True,
    envvar="BILLING_RULES_ENGINE",
    help="Moteur : row (ligne à ligne, la référence), duckdb (colonnes, pour les gros volumes ; demande "
    "billing-rules[batch]), spark (Apache Spark, pour un cluster ; demande billing-rules[spark]) ; "
    "auto : duckdb à partir d'environ 75 000 lignes s'il est installé, row sinon.",
)
@click.option(
    "--master",
    default=None,
    metavar="URL",
    help="Avec --engine spark : le maître Spark (local[4], spark://hôte:7077, sc://hôte:15002 pour "
    "Spark Connect) ; par défaut SPARK_REMOTE s'il est défini, sinon local[2].",
)
@plugin_options
@rule_selection_options
@_debug_option
def check(
    files: tuple[str, ...],
    report_format: str,
    rule_files: tuple[str, ...],
    fail_on: str,
    input_format: str | None,
    ledger_target: str | None,
    record: bool,
    statistics: bool,
    output: str | None,
    color: str,
    columns: dict[str, str],
    lines: bool,
    engine: str,
    master: str | None,
    debug: bool,
    selection: PluginSelection,
) -> None:
    """Contrôle des fichiers de facturation et affiche le rapport.

    FICHIER peut être « - » (entrée standard) ou un dossier (ses fichiers .csv, .json, .jsonl, par
    ordre alphabétique, sans les sous-dossiers). Plusieurs fichiers sont lus comme une seule suite de
    factures. Code de sortie : 0 si rien n'atteint --fail-on et aucune ligne n'est illisible, 1
    sinon, 2 si rien n'a pu être contrôlé.
    """
    from billing_rules.reporters.statistics import FORMATS as STATISTICS_FORMATS

    if statistics and report_format not in STATISTICS_FORMATS:
        raise click.UsageError(
            f"--statistics s'écrit en {', '.join(STATISTICS_FORMATS)}, pas en {report_format}"
        )
    with _stop_on_error(debug):
        _require_files(rule_files, folders=files)
        check_output(output)
        if record and ledger_target is None:
            raise click.UsageError("--record demande --ledger (le registre où enregistrer les factures)")
        validator = selection.build(rule_files, columns=columns, lines=lines)
        extra_reporter = plugin_reporter(validator, report_format, REPORT_FORMATS)  # before reading data
        paths = _input_files(validator, files, input_format)
        refuse_overwriting(output, [*paths, *rule_files])
        describe_inputs(paths)
        from billing_rules.cli import progress

        # Rows, rows/s and time left on stderr, only for a person at a terminal and a large input.
        bar = progress.start(validator, paths) if verbosity() >= 0 else None
        try:
            if master is not None and engine != "spark":
                raise click.UsageError("--master ne sert qu'avec --engine spark")
            chosen = _engine_for(engine, validator, paths, master, input_format)
            if verbosity() >= 1:
                detail(f"moteur : {chosen}")  # row, duckdb or spark: the report's own name for it
            if ledger_target is None:
                if chosen == "row":
                    report = validator.check_paths(paths, input_format=input_format)
                else:
                    from billing_rules.engines.relational import api

                    report = api.check_paths(
                        validator,
                        paths,
                        input_format=input_format,
                        engine=chosen,
                        master=master,
                        progress=bar,
                    )
            else:
                from billing_rules.cli.ledger import check_with_ledger

                report = check_with_ledger(
                    validator,
                    paths,
                    input_format,
                    ledger_target,
                    record,
                    engine=chosen,
                    master=master,
                    progress=bar,
                )
        finally:
            if bar is not None:
                bar.close()
        notice = incomplete_notice(report)
        if notice is not None:
            _say(notice)
        newline = "" if report_format == "csv" else None  # the CSV writers choose CRLF themselves
        recorded = report.events if record else 0
        if statistics:
            from billing_rules.reporters import statistics as statistics_report

            with _recorded_anyway(recorded), report_output(output, newline=newline) as stream, batch_gc():
                statistics_report.render(report, stream, report_format)
            raise click.exceptions.Exit(exit_code(report, fail_on))
        from billing_rules.reporters import get_reporter

        reporter = extra_reporter or get_reporter(report_format)
        if report_format == "html" and ledger_target is not None:
            from billing_rules.cli.forfait import html_reporter_with_ledger

            reporter = html_reporter_with_ledger(report, ledger_target)
        # A report of many findings allocates hundreds of thousands of small texts, none in a
        # cycle: full collections over the check's objects were 40 % of writing the JSON of 1 M rows.
        with _recorded_anyway(recorded), report_output(output, newline=newline) as stream, batch_gc():
            reporter.render(report, stream, color=report_format == "text" and use_color(stream, color))
    raise click.exceptions.Exit(exit_code(report, fail_on))


@contextmanager
def _recorded_anyway(recorded: int) -> Iterator[None]:
    """Say that ``--record`` stored the invoices when the report then fails (a reporter plugin, a full disk).

    The ledger is committed before the report is written (SPEC §3: "after checking, store"), so the
    exit 2 that follows would otherwise leave staff unsure whether to record the day again. Recording
    it again is harmless (the same invoices replace themselves), and the message says so.
    """
    try:
        yield
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        raise
    except BaseException as exc:
        closed_pipe = isinstance(exc, OSError) and exc.errno == errno.EPIPE  # ``| head``: not a failure
        if recorded and not closed_pipe:
            kept = (
                "la facture reste enregistrée"
                if recorded < 2
                else f"les {recorded} factures restent enregistrées"
            )
            _say(
                f"le rapport n'a pas pu être écrit ; {kept} dans le registre "
                "(relancer la commande les remplace, sans les compter deux fois)"
            )
        raise


def _input_files(validator: Any, files: Sequence[str], input_format: str | None) -> list[str]:
    """The billing files to read: folders expanded, the same file twice refused (:mod:`.inputs`)."""
    from billing_rules.cli.inputs import expand, folder_extensions

    readers = getattr(validator, "readers", None)
    return expand(files, folder_extensions(readers, input_format))
