"""Runs the data-driven oracle of ``tests/rules/*.toml`` (written from SPEC alone) on the engine."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
import tomllib
from spec_codes import SPEC_SECTION_5

from billing_rules.api.validator import Validator

CASES_DIR = Path(__file__).parent / "rules"
_PROPERTY_FILES = {"VSP-NO-CAP"}


def _load_cases() -> list:
    params = []
    for path in sorted(CASES_DIR.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for case in data.get("case", []):
            params.append(
                pytest.param(data["code"], data.get("defaults", {}), case, id=f"{path.stem}-{case['name']}")
            )
    return params


def _events(rows: list[dict], defaults: dict, first_seq: int) -> list:
    return [Validator.invoice({**defaults, **row}, seq=first_seq + index) for index, row in enumerate(rows)]


@pytest.mark.parametrize(("code", "defaults", "case"), _load_cases())
def test_rule_case(builtin_validator: Validator, code: str, defaults: dict, case: dict) -> None:
    history = _events(case.get("history", []), defaults, 0)
    events = _events(case["rows"], defaults, len(history))
    report = builtin_validator.check_events(events, history=history)
    codes = {info.code for info in builtin_validator.rules}
    if code in codes:
        found = [finding for finding in report.findings if finding.rule == code]
    else:
        # A property file (VSP-NO-CAP: "no rule may flag a VSP for being frequent") names no rule of
        # its own: every finding of every rule counts, so an empty `expect` means a clean report.
        assert code in _PROPERTY_FILES, f"{code}: not a loaded rule code"
        found = list(report.findings)
    expected = case["expect"]
    assert [finding.invoice_id for finding in found] == [item["invoice_id"] for item in expected], case.get(
        "doc"
    )
    for finding, item in zip(found, expected, strict=True):
        if "amount" in item:
            wanted = (
                None if item["amount"] is None else Decimal(str(item["amount"])).quantize(Decimal("0.01"))
            )
            assert finding.amount == wanted, (finding.invoice_id, case.get("doc"))
        if "practitioner_id" in item:
            assert finding.practitioner_id == item["practitioner_id"]
        if "suggestion" in item:
            assert finding.suggestion == item["suggestion"]
        if "message_has" in item:
            assert item["message_has"] in finding.message, (finding.message, case.get("doc"))
        if "action_has" in item:
            assert item["action_has"] in (finding.action or ""), (finding.action, case.get("doc"))
        if "window_first" in item:
            # SPEC §2: the earliest invoice counted in the window the finding exceeds.
            assert finding.window is not None
            first_id, first_date = item["window_first"]
            assert (finding.window.first_invoice_id, str(finding.window.first_date)) == (first_id, first_date)
        if "yearly" in item:
            assert finding.yearly is item["yearly"]
        # SPEC §2: every built-in finding says where the rule comes from and what to do.
        assert finding.citation, finding.rule


SPEC_FILE = Path(__file__).resolve().parents[2] / "shared" / "SPEC.md"


def test_the_code_list_is_spec_section_5() -> None:
    """The list above is SPEC's: a code added to SPEC §5 must get its oracle file too."""
    if not SPEC_FILE.exists():
        pytest.skip("../shared/SPEC.md n'est pas à côté du dépôt")
    listed = set(
        re.findall(
            r"^\| `([A-Z0-9-]+)` \| (?:error|warning|opportunity) \|", SPEC_FILE.read_text("utf-8"), re.M
        )
    )
    assert listed == SPEC_SECTION_5


def test_every_built_in_code_has_its_oracle_file(builtin_validator: Validator) -> None:
    """Each SPEC §5 code, and each other built-in rule, is asserted by a case file of its own.

    Without this, deleting ``tests/rules/<CODE>.toml`` would only make the suite smaller.
    """
    files = {path.stem for path in CASES_DIR.glob("*.toml")}
    built_in = {info.code for info in builtin_validator.rules}
    assert SPEC_SECTION_5 <= built_in
    assert sorted((SPEC_SECTION_5 | built_in) - files) == []
    for path in CASES_DIR.glob("*.toml"):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        assert data["code"] == path.stem
        assert data.get("case"), f"{path.name}: aucun cas"
