"""Every line of the public 2026 GP cotation sheet is a valid invoice for the catalogue.

``tests/data/reference-cotations-2026.csv`` is the transcription kept in ``domain/`` (ngap-facts.md
§5b), copied here so that the suite needs nothing outside the repository. Each line the catalogue can
express becomes one invoice billed at the sheet's amount: it must raise neither CODE-UNKNOWN nor
CODE-DATE nor AMOUNT-* (a false alarm on a valid invoice teaches staff to ignore the report). The
lines that cannot be expressed are listed with the reason, so that a new line of the sheet cannot
be passed over silently.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pytest

from billing_rules.api.validator import Validator

HERE = Path(__file__).parent
SHEET = HERE / "data" / "reference-cotations-2026.csv"
SHARED = HERE.parent.parent / "shared" / "domain" / "reference-cotations-2026.csv"
#: A Monday of the sheet's year, in the morning: no PDSA, every 2026 code in force.
DAY = "2026-06-15"

#: Lines of the sheet that no invoice can express, and why.
NOT_EXPRESSIBLE = {
    "IMT+MD": "la fiche se contredit : « 30 + 10 » à côté de « IMT 60 » (ngap-facts.md §5b, INCERTAIN)",
    "IK montagne": "la zone (plaine ou montagne) ne figure pas sur la facture ; taux INCERTAIN (1 €/kg)",
    "DE": "dépassement libre : pas de montant",
}

#: Lines on which the catalogue knowingly disagrees with the sheet, with the finding it gives.
DISAGREES = {
    # ameli (ngap-facts.md §1.6): G is 30 € in secteur 2 at tarif opposable; 23 € is C/V's base.
    "G (secteur 2)": "AMOUNT-BELOW",
}

#: Lines whose invoice the sheet describes in words rather than as a code combination.
SPECIAL: dict[str, dict[str, Any]] = {
    "G (secteur 2)": {"codes": "G", "amount": "23.00", "sector": "2"},
    "CDRP002+1/2 BLQP010": {"codes": "CDRP002+BLQP010", "amount": "62.30"},
    # "30 + 10 + 15 + 15": VG + MD + SNP + (SHE 5 + MVR 10), a SAS request at 19:45 for a home visit.
    "VG+MD+SNP±SHE+MVR": {
        "codes": "VG+MD+SNP+SHE+MVR",
        "amount": "70.00",
        "referral_at": f"{DAY}T19:45",
        "time": "20:30",
        "place": "domicile",
    },
}

_INVOICED = re.compile(r"invoiced (?:as )?([A-Z0-9+]+)(?:, (\d+) km billable)? = ([\d.,]+)")
_COMBINATION = re.compile(r"[A-Z0-9]+(\+[A-Z0-9]+)*")


def _lines() -> list[dict[str, str]]:
    with SHEET.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream, delimiter=";"))


def _invoice(line: dict[str, str], number: int) -> dict[str, Any]:
    """The invoice a practice would write for one line of the sheet."""
    code, amount, note = line["code"].strip(), line["amount"].strip(), line["note"]
    base = {
        "invoice_id": f"REF-{number}",
        "date": DAY,
        "time": "10:00",
        "practitioner_id": "10001",
        "patient_id": f"P-{number}",
        "birth_date": "1970-01-01",
        "mt_status": "other",
        "regulated": "oui",
    }
    if code in SPECIAL:
        return {**base, **SPECIAL[code]}
    invoiced = _INVOICED.search(note)
    if invoiced is not None:
        codes, km, total = invoiced.groups()
        return {**base, "codes": codes, "amount": total, **({"km": km} if km else {})}
    assert _COMBINATION.fullmatch(code), f"ligne non reconnue : {line}"
    return {**base, "codes": code, "amount": amount}


def _cases() -> list[Any]:
    """One case per line an invoice can express (the others are accounted for below)."""
    return [
        pytest.param(line, number, id=f"{number}:{line['code'].strip()}")
        for number, line in enumerate(_lines(), start=2)
        if line["code"].strip() not in NOT_EXPRESSIBLE
    ]


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator.build(entry_points=False)


@pytest.mark.parametrize(("line", "number"), _cases())
def test_sheet_line_is_a_valid_invoice(validator: Validator, line: dict[str, str], number: int) -> None:
    invoice = _invoice(line, number)
    findings = validator.check_one(invoice)
    alarms = [
        (finding.rule, finding.message)
        for finding in findings
        if finding.rule in {"CODE-UNKNOWN", "CODE-DATE", "AMOUNT-BELOW", "AMOUNT-ABOVE"}
    ]
    expected = DISAGREES.get(line["code"].strip())
    assert [rule for rule, _ in alarms] == ([expected] if expected else []), invoice


def test_every_line_is_checked_or_explained() -> None:
    codes = [line["code"].strip() for line in _lines()]
    assert set(NOT_EXPRESSIBLE) <= set(codes)
    assert set(SPECIAL) <= set(codes)
    assert len(_cases()) + sum(code in NOT_EXPRESSIBLE for code in codes) == len(codes) >= 60
    # The copy kept here is the domain file's, byte for byte (checked wherever ../shared is beside).
    if SHARED.exists():
        assert SHEET.read_bytes() == SHARED.read_bytes()


def test_the_amounts_are_really_compared(validator: Validator) -> None:
    """The sheet's G at 30 € passes; the same invoice at 26,50 € is below the tariff."""
    line = {"code": "G", "amount": "26.50", "note": ""}
    findings = validator.check_one(_invoice(line, 1))
    assert [finding.rule for finding in findings if finding.rule.startswith("AMOUNT")] == ["AMOUNT-BELOW"]
