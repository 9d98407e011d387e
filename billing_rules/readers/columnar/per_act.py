"""CSV files of one line per act, grouped into invoices column-wise, as the row readers group them.

The row readers group such a file's lines by invoice (``practitioner_id``, ``invoice_id``) in
Python, line after line (:mod:`billing_rules.readers.lines`). Most invoices are plain: their lines
say the same thing, character for character, in every column but the code and the amount; each
line's code and amount read; no line is damaged or gives a referral's time alone. Grouping those
needs no judgement, and is done here in native code: the codes joined in line order, the amounts
summed to the cent (unknown if a line has none); the invoice is then its first line with those
two values, validated as a per-invoice row is (:mod:`.validate`), exactly what the row readers
read for it. Every other invoice (lines that disagree or fill each other's gaps, a bad code or
amount, a damaged line...) goes with all its lines to the row readers' own grouping, whose errors
are then theirs word for word; so does a line that names no invoice. The invoices come in the
order of their first lines, numbered in that order, as there.

On a 1 M-invoice export (1.1 M lines): 36 s by the row readers for the whole check, 5.6 s so.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import BinaryIO

import polars as pl

from billing_rules.readers.base import RawRow
from billing_rules.readers.columnar import act_spill, cells
from billing_rules.readers.columnar.csv_source import Counter, csv_batches, extras_json
from billing_rules.readers.columnar.validate import Batch, split_grouped
from billing_rules.readers.columns import CODE
from billing_rules.readers.csv_reader import CsvTable
from billing_rules.readers.lines import COMPARED, Grouped, group_lines
from billing_rules.readers.rows import KNOWN_COLUMNS, row_identity
from billing_rules.readers.values import READ_COLUMNS

#: Invoices per batch handed to the validation.
BATCH_INVOICES = 200_000
#: A text whose first and last characters are printable ASCII is its own ``str.strip()``.
_PLAIN = r"(?s)^[!-~](.*[!-~])?$"


def per_act_batches(
    open_stream: Callable[[], BinaryIO], header: CsvTable, path: str, file: int, counter: Counter
) -> Iterator[Batch]:
    """The invoices of a per-act CSV file as batches, in the order of their first lines.

    ``header``: the file's :func:`~.csv_source.csv_header`. The lines are read whole first, every
    column under its position (``c0``...), the damaged ones (and those with a referral's time
    alone) held back as the row reader's rows; ``counter`` then numbers the invoices (the input's
    ``seq``): a later line may belong to any invoice. A big file's lines are put in parts by the
    round of their invoice's first line, on disk, and grouped a part at a time (:mod:`.act_spill`).
    """
    chunks = csv_batches(open_stream, path, file, Counter(), header=header, per_act=True)
    names: list[str] = header.names
    positions = [f"c{index}" for index in range(len(names))]
    where = {name: positions[index] for index, name in enumerate(names) if name}
    with act_spill.PartitionedLines() as lines:
        added = False
        for chunk in chunks:
            columns = [pl.Series(name, chunk.columns[name], dtype=pl.String) for name in positions]
            frame = pl.DataFrame([*columns, pl.Series("line", chunk.lines, dtype=pl.Int64)])
            lines.add(_keyed(frame, where), [raw for _, raw in chunk.fallback])
            added = True
        if not added:
            empty = pl.DataFrame(schema={**dict.fromkeys(positions, pl.String), "line": pl.Int64})
            lines.add(_keyed(empty, where), [])
        unread = lines.lines + lines.held_rows  # all read before the first batch: it says so
        # A line read by the row reader (damaged, or a referral's time alone) takes its invoice along.
        claimed = {key for key in map(row_identity, lines.held) if key is not None}
        # Invoices whose first line lies past their part's round (two invoices of one hash):
        # held back until that round's turn.
        later: pl.DataFrame | None = None
        later_judged: list[Grouped | RawRow] = []
        for part in lines.parts():
            plain, others = _grouped(part.lines, where, claimed)
            invoices = _invoices(plain, names, where)
            del plain
            judged = list(group_lines(_rows(others, names, positions, part.held, path)))
            del others
            if later is not None:
                invoices = pl.concat([later, invoices]).sort("line")
            if later_judged:
                judged = sorted([*later_judged, *judged], key=_first_line)
            later, later_judged = None, []
            if part.last_line is not None:
                beyond = invoices["line"] > part.last_line
                if beyond.any():
                    later, invoices = invoices.filter(beyond), invoices.filter(~beyond)
                later_judged = [item for item in judged if _first_line(item) > part.last_line]
                judged = [item for item in judged if _first_line(item) <= part.last_line]
            for batch in _numbered(invoices, judged, counter, file, path, unread):
                unread = 0
                yield batch


def _numbered(
    invoices: pl.DataFrame,
    judged: list[Grouped | RawRow],
    counter: Counter,
    file: int,
    path: str,
    unread: int,
) -> Iterator[Batch]:
    """Invoices numbered by their first lines, in batches of :data:`BATCH_INVOICES`.

    ``invoices``: plain invoices, and ``judged`` the row readers' ones, both in first-line order.
    An invoice's rank among all is its rank among its kind plus the invoices of the other kind
    before it (the lines are unique).
    """
    plain_lines = invoices["line"]
    judged_lines = pl.Series([_first_line(item) for item in judged], dtype=pl.Int64)
    first = counter.seq
    counter.seq += invoices.height + len(judged)
    plain_seqs = pl.int_range(
        first, first + invoices.height, dtype=pl.Int64, eager=True
    ) + judged_lines.search_sorted(plain_lines).cast(pl.Int64)
    judged_seqs = (
        pl.int_range(first, first + len(judged), dtype=pl.Int64, eager=True)
        + plain_lines.search_sorted(judged_lines).cast(pl.Int64)
    ).to_list()
    for low in range(first, counter.seq, BATCH_INVOICES):
        high = low + BATCH_INVOICES
        begin, end = plain_seqs.search_sorted(pl.Series([low, high], dtype=pl.Int64)).to_list()
        begin_judged, end_judged = bisect_left(judged_seqs, low), bisect_left(judged_seqs, high)
        yield _batch(
            invoices.slice(begin, end - begin),
            plain_seqs.slice(begin, end - begin),
            list(zip(judged_seqs[begin_judged:end_judged], judged[begin_judged:end_judged], strict=True)),
            file,
            path,
            unread,
        )
        unread = 0


def _keyed(lines: pl.DataFrame, where: dict[str, str]) -> pl.DataFrame:
    """Each line with what grouping needs: its invoice, code, cents, and whether it reads alone."""
    code = _stripped(lines[where[CODE]])
    bad = code.is_null()
    read_codes = cells.read_series("codes", code.fill_null(""))
    if read_codes.messages is not None:
        bad = bad | read_codes.messages.is_not_null()
    cents = pl.Series("cents", [None] * lines.height, dtype=pl.Int64)
    if "amount" in where:
        amount = cells.read_series("amount", lines[where["amount"]])
        if amount.messages is not None:
            bad = bad | amount.messages.is_not_null()
        cents = amount.values["amount_cents"]  # whole cents: a finer amount is an error on its line
    return lines.with_columns(
        _stripped(lines[where["practitioner_id"]]).alias("_pid"),
        _stripped(lines[where["invoice_id"]]).alias("_iid"),
        code.alias("_code"),
        cents.alias("_cents"),
        bad.alias("_bad"),
    )


def _grouped(
    keyed: pl.DataFrame, where: dict[str, str], claimed: set[tuple[str, str]]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the plain invoices, one row each in first-line order; the lines left to the row readers).

    ``claimed``: the invoices a line read by the row reader names: none of them is plain.
    """
    # Plain: no line judged on its own, every compared column written alike on every line.
    plain = ~pl.col("_bad").any()
    compared = [where[name] for name in COMPARED if name in where]
    if compared:
        plain = plain & pl.all_horizontal(*(pl.col(position).n_unique() == 1 for position in compared))
    groups = (
        keyed.filter(pl.col("_pid").is_not_null() & pl.col("_iid").is_not_null())
        .group_by("_pid", "_iid", maintain_order=True)
        .agg(
            *(pl.col(position).first() for position in [*where.values(), "line"]),
            pl.col("_code").str.join("+").alias("_codes"),
            pl.col("_cents").sum().alias("_total"),
            (pl.col("_cents").null_count() == 0).alias("_known"),
            plain.alias("_plain"),
        )
    )
    if claimed:
        spoiled = pl.DataFrame(list(claimed), schema={"_pid": pl.String, "_iid": pl.String}, orient="row")
        spoiled = spoiled.with_columns(pl.lit(True).alias("_held"))
        groups = groups.join(spoiled, on=["_pid", "_iid"], how="left", maintain_order="left")
        groups = groups.with_columns(pl.col("_plain") & pl.col("_held").is_null())
    judged = groups.filter(~pl.col("_plain")).select("_pid", "_iid")
    others = keyed.filter(pl.col("_pid").is_null() | pl.col("_iid").is_null())
    others = pl.concat([others, keyed.join(judged, on=["_pid", "_iid"], how="semi")]).sort("line")
    # In the order of their first lines, which the batches follow.
    return groups.filter(pl.col("_plain")).sort("line"), others.select(*where.values(), "line")


