"""Large per-act files read twice by the row readers: exactly one pass's grouping, in small memory.

A per-act file is grouped by the row readers (``readers.lines.group_lines``) for the row engine,
and for JSON, JSON Lines and Parquet exports on any engine. Read once, it is held whole: any later
line may belong to any invoice. A large file that can be read again is read twice: the first pass
notes each invoice's last row (``last_rows``), and the second lets each invoice go once complete.
Whatever the file, both ways must give the same invoices, errors and order: CSV, JSON Lines and
JSON arrays (whose objects have no line), lines of one invoice far apart, lines naming no invoice,
broken lines, disagreements, and invoices whose hashes collide. A file that changes between the
two passes is refused, never misread.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_rules.errors import ReadError
from billing_rules.model import Event, InputError
from billing_rules.readers import lines as lines_module
from billing_rules.readers import stream as stream_module
from billing_rules.readers.base import ROW_FIELD, RawRow
from billing_rules.readers.csv_reader import CsvReader
from billing_rules.readers.json_reader import JsonLinesReader, JsonReader
from billing_rules.readers.lines import group_lines, last_rows
from billing_rules.readers.stream import InputStream

_FIELDS = ("invoice_id", "practitioner_id", "date", "patient_id", "birth_date", "ald", "code", "amount")


def _lines(seed: int, invoices: int = 120) -> list[dict[str, Any]]:
    """Invoices of one to three lines, some spoiled, shuffled a little (lines far apart)."""
    rng = random.Random(seed)
    lines = []
    for number in range(invoices):
        base = {
            "invoice_id": f"F{number}",
            "practitioner_id": str(101 + number % 3),
            "date": "2025-03-04",
            "patient_id": f"P{number % 17}",
            "birth_date": "1950-02-01",
            "ald": rng.choice(["1", "0", ""]),
        }
        codes = rng.choice([["G"], ["G", "MD"], ["VG", "MD", "IK"]])
        own = [dict(base, code=code, amount="0") for code in codes]
        own[0]["amount"] = "30.00"
        spoil = rng.random()
        if spoil < 0.05:
            own[-1]["patient_id"] = "P-autre"  # a disagreement
        elif spoil < 0.10:
            own[-1]["date"] = "04/03/2025"  # the same date written otherwise
        elif spoil < 0.15:
            own[-1]["code"] = rng.choice(["", "XYZ"])
        elif spoil < 0.20:
            own[-1]["amount"] = "abc"
        elif spoil < 0.24:
            own[-1]["invoice_id"] = ""  # names no invoice
        elif spoil < 0.27:
            own[0]["patient_id"] = ""  # the patient on a later line only
        lines += own
    for _ in range(len(lines) // 8):
        first, second = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[first], lines[second] = lines[second], lines[first]
    return lines


def _csv(lines: list[dict[str, Any]]) -> bytes:
    text = [";".join(_FIELDS)] + [";".join(line[name] for name in _FIELDS) for line in lines]
    text[5] += ";de trop"  # a broken line
    return ("\n".join(text) + "\n").encode()


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    text = [json.dumps(line) for line in lines]
    text[7] = "{pas du json"
    return ("\n".join(text) + "\n").encode()


def _json_array(lines: list[dict[str, Any]]) -> bytes:
    """JSON natives too: the first line's amount a number."""
    native = [dict(line, amount=30.0) if line["amount"] == "30.00" else line for line in lines]
    return json.dumps(native).encode()


_FORMATS = {"csv": (CsvReader, _csv), "jsonl": (JsonLinesReader, _jsonl), "json": (JsonReader, _json_array)}


def _rows(fmt: str, data: bytes) -> list[RawRow]:
    reader, _ = _FORMATS[fmt]
    return list(reader().rows(io.BytesIO(data), f"actes.{fmt}"))


def _same_grouping(rows: list[RawRow]) -> list[Any]:
    once = list(group_lines(iter(rows)))
    assert list(group_lines(iter(rows), last_rows(iter(rows)))) == once
    return once


