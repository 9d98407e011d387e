"""Inputs that can be read only once (standard input, a FIFO, ``<(…)``), copied once to re-read them.

A check may read its input several times: a pre-pass for the ledger's scope, the row engine's
restart on an input out of date order, ``--record``'s pass, ``explain``'s second reading for the
invoices of a window. A regular file is simply opened again; standard input (``-``), a named pipe
or a shell's ``/dev/fd/N`` would be empty the second time (or block, for a FIFO with no writer
left). Each such input is therefore copied once, before anything reads it, to a private temporary
file (mode 0600, removed when the check ends); every reading then opens the copy
(:class:`~billing_rules.readers.stream.InputStream`'s ``copies``), while messages and reports
still name the input as the user wrote it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from billing_rules import scratch
from billing_rules.readers.base import STDIN

_PREFIX = "billing-rules-input-"


def read_once(path: str) -> bool:
    """Whether ``path`` can be read only once: standard input, or anything but a regular file.

    A path that cannot be examined (missing, not allowed) is left as it is: its own error comes
    when it is read, as for any file.
    """
    if path == STDIN:
        return True
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


@contextlib.contextmanager
def copied_inputs(sources: Sequence[str], stdin: BinaryIO | None = None) -> Iterator[dict[str, str]]:
    """Copy every read-once input of ``sources`` to a private temporary file, removed on exit.

    Yields the copies by source name (``-`` for standard input, read from ``stdin`` when given).
    An input that cannot be opened is not copied: reading it later gives its usual error.
    """
    copies: dict[str, str] = {}
    try:
        for source in dict.fromkeys(sources):
            if not read_once(source):
                continue
            if source == STDIN:
                copies[source] = _copy(stdin if stdin is not None else sys.stdin.buffer)
                continue
            try:
                original = open(source, "rb")  # noqa: SIM115 - closed just below
            except OSError:
                continue
            with original:
                copies[source] = _copy(original)
        yield copies
    finally:
        for copy in copies.values():
            with contextlib.suppress(OSError):
                os.unlink(copy)


def _copy(stream: BinaryIO) -> str:
    # mkstemp creates the file readable and writable by its owner only (0600).
    handle, path = tempfile.mkstemp(prefix=_PREFIX, dir=scratch.folder())
    try:
        with os.fdopen(handle, "wb") as copy:
            shutil.copyfileobj(stream, copy, 1024 * 1024)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return path
