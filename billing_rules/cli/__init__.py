"""The ``billing-rules`` command: a thin click layer over :class:`billing_rules.validator.Validator`.

Design choices that users and scripts rely on:

- stdout carries only the report; every message goes to stderr, so ``check --format json > out.json``
  always yields valid JSON or nothing.
- Exit codes are SPEC §4 (:data:`EXIT_OK`, :data:`EXIT_FINDINGS`, :data:`EXIT_ERROR`). A library error
  (:class:`~billing_rules.errors.BillingRulesError`) becomes one French line on stderr and exit 2; so
  does an unexpected crash, because exit 1 would tell a script "findings" when nothing was checked.
- Click's own words (usage, errors, help headings) are French too (:mod:`billing_rules.cli.french`),
  ``-h`` is ``--help`` everywhere, and the conventions of ruff and pytest hold: ``-o``, ``-q``/``-v``,
  ``--color``, ``--select``/``--ignore``, ``--statistics``, ``--isolated`` (:mod:`.output`,
  :mod:`.options`).
- Startup time matters (people run it from scripts, once per file): this module imports only click and
  the tiny ``errors`` module. The validator, readers, DSL and reporters are imported inside the command
  functions, so ``billing-rules --help`` never loads lark or the engine.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import errno
import io
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click

from billing_rules.cli.french import french_click
from billing_rules.cli.inputs import refuse_overwriting
from billing_rules.cli.options import (
    FormatName,
    PluginSelection,
    column_options,
    incomplete_notice,
    plugin_options,
    plugin_reporter,
    rule_selection_options,
    text_or_json_option,
)
from billing_rules.cli.output import (
    check_output,
    color_option,
    detail,
    output_option,
    report_output,
    verbosity,
    verbosity_options,
    wants_color,
)
from billing_rules.errors import BillingRulesError, ReadError

if TYPE_CHECKING:
    from billing_rules.model import Report
    from billing_rules.validator import RuleInfo, Validator

EXIT_OK = 0
"""Nothing at or above ``--fail-on`` and no input error (or ``--fail-on never``)."""

EXIT_FINDINGS = 1
"""Findings at or above ``--fail-on``, or input errors."""

EXIT_ERROR = 2
"""Nothing could be checked: usage error, unreadable file, invalid rule file, broken plugin."""

REPORT_FORMATS = ("text", "json", "jsonl", "csv", "html")
"""Names of the built-in reporters (kept here, not imported, to keep ``--help`` fast; a test checks
they match :data:`billing_rules.reporters.BUILTIN_REPORTERS`)."""

INPUT_FORMATS = ("csv", "json", "jsonl", "parquet")
"""Values of ``--input-format`` (SPEC §3)."""

FAIL_ON_CHOICES = ("error", "warning", "opportunity", "never")
"""Values of ``--fail-on``: a severity (that one and anything more serious fails), or ``never``."""

FRENCH_FAIL_ON = ("erreur", "alerte", "opportunité", "jamais")
"""The same values in French (SPEC §3), accepted with or without the accent, in any case."""

STDIN = "-"

_PROG = "billing-rules"
_HELP_TEXT = "Affiche cette aide et quitte."

F = TypeVar("F", bound=Callable[..., Any])


# --------------------------------------------------------------------------------------------------
# click plumbing: French help option on every command


class _HelpFormatter(click.HelpFormatter):
    """Click's help layout with French punctuation: « Options : », a space before the colon."""

    def write_heading(self, heading: str) -> None:
        """``Options :`` rather than ``Options:``."""
        self.write(f"{'':>{self.current_indent}}{heading} :\n")


class _Context(click.Context):
    """A click context whose help pages use :class:`_HelpFormatter`."""

    formatter_class = _HelpFormatter


class _Command(click.Command):
    """A click command whose ``--help`` option is described in French, like the rest of the help."""

    context_class = _Context

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        """Click's help option, with our wording."""
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = _HELP_TEXT
        return option


