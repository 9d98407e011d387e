"""The rule language's ``exists(CODE)``: whether a code exists on the act's date, on both engines.

A rule that depends on a code's existence says so with ``exists`` rather than repeating the code's
dates: under ``simulate`` (SPEC §7) the texts of the simulated day decide, not the act's date.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from billing_rules.api.validator import Validator

RULES = """\
family consultation = G
code G "Consultation"
code SNP "Majoration SNP" valid from 2022-07-11 until 2022-09-30, from 2022-12-09
tariff G 30.00 from 2017-05-01
rule T-EXISTS warning "SNP existe ce jour-là"
  on G
  when exists(SNP)
end
"""

#: (act date, whether SNP exists that day): the first day, the last day before the gap, the gap's
#: first and last days, the day it came back.
DAYS = [
    ("2022-07-10", False),
    ("2022-07-11", True),
    ("2022-09-30", True),
    ("2022-10-01", False),
    ("2022-12-08", False),
    ("2022-12-09", True),
]


def _findings(validator: Validator, engine: str, rows: list[Any]) -> list[Any]:
    if engine == "row":
        return list(validator.check_events(rows).findings)
    from billing_rules.engines.relational import api

    return list(api.check_events(validator, rows, engine=engine).findings)


def _rows() -> list[Any]:
    return [
        Validator.invoice(
            {
                "invoice_id": f"F{index}",
                "date": day,
                "practitioner_id": "1",
                "patient_id": f"P{index}",
                "birth_date": "1980-01-01",
                "codes": "G",
            },
            seq=index,
        )
        for index, (day, _) in enumerate(DAYS)
    ]


def test_exists_follows_the_codes_periods(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "exists.rules"
    path.write_text(RULES, encoding="utf-8")
    validator = Validator.build(rule_files=[path], builtin=False, entry_points=False)
    fired = {f.invoice_id for f in _findings(validator, engine, _rows()) if f.rule == "T-EXISTS"}
    assert fired == {f"F{index}" for index, (_, exists) in enumerate(DAYS) if exists}


@pytest.mark.parametrize(("as_of", "everywhere"), [("2022-08-01", True), ("2022-11-01", False)])
def test_exists_reads_the_simulated_days_texts(
    tmp_path: Path, engine: str, as_of: str, everywhere: bool
) -> None:
    """Under the texts of one day, a code exists on every date or on none."""
    path = tmp_path / "exists.rules"
    path.write_text(RULES, encoding="utf-8")
    validator = Validator.build(
        rule_files=[path], builtin=False, entry_points=False, texts_as_of=dt.date.fromisoformat(as_of)
    )
    fired = {f.invoice_id for f in _findings(validator, engine, _rows()) if f.rule == "T-EXISTS"}
    assert fired == ({f"F{index}" for index in range(len(DAYS))} if everywhere else set())
