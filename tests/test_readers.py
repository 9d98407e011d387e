"""Readers (SPEC §1): every format, every spelling, every kind of bad row, and streaming.

Files are checked through the public paths (``Validator.check_paths`` and the ``check`` command),
so these tests pin what a practice sees: which rows become events, and which input errors, with
their file, line and field, come out of a bad export.
"""

from __future__ import annotations

import codecs
import datetime as dt
import enum
import io
import json
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from billing_rules.api.validator import Validator
from billing_rules.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, main
from billing_rules.errors import ReadError
from billing_rules.model import Event, InputError, MtStatus, Place, Report, Sector, Status
from billing_rules.readers import (
    BUILTIN_READERS,
    KNOWN_COLUMNS,
    REQUIRED_COLUMNS,
    CsvReader,
    InputStream,
    RawRow,
    detect_delimiter,
    event_from_row,
)
from billing_rules.readers import rows as rows_module
from billing_rules.readers import values as values_module
from billing_rules.readers.encoding import HEAD_SIZE

COLUMNS = (
    "invoice_id", "date", "time", "practitioner_id", "specialty", "sector", "patient_id", "birth_date",
    "ald", "palliative", "neurodegenerative", "mt_status", "declares_mt", "place", "homebound", "codes",
    "amount", "regulated", "referral_at", "status",
)  # fmt: skip
# Optional columns SPEC §1 gained in 2026 (GL1, IK): most exports do not have them.
COLUMNS_2026 = ("discharge_date", "km")

# A plain consultation by the patient's own MT: readable, and with nothing wrong for the rules.
BASE: dict[str, str] = {
    "invoice_id": "F-1",
    "date": "2025-03-04",
    "time": "09:30",
    "practitioner_id": "10001234567",
    "specialty": "MG",
    "sector": "1",
    "patient_id": "P-1",
    "birth_date": "1980-06-01",
    "ald": "non",
    "palliative": "non",
    "neurodegenerative": "non",
    "mt_status": "self",
    "declares_mt": "non",
    "place": "cabinet",
    "homebound": "non",
    "codes": "G",
    "amount": "30.00",
    "regulated": "non",
    "referral_at": "",
    "status": "billed",
}


def row(number: int = 1, **changes: str) -> dict[str, str]:
    """BASE as invoice ``F-<number>`` of patient ``P-<number>``, with ``changes``."""
    values = dict(BASE, invoice_id=f"F-{number}", patient_id=f"P-{number}")
    values.update(changes)
    return values


def csv_text(
    rows: Sequence[dict[str, str]], columns: Sequence[str] = COLUMNS, delimiter: str = ";", end: str = "\n"
) -> str:
    """A CSV file; only the values that need quotes get them (as spreadsheets do)."""

    def cell(value: str) -> str:
        if any(char in value for char in (delimiter, '"', "\n", "\r")):
            return '"' + value.replace('"', '""') + '"'
        return value

    lines = [delimiter.join(columns)]
    lines += [delimiter.join(cell(values.get(column, "")) for column in columns) for values in rows]
    return end.join(lines) + end


def jsonl_text(rows: Sequence[dict[str, Any]]) -> str:
    return "".join(json.dumps(values, ensure_ascii=False) + "\n" for values in rows)


def read(data: bytes, fmt: str = "csv") -> list[Event | InputError]:
    """Every item the readers produce for ``data`` given on standard input."""
    return list(InputStream(["-"], input_format=fmt, stdin=io.BytesIO(data)))


def events_of(items: Sequence[Event | InputError]) -> list[Event]:
    return [item for item in items if isinstance(item, Event)]


def errors_of(items: Sequence[Event | InputError]) -> list[InputError]:
    return [item for item in items if isinstance(item, InputError)]


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator.build(entry_points=False)


def check_file(validator: Validator, path: Path, data: bytes | str) -> Report:
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return validator.check_paths([str(path)])


def run_cli(*args: str, input: bytes | str | None = None) -> Any:
    return CliRunner().invoke(main, list(args), input=input)


