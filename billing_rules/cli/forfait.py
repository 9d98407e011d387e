"""``billing-rules forfait``: the yearly forfait médecin traitant and its levers (SPEC §6).

The patientèle comes from a patient list file, or from the invoice history (the ledger, or billing
files given with ``--invoices``): the patients whose latest invoice with the practitioner says he
is their MT on 31 December. With a history, the command also lists the concrete candidates behind
the levers (ALD patients without MT seen 3 times, unused quarterly VL, visits without VSP).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import click

from billing_rules.cli.group import (
    EXIT_FINDINGS,
    EXIT_OK,
    _debug_option,
    _require_files,
    _rules_option,
    _say,
    _stop_on_error,
    main,
)
from billing_rules.cli.inputs import refuse_duplicates
from billing_rules.cli.options import PluginSelection, column_options, plugin_options
from billing_rules.cli.output import (
    check_output,
    describe_inputs,
    output_option,
    report_output,
    verbosity_options,
)
from billing_rules.errors import BillingRulesError

if TYPE_CHECKING:
    from billing_rules.domain.forfait.estimate import ForfaitEstimate
    from billing_rules.model import Event

FORFAIT_FORMATS = ("text", "json", "html")
"""Output formats of ``forfait``."""

MAX_WHAT_IF = 1_000_000
"""--what-if-ald / --what-if-80 at most: far beyond any practice's list, within exact arithmetic."""

_KIND_LABELS = {
    "mt_declare": "Patients en ALD sans médecin traitant vus 3 fois ou plus en 12 mois",
    "vl_quarter": (
        "Patients de 80 ans et plus en ALD, ou en ALD pour une maladie neurodégénérative, sans VL dans "
        "un trimestre"
    ),
    "vsp": "Patients en soins palliatifs visités sans VSP",
    "not_seen": (
        "Patients médecin traitant sans facture depuis le 01/01/{previous} : à revoir avant le 31/12/{year}"
    ),
}
"""Heading of each lever's patients; ``{year}``, ``{previous}``: the forfait's year, the one before."""


def ledger_events(path: str, start: dt.date | None = None, until: dt.date | None = None) -> list[Event]:
    """The ledger's invoices from ``start`` to ``until`` (both optional), of every practitioner.

    Not only the practitioner's own: a VL of the quarter and a change of MT count whoever billed them.
    """
    import contextlib

    from billing_rules.ledger import open_ledger

    with contextlib.closing(open_ledger(path, create=False, readonly=True)) as ledger:
        return list(ledger.events(start=start, end=until))


def invoice_events(
    paths: Sequence[str], input_format: str | None, readers: Any = None, lines: bool = False
) -> tuple[list[Event], list[Any]]:
    """The readable invoices of billing files, and the input errors of the rows that are not.

    ``readers``: the input formats, reading as ``check`` reads (``PluginSelection.readers``: the
    plugins' formats, the practice's columns and facts); ``lines``: one line per act (SPEC §1b).
    """
    from billing_rules.model import Event
    from billing_rules.readers import InputStream

    events: list[Event] = []
    errors: list[Any] = []
    for item in InputStream(list(paths), input_format=input_format, readers=readers, lines=lines):
        if isinstance(item, Event):
            events.append(item)
        else:
            errors.append(item)
    return events, errors