class _Group(_Command, click.Group):
    """A click group whose commands and subgroups get the French help option too.

    The top group also owns Ctrl-C: click would print "Aborted!" and exit 1, which SPEC §4 keeps
    for findings. A real SIGINT (see :mod:`billing_rules.interrupt`) gives exit 130 and a French
    line saying what was recorded: nothing, unless a ledger transaction had already committed.
    """

    command_class = _Command
    group_class = type  # subgroups are built with this same class

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("subcommand_metavar", "COMMANDE [ARGUMENTS]...")
        super().__init__(*args, **kwargs)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command line with click speaking French (usage, errors, help headings).

        The SIGINT handler that tells a real Ctrl-C from a plugin's is installed first, so that a
        Ctrl-C while click parses the arguments is exit 130 too, not click's "Aborted!" and 1.
        """
        from billing_rules import interrupt

        previous = interrupt.install()
        try:
            with french_click():
                return super().main(*args, **kwargs)
        finally:
            interrupt.restore(previous)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        """Click's parsing of the arguments, where a Ctrl-C is exit 130 as anywhere else."""
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt:
            _say(_interrupted_message(()))
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; Ctrl-C is exit 130 with what was recorded, a closed pipe exit 141."""
        if ctx.parent is not None:
            return super().invoke(ctx)
        from billing_rules import interrupt

        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _say(_interrupted_message(interrupt.commits()))
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except OSError as exc:
            # Writes outside a command's error handling (the report, once everything is checked).
            if exc.errno == errno.EPIPE:
                _silence_stdout()
                raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None
            if exc.errno in _FULL_DISK:
                _silence_stdout()
                _say(_describe(exc))
                raise click.exceptions.Exit(EXIT_ERROR) from None
            raise


EXIT_BROKEN_PIPE = 141
"""The reader of the output went away (``| head -1``): 128 + SIGPIPE, what ``cat`` or ``grep``
report under ``set -o pipefail``, silently. Neither 0 ("nothing found") nor 1 ("findings")."""

_FULL_DISK = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG})


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush at exit cannot fail again.

    The report's unwritten bytes are dropped: its reader is gone (broken pipe) or the disk is full
    (the command already says so). Without this, Python prints "Exception ignored ... BrokenPipeError"
    and exits 120.
    """
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


class FailOn(click.ParamType):
    """``--fail-on``: a severity or ``never``, in English or French (``erreur``, ``opportunite``...)."""

    name = "gravité"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        """Both languages' words, as click shows a choice."""
        return "[" + "|".join((*FAIL_ON_CHOICES, *FRENCH_FAIL_ON)) + "]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """The English value (``error``, ``warning``, ``opportunity``, ``never``) for any spelling."""
        from billing_rules.model import Severity

        text = str(value).strip()
        if text.lower() in ("never", "jamais"):
            return "never"
        try:
            return Severity(text).value
        except ValueError:
            self.fail(
                f"« {value} » n'est pas une gravité ({', '.join(FAIL_ON_CHOICES)} ; en français : "
                f"{', '.join(FRENCH_FAIL_ON)})",
                param,
                ctx,
            )


EXIT_INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT, as shells report it): neither "nothing found" nor "findings"."""


def _interrupted_message(commits: Sequence[str]) -> str:
    """What an interrupted command says: what its committed transactions wrote, if any.

    The ledgers note each commit themselves, with Ctrl-C held between the COMMIT and the note
    (:func:`billing_rules.interrupt.deferred`), so the message is true whenever the signal comes.
    """
    if commits:
        where = ", ".join(commits)
        return f"interrompu (Ctrl-C) : déjà enregistré dans le registre {where} ; le reste ne l'a pas été"
    return "interrompu (Ctrl-C) : rien n'a été enregistré"


def _debug_option(function: F) -> F:
    """``--debug``: show the Python traceback behind an error (for bug reports, not for users)."""
    return click.option(
        "--debug",
        is_flag=True,
        help="En cas d'erreur, affiche aussi la trace Python (pour signaler un bogue).",
    )(function)


def _rules_option(function: F) -> F:
    """``--rules FILE`` (repeatable): extra DSL rule files, on top of the built-in and plugin rules."""
    return click.option(
        "--rules",
        "rule_files",
        multiple=True,
        metavar="FICHIER",
        help="Fichier de règles supplémentaire (DSL), en plus des règles intégrées et des extensions. "
        "Répétable.",
    )(function)


