"""Literals and date arithmetic at the edges: the relational engines find what the row engine finds.

* number literals with more decimals than money has (``amount > 26.4999999``) are exact, as the
  row engine's ``Decimal`` is: no rounding to six decimals;
* ``date ± duration`` leaving the calendar (before year 1: birth dates and regulation times may be
  that old; an act's date is at most 2199 and a duration at most 100 years, so 9999 is out of reach)
  is a missing value, as the row engine's ``shift`` / ``shift_months`` make it, never an internal
  error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

from executors import WITHOUT_CONNECT, reported, run_args  # noqa: E402

from billing_rules.api.validator import Validator  # noqa: E402
from billing_rules.engines.relational import api  # noqa: E402
from billing_rules.model import Finding  # noqa: E402
from billing_rules.testing import make_event  # noqa: E402

LITERALS = """
rule T-AMOUNT warning "montant au-delà"
  on G
  when amount > 26.4999999
end
rule T-AMOUNT-EQ warning "montant égal"
  on G
  when amount = 26.5000000000
end
rule T-KM warning "kilomètres au-delà"
  on IK
  when km > 3.1239999
end
rule T-KM-SUM warning "somme exacte"
  on IK
  when km + 0.0000001 > 3.124 and km - 0.00000000001 < 3.124
end
"""

DATES = """
rule X-OLD warning "vieux"
  on any
  when birth_date - 1 year < 1900-01-01
end
rule X-OLD-DAYS warning "vieux en jours"
  on any
  when birth_date - 400 days < 1900-01-01 or not (birth_date - 3 weeks >= 1900-01-01)
end
rule X-REFERRAL warning "adressage"
  on any
  when referral_at - 2 years < act_time or referral_at - 30 days < act_time
  or referral_at + 1 year > act_time or referral_at + 48 hours > act_time
end
"""


#: The rules of this file (the built-in ones run too: their codes are known only with them).
OURS = ("T-", "X-")


def _key(finding: Finding) -> tuple[Any, ...]:
    return (finding.rule, finding.invoice_id, finding.line, finding.message, finding.amount)


def _compare(tmp_path: Path, text: str, rows: list[dict[str, str]], engine: str) -> list[tuple[Any, ...]]:
    rules = tmp_path / "edges.rules"
    rules.write_text(text, encoding="utf-8")
    validator = Validator.build(entry_points=False, rule_files=[rules])
    events = [make_event(seq=i, **{"invoice_id": f"F{i}", **row}) for i, row in enumerate(rows)]
    expected = [_key(f) for f in validator.check_events(events).findings if f.rule.startswith(OURS)]
    report = api.check_events(validator, events, **run_args(engine))
    assert report.engine == reported(engine)
    assert [_key(f) for f in report.findings if f.rule.startswith(OURS)] == expected
    return expected


@pytest.mark.parametrize("engine", WITHOUT_CONNECT, indirect=True)
def test_long_number_literals_exact(tmp_path: Path, engine: str) -> None:
    rows = [
        {"codes": "G", "amount": "26.50"},
        {"codes": "G", "amount": "26.49"},
        {"codes": "IK", "km": "3.124"},
        {"codes": "IK", "km": "3.123"},
    ]
    expected = _compare(tmp_path, LITERALS, rows, engine)
    assert {(item[0], item[1]) for item in expected} == {
        ("T-AMOUNT", "F0"),
        ("T-AMOUNT-EQ", "F0"),
        ("T-KM", "F2"),
        ("T-KM-SUM", "F2"),
    }


@pytest.mark.parametrize("engine", WITHOUT_CONNECT, indirect=True)
def test_dates_off_the_calendar_missing(tmp_path: Path, engine: str) -> None:
    rows = [
        {"codes": "G", "birth_date": "0001-06-01"},
        {"codes": "G", "birth_date": "0002-01-15"},
        {"codes": "G", "birth_date": "1899-06-01"},
        {"codes": "G", "birth_date": "1950-06-01"},
        {"codes": "G", "time": "00:30", "referral_at": "0001-01-01T00:10"},
        {"codes": "G", "time": "00:30", "referral_at": "0001-03-01T00:10"},
    ]
    expected = _compare(tmp_path, DATES, rows, engine)
    assert ("X-OLD", "F0") not in {(item[0], item[1]) for item in expected}
    assert ("X-OLD", "F1") in {(item[0], item[1]) for item in expected}
