"""CSV and Parquet files of one line per act, grouped into invoices column-wise, as the row readers do.

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

A Parquet file is read so when its invoice key and its code are texts (:func:`native_per_act`),
its values those its row reader reads (an empty cell is NULL there, ``""`` in CSV); so is a JSON
or JSON Lines file whose rows fit columns (:mod:`.json_per_act`).

On a 1 M-invoice export (1.1 M lines): 36 s by the row readers for the whole check, 5.6-6.2 s so;
the same lines as Parquet, 36.6 s and 5.4-6.0 s. Most invoices have one line, and are their line:
grouping only the others took the whole check from 6.5-6.8 s to 6.1-6.2 s.
"""

from __future__ import annotations

import itertools
import json
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from operator import itemgetter
from typing import Any, BinaryIO

import attrs
import polars as pl

from billing_rules.readers.base import RawRow
from billing_rules.readers.columnar import act_spill, cells
from billing_rules.readers.columnar.csv_source import Counter, csv_batches, extras_json
from billing_rules.readers.columnar.other_sources import parquet_slices, referral_time_apart
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
    positions = _positions(names)

    def lines() -> Iterator[tuple[pl.DataFrame, list[RawRow]]]:
        for chunk in chunks:
            columns = [pl.Series(name, chunk.columns[name], dtype=pl.String) for name in positions]
            frame = pl.DataFrame([*columns, pl.Series("line", chunk.lines, dtype=pl.Int64)])
            yield frame, [raw for _, raw in chunk.fallback]

    yield from group_columnwise(lines(), Layout(names, native=False), path, file, counter)


def native_per_act(schema: Mapping[str, pl.DataType]) -> bool:
    """Whether a per-act Parquet file's rows can be grouped column-wise (:func:`parquet_per_act_batches`).

    Its invoice's key and its code are texts (as :func:`.other_sources.parquet_values` leaves
    them), compared and stripped as such; or its key is integers (:data:`_INTEGER_KEYS`). Any other
    writing (codes as lists, decimals as identifiers) is grouped by the row readers
    (:mod:`.grouped_rows`).
    """
    return _texts(schema.get(CODE)) and all(
        _texts(schema.get(name)) or (name in schema and schema[name].is_integer()) for name in _INTEGER_KEYS
    )


#: The invoice key's columns, which a Parquet file may write as integers (a pandas export of
#: invoice numbers). Grouping strips the key as text (``_keyed``: polars writes an integer as the
#: digits ``values.read_text`` makes of it, ``101`` as ``"101"``), so it names the invoice the row
#: readers name; the plain invoices' keys are read as the integers (``cells.read_series``), and
#: the rows handed to the row readers keep them.
_INTEGER_KEYS = ("practitioner_id", "invoice_id")


def _texts(kind: pl.DataType | None) -> bool:
    return kind is not None and (kind in (pl.String, pl.Null) or isinstance(kind, (pl.Categorical, pl.Enum)))


def parquet_per_act_batches(source: Any, path: str, file: int, counter: Counter) -> Iterator[Batch]:
    """The invoices of a per-act Parquet file (:func:`native_per_act`) as batches, in first-row order.

    As for CSV (:func:`per_act_batches`), on the values the row reader of Parquet reads (JSON's:
    :func:`.other_sources.parquet_values`); the rows that give a referral's time alone are held
    back for the row reader. A row's ``line`` is its 1-based number in the file.
    """
    slices = parquet_slices(source, path)
    first = next(slices, None)
    if first is None:  # no row at all: no invoice
        return
    layout = Layout(first[1].columns, native=True)
    renamed = dict(zip(layout.names, layout.positions, strict=True))

    def lines() -> Iterator[tuple[pl.DataFrame, list[RawRow]]]:
        for start, frame in itertools.chain([first], slices):
            frame, numbers, held = referral_time_apart(frame, start, path)
            yield frame.rename(renamed).with_columns(numbers.alias("line")), held

    yield from group_columnwise(lines(), layout, path, file, counter)