# --------------------------------------------------------------------------------------------------
# Errors: one French line on stderr, exit 2


def _say(message: str) -> None:
    """A message for the user, on stderr (stdout is reserved for reports)."""
    click.echo(f"{_PROG} : {message}", err=True)


_OS_ERROR_TEXTS = {
    errno.ENOENT: "fichier introuvable",
    errno.EACCES: "accès refusé",
    errno.EPERM: "accès refusé",
    errno.EISDIR: "c'est un dossier, pas un fichier",
}


def _describe(exc: BaseException) -> str:
    """The French message for an error that stops a command."""
    if isinstance(exc, BillingRulesError):
        return f"erreur : {exc}"
    if isinstance(exc, OSError) and exc.errno in _FULL_DISK:
        where = f" « {exc.filename} »" if exc.filename is not None else " (sortie standard)"
        return f"erreur : disque plein : écriture impossible{where} ; le rapport est incomplet"
    if isinstance(exc, OSError):
        reason = _OS_ERROR_TEXTS.get(exc.errno or 0, exc.strerror or str(exc))
        if exc.filename is not None:
            return f"erreur : impossible de lire « {exc.filename} » : {reason}"
        return f"erreur : {reason}"
    if isinstance(exc, UnicodeError):
        return (
            "erreur : texte illisible (encodage inattendu) ; enregistrez le fichier en UTF-8 "
            "ou en Windows-1252"
        )
    return (
        f"erreur interne ({type(exc).__name__}) : {exc}. Relancez avec --debug et signalez le "
        "problème avec la trace affichée."
    )


@contextlib.contextmanager
def _stop_on_error(debug: bool) -> Iterator[None]:
    """Turn any error inside the block into a French message and exit 2 (SPEC §4).

    Click's own exits and usage errors pass through untouched (they already exit 2 for usage). An
    unexpected exception also exits 2, never 1: a crash must not look like "findings" to a script.
    """
    try:
        yield
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        raise
    except BaseException as exc:
        from billing_rules import interrupt

        if isinstance(exc, KeyboardInterrupt) and interrupt.is_real(exc):
            raise  # a real Ctrl-C: the top group says so and exits 130
        if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
            raise  # reader closed the pipe (``| head``): the top group exits quietly
        if isinstance(exc, OSError) and exc.errno in _FULL_DISK:
            _silence_stdout()
        if debug:
            traceback.print_exc(file=sys.stderr)
        _say(_describe(exc))
        raise click.exceptions.Exit(EXIT_ERROR) from exc


def _require_files(paths: Sequence[str], *, folders: Sequence[str] = ()) -> None:
    """Fail early, in French, on a missing file or a directory, before building any rule.

    The readers check too; doing it here gives the same message whatever reader is installed, and
    avoids compiling every rule only to find a typo in a file name. ``folders`` may also be
    directories (``check``'s billing files: a folder stands for the files in it).
    """
    for name in (*paths, *folders):
        if name == STDIN:
            continue
        path = Path(name)
        if not path.exists():
            raise ReadError(f"fichier introuvable : « {name} »")
    for name in paths:
        if name != STDIN and Path(name).is_dir():
            raise ReadError(f"« {name} » est un dossier, pas un fichier")


# --------------------------------------------------------------------------------------------------
# Output


def use_color(stream: TextIO, mode: str = "auto") -> bool:
    """Whether to colour the text report written to ``stream`` (``--color``, default ``auto``).

    ``auto``: only for a terminal, never when ``NO_COLOR`` is set to anything non-empty
    (no-color.org), always when ``FORCE_COLOR`` is (NO_COLOR wins over it). On Windows, only in
    terminals known to understand ANSI codes (Windows Terminal sets ``WT_SESSION``; others set
    ``TERM``): the classic console would print the escape codes as garbage.
    """
    return wants_color(mode, stream)


