"""Rules without window come back packed as bits of BIGINT masks: more rules than one mask holds.

The hits query (``sql.flag_hits``) packs 62 rules per column; a rule set with more than that (the
built-in catalogue has about 45, a plugin's file adds its own) spreads over several columns. Each
rule must still fire exactly where the row engine's fires, whichever column and bit it lands on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

from executors import WITHOUT_CONNECT, reported, run_args  # noqa: E402

from billing_rules.api.validator import Validator  # noqa: E402
from billing_rules.engines.relational import api, sql  # noqa: E402
from billing_rules.testing import make_event  # noqa: E402

#: Enough rules for three masks; rule N fires on an act of a patient aged N or more.
RULES = 2 * sql.FLAGS_PER_MASK + 6


def test_fired_flags_in_rule_order() -> None:
    assert list(sql.fired_flags([])) == []
    assert list(sql.fired_flags([0, 0])) == []
    assert list(sql.fired_flags([0b101])) == [0, 2]
    top = 1 << (sql.FLAGS_PER_MASK - 1)
    assert list(sql.fired_flags([top | 1, 0, 0b10])) == [
        0,
        sql.FLAGS_PER_MASK - 1,
        2 * sql.FLAGS_PER_MASK + 1,
    ]


@pytest.mark.parametrize("engine", WITHOUT_CONNECT, indirect=True)
def test_more_rules_than_one_mask(tmp_path: Path, engine: str) -> None:
    rules = tmp_path / "many.rules"
    rules.write_text(
        "".join(f'rule M-{n:03d} warning "âge {n}"\n  on G\n  when age >= {n}\nend\n' for n in range(RULES)),
        encoding="utf-8",
    )
    validator = Validator.build(entry_points=False, rule_files=[rules])
    ages = [0, 1, 61, 62, 63, 100, 123, 124, 125, 126, 130]
    events = [
        make_event(
            seq=n, invoice_id=f"F{n}", codes="G", date="2026-01-05", birth_date=f"{1900 + 126 - age}-01-01"
        )
        for n, age in enumerate(ages)
    ]
    expected = [
        (f.rule, f.invoice_id) for f in validator.check_events(events).findings if f.rule.startswith("M-")
    ]
    report = api.check_events(validator, events, **run_args(engine))
    assert report.engine == reported(engine)
    assert [(f.rule, f.invoice_id) for f in report.findings if f.rule.startswith("M-")] == expected
    # Each patient aged a gets the rules 0..a (the last mask's bits included).
    fired = {invoice: sum(1 for _, other in expected if other == invoice) for _, invoice in expected}
    assert [fired.get(f"F{n}", 0) for n in range(len(ages))] == [min(age, RULES - 1) + 1 for age in ages]