@attrs.frozen
class Layout:
    """A per-act file's columns: their names as read, and the positions (``c0``...) they go under.

    ``native``: the values are JSON's (Parquet, JSON), an empty one NULL; else CSV text,
    empty ``""``.
    Under positions, no column of the file can take the name of one that grouping adds.
    """

    names: list[str]
    native: bool
    #: The name of a column that holds each line's extra columns already as JSON text (JSON,
    #: whose keys vary from row to row), taken as they are; None: the extras are columns.
    encoded_extras: str | None = None
    #: The name of a column that holds, as JSON text, the values as written of the row's fields
    #: that its columns hold as values of another JSON type (NULL when none): the rows handed to the
    #: row readers get them back as written, since these compare an invoice's lines as written
    #: first (``lines._compare``).
    encoded_originals: str | None = None
    #: The rows have no line (a JSON array's objects, SPEC §2): their ``line`` is their rank in
    #: the file, which orders and numbers the invoices as a line does, and is reported nowhere.
    lineless: bool = False
    positions: list[str] = attrs.field(init=False)
    where: dict[str, str] = attrs.field(init=False)

    @positions.default
    def _positions_default(self) -> list[str]:
        return _positions(self.names)

    @where.default
    def _where_default(self) -> dict[str, str]:
        return {name: self.positions[index] for index, name in enumerate(self.names) if name}


def _positions(names: list[str]) -> list[str]:
    return [f"c{index}" for index in range(len(names))]


def group_columnwise(
    chunks: Iterator[tuple[pl.DataFrame, list[RawRow]]],
    layout: Layout,
    path: str,
    file: int,
    counter: Counter,
) -> Iterator[Batch]:
    """A per-act file's lines grouped into invoices, numbered in the order of their first lines.

    ``chunks``: the lines, under their positions with their ``line``, and the rows held back for
    the row reader (damaged, or a referral's time alone).
    """
    positions, where = layout.positions, layout.where
    with act_spill.PartitionedLines() as lines:
        added = False
        for frame, held in chunks:
            lines.add(_keyed(frame, where), held)
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
            invoices = _invoices(plain, layout)
            del plain
            judged = _judged(_rows(others, layout, part.held, path), layout.lineless)
            del others
            if later is not None:
                invoices = pl.concat([later, invoices]).sort("line")
            if later_judged:
                judged = sorted([*later_judged, *judged], key=itemgetter(0))
            later, later_judged = None, []
            if part.last_line is not None:
                beyond = invoices["line"] > part.last_line
                if beyond.any():
                    later, invoices = invoices.filter(beyond), invoices.filter(~beyond)
                later_judged = [item for item in judged if item[0] > part.last_line]
                judged = [item for item in judged if item[0] <= part.last_line]
            for batch in _numbered(invoices, judged, counter, file, path, unread, layout.lineless):
                unread = 0
                yield batch