@pytest.fixture
def no_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI with the built-in rules only: installed plugins are not under test here."""
    monkeypatch.setenv("BILLING_RULES_LOAD_PLUGINS", "")


# ==================================================================================================
# CSV: delimiter, encodings, line endings, quoting


def test_semicolon_and_comma_files_give_the_same_events() -> None:
    rows = [row(1), row(2, codes="G+MEG", amount="35.00")]
    semicolon = events_of(read(csv_text(rows).encode()))
    comma = events_of(read(csv_text(rows, delimiter=",").encode()))
    assert [event.key for event in semicolon] == [("10001234567", "F-1"), ("10001234567", "F-2")]
    assert semicolon == comma
    assert [event.line for event in comma] == [2, 3]


def test_semicolon_file_with_comma_decimals() -> None:
    (event,) = read(csv_text([row(amount="26,50")]).encode())
    assert isinstance(event, Event)
    assert event.amount == Decimal("26.50")


def test_comma_file_with_a_quoted_comma_decimal() -> None:
    (event,) = read(csv_text([row(amount="26,50")], delimiter=",").encode())
    assert isinstance(event, Event) and event.amount == Decimal("26.50")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("invoice_id;date;codes", ";"),
        ("invoice_id,date,codes", ","),
        ("invoice_id\tdate\tcodes", "\t"),
        ('"note, libre";invoice_id;date', ";"),  # a comma inside quotes does not count
        ("invoice_id", ";"),
    ],
)
def test_detect_delimiter_from_the_header(header: str, expected: str) -> None:
    assert detect_delimiter(header) == expected


def test_utf8_with_and_without_bom() -> None:
    text = csv_text([row(note="Hélène")], (*COLUMNS, "note"))
    plain = read(text.encode("utf-8"))
    with_bom = read(codecs.BOM_UTF8 + text.encode("utf-8"))
    assert plain == with_bom
    (event,) = plain
    assert isinstance(event, Event)
    assert event.invoice_id == "F-1"  # the BOM did not glue itself to the first column name
    assert event.extra == {"note": "Hélène"}


def test_windows_1252_with_accents_in_extra_columns() -> None:
    # "équipe", not "médecin": that one is an alias of practitioner_id, ambiguous beside it (SPEC §1b).
    text = csv_text([row(1, équipe="Dr Hélène Çà"), row(2, équipe="Œuvre €")], (*COLUMNS, "équipe"))
    events = events_of(read(text.encode("cp1252")))
    assert [event.extra for event in events] == [{"équipe": "Dr Hélène Çà"}, {"équipe": "Œuvre €"}]


def test_windows_1252_accents_only_after_the_detection_window() -> None:
    # The first 64 KiB are pure ASCII: the file is read as UTF-8 until a byte says otherwise.
    ascii_rows = [row(number, note="ascii") for number in range(1, 800)]
    late = row(900, note="Hélène")
    data = csv_text([*ascii_rows, late], (*COLUMNS, "note")).encode("cp1252")
    assert data.find("Hélène".encode("cp1252")) > HEAD_SIZE
    items = read(data)
    assert not errors_of(items)
    assert events_of(items)[-1].extra == {"note": "Hélène"}


def test_utf16_with_bom_is_read() -> None:
    # Excel's "texte Unicode" export: UTF-16 with a BOM, tab separated.
    text = csv_text([row(note="é")], (*COLUMNS, "note"), delimiter="\t")
    (event,) = read(text.encode("utf-16"))
    assert isinstance(event, Event) and event.extra == {"note": "é"}


@pytest.mark.parametrize("end", ["\r\n", "\r"])
def test_crlf_and_cr_line_endings(end: str) -> None:
    rows = [row(1), row(2)]
    items = read(csv_text(rows, end=end).encode())
    assert items == read(csv_text(rows).encode())
    assert [item.line for item in items] == [2, 3]


def test_quoted_field_with_newlines_is_one_value_and_shifts_line_numbers() -> None:
    rows = [row(1, note="ligne 1\nligne 2\r\nligne 3"), row(2, date="2025-13-01", note="")]
    items = read(csv_text(rows, (*COLUMNS, "note")).encode())
    event, error = items
    assert isinstance(event, Event) and event.extra == {"note": "ligne 1\nligne 2\r\nligne 3"}
    assert event.line == 2
    # The first record spans physical lines 2 to 4: the next one starts on line 5.
    assert isinstance(error, InputError) and (error.line, error.field) == (5, "date")


def test_blank_lines_are_skipped_but_counted() -> None:
    text = csv_text([row(1)]) + "\n;;;;\n" + csv_text([row(2, date="x")]).split("\n", 1)[1]
    items = read(text.encode())
    assert [(type(item).__name__, item.line) for item in items] == [("Event", 2), ("InputError", 5)]


def test_header_names_are_trimmed_and_case_insensitive() -> None:
    columns = [f" {column.upper()} " for column in COLUMNS]
    text = ";".join(columns) + "\n" + ";".join(row()[column] for column in COLUMNS) + "\n"
    (event,) = read(text.encode())
    assert isinstance(event, Event) and event.invoice_id == "F-1"


# ==================================================================================================
# Values: French spellings, defaults, extra columns, codes


@pytest.mark.parametrize("spelling", ["2024-03-04", "04/03/2024", "4/3/2024", " 2024-03-04 "])
def test_dates_iso_and_french(spelling: str) -> None:
    (event,) = read(csv_text([row(date=spelling, birth_date="01/06/1980")]).encode())
    assert isinstance(event, Event)
    assert event.date == dt.date(2024, 3, 4)
    assert event.birth_date == dt.date(1980, 6, 1)


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("26.50", Decimal("26.50")),
        ("26,50", Decimal("26.50")),
        ("1 234,50", Decimal("1234.50")),
        ("26,50 €", Decimal("26.50")),
        ("30", Decimal("30")),
        ("0", Decimal("0")),
        ("-0", Decimal("0")),
    ],
)
def test_amounts(spelling: str, expected: Decimal) -> None:
    (event,) = read(csv_text([row(amount=spelling)]).encode())
    assert isinstance(event, Event) and event.amount == expected


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [(word, True) for word in ("1", "true", "TRUE", "oui", "Oui", "yes", "o", "O", "vrai")]
    + [(word, False) for word in ("0", "false", "False", "non", "NON", "no", "n", "N", "faux")],
)
def test_booleans(spelling: str, expected: bool) -> None:
    (event,) = read(csv_text([row(ald=spelling, homebound=spelling)]).encode())
    assert isinstance(event, Event)
    assert event.ald is expected and event.homebound is expected


def test_enums_in_any_case() -> None:
    (event,) = read(
        csv_text([row(mt_status=" OTHER ", place="Domicile", sector="OPTAM", status="Cancelled")]).encode()
    )
    assert isinstance(event, Event)
    assert (event.mt_status, event.place, event.sector, event.status) == (
        MtStatus.OTHER,
        Place.DOMICILE,
        Sector.OPTAM,
        Status.CANCELLED,
    )


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("2025-03-04T09:30", dt.datetime(2025, 3, 4, 9, 30)),
        ("2025-03-04 09:30", dt.datetime(2025, 3, 4, 9, 30)),
        ("04/03/2025 09:30", dt.datetime(2025, 3, 4, 9, 30)),
        ("2025-03-04T08:15:30", dt.datetime(2025, 3, 4, 8, 15, 30)),
    ],
)
def test_referral_at_spellings(spelling: str, expected: dt.datetime) -> None:
    (event,) = read(csv_text([row(referral_at=spelling, time="10:00")]).encode())
    assert isinstance(event, Event) and event.referral_at == expected


def test_time_spellings() -> None:
    events = events_of(read(csv_text([row(1, time="9:05"), row(2, time="09:05:30")]).encode()))
    assert [event.time for event in events] == [dt.time(9, 5), dt.time(9, 5, 30)]


def test_every_optional_column_defaults_when_absent_or_empty() -> None:
    required_only = {column: BASE[column] for column in REQUIRED_COLUMNS}
    absent = read(csv_text([required_only], REQUIRED_COLUMNS).encode())
    empty = read(csv_text([dict(required_only)], COLUMNS).encode())
    spaces = read(csv_text([{**{column: "  " for column in COLUMNS}, **required_only}], COLUMNS).encode())
    for items in (absent, empty, spaces):
        (event,) = items
        assert isinstance(event, Event), items
        assert event.time is None
        assert event.specialty == "MG"
        assert event.sector is Sector.ONE
        assert event.ald is False and event.palliative is False and event.neurodegenerative is False
        assert event.mt_status is MtStatus.UNKNOWN
        assert event.declares_mt is False
        assert event.place is Place.CABINET
        assert event.homebound is False
        assert event.amount is None
        assert event.regulated is False
        assert event.referral_at is None
        assert event.status is Status.BILLED
        assert event.extra == {}


def test_optional_columns_cover_every_spec_column() -> None:
    assert set(COLUMNS) | set(COLUMNS_2026) == KNOWN_COLUMNS
    assert REQUIRED_COLUMNS == ("invoice_id", "date", "practitioner_id", "patient_id", "birth_date", "codes")


def test_extra_columns_are_kept() -> None:
    (event,) = read(
        csv_text([row(cabinet="Lyon 3", logiciel="")], (*COLUMNS, "cabinet", "logiciel")).encode()
    )
    assert isinstance(event, Event)
    assert event.extra == {"cabinet": "Lyon 3", "logiciel": ""}


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [("G+MD", ("G", "MD")), (" vg + md ", ("VG", "MD")), ("G", ("G",)), ("G++SNP+", ("G", "SNP"))],
)
def test_codes_joined_by_plus(spelling: str, expected: tuple[str, ...]) -> None:
    (event,) = read(csv_text([row(codes=spelling)]).encode())
    assert isinstance(event, Event) and event.codes == expected


# ==================================================================================================
# JSON and JSON Lines


def test_json_array_with_native_values() -> None:
    objects = [
        {
            "invoice_id": 17,
            "date": "2025-03-04",
            "practitioner_id": 10001234567,
            "patient_id": "P-1",
            "birth_date": "01/06/1980",
            "codes": ["vg", "MD"],
            "ald": True,
            "declares_mt": 0,
            "sector": 2,
            "amount": 40,
            "cabinet": {"ville": "Lyon"},
        },
        {**row(2), "amount": 26.5, "time": None, "codes": "G+MEG"},
    ]
    first, second = read(json.dumps(objects).encode(), "json")
    assert isinstance(first, Event) and isinstance(second, Event)
    assert first.key == ("10001234567", "17")
    assert first.codes == ("VG", "MD")
    assert first.ald is True and first.declares_mt is False
    assert first.sector is Sector.TWO
    assert first.amount == Decimal(40)
    assert first.extra == {"cabinet": {"ville": "Lyon"}}
    assert first.line is None  # SPEC §2: no line for the objects of an array
    assert second.amount == Decimal("26.5") and second.time is None and second.codes == ("G", "MEG")


def test_json_lines_with_line_numbers_blank_lines_and_bom() -> None:
    text = (
        json.dumps(row(1)) + "\n\n" + json.dumps(row(2, date="2025-02-30")) + "\n" + json.dumps(row(3)) + "\n"
    )
    items = read(codecs.BOM_UTF8 + text.encode(), "jsonl")
    assert [(type(item).__name__, item.line) for item in items] == [
        ("Event", 1),
        ("InputError", 3),
        ("Event", 4),
    ]


def test_json_and_jsonl_and_csv_give_the_same_events() -> None:
    rows = [
        row(1),
        row(2, codes="VG+MD", place="domicile", amount="40,00"),
        row(3, referral_at="2025-03-04T08:00"),
    ]
    from_csv = events_of(read(csv_text(rows).encode()))
    from_json = events_of(read(json.dumps(rows).encode(), "json"))
    from_jsonl = events_of(read(jsonl_text(rows).encode(), "jsonl"))
    assert [event.line for event in from_csv] == [2, 3, 4]
    assert [event.line for event in from_jsonl] == [1, 2, 3]

    def unlocated(events: list[Event]) -> list[Event]:
        return [attrs.evolve(event, line=None) for event in events]

    assert unlocated(from_csv) == unlocated(from_json) == unlocated(from_jsonl)
    assert len(from_csv) == 3


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "fichier vide"),
        ('{"invoice_id": "F-1"}', "tableau d'objets"),
        ('[{"invoice_id": "F-1"}', "« ] » manquant"),
        ('[{"invoice_id": "F-1",}]', "JSON invalide ligne 1"),
        ("[{}] extra", "contenu inattendu"),
    ],
)
def test_unreadable_json_array_is_a_read_error(text: str, fragment: str) -> None:
    with pytest.raises(ReadError, match=fragment):
        read(text.encode(), "json")


def test_json_array_element_that_is_not_an_object() -> None:
    items = read(json.dumps([row(1), [1, 2], "F-2", row(3)]).encode(), "json")
    assert [type(item).__name__ for item in items] == ["Event", "InputError", "InputError", "Event"]
    assert errors_of(items)[0].field == "_row" and "élément n° 2" in errors_of(items)[0].message


def test_bad_json_line_spoils_only_itself() -> None:
    text = json.dumps(row(1)) + "\n{not json\n[1, 2]\n" + json.dumps(row(4)) + "\n"
    items = read(text.encode(), "jsonl")
    assert [(type(item).__name__, item.line, getattr(item, "field", None)) for item in items] == [
        ("Event", 1, None),
        ("InputError", 2, "_row"),
        ("InputError", 3, "_row"),
        ("Event", 4, None),
    ]


def test_json_codes_array_must_hold_text() -> None:
    (error,) = read(json.dumps([{**row(), "codes": ["G", 5]}]).encode(), "json")
    assert isinstance(error, InputError) and error.field == "codes"


# ==================================================================================================
# Standard input


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_stdin_with_input_format(validator: Validator, fmt: str) -> None:
    rows = [row(1), row(2, date="2025-13-01")]
    data = {"csv": csv_text(rows), "json": json.dumps(rows), "jsonl": jsonl_text(rows)}[fmt].encode()
    report = validator.check_paths(["-"], input_format=fmt, stdin=io.BytesIO(data))
    assert report.events == 1
    (error,) = report.input_errors
    assert (error.field, error.file) == ("date", "-")
    assert error.line == (None if fmt == "json" else {"csv": 3, "jsonl": 2}[fmt])


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_cli_reads_stdin_with_input_format(no_plugins: None, fmt: str) -> None:
    rows = [row(1, codes="IMT", amount="60,00", mt_status="none")]  # IMT-ALD: an error finding
    data = {"csv": csv_text(rows), "json": json.dumps(rows), "jsonl": jsonl_text(rows)}[fmt]
    result = run_cli("check", "-", "--input-format", fmt, "--format", "json", input=data)
    assert result.exit_code == EXIT_FINDINGS, result.output
    report = json.loads(result.stdout)
    assert report["summary"]["events"] == 1
    assert "IMT-ALD" in {finding["rule"] for finding in report["findings"]}


def test_stdin_defaults_to_csv(validator: Validator) -> None:
    report = validator.check_paths(["-"], stdin=io.BytesIO(csv_text([row()]).encode()))
    assert report.events == 1


def test_unknown_extension_without_input_format(validator: Validator, tmp_path: Path) -> None:
    path = tmp_path / "jour.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(ReadError, match="extension « .xlsx » inconnue"):
        validator.check_paths([str(path)])


# ==================================================================================================
# Bad rows: one input error per bad field, located; every other row still checked

BAD_VALUES = [
    ("date", "2025-13-01", "date invalide « 2025-13-01 »"),
    ("date", "31/02/2025", "date invalide"),
    ("date", "0000-01-01", "date invalide"),
    ("date", "9999-12-31", "date hors limites"),
    ("birth_date", "hier", "date de naissance invalide (valeur non reproduite"),
    ("time", "25:00", "heure invalide « 25:00 »"),
    ("time", "9h30", "heure invalide"),
    ("ald", "peut-être", "valeur oui/non invalide « peut-être »"),
    ("declares_mt", "2", "valeur oui/non invalide"),
    ("mt_status", "moi", "valeur inconnue « moi »"),
    ("place", "plage", "valeur inconnue « plage »"),
    ("sector", "3", "valeur inconnue « 3 »"),
    ("amount", "trente", "montant invalide « trente »"),
    ("amount", "-26,50", "montant négatif"),
    ("amount", "NaN", "montant invalide"),
    ("amount", "1e308", "montant invalide"),
    ("amount", "9" * 40, "montant invraisemblable"),
    ("status", "payé", "valeur inconnue « payé »"),
    ("referral_at", "hier soir", "date-heure invalide « hier soir »"),
    ("codes", "+", "aucun code"),
]


@pytest.mark.parametrize(("column", "value", "message"), BAD_VALUES, ids=lambda item: str(item)[:20])
def test_bad_value_is_a_located_input_error(
    validator: Validator, tmp_path: Path, column: str, value: str, message: str
) -> None:
    path = tmp_path / "jour.csv"
    report = check_file(validator, path, csv_text([row(1), row(2, **{column: value}), row(3)]))
    assert report.events == 2  # the rows around it are still checked
    (error,) = report.input_errors
    assert (error.file, error.line, error.field, error.invoice_id) == (str(path), 3, column, "F-2")
    assert message in error.message


@pytest.mark.parametrize(("column", "value", "message"), BAD_VALUES, ids=lambda item: str(item)[:20])
def test_cli_bad_value_exits_1_with_the_located_error(
    no_plugins: None, tmp_path: Path, column: str, value: str, message: str
) -> None:
    path = tmp_path / "jour.csv"
    path.write_text(csv_text([row(1), row(2, **{column: value}), row(3)]), encoding="utf-8")
    result = run_cli("check", str(path), "--format", "json", "--fail-on", "never")
    assert result.exit_code == EXIT_OK  # never: whatever was found
    result = run_cli("check", str(path), "--format", "json")
    assert result.exit_code == EXIT_FINDINGS, result.output
    report = json.loads(result.stdout)
    assert report["summary"]["events"] == 2
    (error,) = report["input_errors"]
    assert (error["line"], error["field"]) == (3, column) and message in error["message"]


@pytest.mark.parametrize("column", REQUIRED_COLUMNS)
def test_missing_required_value(validator: Validator, tmp_path: Path, column: str) -> None:
    report = check_file(validator, tmp_path / "jour.csv", csv_text([row(1, **{column: ""}), row(2)]))
    assert report.events == 1
    (error,) = report.input_errors
    assert (error.line, error.field, error.message) == (2, column, "valeur obligatoire manquante")


def test_one_error_per_bad_field_in_spec_column_order(validator: Validator, tmp_path: Path) -> None:
    bad = row(2, amount="abc", date="2025-02-30", place="plage", patient_id="")
    report = check_file(validator, tmp_path / "jour.csv", csv_text([row(1), bad]))
    assert [(error.line, error.field) for error in report.input_errors] == [
        (3, "date"),
        (3, "patient_id"),
        (3, "place"),
        (3, "amount"),
    ]
    assert report.events == 1


def test_birth_date_after_the_act(validator: Validator, tmp_path: Path) -> None:
    report = check_file(validator, tmp_path / "jour.csv", csv_text([row(1, birth_date="2025-03-05"), row(2)]))
    (error,) = report.input_errors
    assert (error.line, error.field) == (2, "birth_date")
    assert "postérieure à la date de l'acte" in error.message
    assert report.events == 1


@pytest.mark.parametrize(
    ("time", "referral", "late"),
    [
        ("09:30", "2025-03-04T09:31", True),
        ("09:30", "2025-03-04T09:30", False),
        ("", "2025-03-04T23:00", False),  # without time, the act is at the end of its day
        ("", "2025-03-05T00:00", True),
    ],
)
def test_referral_after_the_act(
    validator: Validator, tmp_path: Path, time: str, referral: str, late: bool
) -> None:
    rows = [row(1, time=time, referral_at=referral, regulated="oui", mt_status="other")]
    report = check_file(validator, tmp_path / "jour.csv", csv_text(rows))
    fields = [error.field for error in report.input_errors]
    assert fields == (["referral_at"] if late else [])


def test_duplicate_invoice_in_one_file(validator: Validator, tmp_path: Path) -> None:
    other_practitioner = row(1, practitioner_id="10009999999")
    report = check_file(
        validator, tmp_path / "jour.csv", csv_text([row(1), row(2), other_practitioner, row(1)])
    )
    (error,) = report.input_errors
    assert (error.line, error.field, error.invoice_id) == (5, "invoice_id", "F-1")
    assert "déjà vue ligne 2" in error.message
    assert report.events == 3  # the same number for another practitioner is another invoice


def test_duplicate_invoice_across_files(validator: Validator, tmp_path: Path) -> None:
    monday, tuesday = tmp_path / "lundi.csv", tmp_path / "mardi.jsonl"
    monday.write_text(csv_text([row(1)]), encoding="utf-8")
    tuesday.write_text(jsonl_text([row(2, date="2025-03-05"), row(1, date="2025-03-05")]), encoding="utf-8")
    report = validator.check_paths([str(monday), str(tuesday)])
    (error,) = report.input_errors
    assert (error.file, error.line, error.field) == (str(tuesday), 2, "invoice_id")
    assert f"déjà vue ligne 2 de « {monday} »" in error.message
    assert report.events == 2


def test_duplicate_of_an_unreadable_row_is_flagged_too(validator: Validator, tmp_path: Path) -> None:
    report = check_file(validator, tmp_path / "jour.csv", csv_text([row(1, date="x"), row(1)]))
    assert [(error.line, error.field) for error in report.input_errors] == [(2, "date"), (3, "invoice_id")]
    assert report.events == 0


def test_too_many_cells(validator: Validator, tmp_path: Path) -> None:
    text = csv_text([row(1), row(2)]).replace("billed\n", "billed;en trop\n", 1)
    report = check_file(validator, tmp_path / "jour.csv", text)
    (error,) = report.input_errors
    assert (error.line, error.field, error.invoice_id) == (2, "_row", "F-1")
    assert "21 champs au lieu des 20" in error.message
    assert report.events == 1


def test_trailing_empty_cells_are_tolerated(validator: Validator, tmp_path: Path) -> None:
    text = csv_text([row(1)]).replace("billed\n", "billed;;;\n")
    assert check_file(validator, tmp_path / "jour.csv", text).events == 1


def test_too_few_cells(validator: Validator, tmp_path: Path) -> None:
    text = csv_text([row(1), row(2)]).replace(";non;;billed\n", "\n", 1)
    report = check_file(validator, tmp_path / "jour.csv", text)
    (error,) = report.input_errors
    assert (error.line, error.field, error.invoice_id) == (2, "_row", "F-1")
    assert "17 champ(s) au lieu des 20" in error.message
    assert report.events == 1


def test_unclosed_quote_at_the_end_of_the_file(validator: Validator, tmp_path: Path) -> None:
    text = csv_text([row(1), row(2)]) + 'F-3;"2025-03-04\n'
    report = check_file(validator, tmp_path / "jour.csv", text)
    (error,) = report.input_errors
    assert (error.line, error.field) == (4, "_row")
    assert "guillemet" in error.message
    assert report.events == 2


def test_undecodable_bytes_in_a_utf8_file_with_bom(validator: Validator, tmp_path: Path) -> None:
    data = codecs.BOM_UTF8 + csv_text([row(1), row(2, patient_id="P-\x01"), row(3)]).encode()
    report = check_file(validator, tmp_path / "jour.csv", data.replace(b"\x01", b"\xff\xfe"))
    (error,) = report.input_errors
    assert (error.line, error.field) == (3, "patient_id")
    assert "caractères illisibles" in error.message
    assert report.events == 2


def test_undecodable_bytes_after_the_detection_window(validator: Validator, tmp_path: Path) -> None:
    rows = [row(number, note="é") for number in range(1, 700)]
    rows.append(row(700, note="\x01"))
    data = csv_text(rows, (*COLUMNS, "note")).encode("utf-8")
    assert data.find(b"\x01") > HEAD_SIZE
    report = check_file(validator, tmp_path / "jour.csv", data.replace(b"\x01", b"\xe9"))  # cp1252 é
    (error,) = report.input_errors
    assert (error.line, error.field, error.invoice_id) == (701, "note", "F-700")
    assert report.events == 699


def test_undefined_windows_1252_byte(validator: Validator, tmp_path: Path) -> None:
    text = csv_text([row(1, note="é"), row(2, note="\x01")], (*COLUMNS, "note"))
    data = text.encode("cp1252").replace(b"\x01", b"\x81")  # 0x81 means nothing in Windows-1252
    report = check_file(validator, tmp_path / "jour.csv", data)
    (error,) = report.input_errors
    assert (error.line, error.field) == (3, "note")


def test_nul_byte_in_a_value(validator: Validator, tmp_path: Path) -> None:
    report = check_file(validator, tmp_path / "jour.csv", csv_text([row(1), row(2, codes="G\x00")]))
    (error,) = report.input_errors
    assert (error.line, error.field, error.message) == (3, "codes", "caractère nul (octet 0) dans la valeur")
    assert report.events == 1


def test_patient_id_is_never_quoted_in_messages(validator: Validator, tmp_path: Path) -> None:
    rows = [row(1, patient_id=["SECRET-42"])]  # type: ignore[arg-type]
    report = check_file(validator, tmp_path / "jour.json", json.dumps(rows))
    (error,) = report.input_errors
    assert error.field == "patient_id" and "SECRET-42" not in error.message


def test_quoted_bad_values_cannot_drive_the_terminal(validator: Validator, tmp_path: Path) -> None:
    report = check_file(validator, tmp_path / "jour.csv", csv_text([row(place="\x1b[2J\u202eplage")]))
    (error,) = report.input_errors
    assert error.message.startswith("valeur inconnue « ?[2J?plage »")


@pytest.mark.parametrize("column", REQUIRED_COLUMNS)
def test_missing_required_column_in_the_header(validator: Validator, tmp_path: Path, column: str) -> None:
    path = tmp_path / "jour.csv"
    path.write_text(csv_text([row()], [name for name in COLUMNS if name != column]), encoding="utf-8")
    with pytest.raises(ReadError) as caught:
        validator.check_paths([str(path)])
    assert f"« {path} »" in str(caught.value) and column in str(caught.value)


def test_cli_missing_required_column_exits_2_naming_file_and_column(no_plugins: None, tmp_path: Path) -> None:
    path = tmp_path / "jour.csv"
    path.write_text(csv_text([row()], [name for name in COLUMNS if name != "birth_date"]), encoding="utf-8")
    result = run_cli("check", str(path))
    assert result.exit_code == EXIT_ERROR
    (line,) = result.stderr.strip().splitlines()
    assert str(path) in line and "birth_date" in line and "obligatoire" in line
    assert "Traceback" not in result.output


def test_single_column_header_hints_at_the_separator(validator: Validator, tmp_path: Path) -> None:
    path = tmp_path / "jour.csv"
    path.write_text(csv_text([row()], delimiter="|"), encoding="utf-8")
    with pytest.raises(ReadError, match="une seule colonne"):
        validator.check_paths([str(path)])


def test_repeated_column_in_the_header(validator: Validator, tmp_path: Path) -> None:
    path = tmp_path / "jour.csv"
    path.write_text(csv_text([row()], (*COLUMNS, "DATE")), encoding="utf-8")
    with pytest.raises(ReadError, match="« date » apparaît deux fois"):
        validator.check_paths([str(path)])


@pytest.mark.parametrize("data", [b"", b"\n\n", codecs.BOM_UTF8])
def test_empty_csv_is_a_read_error(validator: Validator, tmp_path: Path, data: bytes) -> None:
    with pytest.raises(ReadError, match="fichier vide"):
        check_file(validator, tmp_path / "jour.csv", data)


def test_header_only_is_an_empty_report(validator: Validator, tmp_path: Path) -> None:
    report = check_file(validator, tmp_path / "jour.csv", csv_text([]))
    assert (report.events, report.findings, report.input_errors) == (0, (), ())


def test_cli_exit_1_on_input_errors_with_located_json(no_plugins: None, tmp_path: Path) -> None:
    path = tmp_path / "jour.csv"
    path.write_text(csv_text([row(1), row(2, amount="abc", place="plage"), row(3)]), encoding="utf-8")
    result = run_cli("check", str(path), "--format", "json")
    assert result.exit_code == EXIT_FINDINGS, result.output
    report = json.loads(result.stdout)
    assert report["summary"]["events"] == 2
    assert report["input_errors"] == [
        {
            "line": 3,
            "field": "place",
            "message": "valeur inconnue « plage » (attendu : cabinet, domicile, ehpad, tele)",
        },
        {"line": 3, "field": "amount", "message": "montant invalide « abc »"},
    ]
    assert run_cli("check", str(path), "--fail-on", "never").exit_code == EXIT_OK


def test_cli_several_files_carry_file_on_input_errors(no_plugins: None, tmp_path: Path) -> None:
    first, second = tmp_path / "lundi.csv", tmp_path / "mardi.json"
    first.write_text(csv_text([row(1)]), encoding="utf-8")
    second.write_text(json.dumps([row(2, time="midi")]), encoding="utf-8")
    result = run_cli("check", str(first), str(second), "--format", "json")
    assert result.exit_code == EXIT_FINDINGS
    (error,) = json.loads(result.stdout)["input_errors"]
    assert error == {"line": None, "field": "time", "message": "heure invalide « midi »", "file": str(second)}


# ==================================================================================================
# The row converter and its memo


def test_event_from_row_reports_format_problems_instead_of_values() -> None:
    raw = RawRow(7, dict(row(), codes="G\ufffd"), "x.csv", (("codes", "caractères illisibles"),))
    (error,) = event_from_row(raw, 0)  # type: ignore[misc]
    assert (error.line, error.field, error.message, error.file) == (
        7,
        "codes",
        "caractères illisibles",
        "x.csv",
    )


def test_validator_invoice_accepts_native_values() -> None:
    event = Validator.invoice({**row(), "ald": True, "amount": 30, "codes": ["G", "MEG"]})
    assert event.ald is True and event.amount == Decimal(30) and event.codes == ("G", "MEG")


def test_memo_gives_equal_values_and_only_immutable_ones() -> None:
    rows = [
        row(number, codes=codes, amount=amount)
        for number, (codes, amount) in enumerate(
            [("G", "30,00"), ("G+MEG", "35.00"), ("G", "30,00"), ("g", " 30,00 ")], start=1
        )
    ]
    first, second, third, fourth = read(csv_text(rows).encode())
    assert first.codes == third.codes == fourth.codes == ("G",)  # type: ignore[union-attr]
    assert first.amount == third.amount == fourth.amount == Decimal("30.00")  # type: ignore[union-attr]
    immutable = (str, bool, int, dt.date, dt.time, dt.datetime, Decimal, enum.Enum)
    for name, _, memo, _ in values_module.COLUMNS:
        if memo is None:
            continue
        assert len(memo) <= values_module.MEMO_MAX + 64, name
        for key, value in memo.items():
            assert key is None or isinstance(key, str)  # None: a JSON null, an optional column's default
            if isinstance(value, tuple):
                assert all(isinstance(item, str) for item in value)
            else:
                assert value is None or isinstance(value, immutable), (name, key, value)


@settings(max_examples=150, deadline=None)
@given(
    picks=st.lists(
        st.tuples(
            st.integers(0, 206),
            st.sampled_from(COLUMNS),
            st.sampled_from(["", " ", "  self ", "OUI", "0", "1", "26,50", " 30.00", "G+MEG", "g", "10:00"])
            | st.text(max_size=6),
        ),
        max_size=8,
    )
)
def test_rows_read_with_the_memo_equal_rows_read_from_scratch(picks: list[tuple[int, str, str]]) -> None:
    # The memo (and any fast path over it) must give exactly what parsing from scratch gives.
    rows = [dict(zip(_EXAMPLE[0], values, strict=True)) for values in _EXAMPLE[1]]
    for index, column, value in picks:
        rows[index][column] = value
    for number, values in enumerate(rows):
        result = event_from_row(RawRow(number + 2, values, "x.csv"), number)
        fields, found = rows_module._read_fields(values)
        if found or isinstance(result, list):
            assert isinstance(result, list)
            assert [(error.field, error.message) for error in result][: len(found)] == found
            continue
        extra = {key: value for key, value in values.items() if key not in KNOWN_COLUMNS}
        assert result == Event(**fields, extra=extra, line=number + 2, file="x.csv", seq=number)


def _example() -> tuple[list[str], list[list[str]]]:
    import csv

    path = Path(__file__).resolve().parent.parent / "examples" / "week-2026-01.csv"
    with open(path, encoding="utf-8", newline="") as handle:
        table = list(csv.reader(handle, delimiter=";"))
    return table[0], table[1:]


_EXAMPLE = _example()


def test_bad_values_are_not_memoized_and_are_reported_every_time() -> None:
    items = read(csv_text([row(1, place="plage"), row(2, place="plage")]).encode())
    assert [(error.line, error.field) for error in errors_of(items)] == [(2, "place"), (3, "place")]
    assert "plage" not in values_module.COLUMNS[13][2]  # type: ignore[operator]


def test_memo_is_bounded() -> None:
    rows = [
        row(number, birth_date=f"{1900 + number // 365:04d}-01-01", note=str(number))
        for number in range(1, 50)
    ]
    read(csv_text(rows, (*COLUMNS, "note")).encode())
    for _, _, memo, _ in values_module.COLUMNS:
        if memo is not None:
            assert len(memo) <= values_module.MEMO_MAX + 64


# ==================================================================================================
# Streaming: a file is never loaded whole


class _GeneratedFile(io.RawIOBase):
    """A large billing file generated while it is read, counting the bytes handed out."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._pending = b""
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        self.served += size
        return size


