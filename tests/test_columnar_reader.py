"""The columnar reader against the row readers, on clean and damaged files of every format.

The columnar reader (``billing_rules.readers.columnar``) must give exactly what the row readers
give: the same input errors (line, field, message, file, invoice), the same readable invoices with
the same typed values, the same ``summary.events``. Files generated for the benchmarks are damaged
here at random with a fixed seed (every damage of the CSV fast path's test, plus quoted line
breaks, blank lines, ragged rows, Windows-1252, BOMs, French decimals and dates, 29 February,
duplicates across files), written in CSV, JSON, JSON Lines and Parquet, and read both ways.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pl = pytest.importorskip("polars", reason="the columnar reader needs polars (pip install '.[batch]')")

from billing_rules.errors import ReadError  # noqa: E402
from billing_rules.model import Event, InputError  # noqa: E402
from billing_rules.readers import InputStream  # noqa: E402
from billing_rules.readers.columnar import csv_source, read_invoices  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import generate  # noqa: E402


def _damages(names: list[str]) -> list[Any]:
    col = {name: index for index, name in enumerate(names)}

    def setter(column: str, value: str) -> Any:
        def apply(cells: list[str]) -> list[str]:
            cells[col[column]] = value
            return cells

        return apply

    def spaced(column: str) -> Any:
        def apply(cells: list[str]) -> list[str]:
            cells[col[column]] = f"  {cells[col[column]]} "
            return cells

        return apply

    return [
        setter("date", "2024-13-01"),
        setter("date", "31/12/2025"),
        setter("date", "4/3/2026"),
        setter("date", "0001-01-01"),
        setter("date", ""),
        setter("date", "29/02/2025"),
        setter("time", "25:00"),
        setter("time", "9:30"),
        setter("time", "09:30:15"),
        setter("time", " "),
        setter("birth_date", "2030-01-01"),
        setter("birth_date", "29/02/1944"),
        setter("birth_date", "1944-02-29"),
        setter("birth_date", "1943-02-29"),
        # The ISO shape polars parses itself, and its near misses that go to the row parser.
        setter("birth_date", "0000-01-01"),
        setter("birth_date", "0001-01-01"),
        setter("birth_date", "9999-12-31"),
        setter("birth_date", "1950-6-07"),
        setter("birth_date", "1950-06-31"),
        setter("birth_date", "1950-13-01"),
        setter("birth_date", "\uff11950-06-07"),
        setter("birth_date", "1950-06-07T00:00"),
        setter("birth_date", "1950/06/07"),
        spaced("birth_date"),
        setter("ald", "peut-être"),
        setter("ald", "OUI"),
        setter("ald", " o "),
        setter("ald", "Vrai"),
        setter("ald", ""),
        setter("mt_status", "SELF"),
        setter("mt_status", "moi"),
        setter("place", " Domicile "),
        setter("sector", "3"),
        setter("sector", "OPTAM"),
        setter("codes", ""),
        setter("codes", "g + snp"),
        setter("codes", "+"),
        setter("amount", "26,50 €"),
        setter("amount", "1 234,50"),
        setter("amount", "26.505"),
        setter("amount", "-0"),
        setter("amount", "-1"),
        setter("amount", "abc"),
        setter("amount", "2000000"),
        setter("amount", ""),
        setter("status", "cancelled"),
        setter("status", "annulée"),
        setter("referral_at", "2099-01-01T10:00"),
        setter("referral_at", "04/03/2020 09:30"),
        setter("referral_at", "hier"),
        # The ISO shape polars parses itself, and its near misses that go to the row parser.
        setter("referral_at", "2024-03-04T24:00"),
        setter("referral_at", "2024-03-04T09:60"),
        setter("referral_at", "2024-02-30T09:30"),
        setter("referral_at", "0000-01-01T09:30"),
        setter("referral_at", "0001-01-01T00:00"),
        setter("referral_at", "2024-03-04T9:30"),
        setter("referral_at", "2024-03-04 09:30"),
        setter("referral_at", "2024-03-04T09:30:15"),
        # The shape with seconds (a typed Parquet date-time's), and its near misses.
        setter("referral_at", "2024-03-04T09:30:59"),
        setter("referral_at", "2024-03-04T09:30:60"),
        setter("referral_at", "2024-03-04T24:00:00"),
        setter("referral_at", "2024-03-04T09:30:5"),
        setter("referral_at", "2024-02-29T09:30:00"),
        setter("referral_at", "2023-02-29T09:30:00"),
        setter("referral_at", "9999-12-31T23:59:30"),
        setter("referral_at", "0001-01-01T00:00:00"),
        setter("referral_at", "\uff12024-03-04T09:30"),
        spaced("referral_at"),
        setter("invoice_id", ""),
        setter("patient_id", "   "),
        setter("practitioner_id", ""),
        setter("practitioner_id", "\u00a0D-nbsp\u00a0"),
        setter("specialty", "psy"),
        setter("discharge_date", "2026-02-30"),
        setter("discharge_date", "0001-01-01"),
        setter("discharge_date", "9999-12-31"),
        setter("discharge_date", "hier"),
        setter("discharge_date", " 15/11/2025 "),
        setter("km", "douze"),
        setter("km", "-3"),
        setter("km", "12 €"),
        setter("km", "10000"),
        setter("km", "9999,99"),
        setter("km", "1 234,5"),
        setter("km", "0,005"),  # no whole number of hundredths: km_exact only
        setter("km", "-0"),
        setter("km", " 7.25 "),
        setter("codes", '"G+\nSNP"'),  # a quoted line break inside a value
        setter("invoice_id", '"F;quoted"'),
        setter("invoice_id", 'F"glued"'),
        setter("patient_id", '"open'),  # an unclosed quote, closed by a later one
        spaced("invoice_id"),
        spaced("practitioner_id"),
        spaced("patient_id"),
        lambda cells: cells[:-2],  # too few fields
        lambda cells: [*cells, "en trop"],  # too many
        lambda cells: [*cells, ""],  # one empty extra cell: tolerated
        lambda cells: [""] * len(cells),  # a spreadsheet's ";;;;"
    ]


def _damaged_lines(seed: int, rate: float, rows: int = 1500) -> list[str]:
    """Header and rows of a generated file, damaged: ``;``-separated text lines."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clean.csv"
        generate.generate(
            str(path), rows=rows, practitioners=3, seed=seed, start=dt.date(2025, 12, 1), violations=20
        )
        lines = path.read_text(encoding="utf-8").splitlines()
    rng = random.Random(seed)
    header = lines[0] + ";note;discharge_date;km"
    names = header.split(";")
    damages = _damages(names)
    out = [header]
    earlier: list[str] = []
    for line in lines[1:]:
        discharge = rng.choice(["", "", "2025-11-30", "30/11/2025"])
        line += f";n{rng.randrange(5)};{discharge};{rng.choice(['', '', '12,5', '3', '7.25', '0'])}"
        roll = rng.random()
        if roll < rate:
            out.append(";".join(rng.choice(damages)(line.split(";"))))
        elif roll < rate * 1.1 and earlier:
            out.append(rng.choice(earlier))  # a duplicate invoice, possibly far back
        elif roll < rate * 1.15:
            out.append(rng.choice(["", "   ", ";;;"]))  # blank lines
        elif roll < rate * 1.2:
            first, rest = line.split(";", 1)
            out.append(f'"{first}";{rest}')  # a quoted value
        else:
            out.append(line)
        earlier.append(line)
    return out