def _input_errors_json(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """``input_errors`` of the JSON report, entry for entry as ``check --format json`` writes them."""
    entries = []
    for error in errors:
        entry: dict[str, Any] = {"line": error.line, "field": error.field, "message": error.message}
        file = getattr(error, "file", None)
        if file is not None:
            entry["file"] = file
        entries.append(entry)
    return entries


def _only_practitioner(events: Sequence[Event], practitioner: str | None) -> str:
    """The practitioner to estimate for: the one asked, or the only one of the history."""
    ids = sorted({event.practitioner_id for event in events})
    if practitioner is not None:
        if practitioner not in ids:
            raise BillingRulesError(f"aucune facture du praticien « {practitioner} » dans l'historique")
        return practitioner
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise BillingRulesError("l'historique ne contient aucune facture")
    raise BillingRulesError(
        f"l'historique contient {len(ids)} praticiens : précisez lequel avec --practitioner "
        f"({', '.join(ids[:5])}{'…' if len(ids) > 5 else ''})"
    )


PATIENT_FIELDS = ("c2s", "last_seen")
"""The patient list's own fields (SPEC §6), which ``--column`` of ``forfait`` maps too.

Spelled here, not imported: the CLI's import path loads click alone (a test checks they are
:data:`billing_rules.domain.forfait.patients.OWN_FIELDS`).
"""


def _parse_patient_columns(
    ctx: click.Context, param: click.Parameter, values: Sequence[str]
) -> dict[str, str]:
    """``--column`` of ``forfait``: the billing fields, and the patient list's ``c2s``, ``last_seen``."""
    from billing_rules.cli.options import parse_columns

    return parse_columns(values, also=PATIENT_FIELDS, also_where="du fichier PATIENTS")


@main.command("forfait")
@click.argument("patients", required=False, metavar="[PATIENTS]")
@click.option(
    "--year",
    type=click.IntRange(2017, 2100),
    default=None,
    metavar="ANNÉE",
    help="Année du forfait (par défaut : l'année en cours).",
)
@click.option(
    "--ledger",
    "ledger_path",
    metavar="CHEMIN",
    default=None,
    help="Registre des factures (fichier SQLite ou URL postgresql://...) : patientèle MT et historique.",
)
@click.option(
    "--invoices",
    multiple=True,
    metavar="FICHIER",
    help="Fichier de facturation servant d'historique (au lieu du registre). Répétable.",
)
@click.option(
    "--practitioner", default=None, metavar="ID", help="Praticien (RPPS) dont on calcule le forfait."
)
@click.option(
    "--what-if-ald",
    type=click.IntRange(0, MAX_WHAT_IF),
    default=0,
    metavar="N",
    help="Simulation : N patients en ALD (moins de 80 ans) de plus.",
)
@click.option(
    "--what-if-80",
    type=click.IntRange(0, MAX_WHAT_IF),
    default=0,
    metavar="N",
    help="Simulation : N patients de 80 ans et plus (hors ALD) de plus.",
)
@click.option(
    "--rosp-points",
    type=click.FloatRange(0),
    default=None,
    metavar="POINTS",
    help="Points ROSP obtenus (années ≤ 2025) : valeur selon la taille de la patientèle.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORFAIT_FORMATS),
    default="text",
    help="Format : text (par défaut), json ou html.",
)
@click.option(
    "--input-format",
    default=None,
    metavar="FORMAT",
    help="Format des fichiers d'entrée, au lieu de le déduire de l'extension : csv, json ou jsonl pour "
    "la liste PATIENTS ; csv, json, jsonl, parquet ou le format d'une extension pour --invoices.",
)
@column_options(
    callback=_parse_patient_columns,
    help="Lit le champ CHAMP dans la colonne EN-TÊTE du fichier PATIENTS (patient_id, birth_date, ald, "
    'c2s, last_seen) ou des factures de --invoices, par exemple --column patient_id="N° dossier" '
    "(répétable ; l'emporte sur [columns] et sur les noms reconnus d'office).",
)
@_rules_option
@output_option
@verbosity_options
@plugin_options
@_debug_option
def forfait(
    patients: str | None,
    year: int | None,
    ledger_path: str | None,
    invoices: tuple[str, ...],
    practitioner: str | None,
    what_if_ald: int,
    what_if_80: int,
    rosp_points: float | None,
    output_format: str,
    input_format: str | None,
    columns: dict[str, str],
    lines: bool,
    rule_files: tuple[str, ...],
    output: str | None,
    debug: bool,
    selection: PluginSelection,
) -> None:
    """Estime le forfait médecin traitant annuel d'une patientèle.

    PATIENTS : fichier CSV ou JSON (colonnes patient_id, birth_date, ald, c2s, last_seen ; les
    en-têtes des logiciels de cabinet, « N° patient », « Date de naissance »..., sont reconnus
    comme dans les fichiers de facturation, et --column lit les autres). Sans lui, la
    patientèle MT au 31 décembre est tirée de l'historique (--ledger ou --invoices) : les patients
    dont la dernière facture chez le praticien le désigne comme médecin traitant. Avec un
    historique, la commande liste aussi les patients à qui proposer l'acte manquant.

    Exemple : billing-rules forfait patients.csv --year 2025 --what-if-ald 10
    """
    sources = sum(bool(item) for item in (patients, ledger_path, invoices))
    if sources != 1:
        raise click.UsageError("indiquez soit un fichier PATIENTS, soit --ledger, soit --invoices (un seul)")
    the_year = year or dt.date.today().year
    status = EXIT_OK
    with _stop_on_error(debug):
        from billing_rules.domain.forfait.estimate import estimate
        from billing_rules.domain.forfait.levers import find_candidates, mt_patientele
        from billing_rules.domain.forfait.patients import read_patients, split_columns

        _require_files(tuple(rule_files) + ((patients,) if patients else ()) + invoices)
        refuse_duplicates(invoices)
        check_output(output)
        config = selection.config()
        tables = selection.build(rule_files).ruleset.environment.forfaits
        if patients or invoices:
            describe_inputs([patients] if patients else list(invoices))
        candidates: list[Any] = []
        input_errors: list[Any] = []
        # The doctor's facts (FMT majorations): the practitioner asked, or the history's only one.
        facts = _facts(config, practitioner)
        if patients:
            people, errors = read_patients(
                patients,
                input_format=input_format,
                columns=columns,
                practice=config.columns if config is not None else None,
                practice_own=config.patient_columns if config is not None else None,
            )
            input_errors = list(errors)
            for error in errors:
                # Located as check and ledger import locate theirs: the file, then the line.
                where = patients if error.line is None else f"{patients}, ligne {error.line}"
                _say(f"{where} — colonne {error.field} : {error.message}")
            if errors:
                status = EXIT_FINDINGS
        else:
            if ledger_path:
                events = ledger_events(ledger_path)
            else:
                shared, own = split_columns(columns)
                if own:
                    raise click.UsageError(
                        f"--column {', '.join(own)} : champ(s) du fichier PATIENTS seulement, sans effet "
                        "sur les factures de --invoices"
                    )
                readers = selection.readers(shared)
                events, input_errors = invoice_events(invoices, input_format, readers, lines)
                if input_errors:
                    named = dict.fromkeys(error.file for error in input_errors if error.file is not None)
                    where = f" ({', '.join(named)})" if named else ""
                    _say(
                        f"{len(input_errors)} erreur(s) de saisie dans l'historique{where} : lignes "
                        "ignorées (voir check)"
                    )
                    status = EXIT_FINDINGS
            who = _only_practitioner(events, practitioner)
            if not any(event.practitioner_id == who and event.date.year <= the_year for event in events):
                _say(f"aucune facture de ce praticien jusqu'au 31/12/{the_year} : patientèle vide")
            people = mt_patientele(events, who, the_year)
            facts = _facts(config, who)
            candidates = find_candidates(events, tables, who, the_year, practitioner=facts)
        result = estimate(
            tables,
            people,
            the_year,
            rosp_points=_points(rosp_points),
            what_if_ald=what_if_ald,
            what_if_80=what_if_80,
            candidates=candidates,
            practitioner=facts,
        )
        with report_output(output) as stream:
            if output_format == "json":
                import json

                from billing_rules.domain.forfait.estimate import estimate_to_dict

                document = estimate_to_dict(result)
                document["input_errors"] = _input_errors_json(input_errors)  # as check reports them
                json.dump(document, stream, ensure_ascii=False, indent=2)
                stream.write("\n")
            elif output_format == "html":
                from billing_rules.reporters.html_report import render_forfait

                stream.write(render_forfait(result))
            else:
                from billing_rules.reporters.terminal import printable_lines

                for line in printable_lines(text_lines(result)):  # patient ids from the input
                    stream.write(line + "\n")
    raise click.exceptions.Exit(status)


def _facts(config: Any, practitioner: str | None) -> Any:
    """The doctor's facts for the FMT majorations: the configuration's, when it gives any."""
    from billing_rules.domain.forfait.tables import PractitionerFacts

    if config is None:
        return None
    facts = config.facts_for(practitioner)
    if facts.birth_date is None and facts.zip is None and facts.installed_on is None:
        return None
    return PractitionerFacts(
        birth_date=facts.birth_date, zip=bool(facts.zip), installed_on=facts.installed_on
    )


def text_lines(result: ForfaitEstimate) -> Iterator[str]:
    """The French text report of an estimate, line by line."""
    from billing_rules.domain.forfait.tables import format_rate
    from billing_rules.money import format_euros

    scheme = (
        "FPMT (forfait patientèle médecin traitant)"
        if result.scheme == "FPMT"
        else "FMT (forfait médecin traitant)"
    )
    yield f"Forfait médecin traitant {result.year} — {scheme}"
    yield f"Patientèle MT au 31/12/{result.year} : {result.patients} patient(s)"
    yield ""
    rows = [
        (
            line.label + ("" if line.settled else " (non confirmé)"),
            str(line.patients),
            format_euros(line.amount_per_patient),
            format_euros(line.total),
        )
        for line in result.categories
    ]
    for majoration in result.majorations:
        mark = "" if majoration.settled else " (non confirmé)"
        if majoration.rate is not None:
            rows.append(
                (majoration.label + mark, "", format_rate(majoration.rate), format_euros(majoration.total))
            )
        else:
            per_patient = format_euros(majoration.amount_per_patient or 0)
            count = str(majoration.patients)
            rows.append((majoration.label + mark, count, per_patient, format_euros(majoration.total)))
    header = ("Catégorie", "Patients", "Par patient", "Total")
    widths = [max(len(row[index]) for row in [header, *rows]) for index in range(4)]
    for row in [header, *rows]:
        yield (
            f"  {row[0].ljust(widths[0])}  {row[1].rjust(widths[1])}  {row[2].rjust(widths[2])}  "
            f"{row[3].rjust(widths[3])}"
        )
    total = format_euros(result.total)
    count = str(result.patients).rjust(widths[1])
    yield f"  {'Total annuel'.ljust(widths[0])}  {count}  {''.rjust(widths[2])}  {total.rjust(widths[3])}"
    if result.rosp is not None:
        yield ""
        scale = f"{result.rosp.scale:.4f}".rstrip("0").rstrip(".").replace(".", ",")
        yield (
            f"ROSP : {_number(result.rosp.points)} point(s) × {scale} "
            f"(patientèle {result.rosp.patientele} / 800, minimum 1) × 7 € "
            f"= {format_euros(result.rosp.value)}"
        )
    if result.what_if:
        yield ""
        yield "Simulations"
        for lever in result.what_if:
            who = "en ALD (moins de 80 ans)" if lever.lever == "ald" else "de 80 ans et plus hors ALD"
            text = (
                f"  {lever.patients} patient(s) {who} de plus : {format_euros(lever.total)} par an "
                f"({lever.patients} × {format_euros(lever.amount_per_patient)}"
            )
            if lever.majoration_rate:
                # The doctor's rates scale the lever as they scale the total (SPEC §6).
                text += f", majorations {format_rate(lever.majoration_rate)}"
            if lever.rosp_gain:
                text += f", dont ROSP {format_euros(lever.rosp_gain)}"
            text += ")" + ("" if lever.settled else " (non confirmé)")
            yield text
    if result.candidates:
        yield ""
        yield "Patients à qui proposer l'acte"
        for kind, label in _KIND_LABELS.items():
            items = [item for item in result.candidates if item.kind == kind]
            if not items:
                continue
            heading = label.format(year=result.year, previous=result.year - 1)
            if kind == "not_seen":
                # The whole lever in one figure: what the year's forfait loses if none is seen.
                at_stake = sum((item.yearly for item in items), Decimal("0"))
                yield f"  {heading} ({len(items)} ; {format_euros(at_stake)} par an en jeu)"
            else:
                yield f"  {heading} ({len(items)})"
            for item in items:
                if item.amount or not item.yearly:
                    money = format_euros(item.amount)
                    if item.yearly:
                        money += f" + {format_euros(item.yearly)} par an"
                else:
                    money = f"{format_euros(item.yearly)} par an"
                yield f"    {item.patient_id} — {item.act} : {money} — {item.message}"
    if result.notes:
        yield ""
        yield "Notes"
        for note in result.notes:
            yield f"  - {note}"


def _number(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text.replace(".", ",")


TREND_DAYS = 60
"""Days of ledger history shown before the input's first finding in the HTML trend."""


def html_reporter_with_ledger(report: Any, target: str) -> Any:
    """The HTML reporter of ``check --ledger``: its trend also shows the ledger's recent days."""
    from billing_rules.reporters.html_report import HtmlReporter

    days = [finding.date for finding in report.findings]
    if not days:
        return HtmlReporter()
    start = min(days) - dt.timedelta(days=TREND_DAYS)
    return HtmlReporter(history=ledger_events(target, start, max(days)))


def _points(value: float | None) -> Decimal | None:
    """``5.0`` from the command line is 5 points, shown as ``5``, not ``5,0``."""
    if value is None:
        return None
    return Decimal(int(value)) if value == int(value) else Decimal(str(value))