def _stripped(series: pl.Series) -> pl.Series:
    """``str.strip()`` of each cell, NULL when nothing is left, exactly as Python strips.

    Python's whitespace is not polars': a cell whose ends are printable ASCII is its own strip;
    the few others are stripped by Python, once per distinct spelling.
    """
    series = series.fill_null("")
    odd = series.filter(~series.str.contains(_PLAIN)).unique().to_list()
    if odd:
        series = series.replace({value: value.strip() for value in odd})
    return series.replace("", None)


def _rows(
    others: pl.DataFrame, names: list[str], positions: list[str], held: list[RawRow], path: str
) -> Iterator[RawRow]:
    """The lines left to the row readers, in file order, as their rows (``held``: already so)."""
    rows = []
    present = [position for position in positions if position in others.columns]
    for cells_of_line in others.select(*present, "line").iter_rows():
        *values, line = cells_of_line
        by_position = dict(zip(present, values, strict=True))
        row = {
            name: by_position.get(position) or ""
            for name, position in zip(names, positions, strict=True)
            if name
        }
        rows.append(RawRow(line, row, path))
    rows += held
    rows.sort(key=lambda raw: raw.line or 0)
    return iter(rows)


def _first_line(item: Grouped | RawRow) -> int:
    return (item.raw.line if isinstance(item, Grouped) else item.line) or 0


