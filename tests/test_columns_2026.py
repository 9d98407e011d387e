"""The optional columns SPEC §1 gained in 2026: ``discharge_date`` (GL1) and ``km`` (IK).

Read on both CSV paths alike, refused with a located error when unreadable, kept by the ledger and
its export, and priced: IK counts ``km`` times its rate per kilometre.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_fast_reader import GeneralPathOnly

from billing_rules import cli
from billing_rules.api.validator import Validator
from billing_rules.ledger import open_ledger
from billing_rules.model import Event, InputError
from billing_rules.readers import InputStream

HEADER = "invoice_id;date;practitioner_id;patient_id;birth_date;codes;discharge_date;km;amount"


def _read(text: str, **options: object) -> list[Event | InputError]:
    return list(InputStream(["-"], input_format="csv", stdin=io.BytesIO(text.encode()), **options))


def _file(*lines: str) -> str:
    return "\n".join((HEADER, *lines)) + "\n"


def test_values_read() -> None:
    (event,) = _read(_file("F1;2026-03-02;1;P1;1940-01-01;VG+MD+IK;15/02/2026;12,5;47.63"))
    assert isinstance(event, Event)
    assert event.discharge_date == dt.date(2026, 2, 15)
    assert event.km == Decimal("12.5")


def test_empty_means_unknown() -> None:
    (event,) = _read(_file("F1;2026-03-02;1;P1;1940-01-01;G;;;30"))
    assert isinstance(event, Event)
    assert event.discharge_date is None and event.km is None


@pytest.mark.parametrize(
    ("discharge", "km", "field", "message"),
    [
        ("2026-02-30", "", "discharge_date", "date invalide"),
        ("0001-01-01", "", "discharge_date", "date hors limites"),
        ("", "douze", "km", "kilométrage invalide"),
        ("", "-3", "km", "négatif"),
        ("", "12 €", "km", "kilométrage invalide"),
        ("", "10000", "km", "kilométrage invraisemblable"),
    ],
)
def test_unreadable_values_are_located(discharge: str, km: str, field: str, message: str) -> None:
    items = _read(_file(f"F1;2026-03-02;1;P1;1940-01-01;G;{discharge};{km};30"))
    (error,) = items
    assert isinstance(error, InputError)
    assert (error.line, error.field) == (2, field)
    assert message in error.message


def test_fast_and_general_paths_agree() -> None:
    lines = [
        f"F{number};2026-03-02;1;P{number};1940-01-01;VG+MD+IK;{discharge};{km};47.63"
        for number, (discharge, km) in enumerate(
            [("", ""), ("2026-02-01", ""), ("", "10"), ("bad", "3"), ("2026-01-01", "x"), ("", "7,25")] * 50
        )
    ]
    text = _file(*lines)
    fast = _read(text)
    general = _read(text, readers={"csv": GeneralPathOnly()})
    assert fast == general
    assert sum(isinstance(item, InputError) for item in fast) == 100


def test_ik_is_priced_per_km() -> None:
    validator = Validator.build(entry_points=False)
    invoice = {
        "invoice_id": "F1",
        "date": "2026-03-02",
        "practitioner_id": "1",
        "patient_id": "P1",
        "birth_date": "1960-01-01",
        "codes": "VG+MD+IK",
        "place": "domicile",
    }
    amounts = {
        rule: finding.amount
        for km, amount in (("10", "46.10"), ("10", "40.00"), ("10", "60.00"), ("", "99.00"))
        for finding in validator.check_one({**invoice, "km": km, "amount": amount})
        for rule in [finding.rule]
        if rule.startswith("AMOUNT")
    }
    # 30 + 10 + 10 × 0,61: 46,10 is the tariff; 40 is 6,10 below; 60 is 13,90 above; without km, no
    # amount check at all (the 99 € would otherwise be far above).
    assert amounts == {"AMOUNT-BELOW": Decimal("6.10"), "AMOUNT-ABOVE": Decimal("13.90")}


def test_a_sector_row_prices_that_sector_only(tmp_path: Path) -> None:
    rules = tmp_path / "secteur2.rules"
    rules.write_text('tariff G 23.00 from 2024-12-22 for sector 2 source "essai"\n', encoding="utf-8")
    validator = Validator.build(entry_points=False, rule_files=[rules])
    invoice = {
        "invoice_id": "F1",
        "practitioner_id": "1",
        "patient_id": "P1",
        "birth_date": "1960-01-01",
        "codes": "G+DE",
        "sector": "2",
        "amount": "23.00",
    }
    assert validator.check_one({**invoice, "date": "2024-12-22"}) == []
    # The day before, the secteur-2 row is not in force yet: the general G (26,50 €) prices it.
    (below,) = [f for f in validator.check_one({**invoice, "date": "2024-12-21"}) if f.rule == "AMOUNT-BELOW"]
    assert below.amount == Decimal("3.50")
    # Sector 1 keeps the general row: G+DE at 23 € is 7 € below the 30 € G.
    findings = validator.check_one({**invoice, "sector": "1", "date": "2025-01-06"})
    (below,) = [finding for finding in findings if finding.rule == "AMOUNT-BELOW"]
    assert below.amount == Decimal("7.00")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tariff IK 0.61 per mile from 2026-01-01\n", "unité de tarif inconnue"),
        ("tariff G 23.00 from 2024-12-22 for sector 3\n", "secteur inconnu"),
        ("tariff IK 0.61 per km from 2026-01-01\ntariff IK 3.00 from 2027-01-01\n", "par km"),
    ],
)
def test_bad_tariff_rows_are_refused(tmp_path: Path, text: str, message: str) -> None:
    from billing_rules.errors import BillingRulesError

    rules = tmp_path / "tarifs.rules"
    rules.write_text(text, encoding="utf-8")
    with pytest.raises(BillingRulesError, match=message):
        Validator.build(entry_points=False, builtin=False, rule_files=[rules])


def test_ledger_keeps_and_exports_them(tmp_path: Path) -> None:
    day = tmp_path / "jour.csv"
    day.write_text(_file("F1;2026-03-02;1;P1;1940-01-01;VG+MD+IK;2026-02-15;12.5;47.63"), encoding="utf-8")
    ledger = tmp_path / "registre.db"
    result = CliRunner().invoke(cli.main, ["ledger", "import", str(day), "--ledger", str(ledger)])
    assert result.exit_code == 0, result.output
    with open_ledger(str(ledger)) as opened:
        (event,) = opened.events()
    assert (event.discharge_date, event.km) == (dt.date(2026, 2, 15), Decimal("12.5"))
    exported = CliRunner().invoke(cli.main, ["ledger", "export", "--ledger", str(ledger), "--format", "csv"])
    header, row = exported.output.splitlines()[:2]
    assert header.split(";")[-2:] == ["discharge_date", "km"]
    assert row.split(";")[-2:] == ["2026-02-15", "12.5"]


def test_typed_values_through_the_api() -> None:
    """Practice software hands a date and a Decimal (or a float: kilometres are no money)."""
    validator = Validator.build(entry_points=False)
    base = {
        "invoice_id": "F1",
        "date": dt.date(2026, 3, 3),
        "practitioner_id": "1",
        "patient_id": "P1",
        "birth_date": dt.date(1940, 1, 1),
        "codes": ("VG", "MD", "IK"),
        "place": "domicile",
    }
    event = validator.invoice({**base, "km": 12.5, "discharge_date": dt.date(2026, 2, 1)})
    assert (event.km, event.discharge_date) == (Decimal("12.5"), dt.date(2026, 2, 1))
    # 30 + 10 + 10 × 0,61 = 46,10 €: at the tariff.
    assert validator.session().check_one({**base, "km": Decimal("10"), "amount": Decimal("46.10")}) == []
