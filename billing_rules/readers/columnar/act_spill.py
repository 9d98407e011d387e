"""A per-act file's lines, grouped into invoices in bounded memory: in parts by first line, on disk.

No line of a per-act file can be grouped before the last one is read: any later line may belong
to any invoice. Held whole, 10.7 M lines took 15.2 GiB. So the lines are taken in rounds of
:data:`SPILL_LINES`, and each invoice belongs to the part of the round where its first line lies:
a line of an invoice begun in an earlier round joins that round's part (exports write an invoice's
lines together, so such lines are few). Every round but the last is written to the process's
scratch folder (Arrow IPC, LZ4: the columns repeat, a tenth of their size) by a thread beside the
reading, and the parts are then grouped one after the other, in file order: part by part, the
invoices come in the order of their first lines, with nothing to merge. A file of one round
never touches the disk.

What grows with the file is the hashes of the invoices seen (12 bytes each). Invoices are told
apart by a 64-bit hash of (``_pid``, ``_iid``). Two invoices of one hash share
a part; each is still grouped from all its lines, and :func:`.per_act.per_act_batches` holds back
an invoice whose first line lies past its part's round until that round's turn.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import attrs
import polars as pl

from billing_rules import scratch
from billing_rules.errors import ReadError
from billing_rules.readers.base import RawRow
from billing_rules.readers.rows import row_identity

#: Lines of a round. Two rounds are held at most (one being written): on 1.1 M lines, the whole
#: check's peak went from 1.8 GiB to 1.1 GiB, at 3-4 % more time; on 10.7 M lines, from 15.2 GiB
#: to 3.4 GiB, and from 78 s to 62 s (grouping parts of a round's size costs less).
SPILL_LINES = 250_000
_HASH = "_hash"
_PART = "_part"


@attrs.frozen
class Part:
    """The lines of the invoices whose first line lies in one round, and the round's last line."""

    lines: pl.DataFrame
    held: list[RawRow]  # the row reader's rows among them (damaged, a referral's time alone)
    last_line: int | None  # None: the file's last round


