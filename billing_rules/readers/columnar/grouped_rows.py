"""JSON, JSON Lines and Parquet files of one row per act: grouped by the row readers, read column-wise.

(A Parquet file whose invoice key and code are texts is grouped column-wise instead, as CSV is:
:func:`.per_act.parquet_per_act_batches`; here come its other writings, codes as lists say. So is
a JSON or JSON Lines file whose rows fit columns, :mod:`.json_per_act`; here come those more than
a tenth of whose rows columns cannot hold: amounts written as texts beside numbers, say.)

Such a file's rows are grouped into invoices by the row readers' own grouping
(:func:`~billing_rules.readers.lines.group_lines`), so that every invoice, its codes, its amount
and every disagreement between its lines are exactly theirs; only the reading of the invoices'
values is then done column-wise, as for a file of one row per invoice (:func:`.other_sources.
objects_batch`). JSON is parsed in Python all the same: what this path spares is the row engine
(600 000 JSON Lines objects, the whole check: 23.8 s by the row engine, 14.5 s so).

As there, a large file that can be read again is read twice (:func:`~billing_rules.readers.stream.
read_twice`): the first reading finds each invoice's last row, so that each goes as soon as it is
complete and only the invoices still open are held. That first reading goes through a stream of its
own that the progress line does not count: the bytes of the file are counted once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

from billing_rules.readers.base import RawRow
from billing_rules.readers.columnar.csv_source import Counter
from billing_rules.readers.columnar.other_sources import objects_batch
from billing_rules.readers.columnar.validate import Batch, split_grouped
from billing_rules.readers.lines import Grouped, LastRows, group_lines, last_rows
from billing_rules.readers.stream import per_act, read_twice, rows_ahead

#: Invoices per batch handed to the validation.
BATCH_INVOICES = 50_000


def per_act_rows(reader: Any, open_stream: Callable[[], BinaryIO], path: str) -> bool:
    """Whether the file is one row per act, as the row readers decide: its first readable row says.

    Raises:
        ReadError, OSError: the file cannot be read (as its reading would raise).
    """
    with open_stream() as stream:
        rows = reader.rows(stream, path)
        try:
            return per_act(rows_ahead(iter(rows)))
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()


def grouped_batches(
    reader: Any,
    open_stream: Callable[[], BinaryIO],
    first_pass: Callable[[], BinaryIO],
    path: str,
    file: int,
    counter: Counter,
    batch_invoices: int | None = None,
) -> Iterator[Batch]:
    """The invoices of a per-act file read by ``reader``'s rows, in batches, in first-line order.

    ``open_stream`` opens the file for the reading that makes the batches (counted by a progress
    line); ``first_pass`` opens it uncounted, for the first of two readings.

    Raises:
        ReadError: as the row readers raise it (and if the file changed between the two readings).
    """
    last: LastRows | None = None
    with first_pass() as stream:
        if read_twice(stream, reader):
            last = last_rows(reader.rows(stream, path))
    size = batch_invoices or BATCH_INVOICES  # the module's value when called (tests make it small)
    with open_stream() as stream:
        rows = _Tally(reader.rows(stream, path))
        pending: list[Grouped | RawRow] = []
        for item in group_lines(rows, last):
            pending.append(item)
            if len(pending) == size:
                yield _batch(pending, path, file, counter, rows.take())
                pending = []
        if pending or rows.count:
            yield _batch(pending, path, file, counter, rows.take())


class _Tally:
    """The rows of a file, counted as they are read (a batch stands for the rows read before it)."""

    def __init__(self, rows: Iterable[RawRow]) -> None:
        self._rows = iter(rows)
        self.count = 0

    def __iter__(self) -> Iterator[RawRow]:
        for raw in self._rows:
            self.count += 1
            yield raw

    def take(self) -> int:
        """The rows read since the last call."""
        count, self.count = self.count, 0
        return count


def _batch(items: list[Grouped | RawRow], path: str, file: int, counter: Counter, rows_read: int) -> Batch:
    """One batch: each invoice (or row naming none) takes the next ``seq``, as in the row readers."""
    numbered, grouped = split_grouped(zip(counter.take(len(items)), items, strict=True))
    return objects_batch(numbered, path, file, grouped, rows_read)
