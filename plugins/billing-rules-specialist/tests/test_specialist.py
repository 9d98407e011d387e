"""The plugin's own tests, written with the helpers billing-rules ships for plugin authors.

``billing_validator``, ``make_event``, ``check_invoices`` and ``assert_findings`` are fixtures of
billing-rules' pytest plugin. ``billing_validator`` holds the built-in rules and this plugin, named
by ``billing_rules_plugins`` in pyproject.toml (registered under its entry point name, so the
tests pass whether or not the package is installed); the examples beside the rules in
``specialist.rules`` are collected as tests too (``billing_rules_examples = true``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from billing_rules_specialist.rpps import luhn_ok

HERE = Path(__file__).resolve().parent
EXPORT = HERE.parent / "examples" / "medilogic.csv"
OWN_CODES = {
    "SPE-APC-4M",
    "SPE-APC-MT",
    "SPE-MCU-48H",
    "SPE-MCU-ACT",
    "SPE-MCU-MT",
    "SPE-MCU-REFERRAL",
    "SPE-RPPS-REFERRER",
}


def test_rules_are_registered_with_the_plugin_name(billing_validator) -> None:
    mine = {info.code for info in billing_validator.rules if info.source == "specialist"}
    assert mine == OWN_CODES


def test_mcu_beyond_48_hours(billing_validator, check_invoices, assert_findings) -> None:
    report = check_invoices(
        billing_validator,
        [
            {
                "codes": "CS+MCU",
                "mt_status": "other",
                "date": "2024-03-07",
                "time": "09:00",
                "mt_referral_at": "2024-03-05T09:00",
            },
            {
                "codes": "CS+MCU",
                "mt_status": "other",
                "date": "2024-03-07",
                "time": "09:01",
                "mt_referral_at": "2024-03-05T09:00",
                "patient_id": "P-2",
            },
        ],
    )
    # Exactly 48 h is still within the limit; one minute more is not.
    assert_findings(report, {"F-2": ["SPE-MCU-48H"]}, only=OWN_CODES)


def test_mcu_without_referral_date_is_a_warning(billing_validator, make_event) -> None:
    findings = billing_validator.check_one(make_event(codes="CS+MCU", mt_status="other"))
    assert [(f.rule, f.severity.value, f.source) for f in findings] == [
        ("SPE-MCU-REFERRAL", "warning", "specialist")
    ]


def test_second_apc_within_four_months(billing_validator, check_invoices, assert_findings) -> None:
    report = check_invoices(
        billing_validator,
        [{"codes": "APC", "mt_status": "other", "date": "2025-05-06"}],
        history=[{"codes": "APC", "mt_status": "other", "date": "2025-03-06"}],
    )
    assert_findings(report, ["SPE-APC-4M"], only=OWN_CODES)


@pytest.mark.parametrize(("number", "valid"), [("10000000009", True), ("10000000001", False)])
def test_rpps_check_digit(number: str, valid: bool) -> None:
    assert luhn_ok(number) is valid


def test_python_rule_reads_an_extra_column(billing_validator, make_event) -> None:
    event = make_event(codes="APC", mt_status="other", date="2025-03-06", referrer_rpps="1234")
    assert [f.rule for f in billing_validator.check_one(event)] == ["SPE-RPPS-REFERRER"]


def test_medilogic_export(billing_validator) -> None:
    report = billing_validator.check_paths([str(EXPORT)], input_format="medilogic")
    assert report.input_errors == ()
    assert report.events == 4
    assert {(f.invoice_id, f.rule) for f in report.findings if f.rule in OWN_CODES} == {
        ("M-2", "SPE-MCU-48H"),
        ("M-3", "SPE-APC-MT"),
        ("M-4", "SPE-RPPS-REFERRER"),
    }


def test_medilogic_rows_get_core_validation(billing_validator, tmp_path: Path) -> None:
    bad = tmp_path / "export.csv"
    header = EXPORT.read_text(encoding="utf-8").splitlines()[0]
    bad.write_text(
        header + "\nM-9;2025-13-01;;10003456789;CAR;P-1;1950-01-01;non;autre;CS;;;\n", encoding="utf-8"
    )
    report = billing_validator.check_paths([str(bad)], input_format="medilogic")
    assert [(e.line, e.field) for e in report.input_errors] == [(2, "date")]


def test_extra_tariff(billing_validator) -> None:
    import datetime as dt
    from decimal import Decimal

    assert billing_validator.ruleset.tariffs.on("MCS", dt.date(2025, 1, 2)) == Decimal("5.00")