def _generated(fmt: str, rows: int) -> Iterator[bytes]:
    if fmt == "csv":
        yield (";".join(COLUMNS) + "\n").encode()
    elif fmt == "json":
        yield b"["
    for number in range(1, rows + 1):
        values = row(number, date="2025-03-04")
        if fmt == "csv":
            yield (";".join(values[column] for column in COLUMNS) + "\n").encode()
        elif fmt == "json":
            yield (b"," if number > 1 else b"") + json.dumps(values).encode()
        else:
            yield (json.dumps(values) + "\n").encode()
    if fmt == "json":
        yield b"]"


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_readers_yield_long_before_the_end_of_a_large_file(fmt: str) -> None:
    # 200 000 rows (about 60 MB): the first thousand events come after reading well under 1 MB.
    source = _GeneratedFile(_generated(fmt, 200_000))
    stream = iter(InputStream(["-"], input_format=fmt, stdin=io.BufferedReader(source)))
    first = [next(stream) for _ in range(1000)]
    assert all(isinstance(item, Event) for item in first)
    assert source.served < 1024 * 1024
    assert first[-1].invoice_id == "F-1000"  # type: ignore[union-attr]


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_reading_ten_times_more_rows_takes_no_more_memory(fmt: str) -> None:
    import tracemalloc

    def peak(rows: int) -> tuple[int, int]:
        source = _GeneratedFile(_generated(fmt, rows))
        tracemalloc.start()
        try:
            for raw in BUILTIN_READERS[fmt].rows(io.BufferedReader(source), "-"):
                event_from_row(raw, 0)
            return tracemalloc.get_traced_memory()[1], source.served
        finally:
            tracemalloc.stop()

    # Both sizes above the CSV reader's block of records (BLOCK_SIZE), which it holds at once.
    small, small_size = peak(2_000)
    large, size = peak(20_000)
    assert size > 9 * small_size
    # The reading layer keeps nothing per row: its peak (buffers, memo) does not grow with the
    # file. The duplicate index of InputStream does, by one key per invoice, as SPEC §1 requires.
    assert large < small * 1.25


def test_csv_reader_raises_header_errors_before_any_row() -> None:
    with pytest.raises(ReadError):
        CsvReader().rows(io.BytesIO(b"date;codes\n2025-03-04;G\n"), "x.csv")
