"""Where a command's report goes and how loud the command is: ``-o``, ``--color``, ``-q`` / ``-v``.

The options users of ruff, pytest or sqlfluff expect, shared by every command that writes a report:

- ``-o/--output FILE`` writes the report to FILE instead of standard output, owner-only and
  atomically (:func:`billing_rules.reporters.files.private_file`); messages still go to stderr;
- ``--color auto|always|never`` (``auto``: a terminal, unless ``NO_COLOR`` is set; ``FORCE_COLOR``
  colours a pipe too; the option beats both variables);
- ``-q/--quiet`` drops every informational line on stderr (progress, configuration used, records
  stored), keeping errors and warnings; ``-v/--verbose`` adds what a bug report needs (configuration,
  plugins, engine, rules selected, files read). The report itself is the same in the three modes.

Imports only click at module level, like the rest of the CLI's import path.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

COLOR_CHOICES = ("auto", "always", "never")

QUIET, NORMAL, VERBOSE = -1, 0, 1
"""Verbosity levels (``-q``, nothing, ``-v``)."""

_META_KEY = "billing_rules.verbosity"


# --------------------------------------------------------------------------------------------------
# -q / -v


def _remember(level: int) -> Callable[[click.Context, click.Parameter, bool], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        if not value:
            return
        previous = ctx.meta.get(_META_KEY, NORMAL)
        if previous not in (NORMAL, level):
            raise click.UsageError("-q/--quiet et -v/--verbose s'excluent", ctx)
        ctx.meta[_META_KEY] = level

    return callback


def verbosity_options(function: F) -> F:
    """Add ``-q/--quiet`` and ``-v/--verbose``; read the choice with :func:`verbosity`."""
    function = click.option(
        "-v",
        "--verbose",
        is_flag=True,
        expose_value=False,
        callback=_remember(VERBOSE),
        help="Détaille sur la sortie d'erreur la configuration, les extensions, le moteur, les règles "
        "et les fichiers utilisés.",
    )(function)
    return click.option(
        "-q",
        "--quiet",
        is_flag=True,
        expose_value=False,
        callback=_remember(QUIET),
        help="Silencieux : seulement le rapport, les erreurs et les avertissements (ni progression, "
        "ni configuration annoncée).",
    )(function)


def verbosity() -> int:
    """:data:`QUIET`, :data:`NORMAL` or :data:`VERBOSE` for the running command (NORMAL outside one)."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(_META_KEY, NORMAL) if ctx is not None else NORMAL


def inform(message: str) -> None:
    """An informational line on stderr, left out with ``-q``."""
    if verbosity() > QUIET:
        click.echo(f"billing-rules : {message}", err=True)


def detail(message: str) -> None:
    """A line for ``-v`` only (what was used, for a bug report or a doubt)."""
    if verbosity() >= VERBOSE:
        click.echo(f"billing-rules : {message}", err=True)


def describe_inputs(paths: Sequence[str]) -> None:
    """``-v``: the files a command reads, as the user named them (``-`` is standard input)."""
    from billing_rules.readers.stream import STDIN

    shown = ", ".join("entrée standard" if path == STDIN else path for path in paths)
    detail(f"fichiers lus ({len(paths)}) : {shown}")


# --------------------------------------------------------------------------------------------------
# --color


def color_option(function: F) -> F:
    """Add ``--color auto|always|never`` (the command receives ``color``)."""
    return click.option(
        "--color",
        "color",
        type=click.Choice(COLOR_CHOICES),
        default="auto",
        show_default=True,
        help="Couleurs du rapport texte : auto (terminal, sauf si NO_COLOR est défini ; FORCE_COLOR les "
        "force), always ou never.",
    )(function)


def wants_color(mode: str, stream: TextIO) -> bool:
    """Whether to colour a text report written to ``stream`` under ``--color mode``.

    ``always`` and ``never`` win over everything. ``auto`` follows no-color.org (``NO_COLOR``
    non-empty: no colour), then ``FORCE_COLOR`` (non-empty: colour even in a pipe or a file; when both
    are set, NO_COLOR wins, as in Python itself), then whether ``stream`` is a terminal that
    understands ANSI codes.
    """
    if mode == "always":
        return True
    if mode == "never" or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    if isatty is None or not isatty():
        return False
    if sys.platform == "win32":
        return bool(os.environ.get("WT_SESSION") or os.environ.get("TERM"))
    return True


# --------------------------------------------------------------------------------------------------
# -o / --output


def output_option(function: F) -> F:
    """Add ``-o/--output FICHIER`` (the command receives ``output``, None for standard output)."""
    return click.option(
        "-o",
        "--output",
        "output",
        default=None,
        metavar="FICHIER",
        callback=lambda ctx, param, value: None if value == "-" else value,
        help="Écrit le rapport dans FICHIER (créé lisible par vous seul, remplacé d'un coup) au lieu "
        "de la sortie standard (« - »).",
    )(function)


def check_output(output: str | None) -> None:
    """Refuse a bad ``-o`` target before any work, not after a long check.

    A link or a folder, and any file the command reads: the ledger, a billing file, a rule file,
    the configuration. The report would replace it, and the practice's history or export with it.
    """
    if output is not None:
        from billing_rules.cli.inputs import files_read, refuse_overwriting
        from billing_rules.reporters.files import check_target

        check_target(output)
        refuse_overwriting(output, files_read(click.get_current_context(silent=True)))


@contextlib.contextmanager
def report_output(output: str | None, *, newline: str | None = None) -> Iterator[TextIO]:
    """The stream a report is written to: ``output`` (owner-only, atomic) or UTF-8 standard output.

    A full disk is an error either way (« disque plein », exit 2 through the command's error
    handling), never a truncated report with exit 0.
    """
    from billing_rules.reporters.files import disk_full, private_file, stdout_failure

    if output is not None:
        with private_file(output, newline=newline) as stream:
            yield stream
        return
    try:
        with _report_stream() as stream:
            yield stream
            stream.flush()
    except OSError as exc:
        if not disk_full(exc):
            raise  # a closed pipe (``| head``) and the rest: the command's own error handling
        raise stdout_failure(exc) from None


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
