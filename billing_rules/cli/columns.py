"""``--column FIELD=HEADER`` / ``--lines`` and ``billing-rules columns FILE`` (SPEC §1b).

The options are shared by every command that reads billing files (``check``, ``ledger import``,
``forfait --invoices``, ``columns``); ``columns`` shows how a file's headers are understood and
writes the configuration lines that would fix a missing field, which is where the missing-column
error of ``check`` sends the user.
"""

from __future__ import annotations

import difflib
import json
from typing import TYPE_CHECKING, Any

import click

from billing_rules.cli.group import (
    EXIT_FINDINGS,
    EXIT_OK,
    INPUT_FORMATS,
    _debug_option,
    _require_files,
    _say,
    _stop_on_error,
    main,
)
from billing_rules.cli.options import column_options, command_line_mapping, text_or_json_option
from billing_rules.cli.output import check_output, output_option, report_output

if TYPE_CHECKING:
    from billing_rules.readers.columns import ColumnError, ColumnMapping, HeaderResolution


def practice_mapping(columns: dict[str, str], config_path: str | None = None) -> ColumnMapping:
    """``--column`` over the config's ``[columns]`` / ``[values]`` (the nearest config by default).

    For the commands that read billing files without building a validator (``ledger import``,
    ``forfait --invoices``, ``columns``).
    """
    from billing_rules.config import find_config, load_config
    from billing_rules.readers.columns import DEFAULT_MAPPING

    path = config_path or find_config()
    base = load_config(path).columns if path is not None else DEFAULT_MAPPING
    return base.merged(command_line_mapping(columns))


# --------------------------------------------------------------------------------------------------
# billing-rules columns FILE

_HOW = {
    "spec": "nom SPEC",
    "alias": "nom reconnu d'office",
    "explicit": "correspondance [columns] / --column",
}
_PLACEHOLDER = "NOM DE LA COLONNE"


def read_header(
    path: str, input_format: str | None, mapping: ColumnMapping, problems: list[ColumnError] | None = None
) -> tuple[list[str], HeaderResolution]:
    """The header of a billing file as written, and how ``mapping`` understands it.

    A JSON file has no header: the keys of its first objects (up to a hundred) stand for it.
    ``problems`` collects two columns for one field instead of raising (see
    :meth:`~billing_rules.readers.columns.ColumnMapping.resolve`): the user runs ``columns`` to
    see how the headers map, precisely when they do not.
    """
    from billing_rules.readers import reader_for
    from billing_rules.readers.csv_reader import CsvReader
    from billing_rules.readers.json_reader import JsonLinesReader, JsonReader

    reader = reader_for(path, input_format)
    if not isinstance(reader, (CsvReader, JsonReader, JsonLinesReader)):  # Parquet: its schema's names
        header = parquet_header(path)
        return header, mapping.resolve(header, path, problems)
    with open(path, "rb") as stream:
        if isinstance(reader, CsvReader):
            header, resolution = CsvReader(mapping).header(stream, path, problems)
            mapping.check_present(resolution, path)
            return header, resolution
        raw = JsonReader(None) if isinstance(reader, JsonReader) else JsonLinesReader(None)
        keys: dict[str, None] = {}
        for count, row in enumerate(raw.rows(stream, path)):
            keys.update(dict.fromkeys(row.values))
            if count >= 99:
                break
    header = list(keys)
    return header, mapping.resolve(header, path, problems)


def parquet_header(path: str) -> list[str]:
    """The column names of a Parquet file's schema, as ``check`` would read them.

    Raises:
        ReadError: polars (the ``batch`` extra) is missing, or the file is not readable Parquet.
    """
    from billing_rules.errors import ReadError
    from billing_rules.readers.base import file_label
    from billing_rules.readers.parquet_reader import MISSING_POLARS

    try:
        import polars as pl
    except ImportError:
        raise ReadError(MISSING_POLARS) from None
    try:
        return list(pl.read_parquet_schema(path))
    except (pl.exceptions.PolarsError, OSError, ValueError):
        raise ReadError(
            f"{file_label(path)} : pas un fichier Parquet lisible (abîmé ou d'un autre format)"
        ) from None