def _write(
    path: Path, lines: list[str], *, encoding: str = "utf-8", newline: str = "\n", bom: bool = False
) -> Path:
    data = newline.join(lines) + newline
    raw = data.encode(encoding, "replace")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + raw)
    return path


# --- comparing both readers ----------------------------------------------------------------------


def _event_values(event: Event) -> tuple[Any, ...]:
    return (
        event.seq, event.line, event.file, event.invoice_id, event.date, event.time, event.practitioner_id,
        event.specialty, event.sector.value, event.patient_id, event.birth_date, event.ald, event.palliative,
        event.neurodegenerative, event.mt_status.value, event.declares_mt, event.place.value, event.homebound,
        event.codes, event.amount, event.regulated, event.referral_at, event.status.value,
        event.discharge_date, _exactly(event.km), dict(event.extra),
    )  # fmt: skip


def _exactly(number: Decimal | None) -> tuple[Any, ...] | None:
    """A decimal's sign, digits and exponent: ``12.50`` is not ``12.5`` here."""
    return None if number is None else number.as_tuple()


def _table_values(row: dict[str, Any], files: tuple[str, ...]) -> tuple[Any, ...]:
    seconds = row["time_s"]
    moment = None if seconds is None else dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60)
    if seconds is not None:
        assert row["time_min"] == seconds // 60
    amount = None if row["amount_exact"] is None else Decimal(row["amount_exact"])
    if amount is not None and amount * 100 == int(amount * 100):
        assert row["amount_cents"] == int(amount * 100)
    else:
        assert row["amount_cents"] is None
    km = None if row["km_exact"] is None else Decimal(row["km_exact"])
    if km is not None and km * 100 == int(km * 100):
        assert row["km_hundredths"] == int(km * 100)
    else:
        assert row["km_hundredths"] is None
    assert row["origin"] == "input"
    return (
        row["seq"], row["line"], files[row["file"]], row["invoice_id"], row["date"], moment,
        row["practitioner_id"], row["specialty"], row["sector"], row["patient_id"], row["birth_date"],
        row["ald"], row["palliative"], row["neurodegenerative"], row["mt_status"], row["declares_mt"],
        row["place"], row["homebound"], tuple(row["codes"]), amount, row["regulated"], row["referral_at"],
        row["status"], row["discharge_date"], _exactly(km),
        json.loads(row["extras"]) if row["extras"] is not None else {},
    )  # fmt: skip


def _compare(paths: list[str], input_format: str | None = None) -> tuple[int, int]:
    """Both readers on ``paths``: identical errors, values and counts; (events, errors)."""
    stream = InputStream(paths, input_format=input_format)
    items = list(stream)
    events = [item for item in items if isinstance(item, Event)]
    errors = [item for item in items if isinstance(item, InputError)]
    result = read_invoices(paths, input_format)
    assert result.input_errors == errors
    rows = list(result.table.iter_rows(named=True))
    assert [_table_values(row, result.files) for row in rows] == [_event_values(event) for event in events]
    assert result.events == stream.events == len(rows)
    for row in rows:  # SPEC §1 columns are never extras
        assert row["extras"] is None or not {"discharge_date", "km"} & json.loads(row["extras"]).keys()
    return result.events, len(errors)


def reproducible(examples: int) -> Any:
    """The settings of the readers' property tests: the same examples on every run, fixtures allowed."""
    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


def compare_in_chunks(tmp_path: Path, monkeypatch: Any, lines: list[str], chunk: int) -> tuple[int, int]:
    """:func:`_compare` on ``lines`` written to a file, read in chunks of ``chunk`` characters."""
    monkeypatch.setattr(csv_source, "CHUNK_CHARS", chunk)
    return _compare([str(_write(tmp_path / "any.csv", lines))])


@pytest.fixture(params=[None, 3000], ids=["big-chunks", "small-chunks"])
def chunks(request: Any, monkeypatch: Any) -> None:
    """Small chunks put chunk boundaries everywhere, quoted fields across them included."""
    if request.param:
        monkeypatch.setattr(csv_source, "CHUNK_CHARS", request.param)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("rate", [0.0, 0.03, 0.3])
def test_csv_same_as_row_reader(tmp_path: Path, chunks: None, seed: int, rate: float) -> None:
    path = _write(tmp_path / "damaged.csv", _damaged_lines(seed, rate))
    events, errors = _compare([str(path)])
    assert events > 0
    if rate:
        assert errors > 0


def test_every_damage_once_in_an_otherwise_plain_file(tmp_path: Path) -> None:
    """Each damage on its own row among plain ones: the ISO fast paths meet every near miss."""
    lines = _damaged_lines(5, 0.0, rows=600)
    damages = _damages(lines[0].split(";"))
    for index, damage in enumerate(damages):
        row = 1 + index * (len(lines) - 1) // len(damages)
        lines[row] = ";".join(damage(lines[row].split(";")))
    path = _write(tmp_path / "each.csv", lines)
    events, errors = _compare([str(path)])
    assert events > 0 and errors > 0