class PartitionedLines:
    """The keyed lines of one per-act file (:func:`.per_act._keyed`), in parts by first line.

    A context manager: its files are removed on leaving, however the reading ends.
    """

    def __init__(self) -> None:
        self._round: list[pl.DataFrame] = []
        self._empty: pl.DataFrame | None = None
        self._round_held: list[RawRow] = []
        self._round_lines = 0
        self.lines = 0
        self.held_rows = 0
        #: Each part's lines, round after round: a file's name, or the last round's frame.
        self._parts: list[list[str | pl.DataFrame]] = []
        self._held: list[list[RawRow]] = []
        self._last_lines: list[int] = []
        #: Every invoice's hash and part (the round of its first line).
        self._seen = pl.DataFrame(schema={_HASH: pl.UInt64, _PART: pl.Int32})
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        #: Writes each round beside the reading (polars releases the GIL): one at a time.
        self._writer: ThreadPoolExecutor | None = None
        self._pending: Future[list[tuple[int, str]]] | None = None

    def __enter__(self) -> PartitionedLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def spilled(self) -> bool:
        """Whether some lines went to disk."""
        return self._folder is not None

    @property
    def held(self) -> list[RawRow]:
        """Every row reader's row read so far."""
        return [raw for part in self._held for raw in part] + self._round_held

    def add(self, lines: pl.DataFrame, held: list[RawRow]) -> None:
        """One chunk's keyed lines, and its rows held back for the row reader."""
        if self._empty is None:
            self._empty = lines.clear()
        self._round.append(lines)
        self._round_held += held
        self._round_lines += lines.height + len(held)
        self.lines += lines.height
        self.held_rows += len(held)
        if self._round_lines >= SPILL_LINES:
            self._close_round(last=False)

    def parts(self) -> Iterator[Part]:
        """Every part, in the order of the rounds: all the lines of its invoices, in file order."""
        self._close_round(last=True)
        self._wait()
        count = len(self._parts)
        for index in range(count):
            entries, self._parts[index] = self._parts[index], []
            frames = [entry if isinstance(entry, pl.DataFrame) else _read(entry) for entry in entries]
            # A round of stragglers and held rows only begins no invoice of its own lines.
            lines = pl.concat(frames) if len(frames) > 1 else frames[0] if frames else self._empty
            assert lines is not None
            del frames, entries
            held, self._held[index] = self._held[index], []
            yield Part(lines, held, self._last_lines[index] if index < count - 1 else None)

    def close(self) -> None:
        """Remove the files (idempotent), once the round being written is."""
        self._round, self._parts = [], []
        if self._writer is not None:
            self._writer.shutdown(wait=True)  # a failed write was raised by ``_wait``, or is moot
            self._writer, self._pending = None, None
        if self._folder is not None:
            self._folder.cleanup()

    def _close_round(self, *, last: bool) -> None:
        """Give each line of the round its part; write the round, unless it is the file's last."""
        frames, held = self._round, self._round_held
        self._round, self._round_held, self._round_lines = [], [], 0
        if not frames and not held and self._parts:
            return
        number = len(self._parts)
        lines = pl.concat(frames) if len(frames) > 1 else frames[0]
        del frames
        self._parts.append([])
        self._held.append([])
        self._last_lines.append(max([lines["line"].max() or -1, *(raw.line or -1 for raw in held)]))
        if last and not number:  # the whole file in one round: one part, in memory
            self._parts[0].append(lines)
            self._held[0] += held
            return
        pieces = self._pieces(lines, held, number)
        del lines
        self._wait()
        if last:
            for part, piece in pieces:
                self._parts[part].append(piece)
            return
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(
                prefix="actes-", dir=scratch.folder(), ignore_cleanup_errors=True
            )
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="billing-rules-actes")
        assert self._writer is not None
        self._pending = self._writer.submit(_write_round, pieces, self._folder.name, number)

    def _pieces(self, lines: pl.DataFrame, held: list[RawRow], number: int) -> list[tuple[int, pl.DataFrame]]:
        """The round's lines by part: this round's own, then those of invoices begun earlier.

        The held rows go to their parts' lists here.
        """
        hashes = lines.select(_invoice_hash().alias(_HASH))
        held_hashes = _held_hashes(held)
        named = pl.concat([hashes, held_hashes]).drop_nulls().unique()
        # The invoices begun in an earlier round, and their parts: a scan of the hashes seen (a
        # set of this round's few is probed), where joining them would hash them all each round.
        earlier = self._seen.filter(pl.col(_HASH).is_in(named[_HASH].implode()))
        new = named.filter(~pl.col(_HASH).is_in(earlier[_HASH].implode()))
        own = new.with_columns(pl.lit(number, dtype=pl.Int32).alias(_PART))
        self._seen = pl.concat([self._seen, own], rechunk=False)
        parts = held_hashes.join(earlier, on=_HASH, how="left", maintain_order="left")[_PART].to_list()
        for raw, part in zip(held, parts, strict=True):
            self._held[number if part is None else part].append(raw)
        if earlier.is_empty():
            return [(number, lines)]
        # A line of an invoice begun in this round, or of none, is of this round's part.
        part = hashes.join(earlier, on=_HASH, how="left", maintain_order="left")[_PART].fill_null(number)
        ours = part == number
        pieces = [(number, lines.filter(ours))]
        stragglers = lines.filter(~ours).with_columns(part.filter(~ours))
        by_part = stragglers.partition_by(_PART, as_dict=True, include_key=False)
        pieces += [(int(index), piece) for (index,), piece in by_part.items()]  # type: ignore[call-overload]
        return pieces

    def _wait(self) -> None:
        """The last round's files, once written (a write's error, a full disk, is raised here)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            with _scratch_errors():
                written = pending.result()
            for part, name in written:
                self._parts[part].append(name)


def _invoice_hash() -> pl.Expr:
    """The invoice's hash; NULL for a line that names no invoice."""
    named = pl.col("_pid").is_not_null() & pl.col("_iid").is_not_null()
    return pl.when(named).then(pl.struct("_pid", "_iid").hash())


def _held_hashes(held: list[RawRow]) -> pl.DataFrame:
    """The hash of the invoice each held row names (NULL: none), in the rows' order."""
    keys = [row_identity(raw) or (None, None) for raw in held]
    frame = pl.DataFrame(keys, schema={"_pid": pl.String, "_iid": pl.String}, orient="row")
    return frame.select(_invoice_hash().alias(_HASH))


def _read(name: str) -> pl.DataFrame:
    with _scratch_errors():
        frame = pl.read_ipc(name)
        os.unlink(name)
    return frame


@contextlib.contextmanager
def _scratch_errors() -> Iterator[None]:
    """A temporary file that cannot be written or read back (a full disk), said as such.

    Not as a fault of the input file, which ``table._batches`` would word for an ``OSError``.
    """
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ReadError(
            f"regroupement des actes par facture : fichier temporaire inutilisable ({reason}) ; "
            "libérez de la place dans le dossier temporaire ou indiquez-en un autre (TMPDIR)"
        ) from None


def _write_round(jobs: list[tuple[int, pl.DataFrame]], folder: str, number: int) -> list[tuple[int, str]]:
    """One round's lines, written part by part: (part, file) of each."""
    written = []
    for part, piece in jobs:
        name = os.path.join(folder, f"lines-{number}-{part}.arrow")
        piece.write_ipc(name, compression="lz4")
        written.append((part, name))
    jobs.clear()
    return written
