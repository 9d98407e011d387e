"""One batch of input rows to typed invoice rows and input errors, column by column.

A batch is a run of consecutive records of one file, its values still raw (CSV text, or JSON and
Parquet natives). Every SPEC §1 column is read at once (:mod:`.cells`), the cross-field rules
(a birth after the act, a regulation after the act) are expressions, and only the rows in error
come back to Python, to be worded in exactly the row readers' order: bad fields in SPEC order,
then the birth date, then the regulation. Records the format already found broken or damaged
(ragged rows, undecodable bytes, an unparsable JSON line) are few: they go through the row
readers' own :func:`~billing_rules.readers.rows.event_from_row`, so they read exactly as there.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs
import polars as pl

from billing_rules.model import Event, InputError
from billing_rules.readers import rows
from billing_rules.readers.base import RawRow
from billing_rules.readers.columnar import cells
from billing_rules.readers.columnar.schema import ORIGIN_INPUT, polars_schema

if TYPE_CHECKING:
    from billing_rules.readers.lines import Grouped

#: Seconds of the end of the day: an untimed act is taken at 23:59:59 (SPEC §5, as Event.act_time).
_END_OF_DAY_S = 23 * 3600 + 59 * 60 + 59


@attrs.frozen
class Batch:
    """Consecutive records of one file, as columns; ``fallback`` rows are read one by one."""

    file: int
    path: str
    seqs: Any  # list[int] or an Int64 pl.Series
    lines: Any  # list[int | None] or an Int64 pl.Series
    columns: dict[str, Any]  # SPEC §1 column -> pl.Series or list of natives
    extras: pl.Series | None  # JSON text of each row's unknown columns (NULL: none)
    fallback: list[tuple[int, RawRow]] = attrs.Factory(list)
    #: Invoices of a per-act file whose lines do not make one (:mod:`.per_act`): their errors.
    grouped: list[tuple[int, Grouped]] = attrs.Factory(list)
    #: The input's rows this batch stands for, for a progress line, when not one per invoice
    #: (a per-act file's lines); None: its invoices and fallback rows.
    rows_read: int | None = None

    @property
    def read(self) -> int:
        """The input's rows this batch stands for (a progress line's count)."""
        if self.rows_read is not None:
            return self.rows_read
        return len(self.seqs) + len(self.fallback) + len(self.grouped)


def split_grouped(
    numbered: Iterable[tuple[int, Grouped | RawRow]],
) -> tuple[list[tuple[int, RawRow]], list[tuple[int, Grouped]]]:
    """A per-act file's invoices, as the row readers' grouping gave them, by how they are read.

    (the rows to read: a row naming no invoice, or an invoice whose lines make one; the invoices
    whose lines do not, with their errors), each with its ``seq``.
    """
    rows: list[tuple[int, RawRow]] = []
    grouped: list[tuple[int, Grouped]] = []
    for seq, item in numbered:
        if isinstance(item, RawRow):
            rows.append((seq, item))
        elif item.errors:
            grouped.append((seq, item))
        else:
            rows.append((seq, item.raw))
    return rows, grouped


#: An input error with its place in the input: (seq, rank within the row, error).
Located = tuple[int, int, InputError]


@attrs.define
class BatchResult:
    """The readable rows (output schema), the errors, and the keys of the rows in error."""

    table: pl.DataFrame
    errors: list[Located]
    error_keys: list[tuple[int, int | None, str, str]]  # (seq, line, practitioner_id, invoice_id)


def read_batch(batch: Batch) -> BatchResult:
    """Validate a batch; see the module docstring."""
    tables = []
    errors: list[Located] = []
    error_keys: list[tuple[int, int | None, str, str]] = []
    if len(batch.seqs):
        table, found, keys = _columns(batch)
        tables.append(table)
        errors += found
        error_keys += keys
    if batch.fallback:
        events = []
        for seq, raw in batch.fallback:
            result = rows.event_from_row(raw, seq)
            if isinstance(result, Event):
                events.append(event_row(result, batch.file))
                continue
            errors.extend((seq, rank, error) for rank, error in enumerate(result))
            key = rows.row_identity(raw)
            if key is not None:
                error_keys.append((seq, raw.line, key[0], key[1]))
        if events:
            tables.append(pl.DataFrame(events, schema=polars_schema(), orient="row"))
    for seq, item in batch.grouped:
        # As the row readers report such an invoice: its lines' errors; it still claims its number.
        errors.extend((seq, rank, error) for rank, error in enumerate(item.errors))
        error_keys.append((seq, item.raw.line, item.key[0], item.key[1]))
    if not tables:
        table = pl.DataFrame(schema=polars_schema())
    elif len(tables) == 1:
        table = tables[0]
    else:
        table = pl.concat(tables).sort("seq")
    return BatchResult(table, errors, error_keys)


def _columns(batch: Batch) -> tuple[pl.DataFrame, list[Located], list[tuple[int, int | None, str, str]]]:
    """The batch's regular rows: the readable ones in the output schema, the others' errors and keys."""
    size = len(batch.seqs)
    values: dict[str, pl.Series] = {
        "seq": pl.Series("seq", batch.seqs, dtype=pl.Int64),
        "line": pl.Series("line", batch.lines, dtype=pl.Int64),
    }
    messages: dict[str, pl.Series] = {}
    for name, _required in cells.SPEC_ORDER:
        column = batch.columns.get(name)
        if column is None:
            if name in cells.REQUIRED:  # a JSON key absent from every row of the batch
                column = pl.Series([None] * size, dtype=pl.String)
            else:
                continue
        result = (
            cells.read_series(name, column)
            if isinstance(column, pl.Series)
            else cells.read_objects(name, column)
        )
        values.update(result.values)
        if result.messages is not None:
            messages[name] = result.messages
    if batch.extras is not None:
        values["extras"] = batch.extras.alias("extras")
    frame = pl.DataFrame(values).with_columns(
        *(series.alias(f"error:{name}") for name, series in messages.items())
    )
    if "time" not in messages:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("error:time"))
    flags = _cross_checks(frame)
    frame = frame.with_columns(*flags)
    bad = pl.any_horizontal(
        *(pl.col(f"error:{name}").is_not_null() for name in messages),
        pl.col("bad:birth"),
        pl.col("bad:referral"),
    )
    frame = frame.with_columns(bad.alias("bad"))
    errors: list[Located] = []
    keys: list[tuple[int, int | None, str, str]] = []
    if frame["bad"].any():
        errors, keys = _errors(frame.filter(pl.col("bad")), list(messages), batch.path)
        frame = frame.filter(~pl.col("bad"))
    return _finish(frame, batch), errors, keys


def _cross_checks(frame: pl.DataFrame) -> list[pl.Expr]:
    """A birth date after the act; a regulation after the act (unless the time is wrong)."""
    names = frame.columns
    day = pl.col("date")
    birth = (
        (day.is_not_null() & pl.col("birth_date").is_not_null() & (pl.col("birth_date") > day)).fill_null(
            False
        )
        if "birth_date" in names
        else pl.lit(False)
    )
    if "referral_at" in names:
        seconds = pl.col("time_s").fill_null(_END_OF_DAY_S) if "time_s" in names else pl.lit(_END_OF_DAY_S)
        act = day.cast(pl.Datetime("us")) + pl.duration(seconds=seconds)
        referral = (
            day.is_not_null()
            & pl.col("referral_at").is_not_null()
            & pl.col("error:time").is_null()
            & (pl.col("referral_at") > act)
        ).fill_null(False)
    else:
        referral = pl.lit(False)
    return [birth.alias("bad:birth"), referral.alias("bad:referral")]


def _errors(
    bad: pl.DataFrame, with_messages: list[str], path: str
) -> tuple[list[Located], list[tuple[int, int | None, str, str]]]:
    """Word the errors of the rows in error, in the row readers' order."""
    order = [name for name, _ in cells.SPEC_ORDER if name in with_messages]
    wanted = ["seq", "line", "invoice_id", "practitioner_id", "date", "birth_date", "time_s", "referral_at"]
    present = [name for name in wanted if name in bad.columns]
    columns = [*present, *(f"error:{name}" for name in order), "bad:birth", "bad:referral"]
    errors: list[Located] = []
    keys: list[tuple[int, int | None, str, str]] = []
    for row in bad.select(columns).iter_rows(named=True):
        seq, line, invoice_id = row["seq"], row["line"], row.get("invoice_id")
        found = [(name, row[f"error:{name}"]) for name in order if row[f"error:{name}"] is not None]
        day = row["date"]
        if row["bad:birth"]:
            found.append(("birth_date", rows.birth_after_act(day)))
        if row["bad:referral"]:
            seconds = row.get("time_s")
            moment = None if seconds is None else dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60)
            found.append(("referral_at", rows.referral_after_act(row["referral_at"], day, moment)))
        for rank, (field, message) in enumerate(found):
            error = InputError(line=line, field=field, message=message, file=path, invoice_id=invoice_id)
            errors.append((seq, rank, error))
        practitioner = row.get("practitioner_id")
        if practitioner and invoice_id:
            keys.append((seq, line, practitioner, invoice_id))
    return errors, keys