def _numbered(
    invoices: pl.DataFrame,
    judged: list[tuple[int, Grouped | RawRow]],
    counter: Counter,
    file: int,
    path: str,
    unread: int,
    lineless: bool,
) -> Iterator[Batch]:
    """Invoices numbered by their first lines, in batches of :data:`BATCH_INVOICES`.

    ``invoices``: plain invoices, and ``judged`` the row readers' ones with their first lines, both
    in first-line order. An invoice's rank among all is its rank among its kind plus the invoices
    of the other kind before it (the lines are unique).
    """
    plain_lines = invoices["line"]
    judged_lines = pl.Series([first for first, _ in judged], dtype=pl.Int64)
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
            list(
                zip(
                    judged_seqs[begin_judged:end_judged],
                    (item for _, item in judged[begin_judged:end_judged]),
                    strict=True,
                )
            ),
            file,
            path,
            unread,
            lineless,
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
    kept = [*where.values(), "line"]
    named = keyed.filter(pl.col("_pid").is_not_null() & pl.col("_iid").is_not_null())
    # Most invoices have one line: such an invoice is its line, plain unless the line is judged.
    # Only the others are grouped (comparing some twenty columns in every group was most of it).
    repeated = named.select(pl.struct("_pid", "_iid").is_duplicated()).to_series()
    alone = named.filter(~repeated).select(
        "_pid",
        "_iid",
        *kept,
        pl.col("_code").alias("_codes"),
        pl.col("_cents").alias("_total"),
        pl.col("_cents").is_not_null().alias("_known"),
        (~pl.col("_bad")).alias("_plain"),
    )
    several = (
        named.filter(repeated)
        .group_by("_pid", "_iid", maintain_order=True)
        .agg(
            *(pl.col(position).first() for position in kept),
            pl.col("_code").str.join("+").alias("_codes"),
            pl.col("_cents").sum().alias("_total"),
            (pl.col("_cents").null_count() == 0).alias("_known"),
            plain.alias("_plain"),
        )
    )
    groups = pl.concat([alone, several], how="vertical_relaxed")
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
    the few others are stripped by Python, once per distinct spelling. An integer key is its
    digits (:data:`_INTEGER_KEYS`).
    """
    series = series.cast(pl.String).fill_null("")
    odd = series.filter(~series.str.contains(_PLAIN)).unique().to_list()
    if odd:
        series = series.replace({value: value.strip() for value in odd})
    return series.replace("", None)


def _rows(others: pl.DataFrame, layout: Layout, held: list[RawRow], path: str) -> Iterator[RawRow]:
    """The lines left to the row readers, in file order, as their rows (``held``: already so).

    A CSV line's empty cell is ``""``, as the CSV reader gives it; a Parquet or JSON row keeps
    its NULLs, and a JSON row its extra keys (``Layout.encoded_extras``).
    """
    rows = []
    present = [position for position in layout.positions if position in others.columns]
    named = [(name, position) for name, position in zip(layout.names, layout.positions, strict=True) if name]
    for cells_of_line in others.select(*present, "line").iter_rows():
        *values, line = cells_of_line
        by_position = dict(zip(present, values, strict=True))
        if layout.native:
            row = {name: by_position.get(position) for name, position in named}
            if layout.encoded_extras is not None:
                encoded = row.pop(layout.encoded_extras)
                row.update(json.loads(encoded) if encoded is not None else {})
            if layout.encoded_originals is not None:
                written = row.pop(layout.encoded_originals)
                row.update(json.loads(written) if written is not None else {})
        else:
            row = {name: by_position.get(position) or "" for name, position in named}
        rows.append(RawRow(line, row, path))
    rows += held
    rows.sort(key=lambda raw: raw.line or 0)
    return iter(rows)


def _judged(rows: Iterator[RawRow], lineless: bool) -> list[tuple[int, Grouped | RawRow]]:
    """The row readers' invoices of ``rows`` (in file order), each with its first line.

    ``lineless``: the rows' lines are their ranks (:attr:`Layout.lineless`). The row readers get
    them without a line, as they read them, so that their errors and messages have none; an
    invoice's rank is its first row's (the grouping keeps the order of the first rows).
    """
    if not lineless:
        return [
            ((item.raw.line if isinstance(item, Grouped) else item.line) or 0, item)
            for item in group_lines(rows)
        ]
    firsts: dict[Any, int] = {}
    bare: list[RawRow] = []
    for raw in rows:
        row = RawRow(None, raw.values, raw.file, raw.problems)
        key = row_identity(row)
        firsts.setdefault(id(row) if key is None else key, raw.line or 0)
        bare.append(row)
    return [
        (firsts[item.key] if isinstance(item, Grouped) else firsts[id(item)], item)
        for item in group_lines(bare)
    ]


def _invoices(plain: pl.DataFrame, layout: Layout) -> pl.DataFrame:
    """The plain invoices as per-invoice rows: SPEC columns by name, then ``extras`` and ``line``."""
    names, where = layout.names, layout.where
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
    extra = [
        (name, where[name])
        for name in names
        if name
        and name not in READ_COLUMNS
        and name != CODE
        and name not in (layout.encoded_extras, layout.encoded_originals)
    ]
    frame = plain.select(*columns, pl.col("_codes").alias("codes"), amount.alias("amount"), "line")
    if layout.encoded_extras is not None:
        frame = frame.with_columns(plain[where[layout.encoded_extras]].alias("extras"))
    elif extra and layout.native:  # as a per-invoice Parquet file's (``parquet_batches``)
        encoded = pl.struct(*(pl.col(position).alias(name) for name, position in extra)).struct.json_encode()
        frame = frame.with_columns(plain.select(encoded).to_series().alias("extras"))
    elif extra:
        frame = frame.with_columns(extras_json(plain, extra).alias("extras"))
    return frame


def _batch(
    invoices: pl.DataFrame,
    seqs: pl.Series,
    judged: list[tuple[int, Grouped | RawRow]],
    file: int,
    path: str,
    lines_read: int,
    lineless: bool,
) -> Batch:
    """One batch: its plain invoices column-wise, the others as the row readers grouped them.

    ``lines_read``: the file's lines it stands for (a progress line's count). ``lineless``: the
    invoices' lines are ranks, reported as no line.
    """
    fallback, grouped = split_grouped(judged)
    columns = {name: invoices[name] for name in invoices.columns if name not in ("line", "extras")}
    extras = invoices["extras"] if "extras" in invoices.columns else None
    lines = invoices["line"]
    if lineless:
        lines = lines.clear(len(lines))  # as many NULLs
    return Batch(file, path, seqs, lines, columns, extras, fallback, grouped, lines_read)
