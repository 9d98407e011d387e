"""A progress line for long checks: rows read, rows per second, time left, on stderr only.

Shown only to a person watching a terminal: stderr must be a TTY and the input large (a file of a
few thousand rows is done before the line would be readable). It never touches stdout, so a JSON
or CSV report stays clean, and it is erased before the report is written. The validator is not
told about it: the format readers are wrapped, counting the rows they yield and the bytes they
read, which gives the speed (rows) and the fraction done (bytes of the files' total size).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, BinaryIO, TextIO

LARGE_INPUT_BYTES = 5 * 1024 * 1024
"""Below this total size (about 50 000 invoices) no progress is shown."""

_REFRESH_SECONDS = 0.2
_BAR_WIDTH = 24


def _french_int(value: float) -> str:
    return f"{int(value):,}".replace(",", "\u00a0")


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Counts rows and bytes and redraws one stderr line at most five times a second."""

    def __init__(self, total_bytes: int, stream: TextIO, clock: Any = time.monotonic) -> None:
        self.total_bytes = max(total_bytes, 1)
        self.stream = stream
        self.clock = clock
        self.started = clock()
        self.rows = 0
        self.bytes = 0
        self._drawn = 0.0
        self._width = 0
        #: The counts when each file of this pass began to be read.
        self._starts: dict[str, tuple[int, int]] = {}

    def line(self) -> str:
        """The text of the progress line for the current counts."""
        elapsed = max(self.clock() - self.started, 1e-6)
        fraction = min(self.bytes / self.total_bytes, 1.0)
        rate = self.rows / elapsed
        filled = int(fraction * _BAR_WIDTH)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        text = (
            f"[{bar}] {fraction * 100:3.0f} % — {_french_int(self.rows)} lignes — "
            f"{_french_int(rate)} lignes/s"
        )
        if 0.01 < fraction < 1.0:
            text += f" — reste environ {_duration(elapsed * (1 - fraction) / fraction)}"
        return text

    def advance(self, rows: int = 0, size: int = 0) -> None:
        """Count rows and bytes read; redraw when the last drawing is old enough."""
        self.rows += rows
        self.bytes += size
        now = self.clock()
        if now - self._drawn >= _REFRESH_SECONDS:
            self._drawn = now
            self.draw()

    def draw(self) -> None:
        """Rewrite the line in place (carriage return, padded over the previous one)."""
        text = self.line()
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def restart_pass(self) -> None:
        """The validator reads the input a second time (unsorted input): count afresh."""
        self.bytes = 0
        self.rows = 0
        self.started = self.clock()
        self._starts = {}

    def file_started(self, file: str, first: bool) -> None:
        """A file begins to be read; its rows and bytes are to be counted once.

        From the input's first file the counts start afresh (a new pass over the input); a file
        read twice in a row (a large per-act file, ``readers.stream.read_twice``) counts again
        from where it began.
        """
        if first:
            self.restart_pass()
        start = self._starts.get(file)
        if start is None:
            self._starts[file] = (self.rows, self.bytes)
        else:
            self.rows, self.bytes = start

    def counted(self, stream: BinaryIO) -> BinaryIO:
        """``stream``, its bytes counted as read (for readers that open files themselves)."""
        return _CountingStream(stream, self)  # type: ignore[return-value]

    def close(self) -> None:
        """Erase the line, so that whatever comes next starts on a clean line."""
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


class _CountingStream:
    """A binary stream that reports the bytes read through it."""

    def __init__(self, stream: BinaryIO, progress: Progress) -> None:
        self._stream = stream
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._progress.advance(size=len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        count = self._stream.readinto(buffer)  # type: ignore[attr-defined]
        self._progress.advance(size=count or 0)
        return count

    def __enter__(self) -> _CountingStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _CountingReader:
    """A format reader whose rows and bytes feed a :class:`Progress`."""

    def __init__(self, reader: Any, progress: Progress, first_file: str | None) -> None:
        #: The format reader counted (``readers.base.unwrapped``: the route is decided on it).
        self.wrapped = reader
        self._progress = progress
        self._first_file = first_file
        self.name = reader.name
        self.extensions = reader.extensions

    def rows(self, stream: BinaryIO, file: str) -> Iterator[Any]:
        self._progress.file_started(file, file == self._first_file)
        for row in self.wrapped.rows(_CountingStream(stream, self._progress), file):  # type: ignore[arg-type]
            self._progress.advance(rows=1)
            yield row

    def table(self, stream: BinaryIO, file: str) -> Any:
        """The wrapped reader's positional table (CSV fast path), its records counted; else None."""
        open_table = getattr(self.wrapped, "table", None)
        if open_table is None:
            return None
        self._progress.file_started(file, file == self._first_file)
        table = open_table(_CountingStream(stream, self._progress), file)
        table.blocks = self._counted(table.blocks)
        return table

    def _counted(self, blocks: Iterator[Any]) -> Iterator[Any]:
        advance = self._progress.advance
        for block in blocks:
            advance(rows=len(block[1]))
            yield block

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


def _total_size(paths: Sequence[str]) -> int | None:
    total = 0
    for path in paths:
        if path == "-":
            return None
        try:
            total += os.path.getsize(path)
        except OSError:
            return None
    return total


def start(
    validator: Any, paths: Sequence[str], *, stream: TextIO | None = None, threshold: int = LARGE_INPUT_BYTES
) -> Progress | None:
    """Attach a progress line to ``validator``'s readers when it is worth showing, else None.

    Shown only when ``stream`` (stderr by default) is a terminal and the files (not standard input,
    whose size is unknown) weigh at least ``threshold`` bytes.
    """
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    if isatty is None or not isatty():
        return None
    total = _total_size(paths)
    if total is None or total < threshold:
        return None
    progress = Progress(total, stream)
    readers: Mapping[str, Any] = validator.readers
    wrapped = {
        name: _CountingReader(reader, progress, paths[0] if paths else None)
        for name, reader in readers.items()
    }
    # The validator looks its readers up by name at each check: wrapping them in place is enough.
    validator._readers = wrapped
    return progress