def _finish(frame: pl.DataFrame, batch: Batch) -> pl.DataFrame:
    """The readable rows in the output schema: defaults filled, absent columns added."""
    schema = polars_schema()
    columns = []
    for name, kind in schema.items():
        if name == "file":
            columns.append(pl.lit(batch.file, dtype=kind).alias(name))
        elif name == "origin":
            columns.append(pl.lit(ORIGIN_INPUT, dtype=kind).alias(name))
        elif name == "extras":
            if batch.extras is None:
                columns.append(pl.lit(None, dtype=kind).alias(name))
            else:
                columns.append(pl.col("extras").cast(kind))
        elif name in frame.columns:
            expr = pl.col(name)
            if name in cells.DEFAULTS:
                expr = expr.fill_null(pl.lit(cells.DEFAULTS[name], dtype=kind))
            columns.append(expr.cast(kind))
        else:
            default = cells.DEFAULTS.get(name)
            columns.append(pl.lit(default, dtype=kind).alias(name))
    return frame.select(columns)


def event_row(event: Event, file: int) -> tuple[Any, ...]:
    """An Event (from the row readers' fallback) as a row of the output schema."""
    moment = event.time
    amount = event.amount
    km = event.km
    extra = dict(event.extra)
    return (
        event.seq,
        file,
        event.line,
        ORIGIN_INPUT,
        event.invoice_id,
        event.practitioner_id,
        event.patient_id,
        event.specialty,
        event.sector.value,
        event.mt_status.value,
        event.place.value,
        event.status.value,
        event.date,
        event.birth_date,
        event.discharge_date,
        None if moment is None else moment.hour * 60 + moment.minute,
        None if moment is None else moment.hour * 3600 + moment.minute * 60 + moment.second,
        event.referral_at,
        event.ald,
        event.palliative,
        event.neurodegenerative,
        event.declares_mt,
        event.homebound,
        event.regulated,
        list(event.codes),
        None if amount is None else cells.hundredths(amount),
        None if amount is None else format(amount, "f"),
        None if km is None else cells.hundredths(km),
        None if km is None else format(km, "f"),
        json.dumps(extra, ensure_ascii=False, default=str) if extra else None,
    )
