"""Quoted CSV fields read column-wise exactly as the row reader reads them.

Practice software often writes every field between quotes. Such a chunk is split by polars like a
plain one when each quote wraps a whole field (``"x"``, ``x`` without a quote, delimiter or line
break); any other quote (doubled, glued to a value, alone, around a delimiter or a line break,
after a space) sends the chunk to the csv module. Either way the results are the row reader's:
the same input errors, values, line numbers and duplicates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("polars")

import test_columnar_reader as _cases  # noqa: E402  (its file builders and comparison)

from billing_rules.readers.columnar import csv_source, read_invoices  # noqa: E402


@pytest.fixture(params=[None, 3000], ids=["big-chunks", "small-chunks"])
def chunks(request: Any, monkeypatch: Any) -> None:
    if request.param:
        monkeypatch.setattr(csv_source, "CHUNK_CHARS", request.param)


def _quoted(line: str, which: Any = lambda index, value: True) -> str:
    values = enumerate(line.split(";"))
    return ";".join(f'"{value}"' if which(index, value) else value for index, value in values)


def _used_the_csv_module(path: Path) -> bool:
    return any("module csv" in note for note in read_invoices([str(path)]).notes)


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("rate", [0.0, 0.05])
def test_every_field_quoted(tmp_path: Path, chunks: None, rate: float, newline: str) -> None:
    header, *rows = _cases._damaged_lines(41, rate, rows=800)
    lines = [_quoted(header), *(_quoted(row) for row in rows)]
    path = _cases._write(tmp_path / "quoted.csv", lines, newline=newline, bom=newline == "\r\n")
    events, errors = _cases._compare([str(path)])
    assert events > 0 and (errors > 0) == (rate > 0)
    if rate == 0.0:
        assert not _used_the_csv_module(path)  # every chunk split by polars


def test_text_fields_quoted_and_empty_ones(tmp_path: Path, chunks: None) -> None:
    """Only the non-numeric values quoted, as many exports do; an empty value as ``""``."""
    header, *rows = _cases._damaged_lines(42, 0.0, rows=800)

    def text(index: int, value: str) -> bool:
        return not value.replace(".", "").replace(",", "").isdigit()

    lines = [header, *(_quoted(row, text) for row in rows)]
    path = _cases._write(tmp_path / "text-quoted.csv", lines)
    assert '""' in path.read_text(encoding="utf-8")
    events, _ = _cases._compare([str(path)])
    assert events == 800
    assert not _used_the_csv_module(path)


#: Quotes the csv module reads in its own way (or refuses): each goes to it, with the row reader's result.
ODD_QUOTES = {
    "doubled": lambda fields: [f'"{fields[0]}""x"', *fields[1:]],
    "glued-after": lambda fields: [f'"{fields[0]}"x', *fields[1:]],
    "glued-inside": lambda fields: [f'{fields[0][:2]}"{fields[0][2:]}', *fields[1:]],
    "alone": lambda fields: ['"', *fields[1:]],
    "open-only": lambda fields: [f'"{fields[0]}', *fields[1:]],
    "close-only": lambda fields: [f'{fields[0]}"', *fields[1:]],
    "around-a-delimiter": lambda fields: [f'"{fields[0]};{fields[1]}"', *fields[2:]],
    "around-a-line-break": lambda fields: [f'"{fields[0]}\n{fields[1]}"', *fields[2:]],
    "space-before": lambda fields: [f' "{fields[0]}"', *fields[1:]],
    "space-after": lambda fields: [f'"{fields[0]}" ', *fields[1:]],
    "empty-and-doubled": lambda fields: ['""""', *fields[1:]],
}


@pytest.mark.parametrize("odd", sorted(ODD_QUOTES))
def test_odd_quotes_among_quoted_fields(tmp_path: Path, chunks: None, odd: str) -> None:
    header, *rows = _cases._damaged_lines(43, 0.0, rows=400)
    lines = [_quoted(header)]
    for index, row in enumerate(rows):
        fields = row.split(";")
        lines.append(";".join(ODD_QUOTES[odd](fields)) if index % 37 == 5 else _quoted(row))
    path = _cases._write(tmp_path / f"{odd}.csv", lines)
    events, _ = _cases._compare([str(path)])
    assert events > 0


# --- any quoting ------------------------------------------------------------------------------------

#: What a field's text may hold around its value: quotes, delimiters, spaces, a line break.
_SPECKS = st.sampled_from(['"', '""', ";", " ", "\n", "x"])


@st.composite
def _quoted_rows(draw: Any) -> list[str]:
    """A plain file whose columns are quoted or not, with a few fields damaged in any way."""
    header, *rows = _cases._damaged_lines(44, 0.0, rows=60)
    width = len(header.split(";"))
    quoted = draw(st.lists(st.booleans(), min_size=width, max_size=width))
    odd = draw(
        st.lists(
            st.tuples(st.integers(0, len(rows) - 1), st.integers(0, width - 1), _SPECKS, _SPECKS),
            max_size=3,
        )
    )
    table = [
        [f'"{value}"' if quote else value for value, quote in zip(row.split(";"), quoted, strict=True)]
        for row in rows
    ]
    for row, column, before, after in odd:
        table[row][column] = before + table[row][column] + after
    return [header, *(";".join(fields) for fields in table)]


@_cases.reproducible(60)
@given(lines=_quoted_rows(), chunk=st.sampled_from([csv_source.CHUNK_CHARS, 300, 1500]))
def test_any_quoting_read_as_the_row_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[str], chunk: int
) -> None:
    """Also with chunk boundaries anywhere: a quote open across one is read as the row reader reads it."""
    _cases.compare_in_chunks(tmp_path, monkeypatch, lines, chunk)
