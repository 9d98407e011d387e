"""The SQLite ledger's file on disk, and SQLite's failures a practice can fix, in French.

The file is created whole and owner-only, and named by URI to be opened read-only; a full disk or
missing permissions are said in words a practice can act on.

Kept apart from the ledger's queries: none of this depends on what the file holds.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import sqlite3
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from billing_rules.files import create_private
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


def readonly_uri(path: Path, options: dict[str, Any]) -> str:
    """The URI to read ``path`` with (``mode=ro``), ``immutable`` on media nobody can write.

    A WAL ledger needs its ``-shm`` index, which cannot be created in a read-only folder or on
    read-only media: nobody can be writing to it either, so it is read immutable. Any other
    failure (a damaged file) is left to the opening, which says what it is.
    """
    readonly = uri(path, "mode=ro")
    try:
        with contextlib.closing(sqlite3.connect(readonly, uri=True, **options)) as probe:
            probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY):
            return uri(path, "immutable=1")
    return readonly


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