@pytest.mark.parametrize(
    "encoding, newline, bom, delimiter",
    [
        ("utf-8", "\r\n", True, ";"),
        ("cp1252", "\r\n", False, ";"),
        ("utf-8", "\n", False, ","),
        ("utf-8", "\r", False, ";"),  # old Mac line ends: the csv module's way
    ],
)
def test_csv_encodings_line_ends_delimiters(
    tmp_path: Path, chunks: None, encoding: str, newline: str, bom: bool, delimiter: str
) -> None:
    lines = _damaged_lines(4, 0.05, rows=800)
    lines[5] = lines[5].replace("n1", "réglé é") if "n1" in lines[5] else lines[5] + "é"
    lines = [line.replace("n2", "Hôpital « x »") for line in lines]
    if delimiter == ",":
        lines = [line.replace(",", ".").replace(";", ",") for line in lines]
    path = _write(tmp_path / "file.csv", lines, encoding=encoding, newline=newline, bom=bom)
    _compare([str(path)])


def test_ascii_head_then_windows_1252(tmp_path: Path, chunks: None) -> None:
    """Pure ASCII for 64 KiB, then Windows-1252 bytes, then an undecodable byte in UTF-8 mode."""
    lines = _damaged_lines(5, 0.02, rows=1500)
    data = ("\n".join(lines[:900]) + "\n").encode("ascii", "replace")
    rest = "\n".join(lines[900:]).replace("n3", "Réglé").encode("cp1252") + b"\n"
    path = tmp_path / "mixed.csv"
    path.write_bytes(data + rest)
    _compare([str(path)])


def test_undecodable_bytes_and_nul(tmp_path: Path, chunks: None) -> None:
    lines = _damaged_lines(6, 0.02, rows=600)
    text = ("\n".join(lines) + "\n").replace("n4", "caf\u00e9").encode("utf-8")
    text = text.replace(b"n3", b"bad\xff\xfe", 3).replace(b"n1", b"nul\x00", 2)
    path = tmp_path / "damaged.csv"
    path.write_bytes(text)
    _compare([str(path)])


def test_duplicates_across_files_and_formats(tmp_path: Path, chunks: None) -> None:
    first = _damaged_lines(7, 0.05, rows=500)
    second = [first[0], *first[1:200:3]]  # invoices already in the first file
    one = _write(tmp_path / "a.csv", first)
    two = _write(tmp_path / "b.csv", second)
    events, errors = _compare([str(one), str(two)])
    assert errors >= 60


class _ListSink:
    """A sink keeping its batches in a list, and answering for their keys as the engine's table does."""

    def __init__(self) -> None:
        self.batches: list[Any] = []
        self.asked: list[list[int]] = []

    def __call__(self, frame: Any) -> None:
        self.batches.append(frame)

    def keys(self, seqs: Any) -> Any:
        import polars as pl

        self.asked.append(sorted(seqs.to_list()))
        from billing_rules.readers.columnar.schema import KEY_COLUMNS

        taken = pl.concat(self.batches)
        return taken.filter(pl.col("seq").is_in(seqs.implode())).select(KEY_COLUMNS)


def test_sink_gets_every_batch_and_the_duplicates_to_drop(tmp_path: Path, chunks: None) -> None:
    """With a sink: every row goes to it, the result keeps a hash a row, ``dropped`` names the repeats.

    What the sink received, less ``dropped``, is exactly the table read without a sink; the sink
    is asked back only for the rows whose invoice's hash was seen twice, the repeats among them.
    """
    first = _damaged_lines(7, 0.05, rows=500)
    second = [first[0], *first[1:200:3]]
    paths = [str(_write(tmp_path / "a.csv", first)), str(_write(tmp_path / "b.csv", second))]
    whole = read_invoices(paths)
    sink = _ListSink()
    streamed = read_invoices(paths, sink=sink)
    import polars as pl

    received = pl.concat(sink.batches)
    assert streamed.dropped and not whole.dropped
    kept = received.filter(~pl.col("seq").is_in(list(streamed.dropped)))
    assert kept.equals(whole.table)
    assert streamed.table.columns == ["seq", "key_hash"]
    assert streamed.table["seq"].equals(whole.table["seq"])
    assert (streamed.events, streamed.input_errors) == (whole.events, whole.input_errors)
    [asked] = sink.asked
    assert set(streamed.dropped) <= set(asked)
    assert len(asked) < received.height // 2


def test_sink_is_not_asked_without_a_repeated_invoice(tmp_path: Path, chunks: None) -> None:
    """No hash seen twice: no key is asked back, nothing dropped, the same reading as without a sink."""
    path = str(_write(tmp_path / "a.csv", _damaged_lines(9, 0.0, rows=400)))
    whole = read_invoices([path])
    assert whole.events == 400
    sink = _ListSink()
    streamed = read_invoices([path], sink=sink)
    assert sink.asked == [] and streamed.dropped == ()
    assert (streamed.events, streamed.input_errors) == (whole.events, whole.input_errors)