@contextlib.contextmanager
def _report_stream() -> Iterator[TextIO]:
    """stdout, made UTF-8 (SPEC §2) when it is not already.

    On Windows, a redirected stdout uses the ANSI code page (cp1252), which cannot encode every
    character of a message and would not be the UTF-8 other programs expect. A terminal is left as
    is: Python already writes Unicode to the Windows console.
    """
    stdout = sys.stdout
    encoding = (getattr(stdout, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    buffer = getattr(stdout, "buffer", None)
    if encoding == "utf8" or buffer is None or stdout.isatty():
        yield stdout
        stdout.flush()  # here, not at exit: a full disk must fail the command (exit 2)
        return
    stdout.flush()
    wrapper = io.TextIOWrapper(buffer, encoding="utf-8", write_through=True)
    try:
        yield wrapper
        wrapper.flush()  # errors (full disk) are raised here, inside the command
    finally:
        with contextlib.suppress(OSError, ValueError):
            wrapper.detach()  # leave sys.stdout's buffer open


def exit_code(report: Report, fail_on: str) -> int:
    """SPEC §4 exit code of ``check`` for a report and a ``--fail-on`` value.

    ``never`` is 0 whatever was found, input errors included; otherwise input errors always fail
    (unchecked rows may hide anything), and so does any finding at or above the threshold.
    """
    from billing_rules.model import Severity

    if fail_on == "never":
        return EXIT_OK
    if report.input_errors:
        return EXIT_FINDINGS
    threshold = Severity(fail_on).rank
    if any(finding.severity.rank >= threshold for finding in report.findings):
        return EXIT_FINDINGS
    return EXIT_OK


def _build_validator(
    rule_files: Sequence[str], *, entry_points: bool, selection: PluginSelection | None = None
) -> Validator:
    """Import and build the validator; the only place the CLI pays for the engine and the DSL."""
    if selection is not None:  # --plugin / --no-plugins / --config, and the practice config
        return selection.build(rule_files)
    from billing_rules.validator import Validator

    return Validator.build(rule_files=list(rule_files), entry_points=entry_points)


def _engine_for(engine: str, validator: Validator, files: list[str], master: str | None = None) -> str:
    """``--engine``: the one asked for, or (``auto``) DuckDB for a large input when it can run the rules.

    An explicit ``--engine duckdb`` that cannot run (extra not installed, a rule it cannot compile)
    is an error naming the reason; ``auto`` then keeps the row engine, and the report says which ran.
    """
    from billing_rules.engines.choice import choose, relational_installed, spark_installed

    chosen = choose(engine, files)
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


# --------------------------------------------------------------------------------------------------
# Commands


@click.group(name=_PROG, cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    package_name="billing-rules",
    message="%(prog)s %(version)s",
    help="Affiche la version et quitte.",
)
def main() -> None:
    """Contrôle la facturation des médecins généralistes (NGAP) avant l'Assurance Maladie.

    Exemple : billing-rules check factures-du-jour.csv
    """


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
@click.option(
    "--input-format",
    default=None,
    metavar="FORMAT",
    help="Format des fichiers d'entrée (csv, json, jsonl, parquet, ou celui d'une extension), au lieu de le "
    "déduire de l'extension du fichier.",
)
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
    "auto : duckdb à partir d'environ 50 000 lignes s'il est installé, row sinon.",
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
        _describe_run(validator, paths)
        from billing_rules.cli import progress

        # Rows, rows/s and time left on stderr, only for a person at a terminal and a large input.
        bar = progress.start(validator, paths) if verbosity() >= 0 else None
        try:
            if master is not None and engine != "spark":
                raise click.UsageError("--master ne sert qu'avec --engine spark")
            chosen = _engine_for(engine, validator, paths, master)
            if ledger_target is None:
                if chosen == "row":
                    report = validator.check_paths(paths, input_format=input_format)
                else:
                    from billing_rules.engines.relational import api

                    report = api.check_paths(
                        validator, paths, input_format=input_format, engine=chosen, master=master
                    )
            else:
                from billing_rules.cli.ledger import check_with_ledger

                report = check_with_ledger(
                    validator, paths, input_format, ledger_target, record, engine=chosen, master=master
                )
        finally:
            if bar is not None:
                bar.close()
        notice = incomplete_notice(report)
        if notice is not None:
            _say(notice)
        newline = "" if report_format == "csv" else None  # the CSV writers choose CRLF themselves
        if statistics:
            from billing_rules.reporters import statistics as statistics_report

            with report_output(output, newline=newline) as stream:
                statistics_report.render(report, stream, report_format)
            raise click.exceptions.Exit(exit_code(report, fail_on))
        from billing_rules.reporters import get_reporter

        reporter = extra_reporter or get_reporter(report_format)
        if report_format == "html" and ledger_target is not None:
            from billing_rules.cli.forfait import html_reporter_with_ledger

            reporter = html_reporter_with_ledger(report, ledger_target)
        with report_output(output, newline=newline) as stream:
            reporter.render(report, stream, color=report_format == "text" and use_color(stream, color))
    raise click.exceptions.Exit(exit_code(report, fail_on))


def _input_files(validator: Any, files: Sequence[str], input_format: str | None) -> list[str]:
    """The billing files to read: folders expanded, the same file twice refused (:mod:`.inputs`)."""
    from billing_rules.cli.inputs import expand, folder_extensions

    readers = getattr(validator, "readers", None)
    return expand(files, folder_extensions(readers, input_format))


def _describe_run(validator: Any, paths: Sequence[str]) -> None:
    """``-v``: the plugins, engine, rules and files this check uses, on stderr."""
    if verbosity() < 1:
        return
    manager = getattr(validator, "manager", None)
    if manager is not None:
        from billing_rules.plugins import plugin_infos

        names = sorted({f"{info.name} {info.version}".strip() for info in plugin_infos(manager)})
        detail(f"extensions : {', '.join(names) or 'aucune'}")
    engine = getattr(validator, "engine", None)
    if engine is not None:
        detail(f"moteur : {type(engine).__module__}.{type(engine).__name__}")
    codes = [info.code for info in validator.rules]
    detail(f"règles appliquées ({len(codes)}) : {', '.join(codes)}")
    shown = ", ".join("entrée standard" if path == STDIN else path for path in paths)
    detail(f"fichiers lus ({len(paths)}) : {shown}")


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
    lines.append(f"  À faire  : {info.action.strip() or '(rien au-delà du message)'}")
    if info.summary.strip():
        lines += ["", "Résumé", info.summary.strip()]
    if info.doc.strip():
        lines += ["", "Documentation", info.doc.strip()]
    lines += ["", "Texte de la règle"]
    lines.append(info.text.rstrip() if info.text.strip() else "(règle écrite en Python : pas de texte DSL)")
    with _stop_on_error(debug), report_output(output) as stream:
        stream.write("\n".join(lines) + "\n")


@rules.command("check")
@click.argument("files", nargs=-1, required=True, metavar="FICHIER...")
@_debug_option
def rules_check(files: tuple[str, ...], debug: bool) -> None:
    """Vérifie des fichiers de règles (DSL) sans rien contrôler.

    Code de sortie : 0 si les règles sont valides, 2 sinon (l'erreur est située :
    fichier:ligne:colonne).
    """
    with _stop_on_error(debug):
        _require_files(files)
        # Plugins stay out: a broken plugin must not be blamed on the file being checked. The
        # built-ins stay in, so a code that clashes with one of theirs is reported now.
        with_files = _build_validator(files, entry_points=False)
        baseline = _build_validator((), entry_points=False)
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
    warnings = []
    for info in with_files.rules:
        if info.code in known:
            continue
        where = info.origin or info.source
        missing = []
        if not info.citation.strip():
            missing.append('référence (clause source "..." : article, décision, date)')
        if not info.action.strip():
            missing.append('action (clause action "..." : le codage corrigé ou la preuve à garder)')
        for what in missing:
            warnings.append(f"avertissement : {where} : règle {info.code} sans {what}")
    return warnings


# Command groups that live in their own modules register themselves on ``main`` when imported.
# Each import costs only click: their heavy imports happen inside the commands.
from billing_rules.cli import commands as _commands  # noqa: E402,F401
