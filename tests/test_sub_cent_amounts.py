"""An amount finer than the cent is an input error, on every reader and every path to the engines.

A billed amount is a whole number of cents. ``29.9999999999`` once read as 29.9999999999 €: the
row engine then found an AMOUNT-BELOW of 0,00 € (« 30,00 € inférieur aux tarifs ... (30,00 €) »)
and the relational engine, which keeps cents, nothing. It is now refused on its row (field
``amount``, one French message) by the row readers and the columnar reader alike, in CSV, JSON
(native numbers too), JSON Lines, per-act lines, ``ledger import`` and the embedding API.
Zeros beyond the cent (``30.000``, ``30,0000``) are only a spelling, and kilometres keep any
precision.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from billing_rules import cli
from billing_rules.errors import InvalidInvoice
from billing_rules.model import Event, InputError
from billing_rules.readers import InputStream
from billing_rules.readers.values import read_value
from billing_rules.testing import build_validator

MESSAGE = "montant au-delà du centime « {} »"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30.000", Decimal(30)),
        ("30,0000", Decimal(30)),
        ("26,5000 €", Decimal("26.5")),
        ("1 234,5000", Decimal("1234.5")),
        ("0.000", Decimal(0)),
        (30.1, Decimal("30.10")),  # a JSON number: its shortest spelling, exactly
        (26.5, Decimal("26.50")),
        (30, Decimal(30)),
    ],
)
def test_whole_cents_read(value: Any, expected: Decimal) -> None:
    assert read_value("amount", value) == (expected, None)


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("29.9999999999", "29.9999999999"),
        ("30.0000000001", "30.0000000001"),
        ("26,505", "26,505"),
        ("0.001", "0.001"),
        ("29,999 €", "29,999 €"),
        (29.9999999999, "29.9999999999"),  # a JSON number
        (0.1 + 0.2, "0.30000000000000004"),
    ],
)
def test_finer_than_the_cent_refused(value: Any, quoted: str) -> None:
    assert read_value("amount", value) == (None, MESSAGE.format(quoted))


def test_kilometres_keep_their_precision() -> None:
    assert read_value("km", "12,345") == (Decimal("12.345"), None)
    assert read_value("km", 0.005) == (Decimal("0.005"), None)


# --- files: the row readers and the columnar reader ----------------------------------------------

HEADER = "invoice_id;date;practitioner_id;patient_id;birth_date;codes;amount"
#: (amount cell, expected input error or None); every other row is ordinary (the CSV fast path).
CASES = [
    ("29.9999999999", MESSAGE.format("29.9999999999")),
    ("30.0000000001", MESSAGE.format("30.0000000001")),
    ("26,505", MESSAGE.format("26,505")),
    ("30.000", None),
    ("30,0000", None),
    ("30,00 €", None),
]


def _csv(path: Path, repeat: int = 40) -> tuple[str, list[tuple[int, str]]]:
    """Ordinary rows around the cases; the expected (line, message) of the errors."""
    lines = [HEADER]
    expected = []
    for index in range(repeat):
        lines.append(f"N{index};2025-02-03;P1;X{index};1960-01-01;G;30.00")
        if index % 7 == 3:
            for case, (cell, message) in enumerate(CASES):
                lines.append(f"C{index}-{case};2025-02-03;P1;Y{index};1960-01-01;G;{cell}")
                if message is not None:
                    expected.append((len(lines), message))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path), expected


def _row_readers(paths: list[str], **options: Any) -> tuple[list[Event], list[InputError]]:
    items = list(InputStream(paths, **options))
    return [i for i in items if isinstance(i, Event)], [i for i in items if isinstance(i, InputError)]


def _columnar(paths: list[str]) -> Any:
    pytest.importorskip("polars", reason="the columnar reader needs polars (pip install '.[batch]')")
    from billing_rules.readers.columnar import read_invoices

    return read_invoices(paths)


def _same_in_both_readers(paths: list[str]) -> tuple[list[Event], list[InputError]]:
    events, errors = _row_readers(paths)
    columnar = _columnar(paths)
    assert columnar.input_errors == errors
    assert columnar.events == len(events)
    table = columnar.table
    assert [Decimal(text) if text is not None else None for text in table["amount_exact"].to_list()] == [
        event.amount for event in events
    ]
    assert table["amount_cents"].to_list() == [
        None if event.amount is None else int(event.amount * 100) for event in events
    ]
    return events, errors


def test_csv_both_readers(tmp_path: Path) -> None:
    path, expected = _csv(tmp_path / "in.csv")
    events, errors = _same_in_both_readers([path])
    assert [(error.line, error.field, error.message) for error in errors] == [
        (line, "amount", message) for line, message in expected
    ]
    assert {event.amount for event in events} == {Decimal(30)}


def _objects() -> list[dict[str, Any]]:
    base = {"date": "2025-02-03", "practitioner_id": "P1", "birth_date": "1960-01-01", "codes": "G"}
    amounts: list[Any] = [29.9999999999, 30.1, "30,0000", 30.000, "26.505", 30, 0.1 + 0.2, None]
    return [
        {**base, "invoice_id": f"J{n}", "patient_id": f"X{n}", "amount": x} for n, x in enumerate(amounts)
    ]


def _check_json_errors(errors: list[InputError], lines: bool) -> None:
    found = [(error.line, error.field, error.message) for error in errors]
    assert found == [
        (1 if lines else None, "amount", MESSAGE.format("29.9999999999")),
        (5 if lines else None, "amount", MESSAGE.format("26.505")),
        (7 if lines else None, "amount", MESSAGE.format("0.30000000000000004")),
    ]


def test_json_array_native_numbers(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text(json.dumps(_objects()), encoding="utf-8")
    assert '"amount": 29.9999999999' in path.read_text(encoding="utf-8")  # a JSON number
    events, errors = _same_in_both_readers([str(path)])
    _check_json_errors(errors, lines=False)
    amounts = {event.invoice_id: event.amount for event in events}
    assert amounts == {"J1": Decimal("30.1"), "J2": Decimal(30), "J3": Decimal(30), "J5": 30, "J7": None}
    assert str(amounts["J1"]) == "30.1"  # 30,10 € exactly, no binary fraction


def test_json_lines_native_numbers(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in _objects()), encoding="utf-8")
    _, errors = _same_in_both_readers([str(path)])
    _check_json_errors(errors, lines=True)


LONG_NUMBERS = [
    # (the amount as the JSON text writes it, the expected input error or None)
    ("30.00000000000000001", MESSAGE.format("30.00000000000000001")),  # a float would make it 30
    ("29.999999999999999999", MESSAGE.format("29.999999999999999999")),
    ("30.000000000000000000", None),  # zeros only: 30 €
    ("3.0e1", None),
    ("1e400", "montant invraisemblable « 1E+400 » (1 000 000 € ou plus)"),  # a float would be inf
]


@pytest.mark.parametrize("lines", [False, True])
def test_json_numbers_longer_than_a_float(tmp_path: Path, lines: bool) -> None:
    """A JSON number is read by its exact value, as the same text in a CSV file is."""
    template = (
        '{"invoice_id": "L<n>", "date": "2025-02-03", "practitioner_id": "P1", "patient_id": "X<n>", '
        '"birth_date": "1960-01-01", "codes": "G+IK", "amount": <amount>, "km": 12.3450000000000000001, '
        '"note": 30.00000000000000001}'
    )
    objects = [
        template.replace("<n>", str(n)).replace("<amount>", text) for n, (text, _) in enumerate(LONG_NUMBERS)
    ]
    path = tmp_path / ("in.jsonl" if lines else "in.json")
    path.write_text("\n".join(objects) + "\n" if lines else "[" + ",\n".join(objects) + "]", encoding="utf-8")
    events, errors = _same_in_both_readers([str(path)])
    assert [(error.line, error.field, error.message) for error in errors] == [
        (n + 1 if lines else None, "amount", message)
        for n, (_, message) in enumerate(LONG_NUMBERS)
        if message is not None
    ]
    assert {event.invoice_id: event.amount for event in events} == {"L2": Decimal(30), "L3": Decimal(30)}
    assert {event.km for event in events} == {Decimal("12.3450000000000000001")}
    # A column the project does not know reaches plugins as the json module reads it.
    assert [event.extra for event in events] == [{"note": 30.0}, {"note": 30.0}]


# --- per-act lines (SPEC §1b) ---------------------------------------------------------------------

PER_ACT = (
    "invoice_id;date;practitioner_id;patient_id;birth_date;code;amount\n"
    "A1;2025-02-03;P1;X1;1950-01-01;VG;30.00\n"
    "A1;2025-02-03;P1;X1;1950-01-01;MD;9.999\n"
    "A2;2025-02-03;P1;X2;1950-01-01;VG;30.000\n"
    "A2;2025-02-03;P1;X2;1950-01-01;MD;10,0000\n"
)


def test_per_act_line_amounts(tmp_path: Path) -> None:
    path = tmp_path / "acts.csv"
    path.write_text(PER_ACT, encoding="utf-8")
    events, errors = _row_readers([str(path)])
    assert [(error.line, error.field, error.message, error.invoice_id) for error in errors] == [
        (3, "amount", MESSAGE.format("9.999"), "A1")
    ]
    assert [(event.invoice_id, event.codes, event.amount) for event in events] == [
        ("A2", ("VG", "MD"), Decimal(40))
    ]


# --- both engines, ledger import, the embedding API -----------------------------------------------


def _report_values(report: Any) -> tuple[Any, ...]:
    findings = [(f.invoice_id, f.rule, f.message, f.amount) for f in report.findings]
    errors = [(e.line, e.field, e.message) for e in report.input_errors]
    return findings, errors, report.summary.events


def test_both_engines_identical(tmp_path: Path) -> None:
    pytest.importorskip("duckdb")
    pytest.importorskip("sqlglot")
    from billing_rules.engines.relational import api

    validator = build_validator()
    csv_path, _ = _csv(tmp_path / "in.csv", repeat=8)
    json_path = tmp_path / "in.json"
    json_path.write_text(json.dumps(_objects()), encoding="utf-8")
    acts = tmp_path / "acts.csv"
    acts.write_text(PER_ACT, encoding="utf-8")
    for paths in ([csv_path], [str(json_path)], [str(acts)]):
        row = validator.check_paths(paths)
        relational = api.check_paths(validator, paths, engine="duckdb")
        assert _report_values(relational) == _report_values(row)
        assert not [f for f in row.findings if f.rule == "AMOUNT-BELOW" and not f.amount]
        assert any(e.message.startswith("montant au-delà du centime") for e in row.input_errors)


def test_ledger_import_refuses_the_row(tmp_path: Path) -> None:
    path, expected = _csv(tmp_path / "in.csv", repeat=4)
    target = tmp_path / "ledger.sqlite"
    result = CliRunner().invoke(cli.main, ["ledger", "import", path, "--ledger", str(target)])
    assert result.exit_code == 1, result.output
    for line, message in expected:
        assert f"ligne {line}, champ amount : {message} (non importée)" in result.stderr
    from billing_rules.ledger import open_ledger

    ledger = open_ledger(str(target))
    try:
        amounts = [event.amount for event in ledger.events()]
    finally:
        ledger.close()
    assert len(amounts) == 4 + 3 and set(amounts) == {Decimal(30)}


def _invoice(amount: Any) -> dict[str, Any]:
    return {"invoice_id": "F1", "date": "2025-02-03", "practitioner_id": "P1", "patient_id": "X1",
            "birth_date": "1960-01-01", "codes": "G", "amount": amount}  # fmt: skip


@pytest.mark.parametrize("amount", ["29.9999999999", Decimal("29.9999999999")])
def test_embedding_api_refuses(amount: Any) -> None:
    with pytest.raises(InvalidInvoice) as caught:
        build_validator().check_one(_invoice(amount))
    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("amount", MESSAGE.format("29.9999999999"))
    ]


def test_embedding_api_whole_cents() -> None:
    validator = build_validator()
    assert validator.check_one(_invoice(Decimal("30.0000"))) == []
    assert validator.check_one(_invoice("30,000")) == []
    (above,) = validator.check_one(_invoice(Decimal("30.1")))
    assert (above.rule, above.amount) == ("AMOUNT-ABOVE", Decimal("0.10"))


def test_embedding_api_hand_built_event() -> None:
    validator = build_validator()
    fields: dict[str, Any] = {"invoice_id": "F1", "date": dt.date(2025, 2, 3), "practitioner_id": "P1",
                              "patient_id": "X1", "birth_date": dt.date(1960, 1, 1)}  # fmt: skip
    fields["codes"] = ("G",)
    with pytest.raises(InvalidInvoice) as caught:
        validator.check_one(Event(**fields, amount=Decimal("29.9999999999")))
    refused = [(e.field, e.message) for e in caught.value.errors]
    assert refused == [("amount", MESSAGE.format("29.9999999999"))]
    assert validator.check_one(Event(**fields, amount=Decimal("30.000"))) == []


def test_parquet_typed_decimals_and_floats(tmp_path: Path) -> None:
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame(
        {
            "invoice_id": ["Q1", "Q2", "Q3", "Q4"],
            "date": [dt.date(2025, 2, 3)] * 4,
            "practitioner_id": ["P1"] * 4,
            "patient_id": ["X1", "X2", "X3", "X4"],
            "birth_date": [dt.date(1960, 1, 1)] * 4,
            "codes": ["G"] * 4,
            "amount": [Decimal("30.000"), Decimal("29.999"), Decimal("26.500"), None],
            "float_amount": [30.0, 29.9999999999, 26.5, None],
        },
        schema_overrides={"amount": pl.Decimal(scale=3)},
    )
    typed = tmp_path / "typed.parquet"
    frame.drop("float_amount").write_parquet(typed)
    floats = tmp_path / "floats.parquet"
    frame.drop("amount").rename({"float_amount": "amount"}).write_parquet(floats)
    for path, quoted in ((typed, "29.999"), (floats, "29.9999999999")):
        events, errors = _same_in_both_readers([str(path)])
        assert [(e.line, e.field, e.message) for e in errors] == [(2, "amount", MESSAGE.format(quoted))]
        assert [event.amount for event in events] == [30, Decimal("26.5"), None]


# --- one owner for the rule and its message -------------------------------------------------------


def test_one_function_owns_the_whole_cent_rule() -> None:
    """``readers.values.beyond_the_cent`` says whether an amount is finer than the cent, and how."""
    from billing_rules.readers.values import beyond_the_cent

    assert beyond_the_cent(Decimal("29.999"), "29,999 €") == MESSAGE.format("29,999 €")
    assert beyond_the_cent(Decimal("29.999"), " 29.999 ") == MESSAGE.format("29.999")
    assert beyond_the_cent(Decimal("30.000"), "30.000") is None
    assert beyond_the_cent(Decimal("26.5"), "26.5") is None
    # Not money at all: refused elsewhere with their own message, never an arithmetic error here.
    assert beyond_the_cent(Decimal("Infinity"), "Infinity") is None
    assert beyond_the_cent(Decimal("NaN"), "NaN") is None
    assert beyond_the_cent(Decimal("1E+30"), "1E+30") is None


def test_the_whole_cent_rule_is_written_once() -> None:
    """The readers share one check (money.CENT), not a copy per path (file, API, hand-built Event)."""
    package = Path(__file__).resolve().parents[1] / "billing_rules"
    texts = {path: path.read_text(encoding="utf-8") for path in package.rglob("*.py")}
    messages = {path.name: text.count('"montant au-delà du centime') for path, text in texts.items()}
    assert {name: count for name, count in messages.items() if count} == {"values.py": 1}
    readers = {path.name: text for path, text in texts.items() if path.parent.name == "readers"}
    assert [name for name, text in readers.items() if 'Decimal("0.01")' in text] == []
    assert {name: text.count(".quantize(") for name, text in readers.items() if ".quantize(" in text} == {
        "values.py": 1
    }