def _suggestion(field: str, resolution: HeaderResolution) -> str:
    """The file's unused header that most looks like ``field``, or a placeholder."""
    from billing_rules.readers.aliases import ALIAS_TEXT
    from billing_rules.readers.columns import normalize

    unused = {
        normalize(column.header): column.header for column in resolution.columns if column.how == "extra"
    }
    names = [normalize(name) for name in (field, *ALIAS_TEXT.get(field, ()))]
    best = (0.0, _PLACEHOLDER)
    for key, header in unused.items():
        if not key:
            continue
        score = max(difflib.SequenceMatcher(None, key, name).ratio() for name in names)
        if score > best[0]:
            best = (score, header)
    return best[1] if best[0] >= 0.6 else _PLACEHOLDER


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a TOML basic string is a JSON string


def columns_report(
    path: str, resolution: HeaderResolution, lines: bool, problems: list[ColumnError] | None = None
) -> dict[str, Any]:
    """What ``billing-rules columns`` says about a file, as data (its ``--format json``).

    ``ambiguous`` lists the fields two columns claim (with ``problems``, the clashes' messages):
    such a field is not "missing", and no configuration line is guessed for it, since which
    column holds it is the practice's to say.
    """
    from billing_rules.readers.columns import AMBIGUOUS, FIELDS

    by_field = {column.field: column.header for column in resolution.columns if column.field is not None}
    entries = []
    for column in resolution.columns:
        entry: dict[str, Any] = {"header": column.header, "field": column.field, "how": column.how}
        if column.claimed is not None:
            entry["claimed"] = column.claimed
            if column.how != AMBIGUOUS:
                entry["read_from"] = by_field.get(column.claimed)
        entry["values_mapped"] = bool(column.values)
        entries.append(entry)
    clashing: dict[str, list[str]] = {}
    for column in resolution.columns:
        if column.how == AMBIGUOUS and column.claimed is not None:
            clashing.setdefault(column.claimed, []).append(column.header.strip())
    claimed = set(clashing)
    missing = [field for field in resolution.missing() if field not in claimed]
    fixes = {field: _suggestion(field, resolution) for field in missing}
    unused = [column.header.strip() for column in resolution.columns if column.how == "extra"]
    config = ""
    if fixes:
        config = "[columns]\n"
        for field, header in fixes.items():
            hint = f"  # une de : {', '.join(unused)}" if header == _PLACEHOLDER and unused else ""
            config += f"{field} = {_toml_string(header)}{hint}\n"
    present = set(by_field) | claimed | ({"codes"} if "code" in by_field else set())
    return {
        "file": path,
        "per_act": lines or resolution.per_act,
        "columns": entries,
        "missing": missing,
        "absent_optional": [
            field for field in FIELDS if field not in present and field not in missing and field != "code"
        ],
        "config": config,
        "options": [f"--column {field}={_shell(header)}" for field, header in fixes.items()],
        "ambiguous": [{"field": field, "headers": headers} for field, headers in clashing.items()],
        "errors": [str(problem) for problem in problems or ()],
    }


def _shell(text: str) -> str:
    import shlex

    return shlex.quote(text)


def columns_text(report: dict[str, Any]) -> list[str]:
    """The report of ``billing-rules columns`` for people, in French."""
    layout = (
        "une ligne par acte : les lignes sont regroupées en factures par (practitioner_id, invoice_id)"
        if report["per_act"]
        else "une ligne par facture"
    )
    lines = [f"{report['file']} : {len(report['columns'])} colonnes, {layout}", ""]
    width = max([len(entry["header"].strip()) for entry in report["columns"]] + [10])
    field_width = max([len(entry["field"] or "") for entry in report["columns"]] + [6])
    for entry in report["columns"]:
        header = entry["header"].strip() or "(sans nom)"
        if entry["how"] == "ambiguous":
            meaning = f"→ AMBIGUË : une autre colonne désigne aussi {entry['claimed']} (aucune n'est lue)"
        elif entry["field"] is not None:
            meaning = f"→ {entry['field'].ljust(field_width)}  ({_HOW[entry['how']]}"
            meaning += ", valeurs traduites)" if entry["values_mapped"] else ")"
        elif entry["how"] == "replaced":
            where = (entry.get("read_from") or "?").strip()
            meaning = f"→ ignorée ({entry['claimed']} est lu dans « {where} »)"
        elif entry["how"] == "empty":
            meaning = "→ ignorée (colonne sans nom)"
        else:
            meaning = "→ ignorée (colonne supplémentaire, gardée pour les extensions)"
        lines.append(f"  {header.ljust(width)}  {meaning}")
    lines.append("")
    if report["absent_optional"]:
        lines.append(
            f"Champs facultatifs absents (valeur par défaut) : {', '.join(report['absent_optional'])}"
        )
    for clash in report["ambiguous"]:
        headers = " et ".join(f"« {header} »" for header in clash["headers"])
        lines.append(
            f"Champ {clash['field']} désigné par plusieurs colonnes ({headers}) : le fichier ne peut pas "
            "être contrôlé tant que [columns] ou --column n'indique pas laquelle lire."
        )
    if not report["missing"]:
        if not report["ambiguous"]:
            lines.append("Tous les champs obligatoires sont présents : le fichier peut être contrôlé.")
        return lines
    lines += [
        f"Champs obligatoires absents : {', '.join(report['missing'])}",
        "",
        "Pour les lire dans vos colonnes, ajoutez à billing-rules.toml (remplacez le nom de colonne si "
        "besoin) :",
        "",
        *report["config"].rstrip("\n").splitlines(),
        "",
        "ou, pour une seule commande : " + " ".join(report["options"]),
    ]
    return lines


