"""The CSV fast path (``readers/positional.py``) against the general path, row for row.

The fast path reads a record by position and memos; whatever it is unsure of goes back to the
general path. Both must give exactly the same events (every field, line and rank) and the same
input errors, in the same order, on clean files and on files damaged in every way an export can
be: so files generated for the benchmarks are corrupted here at random, with a fixed seed.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from billing_rules.model import Event, InputError
from billing_rules.readers import CsvReader, InputStream
from billing_rules.readers.base import RawRow

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import generate  # noqa: E402


class GeneralPathOnly:
    """The CSV reader without its positional table: every row takes the general path."""

    name = "csv"
    extensions = (".csv",)

    def rows(self, stream: BinaryIO, file: str) -> Iterator[RawRow]:
        return CsvReader().rows(stream, file)


# Each damage: (column to touch or None for the whole line, what it does to the line's cells).
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
        setter("date", "0001-01-01"),
        setter("date", ""),
        setter("time", "25:00"),
        setter("time", "9:30"),
        setter("time", " "),
        setter("birth_date", "2030-01-01"),
        setter("birth_date", "29/02/1944"),
        setter("ald", "peut-être"),
        setter("ald", "OUI"),
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
        setter("amount", "-1"),
        setter("amount", "abc"),
        setter("amount", ""),
        setter("status", "cancelled"),
        setter("status", "annulée"),
        setter("referral_at", "2099-01-01T10:00"),
        setter("referral_at", "hier"),
        setter("invoice_id", ""),
        setter("patient_id", "   "),
        setter("practitioner_id", ""),
        setter("specialty", "psy"),
        spaced("invoice_id"),
        spaced("practitioner_id"),
        spaced("patient_id"),
        lambda cells: cells[:-2],  # too few fields
        lambda cells: [*cells, "en trop"],  # too many
        lambda cells: [*cells, ""],  # one empty extra cell: tolerated
        lambda cells: [""] * len(cells),  # a spreadsheet's ";;;;"
        setter("patient_id", '"P-ouvert'),  # an unclosed quote: both paths resynchronise alike
        lambda cells: [f'"{cells[0]}', *cells[1:]],  # unclosed at the start of the row
    ]


def _damaged_file(tmp_path: Path, seed: int, rate: float) -> Path:
    clean = tmp_path / f"clean-{seed}.csv"
    generate.generate(
        str(clean), rows=3000, practitioners=3, seed=seed, start=dt.date(2025, 12, 1), violations=20
    )
    rng = random.Random(seed)
    lines = clean.read_text(encoding="utf-8").splitlines()
    names = lines[0].split(";")
    damages = _damages(names)
    out = [lines[0]]
    earlier: list[str] = []
    for line in lines[1:]:
        roll = rng.random()
        if roll < rate:
            cells = line.split(";")
            out.append(";".join(rng.choice(damages)(cells)))
        elif roll < rate * 1.1 and earlier:
            out.append(rng.choice(earlier))  # a duplicate invoice, possibly far back
        elif roll < rate * 1.15:
            out.append("")  # blank line
        elif roll < rate * 1.2:
            first, rest = line.split(";", 1)
            out.append(f'"{first}";{rest}')  # a quoted value: the csv module's own job
        else:
            out.append(line)
        earlier.append(line)
    path = tmp_path / f"damaged-{seed}.csv"
    path.write_text("\r\n".join(out) + "\r\n", encoding="utf-8")
    return path


def _read(path: Path, **options: Any) -> tuple[list[Event | InputError], int, int]:
    stream = InputStream([str(path)], **options)
    items = list(stream)
    return items, stream.events, stream.input_errors


def _same(fast: list[Any], general: list[Any]) -> None:
    assert len(fast) == len(general)
    for a, b in zip(fast, general, strict=True):
        assert type(a) is type(b)
        assert a == b
        if isinstance(a, Event):
            assert a.extra == b.extra  # not part of Event equality


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("rate", [0.0, 0.02, 0.3])
def test_fast_and_general_paths_agree(tmp_path: Path, seed: int, rate: float) -> None:
    path = _damaged_file(tmp_path, seed, rate)
    fast = _read(path)
    general = _read(path, readers={"csv": GeneralPathOnly()})
    _same(fast[0], general[0])
    assert fast[1:] == general[1:]
    if rate:
        assert fast[2] > 0  # the damage did reach the input errors


@pytest.mark.parametrize("seed", [1, 2])
def test_unwanted_invoices_are_counted_not_yielded(tmp_path: Path, seed: int) -> None:
    path = _damaged_file(tmp_path, seed, 0.05)

    def wanted(codes: tuple[str, ...]) -> bool:
        return "VL" in codes or "SNP" in codes

    every, events, errors = _read(path)
    kept, kept_events, kept_errors = _read(path, wanted=wanted)
    general, general_events, general_errors = _read(path, wanted=wanted, readers={"csv": GeneralPathOnly()})
    expected = [item for item in every if not isinstance(item, Event) or wanted(item.codes)]
    _same(kept, expected)
    _same(general, expected)
    assert (kept_events, kept_errors) == (general_events, general_errors) == (events, errors)
    assert 0 < sum(isinstance(item, Event) for item in kept) < events


def test_extra_and_unnamed_columns(tmp_path: Path) -> None:
    path = tmp_path / "extra.csv"
    path.write_text(
        "invoice_id;date;practitioner_id;patient_id;birth_date;codes;note;\n"
        "F1;2026-01-05;D1;P1;1950-01-01;G;rappel;x\n"
        "F2;2026-01-05;D1;P2;1950-01-01;VL;;\n",
        encoding="utf-8",
    )
    fast = _read(path)
    general = _read(path, readers={"csv": GeneralPathOnly()})
    _same(fast[0], general[0])
    assert [item.extra for item in fast[0]] == [{"note": "rappel"}, {"note": ""}]


@pytest.mark.parametrize("spill_after", [None, 50])
def test_duplicates_across_blocks_and_after_a_spill(
    tmp_path: Path, monkeypatch: Any, spill_after: Any
) -> None:
    from billing_rules.readers.csv_reader import BLOCK_SIZE
    from billing_rules.readers.seen import SeenInvoices

    if spill_after is not None:  # the duplicate index moves to its disk table after 50 keys
        monkeypatch.setattr(SeenInvoices.__init__, "__defaults__", (spill_after,))
    header = "invoice_id;date;practitioner_id;patient_id;birth_date;codes\n"
    rows = [f"F{n};2026-01-05;D1;P{n};1970-01-01;G\n" for n in range(3 * BLOCK_SIZE)]
    rows[BLOCK_SIZE + 7] = "F3;2026-01-05;D1;P3;1970-01-01;G\n"  # repeats the 4th row, a block later
    rows[2 * BLOCK_SIZE + 1] = "F3;2026-01-05;D2;P3;1970-01-01;G\n"  # another practitioner: new
    path = tmp_path / "dup.csv"
    path.write_text(header + "".join(rows), encoding="utf-8")
    fast = _read(path)
    general = _read(path, readers={"csv": GeneralPathOnly()})
    _same(fast[0], general[0])
    assert fast[1:] == general[1:] == (3 * BLOCK_SIZE - 1, 1)
    (error,) = [item for item in fast[0] if isinstance(item, InputError)]
    assert (error.line, error.field) == (BLOCK_SIZE + 9, "invoice_id")
    assert "déjà vue ligne 5" in error.message
