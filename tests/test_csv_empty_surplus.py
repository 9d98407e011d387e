"""CSV rows wider than the header whose surplus cells are empty (``CsvTable.settled``).

A trailing separator on every row (the header without it) is an export's habit and must read. An
unquoted separator in a value with the row's last value empty makes the same shape: such a row
was read shifted, its errors naming the wrong fields and quoting a birth date as a time. It now
gets the row-width error a non-empty surplus gets, as its only error, on both engines and in
both readers (row by row, and column-wise for the relational engine).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from billing_rules.cli import main
from billing_rules.model import InputError
from billing_rules.readers import InputStream

FRENCH = "N° facture;Date acte;RPPS;Patient;Date de naissance;Heure;Actes;Montant\n"
SPEC = "invoice_id;date;practitioner_id;patient_id;birth_date;time;codes;amount\n"


def _too_wide(count: int, width: int = 8) -> str:
    return (
        f"{count} champs au lieu des {width} de l'en-tête (séparateur dans une valeur non entourée de "
        "guillemets ?)"
    )


def _check(path: Path, engine: str) -> tuple[list[tuple[int | None, str, str]], int]:
    arguments = ["check", str(path), "--isolated", "-q", "--engine", engine, "--format", "json"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code in (0, 1), result.output
    report: dict[str, Any] = json.loads(result.stdout)
    errors = [(error["line"], error["field"], error["message"]) for error in report["input_errors"]]
    return errors, report["summary"]["events"]


@pytest.mark.parametrize("header", [FRENCH, SPEC], ids=["french", "spec"])
def test_a_separator_in_a_name_and_no_amount_is_one_row_width_error(
    tmp_path: Path, engine: str, header: str
) -> None:
    """SPEC headers: the relational engine reads the file column-wise; French ones: row by row."""
    path = tmp_path / "jour.csv"
    path.write_text(
        header
        + "F1;05/01/2026;111;DUPONT;JEAN;07/03/1980;09:00;G;\n"
        + "F2;05/01/2026;111;P2;07/03/1981;09:00;G;30,00\n",
        encoding="utf-8",
    )
    assert _check(path, engine) == ([(2, "_row", _too_wide(9))], 1)


@pytest.mark.parametrize("header", [FRENCH, SPEC], ids=["french", "spec"])
def test_an_export_with_a_trailing_separator_on_every_row(tmp_path: Path, engine: str, header: str) -> None:
    """The habit set by the first row: a bad value is then reported as such; a shifted row is not read."""
    path = tmp_path / "jour.csv"
    path.write_text(
        header
        + "F1;05/01/2026;111;P1;07/03/1980;09:00;G;30,00;\n"
        + "F2;31/02/2026;111;P2;07/03/1980;09:00;G;30,00;\n"  # a bad date, said as such
        + "F3;05/01/2026;111;DUPONT;JEAN;07/03/1980;09:00;G;;\n"  # one cell more than the habit
        + "F4;05/01/2026;111;P4;07/03/1980;;G;;\n",
        encoding="utf-8",
    )
    assert _check(path, engine) == (
        [(3, "date", "date invalide « 31/02/2026 »"), (4, "_row", _too_wide(10))],
        2,
    )


@pytest.mark.parametrize("header", [FRENCH, SPEC], ids=["french", "spec"])
def test_after_rows_of_the_headers_width_an_empty_surplus_must_read(
    tmp_path: Path, engine: str, header: str
) -> None:
    path = tmp_path / "jour.csv"
    path.write_text(
        header
        + "F1;05/01/2026;111;P1;07/03/1980;09:00;G;30,00\n"
        + "F2;05/01/2026;111;P2;07/03/1980;09:00;G;30,00;\n"  # reads: the empty cell is dropped
        + "F3;05/01/2026;111;P3;07/03/1980;9h;G;;\n",  # would read « heure invalide »: too wide
        encoding="utf-8",
    )
    assert _check(path, engine) == ([(4, "_row", _too_wide(9))], 2)


def test_per_act_lines_with_a_trailing_separator(tmp_path: Path, engine: str) -> None:
    """The patient's cells left empty after the first line; a shifted line spoils its invoice."""
    path = tmp_path / "actes.csv"
    path.write_text(
        "N° facture;Date acte;RPPS;Patient;Date de naissance;Code acte;Montant\n"
        "F1;05/01/2026;111;P1;01/01/1950;G;30,00;\n"
        "F1;05/01/2026;111;;;MD;10,00;\n"
        "F2;05/01/2026;111;DUPONT;JEAN;01/01/1950;G;;\n"
        "F2;05/01/2026;111;;;MD;10,00;\n",
        encoding="utf-8",
    )
    assert _check(path, engine) == ([(4, "_row", _too_wide(9, 7))], 1)


def test_the_columnar_reader_settles_rows_as_the_row_reader(tmp_path: Path, monkeypatch: Any) -> None:
    """Across chunks, split by polars (rows of the header's width) and by the csv module alike."""
    pytest.importorskip("polars")
    from billing_rules.readers.columnar import csv_source, read_invoices

    monkeypatch.setattr(csv_source, "CHUNK_CHARS", 400)
    plain = "".join(f"P{n};2026-01-05;111;P{n};1980-03-07;09:00;G;30.00\n" for n in range(30))
    trailing = plain.replace("\n", ";\n")
    cases = {
        # Rows of the header's width first (chunks split by polars): no habit.
        "plain.csv": (
            plain
            + "F1;2026-01-05;111;DUPONT;JEAN;1980-03-07;09:00;G;\nF2;2026-01-05;111;P2;1980-03-07;;G;;\n",
            [(32, "_row", _too_wide(9))],
            31,
        ),
        # The habit of the first row holds in the later chunks.
        "trailing.csv": (
            trailing
            + "F1;2026-02-31;111;P1;1980-03-07;09:00;G;30.00;\nF2;2026-01-05;111;A;B;1980-03-07;09:00;G;;\n",
            [(32, "date", "date invalide « 2026-02-31 »"), (33, "_row", _too_wide(10))],
            30,
        ),
    }
    for name, (rows, expected, events) in cases.items():
        path = tmp_path / name
        path.write_text(SPEC + rows, encoding="utf-8")
        stream = InputStream([str(path)])
        errors = [item for item in stream if isinstance(item, InputError)]
        columnar = read_invoices([str(path)])
        assert [(error.line, error.field, error.message) for error in errors] == expected, name
        assert columnar.input_errors == errors and (columnar.events, stream.events) == (events, events)
