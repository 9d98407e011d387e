"""A referral given as a time of day only (``Heure de régulation``, issue 17 point 3).

``referral_at`` is a moment (SPEC §1). The built-in ``Heure de régulation`` / ``Heure d'adressage``
headers hold a time only: they map to ``referral_time``, combined with the ``Date de régulation``
cell when there is one, else with the act's date (the day before when the time is later than the
act's). Before, such a file had every regulated row rejected (« date-heure invalide »). The row
readers and the columnar reader give the same results, every format.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from billing_rules.cli import main
from billing_rules.model import Event, InputError
from billing_rules.readers import InputStream
from billing_rules.readers.columns import ALIASES, DEFAULT_MAPPING, normalize

HEADER = (
    "N° facture;Date acte;Heure;RPPS;Patient;Date de naissance;Actes;Heure de régulation;"
    "Date de régulation;Note\n"
)
ROWS = [
    # invoice, act time, referral time, referral date -> referral_at, or the errors' fields
    ("F1", "10:00", "09:30", "", dt.datetime(2024, 2, 5, 9, 30)),
    ("F2", "08:00", "22:00", "", dt.datetime(2024, 2, 4, 22, 0)),  # the evening before
    ("F3", "", "22:00", "", dt.datetime(2024, 2, 5, 22, 0)),  # untimed act: end of its day
    ("F4", "10:00", "09:30", "04/02/2024", dt.datetime(2024, 2, 4, 9, 30)),
    ("F5", "10:00", "9:30", "2024-02-04T00:00", dt.datetime(2024, 2, 4, 9, 30)),  # a date at 00:00
    ("F6", "10:00", "09:30", "04/02/2024 09:30", dt.datetime(2024, 2, 4, 9, 30)),
    ("F7", "10:00", "09:30", "04/02/2024 08:00", ["referral_time"]),  # two different times
    ("F8", "10:00", "25:00", "hier", ["referral_at", "referral_time"]),
    ("F9", "10:00", "", "04/02/2024 08:00", dt.datetime(2024, 2, 4, 8, 0)),  # no time: as before
    ("F10", "10:00", "", "04/02/2024", ["referral_at"]),  # a date only, no time anywhere
    ("F11", "10:00", "11:00", "05/02/2024", ["referral_at"]),  # after the act
    ("F12", "10:00", "", "", None),
    ("F13", "10:00", " ", "", None),  # blank: no referral
    ("F14", "25:00", "09:00", "", ["time"]),  # the act's time is wrong: the row is in error anyway
]


#: Readable invoices and input errors of ROWS.
EVENTS = sum(not isinstance(expected, list) for *_, expected in ROWS)
ERRORS = sum(len(expected) for *_, expected in ROWS if isinstance(expected, list))


def _csv() -> str:
    lines = [
        f"{invoice};05/02/2024;{act};101;P-{invoice};01/02/1950;G+SNP;{clock};{day};n-{invoice}\n"
        for invoice, act, clock, day, _ in ROWS
    ]
    return HEADER + "".join(lines)


def _items(data: bytes, name: str = "jour.csv") -> list[Event | InputError]:
    return list(InputStream([name], stdin=io.BytesIO(data), input_format=name.rsplit(".", 1)[1]))


def _read(path: Path) -> list[Any]:
    return list(InputStream([str(path)]))


def test_time_only_headers_map_to_the_referral_time() -> None:
    for header in ("Heure de régulation", "Heure d'adressage", "HEURE REGULATION"):
        assert ALIASES[normalize(header)] == "referral_time"
    for header in ("Date de régulation", "Date d'adressage", "Date et heure de régulation"):
        assert ALIASES[normalize(header)] == "referral_at"
    resolution = DEFAULT_MAPPING.resolve(HEADER.strip().split(";"))
    assert resolution.names[7:9] == ["referral_time", "referral_at"]


def test_each_case_of_the_row_reader(tmp_path: Path) -> None:
    path = tmp_path / "jour.csv"
    path.write_text(_csv(), encoding="utf-8")
    items = _read(path)
    by_invoice: dict[str, Any] = {}
    for item in items:
        if isinstance(item, Event):
            by_invoice[item.invoice_id] = item.referral_at
            assert item.extra == {"note": f"n-{item.invoice_id}"}  # the time is no extra column
        else:
            by_invoice.setdefault(item.invoice_id, []).append(item.field)
    assert by_invoice == {invoice: expected for invoice, _, _, _, expected in ROWS}
    errors = [item for item in items if isinstance(item, InputError)]
    messages = {(error.invoice_id, error.field): error.message for error in errors}
    assert messages[("F7", "referral_time")] == (
        "heure de régulation (09:30) différente de celle de referral_at (04/02/2024 08:00)"
    )
    assert messages[("F8", "referral_time")] == "heure invalide « 25:00 »"
    assert messages[("F8", "referral_at")] == "date invalide « hier »"
    assert "une date sans heure" in messages[("F10", "referral_at")]
    assert "postérieure à l'acte" in messages[("F11", "referral_at")]


def test_per_act_lines_compare_the_referral_time_as_a_time(tmp_path: Path) -> None:
    header = "N° facture;Date acte;Heure;RPPS;Patient;Date de naissance;Code acte;Heure de régulation\n"
    path = tmp_path / "actes.csv"
    path.write_text(
        header
        + "F1;05/02/2024;10:00;101;P1;01/02/1950;G;09:30\n"
        + "F1;05/02/2024;10:00;101;P1;01/02/1950;SNP;9:30\n"
        + "F2;05/02/2024;10:00;101;P2;01/02/1950;G;09:30\n"
        + "F2;05/02/2024;10:00;101;P2;01/02/1950;SNP;09:45\n",
        encoding="utf-8",
    )
    first, error = _read(path)
    assert isinstance(first, Event) and first.referral_at == dt.datetime(2024, 2, 5, 9, 30)
    assert isinstance(error, InputError) and (error.line, error.field) == (5, "referral_time")


def test_native_invoices_take_a_time_object() -> None:
    from billing_rules.readers.native import invoice

    event = invoice(
        {
            "invoice_id": "F1",
            "date": dt.date(2024, 2, 5),
            "time": dt.time(10, 0),
            "practitioner_id": "1",
            "patient_id": "P1",
            "birth_date": dt.date(1950, 1, 1),
            "codes": "G+SNP",
            "referral_time": dt.time(9, 30),
        }  # fmt: skip
    )
    assert event.referral_at == dt.datetime(2024, 2, 5, 9, 30) and event.extra == {}


# --- the columnar reader gives exactly the row readers' results ----------------------------------


def _table_projection(row: dict[str, Any], files: tuple[str, ...]) -> tuple[Any, ...]:
    extras = json.loads(row["extras"]) if row["extras"] is not None else {}
    return (row["seq"], row["line"], files[row["file"]], row["invoice_id"], row["referral_at"], extras)


def _event_projection(event: Event) -> tuple[Any, ...]:
    return (event.seq, event.line, event.file, event.invoice_id, event.referral_at, dict(event.extra))


def _same_in_both_readers(paths: list[str]) -> tuple[int, int]:
    pytest.importorskip("polars")
    from billing_rules.readers.columnar import read_invoices

    stream = InputStream(paths)
    items = list(stream)
    events = [item for item in items if isinstance(item, Event)]
    errors = [item for item in items if isinstance(item, InputError)]
    result = read_invoices(paths)
    assert result.input_errors == errors
    rows = list(result.table.iter_rows(named=True))
    assert [_table_projection(row, result.files) for row in rows] == [_event_projection(e) for e in events]
    assert result.events == stream.events == len(events)
    return len(events), len(errors)


def _spec_records() -> list[dict[str, Any]]:
    """The cases with SPEC names (``referral_time`` spelt out), as JSON and Parquet hold them."""
    records = []
    for invoice, act, clock, day, _ in ROWS:
        record: dict[str, Any] = {
            "invoice_id": invoice, "date": "2024-02-05", "time": act, "practitioner_id": "101",
            "patient_id": f"P-{invoice}", "birth_date": "1950-02-01", "codes": "G+SNP",
            "referral_time": clock, "referral_at": day, "note": f"n-{invoice}",
        }  # fmt: skip
        records.append(record)
    return records


def test_csv_same_in_both_readers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("polars")
    from billing_rules.readers.columnar import csv_source

    path = tmp_path / "jour.csv"
    plain = "".join(f"G{n};05/02/2024;10:00;101;P{n};01/02/1950;G;;;\n" for n in range(200))
    path.write_text(_csv() + plain, encoding="utf-8")  # rows without a referral too
    assert _same_in_both_readers([str(path)]) == (EVENTS + 200, ERRORS)
    monkeypatch.setattr(csv_source, "CHUNK_CHARS", 500)  # rows of both kinds in every chunk
    _same_in_both_readers([str(path)])


@pytest.mark.parametrize("kind", ["json", "jsonl", "parquet", "spec.csv"])
def test_other_formats_same_in_both_readers(tmp_path: Path, kind: str) -> None:
    pl = pytest.importorskip("polars")
    records = _spec_records()
    path = tmp_path / f"jour.{kind}"
    if kind == "json":
        path.write_text(json.dumps(records), encoding="utf-8")
    elif kind == "jsonl":
        path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    elif kind == "parquet":
        pl.DataFrame(records).write_parquet(path)
    else:
        names = list(records[0])
        rows = [";".join(record[name] for name in names) for record in records]
        path.write_text("\n".join([";".join(names), *rows]) + "\n", encoding="utf-8")
    events, errors = _same_in_both_readers([str(path)])
    assert (events, errors) == (EVENTS, ERRORS)


# --- check: the regulated rows are checked, with both engines ------------------------------------


def test_check_reads_a_time_only_referral(tmp_path: Path, engine: str) -> None:
    """Before: every row rejected (« date-heure invalide »), 0 invoices checked."""
    path = tmp_path / "sas.csv"
    path.write_text(
        "N° facture;Date acte;Heure;RPPS;Patient;Date de naissance;Actes;Heure de régulation\n"
        "F1;06/01/2025;19:40;101;P1;01/02/1970;G+SNP+SHE;19:30\n"
        "F2;06/01/2025;21:00;101;P2;01/02/1970;G+SNP+SHE;18:30\n"
        "F3;06/01/2025;10:00;101;P3;01/02/1970;G+SNP;09:30\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["check", str(path), "--engine", engine, "--format", "json"])
    report = json.loads(result.stdout)
    assert report["input_errors"] == [] and report["summary"]["events"] == 3
    fired = {(finding["invoice_id"], finding["rule"]) for finding in report["findings"]}
    assert ("F2", "SHE-TIME") in fired  # referred at 18:30: not SAS evening time
    assert ("F1", "SHE-TIME") not in fired
    assert not any(rule == "SNP-REGULATED" for _, rule in fired)  # a referral time is a referral


def test_check_reads_a_spec_named_referral_time_column_wise(tmp_path: Path, engine: str) -> None:
    """SPEC-named headers only: the duckdb engine reads this file with the columnar reader."""
    path = tmp_path / "sas.csv"
    path.write_text(
        "invoice_id;date;time;practitioner_id;patient_id;birth_date;codes;referral_time\n"
        "F1;2025-01-06;19:40;101;P1;1970-02-01;G+SNP+SHE;19:30\n"
        "F2;2025-01-06;21:00;101;P2;1970-02-01;G+SNP+SHE;18:30\n"
        "F3;2025-01-06;10:00;101;P3;1970-02-01;G+SNP;\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["check", str(path), "--engine", engine, "--format", "json"])
    report = json.loads(result.stdout)
    assert report["input_errors"] == [] and report["summary"]["events"] == 3
    fired = sorted((finding["invoice_id"], finding["rule"]) for finding in report["findings"])
    assert fired == [("F2", "SHE-TIME"), ("F2", "SNP-PDSA"), ("F3", "SNP-REGULATED")]


def test_column_option_maps_a_referral_time_column(tmp_path: Path) -> None:
    """``--column referral_time=...`` is accepted as ``[columns] referral_time`` is."""
    path = tmp_path / "sas.csv"
    path.write_text(
        "invoice_id;date;time;practitioner_id;patient_id;birth_date;codes;Appel SAS\n"
        "F1;2025-01-06;19:40;101;P1;1970-02-01;G+SNP+SHE;19:30\n"
        "F2;2025-01-06;21:00;101;P2;1970-02-01;G+SNP+SHE;18:30\n",
        encoding="utf-8",
    )
    args = ["check", str(path), "--format", "json", "--column", "referral_time=Appel SAS", "--no-plugins"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.stderr
    fired = sorted(
        (finding["invoice_id"], finding["rule"]) for finding in json.loads(result.stdout)["findings"]
    )
    assert ("F2", "SHE-TIME") in fired and ("F1", "SHE-TIME") not in fired
    assert not any(rule == "SNP-REGULATED" for _, rule in fired)


def test_a_whole_moment_under_a_time_header_is_the_referral(tmp_path: Path, engine: str) -> None:
    """« Heure de régulation » holding ``2026-01-06T19:00`` (some exports write the moment there)."""
    path = tmp_path / "sas.csv"
    path.write_text(
        "N° facture;Date acte;Heure;RPPS;N° patient;DDN;Actes;Heure de régulation\n"
        "F1;06/01/2026;19:40;101;P1;01/02/1970;G+SNP+SHE;2026-01-06T19:00\n"
        "F2;06/01/2026;21:00;101;P2;01/02/1970;G+SNP+SHE;2026-01-06T18:30\n"
        "F3;06/01/2026;10:00;101;P3;01/02/1970;G+SNP;2026-01-07T09:30\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["check", str(path), "--engine", engine, "--format", "json"])
    report = json.loads(result.stdout)
    assert report["summary"]["events"] == 2  # F3: referred the day after its act, an input error
    assert [(error["line"], error["field"]) for error in report["input_errors"]] == [(4, "referral_at")]
    fired = {(finding["invoice_id"], finding["rule"]) for finding in report["findings"]}
    assert ("F2", "SHE-TIME") in fired and ("F1", "SHE-TIME") not in fired
