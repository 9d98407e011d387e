"""Files that hold patient data come into existence owner-only (0600), whatever the umask.

``open(path, "w")`` creates a file with mode 0666 minus the umask: readable by everyone on most
systems. Every file this package creates with patient data (a ledger, an export, a spill run)
goes through :func:`create_private` or :func:`open_private` instead.

Symlinks: a path that is a symlink is followed, as ``open`` would, but a missing target (a
dangling symlink) is created owner-only too: :func:`os.open` with ``O_CREAT`` on the symlink
itself would create the target with the process's default mode. The target is resolved first and
created with ``O_EXCL | O_NOFOLLOW``, so a symlink swapped in between is refused, never followed.
An existing file is written as it is: its mode is its owner's choice.

:func:`file_state` tells whether a file changed between two readings (the recording of a checked
input, the private copy of a read-only ledger).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

PRIVATE_MODE = 0o600
"""Owner read and write, nothing for anyone else."""

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)


def _create_fd(path: Path, *, truncate_existing: bool) -> tuple[int, bool]:
    """A write descriptor on ``path`` (following a symlink); whether this call created the file."""
    real = Path(os.path.realpath(path))  # a dangling symlink resolves to the file to create
    flags = os.O_WRONLY | _CLOEXEC | _BINARY
    try:
        fd = os.open(real, flags | os.O_CREAT | os.O_EXCL | _NOFOLLOW, PRIVATE_MODE)
    except FileExistsError:
        if not truncate_existing:
            return -1, False
        fd = os.open(real, flags | os.O_TRUNC)
        return fd, False
    # umask may only remove bits; fchmod makes sure nothing else left them (e.g. a default ACL).
    if hasattr(os, "fchmod"):
        os.fchmod(fd, PRIVATE_MODE)
    return fd, True


def create_private(path: str | Path) -> bool:
    """Create ``path`` empty and owner-only if it does not exist; returns whether this call created it.

    Raises :class:`OSError` as :func:`os.open` does (missing folder, permissions...).
    """
    fd, created = _create_fd(Path(path), truncate_existing=False)
    if fd >= 0:
        os.close(fd)
    return created


def open_private(path: str | Path, mode: str = "w", **options: Any) -> IO[Any]:
    """``open(path, mode)`` for writing (``"w"`` or ``"wb"``), creating the file owner-only."""
    if mode not in ("w", "wb"):
        raise ValueError(f"open_private writes only ('w' or 'wb'), not {mode!r}")
    fd, _created = _create_fd(Path(path), truncate_existing=True)
    try:
        return os.fdopen(fd, mode, **options)
    except BaseException:
        os.close(fd)
        raise


class TooLarge(ValueError):
    """A file is larger than what its reader accepts (it was not read further than that)."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


def read_bounded(path: str | Path, limit: int) -> bytes:
    """The bytes of ``path``, reading at most ``limit + 1`` of them: :class:`TooLarge` beyond ``limit``.

    Checking the size after reading would let ``/dev/zero``, a FIFO or a 300 MB file fill memory
    before the check; reading one byte past the limit is enough to know.
    """
    with open(path, "rb") as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(limit)
    return data


def write_new_private(path: str | Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` only if it does not exist yet, owner-only; whether this call did.

    For a secret made once (a cache's key): a file already there is left alone, whoever made it.
    """
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | _BINARY
        fd = os.open(path, flags, PRIVATE_MODE)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return True


#: What changes when a file is written or replaced: device, inode, size, modification and change
#: times (ns). ``None``: the file could not be looked at.
FileState = tuple[int, int, int, int, int] | None


def file_state(path: str | Path) -> FileState:
    """The state of ``path`` (see :data:`FileState`)."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