@pytest.mark.parametrize("fmt", sorted(_FORMATS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_passes_group_as_one(fmt: str, seed: int) -> None:
    rows = _rows(fmt, _FORMATS[fmt][1](_lines(seed)))
    grouped = _same_grouping(rows)
    judged = [item for item in grouped if not isinstance(item, RawRow) and item.errors]
    alone = [item for item in grouped if isinstance(item, RawRow)]
    assert len(grouped) > 100 and len(judged) >= 8 and alone  # every kind of entry is there


@pytest.mark.parametrize("fmt", sorted(_FORMATS))
def test_invoices_of_one_hash(monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    """Every invoice gets one of two hashes: each waits for the other's last row, no more."""
    monkeypatch.setattr(lines_module, "_key_hash", lambda key: hash(key) % 2)
    _same_grouping(_rows(fmt, _FORMATS[fmt][1](_lines(4))))


def test_invoices_go_once_complete() -> None:
    """Lines written invoice by invoice: each invoice comes out within a row of its last line."""
    lines = [dict(line) for line in _lines(5, invoices=300)]
    lines.sort(key=lambda line: int(line["invoice_id"][1:] or 0))  # no line far from its invoice
    rows = _rows("jsonl", _jsonl(lines))
    consumed = 0
    lags = []

    def counted() -> Iterator[RawRow]:
        nonlocal consumed
        for raw in rows:
            consumed += 1
            yield raw

    items = []
    for item in group_lines(counted(), last_rows(iter(rows))):
        items.append(item)
        first = item.line if isinstance(item, RawRow) else item.raw.line
        lags.append(consumed - (first or 0))
    assert items == list(group_lines(iter(rows)))
    assert max(lags) <= 5  # read once, the first invoice came out after the file's last line
    assert list(group_lines(iter(rows)))  # (and the file is not empty)


def test_a_file_changed_between_the_passes_is_refused() -> None:
    rows = _rows("csv", _csv(_lines(6)))
    with pytest.raises(ReadError, match="le fichier a changé pendant sa lecture"):
        list(group_lines(iter([*rows, rows[3]]), last_rows(iter(rows))))  # a row of an invoice added
    with pytest.raises(ReadError, match="le fichier a changé pendant sa lecture"):
        list(group_lines(iter(rows[:-1]), last_rows(iter(rows))))  # a row less


def _first_passes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one at each first pass of the row readers (``last_rows``)."""
    passes: list[int] = []
    real = stream_module.last_rows

    def spy(rows: Any) -> Any:
        passes.append(1)
        return real(rows)

    monkeypatch.setattr(stream_module, "last_rows", spy)
    return passes


@pytest.mark.parametrize("fmt", sorted(_FORMATS))
def test_row_readers_read_a_large_file_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """The whole reading: the same events and input errors; the first pass really runs."""
    path = tmp_path / f"actes.{fmt}"
    path.write_bytes(_FORMATS[fmt][1](_lines(7)))
    once = list(InputStream([str(path)]))
    passes = _first_passes(monkeypatch)
    monkeypatch.setattr(stream_module, "TWICE_BYTES", 0)
    assert list(InputStream([str(path)])) == once
    assert passes == [1]
    assert sum(isinstance(item, Event) for item in once) > 80
    assert sum(isinstance(item, InputError) for item in once) > 10


def test_parquet_large_by_its_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Parquet file is read twice from :data:`TWICE_ROWS` rows on, whatever its (compressed) size."""
    pl = pytest.importorskip("polars", reason="Parquet needs polars (pip install '.[batch]')")
    rows = _lines(8)
    path = tmp_path / "actes.parquet"
    pl.DataFrame({name: [row[name] for row in rows] for name in _FIELDS}).write_parquet(path)
    once = list(InputStream([str(path)]))
    passes = _first_passes(monkeypatch)
    monkeypatch.setattr(stream_module, "TWICE_BYTES", 0)  # its bytes do not decide
    assert list(InputStream([str(path)])) == once
    assert passes == []
    monkeypatch.setattr(stream_module, "TWICE_ROWS", len(rows) + 1)
    assert list(InputStream([str(path)])) == once
    assert passes == []
    monkeypatch.setattr(stream_module, "TWICE_ROWS", len(rows))
    assert list(InputStream([str(path)])) == once
    assert passes == [1]
    assert sum(isinstance(item, Event) for item in once) > 80
    with path.open("rb") as handle:  # the footer, and the stream where it was
        handle.read(3)
        assert stream_module.read_twice(handle, stream_module.ParquetReader())
        assert handle.tell() == 3
    with path.open("rb") as handle:  # a stream without its path: read for its footer
        memory = io.BytesIO(handle.read())
    assert stream_module.read_twice(memory, stream_module.ParquetReader())
    assert memory.tell() == 0


def test_standard_input_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_module, "TWICE_BYTES", 0)
    assert not stream_module.read_twice(io.BytesIO(b"code;invoice_id\n"))


# --- any rows: property-based ---------------------------------------------------------------------

_VALUES = {
    "invoice_id": ["F1", "F2", " F1", "", "F3", None],
    "practitioner_id": ["101", "102", ""],
    "date": ["2025-03-04", "04/03/2025", "", "2025-02-30"],
    "patient_id": ["P1", "", "P2"],
    "code": ["G", "MD", "", "XYZ", "G+MD"],
    "amount": ["30.00", "", "abc", "0"],
}


@st.composite
def _any_rows(draw: st.DrawFn) -> list[RawRow]:
    count = draw(st.integers(min_value=0, max_value=16))
    numbered = draw(st.booleans())  # JSON arrays' objects have no line
    rows = []
    for index in range(count):
        values = {name: draw(st.sampled_from(spellings)) for name, spellings in _VALUES.items()}
        values = {name: value for name, value in values.items() if value is not None}
        problems: tuple[tuple[str, str], ...] = ()
        if draw(st.integers(min_value=0, max_value=9)) == 0:
            problems = ((ROW_FIELD, "ligne irrégulière"),)
        rows.append(RawRow(index + 2 if numbered else None, values, "actes", problems))
    return rows


@given(rows=_any_rows(), buckets=st.sampled_from([None, 1, 2]))
def test_any_rows_grouped_as_in_one_pass(rows: list[RawRow], buckets: int | None) -> None:
    """Random rows of a few invoices, hashes colliding or not."""
    real = lines_module._key_hash
    if buckets is not None:
        lines_module._key_hash = lambda key: real(key) % buckets  # type: ignore[assignment]
    try:
        _same_grouping(rows)
    finally:
        lines_module._key_hash = real  # type: ignore[assignment]
