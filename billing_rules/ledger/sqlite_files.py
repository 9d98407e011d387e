"""The SQLite ledger's file on disk, and SQLite's failures a practice can fix, in French.

The file is created whole and owner-only, and named by URI to be opened read-only; a full disk,
missing permissions or another workstation holding the lock are said in words a practice can act
on.

Kept apart from the ledger's queries: none of this depends on what the file holds.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import sqlite3
import tempfile
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from billing_rules import scratch
from billing_rules.files import create_private, file_state, open_private
from billing_rules.ledger.protocol import LedgerError


def file_size(path: Path) -> int:
    """The file's size in bytes, -1 if it cannot be read."""
    try:
        return path.stat().st_size
    except OSError:
        return -1


def uri(path: Path, option: str) -> str:
    """The SQLite URI of ``path`` with one ``option`` (``mode=ro``, ``immutable=1``)."""
    return f"file:{urllib.parse.quote(str(path.resolve()))}?{option}"


def ledger_file(path: Path, label: str, *, create: bool, new: bool, build: Callable[[Path], None]) -> bool:
    """Check the file at ``path`` before it is opened; returns whether this call created it.

    A missing file is created with :func:`create_ledger_file` unless ``create`` is false. A folder,
    a missing file that may not be created and a 0-byte file (unless ``new``: the one being built)
    are refused with a French :class:`LedgerError`.
    """
    if path.is_dir():
        raise LedgerError(f"« {label} » est un dossier, pas un registre")
    if not path.exists():
        if not create:
            raise LedgerError(f"registre introuvable : « {label} »")
        if not Path(os.path.realpath(path)).parent.is_dir():
            raise LedgerError(f"impossible de créer le registre « {label} » : dossier introuvable")
        return create_ledger_file(path, label, build)
    if file_size(path) == 0 and not new:
        raise LedgerError(
            f"« {label} » est un fichier vide (0 octet), pas un registre : rien n'y a été écrit. "
            "Indiquez le bon fichier, ou supprimez celui-ci pour créer un registre neuf"
        )
    return False


def readonly_uri(path: Path, options: dict[str, Any], label: str) -> tuple[str, Path | None]:
    """The URI to read ``path`` with (``mode=ro``), and the private folder of a copy read instead.

    A WAL ledger needs its ``-shm`` index, which cannot be created in a read-only folder or on
    read-only media: nobody can be writing to it either. Without a ``-wal`` (a ledger closed
    cleanly) the file is read ``immutable``. With a non-empty ``-wal``, ``immutable`` would skip
    the invoices committed in it and count less history without a word: the file and its
    ``-wal`` are copied into a private temporary folder and the copy is read (the caller removes
    the folder, see :func:`remove_private_copy`). Another workstation holding the lock is raised
    (the caller says so); any other failure (a damaged file) is left to the opening, which says
    what it is.
    """
    readonly = uri(path, "mode=ro")
    try:
        with contextlib.closing(sqlite3.connect(readonly, uri=True, **options)) as probe:
            probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        if is_busy(exc):
            raise
        if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY):
            real = Path(os.path.realpath(path))  # SQLite names the -wal after the file's real path
            if file_size(Path(f"{real}-wal")) > 0:
                folder = private_copy(real, label)
                return uri(folder / real.name, "mode=ro"), folder
            return uri(path, "immutable=1"), None
    return readonly, None


_COPY_ATTEMPTS = 3


def private_copy(real: Path, label: str) -> Path:
    """A private temporary folder holding a copy of the ledger ``real`` and its ``-wal``.

    The folder is owner-only (it holds patient data) and its files too. A copy taken while the
    files changed (another workstation wrote meanwhile) is taken again; still changing, or
    impossible to take (no room in the temporary folder), the opening is refused in French.
    """
    names = (real, Path(f"{real}-wal"))
    for _ in range(_COPY_ATTEMPTS):
        before = [file_state(name) for name in names]
        folder = Path(tempfile.mkdtemp(prefix="registre-", dir=scratch.folder()))
        try:
            for name in names:
                with open(name, "rb") as source, open_private(folder / name.name, "wb") as target:
                    shutil.copyfileobj(source, target, 1024 * 1024)
        except BaseException as exc:
            remove_private_copy(folder)  # interrupted too: no copy of patient data left behind
            if not isinstance(exc, OSError):
                raise
            reason = OS_REASONS.get(exc.errno or 0, exc.strerror or type(exc).__name__)
            raise LedgerError(
                f"registre « {label} » en lecture seule avec un journal (-wal) non intégré : sa copie "
                f"privée, nécessaire pour le lire en entier, est impossible ({reason})"
            ) from None
        if [file_state(name) for name in names] == before:
            return folder
        remove_private_copy(folder)
    raise LedgerError(f"registre « {label} » modifié pendant sa lecture par un autre poste ; réessayez")


