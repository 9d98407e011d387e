"""A rule that does not judge an invoice never evaluates its condition there, on both engines.

An error or warning rule is silent on a code billed on a date where the code does not exist
(``DslRule.judges``; README: CODE-DATE alone speaks). Its condition must not run there either: one
that fails on that invoice (an extra column that is no date, compared with the act's date) would
otherwise cost it an INTERNAL-ERROR finding and a « contrôle incomplet » warning, beside CODE-DATE.
Where the rule does judge, the same failure is still reported, as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from billing_rules.api.validator import Validator

# On SNP, which the built-in catalogue declares with a gap from 2022-10-01 to 2022-12-08.
RULES = """\
rule CAB-JD warning "dd {codes}"
  source "interne"
  action "revoir"
  on SNP
  when extra("dd") < date
end
"""

ROWS = [
    ("F1", "2022-11-15", "x"),  # in the SNP gap: CODE-DATE alone, the condition not evaluated
    ("F2", "2023-11-15", "x"),  # SNP exists: the rule judges, its condition fails (INTERNAL-ERROR)
    ("F3", "2022-11-16", "2022-01-01"),  # in the gap, a date that would make it fire: silent
]


def _findings(tmp_path: Path, engine: str) -> list[Any]:
    path = tmp_path / "judged.rules"
    path.write_text(RULES, encoding="utf-8")
    validator = Validator.build(rule_files=[path], entry_points=False)
    events = [
        Validator.invoice(
            {
                "invoice_id": invoice,
                "date": day,
                "practitioner_id": "D1",
                "patient_id": "N1",
                "birth_date": "1950-02-28",
                "codes": "G+SNP",
                "regulated": "oui",
                "dd": dd,
            },
            seq=index,
        )
        for index, (invoice, day, dd) in enumerate(ROWS)
    ]
    if engine == "row":
        return list(validator.check_events(events).findings)
    from billing_rules.engines.relational import api

    return list(api.check_events(validator, events, engine=engine).findings)


def test_a_code_that_does_not_exist_gets_code_date_alone(tmp_path: Path, engine: str) -> None:
    findings = _findings(tmp_path, engine)
    assert {(f.invoice_id, f.rule) for f in findings} == {
        ("F1", "CODE-DATE"),
        ("F2", "INTERNAL-ERROR"),
        ("F3", "CODE-DATE"),
    }
    if engine != "row":  # and the same findings, field for field, as the reference engine
        assert [attrs.asdict(f) for f in findings] == [attrs.asdict(f) for f in _findings(tmp_path, "row")]
