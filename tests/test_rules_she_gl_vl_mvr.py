"""Consistency of the built-in findings between rules: SHE falls with SNP unless an MRT carries it
(``majoration of SNP, MRT``), GL and SHE rules carry their start date, VL-CASE agrees with VL-PLACE on
an act at the practice, MVR's uncertain date is said.

The oracle of ``tests/rules/`` asserts each rule alone; these tests assert what holds across rules
(an action's recoded coding raises no new error) and what the CLI shows of the rule documentation.
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from billing_rules.api.validator import Validator
from billing_rules.cli import main

SNP_RULES = ("SNP-WEEK", "SNP-MT", "SNP-REGULATED", "SNP-48H", "SNP-PDSA", "SNP-CUMUL", "SNP-OPPOSABLE")
RECODED = re.compile(r"facturer (\S+) au lieu de (\S+)")
BASE = {
    "practitioner_id": "10001",
    "birth_date": "1980-01-01",
    "place": "cabinet",
    "date": "2026-01-06",
    "time": "19:10",
    "referral_at": "2026-01-06T19:00",
    "regulated": "oui",
    "mt_status": "other",
}
# One invoice per SNP rule, each carrying an SHE on its SNP (SNP-WEEK: the 21st SNP of the week).
SNP_FAULTS = {
    "SNP-MT": {"codes": "G+SNP+SHE", "mt_status": "self"},
    "SNP-REGULATED": {"codes": "G+SNP+SHE", "regulated": "non", "referral_at": ""},
    "SNP-48H": {"codes": "G+SNP+SHE", "referral_at": "2026-01-04T19:00", "time": "19:10"},
    "SNP-PDSA": {"codes": "G+SNP+SHE", "time": "20:10"},
    "SNP-CUMUL": {"codes": "G+SNP+MCG+SHE"},
    "SNP-OPPOSABLE": {"codes": "G+SNP+SHE+DE", "sector": "2"},
}


def _check(validator: Validator, rows: list[dict]) -> list:
    events = [Validator.invoice({**BASE, **row}, seq=index) for index, row in enumerate(rows)]
    return list(validator.check_events(events).findings)


def _week_rows(last: dict) -> list[dict]:
    rows = [
        {"invoice_id": f"W{index:02d}", "patient_id": f"W{index:02d}", "codes": "G+SNP", "date": "2026-01-05"}
        | {"time": f"{8 + index // 2:02d}:{(index % 2) * 30:02d}", "referral_at": "2026-01-05T07:00"}
        for index in range(20)
    ]
    return [*rows, {"invoice_id": "F1", "patient_id": "P1", "date": "2026-01-06", **last}]


def _faults() -> list[tuple[str, list[dict]]]:
    cases = [(rule, [{"invoice_id": "F1", "patient_id": "P1", **row}]) for rule, row in SNP_FAULTS.items()]
    cases.append(("SNP-WEEK", _week_rows({"codes": "G+SNP+SHE"})))
    return cases


@pytest.mark.parametrize(("rule", "rows"), _faults(), ids=[rule for rule, _ in _faults()])
def test_snp_errors_drop_the_she_and_count_it(
    builtin_validator: Validator, rule: str, rows: list[dict]
) -> None:
    """The SNP taken off takes its SHE with it: 20 € at risk, and the recoding raises no SHE-TIME."""
    found = [f for f in _check(builtin_validator, rows) if f.rule == rule and f.invoice_id == "F1"]
    assert len(found) == 1, rule
    (finding,) = found
    # ``code SHE ... majoration of SNP, MRT``: SNP-WEEK's window keeps its name (« 21e SNP de la
    # semaine ») and its amount counts the SHE all the same.
    assert finding.amount == 20, (rule, finding.amount)
    recoded, billed = RECODED.search(finding.action or "").groups()
    assert "SHE" in billed.split("+") and "SNP" in billed.split("+")
    assert "SHE" not in recoded.split("+") and "SNP" not in recoded.split("+"), finding.action
    again = _check(builtin_validator, [{**rows[-1], "invoice_id": "F2", "codes": recoded}])
    assert "SHE-TIME" not in {f.rule for f in again}


@pytest.mark.parametrize(("rule", "rows"), _faults(), ids=[rule for rule, _ in _faults()])
def test_an_mrt_left_keeps_the_she_and_its_money(
    builtin_validator: Validator, rule: str, rows: list[dict]
) -> None:
    """The same faults with an MRT beside the SNP: the SHE stays on the MRT, only the SNP is at risk."""
    last = rows[-1]
    rows = [*rows[:-1], {**last, "codes": last["codes"].replace("SNP+", "SNP+MRT+")}]
    (finding,) = [f for f in _check(builtin_validator, rows) if f.rule == rule and f.invoice_id == "F1"]
    assert finding.amount == 15, (rule, finding.amount)
    recoded, _billed = RECODED.search(finding.action or "").groups()
    assert {"MRT", "SHE"} <= set(recoded.split("+")) and "SNP" not in recoded.split("+"), finding.action


def test_an_she_without_tariff_adds_nothing_to_the_snp(builtin_validator: Validator) -> None:
    """An SHE billed on 2024-12-21, the day before it exists: SNP-MT's 15 €, CODE-DATE for the SHE."""
    row = {"invoice_id": "F1", "patient_id": "P1", "codes": "G+SNP+SHE", "mt_status": "self"}
    row |= {"date": "2024-12-21", "time": "11:00", "referral_at": "2024-12-20T19:30"}
    found = {f.rule: f for f in _check(builtin_validator, [row])}
    assert found["SNP-MT"].amount == 15
    assert "facturer G au lieu de G+SNP+SHE" in (found["SNP-MT"].action or "")
    assert "CODE-DATE" in found


