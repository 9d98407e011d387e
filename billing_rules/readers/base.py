"""What every format reader produces and promises: raw rows, before any value is interpreted.

Splitting "bytes to rows" (one reader per file format) from "row to :class:`Event`" (one converter
for all formats) keeps each format reader small and makes every format obey exactly the same value
rules (SPEC §1): a JSON file and a CSV file with the same content give the same events and the same
input errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO, Protocol

import attrs

from billing_rules.model import ROW_FIELD  # the pseudo-field of a whole-row error


@attrs.frozen(slots=True)
class RawRow:
    """One record of an input file, its values not yet interpreted.

    Attributes:
        line: 1-based physical line where the record starts (CSV, JSON Lines); ``None`` for the
            objects of a JSON array, which SPEC §2 reports without a line.
        values: column name -> raw value: always ``str`` for CSV, any JSON value for JSON.
        file: the path as the user gave it (``-`` for standard input), copied into events and
            input errors so that reports over several files can say where a row came from.
        problems: ``(field, French message)`` pairs the format reader already knows about: a row
            that cannot be mapped to columns (field ``_row``: then ``values`` are unreliable and
            are not interpreted) or a value with undecodable bytes. Carried on the row rather than
            raised so that the reader can go on with the next row.
    """

    line: int | None
    values: dict[str, Any]
    file: str | None
    problems: tuple[tuple[str, str], ...] = ()

    @property
    def broken(self) -> bool:
        """True when the row as a whole is unusable (its values must not be interpreted)."""
        return any(field == ROW_FIELD for field, _ in self.problems)


class Reader(Protocol):
    """A file format: turns a byte stream into raw rows, lazily.

    Implementations must stream (a billing export can hold millions of rows) and must report a bad
    row as a :class:`RawRow` with ``problems`` rather than stop; only a file that cannot be read
    at all (no header, not an array...) raises :class:`~billing_rules.errors.ReadError`.
    """

    name: str
    extensions: tuple[str, ...]

    def rows(self, stream: BinaryIO, file: str) -> Iterator[RawRow]:
        """Yield the rows of ``stream``; ``file`` is only used to label rows and messages."""
        ...


#: The source name of standard input.
STDIN = "-"


def file_label(file: str | None) -> str:
    """How a file is named in French messages; ``-`` is standard input, not a file called "-"."""
    if file is None or file == "-":
        return "l'entrée standard"
    return f"« {file} »"


def unwrapped(reader: Any) -> Any:
    """The format reader behind a caller's wrapper (``wrapped``), or ``reader`` itself.

    The CLI's progress line wraps each format reader to count what it reads; which way a file is
    read (columnar, prepared) depends on the format, never on that wrapper.
    """
    return getattr(reader, "wrapped", reader)
