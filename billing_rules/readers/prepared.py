"""Prepared files: the validated invoice table in Parquet, written once, checked again without reading.

Why: at scale, reading and validating SPEC §1 is a third of a check (1 M invoices: 1.5 s of 4.3),
and the same input is often checked more than once (another rule selection, an extra rule file,
the texts of another date), or by a cluster that should not wait for one machine to validate a
year. ``billing-rules prepare`` writes the invoice table exactly as the engines hold it (typed
columns, each invoice's original file and line, the input's order, the duplicates left out) and,
in the Parquet footer, what the reading found: the input errors, the number of readable invoices
and the original files' names. Checking the prepared file gives the report the original files
give, on every engine, without validating them again.

The footer's key :data:`KEY` marks the format. A file that carries it but whose format, columns
or values are not what this version writes (a table edited by another tool, a newer format) is
refused as a whole, in French, never half read: prepare it again from the billing files.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs

from billing_rules.errors import ReadError
from billing_rules.model import Event, InputError, MtStatus, Place, Sector, Status
from billing_rules.money import from_cents
from billing_rules.readers.base import file_label
from billing_rules.readers.columnar import schema as reader_schema

#: The footer key that marks a prepared file; its value is the JSON of :func:`metadata_text`.
KEY = "billing_rules.prepared"
#: The format written by this version (raised when the columns or the footer change).
FORMAT = 1

#: Column -> polars type name, in the order of the file: the engines' invoice table
#: (``billing_rules.engines.relational.table.SCHEMA``; a test keeps the two equal), which is the
#: columnar reader's with each exact amount in place of its integer and text pair.
COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (name, "Decimal" if name in ("amount_cents", "km_hundredths") else kind)
    for name, kind in reader_schema.COLUMNS
    if not name.endswith("_exact")
)

#: Columns every invoice fills: what :func:`event_of` reads without a NULL test.
_REQUIRED = (
    "seq", "file", "origin", "invoice_id", "practitioner_id", "patient_id", "specialty", "sector",
    "mt_status", "place", "status", "date", "birth_date", "ald", "palliative", "neurodegenerative",
    "declares_mt", "homebound", "regulated", "codes",
)  # fmt: skip

#: Rows turned into invoices at a time by the row readers' path.
SLICE_ROWS = 50_000


@attrs.frozen
class PreparedInfo:
    """What a prepared file's footer says: the reading that wrote it.

    ``files``: the original files, in input order (``file`` indexes them); ``events``: SPEC §2
    ``summary.events`` of that reading (the file's rows); ``input_errors``: its input errors, in
    the order it reported them.
    """

    files: tuple[str, ...]
    events: int
    input_errors: tuple[InputError, ...]


def metadata_text(files: Sequence[str], events: int, input_errors: Sequence[InputError]) -> str:
    """The footer's value for :data:`KEY`."""
    errors = [
        {
            "line": error.line,
            "field": error.field,
            "message": error.message,
            "file": error.file,
            "invoice_id": error.invoice_id,
        }
        for error in input_errors
    ]
    return json.dumps(
        {"format": FORMAT, "files": list(files), "events": events, "input_errors": errors},
        ensure_ascii=False,
    )


def prepared_info(path: str) -> PreparedInfo | None:
    """The footer of ``path`` if it is a prepared file, None for any other file (or no polars).

    Only the footer is read (a few kilobytes): what lets every reader tell a prepared file from a
    Parquet file of SPEC §1 columns before reading it.

    Raises:
        ReadError: the file is marked prepared but its format or columns are not this version's.
    """
    try:
        import polars as pl
    except ImportError:
        return None
    try:
        metadata = pl.read_parquet_metadata(path)
    except (pl.exceptions.PolarsError, OSError, ValueError):
        return None
    text = metadata.get(KEY)
    if text is None:
        return None
    try:
        value = json.loads(text)
        if value.get("format") != FORMAT:
            raise _refused(path, "préparé dans un autre format")
        info = PreparedInfo(
            files=tuple(str(name) for name in value["files"]),
            events=int(value["events"]),
            input_errors=tuple(_input_error(error) for error in value["input_errors"]),
        )
        schema = pl.read_parquet_schema(path)
    except (ValueError, KeyError, TypeError, AttributeError, pl.exceptions.PolarsError, OSError):
        raise _refused(path, "son pied de fichier est illisible") from None
    if schema != polars_schema():
        raise _refused(path, "ses colonnes ne sont pas celles d'un fichier préparé")
    return info


def _input_error(stored: Mapping[str, Any]) -> InputError:
    """One input error of the footer, each value of its own type (else a ``TypeError``)."""
    line, file, invoice_id = stored["line"], stored["file"], stored["invoice_id"]
    if not (
        (line is None or type(line) is int)
        and all(isinstance(stored[key], str) for key in ("field", "message"))
        and all(value is None or isinstance(value, str) for value in (file, invoice_id))
    ):
        raise TypeError("an input error of the footer")
    return InputError(
        line=line, field=stored["field"], message=stored["message"], file=file, invoice_id=invoice_id
    )


def verify(path: str, info: PreparedInfo) -> None:
    """Refuse a prepared file whose rows are not what ``prepare`` writes (one scan, a few columns).

    Every required value present, the closed vocabularies, each row's file among the original
    ones, the input's order (``seq`` increasing) and as many rows as the footer says: what the
    engines rely on without testing it again.

    Raises:
        ReadError: naming the file, in French.
    """
    import polars as pl

    vocabularies = {
        "sector": [member.value for member in Sector],
        "mt_status": [member.value for member in MtStatus],
        "place": [member.value for member in Place],
        "status": [member.value for member in Status],
    }
    outside = [~pl.col(name).is_in(values) for name, values in vocabularies.items()]
    checks = pl.scan_parquet(path).select(
        pl.len().alias("rows"),
        pl.any_horizontal(*(pl.col(name).is_null() for name in _REQUIRED)).sum().alias("missing"),
        pl.any_horizontal(*outside).sum().alias("unknown"),
        (pl.col("origin") != "input").sum().alias("origin"),
        ((pl.col("file") < 0) | (pl.col("file") >= len(info.files))).sum().alias("file"),
        (pl.col("seq").diff() <= 0).sum().alias("order"),
    )
    try:
        found = checks.collect().row(0, named=True)
    except (pl.exceptions.PolarsError, OSError):
        raise _refused(path, "ses lignes sont illisibles") from None
    if found["rows"] != info.events:
        raise _refused(path, f"{found['rows']} factures au lieu des {info.events} annoncées")
    if any(found[name] for name in ("missing", "unknown", "origin", "file", "order")):
        raise _refused(path, "des valeurs ont été modifiées depuis sa préparation")


def prepared_events(path: str, info: PreparedInfo, slice_rows: int | None = None) -> Iterator[Event]:
    """The invoices of a prepared file, in input order, as the row readers give them."""
    import polars as pl

    lazy = pl.scan_parquet(path)
    size = slice_rows or SLICE_ROWS
    for start in range(0, info.events, size):
        try:
            frame = lazy.slice(start, size).collect()
        except (pl.exceptions.PolarsError, OSError):
            raise _refused(path, "ses lignes sont illisibles") from None
        for row in frame.iter_rows(named=True):
            yield event_of(row, info.files)


def polars_schema() -> dict[str, Any]:
    """:data:`COLUMNS` as a polars schema (imports polars)."""
    return reader_schema.polars_schema(COLUMNS)


def _refused(path: str, reason: str) -> ReadError:
    return ReadError(
        f"{file_label(path)} : fichier préparé refusé ({reason}) ; relancez billing-rules prepare "
        "sur les fichiers de facturation"
    )


def event_of(row: Mapping[str, Any], files: Sequence[str] = ()) -> Event:
    """The :class:`Event` an invoice-table row stands for: what the row engine's texts are computed on.

    The relational engine builds one for each invoice with findings (and for the rules that must
    run in Python); a prepared file's rows are read back through it.
    """
    seconds = row["time_s"]
    amount = row["amount_cents"]
    file = row["file"]
    return Event(
        invoice_id=row["invoice_id"],
        date=row["date"],
        time=None if seconds is None else dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60),
        practitioner_id=row["practitioner_id"],
        specialty=row["specialty"],
        sector=_SECTORS[row["sector"]],
        patient_id=row["patient_id"],
        birth_date=row["birth_date"],
        ald=row["ald"],
        palliative=row["palliative"],
        neurodegenerative=row["neurodegenerative"],
        mt_status=_MT_STATUSES[row["mt_status"]],
        declares_mt=row["declares_mt"],
        place=_PLACES[row["place"]],
        homebound=row["homebound"],
        codes=tuple(row["codes"]),
        amount=None if amount is None else from_cents(amount),
        regulated=row["regulated"],
        referral_at=row["referral_at"],
        status=_STATUSES[row["status"]],
        discharge_date=row["discharge_date"],
        km=None if row["km_hundredths"] is None else from_cents(row["km_hundredths"]),
        extra=json.loads(row["extras"]) if row["extras"] else {},
        line=row["line"],
        file=files[file] if file is not None and file < len(files) else None,
        seq=row["seq"],
    )


#: The closed vocabularies by value: a dict lookup, where calling the Enum class costs ten times
#: more (four per rebuilt invoice).
_SECTORS = {member.value: member for member in Sector}
_MT_STATUSES = {member.value: member for member in MtStatus}
_PLACES = {member.value: member for member in Place}
_STATUSES = {member.value: member for member in Status}
