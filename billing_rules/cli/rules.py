"""``billing-rules rules list|show|check``: what the loaded rules are, and whether rule files are sound."""

from __future__ import annotations

import datetime as dt
import difflib
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import click

from billing_rules.cli.group import (
    EXIT_ERROR,
    _build_validator,
    _debug_option,
    _require_files,
    _rules_option,
    _say,
    _stop_on_error,
    main,
)
from billing_rules.cli.options import (
    PluginSelection,
    plugin_options,
    rule_selection_options,
    text_or_json_option,
)
from billing_rules.cli.output import (
    check_output,
    output_option,
    report_output,
    verbosity_options,
)

if TYPE_CHECKING:
    from billing_rules.api.validator import RuleInfo, Validator


@main.group()
def rules() -> None:
    """Consulter et vérifier les règles.

    Règles intégrées (NGAP), règles des extensions installées et fichiers de règles (DSL).
    """


_SEVERITY_WORDS = {"error": "erreur", "warning": "alerte", "opportunity": "opportunité"}


def _first_line(text: str) -> str:
    """The one-line summary of a possibly multi-line text."""
    stripped = text.strip()
    return stripped.splitlines()[0] if stripped else ""


def _french_day(value: str) -> str:
    """``2023-05-15`` → ``15/05/2023``; anything else is shown as written."""
    try:
        return dt.date.fromisoformat(value).strftime("%d/%m/%Y")
    except ValueError:
        return value


def _validity(info: RuleInfo) -> str:
    """The rule's dates in words: the period in which it applies to acts."""
    if info.valid_from and info.valid_until:
        return f"du {_french_day(info.valid_from)} au {_french_day(info.valid_until)}"
    if info.valid_from:
        return f"à partir du {_french_day(info.valid_from)}"
    if info.valid_until:
        return f"jusqu'au {_french_day(info.valid_until)}"
    return "sans limite de date"


def _rule_to_json(info: RuleInfo) -> dict[str, Any]:
    """``rules list --format json`` entry: stable English keys, like the check report."""
    return {
        "code": info.code,
        "severity": info.severity.value,
        "source": info.source,
        "summary": _first_line(info.summary),
        "valid_from": info.valid_from,
        "valid_until": info.valid_until,
        "citation": info.citation or None,
        "action": info.action or None,
        # Every alternative, the first whose condition holds being used (``action`` is the last).
        "actions": [
            {"condition": item.condition or None, "coding": item.coding or None, "text": item.text}
            for item in info.actions
        ]
        or ([{"condition": None, "coding": None, "text": info.action}] if info.action else []),
        "suggestions": [
            {"condition": item.condition or None, "coding": item.coding} for item in info.suggestions
        ],
    }


@rules.command("list")
@text_or_json_option("text : tableau lisible ; json : pour les programmes.")
@_rules_option
@output_option
@verbosity_options
@plugin_options
@rule_selection_options
@_debug_option
def rules_list(
    output_format: str,
    rule_files: tuple[str, ...],
    output: str | None,
    debug: bool,
    selection: PluginSelection,
) -> None:
    """Liste les règles chargées (celles que check appliquerait, avec --select/--ignore).

    Une ligne par règle : code, gravité, source et résumé.
    """
    with _stop_on_error(debug):
        _require_files(rule_files)
        check_output(output)
        infos = _build_validator(rule_files, entry_points=True, selection=selection).rules
        with report_output(output) as stream:
            if output_format == "json":
                json.dump([_rule_to_json(info) for info in infos], stream, ensure_ascii=False, indent=2)
                stream.write("\n")
            else:
                stream.write(_rules_table(infos))


def _rules_table(infos: Sequence[RuleInfo]) -> str:
    """``rules list``'s text: code, severity in French, source, summary, in aligned columns."""
    if not infos:
        return "Aucune règle chargée.\n"
    rows = [("CODE", "GRAVITÉ", "SOURCE", "RÉSUMÉ")] + [
        (info.code, _SEVERITY_WORDS[info.severity.value], info.source, _first_line(info.summary))
        for info in infos
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)]
        lines.append("  ".join([*cells, row[3]]).rstrip() + "\n")
    return "".join(lines)