def remove_private_copy(folder: Path | None) -> None:
    """Remove the folder of :func:`private_copy` (nothing when ``None``)."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether SQLite failed because another connection holds the lock (SQLITE_BUSY, SQLITE_LOCKED).

    Never damage: another workstation recording, or a program holding an EXCLUSIVE lock.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    text = str(exc)
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def busy_message(label: str, seconds: float) -> str:
    """What to say when the lock was not released within the busy timeout: wait, then try again."""
    return f"registre « {label} » occupé par un autre poste depuis plus de {int(seconds)} s ; réessayez"


def remove_ledger_file(path: Path) -> None:
    """Delete a ledger's file, ``-wal`` and ``-shm`` (a symlink's target: the file it created)."""
    real = os.path.realpath(path)
    for leftover in (real, f"{real}-wal", f"{real}-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(leftover)


OS_REASONS = {
    errno.EACCES: "accès refusé (droits du dossier)",
    errno.EPERM: "accès refusé (droits du dossier)",
    errno.EROFS: "système de fichiers en lecture seule",
    errno.ENOSPC: "disque plein",
    errno.EDQUOT: "quota disque dépassé",
}


def french_failure(exc: sqlite3.Error, label: str) -> str | None:
    """The French message of an SQLite failure a user can fix (full disk, permissions), if it is one.

    SQLite's own texts are English; these are the ones a practice meets in real life.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    primary = code & 0xFF
    if primary == sqlite3.SQLITE_FULL:
        return f"disque plein : impossible d'écrire dans le registre « {label} » (rien n'y a été modifié)"
    if primary == sqlite3.SQLITE_READONLY:
        return (
            f"registre « {label} » en lecture seule (droits du fichier ou de son dossier, ou "
            "système de fichiers en lecture seule) : rien n'y a été modifié"
        )
    if primary == sqlite3.SQLITE_CANTOPEN:
        return f"impossible d'ouvrir le registre « {label} » (droits du fichier ou de son dossier ?)"
    if primary == sqlite3.SQLITE_IOERR:
        return f"erreur d'entrée-sortie sur le registre « {label} » (disque plein ou défaillant ?)"
    return None


def create_ledger_file(path: Path, label: str, build: Callable[[Path], None]) -> bool:
    """Create a ledger at ``path`` fully set up, owner-only (0600); returns whether this call did.

    ``build`` writes a new ledger's schema and settings into the empty private file it is given.

    The file appears complete or not at all: it is built under a temporary name beside the target
    and hard-linked into place (``link`` fails if the name exists: another workstation won the
    race, and its ledger is used). So an empty file is never a ledger being created, and one found
    is refused. Where hard links are not supported, the file is created in place as before.
    """
    real = Path(os.path.realpath(path))  # a dangling symlink: its target is what gets created
    temporary = real.with_name(f".{real.name}.{os.getpid()}.{secrets.token_hex(4)}.nouveau")
    try:
        create_private(temporary)
    except OSError as exc:
        reason = OS_REASONS.get(exc.errno or 0, exc.strerror or str(exc))
        raise LedgerError(f"impossible de créer le registre « {label} » : {reason}") from None
    try:
        build(temporary)
        try:
            os.link(temporary, real)
        except FileExistsError:
            return False
        except OSError:  # no hard links here (some network or FAT file systems)
            if real.exists():
                return False
            os.replace(temporary, real)
        return True
    except LedgerError as exc:
        raise LedgerError(str(exc).replace(str(temporary), label)) from None
    finally:
        for leftover in (Path(f"{temporary}-wal"), Path(f"{temporary}-shm"), temporary):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