def _invoices(plain: pl.DataFrame, names: list[str], where: dict[str, str]) -> pl.DataFrame:
    """The plain invoices as per-invoice rows: SPEC columns by name, then ``extras`` and ``line``."""
    columns = [
        pl.col(where[name]).alias(name)
        for name in names
        if name in KNOWN_COLUMNS and name not in ("codes", "amount") and name in where
    ]
    amount: pl.Expr = pl.lit(None, dtype=pl.String)
    if "amount" in where:
        # The lines' exact sum, written as the row readers write it (to the cent: it reads back
        # as the same amount); unknown when a line has none.
        total = pl.col("_total").abs()
        sign = pl.when(pl.col("_total") < 0).then(pl.lit("-")).otherwise(pl.lit(""))
        written = sign + (total // 100).cast(pl.String) + "." + (total % 100).cast(pl.String).str.zfill(2)
        amount = pl.when(pl.col("_known")).then(written).otherwise(None)
    extra = [(name, where[name]) for name in names if name and name not in READ_COLUMNS and name != CODE]
    frame = plain.select(*columns, pl.col("_codes").alias("codes"), amount.alias("amount"), "line")
    if extra:
        frame = frame.with_columns(extras_json(plain, extra).alias("extras"))
    return frame


def _batch(
    invoices: pl.DataFrame,
    seqs: pl.Series,
    judged: list[tuple[int, Grouped | RawRow]],
    file: int,
    path: str,
    lines_read: int,
) -> Batch:
    """One batch: its plain invoices column-wise, the others as the row readers grouped them.

    ``lines_read``: the file's lines it stands for (a progress line's count).
    """
    fallback, grouped = split_grouped(judged)
    columns = {name: invoices[name] for name in invoices.columns if name not in ("line", "extras")}
    extras = invoices["extras"] if "extras" in invoices.columns else None
    return Batch(file, path, seqs, invoices["line"], columns, extras, fallback, grouped, lines_read)
