"""Temporary files of a report whose writer was killed: removed by the next write of that report.

:func:`~billing_rules.reporters.files.private_file` writes a report beside its target, then renames
it over the target. A writer killed in between (``kill -9``, an out-of-memory kill, a power cut)
leaves its temporary file, ``.<name>.<random>.tmp``: a whole or partial report, so patient data, in
the user's folder. Each writer therefore holds an advisory lock (``flock``) on its temporary file
while it writes, which the kernel releases however the process ends; the next writer of the same
target removes the temporary files of that target whose lock it can take. A file made moments ago
may not be locked yet by its writer: it is left for a later run. Temporary files of other targets
and anything else in the folder are never touched. Without ``fcntl`` (Windows), nothing is swept.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import time
from pathlib import Path

from billing_rules import scratch

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: Seconds a temporary file is left alone after its last change, locked or not: its writer may be
#: between creating it and locking it.
GRACE = 60.0

#: The random part of a name from ``tempfile.mkstemp``.
_RANDOM = r"[a-z0-9_]{8}"


def temporary_prefix(name: str) -> str:
    """The prefix of the temporary files of a report named ``name`` (``mkstemp``'s ``prefix``)."""
    return f".{name}."


def lock(fd: int) -> None:
    """Mark the temporary file open on ``fd`` as being written, for as long as it stays open.

    A file system that refuses locks leaves it unlocked: a sweeper's own attempt then fails the
    same way, and the file is left alone.
    """
    if fcntl is not None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def sweep(folder: Path, name: str) -> int:
    """Remove the temporary files of report ``name`` in ``folder`` that no writer holds; how many.

    Never raises: a file that cannot be read, locked or removed is left for a later write (the
    report being written must not fail for an old one).
    """
    if fcntl is None:
        return 0
    pattern = re.compile(re.escape(temporary_prefix(name)) + _RANDOM + r"\.tmp")
    try:
        entries = [entry for entry in os.scandir(folder) if pattern.fullmatch(entry.name)]
    except OSError:
        return 0
    removed = 0
    for entry in entries:
        with contextlib.suppress(OSError):
            if _abandoned(entry):
                os.unlink(entry.path)
                removed += 1
    return removed


def _abandoned(entry: os.DirEntry[str]) -> bool:
    """Whether ``entry`` is a temporary report of this user that no running writer holds."""
    info = entry.stat(follow_symlinks=False)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
        return False
    if time.time() - info.st_mtime < GRACE:
        return False
    return scratch.unlocked(entry.path)