def test_a_shared_hash_is_not_a_duplicate(
    tmp_path: Path, chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two invoices whose keys hash alike are told apart by their texts: neither is an input error.

    Every key is given one hash here, so that every row is a candidate and only the exact
    comparison of the texts decides (as it does for the rare real collision of 64-bit hashes).
    """
    import polars as pl

    from billing_rules.readers.columnar import table as table_module

    path = str(_write(tmp_path / "a.csv", _damaged_lines(10, 0.05, rows=300)))
    whole = read_invoices([path])
    same = pl.when(pl.col("invoice_id").is_not_null()).then(pl.lit(7, dtype=pl.UInt64)).alias("key_hash")
    monkeypatch.setattr(table_module, "_KEYED", ("seq", same))
    sink = _ListSink()
    collided = read_invoices([path], sink=sink)
    alone = read_invoices([path])
    assert len(sink.asked[0]) > whole.events // 2
    assert (collided.events, collided.input_errors) == (whole.events, whole.input_errors)
    assert (alone.events, alone.input_errors) == (whole.events, whole.input_errors)
    assert alone.table.equals(whole.table)


def test_unclosed_quote_to_the_end(tmp_path: Path, chunks: None) -> None:
    lines = _damaged_lines(8, 0.0, rows=400)
    lines[300] = lines[300].replace(";G", ';"G', 1)
    _compare([str(_write(tmp_path / "open.csv", lines))])


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("bad.csv", "invoice_id;date\nF1;2026-01-01\n"),
        # SPEC §1b: the SPEC name and an alias for one field, as two aliases, is an error naming both.
        (
            "twice.csv",
            "invoice_id;date;practitioner_id;patient_id;birth_date;codes;Date acte\n"
            "F1;2026-01-05;D1;P1;1960-01-01;G;2026-01-05\n",
        ),
        (
            "twice.json",
            '[{"invoice_id": "F1", "N° facture": "F1", "date": "2026-01-05", "practitioner_id": "D1", '
            '"patient_id": "P1", "birth_date": "1960-01-01", "codes": "G"}]',
        ),
        (
            "twice.jsonl",
            '{"invoice_id": "F1", "date": "2026-01-05", "practitioner_id": "D1", "patient_id": "P1", '
            '"birth_date": "1960-01-01", "codes": "G", "Date acte": "2026-01-05"}\n',
        ),
    ],
)
def test_header_errors_are_the_row_readers(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ReadError) as row_error:
        list(InputStream([str(path)]))
    with pytest.raises(ReadError) as columnar_error:
        read_invoices([str(path)])
    assert str(columnar_error.value) == str(row_error.value)
    if name.startswith("twice"):
        assert "désignent toutes deux le champ" in str(row_error.value) and name in str(row_error.value)


# --- JSON, JSON Lines, Parquet --------------------------------------------------------------------


def _objects(seed: int, rate: float, rows: int = 800) -> list[Any]:
    """Generated invoices as JSON objects with native values, damaged."""
    lines = _damaged_lines(seed, 0.0, rows=rows)
    names = lines[0].split(";")
    rng = random.Random(seed)
    objects: list[Any] = []
    for line in lines[1:]:
        values: dict[str, Any] = dict(zip(names, line.split(";"), strict=True))
        for flag in ("ald", "palliative", "regulated"):
            values[flag] = rng.choice([values[flag] == "1", int(values[flag]), values[flag]])
        if values["amount"] and rng.random() < 0.5:
            values["amount"] = rng.choice([float(values["amount"]), Decimal(values["amount"])])
        if rng.random() < 0.3:
            values["codes"] = values["codes"].split("+")
        if rng.random() < 0.2:
            values["invoice_id"] = rng.randrange(10**9)
        if rng.random() < 0.2:
            values["sector"] = rng.choice([1, 2, "optam", 3, True])
        if rng.random() < 0.1:
            values["note"] = {"nested": [1, 2]}
        if rng.random() < 0.1:
            del values["time"]
        if rng.random() < 0.3:
            values["km"] = rng.choice([3, 12.5, 7.25, 0.1 + 0.2, 0, 9999.99, "12,5"])
        if rng.random() < rate:
            key, value = rng.choice(
                [
                    ("amount", "abc"), ("amount", -3), ("amount", True), ("ald", 2), ("ald", None),
                    ("codes", [1, "G"]), ("codes", []), ("codes", {"a": 1}), ("invoice_id", 1.5),
                    ("patient_id", ["x"]), ("date", 20240101), ("birth_date", None), ("time", 930),
                    ("referral_at", False), ("status", "CANCELLED"), ("mt_status", None),
                    ("discharge_date", 20260101), ("discharge_date", "2026-02-30"),
                    ("discharge_date", "0001-01-01"), ("km", -3), ("km", 10000), ("km", True),
                    ("km", "douze"), ("km", [1]), ("km", "12 €"),
                ]
            )  # fmt: skip
            values[key] = value
        if rng.random() < rate / 3:
            objects.append(rng.choice([[1, 2], "texte", 3, None]))  # not an object
            continue
        objects.append(values)
    return objects


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=lambda amount: float(amount))


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("rate", [0.0, 0.2])
def test_json_lines_same_as_row_reader(tmp_path: Path, seed: int, rate: float) -> None:
    objects = _objects(seed, rate)
    lines = [_dumps(value) for value in objects]
    if rate:
        lines[10] = "{broken"
        lines.insert(20, "")
        lines.insert(30, "   ")
        lines.append(lines[5])  # a duplicate
    path = tmp_path / "file.jsonl"
    path.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    _compare([str(path)])


@pytest.mark.parametrize("rate", [0.0, 0.2])
def test_json_array_same_as_row_reader(tmp_path: Path, rate: float) -> None:
    objects = _objects(3, rate)
    objects.append(objects[4])
    path = tmp_path / "file.json"
    path.write_text("[" + ",\n".join(_dumps(value) for value in objects) + "]", encoding="utf-8")
    _compare([str(path)])


def _parquet(path: Path, rows: int = 600, typed: bool = True) -> Path:
    lines = _damaged_lines(9, 0.05, rows=rows)
    names = lines[0].split(";")
    records = [line.split(";") for line in lines[1:]]
    records = [record for record in records if len(record) == len(names) and "\n" not in ";".join(record)]
    frame = pl.DataFrame(records, schema=dict.fromkeys(names, pl.String), orient="row")
    if typed:
        iso = pl.col("date").str.to_date("%Y-%m-%d", strict=False)
        frame = frame.with_columns(
            pl.when(iso.is_not_null())
            .then(iso.dt.to_string("%Y-%m-%d"))
            .otherwise(pl.col("date"))
            .alias("date"),
            pl.col("birth_date").str.to_date("%Y-%m-%d", strict=False).alias("birth_date"),
            pl.col("ald").replace_strict({"0": False, "1": True}, default=None, return_dtype=pl.Boolean),
            pl.col("amount").str.to_decimal(scale=2, strict=False)
            if hasattr(pl.Expr.str, "to_decimal")
            else pl.col("amount"),
            pl.col("codes").str.split("+"),
            pl.col("referral_at").str.to_datetime("%Y-%m-%dT%H:%M", strict=False),
            pl.col("time").str.to_time("%H:%M", strict=False),
            pl.col("discharge_date").str.to_date("%Y-%m-%d", strict=False),
            pl.col("km").str.replace(",", ".").cast(pl.Float64, strict=False),
        )
    frame.write_parquet(path)
    return path


@pytest.mark.parametrize("typed", [True, False])
def test_parquet_same_as_row_reader(tmp_path: Path, typed: bool) -> None:
    path = _parquet(tmp_path / "file.parquet", typed=typed)
    events, errors = _compare([str(path)])
    assert events > 0 and errors > 0


def test_parquet_lines_are_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "two.parquet"
    pl.DataFrame(
        {
            "invoice_id": ["F1", "F2"],
            "date": [dt.date(2026, 1, 5), dt.date(2026, 1, 5)],
            "practitioner_id": ["D1", "D1"],
            "patient_id": ["P1", "P2"],
            "birth_date": [dt.date(1950, 1, 1), dt.date(2027, 1, 1)],
            "codes": [["G"], ["G", "MEG"]],
            "amount": [30.0, None],
        }
    ).write_parquet(path)
    result = read_invoices([str(path)])
    assert result.table["line"].to_list() == [1]
    assert result.table["amount_cents"].to_list() == [3000]
    assert [(error.line, error.field) for error in result.input_errors] == [(2, "birth_date")]
    _compare([str(path)])


def test_a_code_list_element_with_a_plus_is_split(tmp_path: Path) -> None:
    """A list's ``"G+MEG"`` reads as the text ``G+MEG`` does, in JSON and Parquet, on both readers."""
    base = {"date": "2026-01-05", "practitioner_id": "D1", "birth_date": "2020-01-01"}
    lists: list[Any] = [["G+MEG"], ["g + meg", ""], ["G", "+"], ["G", "MEG"]]
    objects = [
        {**base, "invoice_id": f"F{n}", "patient_id": f"P{n}", "codes": x} for n, x in enumerate(lists)
    ]
    path = tmp_path / "codes.json"
    path.write_text(json.dumps(objects), encoding="utf-8")
    parquet = tmp_path / "codes.parquet"
    pl.DataFrame({key: [item[key] for item in objects] for key in objects[0]}).write_parquet(parquet)
    for source in (path, parquet):
        assert _compare([str(source)]) == (4, 0)
        events = [item for item in InputStream([str(source)]) if isinstance(item, Event)]
        assert [event.codes for event in events] == [("G", "MEG"), ("G", "MEG"), ("G",), ("G", "MEG")]


def _lists_parquet(path: Path, codes: list[Any], **lists: list[Any]) -> Path:
    """A Parquet file of invoices whose ``codes`` (and the columns ``lists``) are lists of texts."""
    size = len(codes)
    pl.DataFrame(
        {
            "invoice_id": [f"F{n}" for n in range(size)],
            "date": ["2026-01-05"] * size,
            "practitioner_id": ["D1"] * size,
            "patient_id": [f"P{n}" for n in range(size)],
            "birth_date": ["2020-01-01"] * size,
            "codes": pl.Series(codes, dtype=pl.List(pl.String)),
            **{name: pl.Series(values, dtype=pl.List(pl.String)) for name, values in lists.items()},
        }
    ).write_parquet(path)
    return path


def test_parquet_lists_of_texts_read_as_the_row_reader(tmp_path: Path, monkeypatch: Any) -> None:
    """A column of lists of texts is read once per distinct list, each as the row reader reads it.

    Repeated lists, a NULL cell, an empty list, a NULL or empty element, spaces and lower case,
    an element holding ``+``, and a column whose values must not be lists; in small batches, so
    the same lists come back in several.
    """
    from billing_rules.readers.columnar import other_sources

    monkeypatch.setattr(other_sources, "BATCH_ROWS", 7)
    lists: list[Any] = [["G"], ["G", "MEG"], ["g ", " meg"], [], None, ["G", None], ["G+MEG"], [""], ["VL"]]
    lists = lists * 3
    places = [["cabinet"] if n % 4 == 0 else None for n in range(len(lists))]
    path = _lists_parquet(tmp_path / "lists.parquet", lists, place=places)
    events, errors = _compare([str(path)])
    # Readable codes: 5 lists of 9, in 3 rounds (15 rows), less the 4 of them with a list as place;
    # errors: 4 unreadable lists of codes a round (12), and 7 lists as place.
    assert (events, errors) == (11, 19)


@pytest.mark.parametrize(
    "lists",
    [
        [["G"], ["g ", " meg"], ["G+MEG"], ["G", "+"]],  # no hole: read as the joined text
        [["G"], [""], ["G", "MEG"]],  # no hole, but a list without codes: its own message
        [["G"], ["+"], [" "]],
    ],
)
def test_parquet_lists_without_holes_read_as_the_row_reader(tmp_path: Path, lists: list[Any]) -> None:
    events, _ = _compare([str(_lists_parquet(tmp_path / "codes.parquet", lists))])
    assert events == sum(1 for codes in lists if any(code.strip(" +") for code in codes))


def test_mixed_formats_in_one_input(tmp_path: Path) -> None:
    csv_path = _write(tmp_path / "a.csv", _damaged_lines(10, 0.05, rows=300))
    objects = _objects(10, 0.1, rows=300)
    jsonl = tmp_path / "b.jsonl"
    jsonl.write_text("\n".join(_dumps(value) for value in objects) + "\n", encoding="utf-8")
    _compare([str(csv_path), str(jsonl), str(_parquet(tmp_path / "c.parquet", rows=200))])


def test_check_command_reads_parquet(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from billing_rules.cli import main

    path = tmp_path / "day.parquet"
    pl.DataFrame(
        {
            "invoice_id": ["F1", "F2"],
            "date": [dt.date(2026, 1, 5), dt.date(2026, 1, 5)],
            "practitioner_id": ["D1", "D1"],
            "patient_id": ["P1", "P2"],
            "birth_date": [dt.date(1950, 1, 1), dt.date(1960, 1, 1)],
            "codes": ["G", "G"],
            "amount": [30.0, 30.0],
        }
    ).write_parquet(path)
    result = CliRunner().invoke(main, ["check", str(path), "--format", "json", "--fail-on", "never"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["summary"]["events"] == 2


def test_parquet_without_polars_is_a_clear_french_error(tmp_path: Path, monkeypatch: Any) -> None:
    from billing_rules.readers.columnar import MISSING_BATCH

    path = tmp_path / "day.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "polars", None)  # as if the batch extra were not installed
    with pytest.raises(ReadError) as error:
        list(InputStream([str(path)]))
    assert str(error.value) == MISSING_BATCH
    assert "pip install 'billing-rules[batch]'" in MISSING_BATCH
    from billing_rules.readers.parquet_reader import MISSING_POLARS

    assert MISSING_POLARS == MISSING_BATCH  # the row reader's copy, kept out of a circle


def test_standard_input(tmp_path: Path) -> None:
    import io

    data = ("\r\n".join(_damaged_lines(11, 0.1, rows=300)) + "\r\n").encode("cp1252", "replace")
    stream = InputStream(["-"], stdin=io.BytesIO(data))
    items = list(stream)
    result = read_invoices(["-"], stdin=io.BytesIO(data))
    assert result.input_errors == [item for item in items if isinstance(item, InputError)]
    events = [item for item in items if isinstance(item, Event)]
    rows = list(result.table.iter_rows(named=True))
    assert [_table_values(row, result.files) for row in rows] == [_event_values(event) for event in events]


def french_export_lines(rows: int = 600) -> list[str]:
    """A practice software's export, one row per invoice: French headers (SPEC §1b), and values
    mapped onto SPEC ones (``Visite`` under ``Lieu``, ``Moi``, ``Oui``), right and wrong, plain and
    quoted, with a referral's time alone (``Heure de régulation``)."""
    header = (
        "N° facture;Date de l'acte;Heure;RPPS;N° patient;Date de naissance;ALD;Médecin traitant;Lieu;"
        "Actes;Montant;Annulée;Heure de régulation;Commentaire"
    )
    spellings = [
        ("Oui", "Moi", "Cabinet", "Non", ""),
        ("non", "Autre médecin", "Visite à domicile", "non", "09:30"),
        ("N", "aucun", "Téléconsultation", "X", "22:00"),
        ("peut-être", "Inconnu", "VAD", "oui", "25:00"),
        ("o", "personne", '"Visite"', "", ""),
    ]
    lines = [header]
    for number in range(rows):
        ald, mt, place, cancelled, referral = spellings[number % len(spellings)]
        lines.append(
            f"F-{number};04/03/2024;10:00;101;P-{number};01/02/1950;{ald};{mt};{place};G;26,50;"
            f"{cancelled};{referral};note {number}"
        )
    return lines


def test_french_headers_and_values_as_the_row_reader(tmp_path: Path, chunks: None) -> None:
    """SPEC §1b values mapped onto SPEC ones, on every record, plain and quoted."""
    path = _write(tmp_path / "export.csv", french_export_lines(), encoding="cp1252")
    events, errors = _compare([str(path)])
    assert events > 0 and errors > 0
    # Split by polars all the same: only the records filling « Heure de régulation » are read
    # record by record (the row reader combines the time with a date).
    assert not read_invoices([str(path)]).notes


def test_french_values_mapped_by_polars_as_the_row_reader(tmp_path: Path, chunks: None) -> None:
    """Without a referral's time alone (which the row reader combines with a date, record by
    record), such an export is split by polars, each spelling mapped once: the same results."""
    lines = [";".join(line.split(";")[:-2] + line.split(";")[-1:]) for line in french_export_lines()]
    assert "Heure de régulation" not in lines[0] and "Commentaire" in lines[0]
    path = _write(tmp_path / "export.csv", lines, encoding="cp1252")
    events, errors = _compare([str(path)])
    assert events > 0 and errors > 0
    assert not read_invoices([str(path)]).notes  # no chunk left to the csv module


def test_referral_times_alone_on_polars_path(tmp_path: Path, chunks: None) -> None:
    """« Heure de régulation » filled on some records of a plain file, in every way the row reader
    reads it (beside a date, a date at midnight, the same or another time, alone before or after
    the act's time, untimed acts, whole moments, blank, invalid): the chunks stay on polars' path,
    the filled records read record by record, the same results in the same order."""
    cases = [
        ("2024-03-04", "10:00", "", "09:30"),
        ("2024-03-04", "10:00", "", "22:00"),
        ("2024-03-04", "", "", "22:00"),
        ("2024-03-04", "10:00", "2024-03-03", "21:15"),
        ("2024-03-04", "10:00", "2024-03-03 00:00", "21:15"),
        ("2024-03-04", "10:00", "2024-03-03T21:15", "21:15"),
        ("2024-03-04", "10:00", "2024-03-03T20:00", "21:15"),
        ("2024-03-04", "10:00", "", "2024-03-03T19:30"),
        ("2024-03-04", "10:00", "", "25:00"),
        ("2024-03-04", "10:00", "", "   "),
        ("2024-03-04", "10:00", "2024-03-05", "08:00"),
        ("2024-03-04", "10:00", "", ""),
    ]
    header = "invoice_id;date;time;practitioner_id;patient_id;birth_date;codes;referral_at"
    lines = [header + ";Heure de régulation"]
    for number in range(600):
        day, time, referral, clock = cases[number % len(cases)]
        lines.append(f"F-{number};{day};{time};101;P-{number % 40};1950-02-01;G+SNP;{referral};{clock}")
    path = _write(tmp_path / "regulation.csv", lines)
    events, errors = _compare([str(path)])
    assert events > 0 and errors > 0
    assert not read_invoices([str(path)]).notes  # no chunk left to the csv module


def test_unclosed_quotes_at_every_chunk_boundary(tmp_path: Path, monkeypatch: Any) -> None:
    """A chunk that ends inside a quoted field is read again with more of the file: the quote may
    close further on (a note of three lines, one well-formed record), or reading resume, as the
    row reader, reading the whole file, finds. Every boundary position is tried."""
    header = "invoice_id;date;practitioner_id;patient_id;birth_date;codes;amount;note"
    lines = [
        header,
        'F1;2025-03-04;101;P1;1950-02-01;G;30.00;"ouvert',
        "F2;2025-03-04;101;P1;1950-02-01;G;30.00;x;y",
        "F3;2025-03-04;101;P1;1950-02-01;G;30.00;",
        'F4;2025-03-04;101;P1;1950-02-01;G;30.00;"a";b',
        "F5;2025-03-04;101;P1;1950-02-01;G;30.00;",
        'F6;2025-03-04;101;P1;1950-02-01;G;30.00;"trois',
        "F0;2025-03-04;101;P1;1950-02-01;G;30.00;lignes dont une qui se lit seule",
        'dans une note"',
        "F7;2025-03-04;101;P1;1950-02-01;G;30.00;",
        'F8;2025-03-04;101;P1;1950-02-01;G;30.00;"encore',
        "F9;2025-03-04;101;P1;1950-02-01;G;30.00;z;z",
    ]
    path = _write(tmp_path / "quotes.csv", lines)
    size = path.stat().st_size
    for chunk in range(16, size + 16, 7):
        monkeypatch.setattr(csv_source, "CHUNK_CHARS", chunk)
        _compare([str(path)])


# --- discharge_date and km (SPEC §1 columns of 2026) ----------------------------------------------

_HEADER_2026 = "invoice_id;date;practitioner_id;patient_id;birth_date;codes;amount;discharge_date;km;note"

#: (discharge_date, km, birth_date) as CSV text, the fields of the row's input errors in the row
#: readers' order, and the values of a readable row: (discharge_date, km_hundredths, km_exact).
_CASES_2026: list[tuple[tuple[str, str, str], list[str], tuple[Any, ...] | None]] = [
    (("", "", "1940-01-01"), [], (None, None, None)),
    (("2026-02-15", "12,5", "1940-01-01"), [], (dt.date(2026, 2, 15), 1250, "12.5")),
    (("15/02/2026", "7.25", "1940-01-01"), [], (dt.date(2026, 2, 15), 725, "7.25")),
    ((" 2026-02-01 ", " 0 ", "1940-01-01"), [], (dt.date(2026, 2, 1), 0, "0")),
    (("", "12,50", "1940-01-01"), [], (None, 1250, "12.50")),
    (("", "0,005", "1940-01-01"), [], (None, None, "0.005")),  # no whole number of hundredths
    (("", "1 234,5", "1940-01-01"), [], (None, 123450, "1234.5")),
    (("", "9999,99", "1940-01-01"), [], (None, 999999, "9999.99")),
    (("", "-0", "1940-01-01"), [], (None, 0, "0")),
    (("1900-01-01", "", "1940-01-01"), [], (dt.date(1900, 1, 1), None, None)),
    (("2026-02-30", "", "1940-01-01"), ["discharge_date"], None),
    (("0001-01-01", "", "1940-01-01"), ["discharge_date"], None),
    (("2200-01-01", "", "1940-01-01"), ["discharge_date"], None),
    (("hier", "", "1940-01-01"), ["discharge_date"], None),
    (("", "douze", "1940-01-01"), ["km"], None),
    (("", "-3", "1940-01-01"), ["km"], None),
    (("", "12 €", "1940-01-01"), ["km"], None),
    (("", "10000", "1940-01-01"), ["km"], None),
    (("", "1e3", "1940-01-01"), ["km"], None),
    (("2026-02-30", "douze", "1940-01-01"), ["discharge_date", "km"], None),
    (("hier", "-3", "2030-01-01"), ["discharge_date", "km", "birth_date"], None),  # then the cross-check
]

#: The French words each field's message starts with, per damaged value.
_MESSAGES_2026 = {
    "2026-02-30": "date invalide « 2026-02-30 »",
    "0001-01-01": "date hors limites « 0001-01-01 »",
    "2200-01-01": "date hors limites « 2200-01-01 »",
    "hier": "date invalide « hier »",
    "douze": "kilométrage invalide « douze »",
    "-3": "kilométrage négatif « -3 »",
    "12 €": "kilométrage invalide « 12 € »",
    "10000": "kilométrage invraisemblable « 10000 » (10 000 km ou plus)",
    "1e3": "kilométrage invalide « 1e3 »",
}


def _lines_2026(cases: list[Any]) -> list[str]:
    return [_HEADER_2026] + [
        f"F{number};2026-03-02;D1;P{number};{birth};VG+MD+IK;47.63;{discharge};{km};n{number}"
        for number, ((discharge, km, birth), _, _) in enumerate(cases)
    ]


def _check_2026(result: Any, cases: list[Any], first_line: int = 2) -> None:
    """The columnar result holds each case's errors and values (line = first_line + case number)."""
    fields: dict[int, list[str]] = {}
    for error in result.input_errors:
        fields.setdefault(error.line, []).append(error.field)
        if error.field in ("discharge_date", "km"):
            quoted = error.message.split("« ", 1)[1].split(" »", 1)[0]
            assert error.message.startswith(_MESSAGES_2026.get(quoted, "?")), error.message
    table = {row["line"]: row for row in result.table.iter_rows(named=True)}
    for number, (_, errors, values) in enumerate(cases):
        line = first_line + number
        assert fields.get(line, []) == errors, line
        if values is None:
            assert line not in table
        else:
            row = table[line]
            assert (row["discharge_date"], row["km_hundredths"], row["km_exact"]) == values, line
            assert json.loads(row["extras"]) == {"note": f"n{number}"}


@pytest.mark.parametrize("split", ["polars", "csv-module"])
def test_csv_discharge_date_and_km(tmp_path: Path, split: str) -> None:
    """Both ways of splitting a CSV chunk read the two columns as the row readers do."""
    lines = _lines_2026(_CASES_2026)
    if split == "csv-module":  # a doubled quote (one more invoice) sends the whole chunk to the csv module
        lines.append(lines[1].replace("F0;", '"F""99";', 1))
    path = _write(tmp_path / "2026.csv", lines)
    _compare([str(path)])
    result = read_invoices([str(path)])
    assert bool(result.notes) == (split == "csv-module")
    _check_2026(result, _CASES_2026)


def test_csv_discharge_date_and_km_one_row_at_a_time(tmp_path: Path) -> None:
    """A NUL in a column without a name: the row is read by the row reader, then converted."""
    lines = _lines_2026(_CASES_2026)
    lines = [f"{line};" + ("x\0" if index else "") for index, line in enumerate(lines)]
    path = _write(tmp_path / "2026.csv", lines)
    _compare([str(path)])
    result = read_invoices([str(path)])
    _check_2026(result, _CASES_2026)


#: JSON natives: (discharge_date, km), the error fields, the readable values.
_NATIVES_2026: list[tuple[tuple[Any, Any], list[str], tuple[Any, ...] | None]] = [
    ((None, None), [], (None, None, None)),
    (("2026-02-15", 12.5), [], (dt.date(2026, 2, 15), 1250, "12.5")),
    (("15/02/2026", 7.25), [], (dt.date(2026, 2, 15), 725, "7.25")),
    (("", 0), [], (None, 0, "0")),
    ((None, 3), [], (None, 300, "3")),
    ((None, "12,5"), [], (None, 1250, "12.5")),
    ((None, 0.005), [], (None, None, "0.005")),
    ((None, 0.1 + 0.2), [], (None, None, "0.30000000000000004")),  # the float as written, exactly
    ((None, 9999.99), [], (None, 999999, "9999.99")),
    (("2026-02-30", None), ["discharge_date"], None),
    (("0001-01-01", None), ["discharge_date"], None),
    ((20260215, None), ["discharge_date"], None),
    ((["2026-02-15"], None), ["discharge_date"], None),
    ((True, None), ["discharge_date"], None),
    ((None, "douze"), ["km"], None),
    ((None, -3), ["km"], None),
    ((None, "12 €"), ["km"], None),
    ((None, 10000), ["km"], None),
    ((None, 10000.5), ["km"], None),
    ((None, True), ["km"], None),
    ((None, [12]), ["km"], None),
    ((None, {"km": 12}), ["km"], None),
    (("hier", "-3"), ["discharge_date", "km"], None),
]


def _objects_2026() -> list[dict[str, Any]]:
    objects = []
    for number, ((discharge, km), _, _) in enumerate(_NATIVES_2026):
        values: dict[str, Any] = {
            "invoice_id": f"F{number}",
            "date": "2026-03-02",
            "practitioner_id": "D1",
            "patient_id": f"P{number}",
            "birth_date": "1940-01-01",
            "codes": ["VG", "MD", "IK"],
            "amount": 47.63,
            "note": f"n{number}",
        }
        if discharge is not None:
            values["discharge_date"] = discharge
        if km is not None:
            values["km"] = km
        objects.append(values)
    return objects


def _check_natives_2026(result: Any) -> None:
    """As :func:`_check_2026`, by invoice (the objects of a JSON array have no line)."""
    fields: dict[str | None, list[str]] = {}
    for error in result.input_errors:
        fields.setdefault(error.invoice_id, []).append(error.field)
    table = {row["invoice_id"]: row for row in result.table.iter_rows(named=True)}
    for number, (_, errors, values) in enumerate(_NATIVES_2026):
        invoice = f"F{number}"
        assert fields.get(invoice, []) == errors, invoice
        if values is None:
            assert invoice not in table
        else:
            row = table[invoice]
            assert (row["discharge_date"], row["km_hundredths"], row["km_exact"]) == values, invoice
            assert json.loads(row["extras"]) == {"note": f"n{number}"}


@pytest.mark.parametrize("kind", ["jsonl", "json"])
def test_json_discharge_date_and_km(tmp_path: Path, kind: str) -> None:
    objects = _objects_2026()
    if kind == "jsonl":
        path = tmp_path / "2026.jsonl"
        path.write_text("\n".join(json.dumps(value) for value in objects) + "\n", encoding="utf-8")
    else:
        path = tmp_path / "2026.json"
        path.write_text("[\n" + ",\n".join(json.dumps(value) for value in objects) + "\n]", encoding="utf-8")
    _compare([str(path)])
    _check_natives_2026(read_invoices([str(path)]))


def test_parquet_discharge_date_and_km_as_text(tmp_path: Path) -> None:
    lines = _lines_2026(_CASES_2026)
    names = lines[0].split(";")
    records = [line.split(";") for line in lines[1:]]
    path = tmp_path / "2026.parquet"
    pl.DataFrame(records, schema=dict.fromkeys(names, pl.String), orient="row").write_parquet(path)
    _compare([str(path)])
    _check_2026(read_invoices([str(path)]), _CASES_2026, first_line=1)


def test_parquet_discharge_date_and_km_typed(tmp_path: Path) -> None:
    """Date, float, decimal and integer columns: the row readers' values, and their errors."""
    discharges = [dt.date(2026, 2, 15), None, dt.date(1, 1, 1), dt.date(2200, 1, 1), dt.date(1900, 1, 1)]
    discharges += [None, None, dt.date(2026, 1, 1), None, None]
    floats = [12.5, None, 0.005, -3.0, 10000.0, float("nan"), float("inf"), 9999.99, 0.1 + 0.2, -0.0]
    size = len(floats)
    frame = pl.DataFrame(
        {
            "invoice_id": [f"F{number}" for number in range(size)],
            "date": [dt.date(2026, 3, 2)] * size,
            "practitioner_id": ["D1"] * size,
            "patient_id": [f"P{number}" for number in range(size)],
            "birth_date": [dt.date(1940, 1, 1)] * size,
            "codes": [["VG", "MD", "IK"]] * size,
            "discharge_date": discharges,
            "km": floats,
            "km_decimal": [Decimal("12.500"), None, Decimal("0.005"), Decimal("7.250"), None] * 2,
            "km_integer": [12, None, 0, -3, 10000] * 2,
        }
    )
    expected_errors = {3: ["discharge_date"], 4: ["discharge_date", "km"], 5: ["km"], 6: ["km"], 7: ["km"]}
    for column in ("km", "km_decimal", "km_integer"):
        path = tmp_path / f"{column}.parquet"
        frame.drop([name for name in ("km", "km_decimal", "km_integer") if name != column]).rename(
            {column: "km"}
        ).write_parquet(path)
        _compare([str(path)])
        result = read_invoices([str(path)])
        table = {row["line"]: row for row in result.table.iter_rows(named=True)}
        assert table[1]["discharge_date"] == dt.date(2026, 2, 15)
        assert table[2]["discharge_date"] is None and table[2]["km_hundredths"] is None
        if column == "km":
            assert [(error.line, error.field) for error in result.input_errors] == [
                (line, field) for line, fields in expected_errors.items() for field in fields
            ]
            assert (table[1]["km_hundredths"], table[1]["km_exact"]) == (1250, "12.5")
            assert (table[8]["km_hundredths"], table[8]["km_exact"]) == (999999, "9999.99")
            assert (table[9]["km_hundredths"], table[9]["km_exact"]) == (None, "0.30000000000000004")
            assert (table[10]["km_hundredths"], table[10]["km_exact"]) == (0, "0.0")
        elif column == "km_decimal":
            assert (table[1]["km_hundredths"], table[1]["km_exact"]) == (1250, "12.500")
            assert (table[8]["km_hundredths"], table[8]["km_exact"]) == (None, "0.005")
            assert (table[9]["km_hundredths"], table[9]["km_exact"]) == (725, "7.250")
        else:
            assert (table[1]["km_hundredths"], table[1]["km_exact"]) == (1200, "12")
            assert [(error.line, error.field) for error in result.input_errors] == [
                (3, "discharge_date"), (4, "discharge_date"), (4, "km"), (5, "km"), (9, "km"), (10, "km"),
            ]  # fmt: skip


def test_few_spellings_learned_from_one_batch_do_not_hide_new_ones() -> None:
    """A flag column read once with ``0``/``1`` is tried against them next time: any other spelling
    in a later batch (valid or not) still reads exactly as the row reader's parser reads it."""
    from billing_rules.readers.columnar import cells

    def expected(values: list[str]) -> list[tuple[Any, Any]]:
        return [cells.read_cell("ald", value) for value in values]

    def read(values: list[str]) -> list[tuple[Any, Any]]:
        result = cells.read_series("ald", pl.Series(values, dtype=pl.String))
        messages = result.messages.to_list() if result.messages is not None else [None] * len(values)
        return list(zip(result.values["ald"].to_list(), messages, strict=True))

    cells._few_spellings.pop("ald", None)
    batches = [["0", "1", "1"], ["1", "1"], ["0", "oui", "1", "x"], ["0", "1"], ["", "0"]]
    for values in batches:
        assert read(values) == expected(values)
    assert cells._few_spellings["ald"] == ["", "0"]