@rules.command("show")
@click.argument("code")
@_rules_option
@output_option
@verbosity_options
@plugin_options
@_debug_option
def rules_show(
    code: str, rule_files: tuple[str, ...], output: str | None, debug: bool, selection: PluginSelection
) -> None:
    """Affiche le détail d'une règle.

    Gravité, source, période de validité, documentation (avec ses références) et texte DSL.
    """
    with _stop_on_error(debug):
        _require_files(rule_files)
        check_output(output)
        infos = _build_validator(rule_files, entry_points=True, selection=selection).rules
    by_code = {info.code.upper(): info for info in infos}
    info = by_code.get(code.strip().upper())
    if info is None:
        message = f"erreur : règle inconnue : « {code} »"
        close = difflib.get_close_matches(code.strip().upper(), list(by_code), n=3)
        if close:
            message += f" (vouliez-vous dire : {', '.join(close)} ?)"
        _say(message + " ; la liste complète : billing-rules rules list")
        raise click.exceptions.Exit(EXIT_ERROR)
    lines = [
        info.code,
        f"  Gravité  : {_SEVERITY_WORDS[info.severity.value]}",
        f"  Source   : {info.source}",
        f"  Validité : {_validity(info)}",
    ]
    if info.origin:
        lines.append(f"  Origine  : {info.origin}")
    lines.append(f"  Référence : {info.citation.strip() or '(aucune : la règle ne cite pas son texte)'}")
    lines += _advice(info)
    if info.summary.strip():
        lines += ["", "Résumé", info.summary.strip()]
    if info.doc.strip():
        lines += ["", "Documentation", info.doc.strip()]
    lines += ["", "Texte de la règle"]
    lines.append(info.text.rstrip() if info.text.strip() else "(règle écrite en Python : pas de texte DSL)")
    with _stop_on_error(debug), report_output(output) as stream:
        stream.write("\n".join(lines) + "\n")


_FIRST_THAT_HOLDS = "selon la facture, la première dont la condition tient :"


def _advice(info: RuleInfo) -> list[str]:
    """``rules show``'s « À faire » and « Suggère » lines: each alternative under its condition."""
    if len(info.actions) > 1:
        lines = [f"  À faire  : {_FIRST_THAT_HOLDS}"]
        for item in info.actions:
            lines.append(f"    - {_when(item.condition)} : {item.text.strip()}")
            if item.coding:
                lines.append(f"      codage corrigé : {item.coding}")
            lines += _falling(item.falling_majorations, "      ")
    else:
        lines = [f"  À faire  : {info.action.strip() or '(rien au-delà du message)'}"]
        lines += _falling(info.falling_majorations, "  ")
    if len(info.suggestions) == 1:
        lines.append(f"  Suggère  : {info.suggestions[0].coding}")
    elif info.suggestions:
        lines.append(f"  Suggère  : {_FIRST_THAT_HOLDS}")
        lines += [f"    - {_when(item.condition)} : {item.coding}" for item in info.suggestions]
    return lines


def _when(condition: str) -> str:
    return f"si {condition}" if condition else "sinon"


def _falling(majorations: tuple[tuple[str, tuple[str, ...]], ...], indent: str) -> list[str]:
    """``code SHE ... majoration of SNP, MRT``: what a recoding takes off besides its codes."""
    if not majorations:
        return []
    falling = " ; ".join(f"{code} (majoration de {' ou '.join(bases)})" for code, bases in majorations)
    return [
        f"{indent}Majorations : le codage corrigé retire aussi {falling} quand il ne garde aucun de ces codes"
    ]


@rules.command("check")
@click.argument("files", nargs=-1, required=True, metavar="FICHIER...")
@click.option(
    "--plugin",
    "plugin_names",
    multiple=True,
    metavar="NOM",
    help="Charge aussi cette extension installée, pour un fichier qui se sert de ses fonctions ou de "
    "ses codes (répétable). Par défaut, aucune extension.",
)
@_debug_option
def rules_check(files: tuple[str, ...], plugin_names: tuple[str, ...], debug: bool) -> None:
    """Vérifie des fichiers de règles (DSL) sans rien contrôler.

    Code de sortie : 0 si les règles sont valides, 2 sinon (l'erreur est située :
    fichier:ligne:colonne).
    """
    with _stop_on_error(debug):
        _require_files(files)
        # Only the plugins named: a broken plugin must not be blamed on the file being checked,
        # but a file written for a plugin (its functions, its codes) is checked with it. The
        # built-ins stay in, so a code that clashes with one of theirs is reported now.
        plugins = list(plugin_names) or False
        with_files = _build_validator(files, entry_points=plugins)
        baseline = _build_validator((), entry_points=plugins)
    count = len(with_files.rules) - len(baseline.rules)
    for warning in _missing_references(with_files, baseline):
        _say(warning)
    where = f"« {files[0]} »" if len(files) == 1 else f"{len(files)} fichiers"
    noun = "règle" if count < 2 else "règles"
    click.echo(f"règles valides : {count} {noun} dans {where}")


def _missing_references(with_files: Validator, baseline: Validator) -> list[str]:
    """Warnings for the checked files' rules without a citation or an action (SPEC §2).

    A warning, not an error: a third-party rule file without them still loads and runs; its
    findings then carry ``null``.
    """
    known = {info.code for info in baseline.rules}
    return missing_references(info for info in with_files.rules if info.code not in known)


def missing_references(infos: Iterable[RuleInfo]) -> list[str]:
    """One warning per missing citation or action of ``infos`` (``rules check``, ``plugins``)."""
    warnings = []
    for info in infos:
        where = info.origin or info.source
        missing = []
        if not info.citation.strip():
            missing.append('référence (clause source "..." : article, décision, date)')
        if not info.action.strip():
            missing.append('action (clause action "..." : le codage corrigé ou la preuve à garder)')
        for what in missing:
            warnings.append(f"avertissement : {where} : règle {info.code} sans {what}")
    return warnings
