"""The ``billing-rules`` group and what every command shares.

The command line is a thin click layer over :class:`billing_rules.api.validator.Validator`.

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
import errno
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click

from billing_rules.cli.french import french_click
from billing_rules.cli.options import (
    PluginSelection,
)
from billing_rules.cli.output import (
    wants_color,
)
from billing_rules.errors import BillingRulesError, ReadError

if TYPE_CHECKING:
    from billing_rules.api.validator import Validator
    from billing_rules.model import Report

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
        """Click's parsing of the arguments, where a Ctrl-C is exit 130 as anywhere else.

        Eager options (``--help``, ``--version``) write while parsing, before :meth:`invoke`: a
        closed pipe or a full disk there ends as it does for any command.
        """
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt:
            _say(_interrupted_message(()))
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except OSError as exc:
            _output_failed(exc)
            raise

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
            _output_failed(exc)
            raise


def _output_failed(exc: OSError) -> None:
    """A closed pipe is a silent exit 141, a full disk a French line and exit 2; else returns."""
    if exc.errno == errno.EPIPE:
        _silence_stdout()
        raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None
    if exc.errno in _FULL_DISK:
        _silence_stdout()
        _say(_describe(exc))
        raise click.exceptions.Exit(EXIT_ERROR) from None


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
    """The French message for an error that stops a command.

    An unexpected exception (a bug, ours or a plugin's) is named by its type only, never by its
    text: that text is whatever the failing code put there, and a ``KeyError`` on a finding or a
    plugin's ``RuntimeError(event.patient_id)`` carries a patient's identifier, which stderr (read
    by anyone, often kept in logs and pasted into bug reports) must never show. ``--debug`` shows
    the full trace, text included, for whoever asks for it knowingly.
    """
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
        f"erreur interne ({type(exc).__name__}) ; son détail n'est pas affiché, il peut citer des "
        "données de patients. Relancez avec --debug pour voir la trace, et signalez le problème "
        "en la joignant après en avoir retiré ces données."
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
    rule_files: Sequence[str], *, entry_points: bool | Sequence[str], selection: PluginSelection | None = None
) -> Validator:
    """Import and build the validator; the only place the CLI pays for the engine and the DSL."""
    if selection is not None:  # --plugin / --no-plugins / --config, and the practice config
        return selection.build(rule_files)
    from billing_rules.api.validator import Validator

    return Validator.build(rule_files=list(rule_files), entry_points=entry_points)


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