def _prepared_file(file: str, input_format: str | None, output_format: str, output: str | None) -> bool:
    """Say so when ``file`` is a prepared file (``prepare``): its columns are the engines', not to map."""
    from billing_rules.readers import reader_for
    from billing_rules.readers.parquet_reader import ParquetReader
    from billing_rules.readers.prepared import prepared_info

    if not isinstance(reader_for(file, input_format), ParquetReader):
        return False
    info = prepared_info(file)
    if info is None:
        return False
    with report_output(output) as stream:
        if output_format == "json":
            json.dump({"file": file, "prepared": True, "files": list(info.files)}, stream, ensure_ascii=False)
            stream.write("\n")
        else:
            from billing_rules.reporters.terminal import printable_lines

            text = (
                f"{file} : fichier préparé (billing-rules prepare) depuis {', '.join(info.files)} ; ses "
                "colonnes sont déjà lues et vérifiées : il se contrôle tel quel."
            )
            stream.write("\n".join(printable_lines([text])) + "\n")  # file names as written
    return True


@main.command("columns")
@click.argument("file", metavar="FICHIER")
@column_options
@click.option(
    "--input-format",
    type=click.Choice(INPUT_FORMATS),
    default=None,
    help="Format du fichier, au lieu de le déduire de son extension.",
)
@click.option(
    "--config",
    "config_path",
    metavar="FICHIER",
    default=None,
    help="Configuration du cabinet (billing-rules.toml ou pyproject.toml) ; par défaut, la plus proche "
    "du dossier courant.",
)
@text_or_json_option()
@output_option
@_debug_option
def columns_command(
    file: str,
    columns: dict[str, str],
    lines: bool,
    input_format: str | None,
    config_path: str | None,
    output_format: str,
    output: str | None,
    debug: bool,
) -> None:
    """Montre comment chaque colonne d'un fichier de facturation est comprise.

    Pour chaque en-tête : le champ lu (nom SPEC, nom reconnu d'office comme « N° facture » ou
    « Date de l'acte », ou correspondance [columns] / --column), ou « ignorée ». Puis les champs
    obligatoires absents et les lignes de configuration qui les liraient. Code de sortie : 0 si le
    fichier peut être contrôlé, 1 s'il manque un champ obligatoire, 2 si l'en-tête est illisible ou
    ambigu (deux colonnes pour un champ : le tableau est affiché, les colonnes en cause marquées,
    puis l'erreur, comme check la donnerait).
    """
    with _stop_on_error(debug):
        if file == "-":
            raise click.UsageError("billing-rules columns lit un fichier, pas l'entrée standard")
        _require_files((file,))
        check_output(output)
        if _prepared_file(file, input_format, output_format, output):
            raise click.exceptions.Exit(EXIT_OK)
        mapping = practice_mapping(columns, config_path)
        problems: list[ColumnError] = []
        _header, resolution = read_header(file, input_format, mapping, problems)
        report = columns_report(file, resolution, lines, problems)
        with report_output(output) as stream:
            if output_format == "json":
                json.dump(report, stream, ensure_ascii=False, indent=2)
                stream.write("\n")
            else:
                from billing_rules.reporters.terminal import printable_lines

                stream.write("\n".join(printable_lines(columns_text(report))) + "\n")  # the file's headers
        if problems:
            # After the table, as check would say it (exit 2, SPEC §1b/§4): the file cannot be checked.
            for problem in problems[:-1]:
                _say(f"erreur : {problem}")
            raise problems[-1]
    raise click.exceptions.Exit(EXIT_FINDINGS if report["missing"] else EXIT_OK)