def test_imt_cumul_takes_the_she_off_and_keeps_the_imt_amount(builtin_validator: Validator) -> None:
    """IMT+SNP+SHE: the SHE falls with the SNP IMT-CUMUL takes off; at risk, the IMT's 60 € alone."""
    row = {"invoice_id": "F1", "patient_id": "P1", "codes": "IMT+SNP+SHE", "mt_status": "none", "ald": "oui"}
    (finding,) = [f for f in _check(builtin_validator, [row]) if f.rule == "IMT-CUMUL"]
    assert finding.amount == 60 and "facturer IMT au lieu de IMT+SNP+SHE" in (finding.action or "")


def test_rules_show_names_the_majoration_a_recoding_takes_off() -> None:
    line = "Majorations : le codage corrigé retire aussi SHE (majoration de MRT ou SNP)"
    for rule in (*SNP_RULES, "SNP-BASE", "IMT-CUMUL"):
        assert line in _cli("rules", "show", rule), rule
    for rule in ("SHE-TIME", "VL-QUARTER", "IMT-ONCE"):
        assert "Majorations :" not in _cli("rules", "show", rule), rule


def test_without_she_the_amount_stays_the_snp(builtin_validator: Validator) -> None:
    found = _check(
        builtin_validator, [{"invoice_id": "F1", "patient_id": "P1", "codes": "G+SNP", "mt_status": "self"}]
    )
    (finding,) = [f for f in found if f.rule == "SNP-MT"]
    assert finding.amount == 15 and "facturer G au lieu de G+SNP" in (finding.action or "")


def test_an_she_on_mrt_wakes_no_snp_rule(builtin_validator: Validator) -> None:
    """G+MRT+SHE, the coding SNP-MT points own patients to: no SNP rule, no SHE-TIME."""
    found = _check(
        builtin_validator,
        [{"invoice_id": "F1", "patient_id": "P1", "codes": "G+MRT+SHE", "mt_status": "self"}],
    )
    assert not {f.rule for f in found} & {*SNP_RULES, "SNP-BASE", "SHE-TIME"}
    week = _check(builtin_validator, _week_rows({"codes": "G+MRT+SHE", "mt_status": "self"}))
    assert "SNP-WEEK" not in {f.rule for f in week}


def test_vl_case_proposes_no_home_visit_at_the_practice(builtin_validator: Validator) -> None:
    """VL+MD at the practice, ALD, own patient aged 76: VL-PLACE and VL-CASE agree on the consultation G."""
    row = {"invoice_id": "F1", "patient_id": "P1", "codes": "VL+MD", "mt_status": "self", "ald": "oui"}
    row |= {"regulated": "non", "referral_at": ""}
    found = {
        f.rule: f for f in _check(builtin_validator, [{**row, "birth_date": "1950-01-01", "time": "11:00"}])
    }
    assert set(found) >= {"VL-PLACE", "VL-CASE"}
    assert "facturer G au lieu de VL+MD" in (found["VL-PLACE"].action or "")
    case_action = found["VL-CASE"].action or ""
    assert "VG+MD au lieu de" not in case_action and "facturer VG" not in case_action
    assert "une consultation G au cabinet" in case_action


def _cli(*args: str) -> str:
    result = CliRunner().invoke(main, [*args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    ("rule", "day"),
    [
        (code, "2026-01-01")
        for code in ("GL-AGE", "GL-MT", "GL-YEAR", "GL-OPPOSABLE", "GL1-DISCHARGE", "GL1-PROOF")
    ]
    + [("SHE-TIME", "2024-12-22"), ("OPP-SHE", "2024-12-22")],
)
def test_dated_rules_show_and_list_their_start(rule: str, day: str) -> None:
    shown = _cli("rules", "show", rule)
    assert f"Validité : à partir du {day[8:]}/{day[5:7]}/{day[:4]}" in shown
    document = json.loads(
        _cli("rules", "changes", "--since", "2024-06-01", "--format", "json", "--no-plugins")
    )
    assert any(
        entry["kind"] == "rule"
        and entry["code"] == rule
        and entry["date"] == day
        and entry["change"] == "starts"
        for entry in document["changes"]
    )


def test_gl1_before_its_start_is_code_date_only(builtin_validator: Validator) -> None:
    row = {
        "invoice_id": "F1",
        "patient_id": "P1",
        "codes": "GL1",
        "birth_date": "1942-07-03",
        "mt_status": "self",
    }
    found = _check(builtin_validator, [{**row, "date": "2025-12-30", "time": "10:20", "referral_at": ""}])
    assert [f.rule for f in found] == ["CODE-DATE"]


def test_mvr_uncertain_start_is_documented(builtin_validator: Validator) -> None:
    shown = _cli("rules", "show", "CODE-DATE")
    assert "MVR" in shown and "INCERTAIN" in shown and "01/01/2026" in shown
    assert "une seule source secondaire" in shown
    row = {
        "invoice_id": "F1",
        "patient_id": "P1",
        "codes": "VG+MVR",
        "place": "domicile",
        "date": "2025-12-31",
    }
    row |= {"referral_at": "2025-12-31T09:00"}
    (finding,) = [f for f in _check(builtin_validator, [row]) if f.rule == "CODE-DATE"]
    assert "MVR (01/01/2026) est INCERTAINE" in (finding.action or "")
    gl1 = {**row, "codes": "GL1", "birth_date": "1940-01-01", "mt_status": "self", "place": "cabinet"}
    (other,) = [f for f in _check(builtin_validator, [gl1]) if f.rule == "CODE-DATE"]
    assert "INCERTAIN" not in (other.action or "")
