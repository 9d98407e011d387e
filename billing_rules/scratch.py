"""One private scratch folder per process, and the sweep of those a killed process left behind.

A check copies patient data to temporary files: an input read once (standard input, a FIFO), a
read-only ledger and its journal, the invoice table and the history fed to DuckDB, DuckDB's
spill, Spark's staging, the row reader's spill. A normal exit, an error or Ctrl-C removes each
of them; a ``kill -9``, an out-of-memory kill or a power cut cannot. So they all live in one
folder of the process, ``billing-rules-<pid>-<random>`` in the system's temporary folder (mode
0700), which the process keeps locked: an advisory ``flock`` on a file inside, released by the
kernel however the process ends. The next process that needs scratch space removes this user's
folders whose lock it can take: their owner is gone, and with it any reason to keep patient
data on the disk. A folder whose lock is held belongs to a running process (another check, an
embedding application) and is left alone, whatever its age.

Created on first use only: a small check that writes no temporary file never lists the
temporary folder. Without ``fcntl`` (Windows), the folder is still made and removed at exit, and
nothing is swept.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import stat
import tempfile
import threading
import time
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

PREFIX = "billing-rules-"
_LOCK = ".verrou"
_NAME = re.compile(rf"{re.escape(PREFIX)}(\d+)-[a-z0-9_]+")
#: A folder without its lock file yet is being created by another process: left alone this long.
_CREATION_GRACE = 3600.0

_guard = threading.Lock()
#: The folder of this process (and the open lock file that keeps it), by temporary folder: a
#: test or an application may point ``tempfile.tempdir`` elsewhere meanwhile.
_folders: dict[tuple[int, str], tuple[str, IO[bytes] | None]] = {}


def folder() -> str:
    """This process's scratch folder (made, locked and the leftovers swept, on first call).

    A forked child gets a folder of its own: its parent's would vanish under it at the parent's
    exit, and the lock it inherited is the parent's.
    """
    parent = tempfile.gettempdir()
    key = (os.getpid(), parent)
    with _guard:
        found = _folders.get(key)
        if found is not None and os.path.isdir(found[0]):
            return found[0]
        path = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=parent)  # 0700
        lock = _lock(path)
        _folders[key] = (path, lock)
        if len(_folders) == 1:
            atexit.register(_remove_own)
    sweep(parent)
    return path


def _lock(path: str) -> IO[bytes] | None:
    """The open lock file that marks ``path`` as in use for as long as this process lives.

    Locked under another name first, then renamed: a sweeper never sees the lock file unlocked.
    Where the file system refuses locks, the file is still there, and a sweeper's own attempt
    fails the same way, so the folder is left alone.
    """
    if fcntl is None:
        return None
    pending = os.path.join(path, _LOCK + ".new")
    handle = open(pending, "wb")  # noqa: SIM115 - kept open for the process's life
    with contextlib.suppress(OSError):
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.replace(pending, os.path.join(path, _LOCK))
    return handle


def sweep(parent: str) -> int:
    """Remove this user's scratch folders in ``parent`` whose process is gone; how many were.

    Never raises: a folder that cannot be listed, opened or removed is simply left for a later
    sweep (the check that needs scratch space must not fail for an old one).
    """
    if fcntl is None:
        return 0
    own = {path for path, _ in _folders.values()}
    removed = 0
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return 0
    for entry in entries:
        if not _NAME.fullmatch(entry.name) or entry.path in own:
            continue
        with contextlib.suppress(OSError):
            if _abandoned(entry):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += not os.path.exists(entry.path)
    return removed


def _abandoned(entry: os.DirEntry[str]) -> bool:
    """Whether ``entry`` is a scratch folder of this user that no running process holds."""
    info = entry.stat(follow_symlinks=False)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        return False
    try:
        return unlocked(os.path.join(entry.path, _LOCK))
    except FileNotFoundError:
        # Made, not yet locked: another process between its two steps, unless long ago.
        return time.time() - info.st_mtime > _CREATION_GRACE


def unlocked(path: str) -> bool:
    """Whether no running process holds the ``flock`` of the file ``path`` (never followed if a link).

    The kernel releases such a lock however its holder ends: a file whose lock can be taken was
    left by a process that is gone. Raises the ``OSError`` of a file that cannot be opened or locked.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def _remove_own() -> None:
    """At exit: this process's folders (a forked child removes its own, not its parent's)."""
    pid = os.getpid()
    for (owner, _), (path, lock) in list(_folders.items()):
        if owner != pid:
            continue
        shutil.rmtree(path, ignore_errors=True)
        if lock is not None:
            with contextlib.suppress(OSError):
                lock.close()
