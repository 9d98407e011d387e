"""``billing-rules ledger``: load, export, measure and prune the ledger; ``check --ledger`` glue.

Every subcommand takes ``--ledger FICHIER|URL`` (or the ``BILLING_RULES_LEDGER`` environment
variable). Exports use the SPEC §1 columns, so a ledger can always be read back by this tool or any
other: nothing is locked in. The files themselves are :mod:`billing_rules.ledger.exchange`'s: JSON
Lines is the exact copy to re-import, CSV is for spreadsheets.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from billing_rules.cli.group import (
    EXIT_FINDINGS,
    EXIT_OK,
    _debug_option,
    _require_files,
    _say,
    _stop_on_error,
    main,
)
from billing_rules.cli.inputs import refuse_duplicates
from billing_rules.cli.options import (
    PluginSelection,
    column_options,
    parse_day,
    parse_period,
    plugin_options,
    text_or_json_option,
)
from billing_rules.cli.output import (
    check_output,
    inform,
    output_option,
    report_output,
    verbosity_options,
)

EXPORT_FORMATS = ("csv", "jsonl")
"""Formats of ``ledger export`` (written by :func:`billing_rules.ledger.exchange.write_export`)."""

if TYPE_CHECKING:
    from billing_rules.api.validator import Validator
    from billing_rules.ledger import Ledger, LedgerStats
    from billing_rules.model import Event, Report

_MAX_ERRORS_SHOWN = 20


def check_with_ledger(
    validator: Validator,
    files: list[str],
    input_format: str | None,
    target: str,
    record: bool,
    *,
    engine: str = "row",
    master: str | None = None,
    progress: Any = None,
) -> Report:
    """``check --ledger [--record]``: the check with the ledger's history, then the recording.

    ``progress``: the progress line, for the relational engine's columnar reader.
    """
    from billing_rules.ledger import open_ledger

    ledger = open_ledger(target, readonly=not record)  # nothing written: read-only media work
    try:
        if engine == "row":
            report = validator.check_paths(files, input_format=input_format, ledger=ledger, record=record)
        else:
            from billing_rules.engines.relational import api

            report = api.check_paths(
                validator,
                files,
                input_format=input_format,
                ledger=ledger,
                record=record,
                engine=engine,
                master=master,
                progress=progress,
            )
    finally:
        ledger.close()
    if record:
        noun = "facture enregistrée" if report.events < 2 else "factures enregistrées"
        inform(f"registre {ledger.label} : {report.events} {noun}")
    return report


def _ledger_option(function: Any) -> Any:
    return click.option(
        "--ledger",
        "target",
        required=True,
        envvar="BILLING_RULES_LEDGER",
        metavar="FICHIER|URL",
        help="Le registre : fichier SQLite ou URL postgresql://... (ou la variable BILLING_RULES_LEDGER).",
    )(function)


@main.group(name="ledger")
def ledger_group() -> None:
    """Gérer le registre des factures passées (SQLite ou PostgreSQL).

    Le registre garde les factures déjà contrôlées : « check --ledger » les compte dans les fenêtres
    des règles (2e VL du trimestre, 21e SNP de la semaine, 2e IMT du patient...).
    """


@ledger_group.command("import")
@click.argument("files", nargs=-1, required=True, metavar="FICHIER...")
@_ledger_option
@click.option(
    "--input-format",
    default=None,
    metavar="FORMAT",
    help="Format des fichiers (csv, json, jsonl, parquet, ou celui d'une extension), au lieu de le "
    "déduire de l'extension.",
)
@verbosity_options
@column_options
@plugin_options
@_debug_option
def ledger_import(
    files: tuple[str, ...],
    target: str,
    input_format: str | None,
    columns: dict[str, str],
    lines: bool,
    selection: PluginSelection,
    debug: bool,
) -> None:
    """Charge des factures passées dans le registre, sans les contrôler.

    Une transaction par fichier ; une facture déjà présente (même praticien, même numéro) est
    remplacée. Les lignes illisibles ne sont pas chargées et sont signalées (code de sortie 1),
    comme celles dont une valeur commence par l'apostrophe de protection d'un export CSV pour
    tableur (' devant = + - @) : relue telle quelle, elle ne serait plus la valeur d'origine
    (un patient « '-P9 » n'est pas « -P9 »). Pour recharger un export du registre : « ledger
    export --format jsonl » (exact).
    """
    from billing_rules.ledger import open_ledger
    from billing_rules.ledger.exchange import PROTECTED
    from billing_rules.ledger.sqlite import SqliteLedger
    from billing_rules.model import Event, InputError
    from billing_rules.readers import InputStream
    from billing_rules.readers.base import ROW_FIELD

    errors: list[InputError] = []
    with _stop_on_error(debug):
        _require_files(files)
        refuse_duplicates(files)
        # Read as ``check`` reads: the plugins' formats, the practice's columns and facts.
        readers = selection.readers(columns)
        # Every file's header is read before the ledger is opened: a file that cannot be read at
        # all is refused with nothing imported, and leaves no new, empty ledger behind.
        _check_starts(files, input_format, readers)
        stream = iter(InputStream(list(files), input_format=input_format, readers=readers, lines=lines))
        first = list(itertools.islice(stream, 1))  # standard input too, when it comes first
        with contextlib.closing(open_ledger(target)) as ledger:
            try:
                started = time.perf_counter()
                total = 0
                # One transaction per file; one stream for all, so duplicates across files are flagged.
                for _file, items in itertools.groupby(
                    itertools.chain(first, stream), key=lambda item: item.file
                ):
                    total += ledger.record(_readable(items, errors, Event, InputError))
                elapsed = time.perf_counter() - started
            except BaseException:
                # What the checks above cannot see (standard input after a file, a file that
                # cannot be opened): a ledger this command created is removed while still empty.
                if isinstance(ledger, SqliteLedger):
                    ledger.discard_if_new()
                raise
    seconds = f"{elapsed:.1f}".replace(".", ",")
    rate = f" ({total / elapsed:,.0f} factures/s)".replace(",", "\u202f") if elapsed > 0 and total else ""
    inform(f"{total} factures importées dans {ledger.label} en {seconds} s{rate}")
    for error in errors[:_MAX_ERRORS_SHOWN]:
        where = f"{error.file} ligne {error.line}" if error.line is not None else f"{error.file}"
        if error.field != ROW_FIELD:  # a whole line that cannot be read has no field to name
            where += f", champ {error.field}"
        _say(f"{where} : {error.message} (non importée)")
    if len(errors) > _MAX_ERRORS_SHOWN:
        _say(f"... et {len(errors) - _MAX_ERRORS_SHOWN} autres erreurs")
    if any(error.message == PROTECTED for error in errors):
        _say(
            "ces factures viennent d'un export CSV pour tableur (apostrophe de protection) : "
            "réexportez le registre avec « ledger export --format jsonl » pour une copie exacte"
        )
    raise click.exceptions.Exit(EXIT_FINDINGS if errors else EXIT_OK)


def _check_starts(files: tuple[str, ...], input_format: str | None, readers: dict[str, Any]) -> None:
    """Read the start of every file as its import will (a CSV header, a JSON file's first row).

    Raises the reader's :class:`~billing_rules.errors.ReadError` for a file that cannot be read
    at all (missing required columns, no header, not JSON...), before the ledger is opened. Only
    the start is read: the rows are read once, by the import. Standard input can only be read
    once, in its turn; a file that cannot be opened is said in the reader's words in its turn.
    """
    from billing_rules.readers.stream import STDIN, reader_for

    for source in files:
        if source == STDIN:
            continue
        reader = reader_for(source, input_format, readers)
        try:
            stream = open(source, "rb")  # closed by the with below
        except OSError:
            continue
        with stream:
            open_table = getattr(reader, "table", None)
            if open_table is not None and open_table(stream, source) is not None:
                continue
            rows = iter(reader.rows(stream, source))
            try:
                next(rows, None)
            finally:
                close = getattr(rows, "close", None)
                if close is not None:
                    close()


def _readable(items: Any, errors: list[Any], event_type: type, error_type: type) -> Iterator[Event]:
    """The invoices among ``items``; the input errors go to ``errors``.

    An invoice with a value protected for spreadsheets (``'-P9``: see
    :func:`billing_rules.ledger.exchange.protected_fields`) is an input error on each such field,
    and is not imported.
    """
    from billing_rules.ledger.exchange import PROTECTED, protected_fields

    for item in items:
        if not isinstance(item, event_type):
            errors.append(item)
            continue
        protected = protected_fields(item)
        if not protected:
            yield item
            continue
        errors.extend(
            error_type(
                line=item.line, field=field, message=PROTECTED, file=item.file, invoice_id=item.invoice_id
            )
            for field in protected
        )


@ledger_group.command("export")
@_ledger_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(EXPORT_FORMATS),
    default="csv",
    show_default=True,
    help="csv (colonnes de la SPEC, séparateur « ; », pour un tableur) ou jsonl (un objet JSON par "
    "ligne : copie exacte, à réimporter avec « ledger import »).",
)
@output_option
@click.option(
    "--raw",
    is_flag=True,
    help="CSV tel quel, octet pour octet (pour un programme) : sans l'apostrophe ajoutée devant les "
    "cellules qui commencent par = + - @ (protection des tableurs contre les formules). Sans --raw, "
    "le CSV est pour un tableur et ne se relit pas à l'identique.",
)
@click.option("--practitioner", default=None, metavar="ID", help="Seulement les factures de ce praticien.")
@click.option("--since", default=None, metavar="DATE", help="Seulement les factures de cette date ou après.")
@click.option("--until", default=None, metavar="DATE", help="Seulement les factures de cette date ou avant.")
@_debug_option
def ledger_export(
    target: str,
    output_format: str,
    output: str | None,
    raw: bool,
    practitioner: str | None,
    since: str | None,
    until: str | None,
    debug: bool,
) -> None:
    """Exporte les factures du registre (annulées comprises), par date.

    Rien n'est enfermé dans le registre. Pour une sauvegarde ou un registre neuf, exportez en JSON
    Lines (--format jsonl) : toujours exact, il se relit avec « ledger import » ou « check ». En CSV,
    une cellule qui commence par = + - @ reçoit une apostrophe devant, comme dans le rapport CSV,
    pour qu'un tableur ne l'exécute pas comme une formule : ce CSV est fait pour être lu, pas
    relu (« ledger import » refuse ces cellules) ; --raw l'exporte tel quel, exact pour un
    programme mais dangereux à ouvrir dans un tableur.
    """
    from billing_rules.ledger import open_ledger
    from billing_rules.ledger.exchange import write_export

    start, end = parse_period(since, until)
    with _stop_on_error(debug):
        check_output(output)
        # Read-only, and without the integrity check: exporting what is readable is how a damaged
        # ledger is recovered.
        opened = open_ledger(target, create=False, readonly=True, verify=False)
        with contextlib.closing(opened) as ledger:
            selection = {"practitioner_id": practitioner, "start": start, "end": end}
            source, damaged = _readable_part(ledger, exact=output_format == "jsonl" or raw)
            with report_output(output, newline="") as stream:
                write_export(source, selection, output_format, stream, raw=raw)
    if damaged:
        raise click.exceptions.Exit(EXIT_FINDINGS)  # an incomplete export: not a clean 0


def _readable_part(ledger: Ledger, *, exact: bool) -> tuple[Any, bool]:
    """The ledger itself, or, when it is damaged, what can still be read of it.

    Damaged: SQLite's full integrity check fails, or a stored text is not valid UTF-8 (which that
    check does not see, and which would stop the export at that row). ``exact``: the export
    reads back exactly (JSON Lines, raw CSV); otherwise the message says which one does.
    """
    from billing_rules.ledger.exchange import SalvagedEvents
    from billing_rules.ledger.sqlite import SqliteLedger

    # The full check: an index that no longer matches its table (which quick_check misses) would
    # make the export by date skip or repeat rows; salvage reads the table alone.
    if not isinstance(ledger, SqliteLedger) or not (ledger.integrity() or _undecodable(ledger)):
        return ledger, False
    salvaged = ledger.salvage()
    transcribed = ""
    if salvaged.transcribed:
        transcribed = (
            f" ; {salvaged.transcribed} d'entre elles avaient un texte qui n'est pas de l'UTF-8 valide, "
            "exporté avec ses octets illisibles écrits \\xNN"
        )
    again = "« ledger import »" if exact else "« ledger export --format jsonl » puis « ledger import »"
    _say(
        f"registre « {ledger.label} » endommagé : export de ce qui est lisible, {len(salvaged.events)} "
        f"factures (au moins {salvaged.lost} illisibles), dans l'ordre du fichier et non par date"
        f"{transcribed} ; pour un registre neuf : {again}"
    )
    return SalvagedEvents(salvaged.events), True


def _undecodable(ledger: Any) -> bool:
    """Whether a stored text of an intact SQLite ledger is not valid UTF-8."""
    from billing_rules.ledger import LedgerError

    try:
        return bool(ledger.undecodable())
    except LedgerError:
        return True  # the scan itself fails: read what can be


@ledger_group.command("stats")
@_ledger_option
@text_or_json_option()
@output_option
@_debug_option
def ledger_stats(target: str, output_format: str, output: str | None, debug: bool) -> None:
    """Volumes du registre : factures par praticien et par mois, période couverte."""
    from billing_rules.ledger import open_ledger

    with _stop_on_error(debug):
        check_output(output)
        with contextlib.closing(open_ledger(target, create=False, readonly=True)) as ledger:
            stats = ledger.stats()
        with report_output(output) as stream:
            if output_format == "json":
                json.dump(stats_to_json(stats), stream, ensure_ascii=False, indent=2)
                stream.write("\n")
            else:
                from billing_rules.reporters.terminal import printable_lines

                text = _stats_text(ledger.label, stats)  # practitioner ids as stored: from the input
                stream.write("\n".join(printable_lines(text.split("\n"))))


def stats_to_json(stats: LedgerStats) -> dict[str, Any]:
    """``ledger stats --format json``."""
    return {
        "invoices": stats.invoices,
        "cancelled": stats.cancelled,
        "first_date": stats.first_date.isoformat() if stats.first_date else None,
        "last_date": stats.last_date.isoformat() if stats.last_date else None,
        "schema_version": stats.schema_version,
        "per_month": [
            {"practitioner_id": practitioner, "month": month, "invoices": count}
            for practitioner, month, count in stats.per_month
        ],
    }


def _stats_text(label: str, stats: LedgerStats) -> str:
    lines = [f"Registre : {label} (schéma {stats.schema_version})"]
    lines.append(f"Factures : {stats.invoices} (dont {stats.cancelled} annulées)")
    if stats.first_date is None or stats.last_date is None:
        lines.append("Période  : (registre vide)")
        return "\n".join(lines) + "\n"
    lines.append(f"Période  : du {stats.first_date:%d/%m/%Y} au {stats.last_date:%d/%m/%Y}")
    lines.append("")
    rows = [("PRATICIEN", "MOIS", "FACTURES")] + [(p, m, str(n)) for p, m, n in stats.per_month]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        lines.append(f"{row[0].ljust(widths[0])}  {row[1].ljust(widths[1])}  {row[2].rjust(widths[2])}")
    return "\n".join(lines) + "\n"


@ledger_group.command("check")
@_ledger_option
@_debug_option
def ledger_check(target: str, debug: bool) -> None:
    """Vérifie l'intégrité du registre (contrôle complet de SQLite, textes lisibles), sans rien y écrire.

    Code de sortie : 0 si le registre est intact, 1 s'il est endommagé, 2 s'il ne peut pas être lu.
    """
    from billing_rules.ledger import open_ledger
    from billing_rules.ledger.sqlite import SqliteLedger, damaged_message

    with _stop_on_error(debug), contextlib.ExitStack() as stack:
        ledger = stack.enter_context(
            contextlib.closing(open_ledger(target, create=False, readonly=True, verify=False))
        )
        if not isinstance(ledger, SqliteLedger):
            _say(f"registre {ledger.label} : l'intégrité d'une base PostgreSQL est garantie par le serveur")
            raise click.exceptions.Exit(EXIT_OK)
        problems = ledger.integrity()
        # Texts that are not UTF-8 pass SQLite's check and fail every reading of their row.
        texts = {} if problems else ledger.undecodable()
    if problems:
        noun = "problème" if len(problems) == 1 else "problèmes"
        more = "au moins " if len(problems) >= 100 else ""
        _say(f"{damaged_message(ledger.label)} ; {more}{len(problems)} {noun} relevés par SQLite")
        raise click.exceptions.Exit(EXIT_FINDINGS)
    if texts:
        where = ", ".join(
            f"{column} ({count} ligne{'s' if count > 1 else ''})" for column, count in texts.items()
        )
        _say(f"{damaged_message(ledger.label, undecodable=True)} ; textes illisibles : {where}")
        raise click.exceptions.Exit(EXIT_FINDINGS)
    _say(f"registre « {ledger.label} » intact (contrôle d'intégrité complet de SQLite, textes lisibles)")
    raise click.exceptions.Exit(EXIT_OK)


@ledger_group.command("forget")
@_ledger_option
@click.option(
    "--before", required=True, metavar="DATE", help="Supprime les factures datées avant ce jour (AAAA-MM-JJ)."
)
@_debug_option
def ledger_forget(target: str, before: str, debug: bool) -> None:
    """Supprime les factures anciennes (durée de conservation des données de santé).

    Les fenêtres des règles n'ont besoin que de l'année civile précédente et des 12 derniers mois ;
    les règles « une fois par patient » (IMT, VL de première inscription) ne verront plus les
    factures supprimées.
    """
    from billing_rules.ledger import open_ledger

    day = parse_day(before, "--before")
    with _stop_on_error(debug), contextlib.closing(open_ledger(target, create=False)) as ledger:
        deleted = ledger.forget(day)
    _say(f"{deleted} factures antérieures au {day:%d/%m/%Y} supprimées de {ledger.label}")
    floor = _window_floor(dt.date.today())
    if day > floor:
        _say(
            f"attention : les fenêtres des règles remontent jusqu'au {floor:%d/%m/%Y} ; des dépassements "
            "de fréquence ne seront plus détectés"
        )


def _window_floor(today: dt.date) -> dt.date:
    """The earliest day a calendar-year or 12-month window open today reaches back to."""
    from billing_rules.domain.calendar import rolling_start

    return min(dt.date(today.year, 1, 1), rolling_start(today, "months", 12) + dt.timedelta(days=1))
