"""Files this tool writes for the user: reports and exports, owner-only and written atomically.

A report names patients' invoices and the practice's errors: it is health data, so whatever the
umask says, the file is created readable by its owner only (0600). It is written in full beside the
target, flushed to the disk, then renamed over it: a crash or a full disk leaves either the old file
or the new one, never half a report that a script would take for a whole one.

A symbolic link at the target is refused, dangling or not. Writing through a link is how a planted
link in a shared folder makes a program overwrite, or create, a file somewhere else; the rename
itself never follows links, so a link planted after the check is replaced, not written through.

A writer killed before its rename leaves its temporary file (a report, so patient data): the next
write of the same report removes it (:mod:`.leftovers`).

Used by ``-o/--output`` of every command (reports, ``ledger export``), and by any other writer of a
whole file handed to the user. Files updated in place (a SQLite ledger, its journal) cannot be
renamed over; they are created owner-only by their own code.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TextIO

from billing_rules.errors import BillingRulesError
from billing_rules.reporters import leftovers

OWNER_ONLY = 0o600
"""Mode of every report or export file: read and write for its owner, nothing for anyone else."""

_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class OutputError(BillingRulesError):
    """A report or export could not be written; the message names the file and says why, in French."""


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the user's quota) is full."""
    return isinstance(exc, OSError) and exc.errno in _DISK_FULL


def write_failure(name: str, exc: OSError) -> OutputError:
    """The French error for a failed write of ``name`` (a file name, or « la sortie standard »)."""
    if disk_full(exc):
        reason = "disque plein"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason = "accès refusé"
    elif exc.errno == errno.ENOENT:
        reason = "dossier introuvable"
    else:
        reason = exc.strerror or type(exc).__name__
    return OutputError(f"impossible d'écrire {name} : {reason}")


def check_target(path: str | os.PathLike[str]) -> Path:
    """Refuse a target that is a symbolic link or a folder, before any work is done."""
    target = Path(path)
    if target.is_symlink():
        raise OutputError(
            f"« {target} » est un lien symbolique : le rapport n'est pas écrit à travers un lien "
            "(indiquez le chemin du fichier lui-même)"
        )
    if target.is_dir():
        raise OutputError(f"« {target} » est un dossier : indiquez un nom de fichier")
    return target


@contextlib.contextmanager
def private_file(
    path: str | os.PathLike[str],
    *,
    binary: bool = False,
    encoding: str = "utf-8",
    newline: str | None = None,
) -> Iterator[IO[Any]]:
    """Open ``path`` for writing: owner-only (0600), written atomically, checked on the disk.

    The stream yielded writes a temporary file beside ``path``; when the block ends without error,
    the file is flushed, synced, and renamed over ``path``. On any error, ``path`` is left as it was
    and the temporary file is removed. A full disk (``ENOSPC``, ``EDQUOT``), wherever it happens
    (a write, the flush, the sync or the rename), is an :class:`OutputError` saying « disque plein »;
    other exceptions of the block pass through unchanged.
    """
    target = check_target(path)
    name = f"« {target} »"
    if target.exists() and not target.is_file():
        # A pipe or a device (``-o /dev/stdout``, a FIFO read by another program): written into as
        # it is. A rename would replace the node itself by a regular file (``/dev/null`` too).
        with _into_special(target, name, binary=binary, encoding=encoding, newline=newline) as stream:
            yield stream
        return
    folder = target.parent if str(target.parent) else Path(".")
    leftovers.sweep(folder, target.name)  # what a killed writer of this report left
    try:
        fd, temp = tempfile.mkstemp(prefix=leftovers.temporary_prefix(target.name), suffix=".tmp", dir=folder)
    except OSError as exc:
        raise write_failure(name, exc) from None
    renamed = False
    try:
        leftovers.lock(fd)  # held until the file is closed, whatever ends this process
        if hasattr(os, "fchmod"):  # mkstemp already creates 0600; this pins it whatever the platform
            os.fchmod(fd, OWNER_ONLY)
        if binary:
            stream: IO[Any] = os.fdopen(fd, "wb")
        else:
            stream = os.fdopen(fd, "w", encoding=encoding, newline=newline)
        try:
            try:
                yield stream
            except OSError as exc:
                if disk_full(exc):  # a buffered write of the block hit the full disk
                    raise write_failure(name, exc) from None
                raise
            try:
                stream.flush()
                os.fsync(stream.fileno())
                stream.close()
            except OSError as exc:
                raise write_failure(name, exc) from None
        finally:
            if not stream.closed:  # an error above: the file is discarded, its flush may fail too
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
        try:
            check_target(target)
            os.replace(temp, target)
        except OSError as exc:
            raise write_failure(name, exc) from None
        renamed = True
    finally:
        if not renamed:
            with contextlib.suppress(OSError):
                os.unlink(temp)


@contextlib.contextmanager
def _into_special(
    target: Path, name: str, *, binary: bool, encoding: str, newline: str | None
) -> Iterator[IO[Any]]:
    """Write into an existing pipe or device: never created, never renamed, never followed."""
    flags = os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(target, flags)
    except OSError as exc:
        raise write_failure(name, exc) from None
    stream: IO[Any] = (
        os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding=encoding, newline=newline)
    )
    try:
        try:
            yield stream
            stream.flush()
        except OSError as exc:
            if disk_full(exc):
                raise write_failure(name, exc) from None
            raise
    finally:
        with contextlib.suppress(OSError, ValueError):
            stream.close()


def stdout_failure(exc: OSError) -> OutputError:
    """The French error for a report that could not be written to standard output."""
    return write_failure("le rapport sur la sortie standard", exc)


_WRITE_CHUNK = 1 << 20
"""Characters per write of a large report."""


def write_text(stream: TextIO, text: str) -> None:
    """``text`` written in pieces of a mebibyte, not in one call.

    One write of a whole report (hundreds of megabytes) to a pipe its reader has closed (``| head``)
    may be accepted in part with no error: the command would then exit 0 or 1 as if the report had
    been read, where the other formats end with the closed pipe's exit (SIGPIPE, 141).
    """
    if len(text) <= _WRITE_CHUNK:
        stream.write(text)
        return
    for start in range(0, len(text), _WRITE_CHUNK):
        stream.write(text[start : start + _WRITE_CHUNK])
