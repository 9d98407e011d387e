"""Which plugins, which practice config and which rules a command uses.

``--plugin`` / ``--no-plugins`` / ``--config`` / ``--isolated``, and ``--select`` / ``--ignore`` /
``--extend-select``.

Kept apart from the command modules so that ``cli/__init__.py`` can import it at the top without a
circular import; it imports only click and attrs, like the rest of the CLI's import path.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import click

if TYPE_CHECKING:
    from billing_rules.api.validator import Validator
    from billing_rules.config import PracticeConfig
    from billing_rules.model import Report
    from billing_rules.readers.columns import ColumnMapping
    from billing_rules.selection import Selectors

F = TypeVar("F", bound=Callable[..., Any])


@attrs.frozen
class PluginSelection:
    """What the user asked for on the command line; resolved against the practice config."""

    plugins: tuple[str, ...] = ()
    no_plugins: bool = False
    config_path: str | None = None
    isolated: bool = False
    selectors: Selectors | None = None
    """``--select`` / ``--extend-select`` / ``--ignore``, applied after the configuration's."""

    def config(self) -> PracticeConfig | None:
        """The ``--config`` file, else the nearest ``billing-rules.toml`` / ``[tool.billing-rules]``.

        None with ``--isolated``: no configuration file is read at all.
        """
        if self.isolated:
            return None
        from billing_rules.config import find_config, load_config

        path = self.config_path or find_config()
        return load_config(path) if path is not None else None

    def effective_config(self) -> PracticeConfig | None:
        """The configuration with the command line's rule selection on top (None: neither)."""
        config = self.config()
        if self.selectors is None or self.selectors.empty:
            return config
        from billing_rules.config import PracticeConfig

        return (config or PracticeConfig()).with_selectors(self.selectors)

    def entry_points(self, config: PracticeConfig | None) -> bool | Sequence[str]:
        """Command line first (``--no-plugins``, ``--plugin``), then the config, then everything."""
        if self.no_plugins:
            return False
        if self.plugins:
            return list(self.plugins)
        if config is not None and config.plugins_enable is not None:
            return list(config.plugins_enable)
        return True

    def readers(self, columns: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The input formats these choices load, reading as ``check`` reads (no rule is compiled).

        For the commands that read billing files without checking them (``ledger import``): the
        plugins' formats, the practice's ``[columns]`` under ``--column``, its facts.
        """
        from billing_rules.api.plugin_items import input_readers
        from billing_rules.plugins import make_plugin_manager

        config = self.config()
        manager = make_plugin_manager(
            entry_points=self.entry_points(config),
            blocked=config.plugins_disable if config is not None else (),
        )
        return input_readers(manager, config, command_line_mapping(columns))

    def announce(self, config: PracticeConfig | None, announce: bool = True) -> None:
        """Say on stderr which configuration is used (none: only with ``-v``)."""
        from billing_rules.cli.output import detail, inform

        if config is None or config.path is None:
            detail("configuration : aucune" + (" (--isolated)" if self.isolated else ""))
        elif announce:
            inform(f"configuration : {config.path}")

    def build(
        self,
        rule_files: Sequence[str],
        *,
        announce: bool = True,
        columns: Mapping[str, str] | None = None,
        lines: bool = False,
    ) -> Validator:
        """The validator these choices describe; says on stderr which configuration it used.

        ``columns`` (``--column``) and ``lines`` (``--lines``): how the input files are laid out
        (SPEC §1b); ``--column`` wins over the config's ``[columns]``.
        """
        from billing_rules.api.validator import Validator

        # Only what was asked: the plain call stays exactly what the CLI made before these options.
        layout: dict[str, Any] = {}
        if columns:
            layout["columns"] = command_line_mapping(columns)
        if lines:
            layout["lines"] = True
        config = self.effective_config()
        entry_points = self.entry_points(config)
        self.announce(config, announce)
        if config is None:
            # The plain call, exactly what the CLI made before configs existed.
            validator = Validator.build(rule_files=list(rule_files), entry_points=entry_points, **layout)
        else:
            validator = Validator.build(
                rule_files=list(rule_files), entry_points=entry_points, config=config, **layout
            )
        if announce:
            describe_validator(validator)
        return validator


def describe_validator(validator: Any) -> None:
    """``-v``: the plugins and the rules a command uses, on stderr (what a bug report needs)."""
    from billing_rules.cli.output import detail, verbosity

    if verbosity() < 1:
        return
    manager = getattr(validator, "manager", None)
    if manager is not None:
        from billing_rules.plugins import plugin_infos

        names = sorted({f"{info.name} {info.version or ''}".strip() for info in plugin_infos(manager)})
        detail(f"extensions : {', '.join(names) or 'aucune'}")
    codes = [info.code for info in validator.rules]
    detail(f"règles appliquées ({len(codes)}) : {', '.join(codes)}")


def plugin_options(function: F) -> F:
    """Add ``--plugin``, ``--no-plugins`` and ``--config``; the command receives ``selection``."""

    @functools.wraps(function)
    def wrapper(
        *args: Any,
        plugin_names: tuple[str, ...],
        no_plugins: bool,
        config_path: str | None,
        isolated: bool,
        **kwargs: Any,
    ) -> Any:
        if plugin_names and no_plugins:
            raise click.UsageError("--plugin et --no-plugins s'excluent")
        if isolated and config_path is not None:
            raise click.UsageError("--config et --isolated s'excluent (--isolated : aucune configuration)")
        selection = PluginSelection(
            plugins=tuple(plugin_names), no_plugins=no_plugins, config_path=config_path, isolated=isolated
        )
        return function(*args, selection=selection, **kwargs)

    wrapper = click.option(
        "--isolated",
        is_flag=True,
        help="Ignore tout fichier de configuration (billing-rules.toml, pyproject.toml).",
    )(wrapper)
    wrapper = click.option(
        "--config",
        "config_path",
        metavar="FICHIER",
        default=None,
        help="Configuration du cabinet (billing-rules.toml ou pyproject.toml) ; par défaut, la plus "
        "proche du dossier courant.",
    )(wrapper)
    wrapper = click.option(
        "--no-plugins",
        is_flag=True,
        help="Ne charge aucune extension installée (règles intégrées seulement).",
    )(wrapper)
    wrapper = click.option(
        "--plugin",
        "plugin_names",
        multiple=True,
        metavar="NOM",
        help="Charge seulement cette extension installée (répétable) ; voir billing-rules plugins.",
    )(wrapper)
    return wrapper  # type: ignore[return-value]


def rule_selection_options(function: F) -> F:
    """Add ``--select``, ``--extend-select`` and ``--ignore`` (ruff's meaning; SPEC §3).

    Goes under :func:`plugin_options`: it puts the selection into the ``selection`` that decorator
    builds, so the command still receives one ``selection``.
    """

    @functools.wraps(function)
    def wrapper(
        *args: Any,
        select: tuple[str, ...],
        extend_select: tuple[str, ...],
        ignore: tuple[str, ...],
        selection: PluginSelection,
        **kwargs: Any,
    ) -> Any:
        from billing_rules.selection import Selectors, split_codes

        chosen = split_codes(select) if select else None
        if chosen == ():
            raise click.UsageError("--select vide : indiquez au moins un code de règle (ou ALL)")
        layer = Selectors(select=chosen, extend_select=split_codes(extend_select), ignore=split_codes(ignore))
        return function(*args, selection=attrs.evolve(selection, selectors=layer), **kwargs)

    for name, help_text in (
        ("--ignore", "Règles à ne pas appliquer : codes ou préfixes (SNP-), séparés par des virgules."),
        ("--extend-select", "Règles à ajouter à la sélection (configuration ou --select)."),
        (
            "--select",
            "Seulement ces règles : codes, préfixes (SNP-) ou ALL, séparés par des virgules ; remplace "
            "la sélection de la configuration. Le code ou préfixe le plus précis l'emporte.",
        ),
    ):
        wrapper = click.option(name, multiple=True, metavar="CODES", help=help_text)(wrapper)
    return wrapper  # type: ignore[return-value]


def command_line_mapping(columns: Mapping[str, str] | None) -> ColumnMapping | None:
    """The ``--column`` mapping, None when none was given (strict: each header must be in the file)."""
    if not columns:
        return None
    from billing_rules.readers.columns import ColumnMapping

    return ColumnMapping(explicit=dict(columns), strict=frozenset(columns))


def _parse_columns(ctx: click.Context, param: click.Parameter, values: Sequence[str]) -> dict[str, str]:
    """``--column FIELD=HEADER`` values of a billing file as field -> header (:func:`parse_columns`)."""
    return parse_columns(values)


def parse_columns(values: Sequence[str], *, also: Sequence[str] = (), also_where: str = "") -> dict[str, str]:
    """``--column FIELD=HEADER`` values as field -> header.

    An unknown field, or one field given two headers (SPEC §1b: two headers for one field), is a
    usage error (exit 2) naming them; the same header given twice is harmless. ``also``: fields a
    command reads beyond a billing file's (``forfait``'s patient list), named in the error as
    those of ``also_where``.
    """
    if not values:
        return {}
    from billing_rules.readers.columns import MAPPABLE, normalize

    known = (*MAPPABLE, *also)
    explicit: dict[str, str] = {}
    for value in values:
        field, sep, header = value.partition("=")
        field = field.strip()
        if not sep or not header.strip():
            raise click.BadParameter(f'« {value} » : attendu CHAMP=EN-TÊTE, par exemple invoice_id="N° FSE"')
        if field not in known:
            more = f" ; {also_where} seulement : {', '.join(also)}" if also else ""
            raise click.BadParameter(
                f"champ inconnu « {field} » (champs possibles : {', '.join(MAPPABLE)}{more})"
            )
        earlier = explicit.get(field)
        if earlier is not None and normalize(earlier) != normalize(header):
            raise click.BadParameter(
                f"le champ {field} est attribué à deux colonnes : « {earlier.strip()} » et "
                f"« {header.strip()} » ; indiquez-en une seule"
            )
        explicit[field] = header
    return explicit


_COLUMN_HELP = (
    "Lit le champ CHAMP dans la colonne EN-TÊTE du fichier, par exemple "
    '--column patient_id="Identifiant assuré" (répétable ; l\'emporte sur [columns] et sur les '
    "noms reconnus d'office). Voir billing-rules columns FICHIER."
)


def column_options(
    function: F | None = None,
    *,
    callback: Callable[[click.Context, click.Parameter, Sequence[str]], dict[str, str]] = _parse_columns,
    help: str = _COLUMN_HELP,
) -> Any:
    """Add ``--column FIELD=HEADER`` (repeatable) and ``--lines``; the command receives both.

    ``@column_options`` for a billing file; ``@column_options(callback=..., help=...)`` for a
    command whose files have fields of their own (``forfait``'s patient list).
    """

    def decorate(function: F) -> F:
        function = click.option(
            "--lines",
            is_flag=True,
            help="Une ligne par acte : les lignes sont regroupées en factures par (practitioner_id, "
            "invoice_id) avant le contrôle (automatique quand une colonne « code » remplace « codes »).",
        )(function)
        return click.option(
            "--column", "columns", multiple=True, metavar="CHAMP=EN-TÊTE", callback=callback, help=help
        )(function)

    return decorate if function is None else decorate(function)


def incomplete_notice(report: Report) -> str | None:
    """The stderr line saying a check was incomplete (a rule or plugin crashed on some invoices).

    Such invoices carry an INTERNAL-ERROR finding of severity error, so the exit code is 1 like for
    an input error (an invoice not fully checked); this line says so in words, and still appears
    with ``--fail-on never``, where SPEC §4 fixes the exit code at 0.
    """
    from billing_rules.engines.findings import INTERNAL_ERROR

    invoices = {
        (finding.file, finding.invoice_id) for finding in report.findings if finding.rule == INTERNAL_ERROR
    }
    if not invoices:
        return None
    noun = "facture n'a" if len(invoices) == 1 else "factures n'ont"
    return (
        f"attention : contrôle incomplet : {len(invoices)} {noun} pas été entièrement vérifiée(s) "
        f"(constats {INTERNAL_ERROR} : une règle ou une extension a échoué)"
    )


class FormatName(click.ParamType):
    """``--format``: a built-in report format, or the name of one an installed plugin registers.

    Plugin formats are known only once plugins load, which ``--help`` must not pay for; a name that
    no loaded reporter claims is refused after loading, before any data is read.
    """

    name = "format"

    def __init__(self, builtin: Sequence[str]) -> None:
        self.builtin = tuple(builtin)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        """The choices as click shows them, plus the plugins' formats."""
        return "[" + "|".join((*self.builtin, "NOM")) + "]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """Any plain name; the built-in ones are checked by their exact spelling."""
        text = str(value).strip()
        if not text or not text.replace("-", "").replace("_", "").isalnum():
            self.fail(f"format de rapport invalide « {value} »", param, ctx)
        return text


def plugin_reporter(validator: Any, name: str, builtin: Sequence[str]) -> Any:
    """The plugin reporter called ``name``, None for a built-in format; unknown names are an error."""
    if name in builtin:
        return None
    reporters = getattr(validator, "reporters", {})
    reporter = reporters.get(name)
    if reporter is None:
        from billing_rules.errors import BillingRulesError

        known = ", ".join(sorted({*builtin, *reporters}))
        raise BillingRulesError(f"format de rapport inconnu « {name} » (formats : {known})")
    return reporter


def text_or_json_option(help_text: str = "text : lisible ; json : pour les programmes.") -> Callable[[F], F]:
    """``--format text|json`` of the listing commands (``rules list``, ``plugins``, ``ledger stats``)."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(("text", "json")),
        default="text",
        show_default=True,
        help=help_text,
    )


def parse_day(value: str, option: str | None = None) -> dt.date:
    """A date given on the command line, ISO or French (``2025-01-01``, ``01/01/2025``).

    ``option`` (``--since``...) is named in the error, so the user knows which date to fix.
    """
    text = value.strip()
    for parse in (dt.date.fromisoformat, lambda item: dt.datetime.strptime(item, "%d/%m/%Y").date()):
        try:
            return parse(text)
        except ValueError:
            continue
    raise click.BadParameter(
        f"date invalide « {value} » (attendu : AAAA-MM-JJ ou JJ/MM/AAAA)", param_hint=option
    )


def parse_period(
    since: str | None, until: str | None, *, hints: tuple[str, str] = ("--since", "--until")
) -> tuple[dt.date | None, dt.date | None]:
    """The two ends of a period given on the command line; a period that ends before it starts is refused."""
    start = parse_day(since, hints[0]) if since else None
    end = parse_day(until, hints[1]) if until else None
    if start is not None and end is not None and end < start:
        raise click.BadParameter("la fin de la période précède son début", param_hint=hints[1])
    return start, end


#: ``--input-format`` of the commands that read billing files as ``check`` does (``check``, ``prepare``).
input_format_option = click.option(
    "--input-format",
    default=None,
    metavar="FORMAT",
    help="Format des fichiers d'entrée (csv, json, jsonl, parquet, ou celui d'une extension), au lieu de le "
    "déduire de l'extension du fichier.",
)
